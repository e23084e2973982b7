//! The server-sent events of an answer's body, as both streamed APIs
//! (chat completions and asking) are read.

use std::pin::Pin;

use axum::body::Body;
use axum::http::Response;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::Stream;

pub(crate) type Events =
    Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<axum::Error>>> + Send>>;

/// The events of `res`'s body, as they come.
pub(crate) fn events(res: Response<Body>) -> Events {
    Box::pin(res.into_body().into_data_stream().eventsource())
}

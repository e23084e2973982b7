//! Typed clients of Scriptorium's APIs. One [`Client`] reaches the services
//! either over HTTP (a base URL: a gateway or a service) or in-process (the
//! services' own router, called without a socket); both go through the
//! same requests and the same [`wire`] types, and both forward the end
//! user's address and request id ([`Caller`]) so that throttling and the
//! audit log see the real user.

pub mod ask;
pub mod auth;
pub mod documents;
mod error;
pub mod llm;
pub mod ocr;
mod sse;
mod transport;

pub use error::ClientError;
pub use transport::{no_content, read_json, refusal, Caller, Client, Payload};

/// `path?query`, without a `?` for an empty query.
pub(crate) fn with_query<T: serde::Serialize>(path: &str, query: &T) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

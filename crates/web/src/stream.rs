//! The streamed answers of the assistant and Ask pages: the documents
//! service's answer events relayed in the page's own small shape. The
//! page's script reads the events and shows each piece as it comes; its
//! Stop button closes the connection, which stops the model upstream.
//!
//! Events: `data: "<text piece as a JSON string>"`, then `event: done`
//! (its data `""`, or `{"redirect": page}` to open once the answer is
//! complete); or one `event: failure` whose data is the page's message,
//! before any piece or midway (the model failed, or its stream broke off):
//! a cut-off answer never looks finished.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use client::ask::{AskEvent, AskStream};
use client::Caller;
use serde_json::json;

use crate::extract::Visitor;
use crate::i18n::{self, Lang};
use crate::WebState;

pub(crate) fn event_stream(body: Body) -> Response {
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-store"),
            // nginx in front: pass each piece on at once.
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn failure_event(status: StatusCode, message: &str) -> Response {
    let data = serde_json::to_string(message).unwrap_or_default();
    let mut res = event_stream(Body::from(format!("event: failure\ndata: {data}\n\n")));
    *res.status_mut() = status;
    res
}

/// What a streamed form needs before it is answered: the session's CSRF
/// token, and a signed-in user's valid access token (returned); else the
/// one failure event the page shows.
pub(crate) async fn signed_in(
    state: &WebState,
    caller: &Caller,
    v: &Visitor,
    csrf: &str,
) -> Result<String, Response> {
    if !v.checks(csrf) {
        return Err(failure_event(
            StatusCode::FORBIDDEN,
            &i18n::t(v.lang, "csrf.body"),
        ));
    }
    match v.credentials(state, caller).await {
        Some((_, token)) => Ok(token),
        None => Err(failure_event(
            StatusCode::UNAUTHORIZED,
            &i18n::t(v.lang, "session.expired"),
        )),
    }
}

/// The page to open once an answer is complete, from its conversation's
/// id; `None`: stay (the page shows the answer already).
pub(crate) type Then = Option<fn(&str) -> String>;

struct Relay {
    upstream: AskStream,
    conversation: Option<String>,
    lang: Lang,
    then: Then,
}

impl Relay {
    /// The next event for the page, or None after the last.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let event = match self.upstream.next().await? {
                AskEvent::Started { conversation_id } => {
                    self.conversation = Some(conversation_id);
                    continue;
                }
                AskEvent::Piece(text) => {
                    let data = serde_json::to_string(&text).unwrap_or_default();
                    format!("data: {data}\n\n")
                }
                AskEvent::Citations { .. } => continue,
                AskEvent::Done { .. } => {
                    let data = match (self.then, &self.conversation) {
                        (Some(page), Some(id)) => json!({ "redirect": page(id) }),
                        _ => json!(""),
                    };
                    format!("event: done\ndata: {data}\n\n")
                }
                AskEvent::Failed(e) => {
                    tracing::warn!(error = %e, "the answer stopped midway");
                    let message = i18n::t(self.lang, "chat.broke_off");
                    let data = serde_json::to_string(&message).unwrap_or_default();
                    format!("event: failure\ndata: {data}\n\n")
                }
            };
            return Some(Bytes::from(event));
        }
    }
}

/// The page's event stream of an answer.
pub(crate) fn relay(upstream: AskStream, lang: Lang, then: Then) -> Response {
    let relay = Relay {
        upstream,
        conversation: None,
        lang,
        then,
    };
    let body = futures::stream::unfold(relay, |mut relay| async move {
        let event = relay.next().await?;
        Some((Ok::<_, Infallible>(event), relay))
    });
    event_stream(Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn events(body: &str, then: Then) -> Vec<String> {
        let res = axum::http::Response::new(Body::from(body.to_owned()));
        let mut relay = Relay {
            upstream: AskStream::new(res),
            conversation: None,
            lang: Lang::En,
            then,
        };
        let mut out = Vec::new();
        while let Some(e) = relay.next().await {
            out.push(String::from_utf8_lossy(&e).into_owned());
        }
        out
    }

    const START: &str = "event: conversation\ndata: {\"conversation_id\":\"c1\"}\n\n";
    const PIECE: &str = "event: piece\ndata: {\"text\":\"Bon\"}\n\n";
    const CITED: &str =
        "event: citations\ndata: {\"found\":false,\"citations\":[],\"passages\":[]}\n\n";
    const DONE: &str = "event: done\ndata: {}\n\n";

    #[tokio::test]
    async fn a_finished_answer_ends_with_done() {
        let out = events(&format!("{START}{PIECE}{CITED}{DONE}"), None).await;
        assert_eq!(
            out,
            vec!["data: \"Bon\"\n\n", "event: done\ndata: \"\"\n\n"]
        );
    }

    #[tokio::test]
    async fn done_names_the_conversation_s_page_when_asked_to() {
        fn page(id: &str) -> String {
            format!("/ask?c={id}")
        }
        let out = events(&format!("{START}{PIECE}{CITED}{DONE}"), Some(page)).await;
        assert_eq!(
            out[1],
            "event: done\ndata: {\"redirect\":\"/ask?c=c1\"}\n\n"
        );
    }

    #[tokio::test]
    async fn an_answer_cut_off_midway_ends_with_a_failure() {
        let out = events(&format!("{START}{PIECE}"), None).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[1].starts_with("event: failure\n"), "{out:?}");
        assert!(out[1].contains("stopped before its end"), "{out:?}");
    }
}

//! `POST /chat/stream`: the assistant page's form, answered while the model
//! writes. The page's script reads the events and shows each piece as it
//! comes; its Stop button closes the connection, which cancels the
//! completion upstream. Whatever was shown is kept in the conversation.
//!
//! Events: `data: "<text piece as a JSON string>"`, then `event: done`; or
//! one `event: failure` whose data is the page's message.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::chat::{complete, Message};
use crate::i18n;
use crate::pages::{checked, visitor};
use crate::session::SessionStore;
use crate::settings::credentials;
use crate::WebState;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

fn event_stream(body: Body) -> Response {
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

fn failure_event(status: StatusCode, message: &str) -> Response {
    let data = serde_json::to_string(message).unwrap_or_default();
    let mut res = event_stream(Body::from(format!("event: failure\ndata: {data}\n\n")));
    *res.status_mut() = status;
    res
}

/// Saves the exchange into the session when the stream ends, finished or
/// stopped by the reader.
struct Recorder {
    sessions: SessionStore,
    session: String,
    question: String,
    answer: String,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let answer = self.answer.trim();
        if answer.is_empty() {
            return;
        }
        let question = std::mem::take(&mut self.question);
        self.sessions
            .push_exchange(&self.session, question, answer.to_owned());
    }
}

struct Relay {
    upstream: Upstream,
    buffer: Vec<u8>,
    recorder: Recorder,
    finished: bool,
}

/// The text pieces of one upstream SSE event, or None for `[DONE]`.
fn pieces(event: &[u8]) -> Option<String> {
    let mut out = String::new();
    for line in String::from_utf8_lossy(event).lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            return None;
        }
        if let Ok(chunk) = serde_json::from_str::<Value>(data) {
            if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str() {
                out.push_str(text);
            }
        }
    }
    Some(out)
}

impl Relay {
    /// The next event for the page, or None at the end.
    async fn next(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.buffer.drain(..end + 2).collect();
                match pieces(&event) {
                    None => return Some(self.finish()),
                    Some(text) if text.is_empty() => continue,
                    Some(text) => {
                        self.recorder.answer.push_str(&text);
                        let data = serde_json::to_string(&text).unwrap_or_default();
                        return Some(Bytes::from(format!("data: {data}\n\n")));
                    }
                }
            }
            match self.upstream.next().await {
                Some(Ok(chunk)) => self.buffer.extend(without_cr(&chunk)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the LLM stream broke off");
                    return Some(self.finish());
                }
                None => return Some(self.finish()),
            }
        }
    }

    fn finish(&mut self) -> Bytes {
        self.finished = true;
        Bytes::from_static(b"event: done\ndata: \"\"\n\n")
    }
}

/// SSE allows CRLF line ends; events are split on LF LF, so CRs are dropped.
fn without_cr(chunk: &[u8]) -> impl Iterator<Item = u8> + '_ {
    chunk.iter().copied().filter(|b| *b != b'\r')
}

pub(crate) async fn stream(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<Message>,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = checked(&v, &form.csrf).cloned() else {
        return failure_event(StatusCode::FORBIDDEN, &i18n::t(v.lang, "csrf.body"));
    };
    let Some((_, token)) = credentials(&state, &ctx, &session).await else {
        return failure_event(
            StatusCode::UNAUTHORIZED,
            &i18n::t(v.lang, "session.expired"),
        );
    };
    let message = form.text();
    if message.is_empty() {
        return failure_event(
            StatusCode::UNPROCESSABLE_ENTITY,
            &i18n::t(v.lang, "chat.required"),
        );
    }
    let response = match complete(&state, v.lang, &token, &session.chat, &message, true).await {
        Ok(r) => r,
        Err(failure) => return failure_event(failure.status(), &failure.message(v.lang)),
    };
    let relay = Relay {
        upstream: Box::pin(response.bytes_stream()),
        buffer: Vec::new(),
        recorder: Recorder {
            sessions: state.sessions.clone(),
            session: session.id.clone(),
            question: message,
            answer: String::new(),
        },
        finished: false,
    };
    let body = futures::stream::unfold(relay, |mut relay| async move {
        let event = relay.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), relay))
    });
    event_stream(Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_openai_chunks() {
        let event = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        assert_eq!(pieces(event).as_deref(), Some("Hel"));
        let role_only = b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n";
        assert_eq!(pieces(role_only).as_deref(), Some(""));
        assert_eq!(pieces(b"data: [DONE]\n\n"), None);
        assert_eq!(pieces(b": keep-alive\n\n").as_deref(), Some(""));
    }

    #[test]
    fn crlf_events_split_like_lf_ones() {
        let raw: Vec<u8> = without_cr(b"data: x\r\n\r\n").collect();
        assert_eq!(raw, b"data: x\n\n");
    }
}

//! `POST /chat/stream`: the assistant page's form, answered while the model
//! writes. The page's script reads the events and shows each piece as it
//! comes; its Stop button closes the connection, which cancels the
//! completion upstream. Whatever was shown is kept in the conversation.
//!
//! Events: `data: "<text piece as a JSON string>"`, then `event: done`; or
//! one `event: failure` whose data is the page's message, before any piece
//! or midway (the model failed, or its stream broke off): a cut-off answer
//! never looks finished.

use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use client::llm::{ChatEvent, ChatStream};
use client::Caller;

use crate::chat::Message;
use crate::conversation::Conversations;
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

/// Saves the exchange into the user's conversation when the stream ends,
/// finished or stopped by the reader.
struct Recorder {
    conversations: Conversations,
    user: String,
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
        self.conversations
            .push_exchange(&self.user, question, answer.to_owned());
    }
}

struct Relay {
    upstream: ChatStream,
    recorder: Recorder,
    lang: Lang,
}

impl Relay {
    /// The next event for the page, or None after the last.
    async fn next(&mut self) -> Option<Bytes> {
        match self.upstream.next().await? {
            ChatEvent::Piece(text) => {
                self.recorder.answer.push_str(&text);
                let data = serde_json::to_string(&text).unwrap_or_default();
                Some(Bytes::from(format!("data: {data}\n\n")))
            }
            ChatEvent::Done { .. } => Some(Bytes::from_static(b"event: done\ndata: \"\"\n\n")),
            ChatEvent::Failed(e) => {
                tracing::warn!(error = %e.message, "the answer stopped midway");
                // Not an answer: the page takes it back, the conversation
                // does not keep it.
                self.recorder.answer.clear();
                let message = i18n::t(self.lang, "chat.broke_off");
                let data = serde_json::to_string(&message).unwrap_or_default();
                Some(Bytes::from(format!("event: failure\ndata: {data}\n\n")))
            }
        }
    }
}

pub(crate) async fn stream(
    State(state): State<WebState>,
    caller: Caller,
    v: Visitor,
    Form(form): Form<Message>,
) -> Response {
    if !v.checks(&form.csrf) {
        return failure_event(StatusCode::FORBIDDEN, &i18n::t(v.lang, "csrf.body"));
    }
    let Some((user, token)) = v.credentials(&state, &caller).await else {
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
    let who = (&caller, v.lang, token.as_str());
    let history = state.conversations.get(&user.user_id);
    let upstream = match crate::chat::stream(&state, who, &history, &message).await {
        Ok(s) => s,
        Err(failure) => return failure_event(failure.status(), &failure.message(v.lang)),
    };
    let relay = Relay {
        upstream,
        lang: v.lang,
        recorder: Recorder {
            conversations: state.conversations.clone(),
            user: user.user_id,
            question: message,
            answer: String::new(),
        },
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

    fn relay(body: &str) -> Relay {
        let res = axum::http::Response::new(Body::from(body.to_owned()));
        Relay {
            upstream: ChatStream::new(res),
            recorder: Recorder {
                conversations: Conversations::new(std::time::Duration::from_secs(60)),
                user: "u".into(),
                question: "q".into(),
                answer: String::new(),
            },
            lang: Lang::En,
        }
    }

    async fn events(mut relay: Relay) -> (Vec<String>, String) {
        let mut out = Vec::new();
        while let Some(e) = relay.next().await {
            out.push(String::from_utf8_lossy(&e).into_owned());
        }
        let kept = std::mem::take(&mut relay.recorder.answer);
        (out, kept)
    }

    const PIECE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bon\"},\"finish_reason\":null}]}\n\n";

    #[tokio::test]
    async fn a_finished_answer_ends_with_done() {
        let (out, kept) = events(relay(&format!("{PIECE}data: [DONE]\n\n"))).await;
        assert_eq!(
            out,
            vec!["data: \"Bon\"\n\n", "event: done\ndata: \"\"\n\n"]
        );
        assert_eq!(kept, "Bon");
    }

    #[tokio::test]
    async fn an_answer_cut_off_midway_ends_with_a_failure() {
        let (out, kept) = events(relay(PIECE)).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[1].starts_with("event: failure\n"), "{out:?}");
        assert!(out[1].contains("stopped before its end"), "{out:?}");
        assert!(kept.is_empty(), "a cut-off answer is not kept: {kept}");
    }
}

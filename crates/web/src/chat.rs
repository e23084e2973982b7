//! `/chat`: a conversation with the language model. The console calls the
//! OpenAI-compatible API with the signed-in user's own access token, as any
//! client would; the conversation's last turns are kept per user (see
//! `conversation`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use client::llm::ChatStream;
use client::{Caller, ClientError};
use serde::Deserialize;
use serde_json::{json, Value};
use wire::llm::{ChatMessage, ChatRequest, Sampling};

use crate::conversation::ChatTurn;
use crate::extract::{csrf_field, Checked, Member, Visitor};
use crate::i18n::{self, Lang};
use crate::pages::{redirect, render, CsrfForm};
use crate::WebState;

csrf_field!(Message);

/// Longest message accepted from the form, in characters.
const MAX_MESSAGE_CHARS: usize = 8_000;

fn show(
    state: &WebState,
    v: &Visitor,
    status: StatusCode,
    turns: &[ChatTurn],
    extra: Value,
) -> Response {
    let mut ctx = json!({ "turns": turns, "message": "", "error": null });
    if let (Value::Object(base), Value::Object(more)) = (&mut ctx, extra) {
        base.extend(more);
    }
    (status, render(state, v, "chat.html", "/chat", ctx)).into_response()
}

pub(crate) async fn page(State(state): State<WebState>, m: Member) -> Response {
    let turns = state.conversations.get(&m.user.user_id);
    show(&state, &m.v, StatusCode::OK, &turns, json!({}))
}

#[derive(Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    message: String,
    #[serde(default)]
    pub(crate) csrf: String,
}

impl Message {
    /// The message as sent to the model: trimmed, at most
    /// `MAX_MESSAGE_CHARS` characters.
    pub(crate) fn text(&self) -> String {
        self.message
            .trim()
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect()
    }
}

/// Why the assistant gave no answer, as the page says it.
pub(crate) enum Failure {
    TooLong,
    Busy,
    Unavailable,
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::TooLong => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::Busy => StatusCode::TOO_MANY_REQUESTS,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn message(&self, lang: Lang) -> String {
        let key = match self {
            Failure::TooLong => "chat.too_long",
            Failure::Busy => "chat.busy",
            Failure::Unavailable => "chat.unavailable",
        };
        i18n::t(lang, key)
    }
}

/// The chat completion request for the conversation plus `message`.
fn request(state: &WebState, lang: Lang, history: &[ChatTurn], message: &str) -> ChatRequest {
    let mut messages = vec![ChatMessage::new("system", i18n::t(lang, "chat.system"))];
    messages.extend(
        history
            .iter()
            .map(|t| ChatMessage::new(t.role, t.content.clone())),
    );
    messages.push(ChatMessage::new("user", message));
    ChatRequest {
        model: None,
        messages,
        sampling: Sampling {
            max_tokens: Some(state.chat_max_tokens),
            temperature: Some(0.3),
            ..Sampling::default()
        },
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match (e.status(), e.kind()) {
            (Some(StatusCode::TOO_MANY_REQUESTS), _) => Failure::Busy,
            (_, Some("context_length_exceeded")) => Failure::TooLong,
            _ => {
                tracing::warn!(error = %e, "the LLM API gave the console no answer");
                Failure::Unavailable
            }
        }
    }
}

/// The answer to the conversation plus `message`, as it is written.
pub(crate) async fn stream(
    state: &WebState,
    (caller, lang, token): (&Caller, Lang, &str),
    history: &[ChatTurn],
    message: &str,
) -> Result<ChatStream, Failure> {
    let request = request(state, lang, history, message);
    Ok(state
        .client
        .llm()
        .chat_stream(caller, token, &request)
        .await?)
}

/// The assistant's whole answer to `message`.
pub(crate) async fn ask(
    state: &WebState,
    (caller, lang, token): (&Caller, Lang, &str),
    history: &[ChatTurn],
    message: &str,
) -> Result<String, Failure> {
    let request = request(state, lang, history, message);
    let answer = state.client.llm().chat(caller, token, &request).await?;
    answer
        .choices
        .into_iter()
        .next()
        .map(|c| c.message.content.trim().to_owned())
        .ok_or(Failure::Unavailable)
}

/// The chat page saying why there is no answer, the message kept in the box.
pub(crate) fn failed(state: &WebState, m: &Member, failure: Failure, message: String) -> Response {
    let extra = json!({ "error": failure.message(m.v.lang), "message": message });
    let turns = state.conversations.get(&m.user.user_id);
    show(state, &m.v, failure.status(), &turns, extra)
}

pub(crate) async fn send(
    State(state): State<WebState>,
    m: Member,
    Checked(form): Checked<Message>,
) -> Response {
    let history = state.conversations.get(&m.user.user_id);
    let message = form.text();
    if message.is_empty() {
        let extra = json!({ "error": i18n::t(m.v.lang, "chat.required") });
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return show(&state, &m.v, status, &history, extra);
    }
    match ask(&state, m.who(), &history, &message).await {
        Ok(reply) => {
            let user = &m.user.user_id;
            state.conversations.push_exchange(user, message, reply);
            let turns = state.conversations.get(user);
            show(&state, &m.v, StatusCode::OK, &turns, json!({}))
        }
        // The message stays in the box, to send again.
        Err(failure) => failed(&state, &m, failure, message),
    }
}

pub(crate) async fn clear(
    State(state): State<WebState>,
    m: Member,
    Checked(_): Checked<CsrfForm>,
) -> Response {
    state.conversations.clear(&m.user.user_id);
    redirect("/chat")
}

//! `/chat`: a conversation with the language model. The console calls the
//! OpenAI-compatible API with the signed-in user's own access token, as any
//! client would; the conversation lives in the session (last turns only).

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::i18n::{self, Lang};
use crate::pages::{checked, redirect, refused, render, visitor, CsrfForm, Visitor};
use crate::session::{ChatTurn, Session};
use crate::settings::credentials;
use crate::WebState;

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

pub(crate) async fn page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = visitor(&state, &headers);
    match v.session.as_ref() {
        Some(s) if s.user.is_some() => {
            let turns = s.chat.clone();
            show(&state, &v, StatusCode::OK, &turns, json!({}))
        }
        _ => redirect("/login?next=%2Fchat"),
    }
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

/// POST a chat completion for the conversation plus `message` with the
/// user's token; a refusal is turned into the page's reason.
pub(crate) async fn complete(
    state: &WebState,
    lang: Lang,
    token: &str,
    history: &[ChatTurn],
    message: &str,
    stream: bool,
) -> Result<reqwest::Response, Failure> {
    let api = state.api.as_deref().ok_or(Failure::Unavailable)?;
    let mut messages = vec![json!({ "role": "system", "content": i18n::t(lang, "chat.system") })];
    messages.extend(
        history
            .iter()
            .map(|t| json!({ "role": t.role, "content": t.content })),
    );
    messages.push(json!({ "role": "user", "content": message }));
    let body = json!({
        "messages": messages,
        "max_tokens": state.chat_max_tokens,
        "temperature": 0.3,
        "stream": stream,
    });
    let r = state
        .http
        .post(format!("{api}/v1/chat/completions"))
        .headers(kit::telemetry::trace_headers())
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the console could not reach the LLM API");
            Failure::Unavailable
        })?;
    let status = r.status();
    if status == StatusCode::OK {
        return Ok(r);
    }
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    match status {
        StatusCode::TOO_MANY_REQUESTS => Err(Failure::Busy),
        StatusCode::BAD_REQUEST if answer["error"]["code"] == "context_length_exceeded" => {
            Err(Failure::TooLong)
        }
        other => {
            tracing::warn!(status = %other, error = %answer["error"], "the LLM API refused the console");
            Err(Failure::Unavailable)
        }
    }
}

/// The assistant's whole answer to `message`.
pub(crate) async fn ask(
    state: &WebState,
    lang: Lang,
    token: &str,
    history: &[ChatTurn],
    message: &str,
) -> Result<String, Failure> {
    let r = complete(state, lang, token, history, message, false).await?;
    let answer: Value = r.json().await.map_err(|_| Failure::Unavailable)?;
    answer["choices"][0]["message"]["content"]
        .as_str()
        .map(|s| s.trim().to_owned())
        .ok_or(Failure::Unavailable)
}

/// The chat page saying why there is no answer, the message kept in the box.
pub(crate) fn failed(
    state: &WebState,
    v: &Visitor,
    session: &Session,
    failure: Failure,
    message: String,
) -> Response {
    let extra = json!({ "error": failure.message(v.lang), "message": message });
    show(state, v, failure.status(), &session.chat, extra)
}

pub(crate) async fn send(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<Message>,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = checked(&v, &form.csrf).cloned() else {
        return refused(&state, &v, "/chat");
    };
    let Some((_, token)) = credentials(&state, &ctx, &session).await else {
        return redirect("/login?next=%2Fchat");
    };
    let message = form.text();
    if message.is_empty() {
        let extra = json!({ "error": i18n::t(v.lang, "chat.required") });
        return show(
            &state,
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            &session.chat,
            extra,
        );
    }
    match ask(&state, v.lang, &token, &session.chat, &message).await {
        Ok(reply) => {
            state.sessions.push_exchange(&session.id, message, reply);
            let turns = current(&state, &session);
            show(&state, &v, StatusCode::OK, &turns, json!({}))
        }
        // The message stays in the box, to send again.
        Err(failure) => failed(&state, &v, &session, failure, message),
    }
}

fn current(state: &WebState, session: &Session) -> Vec<ChatTurn> {
    state
        .sessions
        .get(&session.id)
        .map(|s| s.chat)
        .unwrap_or_default()
}

pub(crate) async fn clear(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = checked(&v, &form.csrf) else {
        return refused(&state, &v, "/chat");
    };
    state.sessions.clear_chat(&session.id);
    redirect("/chat")
}

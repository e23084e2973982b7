//! `/chat`: a conversation with the language model alone. The console asks
//! through the documents service's asking API with `library: false`, with
//! the signed-in user's own access token, as any client would: the
//! conversation is that service's, kept in its database, so it survives a
//! restart and every console replica shows it. The page shows the user's
//! latest such conversation; starting over deletes it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use client::{Caller, ClientError};
use serde::Deserialize;
use serde_json::{json, Value};
use wire::ask::{AskRequest, Conversation};

use crate::extract::{csrf_field, Checked, Member, Visitor};
use crate::i18n::{self, Lang};
use crate::pages::{redirect, render, CsrfForm};
use crate::stream::{failure_event, relay, signed_in};
use crate::WebState;

csrf_field!(Message);

/// Longest message accepted from the form, in characters (the documents
/// service's own limit on a question).
const MAX_MESSAGE_CHARS: usize = 2_000;

/// One message of the conversation, as the page shows it.
#[derive(Clone, serde::Serialize)]
pub(crate) struct ChatTurn {
    pub(crate) role: &'static str,
    pub(crate) content: String,
}

fn turns_of(conversation: Option<&Conversation>) -> Vec<ChatTurn> {
    conversation
        .map(|c| c.turns.as_slice())
        .unwrap_or_default()
        .iter()
        .flat_map(|t| {
            [
                ChatTurn {
                    role: "user",
                    content: t.question.clone(),
                },
                ChatTurn {
                    role: "assistant",
                    content: t.answer.clone(),
                },
            ]
        })
        .collect()
}

/// The user's latest conversation with the model alone, if any.
pub(crate) async fn current(
    state: &WebState,
    (caller, _, token): (&Caller, Lang, &str),
) -> Result<Option<Conversation>, ClientError> {
    let docs = state.client.documents();
    let list = docs.conversations(caller, token).await?;
    let Some(latest) = list.conversations.into_iter().find(|c| !c.library) else {
        return Ok(None);
    };
    match docs.conversation(caller, token, &latest.id).await {
        Ok(c) => Ok(Some(c)),
        // Deleted meanwhile (by another tab or replica): none.
        Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

fn show(
    state: &WebState,
    v: &Visitor,
    status: StatusCode,
    conversation: Option<&Conversation>,
    extra: Value,
) -> Response {
    let turns = turns_of(conversation);
    let mut ctx = json!({ "turns": turns, "message": "", "error": null });
    if let (Value::Object(base), Value::Object(more)) = (&mut ctx, extra) {
        base.extend(more);
    }
    (status, render(state, v, "chat.html", "/chat", ctx)).into_response()
}

pub(crate) async fn page(State(state): State<WebState>, m: Member) -> Response {
    match current(&state, m.who()).await {
        Ok(conversation) => show(
            &state,
            &m.v,
            StatusCode::OK,
            conversation.as_ref(),
            json!({}),
        ),
        Err(e) => failed(&state, &m, Failure::from(e), String::new()).await,
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
    /// Refused for what was asked, in the service's own words.
    Refused(StatusCode, String),
    Busy,
    Unavailable,
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::Refused(status, _) => *status,
            Failure::Busy => StatusCode::TOO_MANY_REQUESTS,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn message(&self, lang: Lang) -> String {
        match self {
            Failure::Refused(_, message) => message.clone(),
            Failure::Busy => i18n::t(lang, "chat.busy"),
            Failure::Unavailable => i18n::t(lang, "chat.unavailable"),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e.status() {
            Some(StatusCode::TOO_MANY_REQUESTS) => Failure::Busy,
            Some(status) if status.is_client_error() => match &e {
                ClientError::Refused { problem, .. } => {
                    Failure::Refused(status, problem.message().to_owned())
                }
                _ => Failure::Unavailable,
            },
            _ => {
                tracing::warn!(error = %e, "the assistant gave the console no answer");
                Failure::Unavailable
            }
        }
    }
}

/// The request for `message` in `conversation` (a new one when `None`).
pub(crate) fn request(conversation: Option<&Conversation>, message: &str) -> AskRequest {
    AskRequest {
        question: message.to_owned(),
        conversation_id: conversation.map(|c| c.id.clone()),
        library: Some(false),
        ..AskRequest::default()
    }
}

/// The chat page saying why there is no answer, the message kept in the box.
pub(crate) async fn failed(
    state: &WebState,
    m: &Member,
    failure: Failure,
    message: String,
) -> Response {
    let extra = json!({ "error": failure.message(m.v.lang), "message": message });
    let conversation = current(state, m.who()).await.ok().flatten();
    show(state, &m.v, failure.status(), conversation.as_ref(), extra)
}

pub(crate) async fn send(
    State(state): State<WebState>,
    m: Member,
    Checked(form): Checked<Message>,
) -> Response {
    let message = form.text();
    let conversation = match current(&state, m.who()).await {
        Ok(c) => c,
        Err(e) => return failed(&state, &m, e.into(), message).await,
    };
    if message.is_empty() {
        let extra = json!({ "error": i18n::t(m.v.lang, "chat.required") });
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return show(&state, &m.v, status, conversation.as_ref(), extra);
    }
    let (caller, _, token) = m.who();
    let request = request(conversation.as_ref(), &message);
    match state.client.documents().ask(caller, token, &request).await {
        Ok(_) => {
            let conversation = current(&state, m.who()).await.ok().flatten();
            show(
                &state,
                &m.v,
                StatusCode::OK,
                conversation.as_ref(),
                json!({}),
            )
        }
        // The message stays in the box, to send again.
        Err(e) => failed(&state, &m, e.into(), message).await,
    }
}

pub(crate) async fn clear(
    State(state): State<WebState>,
    m: Member,
    Checked(_): Checked<CsrfForm>,
) -> Response {
    let (caller, _, token) = m.who();
    if let Ok(Some(c)) = current(&state, m.who()).await {
        let docs = state.client.documents();
        if let Err(e) = docs.delete_conversation(caller, token, &c.id).await {
            return failed(&state, &m, e.into(), String::new()).await;
        }
    }
    redirect("/chat")
}

/// `POST /chat/stream`: the form answered as it is written (see `stream`).
/// A stopped answer keeps what was shown (the documents service keeps it).
pub(crate) async fn stream(
    State(state): State<WebState>,
    caller: Caller,
    v: Visitor,
    axum::extract::Form(form): axum::extract::Form<Message>,
) -> Response {
    let token = match signed_in(&state, &caller, &v, &form.csrf).await {
        Ok(token) => token,
        Err(refused) => return refused,
    };
    let message = form.text();
    if message.is_empty() {
        return failure_event(
            StatusCode::UNPROCESSABLE_ENTITY,
            &i18n::t(v.lang, "chat.required"),
        );
    }
    let refused = |e: ClientError| {
        let failure = Failure::from(e);
        failure_event(failure.status(), &failure.message(v.lang))
    };
    let conversation = match current(&state, (&caller, v.lang, &token)).await {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let request = request(conversation.as_ref(), &message);
    let docs = state.client.documents();
    match docs.ask_stream(&caller, &token, &request).await {
        Ok(upstream) => relay(upstream, v.lang, None),
        Err(e) => refused(e),
    }
}

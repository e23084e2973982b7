//! The OpenAI-compatible routes: chat and text completions (streamed as
//! server-sent events or whole), models, tokenize and detokenize.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use axum::{Json, Router};
use futures::stream::{self, Stream, StreamExt};
use kit::token::TokenVerifier;
use llama_cpp_2::token::LlamaToken;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_stream::wrappers::UnboundedReceiverStream;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use wire::openapi::BearerAuth;

use crate::auth::Caller;
use crate::engine::{Event, Finish, Generation};
use crate::error::LlmError;
use crate::grammar::Grammar;
use crate::request::{template_messages, Settings};
use crate::service::{Backend, Llm};
use wire::llm::*;

#[derive(Clone)]
pub struct LlmState {
    pub llm: Llm,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<LlmState> for Arc<TokenVerifier> {
    fn from_ref(s: &LlmState) -> Self {
        s.verifier.clone()
    }
}

/// The routes and their OpenAPI operations, from one list: a route is
/// documented because it is served, and the other way round.
fn api() -> OpenApiRouter<LlmState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(models))
        .routes(routes!(chat))
        .routes(routes!(completions))
        .routes(routes!(tokenize))
        .routes(routes!(detokenize))
}

/// The LLM's OpenAPI document: the operations [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

pub fn router(state: LlmState) -> Router {
    api().with_state(state).into()
}

/// Parses a JSON body into `T`, refusing in OpenAI's shape.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, LlmError> {
    serde_json::from_slice(body).map_err(|e| LlmError::InvalidRequest {
        message: format!("the request body is not valid: {e}"),
        param: None,
    })
}

/// The checks both completion endpoints make: the model asked for, and
/// the sampling settings.
fn settings(st: &LlmState, model: Option<&str>, sampling: &Sampling) -> Result<Settings, LlmError> {
    st.llm.check_model(model)?;
    Settings::from_request(sampling, st.llm.default_max_tokens, &st.llm.schema_limits)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[utoipa::path(get, path = "/v1/models", tag = "llm", security(("bearer" = [])),
    responses((status = 200, body = ModelList), (status = 401, body = ErrorBody)))]
async fn models(State(st): State<LlmState>, _caller: Caller) -> Result<Response, LlmError> {
    if let Backend::Upstream(up) = &st.llm.backend {
        return up.get("models").await;
    }
    let model = st.llm.engine()?.model().ok();
    let created = model.as_ref().map(|m| m.created).unwrap_or(0);
    let max_model_len = model.map(|m| m.context_per_slot as u32);
    Ok(Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: st.llm.model_id.clone(),
            object: "model".into(),
            created,
            owned_by: "scriptorium".into(),
            max_model_len,
        }],
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "llm", security(("bearer" = [])),
    request_body = ChatRequest,
    responses(
        (status = 200, body = ChatResponse, description = "the answer; with `stream: true`, \
         `text/event-stream` of `ChatChunk` data (an `ErrorBody` if the generation fails midway), \
         then `[DONE]`"),
        (status = 400, body = ErrorBody, description = "invalid request, or the prompt is longer than the context"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such model"),
        (status = 429, body = ErrorBody, description = "the queue is full, or the caller's per-user limit; see Retry-After"),
        (status = 503, body = ErrorBody, description = "the model is loading or unavailable")))]
#[tracing::instrument(name = "chat_completion", skip_all, fields(user = %caller.0.username))]
async fn chat(
    State(st): State<LlmState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, LlmError> {
    let req: ChatRequest = parse(&body)?;
    let settings = settings(&st, req.model.as_deref(), &req.sampling)?;
    let messages = template_messages(&req.messages)?;
    if let Backend::Upstream(up) = &st.llm.backend {
        return up.post("chat/completions", &body, settings.stream).await;
    }
    let engine = st.llm.engine()?;
    let model = engine.model()?;
    let template = model.template.as_ref().ok_or_else(|| {
        LlmError::invalid(
            "this model has no chat template: set llm.chat_template_file, or use /v1/completions",
            "messages",
        )
    })?;
    let prompt = template
        .render(&messages)
        .map_err(|e| LlmError::invalid(e.to_string(), "messages"))?;
    let tokens = model.tokenize_chat(&prompt);
    let grammar = model.compile(&settings.params)?;
    let rx = engine.submit(&caller.0.user_id, generation(tokens, grammar, &settings))?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let model_id = st.llm.model_id.clone();
    let created = now();
    if settings.stream {
        let chunk = move |piece: Piece| {
            let (delta, finish, usage) = match piece {
                Piece::Start => {
                    let role = Some("assistant".into());
                    let delta = Delta {
                        role,
                        content: Some(String::new()),
                    };
                    (Some(delta), None, None)
                }
                Piece::Text(t) => {
                    let delta = Delta {
                        role: None,
                        content: Some(t),
                    };
                    (Some(delta), None, None)
                }
                Piece::Finish(f) => (Some(Delta::default()), Some(f.reason()), None),
                // OpenAI's usage chunk has no choices.
                Piece::Usage(u) => (None, None, Some(u)),
            };
            to_json(&ChatChunk {
                id: id.clone(),
                object: "chat.completion.chunk".into(),
                created,
                model: model_id.clone(),
                choices: delta
                    .map(|delta| ChatChunkChoice {
                        index: 0,
                        delta,
                        finish_reason: finish,
                        logprobs: None,
                    })
                    .into_iter()
                    .collect(),
                usage,
            })
        };
        return Ok(streamed(
            rx,
            settings.include_usage,
            Some(Piece::Start),
            chunk,
        ));
    }
    let (text, finish, usage) = collect(rx).await?;
    Ok(Json(ChatResponse {
        id,
        object: "chat.completion".into(),
        created,
        model: model_id,
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".into(),
                content: text,
            },
            finish_reason: finish.reason(),
            logprobs: None,
        }],
        usage,
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/completions", tag = "llm", security(("bearer" = [])),
    request_body = CompletionRequest,
    responses(
        (status = 200, body = CompletionResponse, description = "the completion; with `stream: true`, \
         `text/event-stream` of `CompletionResponse` chunks, then `[DONE]`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(name = "completion", skip_all, fields(user = %caller.0.username))]
async fn completions(
    State(st): State<LlmState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, LlmError> {
    let req: CompletionRequest = parse(&body)?;
    let settings = settings(&st, req.model.as_deref(), &req.sampling)?;
    let prompt = match req.prompt {
        Prompt::One(p) => p,
        Prompt::Many(mut v) if v.len() == 1 => v.remove(0),
        Prompt::Many(_) => {
            return Err(LlmError::invalid("send one prompt per request", "prompt"));
        }
    };
    if let Backend::Upstream(up) = &st.llm.backend {
        return up.post("completions", &body, settings.stream).await;
    }
    let engine = st.llm.engine()?;
    let model = engine.model()?;
    let tokens = model.tokenize(&prompt, true);
    let grammar = model.compile(&settings.params)?;
    let rx = engine.submit(&caller.0.user_id, generation(tokens, grammar, &settings))?;
    let id = format!("cmpl-{}", uuid::Uuid::new_v4().simple());
    let model_id = st.llm.model_id.clone();
    let created = now();
    let whole = move |text: Option<String>, finish: Option<Finish>, usage: Option<Usage>| {
        CompletionResponse {
            id: id.clone(),
            object: "text_completion".into(),
            created,
            model: model_id.clone(),
            choices: text
                .map(|text| CompletionChoice {
                    index: 0,
                    text,
                    finish_reason: finish.map(Finish::reason),
                    logprobs: None,
                })
                .into_iter()
                .collect(),
            usage,
        }
    };
    if settings.stream {
        let chunk = move |piece: Piece| {
            to_json(&match piece {
                Piece::Start => whole(Some(String::new()), None, None),
                Piece::Text(t) => whole(Some(t), None, None),
                Piece::Finish(f) => whole(Some(String::new()), Some(f), None),
                // OpenAI's usage chunk has no choices.
                Piece::Usage(u) => whole(None, None, Some(u)),
            })
        };
        return Ok(streamed(rx, settings.include_usage, None, chunk));
    }
    let (text, finish, usage) = collect(rx).await?;
    Ok(Json(whole(Some(text), Some(finish), Some(usage))).into_response())
}

#[utoipa::path(post, path = "/v1/tokenize", tag = "llm", security(("bearer" = [])),
    request_body = TokenizeRequest,
    responses((status = 200, body = TokenizeResponse), (status = 401, body = ErrorBody)))]
async fn tokenize(
    State(st): State<LlmState>,
    _caller: Caller,
    body: Bytes,
) -> Result<Response, LlmError> {
    if let Backend::Upstream(up) = &st.llm.backend {
        return up.post_root("tokenize", &body).await;
    }
    let req: TokenizeRequest = parse(&body)?;
    let model = st.llm.engine()?.model()?;
    let tokens = model.tokenize(&req.content, req.add_special);
    Ok(Json(TokenizeResponse {
        tokens: tokens.into_iter().map(|t| t.0).collect(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/detokenize", tag = "llm", security(("bearer" = [])),
    request_body = DetokenizeRequest,
    responses((status = 200, body = DetokenizeResponse),
              (status = 400, body = ErrorBody, description = "a token outside the vocabulary"),
              (status = 401, body = ErrorBody)))]
async fn detokenize(
    State(st): State<LlmState>,
    _caller: Caller,
    body: Bytes,
) -> Result<Response, LlmError> {
    if let Backend::Upstream(up) = &st.llm.backend {
        return up.post_root("detokenize", &body).await;
    }
    let req: DetokenizeRequest = parse(&body)?;
    let model = st.llm.engine()?.model()?;
    let n_vocab = model.n_vocab();
    if let Some(bad) = req.tokens.iter().find(|&&t| t < 0 || t >= n_vocab) {
        return Err(LlmError::invalid(
            format!("token {bad} is outside the vocabulary (0..{n_vocab})"),
            "tokens",
        ));
    }
    let tokens: Vec<LlamaToken> = req.tokens.into_iter().map(LlamaToken).collect();
    Ok(Json(DetokenizeResponse {
        content: model.detokenize(&tokens),
    })
    .into_response())
}

fn generation(prompt: Vec<LlamaToken>, grammar: Option<Grammar>, s: &Settings) -> Generation {
    Generation {
        prompt,
        params: s.params.clone(),
        grammar,
        max_tokens: s.max_tokens,
        stop: s.stop.clone(),
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// Waits for a whole generation.
async fn collect(mut rx: UnboundedReceiver<Event>) -> Result<(String, Finish, Usage), LlmError> {
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::Done { finish, usage } => return Ok((text, finish, usage)),
            Event::Error(e) => return Err(LlmError::Engine(e)),
        }
    }
    Err(LlmError::Engine("the engine dropped the request".into()))
}

/// What one chunk of a stream carries.
enum Piece {
    /// The opening chunk, before any text (chat: the assistant's role).
    Start,
    Text(String),
    Finish(Finish),
    /// With `stream_options.include_usage`, after the finish.
    Usage(Usage),
}

/// The one streaming path of chat and text completions: the engine's
/// events as server-sent events, each chunk written by `chunk` in its
/// endpoint's shape: an optional opening chunk, the text, the finish (and
/// the usage when asked), an error object if the generation fails midway,
/// then `[DONE]`. Dropping the response (the client went away) drops the
/// receiver, which frees the slot.
fn streamed(
    rx: UnboundedReceiver<Event>,
    include_usage: bool,
    opening: Option<Piece>,
    chunk: impl Fn(Piece) -> String + Send + 'static,
) -> Response {
    let first = opening.map(&chunk);
    let events = UnboundedReceiverStream::new(rx).flat_map(move |ev| {
        stream::iter(match ev {
            Event::Text(t) => vec![chunk(Piece::Text(t))],
            Event::Done { finish, usage } => {
                let mut out = vec![chunk(Piece::Finish(finish))];
                if include_usage {
                    out.push(chunk(Piece::Usage(usage)));
                }
                out
            }
            Event::Error(e) => vec![to_json(&LlmError::Engine(e).body())],
        })
    });
    let all = stream::iter(first)
        .chain(events)
        .chain(stream::once(async { "[DONE]".to_string() }));
    Sse::new(payloads(all))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn payloads(
    s: impl Stream<Item = String> + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    s.map(|p| Ok(SseEvent::default().data(p)))
}

/// The OpenAI-compatible API's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    // The events of a stream, which no response body names.
    components(schemas(ChatChunk)),
    modifiers(&BearerAuth),
    tags((name = "llm", description = "OpenAI-compatible chat and text completions, streamed or whole")),
)]
pub struct ApiDoc;

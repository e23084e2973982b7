//! `/library` and `/ask`: the user's documents, a search box over them,
//! each document's pages, and questions asked of the library with answers
//! that cite the page. Every call goes through the typed client with the
//! user's own token; conversations are the documents service's, so they
//! survive a restart and any console replica shows them.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use client::ClientError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wire::ask::AskRequest;
use wire::documents::{DocumentStatus, ListQuery};
use wire::search::SearchQuery;

use crate::extract::{csrf_field, Checked, Member, Visitor};
use crate::i18n;
use crate::overlay;
use crate::pages::{redirect, render};
use crate::stream::{failure_event, relay, signed_in};
use crate::WebState;
use axum::extract::Form;
use axum::Json;

csrf_field!(AskForm);

/// Largest upload the page takes (the documents service's default limit,
/// plus the form's other fields).
pub(crate) const MAX_UPLOAD_BYTES: usize = (64 << 20) + (64 << 10);
/// The Content-Security-Policy of downloads.
const DOWNLOAD_POLICY: &str = "default-src 'none'; sandbox";
/// What a document page offers to download.
const DOWNLOADS: &[&str] = &["original", "pdf", "text", "hocr", "tsv", "json"];

/// What the page says when a call failed: the refusal's own words for a
/// request at fault, else that the service is unavailable.
fn failure(m: &Member, e: &ClientError) -> (StatusCode, String) {
    match e {
        ClientError::Refused {
            status, problem, ..
        } if status.is_client_error() => (*status, problem.message().to_owned()),
        _ => {
            tracing::warn!(error = %e, "the documents API gave the console no answer");
            let status = e.status().unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let status = if status.is_server_error() || status.is_client_error() {
                status
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, i18n::t(m.v.lang, "library.unavailable"))
        }
    }
}

/// A page of the library saying what went wrong, with a way back.
fn message(state: &WebState, m: &Member, status: StatusCode, body: String, back: &str) -> Response {
    let label = if back == "/library" {
        "library.title"
    } else {
        "library.back"
    };
    let ctx = json!({
        "title": i18n::t(m.v.lang, "library.title"),
        "body": body,
        "back": back,
        "back_label": i18n::t(m.v.lang, label),
    });
    (status, render(state, &m.v, "message.html", "/library", ctx)).into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct LibraryQuery {
    #[serde(default)]
    q: String,
}

pub(crate) async fn page(
    State(state): State<WebState>,
    m: Member,
    Query(query): Query<LibraryQuery>,
) -> Response {
    let (caller, _, token) = m.who();
    let docs = state.client.documents();
    let mut status = StatusCode::OK;
    let mut error = None;
    let documents = match docs.list(caller, token, &ListQuery::default()).await {
        Ok(list) => list.documents,
        Err(e) => {
            let (s, message) = failure(&m, &e);
            (status, error) = (s, Some(message));
            Vec::new()
        }
    };
    let q = query.q.trim().to_owned();
    let mut hits = Vec::new();
    if !q.is_empty() {
        let search = SearchQuery {
            q: q.clone(),
            limit: Some(20),
            ..SearchQuery::default()
        };
        match docs.search(caller, token, &search).await {
            Ok(results) => hits = results.hits,
            Err(e) => {
                let (s, message) = failure(&m, &e);
                (status, error) = (s, Some(message));
            }
        }
    }
    let live = documents.iter().any(|d| d.status.in_progress());
    let ctx = json!({
        "documents": documents,
        "live": live,
        "q": q,
        "searched": !q.is_empty(),
        "hits": hits,
        "error": error,
    });
    (
        status,
        render(&state, &m.v, "library.html", "/library", ctx),
    )
        .into_response()
}

/// One document's progress, as the library page's script shows it.
#[derive(Serialize)]
pub(crate) struct Progress {
    id: String,
    status: DocumentStatus,
    pages_done: u32,
    pages_total: Option<u32>,
}

/// `GET /library/progress`: the progress of the documents the library page
/// lists, so that it shows them being read without reloading (a form being
/// filled in on it is left alone).
pub(crate) async fn progress(State(state): State<WebState>, m: Member) -> Response {
    let (caller, _, token) = m.who();
    match state
        .client
        .documents()
        .list(caller, token, &ListQuery::default())
        .await
    {
        Ok(list) => Json(
            list.documents
                .into_iter()
                .map(|d| Progress {
                    id: d.id,
                    status: d.status,
                    pages_done: d.pages_done,
                    pages_total: d.pages_total,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => {
            let (status, message) = failure(&m, &e);
            (status, Json(json!({ "error": message }))).into_response()
        }
    }
}

/// What a link to a document page may point at: boxes to mark on a page.
#[derive(Deserialize, Default)]
pub(crate) struct DocumentQuery {
    page: Option<usize>,
    mark: Option<String>,
}

pub(crate) async fn document(
    State(state): State<WebState>,
    m: Member,
    Path(id): Path<String>,
    Query(query): Query<DocumentQuery>,
) -> Response {
    let (caller, _, token) = m.who();
    let docs = state.client.documents();
    let doc = match docs.get(caller, token, &id).await {
        Ok(doc) => doc,
        Err(e) => {
            let (status, body) = failure(&m, &e);
            return message(&state, &m, status, body, "/library");
        }
    };
    let pages = if doc.status == DocumentStatus::Done {
        docs.results(caller, token, &id)
            .await
            .map(|r| r.pages)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let marks = query
        .mark
        .as_deref()
        .map(overlay::parse_marks)
        .unwrap_or_default();
    let views: Vec<_> = pages
        .iter()
        .map(|p| {
            let marked = query.page == Some(p.page);
            overlay::page_view(p, if marked { &marks } else { &[] })
        })
        .collect();
    let ctx = json!({ "doc": doc, "pages": views });
    render(&state, &m.v, "document.html", "/library", ctx).into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct AskQuery {
    /// The conversation shown.
    c: Option<String>,
    /// A document to ask about.
    document: Option<String>,
}

async fn ask_page(
    state: &WebState,
    m: &Member,
    status: StatusCode,
    conversation: Option<&str>,
    chosen: &[String],
    extra: Value,
) -> Response {
    let (caller, _, token) = m.who();
    let docs = state.client.documents();
    let query = ListQuery {
        status: Some(DocumentStatus::Done),
        ..ListQuery::default()
    };
    let documents: Vec<Value> = docs
        .list(caller, token, &query)
        .await
        .map(|l| l.documents)
        .unwrap_or_default()
        .into_iter()
        .map(|d| json!({ "id": d.id, "name": d.name, "chosen": chosen.contains(&d.id) }))
        .collect();
    let turns = match conversation {
        Some(id) => docs
            .conversation(caller, token, id)
            .await
            .map(|c| c.turns)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // The assistant page's conversations (the model alone) are its own.
    let conversations: Vec<_> = docs
        .conversations(caller, token)
        .await
        .map(|l| l.conversations)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.library)
        .collect();
    let mut ctx = json!({
        "documents": documents,
        "turns": turns,
        "conversation": conversation,
        "conversations": conversations,
        "question": "",
        "error": null,
    });
    if let (Value::Object(base), Value::Object(more)) = (&mut ctx, extra) {
        base.extend(more);
    }
    (status, render(state, &m.v, "ask.html", "/ask", ctx)).into_response()
}

pub(crate) async fn ask(
    State(state): State<WebState>,
    m: Member,
    Query(query): Query<AskQuery>,
) -> Response {
    let chosen: Vec<String> = query.document.into_iter().collect();
    ask_page(
        &state,
        &m,
        StatusCode::OK,
        query.c.as_deref(),
        &chosen,
        json!({}),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct AskForm {
    #[serde(default)]
    question: String,
    #[serde(default)]
    conversation: String,
    #[serde(default)]
    pub(crate) csrf: String,
    /// `doc:<id>` checkboxes.
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl AskForm {
    /// The request the form makes: the question (trimmed, at most 2,000
    /// characters), the documents ticked, the conversation it continues.
    fn request(&self) -> AskRequest {
        let conversation = Some(self.conversation.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let mut chosen: Vec<String> = self
            .rest
            .keys()
            .filter_map(|k| k.strip_prefix("doc:"))
            .map(str::to_owned)
            .collect();
        chosen.sort();
        AskRequest {
            question: self.question.trim().chars().take(2000).collect(),
            document_ids: (!chosen.is_empty()).then_some(chosen),
            conversation_id: conversation,
            ..AskRequest::default()
        }
    }
}

/// Where the page of a conversation's latest answer is.
fn latest(conversation_id: &str) -> String {
    format!("/ask?c={conversation_id}#latest")
}

pub(crate) async fn send(
    State(state): State<WebState>,
    m: Member,
    Checked(form): Checked<AskForm>,
) -> Response {
    let request = form.request();
    let question = request.question.clone();
    let conversation = request.conversation_id.clone();
    let chosen = request.document_ids.clone().unwrap_or_default();
    if question.is_empty() {
        let extra = json!({ "error": i18n::t(m.v.lang, "ask.required") });
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return ask_page(&state, &m, status, conversation.as_deref(), &chosen, extra).await;
    }
    let (caller, _, token) = m.who();
    match state.client.documents().ask(caller, token, &request).await {
        Ok(answer) => redirect(&latest(&answer.conversation_id)),
        Err(e) => {
            let (status, message) = failure(&m, &e);
            let extra = json!({ "error": message, "question": question });
            ask_page(&state, &m, status, conversation.as_deref(), &chosen, extra).await
        }
    }
}

/// `POST /ask/stream`: the Ask form answered as it is written (the page's
/// script shows the pieces, then opens the conversation's page with the
/// citations). Events: `data: "<piece>"`, then `event: done` with the
/// page to open; or one `event: failure` with the page's message.
pub(crate) async fn stream(
    State(state): State<WebState>,
    caller: client::Caller,
    v: Visitor,
    Form(form): Form<AskForm>,
) -> Response {
    let token = match signed_in(&state, &caller, &v, &form.csrf).await {
        Ok(token) => token,
        Err(refused) => return refused,
    };
    let request = form.request();
    if request.question.is_empty() {
        return failure_event(
            StatusCode::UNPROCESSABLE_ENTITY,
            &i18n::t(v.lang, "ask.required"),
        );
    }
    let docs = state.client.documents();
    match docs.ask_stream(&caller, &token, &request).await {
        Ok(upstream) => relay(upstream, v.lang, Some(latest)),
        Err(e) => {
            let message = match &e {
                ClientError::Refused {
                    status, problem, ..
                } if status.is_client_error() => problem.message().to_owned(),
                _ => i18n::t(v.lang, "library.unavailable"),
            };
            let status = e.status().unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            failure_event(status, &message)
        }
    }
}

/// `POST /library/upload`: one or more files (field `file`, repeated),
/// stored and queued by the documents service; the list shows their
/// progress. A refused file is named with the refusal's reason; the others
/// are kept.
pub(crate) async fn upload(
    State(state): State<WebState>,
    m: Member,
    mut form: axum::extract::Multipart,
) -> Response {
    let (mut csrf, mut languages, mut files) = (String::new(), None, Vec::new());
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let Ok(data) = field.bytes().await else {
                    return upload_failed(&state, &m, i18n::t(m.v.lang, "ocr.too_large"));
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&data).into_owned(),
                    "languages" => languages = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" if !data.is_empty() => {
                        files.push((file_name.unwrap_or_else(|| "document".into()), data))
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return upload_failed(&state, &m, i18n::t(m.v.lang, "ocr.too_large")),
        }
    }
    if !m.v.checks(&csrf) {
        return crate::pages::refused(&state, &m.v, "/library");
    }
    if files.is_empty() {
        return upload_failed(&state, &m, i18n::t(m.v.lang, "ocr.required"));
    }
    let options = wire::ocr::OcrOptions {
        languages: languages.filter(|l| ["eng+fra", "fra+eng", "eng", "fra"].contains(&l.as_str())),
        ..wire::ocr::OcrOptions::default()
    };
    let (caller, _, token) = m.who();
    let mut refusals = Vec::new();
    for (name, bytes) in files {
        if let Err(e) = state
            .client
            .documents()
            .upload(caller, token, bytes, &name, &options)
            .await
        {
            let (_, reason) = failure(&m, &e);
            refusals.push(format!("{name}: {reason}"));
        }
    }
    if refusals.is_empty() {
        redirect("/library")
    } else {
        upload_failed(&state, &m, refusals.join(" · "))
    }
}

/// The library page again, saying why (some of) an upload was refused.
fn upload_failed(state: &WebState, m: &Member, body: String) -> Response {
    message(state, m, StatusCode::UNPROCESSABLE_ENTITY, body, "/library")
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    pub(crate) csrf: String,
}

csrf_field!(DeleteForm);

/// `POST /library/{id}/delete`, with its "yes, delete" box ticked.
pub(crate) async fn delete(
    State(state): State<WebState>,
    m: Member,
    Path(id): Path<String>,
    Checked(form): Checked<DeleteForm>,
) -> Response {
    if form.confirm != "on" {
        let body = i18n::t(m.v.lang, "library.confirm_required");
        let back = format!("/library/{id}");
        return message(&state, &m, StatusCode::UNPROCESSABLE_ENTITY, body, &back);
    }
    let (caller, _, token) = m.who();
    match state.client.documents().delete(caller, token, &id).await {
        Ok(()) => redirect("/library"),
        Err(e) => {
            let (status, body) = failure(&m, &e);
            message(&state, &m, status, body, "/library")
        }
    }
}

/// `GET /library/{id}/download/{kind}`: the original, the searchable PDF or
/// the text, passed on from the documents API as it answers.
pub(crate) async fn download(
    State(state): State<WebState>,
    m: Member,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    if !DOWNLOADS.contains(&kind.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (caller, _, token) = m.who();
    let sent = state
        .client
        .documents()
        .download(caller, token, &id, &kind)
        .await;
    relayed(&state, &m, &id, sent)
}

/// `GET /library/{id}/pages/{number}/image`: a page's picture, drawn under
/// its words on the document page.
pub(crate) async fn page_image(
    State(state): State<WebState>,
    m: Member,
    Path((id, number)): Path<(String, usize)>,
) -> Response {
    let (caller, _, token) = m.who();
    let sent = state
        .client
        .documents()
        .page_image(caller, token, &id, number)
        .await;
    relayed(&state, &m, &id, sent)
}

/// A file from the documents API passed on as it answered, or the page
/// that says why not.
fn relayed(
    state: &WebState,
    m: &Member,
    id: &str,
    sent: Result<Response, ClientError>,
) -> Response {
    match sent {
        Ok(res) => {
            let headers = res.headers().clone();
            let mut out = Response::new(res.into_body());
            for name in [CONTENT_TYPE, CONTENT_DISPOSITION, CACHE_CONTROL] {
                if let Some(value) = headers.get(&name) {
                    out.headers_mut().insert(name, value.clone());
                }
            }
            // Opened in the browser, a download runs nothing and loads
            // nothing.
            out.headers_mut().insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOWNLOAD_POLICY),
            );
            out
        }
        Err(e) => {
            let (status, body) = failure(m, &e);
            message(state, m, status, body, &format!("/library/{id}"))
        }
    }
}

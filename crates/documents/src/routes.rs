//! `/v1/documents`: upload, list, read, download and delete.

use std::sync::Arc;

use axum::extract::{FromRef, Path, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};

use axum::{Json, Router};
use futures::StreamExt;
use kit::client_ip::TrustedProxies;
use kit::problem::Query;
use kit::token::{Principal, TokenVerifier};
use ocr::service::{Document as OcrDocument, OutputFormat};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};
use wire::ask::{
    AskCitations, AskDone, AskPiece, AskRequest, AskResponse, AskStarted, Conversation,
    ConversationList,
};
use wire::documents::{Document, DocumentList, DocumentStatus, ListQuery};
use wire::ocr::OcrOptions;
use wire::openapi::BearerAuth;
use wire::search::{SearchQuery, SearchResults};

use crate::ask::{Answered, Asker};

use crate::error::DocumentsError;
use crate::library::{Library, Upload};
use crate::store::PageRow;

#[derive(Clone)]
pub struct DocumentsState {
    pub library: Library,
    pub verifier: Arc<TokenVerifier>,
    /// Whose `X-Forwarded-For` to believe, for the address passed on to
    /// the model's API.
    pub proxies: TrustedProxies,
}

impl FromRef<DocumentsState> for TrustedProxies {
    fn from_ref(s: &DocumentsState) -> Self {
        s.proxies.clone()
    }
}

impl FromRef<DocumentsState> for Arc<TokenVerifier> {
    fn from_ref(s: &DocumentsState) -> Self {
        s.verifier.clone()
    }
}

/// The routes and their OpenAPI operations, from one list: a route is
/// documented because it is served, and the other way round.
fn api() -> OpenApiRouter<DocumentsState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list, upload))
        .routes(routes!(show, remove))
        .routes(routes!(original))
        .routes(routes!(text))
        .routes(routes!(hocr))
        .routes(routes!(tsv))
        .routes(routes!(json))
        .routes(routes!(page))
        .routes(routes!(page_image))
        .routes(routes!(pdf))
        .routes(routes!(search))
        .routes(routes!(ask))
        .routes(routes!(conversations))
        .routes(routes!(conversation, remove_conversation))
}

/// The library's OpenAPI document: the operations [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

pub fn router(state: DocumentsState) -> Router {
    // Multipart framing and option fields get a little room.
    let limit = state.library.config().max_upload_bytes + 64 * 1024;
    api()
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
        .into()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The name to list the document under (default: the multipart file's
    /// name).
    pub name: Option<String>,
}

#[utoipa::path(post, path = "/v1/documents", tag = "documents", security(("bearer" = [])),
    params(OcrOptions, UploadQuery),
    request_body(content = Vec<u8>, description = "the document, raw or as multipart field `file`",
                 content_type = "application/octet-stream"),
    responses((status = 202, body = Document, description = "stored and queued; see Location"),
              (status = 413, description = "over a size, pixel or page limit, or the storage quota"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file or invalid option"),
              (status = 429, description = "the document quota")))]
async fn upload(
    State(s): State<DocumentsState>,
    who: Principal,
    Query(mut options): Query<OcrOptions>,
    Query(query): Query<UploadQuery>,
    req: Request,
) -> Result<Response, DocumentsError> {
    let limit = s.library.config().max_upload_bytes;
    let file = ocr::routes::upload(req, limit, &mut options)
        .await
        .map_err(|e| DocumentsError::Refused(Box::new(e.into())))?;
    let upload = Upload {
        bytes: file.bytes,
        name: query.name.or(file.file_name),
        options,
    };
    let row = s.library.upload(&who.user_id, upload).await?;
    tracing::info!(user = %who.user_id, document = %row.id, pages = ?row.pages_total, "document stored");
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, format!("/v1/documents/{}", row.id))],
        Json(row.wire()),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/documents", tag = "documents", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = DocumentList), (status = 400, description = "bad cursor or limit")))]
async fn list(
    State(s): State<DocumentsState>,
    who: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<DocumentList>, DocumentsError> {
    Ok(Json(s.library.list(&who.user_id, &query).await?))
}

#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = Document), (status = 404, description = "unknown or not yours")))]
async fn show(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Document>, DocumentsError> {
    Ok(Json(s.library.get(&who.user_id, &id).await?.wire()))
}

#[utoipa::path(delete, path = "/v1/documents/{id}", tag = "documents", security(("bearer" = [])),
    responses((status = 204, description = "the document, its results and its files are gone"),
              (status = 404, description = "unknown or not yours")))]
async fn remove(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, DocumentsError> {
    s.library.delete(&who.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The Content-Security-Policy of every download: a browser that opens
/// one runs no script of it and loads nothing.
const DOWNLOAD_POLICY: &str = "default-src 'none'; sandbox";

/// The media type of an original, from its first bytes.
fn media_type(bytes: &[u8]) -> &'static str {
    use ocr::decode::Format;
    match Format::sniff(bytes) {
        Some(Format::Pdf) => "application/pdf",
        Some(Format::Png) => "image/png",
        Some(Format::Jpeg) => "image/jpeg",
        Some(Format::Tiff) => "image/tiff",
        Some(Format::Webp) => "image/webp",
        Some(Format::Bmp) => "image/bmp",
        Some(Format::Gif) => "image/gif",
        _ => "application/octet-stream",
    }
}

/// `attachment; filename="..."` with the name made safe for the header
/// (ASCII, no quotes) and the real one as RFC 8187 `filename*`.
fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[utoipa::path(get, path = "/v1/documents/{id}/original", tag = "documents", security(("bearer" = [])),
    responses((status = 200, description = "the uploaded file, as it was", content_type = "application/octet-stream"),
              (status = 404, description = "unknown or not yours")))]
async fn original(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    let (row, bytes) = s.library.original(&who.user_id, &id).await?;
    Ok(download(media_type(&bytes), &row.name, bytes))
}

/// A file to save, never to run: an attachment under `name`, sandboxed.
fn download(media_type: &'static str, name: &str, bytes: bytes::Bytes) -> Response {
    let mut res = ([(CONTENT_TYPE, media_type)], bytes).into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_DISPOSITION, attachment(name));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOWNLOAD_POLICY),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// A stored page as OCR gave it.
fn page_result(row: PageRow) -> wire::ocr::Page {
    serde_json::from_str(&row.result).unwrap_or_else(|e| {
        let mut page = wire::ocr::Page::blank(row.number as usize);
        page.error = Some(format!("the stored result cannot be read: {e}"));
        page
    })
}

async fn results(
    s: &DocumentsState,
    who: &Principal,
    id: &str,
    format: OutputFormat,
) -> Result<Response, DocumentsError> {
    let (row, pages) = s.library.results(&who.user_id, id).await?;
    let pages = pages.into_iter().map(page_result).collect();
    let doc = OcrDocument::of_pages(row.languages, pages);
    Ok(ocr::routes::rendered(&doc, format))
}

#[utoipa::path(get, path = "/v1/documents/{id}/text", tag = "documents", security(("bearer" = [])),
    responses((status = 200, description = "every page's text, separated by form feeds", content_type = "text/plain"),
              (status = 404, description = "unknown or not yours"), (status = 409, description = "not done yet")))]
async fn text(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    results(&s, &who, &id, OutputFormat::Text).await
}

#[utoipa::path(get, path = "/v1/documents/{id}/hocr", tag = "documents", security(("bearer" = [])),
    responses((status = 200, description = "one XHTML hOCR document of every page", content_type = "application/xhtml+xml"),
              (status = 404, description = "unknown or not yours"), (status = 409, description = "not done yet")))]
async fn hocr(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    results(&s, &who, &id, OutputFormat::Hocr).await
}

#[utoipa::path(get, path = "/v1/documents/{id}/tsv", tag = "documents", security(("bearer" = [])),
    responses((status = 200, description = "every page's words in Tesseract's TSV columns", content_type = "text/tab-separated-values"),
              (status = 404, description = "unknown or not yours"), (status = 409, description = "not done yet")))]
async fn tsv(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    results(&s, &who, &id, OutputFormat::Tsv).await
}

#[utoipa::path(get, path = "/v1/documents/{id}/json", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = wire::ocr::Document, description = "pages, blocks, lines and words with boxes"),
              (status = 404, description = "unknown or not yours"), (status = 409, description = "not done yet")))]
async fn json(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    results(&s, &who, &id, OutputFormat::Json).await
}

#[utoipa::path(get, path = "/v1/documents/{id}/pages/{number}", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("number" = i64, Path, description = "1-based")),
    responses((status = 200, body = wire::ocr::Page),
              (status = 404, description = "unknown, not yours, or the page not read yet")))]
async fn page(
    State(s): State<DocumentsState>,
    who: Principal,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<wire::ocr::Page>, DocumentsError> {
    let row = s
        .library
        .page(&who.user_id, &id, page_number(&number)?)
        .await?;
    Ok(Json(page_result(row)))
}

#[utoipa::path(get, path = "/v1/documents/{id}/pages/{number}/image", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path), ("number" = i64, Path, description = "1-based")),
    responses((status = 200, description = "the page as read, grey JPEG of at most 1600 pixels a side, in the frame of its word boxes (scale them by its size over the page's)", content_type = "image/jpeg"),
              (status = 404, description = "unknown, not yours, or the page not read yet"),
              (status = 422, description = "the page cannot be pictured (it could not be decoded)"),
              (status = 503, description = "OCR is busy; see Retry-After")))]
async fn page_image(
    State(s): State<DocumentsState>,
    who: Principal,
    Path((id, number)): Path<(String, String)>,
) -> Result<Response, DocumentsError> {
    let number = page_number(&number)?;
    let jpeg = s.library.page_image(&who.user_id, &id, number).await?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            // A page's picture never changes: the document is kept as read.
            (
                CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
        ],
        jpeg,
    )
        .into_response())
}

/// A page number of a path: 1 or more.
fn page_number(number: &str) -> Result<i64, DocumentsError> {
    match number.parse() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(DocumentsError::NotAPage(number.chars().take(20).collect())),
    }
}

#[utoipa::path(get, path = "/v1/documents/{id}/pdf", tag = "documents", security(("bearer" = [])),
    responses((status = 200, description = "a searchable PDF: each scanned page's image with its words as invisible text; born-digital pages as they were", content_type = "application/pdf"),
              (status = 404, description = "unknown or not yours"), (status = 409, description = "not done yet")))]
async fn pdf(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, DocumentsError> {
    let (row, bytes) = s.library.searchable_pdf(&who.user_id, &id).await?;
    let stem = row
        .name
        .rsplit_once('.')
        .map_or(row.name.as_str(), |(stem, _)| stem);
    let name = format!("{stem}.searchable.pdf");
    Ok(download("application/pdf", &name, bytes))
}

#[utoipa::path(get, path = "/v1/search", tag = "documents", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults, description = "your finished pages that match, best first"),
              (status = 400, description = "no word to look for, or a bad filter")))]
async fn search(
    State(s): State<DocumentsState>,
    who: Principal,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, DocumentsError> {
    Ok(Json(s.library.search(&who.user_id, &query).await?))
}

/// The caller's credential, passed on to the model's API as it came.
struct Credential(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Credential {
    type Rejection = kit::Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        kit::token::bearer(parts)
            .map(|t| Credential(t.to_owned()))
            .ok_or_else(|| kit::Problem::unauthorized("missing bearer token"))
    }
}

#[utoipa::path(post, path = "/v1/ask", tag = "documents", security(("bearer" = [])),
    request_body = AskRequest,
    responses((status = 200, body = AskResponse, description = "the answer and the passages it cites; \
               with `stream: true`, `text/event-stream` of `conversation` (AskStarted), `piece` (AskPiece), \
               `citations` (AskCitations), then `done` (AskDone), or `error` (a problem document)"),
              (status = 400, description = "no question, too long, or a document that is not yours"),
              (status = 404, description = "no such conversation"),
              (status = 429, description = "the model is busy; see Retry-After"),
              (status = 503, description = "the model is unavailable")))]
async fn ask(
    State(s): State<DocumentsState>,
    who: Principal,
    Credential(token): Credential,
    caller: client::Caller,
    kit::problem::Json(request): kit::problem::Json<AskRequest>,
) -> Result<Response, DocumentsError> {
    let asker = Asker {
        owner: &who.user_id,
        caller: &caller,
        token: &token,
    };
    let prepared = s.library.prepare_answer(&asker, &request).await?;
    if !request.stream {
        return Ok(Json(s.library.answer(&asker, prepared).await?).into_response());
    }
    let events = s.library.answer_stream(&asker, prepared).await?;
    let events = events.map(|answered| {
        let event = match answered {
            Answered::Started(conversation_id) => Event::default()
                .event("conversation")
                .json_data(AskStarted { conversation_id }),
            Answered::Piece(text) => Event::default().event("piece").json_data(AskPiece { text }),
            Answered::Citations {
                found,
                citations,
                passages,
            } => Event::default().event("citations").json_data(AskCitations {
                found,
                citations,
                passages,
            }),
            Answered::Done(usage) => Event::default().event("done").json_data(AskDone { usage }),
            Answered::Failed(detail) => Event::default()
                .event("error")
                .json_data(kit::Problem::unavailable(detail, 5).document()),
        };
        Ok::<_, std::convert::Infallible>(event.expect("events serialize"))
    });
    let mut res = Sse::new(events).into_response();
    // A gateway in front passes each piece on at once.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

#[utoipa::path(get, path = "/v1/conversations", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = ConversationList, description = "your conversations, the latest first")))]
async fn conversations(
    State(s): State<DocumentsState>,
    who: Principal,
) -> Result<Json<ConversationList>, DocumentsError> {
    let conversations = s.library.store.conversations(&who.user_id).await?;
    Ok(Json(ConversationList { conversations }))
}

#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = Conversation), (status = 404, description = "unknown or not yours")))]
async fn conversation(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, DocumentsError> {
    s.library
        .store
        .conversation(&who.user_id, &id)
        .await?
        .map(Json)
        .ok_or(DocumentsError::NoConversation)
}

#[utoipa::path(delete, path = "/v1/conversations/{id}", tag = "documents", security(("bearer" = [])),
    responses((status = 204, description = "the conversation and its turns are gone"),
              (status = 404, description = "unknown or not yours")))]
async fn remove_conversation(
    State(s): State<DocumentsState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, DocumentsError> {
    if s.library
        .store
        .delete_conversation(&who.user_id, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(DocumentsError::NoConversation)
    }
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(Document, DocumentList, DocumentStatus, wire::ocr::Document, wire::ocr::Page,
                       SearchResults, wire::search::SearchHit, wire::search::SnippetPart,
                       AskRequest, AskResponse, wire::ask::Citation, wire::ask::AskUsage, AskStarted,
                       AskPiece, AskCitations, AskDone, Conversation, ConversationList,
                       wire::ask::ConversationSummary, wire::ask::Turn, wire::ask::PassageRef)),
    modifiers(&BearerAuth),
    tags((name = "documents", description = "The library: documents kept, read once, found again")),
)]
pub struct ApiDoc;

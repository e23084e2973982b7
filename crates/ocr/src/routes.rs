//! `POST /v1/ocr` and `GET /v1/ocr/languages`; the retired
//! `/v1/ocr/jobs` paths lead to the library.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Multipart, Path, Request, State};
use axum::http::header::{
    CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::Uri;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use axum::{Json, Router};
use kit::problem::Query;
use kit::token::{Principal, TokenVerifier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wire::ocr::{PageCount, PageImage, PageSelection};
use wire::openapi::BearerAuth;

use crate::error::OcrError;
use crate::output;
use crate::service::{Document, Ocr, Options, OutputFormat};

#[derive(Clone)]
pub struct OcrState {
    pub ocr: Ocr,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<OcrState> for Arc<TokenVerifier> {
    fn from_ref(s: &OcrState) -> Self {
        s.verifier.clone()
    }
}

/// The routes and their OpenAPI operations, from one list: a route is
/// documented because it is served, and the other way round.
fn api() -> OpenApiRouter<OcrState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(recognize))
        .routes(routes!(count))
        .routes(routes!(page_image))
        .routes(routes!(searchable_pdf))
        .routes(routes!(languages))
        .routes(routes!(create_job))
        .routes(routes!(get_job))
        .routes(routes!(job_result))
}

/// OCR's OpenAPI document: the operations [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

pub fn router(state: OcrState) -> Router {
    let limit = state.ocr.config().max_upload_bytes;
    api()
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
        .into()
}

/// The options of a request, as query parameters or multipart fields.
pub type OcrParams = wire::ocr::OcrOptions;

#[derive(Serialize, ToSchema)]
pub struct Languages {
    pub installed: Vec<String>,
    pub default: String,
}

#[utoipa::path(get, path = "/v1/ocr/languages", tag = "ocr", security(("bearer" = [])),
    responses((status = 200, body = Languages)))]
async fn languages(State(s): State<OcrState>, _who: Principal) -> Json<Languages> {
    Json(Languages {
        installed: s.ocr.languages().to_vec(),
        default: s.ocr.config().default_languages.clone(),
    })
}

/// Read at most `limit` bytes of a body. Past the limit the rest is read
/// and dropped (up to a cap) before answering 413, so that the client gets
/// the answer instead of a reset connection in the middle of its upload.
async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Bytes, OcrError> {
    use http_body_util::BodyExt;
    let drain_cap = limit.saturating_mul(4);
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| OcrError::Upload(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > limit {
            if seen > drain_cap {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(OcrError::UploadTooLarge(limit));
    }
    Ok(buf.freeze())
}

/// An uploaded document.
pub struct Upload {
    pub bytes: Bytes,
    /// The multipart part's file name, when it has one.
    pub file_name: Option<String>,
    /// The multipart field `pages`, when there is one (`/v1/ocr/pdf`).
    pub pages: Option<Bytes>,
}

/// Read the document, at most `limit` bytes, from the multipart field
/// `file` (other fields may carry options) or from the raw body.
pub async fn upload(
    req: Request,
    limit: usize,
    params: &mut OcrParams,
) -> Result<Upload, OcrError> {
    let is_multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (parts, body) = req.into_parts();
    // Multipart framing and option fields get a little room above the limit.
    let slack = if is_multipart { 64 * 1024 } else { 0 };
    let raw = read_limited(body, limit + slack).await?;
    if !is_multipart {
        return Ok(Upload {
            bytes: raw,
            file_name: None,
            pages: None,
        });
    }
    let req = Request::from_parts(parts, axum::body::Body::from(raw));
    let mut multipart = <Multipart as axum::extract::FromRequest<()>>::from_request(req, &())
        .await
        .map_err(|e| OcrError::Upload(e.body_text()))?;
    let part_error = |e: axum::extract::multipart::MultipartError| OcrError::Upload(e.body_text());
    let mut file: Option<Bytes> = None;
    let mut file_name = None;
    let mut pages = None;
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                file_name = field.file_name().map(str::to_owned);
                file = Some(field.bytes().await.map_err(part_error)?);
            }
            "pages" => pages = Some(field.bytes().await.map_err(part_error)?),
            "languages" | "psm" | "dpi" | "format" | "mode" | "orientation" => {
                let value = field.text().await.map_err(part_error)?;
                let bad = || OcrError::Option(format!("{name} '{value}'"));
                match name.as_str() {
                    "languages" => params.languages = Some(value.clone()),
                    "psm" => params.psm = Some(value.trim().parse().map_err(|_| bad())?),
                    "dpi" => params.dpi = Some(value.trim().parse().map_err(|_| bad())?),
                    "mode" => params.mode = Some(value.clone()),
                    "orientation" => params.orientation = Some(value.clone()),
                    _ => params.format = Some(value.clone()),
                }
            }
            _ => {}
        }
    }
    let file = file.ok_or(OcrError::NoFile)?;
    if file.len() > limit {
        return Err(OcrError::UploadTooLarge(limit));
    }
    Ok(Upload {
        bytes: file,
        file_name,
        pages,
    })
}

/// The uploaded document and the validated options of a request.
async fn document(
    req: Request,
    state: &OcrState,
    params: &mut OcrParams,
) -> Result<(Upload, Options), OcrError> {
    let upload = upload(req, state.ocr.config().max_upload_bytes, params).await?;
    let opts = state.ocr.options(params)?;
    Ok((upload, opts))
}

#[utoipa::path(post, path = "/v1/ocr", tag = "ocr", security(("bearer" = [])), params(OcrParams, PageSelection),
    request_body(content = Vec<u8>, description = "the document, raw or as multipart field `file`",
                 content_type = "application/octet-stream"),
    responses((status = 200, body = wire::ocr::Document),
              (status = 413, description = "over a size, pixel or page limit"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file or invalid option"),
              (status = 429, description = "the queue is full; see Retry-After")))]
async fn recognize(
    State(s): State<OcrState>,
    who: Principal,
    Query(mut params): Query<OcrParams>,
    Query(selection): Query<PageSelection>,
    req: Request,
) -> Result<Response, OcrError> {
    let (upload, opts) = document(req, &s, &mut params).await?;
    let bytes = upload.bytes;
    tracing::info!(user = %who.user_id, bytes = bytes.len(), langs = %opts.languages, page = ?selection.page, "ocr request");
    let doc = match selection.page {
        None => s.ocr.run(&who.user_id, bytes, &opts).await?,
        Some(0) => return Err(OcrError::Option("page 0: pages count from 1".into())),
        Some(n) => {
            // Refused at once when the queue is full, as a whole document.
            s.ocr.room_for(&who.user_id)?;
            let (page, _) = s.ocr.run_page(&who.user_id, bytes, &opts, n - 1).await?;
            Document::of_pages(opts.languages.to_string(), vec![page])
        }
    };
    Ok(rendered(&doc, opts.format))
}

/// One page of a document as a grey JPEG to show under its words (at most
/// 1600 pixels a side), turned as its reading turned it; a PDF page is
/// rendered whatever its text layer. What the library's page view draws.
#[utoipa::path(post, path = "/v1/ocr/image", tag = "ocr", security(("bearer" = [])), params(OcrParams, PageImage),
    request_body(content = Vec<u8>, description = "the document, raw or as multipart field `file`",
                 content_type = "application/octet-stream"),
    responses((status = 200, description = "the page, grey JPEG", content_type = "image/jpeg"),
              (status = 413, description = "over a size, pixel or page limit"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file or page, no such page, or invalid option")))]
async fn page_image(
    State(s): State<OcrState>,
    _who: Principal,
    Query(mut params): Query<OcrParams>,
    Query(which): Query<PageImage>,
    req: Request,
) -> Result<Response, OcrError> {
    let (upload, opts) = document(req, &s, &mut params).await?;
    let Some(index) = which.page.checked_sub(1) else {
        return Err(OcrError::Option("page 0: pages count from 1".into()));
    };
    let jpeg = s
        .ocr
        .page_image(upload.bytes, &opts, index, which.rotation)
        .await?;
    Ok(([(CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

/// Check a document as `/v1/ocr` would read it (format, limits, options)
/// and count its pages, decoding none of them: what the library asks
/// before it stores an upload.
#[utoipa::path(post, path = "/v1/ocr/count", tag = "ocr", security(("bearer" = [])), params(OcrParams),
    request_body(content = Vec<u8>, description = "the document, raw or as multipart field `file`",
                 content_type = "application/octet-stream"),
    responses((status = 200, body = PageCount),
              (status = 413, description = "over a size or page limit"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file or invalid option")))]
async fn count(
    State(s): State<OcrState>,
    _who: Principal,
    Query(mut params): Query<OcrParams>,
    req: Request,
) -> Result<Json<PageCount>, OcrError> {
    let (upload, opts) = document(req, &s, &mut params).await?;
    let pages = s.ocr.count_pages(upload.bytes, &opts).await?;
    Ok(Json(PageCount {
        pages,
        languages: opts.languages.into(),
    }))
}

/// A searchable PDF of a document from its pages as they were read: the
/// multipart field `file` holds the document, `pages` the JSON array of
/// its pages (`/v1/ocr`'s `pages`). Nothing is recognized again.
#[utoipa::path(post, path = "/v1/ocr/pdf", tag = "ocr", security(("bearer" = [])), params(OcrParams),
    request_body(content = Vec<u8>, description = "multipart: `file`, the document; `pages`, its pages as JSON",
                 content_type = "multipart/form-data"),
    responses((status = 200, description = "the searchable PDF", content_type = "application/pdf"),
              (status = 400, description = "no file or no pages"),
              (status = 413, description = "over a size or page limit"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file, pages that do not fit it or invalid option")))]
async fn searchable_pdf(
    State(s): State<OcrState>,
    _who: Principal,
    Query(mut params): Query<OcrParams>,
    req: Request,
) -> Result<Response, OcrError> {
    let (upload, opts) = document(req, &s, &mut params).await?;
    let pages = upload
        .pages
        .ok_or_else(|| OcrError::Upload("the multipart field `pages` is missing".into()))?;
    let pages: Vec<wire::ocr::Page> =
        serde_json::from_slice(&pages).map_err(|e| OcrError::Option(format!("pages: {e}")))?;
    fitting_pages(&pages, s.ocr.config()).map_err(OcrError::Option)?;
    let pdf = s.ocr.searchable_pdf(upload.bytes, &opts, &pages).await?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        pdf,
    )
        .into_response())
}

/// The Content-Security-Policy of every output: a browser that opens one
/// (hOCR is XHTML) runs no script of it and loads nothing.
const OUTPUT_POLICY: &str = "default-src 'none'; sandbox";

/// A document in the requested output format.
pub fn rendered(doc: &Document, format: OutputFormat) -> Response {
    let mut res = match format {
        OutputFormat::Json => Json(doc).into_response(),
        OutputFormat::Text => (
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            output::text(doc),
        )
            .into_response(),
        OutputFormat::Hocr => (
            [
                (CONTENT_TYPE, "application/xhtml+xml; charset=utf-8"),
                (
                    CONTENT_DISPOSITION,
                    "attachment; filename=\"ocr.hocr.html\"",
                ),
            ],
            output::hocr(doc),
        )
            .into_response(),
        OutputFormat::Tsv => (
            [(CONTENT_TYPE, "text/tab-separated-values; charset=utf-8")],
            output::tsv(doc),
        )
            .into_response(),
    };
    let h = res.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(OUTPUT_POLICY),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// Pages as `/v1/ocr` gives them: numbered from 1 in order, turned by a
/// quarter turn at most, within the page limits. What lies within those
/// bounds can only misplace the caller's own text layer.
fn fitting_pages(pages: &[wire::ocr::Page], config: &crate::OcrConfig) -> Result<(), String> {
    if pages.len() > config.max_pages {
        return Err(format!(
            "pages: {} pages, more than the limit of {}",
            pages.len(),
            config.max_pages
        ));
    }
    for (i, p) in pages.iter().enumerate() {
        let n = i + 1;
        if p.page != n {
            return Err(format!("pages: page {} where page {n} belongs", p.page));
        }
        if p.rotation % 90 != 0 || p.rotation >= 360 {
            return Err(format!("pages: page {n} turned by {} degrees", p.rotation));
        }
        if p.width > config.max_side || p.height > config.max_side {
            return Err(format!(
                "pages: page {n} is {}x{}, over the side limit of {}",
                p.width, p.height, config.max_side
            ));
        }
    }
    Ok(())
}

// The in-memory jobs this API once had are retired: a document to read in
// the background is a library document, kept in the library's database and
// read by any replica. The old paths lead there.

#[utoipa::path(post, path = "/v1/ocr/jobs", tag = "ocr",
    params(OcrParams),
    responses((status = 308, description = "retired: the same request goes to `POST /v1/documents`, which stores the document and reads it in the background", headers(("location" = String)))))]
async fn create_job(uri: Uri) -> Response {
    moved(StatusCode::PERMANENT_REDIRECT, "/v1/documents", uri.query())
}

#[utoipa::path(get, path = "/v1/ocr/jobs/{id}", tag = "ocr",
    params(("id" = String, Path)),
    responses((status = 301, description = "retired: `GET /v1/documents/{id}`", headers(("location" = String)))))]
async fn get_job(Path(id): Path<String>) -> Response {
    moved(
        StatusCode::MOVED_PERMANENTLY,
        &format!("/v1/documents/{}", segment(&id)),
        None,
    )
}

#[derive(Deserialize, IntoParams)]
pub struct ResultParams {
    /// `json` (default), `text`, `hocr` or `tsv`.
    format: Option<String>,
}

#[utoipa::path(get, path = "/v1/ocr/jobs/{id}/result", tag = "ocr",
    params(("id" = String, Path), ResultParams),
    responses((status = 301, description = "retired: `GET /v1/documents/{id}/{format}`", headers(("location" = String))),
              (status = 422, description = "unknown format")))]
async fn job_result(
    Path(id): Path<String>,
    Query(params): Query<ResultParams>,
) -> Result<Response, OcrError> {
    let format = match params.format.as_deref().unwrap_or("json").parse()? {
        OutputFormat::Json => "json",
        OutputFormat::Text => "text",
        OutputFormat::Hocr => "hocr",
        OutputFormat::Tsv => "tsv",
    };
    let to = format!("/v1/documents/{}/{format}", segment(&id));
    Ok(moved(StatusCode::MOVED_PERMANENTLY, &to, None))
}

/// A redirect to `path` on this host, with `query` kept.
fn moved(status: StatusCode, path: &str, query: Option<&str>) -> Response {
    let to = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    match HeaderValue::from_str(&to) {
        Ok(to) => (status, [(LOCATION, to)]).into_response(),
        Err(_) => OcrError::Option("the path cannot be redirected".into()).into_response(),
    }
}

/// An id as one path segment: anything but letters, digits, `-` and `_`
/// escaped, so no id can lead elsewhere.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(wire::ocr::Document, Languages, wire::ocr::Page,
                       wire::ocr::PageSource, wire::ocr::Block, wire::ocr::Line, wire::ocr::Word)),
    modifiers(&BearerAuth),
    tags((name = "ocr", description = "Images to text with word boxes and confidences")),
)]
pub struct ApiDoc;

//! `POST /v1/ocr` and `GET /v1/ocr/languages`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Multipart, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kit::token::{Principal, TokenVerifier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::OcrError;
use crate::output;
use crate::service::{Document, Ocr, OutputFormat};

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

pub fn router(state: OcrState) -> Router {
    let limit = state.ocr.config().max_upload_bytes;
    Router::new()
        .route("/v1/ocr", post(recognize))
        .route("/v1/ocr/languages", get(languages))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct OcrParams {
    /// Tesseract languages joined with `+` (default `fra+eng`).
    pub languages: Option<String>,
    /// Page segmentation mode (1, 3-13).
    pub psm: Option<i32>,
    /// Resolution for images that do not state one (default 300).
    pub dpi: Option<u32>,
    /// `json` (default), `text`, `hocr` or `tsv`.
    pub format: Option<String>,
}

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

/// Read the document from the multipart field `file` (other fields may carry
/// options) or from the raw body.
async fn upload(req: Request, state: &OcrState, params: &mut OcrParams) -> Result<Bytes, OcrError> {
    let limit = state.ocr.config().max_upload_bytes;
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
        return Ok(raw);
    }
    let req = Request::from_parts(parts, axum::body::Body::from(raw));
    let mut multipart = <Multipart as axum::extract::FromRequest<()>>::from_request(req, &())
        .await
        .map_err(|e| OcrError::Upload(e.body_text()))?;
    let part_error = |e: axum::extract::multipart::MultipartError| OcrError::Upload(e.body_text());
    let mut file: Option<Bytes> = None;
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => file = Some(field.bytes().await.map_err(part_error)?),
            "languages" | "psm" | "dpi" | "format" => {
                let value = field.text().await.map_err(part_error)?;
                let bad = || OcrError::Option(format!("{name} '{value}'"));
                match name.as_str() {
                    "languages" => params.languages = Some(value.clone()),
                    "psm" => params.psm = Some(value.trim().parse().map_err(|_| bad())?),
                    "dpi" => params.dpi = Some(value.trim().parse().map_err(|_| bad())?),
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
    Ok(file)
}

#[utoipa::path(post, path = "/v1/ocr", tag = "ocr", security(("bearer" = [])), params(OcrParams),
    request_body(content = Vec<u8>, description = "the document, raw or as multipart field `file`",
                 content_type = "application/octet-stream"),
    responses((status = 200, body = Document),
              (status = 413, description = "over a size, pixel or page limit"),
              (status = 415, description = "not a supported file type"),
              (status = 422, description = "corrupt file or invalid option"),
              (status = 429, description = "the queue is full; see Retry-After")))]
async fn recognize(
    State(s): State<OcrState>,
    who: Principal,
    Query(mut params): Query<OcrParams>,
    req: Request,
) -> Result<Response, OcrError> {
    let bytes = upload(req, &s, &mut params).await?;
    let opts = s.ocr.options(
        params.languages.as_deref(),
        params.psm,
        params.dpi,
        params.format.as_deref(),
    )?;
    tracing::info!(user = %who.user_id, bytes = bytes.len(), langs = %opts.languages, "ocr request");
    let doc = s.ocr.run(bytes, &opts).await?;
    Ok(match opts.format {
        OutputFormat::Json => Json(doc).into_response(),
        OutputFormat::Text => (
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            output::text(&doc),
        )
            .into_response(),
        OutputFormat::Hocr => (
            [(CONTENT_TYPE, "application/xhtml+xml; charset=utf-8")],
            output::hocr(&doc),
        )
            .into_response(),
        OutputFormat::Tsv => (
            [(CONTENT_TYPE, "text/tab-separated-values; charset=utf-8")],
            output::tsv(&doc),
        )
            .into_response(),
    })
}

#[derive(OpenApi)]
#[openapi(
    paths(recognize, languages),
    components(schemas(Document, Languages, crate::service::PageResult, crate::tsv::Block,
                       crate::tsv::Line, crate::tsv::Word)),
    tags((name = "ocr", description = "Images to text with word boxes and confidences")),
)]
pub struct ApiDoc;

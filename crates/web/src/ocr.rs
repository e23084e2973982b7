//! `/ocr`: upload a scan or a PDF, follow its progress, read the text, see
//! the words drawn over the page with their confidences, download text,
//! hOCR or JSON, and ask the assistant about it. Every step calls the OCR
//! jobs API with the signed-in user's own access token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use client::Payload;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{csrf_field, Checked, Member, Visitor};
use crate::i18n::{self, Lang};
use crate::pages::{redirect, refused, render};
use crate::WebState;

csrf_field!(Question);

/// Largest upload the page takes (the OCR service's default limit, plus
/// the form's other fields).
pub(crate) const MAX_UPLOAD_BYTES: usize = (64 << 20) + (64 << 10);
/// Languages offered on the form; the OCR service checks them again.
const LANGUAGES: &[&str] = &["fra+eng", "eng", "fra"];
/// The Content-Security-Policy of downloads.
pub(crate) const DOWNLOAD_POLICY: &str = "default-src 'none'; sandbox";
/// Characters of a document put into the conversation (about 2,000 tokens).
const MAX_DOCUMENT_CHARS: usize = 6_000;
/// The largest answer of the OCR API read (a result of many pages).
const MAX_ANSWER_BYTES: usize = 256 << 20;
/// Uploaded images kept for drawing the words over them.
const MAX_SOURCES: usize = 64;
const MAX_SOURCE_BYTES: usize = 16 << 20;
const SOURCE_TTL: Duration = Duration::from_secs(3600);

/// Uploaded images that a browser can show, by job id, for the overlay;
/// only their uploader gets them back.
#[derive(Clone, Default)]
pub struct Sources {
    inner: Arc<Mutex<HashMap<String, Source>>>,
}

struct Source {
    owner: String,
    content_type: &'static str,
    bytes: Bytes,
    at: Instant,
}

impl Sources {
    fn put(&self, job: &str, owner: &str, bytes: Bytes) {
        let Some(content_type) = browser_image(&bytes) else {
            return;
        };
        if bytes.len() > MAX_SOURCE_BYTES {
            return;
        }
        let mut map = self.inner.lock().expect("sources lock");
        map.retain(|_, s| s.at.elapsed() < SOURCE_TTL);
        if map.len() >= MAX_SOURCES {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.at).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(
            job.to_owned(),
            Source {
                owner: owner.to_owned(),
                content_type,
                bytes,
                at: Instant::now(),
            },
        );
    }

    fn get(&self, job: &str, owner: &str) -> Option<(&'static str, Bytes)> {
        let map = self.inner.lock().expect("sources lock");
        map.get(job)
            .filter(|s| s.owner == owner && s.at.elapsed() < SOURCE_TTL)
            .map(|s| (s.content_type, s.bytes.clone()))
    }
}

/// The content type of an image every browser shows, from its first bytes.
fn browser_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else {
        None
    }
}

fn show(state: &WebState, v: &Visitor, status: StatusCode, extra: Value) -> Response {
    let mut ctx = json!({
        "languages": LANGUAGES,
        "language": LANGUAGES[0],
        "job": null,
        "error": null,
    });
    if let (Value::Object(base), Value::Object(more)) = (&mut ctx, extra) {
        base.extend(more);
    }
    (status, render(state, v, "ocr.html", "/ocr", ctx)).into_response()
}

pub(crate) async fn page(State(state): State<WebState>, m: Member) -> Response {
    show(&state, &m.v, StatusCode::OK, json!({}))
}

/// The page's message for an OCR API refusal (problem+json `detail`).
fn refusal(lang: Lang, status: StatusCode, problem: &Value) -> String {
    match status {
        StatusCode::TOO_MANY_REQUESTS => i18n::t(lang, "error.busy"),
        StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::BAD_REQUEST => {
            let detail = problem["detail"].as_str().unwrap_or_default();
            format!("{} {detail}", i18n::t(lang, "ocr.refused"))
                .trim()
                .to_owned()
        }
        _ => i18n::t(lang, "ocr.unavailable"),
    }
}

pub(crate) async fn upload(
    State(state): State<WebState>,
    m: Member,
    mut form: Multipart,
) -> Response {
    let v = &m.v;
    let (mut csrf, mut language, mut file) = (String::new(), None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let field_name = field.name().unwrap_or_default().to_owned();
                let Ok(data) = field.bytes().await else {
                    return too_large_or_broken(&state, v);
                };
                match field_name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&data).into_owned(),
                    "languages" => language = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" => file = Some(data),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return too_large_or_broken(&state, v),
        }
    }
    if !v.checks(&csrf) {
        return refused(&state, v, "/ocr");
    }
    let language = language
        .filter(|l| LANGUAGES.contains(&l.as_str()))
        .unwrap_or_else(|| LANGUAGES[0].to_owned());
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        let error = i18n::t(v.lang, "ocr.required");
        let extra = json!({ "error": error, "language": language });
        return show(&state, v, StatusCode::UNPROCESSABLE_ENTITY, extra);
    };
    let path = format!("/v1/ocr/jobs?languages={}", language.replace('+', "%2B"));
    let payload = Payload::Raw {
        content_type: "application/octet-stream".into(),
        bytes: file.clone(),
    };
    let sent = state
        .client
        .send(&m.caller, Method::POST, &path, Some(&m.token), payload)
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "the console could not reach the OCR API");
            let extra = json!({ "error": i18n::t(v.lang, "ocr.unavailable") });
            return show(&state, v, StatusCode::SERVICE_UNAVAILABLE, extra);
        }
    };
    let status = response.status();
    let body: Value = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    match body["id"].as_str() {
        Some(id) if status == StatusCode::ACCEPTED => {
            state.sources.put(id, &m.user.user_id, file);
            redirect(&format!("/ocr/{id}"))
        }
        _ => {
            let extra = json!({ "error": refusal(v.lang, status, &body), "language": language });
            let shown = if status.is_client_error() {
                status
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            show(&state, v, shown, extra)
        }
    }
}

fn too_large_or_broken(state: &WebState, v: &Visitor) -> Response {
    let extra = json!({ "error": i18n::t(v.lang, "ocr.too_large") });
    show(state, v, StatusCode::PAYLOAD_TOO_LARGE, extra)
}

/// A job id as the OCR service makes them (hex); anything else is not one.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A whole answer of the OCR API.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
}

/// GET an OCR jobs API path with the user's token.
async fn fetch(state: &WebState, m: &Member, path: &str) -> Result<Answer, StatusCode> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "the console could not reach the OCR API");
        StatusCode::SERVICE_UNAVAILABLE
    };
    let res = state
        .client
        .send(&m.caller, Method::GET, path, Some(&m.token), Payload::Empty)
        .await
        .map_err(|e| unavailable(&e))?;
    let status = res.status();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(res.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// One page of a finished job, as the overlay draws it.
fn page_view(page: &Value, on_image: bool) -> Value {
    let mut words = Vec::new();
    for block in page["blocks"].as_array().into_iter().flatten() {
        for line in block["lines"].as_array().into_iter().flatten() {
            for word in line["words"].as_array().into_iter().flatten() {
                let b = &word["bbox"];
                let (x0, y0, x1, y1) = (b[0].as_u64(), b[1].as_u64(), b[2].as_u64(), b[3].as_u64());
                let (Some(x0), Some(y0), Some(x1), Some(y1)) = (x0, y0, x1, y1) else {
                    continue;
                };
                let confidence = word["confidence"].as_f64().unwrap_or(0.0);
                words.push(json!({
                    "text": word["text"],
                    "x": x0, "y": y0, "w": x1.saturating_sub(x0), "h": y1.saturating_sub(y0),
                    "confidence": confidence.round(),
                    "class": if confidence >= 80.0 { "high" } else if confidence >= 50.0 { "mid" } else { "low" },
                }));
            }
        }
    }
    json!({
        "page": page["page"],
        "width": page["width"],
        "height": page["height"],
        "mean_confidence": page["mean_confidence"],
        "source": page["source"],
        "error": page["error"],
        "image": on_image,
        "words": words,
    })
}

pub(crate) async fn job(
    State(state): State<WebState>,
    m: Member,
    Path(id): Path<String>,
) -> Response {
    let v = &m.v;
    let not_found = |state: &WebState, v: &Visitor| {
        let extra = json!({ "error": i18n::t(v.lang, "ocr.not_found") });
        show(state, v, StatusCode::NOT_FOUND, extra)
    };
    if !valid_id(&id) {
        return not_found(&state, v);
    }
    let response = match fetch(&state, &m, &format!("/v1/ocr/jobs/{id}")).await {
        Ok(r) if r.status == StatusCode::OK => r,
        Ok(r) if r.status == StatusCode::NOT_FOUND => return not_found(&state, v),
        _ => {
            let extra = json!({ "error": i18n::t(v.lang, "ocr.unavailable") });
            return show(&state, v, StatusCode::SERVICE_UNAVAILABLE, extra);
        }
    };
    let Ok(view) = serde_json::from_slice::<Value>(&response.body) else {
        let extra = json!({ "error": i18n::t(v.lang, "ocr.unavailable") });
        return show(&state, v, StatusCode::SERVICE_UNAVAILABLE, extra);
    };
    let status = view["status"].as_str().unwrap_or("failed");
    let single_image = state.sources.get(&id, &m.user.user_id).is_some();
    let pages: Vec<Value> = view["result"]["pages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            // The uploaded image lies under the boxes when the boxes are in
            // its frame: one page, not turned.
            page_view(p, single_image && p["rotation"].as_u64() == Some(0))
        })
        .collect();
    let done = view["pages_done"].as_u64().unwrap_or(0);
    let total = view["pages_total"].as_u64();
    let extra = json!({
        "job": {
            "id": id,
            "status": status,
            "pages_done": done,
            "pages_total": total,
            "percent": total.filter(|t| *t > 0).map(|t| done * 100 / t).unwrap_or(0),
            "text": view["result"]["text"].as_str().map(|t| t.replace('\u{c}', "\n\n")),
            "languages": view["result"]["languages"],
            "pages": pages,
            "error": view["error"]["detail"],
        },
        "refresh": matches!(status, "queued" | "running"),
    });
    show(&state, v, StatusCode::OK, extra)
}

pub(crate) async fn source(
    State(state): State<WebState>,
    v: Visitor,
    Path(id): Path<String>,
) -> Response {
    let found = v.user().and_then(|u| state.sources.get(&id, &u.user_id));
    match found {
        Some((content_type, bytes)) => (
            [
                (CONTENT_TYPE, content_type),
                (CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(crate) async fn download(
    State(state): State<WebState>,
    m: Member,
    Path((id, format)): Path<(String, String)>,
) -> Response {
    let extension = match format.as_str() {
        "text" => "txt",
        "hocr" => "hocr.html",
        "json" => "json",
        "tsv" => "tsv",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !valid_id(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = format!("/v1/ocr/jobs/{id}/result?format={format}");
    match fetch(&state, &m, &path).await {
        Ok(r) if r.status == StatusCode::OK => {
            let content_type = r
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into());
            let bytes = r.body;
            let disposition = format!("attachment; filename=\"ocr-{id}.{extension}\"");
            // hOCR is XHTML: opened in the browser anyway, it runs nothing
            // and loads nothing (the pages' own policy is kept otherwise).
            (
                [
                    (CONTENT_TYPE, content_type),
                    (CONTENT_DISPOSITION, disposition),
                    (CONTENT_SECURITY_POLICY, DOWNLOAD_POLICY.to_owned()),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(r) if r.status == StatusCode::NOT_FOUND => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct Question {
    #[serde(default)]
    question: String,
    #[serde(default)]
    csrf: String,
}

/// Put the document's text into the conversation with a question (a
/// summary by default), and go to the assistant with its answer.
pub(crate) async fn ask(
    State(state): State<WebState>,
    m: Member,
    Path(id): Path<String>,
    Checked(form): Checked<Question>,
) -> Response {
    let v = &m.v;
    if !valid_id(&id) {
        let extra = json!({ "error": i18n::t(v.lang, "ocr.not_found") });
        return show(&state, v, StatusCode::NOT_FOUND, extra);
    }
    let path = format!("/v1/ocr/jobs/{id}/result?format=text");
    let text = match fetch(&state, &m, &path).await {
        Ok(r) if r.status == StatusCode::OK => String::from_utf8_lossy(&r.body).into_owned(),
        _ => {
            let extra = json!({ "error": i18n::t(v.lang, "ocr.not_found") });
            return show(&state, v, StatusCode::NOT_FOUND, extra);
        }
    };
    let question = match form.question.trim() {
        "" => i18n::t(v.lang, "ocr.summarize"),
        q => q.chars().take(1_000).collect(),
    };
    let document: String = text.trim().chars().take(MAX_DOCUMENT_CHARS).collect();
    let message = format!(
        "{}\n\n\"\"\"\n{document}\n\"\"\"\n\n{question}",
        i18n::t(v.lang, "ocr.document_intro")
    );
    let history = state.conversations.get(&m.user.user_id);
    match crate::chat::ask(&state, m.who(), &history, &message).await {
        Ok(reply) => {
            let user = &m.user.user_id;
            state.conversations.push_exchange(user, message, reply);
            redirect("/chat")
        }
        Err(failure) => crate::chat::failed(&state, &m, failure, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_browser_images_are_kept() {
        assert_eq!(browser_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(browser_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(browser_image(b"%PDF-1.7"), None);
        assert_eq!(browser_image(b"II*\0"), None);
    }

    #[test]
    fn sources_are_their_uploader_s_only() {
        let sources = Sources::default();
        let png = Bytes::from_static(b"\x89PNG\r\n\x1a\nrest");
        sources.put("ab12", "alice", png.clone());
        assert_eq!(sources.get("ab12", "alice").map(|s| s.1), Some(png));
        assert!(sources.get("ab12", "mallory").is_none());
        sources.put("cd34", "alice", Bytes::from_static(b"%PDF-1.7"));
        assert!(sources.get("cd34", "alice").is_none());
    }

    #[test]
    fn job_ids_are_hex() {
        assert!(valid_id("0123abcdef"));
        assert!(!valid_id("../../auth/me"));
        assert!(!valid_id(""));
    }

    #[test]
    fn words_are_placed_and_graded() {
        let page = json!({"page": 1, "width": 100, "height": 50, "blocks": [{"lines": [{"words": [
            {"text": "Hi", "bbox": [10, 5, 30, 15], "confidence": 91.4},
            {"text": "?", "bbox": [40, 5, 45, 15], "confidence": 20.0}]}]}]});
        let view = page_view(&page, false);
        let words = view["words"].as_array().unwrap();
        assert_eq!(words[0]["w"], 20);
        assert_eq!(words[0]["class"], "high");
        assert_eq!(words[1]["class"], "low");
    }
}

//! What the library's routes answer when they cannot do what was asked.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kit::Problem;

use crate::blob::BlobError;

#[derive(Debug, thiserror::Error)]
pub enum DocumentsError {
    /// The upload, as `/v1/ocr` would refuse it (boxed: a problem is
    /// large, and every other error is small).
    #[error("{}", .0.title)]
    Refused(Box<Problem>),
    #[error("no such document")]
    NotFound,
    #[error("page {0} has not been read")]
    NoPage(i64),
    #[error("'{0}' is not a page number (pages count from 1)")]
    NotAPage(String),
    #[error("the document is {status}: {done} of {total} pages read")]
    NotReady {
        status: &'static str,
        done: i64,
        total: i64,
    },
    #[error(transparent)]
    BadSearch(#[from] crate::search::QueryError),
    #[error("{0}")]
    BadFilter(String),
    #[error("the searchable PDF could not be made: {0}")]
    NoPdf(String),
    #[error("the page's image could not be made: {0}")]
    NoImage(crate::reader::ReadError),
    #[error("{0}")]
    BadQuestion(String),
    #[error("no such conversation")]
    NoConversation,
    /// The language model cannot answer now (not configured, busy, down).
    #[error("{detail}")]
    Model {
        status: StatusCode,
        detail: String,
        retry_after: Option<u64>,
    },
    #[error("invalid cursor")]
    BadCursor,
    #[error("limit {0} (expected 1 to 100)")]
    BadLimit(u32),
    #[error("storing {size} bytes would bring yours to {total} of {limit}")]
    QuotaBytes { size: u64, total: u64, limit: u64 },
    #[error("you have {stored} documents, the most one may keep")]
    QuotaDocuments { stored: u64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<DocumentsError> for Problem {
    fn from(e: DocumentsError) -> Self {
        match e {
            DocumentsError::Refused(problem) => *problem,
            DocumentsError::NotFound => Problem::not_found().detail("no such document"),
            e @ (DocumentsError::NoPage(_) | DocumentsError::NotAPage(_)) => {
                Problem::not_found().detail(e.to_string())
            }
            e @ DocumentsError::NotReady { .. } => {
                Problem::new(StatusCode::CONFLICT, "not-ready", "Not processed yet")
                    .detail(e.to_string())
            }
            DocumentsError::NoConversation => Problem::not_found().detail("no such conversation"),
            DocumentsError::Model {
                status,
                detail,
                retry_after,
            } => {
                if status == StatusCode::TOO_MANY_REQUESTS {
                    Problem::new(status, "model-busy", "The language model is busy")
                        .detail(detail)
                        .retry_after(retry_after.unwrap_or(2))
                } else {
                    tracing::warn!(%detail, "the language model gave no answer");
                    Problem::unavailable(detail, retry_after.unwrap_or(5))
                }
            }
            e @ (DocumentsError::BadCursor
            | DocumentsError::BadQuestion(_)
            | DocumentsError::BadLimit(_)
            | DocumentsError::BadSearch(_)
            | DocumentsError::BadFilter(_)) => Problem::bad_request(e.to_string()),
            ref e @ DocumentsError::QuotaBytes { limit, .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "quota-bytes",
                "Storage quota exceeded",
            )
            .detail(e.to_string())
            .limit(limit),
            ref e @ DocumentsError::QuotaDocuments { stored } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-documents",
                "Document quota exceeded",
            )
            .detail(e.to_string())
            .limit(stored),
            e @ DocumentsError::NoPdf(_) => {
                tracing::warn!(error = %e, "searchable PDF");
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no-pdf",
                    "No searchable PDF",
                )
                .detail(e.to_string())
            }
            DocumentsError::NoImage(crate::reader::ReadError::Transient(e)) => {
                tracing::warn!(error = %e, "a page's image");
                Problem::unavailable("OCR is busy or unavailable; try again", 5)
            }
            e @ DocumentsError::NoImage(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no-image",
                "No image of the page",
            )
            .detail(e.to_string()),
            DocumentsError::Database(e) => {
                tracing::error!(error = %e, "documents database");
                Problem::unavailable("the library's database is unavailable", 5)
            }
            DocumentsError::Blob(e) => {
                tracing::error!(error = %e, "blob store");
                Problem::unavailable("the library's blob store is unavailable", 5)
            }
        }
    }
}

impl From<client::ClientError> for DocumentsError {
    fn from(e: client::ClientError) -> Self {
        let busy = e.status() == Some(StatusCode::TOO_MANY_REQUESTS);
        DocumentsError::Model {
            status: if busy {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            detail: format!("the language model: {e}"),
            retry_after: e.retry_after(),
        }
    }
}

impl IntoResponse for DocumentsError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

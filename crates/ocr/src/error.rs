//! OCR errors and their problem documents. Every bad input is a 4xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kit::Problem;

use crate::budget::BudgetError;
use crate::decode::DecodeError;
use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("the upload is larger than {0} bytes")]
    UploadTooLarge(usize),
    #[error("no file: send it in the multipart field 'file' or as the request body")]
    NoFile,
    #[error("invalid option: {0}")]
    Option(String),
    #[error("malformed upload: {0}")]
    Upload(String),
}

impl OcrError {
    /// The reason label used in the rejection metric.
    fn reason(&self) -> &'static str {
        match self {
            Self::Decode(DecodeError::Empty) => "empty",
            Self::Decode(DecodeError::Unsupported) => "unsupported",
            Self::Decode(DecodeError::PdfUnavailable) => "pdf_unavailable",
            Self::Decode(DecodeError::Busy) => "queue_full",
            Self::Decode(DecodeError::TooManyPixels { .. }) => "pixels",
            Self::Decode(DecodeError::SideTooLong { .. }) => "side",
            Self::Decode(DecodeError::TooManyPages { .. }) => "pages",
            Self::Decode(DecodeError::Corrupt(_)) => "corrupt",
            Self::Decode(DecodeError::UnsupportedEncoding(_)) => "encoding",
            Self::Engine(EngineError::QueueFull) => "queue_full",
            Self::Engine(EngineError::UserQueueFull(_)) => "user_queue_full",
            Self::Engine(EngineError::TimedOut(_)) => "page_timeout",
            Self::Engine(_) => "engine",
            Self::Budget(BudgetError::TooLarge { .. }) => "decode_size",
            Self::Budget(BudgetError::Busy) => "decode_busy",
            Self::UploadTooLarge(_) => "bytes",
            Self::NoFile | Self::Upload(_) => "upload",
            Self::Option(_) => "option",
        }
    }
}

impl From<OcrError> for Problem {
    fn from(e: OcrError) -> Self {
        metrics::counter!("ocr_rejections_total", "reason" => e.reason()).increment(1);
        let detail = e.to_string();
        let p = |status, kind, title| Problem::new(status, kind, title).detail(detail.clone());
        match e {
            OcrError::Decode(DecodeError::Empty) => {
                p(StatusCode::UNPROCESSABLE_ENTITY, "empty-file", "Empty file")
            }
            OcrError::Decode(DecodeError::PdfUnavailable) => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "pdf-unavailable",
                "PDF input unavailable",
            )
            .retry_after(60),
            OcrError::Decode(DecodeError::Busy) => p(
                StatusCode::TOO_MANY_REQUESTS,
                "queue-full",
                "Too many documents waiting",
            )
            .retry_after(2),
            OcrError::Decode(DecodeError::Unsupported) => p(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported file type",
            ),
            OcrError::Decode(DecodeError::UnsupportedEncoding(_)) => p(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-encoding",
                "Unsupported encoding",
            ),
            OcrError::Decode(
                DecodeError::TooManyPixels { .. }
                | DecodeError::SideTooLong { .. }
                | DecodeError::TooManyPages { .. },
            )
            | OcrError::UploadTooLarge(_) => p(
                StatusCode::PAYLOAD_TOO_LARGE,
                "document-too-large",
                "Document too large",
            ),
            OcrError::Budget(BudgetError::TooLarge { budget, .. }) => p(
                StatusCode::PAYLOAD_TOO_LARGE,
                "document-too-large",
                "Document too large",
            )
            .limit(budget),
            OcrError::Budget(BudgetError::Busy) => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "decode-busy",
                "Too many pages being decoded",
            )
            .retry_after(5),
            OcrError::Decode(DecodeError::Corrupt(_)) => p(
                StatusCode::UNPROCESSABLE_ENTITY,
                "corrupt-file",
                "Corrupt file",
            ),
            OcrError::Engine(EngineError::QueueFull) => p(
                StatusCode::TOO_MANY_REQUESTS,
                "queue-full",
                "Too many pages waiting",
            )
            .retry_after(2),
            OcrError::Engine(EngineError::UserQueueFull(limit)) => p(
                StatusCode::TOO_MANY_REQUESTS,
                "user-queue-full",
                "Too many of your pages waiting",
            )
            .retry_after(2)
            .limit(limit as u64),
            OcrError::Engine(EngineError::TimedOut(_)) => p(
                StatusCode::UNPROCESSABLE_ENTITY,
                "page-timeout",
                "A page took too long",
            ),
            OcrError::Engine(EngineError::Languages(_)) => p(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-option",
                "Invalid option",
            ),
            OcrError::Engine(_) => p(
                StatusCode::UNPROCESSABLE_ENTITY,
                "recognition-failed",
                "The page could not be recognized",
            ),
            OcrError::NoFile | OcrError::Upload(_) => {
                p(StatusCode::BAD_REQUEST, "bad-upload", "Bad upload")
            }
            OcrError::Option(_) => p(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-option",
                "Invalid option",
            ),
        }
    }
}

impl IntoResponse for OcrError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

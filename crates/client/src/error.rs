//! What a call can end with besides an answer.

use axum::http::StatusCode;
use wire::llm::ApiError;
use wire::ProblemDocument;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service refused with a problem document.
    #[error("{status}: {}", problem.message())]
    Refused {
        status: StatusCode,
        retry_after: Option<u64>,
        problem: ProblemDocument,
    },
    /// The OpenAI-compatible API refused, in its own error shape.
    #[error("{status}: {}", error.message)]
    Llm {
        status: StatusCode,
        retry_after: Option<u64>,
        error: ApiError,
    },
    /// No answer: connection refused, timed out, cut off.
    #[error("the service could not be reached: {0}")]
    Unreachable(String),
    /// An answer that is not what the API documents.
    #[error("unexpected answer ({status}): {detail}")]
    Unexpected { status: StatusCode, detail: String },
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused { status, .. }
            | Self::Llm { status, .. }
            | Self::Unexpected { status, .. } => Some(*status),
            Self::Unreachable(_) => None,
        }
    }

    /// The machine-readable kind: the problem kind (`username-taken`) or
    /// the OpenAI error code (`context_length_exceeded`).
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Refused { problem, .. } => Some(problem.kind()),
            Self::Llm { error, .. } => error.code.as_deref(),
            _ => None,
        }
    }

    /// Seconds to wait before trying again, when the service said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Refused { retry_after, .. } | Self::Llm { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The problem document of a refusal.
    pub fn problem(&self) -> Option<&ProblemDocument> {
        match self {
            Self::Refused { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

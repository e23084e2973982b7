//! LLM errors in OpenAI's shape: `{"error": {"message", "type", "param",
//! "code"}}`, with the HTTP status OpenAI uses for each kind.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kit::token::VerifyError;
use wire::llm::{ApiError, ErrorBody};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("the prompt has {prompt} tokens; this model's context holds {limit}")]
    ContextLength { prompt: usize, limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("the server is busy: {0} requests are waiting; retry later")]
    QueueFull(usize),
    #[error("you have {0} requests in progress, the most one user may have at once; retry when one has finished")]
    PerUserLimit(usize),
    #[error("the model is not loaded yet")]
    Loading,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("the model '{0}' does not exist")]
    ModelNotFound(String),
    #[error("the upstream server failed: {0}")]
    Upstream(String),
    #[error("{0}")]
    Engine(String),
}

impl LlmError {
    pub fn invalid(message: impl Into<String>, param: &'static str) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: Some(param),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::ContextLength { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::ModelNotFound(_) => StatusCode::NOT_FOUND,
            Self::QueueFull(_) | Self::PerUserLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Loading | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::InvalidRequest { .. } => ("invalid_request_error", None),
            Self::ContextLength { .. } => {
                ("invalid_request_error", Some("context_length_exceeded"))
            }
            Self::Unauthorized(_) => ("authentication_error", Some("invalid_api_key")),
            Self::ModelNotFound(_) => ("invalid_request_error", Some("model_not_found")),
            Self::QueueFull(_) => ("rate_limit_error", Some("queue_full")),
            Self::PerUserLimit(_) => ("rate_limit_error", Some("per_user_limit")),
            Self::Loading | Self::Unavailable(_) => ("server_error", Some("unavailable")),
            Self::Upstream(_) => ("server_error", Some("upstream_error")),
            Self::Engine(_) => ("server_error", None),
        }
    }

    /// The label used in `llm_requests_total{outcome}`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } | Self::ModelNotFound(_) => "invalid",
            Self::ContextLength { .. } => "context_length",
            Self::Unauthorized(_) => "unauthorized",
            Self::QueueFull(_) => "queue_full",
            Self::PerUserLimit(_) => "per_user_limit",
            Self::Loading | Self::Unavailable(_) => "unavailable",
            Self::Upstream(_) => "upstream_error",
            Self::Engine(_) => "error",
        }
    }

    /// The error object, as sent in a body or in a stream's `error` event.
    pub fn body(&self) -> ErrorBody {
        let (kind, code) = self.kind();
        let param = match self {
            Self::InvalidRequest { param, .. } => *param,
            Self::ContextLength { .. } => Some("messages"),
            Self::ModelNotFound(_) => Some("model"),
            _ => None,
        };
        let message = match self {
            // Internal details go to the log, not to the client.
            Self::Engine(detail) => {
                tracing::error!(error = %detail, "engine error");
                "the engine failed on this request".to_string()
            }
            other => other.to_string(),
        };
        let limit = match self {
            Self::PerUserLimit(limit) => Some(*limit as u64),
            _ => None,
        };
        ErrorBody {
            error: ApiError {
                message,
                kind: kind.into(),
                param: param.map(Into::into),
                code: code.map(Into::into),
                limit,
            },
        }
    }
}

impl IntoResponse for LlmError {
    fn into_response(self) -> Response {
        metrics::counter!("llm_requests_total", "outcome" => self.outcome()).increment(1);
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::QueueFull(_) | Self::PerUserLimit(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Loading | Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<VerifyError> for LlmError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Upstream(detail) => {
                tracing::warn!(error = %detail, "the token service failed");
                Self::Unavailable("the token service cannot be reached; retry later".into())
            }
            VerifyError::Missing => Self::Unauthorized(
                "missing API key: send 'Authorization: Bearer <token or API key>'".into(),
            ),
            other => Self::Unauthorized(other.to_string()),
        }
    }
}

//! RFC 9457 `application/problem+json` responses.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use wire::problem::FieldError;

/// A problem document. `kind` is the stable machine-readable error kind; the
/// `type` URI is derived from it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
    /// The limit a 413 or 429 was about (an RFC 9457 extension member).
    pub limit: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Self {
            status,
            kind: Cow::Borrowed(kind),
            title: Cow::Borrowed(title),
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            www_authenticate: false,
            limit: None,
        }
    }

    /// Another service's problem, passed on to this service's caller as
    /// it was given (e.g. OCR's verdict on an upload the library checks).
    pub fn relayed(status: StatusCode, doc: &wire::ProblemDocument) -> Self {
        let kind = doc.kind();
        let kind = if kind.is_empty() || kind.contains('/') {
            "upstream"
        } else {
            kind
        };
        Self {
            status,
            kind: Cow::Owned(kind.to_owned()),
            title: Cow::Owned(doc.title.clone()),
            detail: doc.detail.clone(),
            errors: doc.errors.clone(),
            retry_after: None,
            www_authenticate: false,
            limit: doc.limit,
        }
    }

    /// Names the limit the request ran into, as the `limit` member.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p =
            Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized").detail(detail);
        p.www_authenticate = true;
        p
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .detail(detail)
        .retry_after(retry_after)
    }

    /// A 500 whose detail never leaks internals; the cause goes to the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }

    pub fn type_uri(&self) -> String {
        format!("{}{}", wire::problem::TYPE_BASE, self.kind)
    }

    /// The document as sent.
    pub fn document(&self) -> wire::ProblemDocument {
        wire::ProblemDocument {
            type_uri: self.type_uri(),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            limit: self.limit,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let json = serde_json::to_vec(&self.document()).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// JSON body extractor whose rejections are problem documents (422 for a
/// body that does not match the schema, 400 for malformed JSON, 415 for a
/// wrong content type) instead of axum's plain-text defaults.
pub struct Json<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "Invalid request body",
            )
            .detail(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            )
            .detail("expected Content-Type: application/json")),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor whose rejection is a 400 problem document naming
/// the parameter, instead of axum's plain-text default.
pub struct Query<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match <axum::extract::Query<T> as axum::extract::FromRequestParts<S>>::from_request_parts(
            parts, state,
        )
        .await
        {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

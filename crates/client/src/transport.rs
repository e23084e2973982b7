//! How a request reaches a service: HTTP, or the services' router called
//! in this process. Everything above this module is the same for both.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

use crate::ClientError;

/// Who a call is made for, forwarded to the service: the end user's address
/// (`X-Forwarded-For` over HTTP; the connection's address in-process) and
/// the request id of the request that led to the call.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// The caller of a request this process serves, to forward: its client
/// address (through the configured trusted proxies) and request id.
impl<S> axum::extract::FromRequestParts<S> for Caller
where
    kit::client_ip::TrustedProxies: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = kit::Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let kit::client_ip::ClientIp(ip) =
            kit::client_ip::ClientIp::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get(kit::server::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Caller {
            ip: Some(ip),
            request_id,
        })
    }
}

/// A client of every Scriptorium API.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Http { http: reqwest::Client, base: String },
    InProcess(axum::Router),
}

/// The largest whole answer read into memory.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// A request body.
pub enum Payload {
    Empty,
    Json(Vec<u8>),
    Raw { content_type: String, bytes: Bytes },
}

impl Payload {
    pub fn json<T: Serialize>(value: &T) -> Self {
        Self::Json(serde_json::to_vec(value).expect("wire types serialize"))
    }
}

impl Client {
    /// Over HTTP at `base` (`http://gateway:8080`, no trailing `/` needed).
    pub fn http(base: &str, http: reqwest::Client) -> Self {
        Self {
            transport: Transport::Http {
                http,
                base: base.trim_end_matches('/').to_owned(),
            },
        }
    }

    /// In this process, through the services' router.
    pub fn in_process(router: axum::Router) -> Self {
        Self {
            transport: Transport::InProcess(router),
        }
    }

    pub fn auth(&self) -> crate::auth::Auth<'_> {
        crate::auth::Auth(self)
    }

    pub fn documents(&self) -> crate::documents::Documents<'_> {
        crate::documents::Documents(self)
    }

    pub fn llm(&self) -> crate::llm::Llm<'_> {
        crate::llm::Llm(self)
    }

    pub fn ocr(&self) -> crate::ocr::Ocr<'_> {
        crate::ocr::Ocr(self)
    }

    /// Any call, answered as it comes (for the routes without a typed
    /// method yet, and for downloads).
    #[tracing::instrument(name = "api_call", skip_all, fields(%method, path))]
    pub async fn send(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        payload: Payload,
    ) -> Result<Response<Body>, ClientError> {
        let mut req = Request::builder().method(method);
        let headers = req.headers_mut().expect("a fresh builder has headers");
        headers.extend(kit::telemetry::trace_headers());
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ClientError::Unreachable("the token is not a header value".into()))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Some(id) = caller
            .request_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            headers.insert(HeaderName::from_static(kit::server::REQUEST_ID), id);
        }
        let body = match payload {
            Payload::Empty => Bytes::new(),
            Payload::Json(bytes) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                bytes.into()
            }
            Payload::Raw {
                content_type,
                bytes,
            } => {
                if let Ok(v) = HeaderValue::from_str(&content_type) {
                    headers.insert(header::CONTENT_TYPE, v);
                }
                bytes
            }
        };
        match &self.transport {
            Transport::Http { http, base } => {
                if let Some(ip) = caller.ip {
                    headers.insert(
                        HeaderName::from_static("x-forwarded-for"),
                        HeaderValue::from_str(&ip.to_string()).expect("an address is a header"),
                    );
                }
                let req = req
                    .uri(format!("{base}{path}"))
                    .body(body)
                    .map_err(|e| ClientError::Unreachable(e.to_string()))?;
                let req = reqwest::Request::try_from(req)
                    .map_err(|e| ClientError::Unreachable(e.to_string()))?;
                let res = http
                    .execute(req)
                    .await
                    .map_err(|e| ClientError::Unreachable(e.to_string()))?;
                let mut out = Response::builder().status(res.status());
                if let Some(h) = out.headers_mut() {
                    *h = res.headers().clone();
                }
                out.body(Body::from_stream(res.bytes_stream()))
                    .map_err(|e| ClientError::Unreachable(e.to_string()))
            }
            Transport::InProcess(router) => {
                // The caller's address is the connection's: nothing to trust.
                let ip = caller.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
                let mut req = req
                    .uri(path)
                    .body(Body::from(body))
                    .map_err(|e| ClientError::Unreachable(e.to_string()))?;
                req.extensions_mut()
                    .insert(ConnectInfo(SocketAddr::new(ip, 0)));
                Ok(router
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e| match e {}))
            }
        }
    }
}

pub(crate) async fn body_bytes(res: Response<Body>) -> Result<(StatusCode, Bytes), ClientError> {
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|e| ClientError::Unreachable(format!("the answer broke off: {e}")))?;
    Ok((status, bytes))
}

/// The answer's JSON, or the refusal it is.
pub async fn read_json<T: DeserializeOwned>(res: Response<Body>) -> Result<T, ClientError> {
    if !res.status().is_success() {
        return Err(refusal(res).await);
    }
    let (status, bytes) = body_bytes(res).await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
        status,
        detail: e.to_string(),
    })
}

/// An answer without a body (204), or the refusal it is.
pub async fn no_content(res: Response<Body>) -> Result<(), ClientError> {
    if res.status().is_success() {
        Ok(())
    } else {
        Err(refusal(res).await)
    }
}

/// A refusal, read as the problem document or OpenAI error it holds.
pub async fn refusal(res: Response<Body>) -> ClientError {
    let retry_after = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let (status, bytes) = match body_bytes(res).await {
        Ok(answer) => answer,
        Err(e) => return e,
    };
    if let Ok(problem) = serde_json::from_slice::<wire::ProblemDocument>(&bytes) {
        return ClientError::Refused {
            status,
            retry_after,
            problem,
        };
    }
    if let Ok(body) = serde_json::from_slice::<wire::llm::ErrorBody>(&bytes) {
        return ClientError::Llm {
            status,
            retry_after,
            error: body.error,
        };
    }
    let text = String::from_utf8_lossy(&bytes);
    ClientError::Unexpected {
        status,
        detail: text.chars().take(200).collect(),
    }
}

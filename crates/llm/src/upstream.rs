//! The upstream backend: the same API forwarded to an OpenAI-compatible
//! server (vLLM, TGI, another Scriptorium), with this service's auth,
//! request checks, bounded concurrency and metrics in front.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::LlmConfig;
use crate::error::LlmError;

pub struct Upstream {
    client: reqwest::Client,
    /// Base URL ending in `/v1`.
    base: String,
    api_key: Option<SecretString>,
    model: Option<String>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_depth: usize,
}

/// Waiting requests, decremented however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Upstream {
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        let base = config
            .upstream
            .base_url
            .clone()
            .ok_or_else(|| LlmError::Unavailable("llm.upstream.base_url is not set".into()))?
            .trim_end_matches('/')
            .to_string();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(config.upstream.timeout_secs))
            .build()
            .map_err(|e| LlmError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            base,
            api_key: config.upstream.api_key.clone(),
            model: config.upstream.model.clone(),
            permits: Arc::new(Semaphore::new(config.slots.max(1))),
            waiting: AtomicUsize::new(0),
            queue_depth: config.queue_depth,
        })
    }

    /// A permit to send upstream: at most `slots` at once, `queue_depth`
    /// waiting, 429 beyond.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, LlmError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _guard = Waiting(&self.waiting);
        if waiting >= self.queue_depth {
            return Err(LlmError::QueueFull(waiting));
        }
        metrics::gauge!("llm_queue_depth", "model" => "upstream").set((waiting + 1) as f64);
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| LlmError::Unavailable("shutting down".into()))?;
        Ok(permit)
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let rb = self
            .client
            .request(method, url)
            .headers(kit::telemetry::trace_headers());
        match &self.api_key {
            Some(k) => rb.bearer_auth(k.expose_secret()),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str) -> Result<Response, LlmError> {
        let resp = self
            .request(reqwest::Method::GET, format!("{}/{path}", self.base))
            .send()
            .await
            .map_err(|e| LlmError::Upstream(e.to_string()))?;
        whole(resp).await
    }

    /// `/tokenize` and `/detokenize` live beside `/v1` on llama.cpp-style
    /// servers and under it on this one; `/v1` is tried.
    pub async fn post_root(&self, path: &str, body: &Bytes) -> Result<Response, LlmError> {
        let resp = self
            .request(reqwest::Method::POST, format!("{}/{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| LlmError::Upstream(e.to_string()))?;
        whole(resp).await
    }

    /// Forwards a completion request (already checked here), streaming the
    /// answer back as it comes.
    pub async fn post(&self, path: &str, body: &Bytes, stream: bool) -> Result<Response, LlmError> {
        let permit = self.permit().await?;
        let body = self.rewrite_model(body)?;
        let started = Instant::now();
        let resp = self
            .request(reqwest::Method::POST, format!("{}/{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| LlmError::Upstream(e.to_string()))?;
        if !resp.status().is_success() || !stream {
            let out = whole(resp).await;
            metrics::counter!("llm_requests_total", "outcome" => if out.as_ref().is_ok_and(|r| r.status().is_success()) { "upstream_ok" } else { "upstream_error" }).increment(1);
            drop(permit);
            return out;
        }
        metrics::counter!("llm_requests_total", "outcome" => "upstream_ok").increment(1);
        let mut first = true;
        let stream = resp.bytes_stream().map(move |chunk| {
            // The permit lives as long as the stream.
            let _ = &permit;
            if first {
                first = false;
                metrics::histogram!("llm_time_to_first_token_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            chunk
        });
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(response)
    }

    fn rewrite_model(&self, body: &Bytes) -> Result<Bytes, LlmError> {
        let Some(model) = &self.model else {
            return Ok(body.clone());
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| LlmError::InvalidRequest {
                message: format!("the request body is not valid: {e}"),
                param: None,
            })?;
        value["model"] = serde_json::Value::String(model.clone());
        Ok(Bytes::from(value.to_string()))
    }
}

/// An upstream answer passed on whole: client errors as they are (they are
/// the caller's), upstream auth and server failures as 502.
async fn whole(resp: reqwest::Response) -> Result<Response, LlmError> {
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| LlmError::Upstream(e.to_string()))?;
    let passes = status.is_success()
        || matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::NOT_FOUND
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
        );
    if !passes {
        return Err(LlmError::Upstream(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )));
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}

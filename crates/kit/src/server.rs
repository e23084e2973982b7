//! The HTTP server: the middleware stack every service shares and graceful
//! shutdown (stop accepting, drain in-flight requests up to a grace period).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::config::ServerConfig;

pub const REQUEST_ID: &str = "x-request-id";

/// Wrap `router` in the shared stack: request id (kept when the gateway set
/// one), a trace span per request, metrics, panic catching, a timeout, a body
/// limit and compression. CORS is closed: no layer grants cross-origin reads.
pub fn with_middleware(router: Router, cfg: &ServerConfig) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    // 5xx answers are logged at WARN: a 503 from /readyz while a model
    // loads is expected, and real internal errors are logged at ERROR where
    // they happen (`Problem::internal`).
    let trace = TraceLayer::new_for_http()
        .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
        .make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %id,
            );
            crate::telemetry::continue_trace(&span, req.headers());
            span
        });
    router
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(DefaultBodyLimit::max(cfg.body_limit_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(|_| {
                    crate::Problem::internal(&"handler panicked").into_response_parts()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(cfg.request_timeout_secs),
                ))
                .layer(CompressionLayer::new()),
        )
}

impl crate::Problem {
    fn into_response_parts(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// Serve until `shutdown` resolves, then drain for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (fired_tx, mut fired_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutdown requested: draining in-flight requests");
        let _ = fired_tx.send(true);
    });
    let deadline = async move {
        let _ = fired_rx.wait_for(|fired| *fired).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result,
        _ = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over: closing remaining connections");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

//! Prometheus metrics: the process-wide recorder and the per-request layer.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets for request latency, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The process-wide Prometheus handle (installed on first use).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. in tests); the
            // handle still renders what this recorder saw.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `GET /metrics`.
pub async fn render() -> Response {
    let handle = handle();
    handle.run_upkeep();
    (
        [("content-type", "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// A request method as a label: the standard methods by name, any other
/// `other`. Methods are client input; one label value each would let
/// clients grow `/metrics` without bound.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// Middleware counting requests and timing them by method, route template
/// (`unmatched` for any path no route took: never the raw path) and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::method_label;
    use crate::config::ServerConfig;

    #[test]
    fn standard_methods_are_labelled_by_name() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }

    #[test]
    fn invented_methods_are_labelled_other() {
        let invented = Method::from_bytes(b"M0123456789").unwrap();
        assert_eq!(method_label(&invented), "other");
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(method_label(&lower), "other");
    }

    async fn send(app: &Router, method: Method, path: &str) -> StatusCode {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn invented_methods_and_paths_do_not_grow_the_metrics() {
        let handle = super::handle();
        let router = Router::new().route("/healthz", get(|| async { "ok" }));
        let app = crate::server::with_middleware(router, &ServerConfig::default());
        send(&app, Method::GET, "/healthz").await;
        let before = handle.render().len();
        for i in 0..50 {
            let method = Method::from_bytes(format!("M{i}{}", "7".repeat(200)).as_bytes()).unwrap();
            send(&app, method, "/healthz").await;
            send(&app, Method::GET, &format!("/no-such-page-{i}")).await;
        }
        let after = handle.render();
        assert!(!after.contains("7777777"), "an invented method is a label");
        assert!(!after.contains("no-such-page"), "a raw path is a label");
        assert!(after.contains("method=\"other\""), "{after}");
        assert!(
            after.len() - before < 8_000,
            "/metrics grew by {} bytes",
            after.len() - before
        );
    }
}

//! Liveness and readiness.
//!
//! `/healthz` answers while the process runs; `/readyz` runs every registered
//! check and answers 503 until all of them pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;

/// How long `/readyz` waits for one check.
pub const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Named readiness checks of every mounted service.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    pub fn add<F, Fut>(&mut self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((
            name,
            Arc::new(move || Box::pin(check()) as BoxFuture<'static, _>),
        ));
    }

    /// Run all checks; `Ok` when every one passed, with each check's outcome.
    /// A check that does not answer within [`CHECK_TIMEOUT`] (a database
    /// behind a cut network) has failed.
    pub async fn run(&self) -> (bool, BTreeMap<&'static str, String>) {
        let results = futures::future::join_all(self.checks.iter().map(|(_, c)| async {
            tokio::time::timeout(CHECK_TIMEOUT, c())
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
        }))
        .await;
        let mut ok = true;
        let mut report = BTreeMap::new();
        for ((name, _), result) in self.checks.iter().zip(results) {
            let line = match result {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    ok = false;
                    e
                }
            };
            report.insert(*name, line);
        }
        (ok, report)
    }
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ok, checks) = readiness.run().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not ready" },
        "checks": checks,
    });
    (status, Json(body))
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(readiness: Readiness) -> Router {
    // Install the recorder now, so that nothing counted before the first
    // scrape is lost.
    crate::metrics::handle();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
        .route("/metrics", get(crate::metrics::render))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_that_never_answers_fails_after_the_timeout() {
        let mut readiness = Readiness::default();
        readiness.add("fast", || async { Ok(()) });
        readiness.add("hung", std::future::pending::<Result<(), String>>);
        let started = std::time::Instant::now();
        let (ok, report) = readiness.run().await;
        assert!(!ok);
        assert_eq!(report["fast"], "ok");
        assert!(report["hung"].starts_with("no answer"), "{report:?}");
        assert!(started.elapsed() < CHECK_TIMEOUT * 2);
    }
}

//! Shared plumbing for every Scriptorium service.
//!
//! Each module holds one concern: configuration loading, telemetry, RFC 9457
//! problem responses, a service's own database, health checks, Prometheus metrics, the HTTP server and
//! its middleware stack, the process-wide core budget, the client address
//! behind trusted proxies, and bearer-token verification.

pub mod client_ip;
pub mod config;
pub mod cores;
pub mod database;
pub mod fair;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod server;
pub mod telemetry;
pub mod token;

pub use problem::Problem;

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

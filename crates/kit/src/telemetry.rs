//! Logging and tracing set-up.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Install the global subscriber once. `RUST_LOG` overrides the default filter.
/// Later calls (tests that start several apps) are no-ops.
pub fn init(format: LogFormat) {
    init_with(format, "info,sqlx=warn,tower_http=info")
}

/// Like [`init`], with another default filter (tests use `warn`).
pub fn init_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

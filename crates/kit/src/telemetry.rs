//! Logging and tracing set-up: compact logs on a terminal, JSON otherwise
//! (or as configured), on stderr, and
//! OpenTelemetry traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. W3C `traceparent` is
//! read from every request and written on the calls the services make.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Install the global subscriber once. `RUST_LOG` overrides the default
/// filter, which leaves out llama.cpp's own information lines (the model's
/// tensors and buffers at every load; `RUST_LOG=llama-cpp-2=info` shows
/// them). Later calls (tests that start several apps) are no-ops.
pub fn init(format: LogFormat) {
    init_with(format, "info,sqlx=warn,tower_http=info,llama-cpp-2=warn")
}

/// Like [`init`], with another default filter (tests use `warn`).
pub fn init_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let format = match format {
        LogFormat::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            LogFormat::Pretty
        }
        LogFormat::Auto => LogFormat::Json,
        chosen => chosen,
    };
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty | LogFormat::Auto => {
            fmt::layer().with_writer(std::io::stderr).compact().boxed()
        }
    };
    let traces = otlp_tracer().map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(filter)
        .try_init();
}

/// The OTLP tracer when an endpoint is configured (the exporter reads the
/// standard `OTEL_EXPORTER_OTLP_*` variables; `OTEL_SERVICE_NAME` names the
/// service, `scriptorium` by default).
fn otlp_tracer() -> Option<opentelemetry_sdk::trace::Tracer> {
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
    ]));
    if !configured || PROVIDER.get().is_some() {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("OpenTelemetry export disabled: {e}");
            return None;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "scriptorium".into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(name)
                .build(),
        )
        .build();
    let tracer = provider.tracer("scriptorium");
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);
    Some(tracer)
}

/// Send the spans still buffered (at shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.force_flush() {
            tracing::warn!(error = %e, "flushing traces failed");
        }
    }
}

/// Make `span` a child of the caller's trace (its `traceparent` header).
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    let _ = span.set_parent(parent);
}

/// `traceparent` (and `tracestate`) for an outgoing call made in the
/// current span.
pub fn trace_headers() -> reqwest::header::HeaderMap {
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(&mut headers))
    });
    headers
}

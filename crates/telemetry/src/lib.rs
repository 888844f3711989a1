//! Telemetry for every Hypasis process.
//!
//! - [`init`]: structured logs (text or JSON) filtered by `RUST_LOG`, plus OTLP/gRPC span export
//!   when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (W3C trace-context propagation installed).
//! - [`Metrics`]: the process's Prometheus registry with the gRPC request metrics, served on
//!   `/metrics` by [`serve_metrics`].
//! - [`GrpcLayer`]: a tower layer that gives every gRPC request a server span (joined to the
//!   caller's trace through the `traceparent` header) and records its latency and status code.

mod layer;

pub use layer::{GrpcLayer, GrpcService};

use opentelemetry::trace::TracerProvider as _;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::net::SocketAddr;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Telemetry set-up failures (local configuration faults).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Otlp(String),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A metric could not be registered (duplicate name).
    #[error("metric registration: {0}")]
    Prometheus(#[from] prometheus::Error),
}

impl hypasis_primitives::Fault for TelemetryError {
    /// Exporter, bind and registration failures happen at start-up and need an operator:
    /// fatal.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Otlp(_) | Self::Bind { .. } | Self::Prometheus(_) => {
                hypasis_primitives::FaultClass::Fatal
            }
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the OTLP pipeline alive; flushes spans on drop.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber for `service` (e.g. `hypasis-store`).
///
/// OTLP export is enabled when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific variable)
/// is set; the exporter reads the standard `OTEL_*` variables.
pub fn init(service: &str, format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    init_with_default(service, format, None)
}

/// [`init`] with another default filter than `info` when `RUST_LOG` is not set (e.g. `warn`
/// under progress bars).
pub fn init_with_default(
    service: &str,
    format: LogFormat,
    default_filter: Option<&str>,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter.unwrap_or("info")));
    let otlp_enabled = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    let mut guard = TelemetryGuard::default();
    let otel_layer = if otlp_enabled {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service.to_string())
            .build();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer(service.to_string());
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        guard.provider = Some(provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    } else {
        None
    };
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(true))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init(),
    };
    if result.is_err() {
        // A subscriber is already installed (tests, or a second service in one process).
        tracing::debug!("global tracing subscriber already installed");
    }
    if otlp_enabled {
        tracing::info!(service, "exporting traces over OTLP");
    }
    Ok(guard)
}

/// The Prometheus registry of a process and the gRPC metrics every server records.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Registry served on `/metrics`; services register their own metrics here.
    pub registry: Registry,
    /// `hypasis_grpc_requests_total{service,method,code}`.
    pub grpc_requests: IntCounterVec,
    /// `hypasis_grpc_request_duration_seconds{service,method}`.
    pub grpc_latency: HistogramVec,
    /// `hypasis_build_info{version,commit,chain}`: 1 for what this process runs.
    pub build_info: IntGaugeVec,
}

/// The crate version and the commit the binaries were built from.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit the binaries were built from (`unknown` outside a git checkout).
pub const BUILD_COMMIT: &str = env!("HYPASIS_GIT_COMMIT");

impl Metrics {
    /// A registry with the gRPC metrics registered and `service` as a constant label.
    pub fn new(service: &str) -> Result<Self, TelemetryError> {
        let registry = Registry::new_custom(
            None,
            Some(
                [("process".to_string(), service.to_string())]
                    .into_iter()
                    .collect(),
            ),
        )?;
        let grpc_requests = IntCounterVec::new(
            Opts::new(
                "hypasis_grpc_requests_total",
                "gRPC requests handled, by method and status code",
            ),
            &["service", "method", "code"],
        )?;
        let grpc_latency = HistogramVec::new(
            HistogramOpts::new(
                "hypasis_grpc_request_duration_seconds",
                "gRPC request latency (until the response headers)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["service", "method"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "hypasis_build_info",
                "The version, commit and chain this process runs (always 1)",
            ),
            &["version", "commit", "chain"],
        )?;
        build_info
            .with_label_values(&[BUILD_VERSION, BUILD_COMMIT, ""])
            .set(1);
        registry.register(Box::new(grpc_requests.clone()))?;
        registry.register(Box::new(grpc_latency.clone()))?;
        registry.register(Box::new(build_info.clone()))?;
        Ok(Self {
            registry,
            grpc_requests,
            grpc_latency,
            build_info,
        })
    }

    /// Names the chain in `hypasis_build_info` (once it is known from the configuration).
    pub fn set_chain(&self, chain: &str) {
        let _ = self
            .build_info
            .remove_label_values(&[BUILD_VERSION, BUILD_COMMIT, ""]);
        self.build_info
            .with_label_values(&[BUILD_VERSION, BUILD_COMMIT, chain])
            .set(1);
    }

    /// Renders the registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// Answers whether the process is ready for traffic (`GET /readyz`).
pub type ReadyProbe = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync,
>;

/// Binds `addr` and serves `GET /metrics` (Prometheus text format), `GET /healthz` (liveness:
/// always `200 ok`) and `GET /readyz` (always ready) until `shutdown` resolves. Returns the bound
/// address (useful with port 0) and the server task.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), TelemetryError> {
    serve_metrics_with(addr, metrics, None, shutdown).await
}

/// [`serve_metrics`] with a readiness probe: `GET /readyz` answers `200 ready` while `ready`
/// says so and `503 not ready` otherwise (e.g. a standby scheduler); `/healthz` stays liveness.
pub async fn serve_metrics_with(
    addr: SocketAddr,
    metrics: Metrics,
    ready: Option<ReadyProbe>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), TelemetryError> {
    use axum::{Router, routing::get};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    let is_ready = match ready {
                        Some(probe) => probe().await,
                        None => true,
                    };
                    if is_ready {
                        (http::StatusCode::OK, "ready")
                    } else {
                        (http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    tracing::info!(%bound, "serving Prometheus metrics on /metrics");
    Ok((bound, task))
}

#[cfg(test)]
mod readiness_tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn readyz_follows_the_probe_and_healthz_stays_ok() {
        let flag = Arc::new(AtomicBool::new(false));
        let probe: ReadyProbe = {
            let flag = flag.clone();
            Arc::new(move || {
                let v = flag.load(Ordering::SeqCst);
                Box::pin(async move { v })
            })
        };
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let (addr, task) = serve_metrics_with(
            "127.0.0.1:0".parse().unwrap(),
            Metrics::new("readyz-test").unwrap(),
            Some(probe),
            async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            },
        )
        .await
        .unwrap();
        assert!(get(addr, "/readyz").await.contains(" 503 "));
        assert!(get(addr, "/healthz").await.contains(" 200 "));
        flag.store(true, Ordering::SeqCst);
        assert!(get(addr, "/readyz").await.contains(" 200 "));
        let _ = stop_tx.send(true);
        let _ = task.await;
    }
}

#[cfg(test)]
mod build_info_tests {
    use super::*;

    #[test]
    fn build_info_names_the_version_the_commit_and_then_the_chain() {
        let m = Metrics::new("hypasis-test").unwrap();
        let text = m.render();
        let line = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("hypasis_build_info{"))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("no build_info in:\n{text}"))
        };
        let before = line(&text);
        assert!(
            before.contains(&format!("version=\"{BUILD_VERSION}\"")),
            "{before}"
        );
        assert!(before.contains("commit=\""), "{before}");
        assert!(before.ends_with(" 1"), "{before}");
        assert!(!BUILD_COMMIT.is_empty());
        m.set_chain("devnet");
        let text = m.render();
        let after = line(&text);
        assert!(after.contains("chain=\"devnet\""), "{after}");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("hypasis_build_info{"))
                .count(),
            1,
            "{text}"
        );
    }
}

//! gRPC plumbing shared by every Hypasis service.
//!
//! [`ServiceRuntime::serve`] runs a tonic server with:
//! - mTLS (client certificate required, signed by the cluster CA) unless `--insecure`, which logs a
//!   warning;
//! - gRPC reflection (v1 and v1alpha, so `grpcurl`/`buf curl` can `list` and `describe`);
//! - gRPC health (`grpc.health.v1.Health`), reporting the service `SERVING` or `NOT_SERVING`;
//! - the request span/metrics layer and a Prometheus `/metrics` endpoint;
//! - graceful shutdown on SIGTERM/SIGINT: stop accepting, finish in-flight requests, return.
//!
//! [`client_channel`], [`lazy_channel`] and [`connect_retrying`] dial another service with the
//! same TLS settings.

use hypasis_config::{CommonConfig, TlsMode};
use hypasis_telemetry::{GrpcLayer, Metrics};
use hypasis_tls::TlsFiles;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use tonic_health;

/// How long a client has to complete the TLS handshake after connecting.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent HTTP/2 streams per connection.
pub const MAX_STREAMS: u32 = 128;
/// Requests served at once per connection (further ones wait).
pub const MAX_IN_FLIGHT: usize = 64;
/// Largest request header list.
pub const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// Server start-up failures (local faults: fix configuration or free the port).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS files missing or invalid.
    #[error("TLS: {0}")]
    Tls(#[from] hypasis_tls::TlsError),
    /// Telemetry/metrics set-up failed.
    #[error(transparent)]
    Telemetry(#[from] hypasis_telemetry::TelemetryError),
    /// The gRPC address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(String),
    /// A client endpoint URL is invalid.
    #[error("invalid endpoint `{url}`: {message}")]
    Endpoint {
        /// URL.
        url: String,
        /// Reason.
        message: String,
    },
}

impl hypasis_primitives::Fault for ServerError {
    fn fault(&self) -> hypasis_primitives::FaultClass {
        use hypasis_primitives::FaultClass;
        match self {
            Self::Tls(e) => e.fault(),
            Self::Telemetry(e) => e.fault(),
            // A dial or a connection that failed may work later.
            Self::Transport(_) => FaultClass::Local,
            Self::Bind { .. } | Self::Reflection(_) | Self::Endpoint { .. } => FaultClass::Fatal,
        }
    }
}

/// What a running service needs from the plumbing.
#[derive(Debug, Clone)]
pub struct ServiceRuntime {
    /// Short service name: `store`, `scheduler`, `fetcher`, `validator`, `checkpoint`. Also the
    /// name of its certificate in the TLS directory.
    pub name: &'static str,
    /// Fully qualified gRPC service name reported by health (e.g. `hypasis.v1.Store`).
    pub grpc_service: &'static str,
    /// Further gRPC services served by the same server (standalone mode).
    pub extra_services: Vec<&'static str>,
    /// Merged common settings.
    pub config: CommonConfig,
    /// The process's metrics registry.
    pub metrics: Metrics,
    /// Health reporter (services flip their status with it).
    pub health: HealthReporter,
    health_service:
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
    /// Largest request/response message accepted, in bytes.
    pub max_message_bytes: usize,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install SIGTERM handler; only Ctrl-C stops the service");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down gracefully"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down gracefully"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl ServiceRuntime {
    /// Builds the runtime for service `name` (metrics registry, health reporter).
    pub fn new(
        name: &'static str,
        grpc_service: &'static str,
        config: CommonConfig,
    ) -> Result<Self, ServerError> {
        let metrics = Metrics::new(&format!("hypasis-{name}"))?;
        let health = HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(health.clone()),
        );
        Ok(Self {
            name,
            grpc_service,
            extra_services: Vec::new(),
            config,
            metrics,
            health,
            health_service,
            max_message_bytes: 64 * 1024 * 1024,
        })
    }

    /// Also reports health and reflection for `services` (several services on one server).
    pub fn also_serving(mut self, services: &[&'static str]) -> Self {
        self.extra_services.extend_from_slice(services);
        self
    }

    /// Sets the health status of this runtime's gRPC service and of the server as a whole (`""`).
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health
            .set_service_status(self.grpc_service, status)
            .await;
        for s in &self.extra_services {
            self.health.set_service_status(*s, status).await;
        }
        self.health.set_service_status("", status).await;
    }

    /// The `/readyz` probe: ready exactly while the gRPC health status of this runtime's service
    /// is `SERVING` (so a standby scheduler, reported `NOT_SERVING`, is not ready).
    pub fn ready_probe(&self) -> hypasis_telemetry::ReadyProbe {
        use tonic_health::pb::health_server::Health;
        let health = std::sync::Arc::new(
            tonic_health::server::HealthService::from_health_reporter(self.health.clone()),
        );
        let service = self.grpc_service.to_string();
        std::sync::Arc::new(move || {
            let health = health.clone();
            let service = service.clone();
            Box::pin(async move {
                let req = tonic::Request::new(tonic_health::pb::HealthCheckRequest { service });
                matches!(
                    health.check(req).await.map(|r| r.into_inner().status),
                    Ok(s) if s == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                )
            })
        })
    }

    /// Serves `routes` plus health and reflection until `shutdown` resolves, then drains in-flight
    /// requests and returns. Binds the metrics endpoint first.
    pub async fn serve(
        self,
        routes: Routes,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut metrics_stop = stop_rx.clone();
        let (metrics_addr, metrics_task) = hypasis_telemetry::serve_metrics_with(
            self.config.metrics_listen,
            self.metrics.clone(),
            Some(self.ready_probe()),
            async move {
                let _ = metrics_stop.wait_for(|s| *s).await;
            },
        )
        .await?;

        let mut reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hypasis_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(self.grpc_service)
            .with_service_name("grpc.health.v1.Health");
        for s in &self.extra_services {
            reflection_v1 = reflection_v1.with_service_name(*s);
        }
        let reflection_v1 = reflection_v1
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hypasis_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(self.grpc_service)
            .with_service_name("grpc.health.v1.Health");
        for s in &self.extra_services {
            reflection_v1alpha = reflection_v1alpha.with_service_name(*s);
        }
        let reflection_v1alpha = reflection_v1alpha
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;

        // Limits against clients that hold connections or streams open: a TLS handshake must
        // finish within TLS_HANDSHAKE_TIMEOUT (no pre-authentication slow-loris), a connection
        // carries at most MAX_STREAMS streams and MAX_IN_FLIGHT requests at once, and header
        // lists are small.
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .timeout(Duration::from_secs(300))
            .max_concurrent_streams(MAX_STREAMS)
            .concurrency_limit_per_connection(MAX_IN_FLIGHT)
            .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
            .http2_max_pending_accept_reset_streams(Some(64));
        match &self.config.tls {
            TlsMode::Mutual(dir) => {
                let tls = TlsFiles::in_dir(dir, self.name)
                    .server_config()?
                    .timeout(TLS_HANDSHAKE_TIMEOUT);
                builder = builder.tls_config(tls)?;
            }
            TlsMode::Insecure => {
                tracing::warn!(
                    service = self.name,
                    "serving PLAINTEXT gRPC (--insecure): no encryption, no client authentication; use --tls-dir outside local tests"
                );
            }
        }
        let listener = tokio::net::TcpListener::bind(self.config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: self.config.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: self.config.listen,
            source,
        })?;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let tls = matches!(self.config.tls, TlsMode::Mutual(_));
        tracing::info!(service = self.name, grpc = %bound, metrics = %metrics_addr, mtls = tls, "service listening");

        let routes = routes
            .add_service(self.health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let result = builder
            .layer(GrpcLayer::new(self.name, self.metrics.clone()))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        let _ = stop_tx.send(true);
        let _ = metrics_task.await;
        tracing::info!(service = self.name, "stopped");
        result.map_err(ServerError::from)
    }
}

/// The endpoint for `url` (e.g. `https://127.0.0.1:7001`, or `http://...` with
/// [`TlsMode::Insecure`]) as the client `client_name` (its certificate in the TLS directory),
/// expecting the server certificate to name `server_name`; not yet dialed.
pub fn client_endpoint(
    url: &str,
    tls: &TlsMode,
    client_name: &str,
    server_name: &str,
) -> Result<Endpoint, ServerError> {
    let bad = |message: String| ServerError::Endpoint {
        url: url.into(),
        message,
    };
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    match tls {
        TlsMode::Mutual(dir) => {
            if !url.starts_with("https://") {
                return Err(bad("mTLS needs an https:// URL".into()));
            }
            endpoint = endpoint
                .tls_config(TlsFiles::in_dir(dir, client_name).client_config(server_name)?)?;
        }
        TlsMode::Insecure => {
            if !url.starts_with("http://") {
                return Err(bad("--insecure needs an http:// URL".into()));
            }
        }
    }
    Ok(endpoint)
}

/// Dials `url` now (see [`client_endpoint`] for the arguments).
pub async fn client_channel(
    url: &str,
    tls: &TlsMode,
    client_name: &str,
    server_name: &str,
) -> Result<Channel, ServerError> {
    Ok(client_endpoint(url, tls, client_name, server_name)?
        .connect()
        .await?)
}

/// A channel to `url` that connects on first use and reconnects after failures, for a service
/// that may start after us (see [`client_endpoint`] for the arguments).
pub fn lazy_channel(
    url: &str,
    tls: &TlsMode,
    client_name: &str,
    server_name: &str,
) -> Result<Channel, ServerError> {
    Ok(client_endpoint(url, tls, client_name, server_name)?.connect_lazy())
}

/// Dials `url` until it answers (the service may start after us), once a second, logging each
/// failure; a bad URL or TLS setting fails at once. `None` when `shutdown` flips to `true` first.
pub async fn connect_retrying(
    url: &str,
    tls: &TlsMode,
    client_name: &str,
    server_name: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Option<Channel>, ServerError> {
    let endpoint = client_endpoint(url, tls, client_name, server_name)?;
    loop {
        match endpoint.connect().await {
            Ok(c) => return Ok(Some(c)),
            Err(e) => {
                tracing::warn!(url, error = %e, "{server_name} not reachable yet; retrying");
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return Ok(None),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Maps the config's log format to the telemetry one.
pub fn log_format(f: hypasis_config::LogFormat) -> hypasis_telemetry::LogFormat {
    match f {
        hypasis_config::LogFormat::Text => hypasis_telemetry::LogFormat::Text,
        hypasis_config::LogFormat::Json => hypasis_telemetry::LogFormat::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> ServiceRuntime {
        let config = CommonConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: "127.0.0.1:0".parse().unwrap(),
            tls: TlsMode::Insecure,
            log_format: hypasis_config::LogFormat::Text,
        };
        ServiceRuntime::new("scheduler", "hypasis.v1.Scheduler", config).unwrap()
    }

    /// `/readyz` mirrors the gRPC health status: a standby (NOT_SERVING) is not ready.
    #[tokio::test]
    async fn readiness_mirrors_grpc_health() {
        let rt = runtime();
        let probe = rt.ready_probe();
        assert!(!probe().await, "nothing reported yet: not ready");
        rt.set_serving(false).await;
        assert!(!probe().await);
        rt.set_serving(true).await;
        assert!(probe().await);
        // A standby scheduler flips its status on the reporter directly.
        rt.health
            .set_service_status("hypasis.v1.Scheduler", ServingStatus::NotServing)
            .await;
        assert!(!probe().await);
    }
}

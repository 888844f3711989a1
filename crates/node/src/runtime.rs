//! The process around a service: the tokio runtime, logs and traces.

use crate::NodeError;
use hypasis_config::LogFormat;
use std::future::Future;

/// Runs `service` (named `name` in logs and traces) to completion on a multi-threaded runtime
/// with telemetry set up; the runtime, and with it every task and handle, is dropped before this
/// returns.
pub fn run_service<F>(name: &'static str, format: LogFormat, service: F) -> Result<(), NodeError>
where
    F: Future<Output = Result<(), NodeError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(NodeError::Runtime)?;
    let result = runtime.block_on(async move {
        let _telemetry = hypasis_telemetry::init(name, hypasis_server::log_format(format))?;
        service.await
    });
    drop(runtime);
    result
}

/// The URL this service's clients dial, from its listen address, when `--advertise` is not
/// given.
pub fn default_advertise(config: &hypasis_config::CommonConfig) -> String {
    let scheme = match config.tls {
        hypasis_config::TlsMode::Mutual(_) => "https",
        hypasis_config::TlsMode::Insecure => "http",
    };
    format!("{scheme}://{}", config.listen)
}

/// A stop flag for background tasks, set on SIGTERM/SIGINT.
pub fn stop_on_signal() -> (
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let signal = tx.clone();
    tokio::spawn(async move {
        hypasis_server::shutdown_signal().await;
        let _ = signal.send(true);
    });
    (tx, rx)
}

/// Resolves once `stop` is `true`.
pub async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

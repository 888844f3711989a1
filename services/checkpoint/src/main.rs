//! `hypasis-checkpoint`: the checkpoint service.
//!
//! Follows the configured sources (Ethereum L1 RootChain, Heimdall, a beacon node verified with
//! the light-client protocol, static checkpoints), accepts what a quorum of them agrees on,
//! persists it in the store (embedded `--data-dir`, or the store service with `--store URL`) and
//! serves `hypasis.v1.CheckpointService` (Latest/Get/List/Watch) over mTLS gRPC with reflection,
//! health, metrics and tracing. A source outage never stops it: it keeps serving what it has and
//! reports degraded (metric `hypasis_checkpoint_degraded`, health service
//! `hypasis.v1.CheckpointService.sources` NOT_SERVING).

use anyhow::Context;
use clap::Parser;
use hypasis_checkpoint::config::SourceArgs;
use hypasis_checkpoint::service::{CheckpointGrpc, Follower, FollowerConfig, Hub, SOURCES_HEALTH};
use hypasis_checkpoint::store::{CheckpointStore, LocalStore, RemoteStore};
use hypasis_checkpoint::{CheckpointMetrics, CrossChecker};
use hypasis_config::CommonArgs;
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-checkpoint",
    version,
    about = "Hypasis checkpoint service: trusted anchors from Ethereum L1, Heimdall, the beacon chain and static config, cross-checked, persisted and watched"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    sources: SourceArgs,
    /// The store service to persist checkpoints in (e.g. https://store:7001). Without it the
    /// checkpoints are kept in an embedded database in --data-dir.
    #[arg(long, env = "HYPASIS_STORE", value_name = "URL")]
    store: Option<String>,
    /// Directory of the embedded checkpoint database (`checkpoints.redb`), when --store is not
    /// given.
    #[arg(long, env = "HYPASIS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Seconds between polls of the sources.
    #[arg(long, env = "HYPASIS_POLL_INTERVAL", value_name = "SECS")]
    poll_interval: Option<f64>,
    /// First checkpoint id to fetch when nothing is stored yet (default: the newest agreed one).
    #[arg(long, env = "HYPASIS_START_ID", value_name = "ID")]
    start_id: Option<u64>,
}

async fn open_store(args: &Args, rt: &ServiceRuntime) -> anyhow::Result<Arc<dyn CheckpointStore>> {
    if let Some(url) = &args.store {
        // Connects lazily on first use; the store may come up after us.
        let channel = match &rt.config.tls {
            hypasis_config::TlsMode::Mutual(dir) => {
                let tls = hypasis_tls::TlsFiles::in_dir(dir, "checkpoint")
                    .client_config("store")
                    .context("store client TLS")?;
                tonic::transport::Endpoint::from_shared(url.clone())
                    .with_context(|| format!("--store {url}"))?
                    .connect_timeout(Duration::from_secs(10))
                    .tls_config(tls)?
                    .connect_lazy()
            }
            hypasis_config::TlsMode::Insecure => {
                tonic::transport::Endpoint::from_shared(url.clone())
                    .with_context(|| format!("--store {url}"))?
                    .connect_timeout(Duration::from_secs(10))
                    .connect_lazy()
            }
        };
        tracing::info!(store = %url, "persisting checkpoints in the store service");
        return Ok(Arc::new(RemoteStore::new(channel)));
    }
    let dir = args
        .data_dir
        .as_ref()
        .context("give --store URL (the store service) or --data-dir DIR (embedded database)")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("checkpoints.redb");
    let storage = hypasis_storage_redb::RedbStorage::open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    tracing::info!(path = %path.display(), "persisting checkpoints in the embedded database");
    Ok(Arc::new(LocalStore(Arc::new(storage))))
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let config = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7005)),
        SocketAddr::from(([127, 0, 0, 1], 9105)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-checkpoint", format)?;
            let rt = ServiceRuntime::new(
                "checkpoint",
                hypasis_proto::service_names::CHECKPOINT,
                config,
            )?;
            let metrics = CheckpointMetrics::register(&rt.metrics.registry)?;
            let sources = args
                .sources
                .build()
                .await
                .context("configuring checkpoint sources")?;
            let quorum = args.sources.quorum_for(&sources);
            tracing::info!(
                sources = ?sources.iter().map(|s| s.name()).collect::<Vec<_>>(),
                quorum,
                "checkpoint sources"
            );
            let checker = CrossChecker::new(sources, quorum).with_metrics(metrics.clone());
            let store = open_store(&args, &rt).await?;
            let hub = Hub::new(store, metrics);
            let follower_cfg = FollowerConfig {
                poll_interval: Duration::from_secs_f64(
                    args.poll_interval.unwrap_or(30.0).max(0.05),
                ),
                start_id: args.start_id,
                ..FollowerConfig::default()
            };
            // Serving from the start: stored checkpoints are served while the sources catch up.
            rt.set_serving(true).await;
            rt.health
                .set_service_status(
                    SOURCES_HEALTH,
                    hypasis_server::tonic_health::ServingStatus::NotServing,
                )
                .await;
            let follower =
                Follower::new(checker, hub.clone(), follower_cfg, Some(rt.health.clone()));
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let follow = tokio::spawn(follower.run(async move {
                let mut rx = stop_rx;
                let _ = rx.wait_for(|s| *s).await;
            }));
            let routes =
                tonic::service::Routes::new(CheckpointGrpc::new(hub.clone()).into_server());
            let shutdown = async move {
                hypasis_server::shutdown_signal().await;
                // End the Watch streams so graceful shutdown does not wait for them.
                hub.close();
            };
            let served = rt.serve(routes, shutdown).await;
            let _ = stop_tx.send(true);
            let _ = follow.await;
            served?;
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag (the sources' too) is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<Args>(&[]);
    }
}

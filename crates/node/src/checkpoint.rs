//! The checkpoint follower: built once ([`checker`], [`follower`]) for the checkpoint service
//! ([`serve`]) and for standalone.

use crate::{ConfigError, NodeError};
use hypasis_checkpoint::config::SourceArgs;
use hypasis_checkpoint::service::{CheckpointGrpc, Follower, FollowerConfig, Hub, SOURCES_HEALTH};
use hypasis_checkpoint::store::{CheckpointStore, LocalStore, RemoteStore};
use hypasis_checkpoint::{CheckpointMetrics, CrossChecker};
use hypasis_config::CommonConfig;
use hypasis_server::ServiceRuntime;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The configured sources, connected and cross-checked by their quorum.
pub async fn checker(
    sources: &SourceArgs,
    metrics: CheckpointMetrics,
) -> Result<CrossChecker, NodeError> {
    let built = sources.build().await?;
    let quorum = sources.quorum_for(&built);
    tracing::info!(
        sources = ?built.iter().map(|s| s.name()).collect::<Vec<_>>(),
        quorum,
        "checkpoint sources"
    );
    Ok(CrossChecker::new(built, quorum).with_metrics(metrics))
}

/// The follower polling `checker` every `poll` into `hub`, from `start_id` when nothing is
/// stored (default: the newest agreed checkpoint).
pub fn follower(
    checker: CrossChecker,
    hub: Hub,
    poll: Duration,
    start_id: Option<u64>,
    health: Option<hypasis_server::tonic_health::server::HealthReporter>,
) -> Follower {
    Follower::new(
        checker,
        hub,
        FollowerConfig {
            poll_interval: poll.max(Duration::from_millis(50)),
            start_id,
            ..FollowerConfig::default()
        },
        health,
    )
}

/// Settings of the checkpoint service.
#[derive(Debug, Clone)]
pub struct CheckpointServiceConfig {
    /// Listen addresses, TLS, log format.
    pub common: CommonConfig,
    /// The sources and their quorum.
    pub sources: SourceArgs,
    /// The store service to persist checkpoints in.
    pub store: Option<String>,
    /// Else: the directory of an embedded checkpoint database.
    pub data_dir: Option<PathBuf>,
    /// Time between polls of the sources.
    pub poll_interval: Duration,
    /// First checkpoint id to fetch when nothing is stored.
    pub start_id: Option<u64>,
}

/// Where accepted checkpoints are kept: the store service (dialed lazily; it may start after
/// us) or an embedded database.
fn open_store(cfg: &CheckpointServiceConfig) -> Result<Arc<dyn CheckpointStore>, NodeError> {
    if let Some(url) = &cfg.store {
        let channel = hypasis_server::lazy_channel(url, &cfg.common.tls, "checkpoint", "store")?;
        tracing::info!(store = %url, "persisting checkpoints in the store service");
        return Ok(Arc::new(RemoteStore::new(channel)));
    }
    let dir = cfg.data_dir.as_ref().ok_or(ConfigError::Missing(
        "give --store URL (the store service) or --data-dir DIR (embedded database)",
    ))?;
    crate::p2p::create_dir(dir)?;
    let path = dir.join("checkpoints.redb");
    let storage = hypasis_storage_redb::RedbStorage::open(&path)?;
    tracing::info!(path = %path.display(), "persisting checkpoints in the embedded database");
    Ok(Arc::new(LocalStore(Arc::new(storage))))
}

/// Runs the checkpoint service until SIGTERM/SIGINT. A source outage never stops it: it keeps
/// serving what it has and reports degraded.
pub async fn serve(cfg: CheckpointServiceConfig) -> Result<(), NodeError> {
    let rt = ServiceRuntime::new(
        "checkpoint",
        hypasis_proto::service_names::CHECKPOINT,
        cfg.common.clone(),
    )?;
    let metrics = CheckpointMetrics::register(&rt.metrics.registry)?;
    let checker = checker(&cfg.sources, metrics.clone()).await?;
    let hub = Hub::new(open_store(&cfg)?, metrics);
    // Serving from the start: stored checkpoints are served while the sources catch up.
    rt.set_serving(true).await;
    rt.health
        .set_service_status(
            SOURCES_HEALTH,
            hypasis_server::tonic_health::ServingStatus::NotServing,
        )
        .await;
    let follower = follower(
        checker,
        hub.clone(),
        cfg.poll_interval,
        cfg.start_id,
        Some(rt.health.clone()),
    );
    let (stop_tx, stop_rx) = crate::runtime::stop_on_signal();
    let follow = tokio::spawn(follower.run(crate::runtime::stopped(stop_rx.clone())));
    let routes = tonic::service::Routes::new(CheckpointGrpc::new(hub.clone()).into_server());
    let served = rt
        .serve(routes, async move {
            crate::runtime::stopped(stop_rx).await;
            // End the Watch streams so graceful shutdown does not wait for them.
            hub.close();
        })
        .await;
    let _ = stop_tx.send(true);
    let _ = follow.await;
    Ok(served?)
}

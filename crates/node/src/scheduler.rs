//! The scheduler node: built once ([`build`]) for the scheduler service ([`serve`]) and for
//! standalone.

use crate::runtime::default_advertise;
use crate::{ConfigError, NodeError};
use hypasis_checkpoint_api::{
    AnchorStream, CheckpointFeed, FixedCheckpoints, FixedHead, HighestHead,
};
use hypasis_config::CommonConfig;
use hypasis_coordination::{Coordinator, EtcdCoordinator, EtcdOptions, LocalCoordinator};
use hypasis_primitives::{B256, ChainSpec};
use hypasis_scheduler::service::{ChainInfo, NodeConfig, SchedulerNode};
use hypasis_scheduler::store::{GrpcSchedulerStore, SchedulerStore};
use hypasis_scheduler::{
    Anchor, AnchorSource, BackwardThrottle, SchedulerConfig, SchedulerMetrics, SystemClock,
};
use hypasis_server::ServiceRuntime;
use std::sync::Arc;
use std::time::Duration;

/// How the scheduler cuts and leases work, whatever it is wired to.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Lowest block to sync.
    pub genesis: u64,
    /// Unit size where no checkpoint applies.
    pub unit_size: u64,
    /// Lease TTL.
    pub lease_ttl: Duration,
    /// While forward is catching up, the largest share (0..=1) of in-flight units backward may
    /// hold (`None`: the default).
    pub backward_share: Option<f64>,
    /// Cap on backward blocks leased per second (the throttle of background work).
    pub backward_max_blocks_per_second: Option<f64>,
    /// Blocks past trusted information units are cut to.
    pub tip_margin: u64,
    /// How often the leader re-reads gaps and checkpoints.
    pub refresh_interval: Duration,
    /// How often progress is logged.
    pub progress_interval: Duration,
    /// A fixed tip, in addition to what fetchers announce.
    pub static_tip: Option<u64>,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            genesis: 0,
            unit_size: 1024,
            lease_ttl: Duration::from_secs(60),
            backward_share: None,
            backward_max_blocks_per_second: None,
            tip_margin: hypasis_scheduler::DEFAULT_TIP_MARGIN,
            refresh_interval: Duration::from_secs(2),
            progress_interval: Duration::from_secs(10),
            static_tip: None,
        }
    }
}

impl SchedulerSettings {
    /// The scheduler's configuration for `spec` (Bor chains cut units along checkpoints).
    pub fn scheduler_config(&self, spec: &ChainSpec) -> SchedulerConfig {
        let defaults = BackwardThrottle::default();
        SchedulerConfig {
            genesis: self.genesis,
            unit_size: self.unit_size.max(1),
            checkpoint_aligned: spec.is_bor(),
            lease_ttl: self.lease_ttl,
            throttle: BackwardThrottle {
                max_in_flight_share: self.backward_share.unwrap_or(defaults.max_in_flight_share),
                max_blocks_per_second: self.backward_max_blocks_per_second,
                ..defaults
            },
            jitter_seed: std::process::id().into(),
            tip_margin: self.tip_margin,
            ..SchedulerConfig::default()
        }
    }
}

/// Assembles a scheduler node for `spec` over its seams: durable state and gaps (`store`), the
/// accepted checkpoints (`checkpoints`: the checkpoint service or its in-process hub), leader
/// election (`coordinator`); `health` (when serving alone) reports it `NOT_SERVING` while it is
/// a standby.
#[allow(clippy::too_many_arguments)]
pub fn build(
    spec: &ChainSpec,
    settings: &SchedulerSettings,
    anchor: AnchorSource,
    advertise: String,
    store: Arc<dyn SchedulerStore>,
    checkpoints: Arc<dyn CheckpointFeed>,
    coordinator: Arc<dyn Coordinator>,
    metrics: SchedulerMetrics,
    health: Option<(
        hypasis_server::tonic_health::server::HealthReporter,
        &'static str,
    )>,
) -> Arc<SchedulerNode> {
    SchedulerNode::new(
        NodeConfig {
            chain: ChainInfo {
                name: spec.name.clone(),
                chain_id: spec.chain_id,
                genesis_hash: spec.genesis_hash.to_vec(),
            },
            scheduler: settings.scheduler_config(spec),
            anchor,
            advertise,
            election: format!("scheduler/{}", spec.name),
            refresh_interval: settings.refresh_interval.max(Duration::from_millis(100)),
            progress_interval: settings.progress_interval.max(Duration::from_secs(1)),
            static_tip: settings.static_tip,
        },
        store,
        checkpoints,
        coordinator,
        Arc::new(SystemClock),
        metrics,
        health,
    )
}

/// Parses a trusted block `NUMBER:0xHASH` (or `NUMBER` alone unless `hash_required`) given
/// with `flag`.
pub fn parse_anchor(
    flag: &'static str,
    s: &str,
    hash_required: bool,
) -> Result<Anchor, ConfigError> {
    let expected = if hash_required {
        "NUMBER:0xHASH"
    } else {
        "NUMBER[:0xHASH]"
    };
    let bad = || ConfigError::BadAnchor {
        flag,
        expected,
        input: s.to_string(),
    };
    let (n, h) = match s.split_once(':') {
        Some((n, h)) => (n, Some(h)),
        None if hash_required => return Err(bad()),
        None => (s, None),
    };
    let number = n.trim().parse().map_err(|_| bad())?;
    let hash = h
        .map(|h| h.trim().parse::<B256>())
        .transpose()
        .map_err(|_| bad())?;
    Ok(Anchor { number, hash })
}

/// Where the scheduler service anchors its schedule when it is first made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAnchor {
    /// A configured trusted block (`--anchor`).
    Fixed(Anchor),
    /// The checkpoint service's trusted head (Polygon: Heimdall's milestone; Ethereum: the
    /// newest block anchor), waited for at start.
    TrustedHead,
    /// The end of the checkpoint service's newest accepted checkpoint (Polygon with L1
    /// sources only: no milestone, no trusted head).
    LatestCheckpoint,
}

/// Settings of the scheduler service.
#[derive(Debug, Clone)]
pub struct SchedulerServiceConfig {
    /// Listen addresses, TLS, log format.
    pub common: CommonConfig,
    /// The chain.
    pub spec: ChainSpec,
    /// The store service URL.
    pub store: String,
    /// etcd endpoints (none: the only scheduler, no election).
    pub etcd: Vec<String>,
    /// Key prefix in etcd.
    pub etcd_prefix: String,
    /// Leadership lease TTL.
    pub leader_ttl: Duration,
    /// This instance's URL as clients dial it (default: from the listen address).
    pub advertise: Option<String>,
    /// Where the sync is anchored.
    pub anchor: ServiceAnchor,
    /// The checkpoint service: its accepted checkpoints raise units to `checkpoint-root`, and
    /// without a fixed anchor its trusted head (Polygon: Heimdall's latest milestone) anchors
    /// the schedule. `None`: no checkpoints (a schedule on a fixed anchor alone).
    pub checkpoint: Option<String>,
    /// A trusted head the operator gives (`--trusted-head NUMBER:HASH`), followed beside the
    /// checkpoint service's.
    pub trusted_head: Option<Anchor>,
    /// Cutting and leasing.
    pub settings: SchedulerSettings,
}

/// Runs the scheduler service until SIGTERM/SIGINT: campaigns for leadership, leads or stands by.
pub async fn serve(cfg: SchedulerServiceConfig) -> Result<(), NodeError> {
    let advertise = cfg
        .advertise
        .clone()
        .unwrap_or_else(|| default_advertise(&cfg.common));
    let tls = cfg.common.tls.clone();
    let rt = ServiceRuntime::new(
        "scheduler",
        hypasis_proto::service_names::SCHEDULER,
        cfg.common.clone(),
    )?;
    rt.set_serving(false).await;
    rt.metrics.set_chain(&cfg.spec.name);
    let metrics = SchedulerMetrics::register(&rt.metrics.registry)?;
    let (_stop_tx, mut stop_rx) = crate::runtime::stop_on_signal();

    let Some(channel) =
        hypasis_server::connect_retrying(&cfg.store, &tls, "scheduler", "store", &mut stop_rx)
            .await?
    else {
        return Ok(());
    };
    type Inputs = (
        AnchorSource,
        Arc<dyn CheckpointFeed>,
        Option<Arc<dyn AnchorStream>>,
    );
    let (anchor, checkpoints, heads): Inputs = match (&cfg.checkpoint, cfg.anchor) {
        (Some(url), how) => {
            let channel = hypasis_server::lazy_channel(url, &tls, "scheduler", "checkpoint")?;
            let anchors = Arc::new(hypasis_checkpoint::GrpcAnchors::new(channel));
            let anchor = match how {
                ServiceAnchor::Fixed(a) => AnchorSource::Fixed(a),
                ServiceAnchor::LatestCheckpoint => AnchorSource::LatestCheckpoint,
                ServiceAnchor::TrustedHead => {
                    let Some(a) = trusted_head_anchor(anchors.as_ref(), &mut stop_rx).await else {
                        return Ok(());
                    };
                    AnchorSource::Fixed(a)
                }
            };
            (anchor, anchors.clone(), Some(anchors))
        }
        (None, ServiceAnchor::Fixed(a)) => {
            tracing::warn!(
                "no --checkpoint given: no checkpoints (units are only hash-linked to the anchor)"
            );
            (
                AnchorSource::Fixed(a),
                Arc::new(FixedCheckpoints::default()),
                None,
            )
        }
        (None, _) => {
            return Err(ConfigError::Missing(
                "give --checkpoint URL (the checkpoint service) or a fixed --anchor NUMBER:HASH",
            )
            .into());
        }
    };
    let store = Arc::new(GrpcSchedulerStore::new(channel, rt.max_message_bytes));
    let coordinator: Arc<dyn Coordinator> = if cfg.etcd.is_empty() {
        tracing::warn!("no --etcd given: running as the only scheduler (no leader election)");
        Arc::new(LocalCoordinator::new())
    } else {
        let opts = EtcdOptions {
            prefix: cfg.etcd_prefix.clone(),
            leader_ttl: cfg.leader_ttl.max(Duration::from_secs(2)),
            ..EtcdOptions::default()
        };
        Arc::new(EtcdCoordinator::connect(&cfg.etcd, opts).await?)
    };
    let node = build(
        &cfg.spec,
        &cfg.settings,
        anchor,
        advertise,
        store,
        checkpoints,
        coordinator,
        metrics,
        Some((rt.health.clone(), hypasis_proto::service_names::SCHEDULER)),
    );
    if let Some(heads) = with_operator_head(heads, cfg.trusted_head) {
        node.follow_trusted_head(heads);
    }
    let service = node
        .grpc_service()
        .max_decoding_message_size(rt.max_message_bytes)
        .max_encoding_message_size(rt.max_message_bytes);
    let routes = tonic::service::Routes::new(service);
    let node_task = tokio::spawn(node.clone().run(stop_rx.clone()));
    rt.serve(routes, crate::runtime::stopped(stop_rx)).await?;
    let _ = node_task.await;
    Ok(())
}

/// The trusted heads to follow: the checkpoint service's and the operator's
/// (`--trusted-head`), the higher one counting.
pub fn with_operator_head(
    heads: Option<Arc<dyn AnchorStream>>,
    operator: Option<Anchor>,
) -> Option<Arc<dyn AnchorStream>> {
    let fixed = operator.and_then(|a| {
        a.hash
            .map(|h| Arc::new(FixedHead::new(a.number, h)) as Arc<dyn AnchorStream>)
    });
    match (heads, fixed) {
        (Some(h), Some(f)) => Some(Arc::new(HighestHead(vec![h, f]))),
        (h, f) => h.or(f),
    }
}

/// The trusted head of `anchors` as the anchor, waiting (and retrying while the checkpoint
/// service is unreachable) until there is one; `None` when stopped first.
pub async fn trusted_head_anchor(
    anchors: &dyn AnchorStream,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<Anchor> {
    let mut waiting_logged = false;
    loop {
        let attempt = async {
            match anchors.trusted_head().await? {
                Some(b) => Ok(b),
                None => {
                    if !waiting_logged {
                        tracing::info!("waiting for the checkpoint service's trusted head");
                        waiting_logged = true;
                    }
                    anchors.wait_above(None).await
                }
            }
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = shutdown.wait_for(|s| *s) => return None,
        };
        match result {
            Ok(b) => {
                tracing::info!(head = %b, "anchor: the trusted head");
                return Some(Anchor {
                    number: b.number,
                    hash: Some(b.hash),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the trusted head failed; retrying")
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return None,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn anchors_parse_and_garbage_is_refused() {
        let a = parse_anchor("--anchor", &format!("42:{H}"), true).unwrap();
        assert_eq!((a.number, a.hash.is_some()), (42, true));
        let a = parse_anchor("--anchor", "42", false).unwrap();
        assert_eq!((a.number, a.hash), (42, None));
        assert!(parse_anchor("--trusted", "42", true).is_err());
        assert!(parse_anchor("--anchor", "x", false).is_err());
        let err = parse_anchor("--anchor", "42:0x11", false).unwrap_err();
        assert!(err.to_string().contains("--anchor"), "{err}");
    }

    #[test]
    fn bor_chains_cut_along_checkpoints() {
        let s = SchedulerSettings::default();
        let polygon = ChainSpec::by_name("polygon").unwrap();
        let mainnet = ChainSpec::by_name("mainnet").unwrap();
        assert!(s.scheduler_config(&polygon).checkpoint_aligned);
        assert!(!s.scheduler_config(&mainnet).checkpoint_aligned);
        let share = SchedulerSettings {
            backward_share: Some(0.25),
            unit_size: 0,
            ..SchedulerSettings::default()
        }
        .scheduler_config(&mainnet);
        assert_eq!(share.throttle.max_in_flight_share, 0.25);
        assert_eq!(share.unit_size, 1);
    }
}

//! `hypasis-scheduler`: the scheduler service.
//!
//! Serves `hypasis.v1.Scheduler` over mTLS gRPC. Every instance campaigns for leadership through
//! etcd (`--etcd URL`, repeatable); the leader keeps its state in the store (`--store URL`, the
//! Store service over mTLS), fenced by its term, and serves; standbys answer `UNAVAILABLE` with
//! the leader's address and report health `NOT_SERVING`. Without `--etcd` the instance is the
//! only scheduler (in-process coordinator).

use anyhow::Context;
use clap::Parser;
use hypasis_config::{CommonArgs, TlsMode};
use hypasis_coordination::{Coordinator, EtcdCoordinator, EtcdOptions, LocalCoordinator};
use hypasis_primitives::{B256, ChainSpec};
use hypasis_scheduler::service::{ChainInfo, NodeConfig, SchedulerNode};
use hypasis_scheduler::store::GrpcSchedulerStore;
use hypasis_scheduler::{
    Anchor, AnchorSource, BackwardThrottle, SchedulerConfig, SchedulerMetrics, SystemClock,
};
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-scheduler",
    version,
    about = "Hypasis scheduler service: cuts gaps into work units and leases them to fetchers"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The store service (`https://HOST:PORT`; `http://` with --insecure).
    #[arg(long, env = "HYPASIS_STORE", value_name = "URL")]
    store: String,
    /// etcd endpoint for leader election and fetcher membership (repeatable). Without it this
    /// instance is the only scheduler.
    #[arg(
        long = "etcd",
        env = "HYPASIS_ETCD",
        value_name = "URL",
        value_delimiter = ','
    )]
    etcd: Vec<String>,
    /// Key prefix in etcd.
    #[arg(long, default_value = "/hypasis")]
    etcd_prefix: String,
    /// Leadership lease TTL in seconds: a dead leader is replaced within about this long.
    #[arg(long, default_value_t = 5)]
    leader_ttl_secs: u64,
    /// Chain name (mainnet, sepolia, polygon, amoy, devnet).
    #[arg(long, env = "HYPASIS_CHAIN", default_value = "mainnet")]
    chain: String,
    /// This instance's gRPC URL as clients should dial it (the leader hint); default from
    /// --listen.
    #[arg(long, value_name = "URL")]
    advertise: Option<String>,
    /// Trusted anchor block `NUMBER[:HASH]`; default: the end of the newest checkpoint in the
    /// store when the schedule is first made.
    #[arg(long, value_name = "NUMBER[:HASH]")]
    anchor: Option<String>,
    /// Polygon: without --anchor, anchor on this Heimdall's latest milestone (a finalized
    /// block number and hash) when the schedule is first made. Heimdall's checkpoints carry no
    /// block hash, so they cannot anchor the hash linkage on their own.
    #[arg(
        long,
        env = "HYPASIS_HEIMDALL",
        value_name = "URL",
        conflicts_with = "anchor"
    )]
    heimdall: Option<String>,
    /// A fixed tip, in addition to what fetchers announce.
    #[arg(long, value_name = "NUMBER")]
    tip: Option<u64>,
    /// How many blocks past trusted information (anchor, newest checkpoint, highest stored
    /// block) units are cut; the peers' claimed tip is bounded by it, so a long forward sync
    /// proceeds in waves.
    #[arg(long, value_name = "BLOCKS", default_value_t = hypasis_scheduler::DEFAULT_TIP_MARGIN)]
    tip_margin: u64,
    /// Lowest block to sync.
    #[arg(long, default_value_t = 0)]
    genesis: u64,
    /// Unit size in blocks where no checkpoint applies.
    #[arg(long, default_value_t = 1024)]
    unit_size: u64,
    /// Lease TTL in seconds.
    #[arg(long, default_value_t = 60)]
    lease_ttl_secs: u64,
    /// While forward is catching up, the largest share (0..=1) of in-flight units backward may
    /// hold.
    #[arg(long, default_value_t = 0.5)]
    backward_share: f64,
    /// Cap on backward blocks leased per second.
    #[arg(long)]
    backward_max_blocks_per_second: Option<f64>,
    /// How often the leader re-reads gaps and checkpoints, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    refresh_ms: u64,
    /// How often progress is logged, in seconds.
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
}

fn parse_anchor(s: &str) -> anyhow::Result<Anchor> {
    let (n, h) = match s.split_once(':') {
        Some((n, h)) => (n, Some(h)),
        None => (s, None),
    };
    let number = n
        .trim()
        .parse()
        .with_context(|| format!("--anchor: bad block number `{n}`"))?;
    let hash = h
        .map(|h| h.trim().parse::<B256>())
        .transpose()
        .with_context(|| format!("--anchor: bad block hash in `{s}`"))?;
    Ok(Anchor { number, hash })
}

async fn connect_store(
    url: &str,
    tls: &TlsMode,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tonic::transport::Channel>> {
    loop {
        match hypasis_server::client_channel(url, tls, "scheduler", "store").await {
            Ok(c) => return Ok(Some(c)),
            Err(e @ hypasis_server::ServerError::Endpoint { .. })
            | Err(e @ hypasis_server::ServerError::Tls(_)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(store = url, error = %e, "store not reachable yet; retrying");
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return Ok(None),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// The latest Heimdall milestone as an anchor, retrying while Heimdall is unreachable.
async fn milestone_anchor(
    url: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<Anchor>> {
    let heimdall = hypasis_checkpoint::HeimdallSource::new(url, Duration::from_secs(20))
        .with_context(|| format!("--heimdall {url}"))?;
    loop {
        match heimdall.latest_milestone().await {
            Ok(m) => {
                tracing::info!(number = m.end_block, hash = %m.hash, "anchor: Heimdall's latest milestone");
                return Ok(Some(Anchor {
                    number: m.end_block,
                    hash: Some(m.hash),
                }));
            }
            Err(e) => {
                tracing::warn!(heimdall = url, error = %e, "reading the latest milestone failed; retrying")
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let config = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7002)),
        SocketAddr::from(([127, 0, 0, 1], 9102)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    let spec = ChainSpec::by_name(&args.chain)?;
    let mut anchor = match &args.anchor {
        Some(a) => AnchorSource::Fixed(parse_anchor(a)?),
        None => AnchorSource::LatestCheckpoint,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-scheduler", format)?;
            let advertise = args.advertise.clone().unwrap_or_else(|| {
                let scheme = match config.tls {
                    TlsMode::Mutual(_) => "https",
                    TlsMode::Insecure => "http",
                };
                format!("{scheme}://{}", config.listen)
            });
            let tls = config.tls.clone();
            let rt =
                ServiceRuntime::new("scheduler", hypasis_proto::service_names::SCHEDULER, config)?;
            rt.set_serving(false).await;
            let metrics = SchedulerMetrics::register(&rt.metrics.registry)?;

            let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                hypasis_server::shutdown_signal().await;
                let _ = stop_tx.send(true);
            });

            let Some(channel) = connect_store(&args.store, &tls, &mut stop_rx).await? else {
                return Ok(());
            };
            if let Some(url) = &args.heimdall {
                let Some(a) = milestone_anchor(url, &mut stop_rx).await? else {
                    return Ok(());
                };
                anchor = AnchorSource::Fixed(a);
            }
            let store = Arc::new(GrpcSchedulerStore::new(channel, rt.max_message_bytes));
            let coordinator: Arc<dyn Coordinator> = if args.etcd.is_empty() {
                tracing::warn!(
                    "no --etcd given: running as the only scheduler (no leader election)"
                );
                Arc::new(LocalCoordinator::new())
            } else {
                let opts = EtcdOptions {
                    prefix: args.etcd_prefix.clone(),
                    leader_ttl: Duration::from_secs(args.leader_ttl_secs.max(2)),
                    ..EtcdOptions::default()
                };
                Arc::new(
                    EtcdCoordinator::connect(&args.etcd, opts)
                        .await
                        .context("connecting to etcd")?,
                )
            };
            let scheduler = SchedulerConfig {
                genesis: args.genesis,
                unit_size: args.unit_size.max(1),
                checkpoint_aligned: spec.is_bor(),
                lease_ttl: Duration::from_secs(args.lease_ttl_secs.max(1)),
                throttle: BackwardThrottle {
                    max_in_flight_share: args.backward_share,
                    max_blocks_per_second: args.backward_max_blocks_per_second,
                    ..BackwardThrottle::default()
                },
                jitter_seed: std::process::id().into(),
                tip_margin: args.tip_margin,
                ..SchedulerConfig::default()
            };
            let node_cfg = NodeConfig {
                chain: ChainInfo {
                    name: spec.name.clone(),
                    chain_id: spec.chain_id,
                    genesis_hash: spec.genesis_hash.to_vec(),
                },
                scheduler,
                anchor,
                advertise,
                election: format!("scheduler/{}", spec.name),
                refresh_interval: Duration::from_millis(args.refresh_ms.max(100)),
                progress_interval: Duration::from_secs(args.progress_secs.max(1)),
                static_tip: args.tip,
            };
            let node = SchedulerNode::new(
                node_cfg,
                store,
                coordinator,
                Arc::new(SystemClock),
                metrics,
                Some((rt.health.clone(), hypasis_proto::service_names::SCHEDULER)),
            );
            let service = node
                .grpc_service()
                .max_decoding_message_size(rt.max_message_bytes)
                .max_encoding_message_size(rt.max_message_bytes);
            let routes = tonic::service::Routes::new(service);
            let node_task = tokio::spawn(node.clone().run(stop_rx.clone()));
            let mut stop = stop_rx.clone();
            rt.serve(routes, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await?;
            let _ = node_task.await;
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<Args>(&[(
            "store",
            "http://127.0.0.1:7001",
        )]);
    }
}

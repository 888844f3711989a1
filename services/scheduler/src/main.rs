//! `hypasis-scheduler`: the scheduler service.
//!
//! Serves `hypasis.v1.Scheduler` over mTLS gRPC. Every instance campaigns for leadership through
//! etcd (`--etcd URL`, repeatable); the leader keeps its state in the store (`--store URL`, the
//! Store service over mTLS), fenced by its term, and serves; standbys answer `UNAVAILABLE` with
//! the leader's address and report health `NOT_SERVING`. Without `--etcd` the instance is the
//! only scheduler (in-process coordinator).

use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_node::scheduler::{
    SchedulerServiceConfig, SchedulerSettings, ServiceAnchor, parse_anchor,
};
use hypasis_primitives::ChainSpec;
use std::net::SocketAddr;
use std::time::Duration;

/// Where the schedule is anchored without --anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AnchorFrom {
    TrustedHead,
    LatestCheckpoint,
}

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
    /// Trusted anchor block `NUMBER[:HASH]`; default: from --checkpoint, as --anchor-from says,
    /// when the schedule is first made.
    #[arg(long, value_name = "NUMBER[:HASH]")]
    anchor: Option<String>,
    /// Without --anchor: anchor on the checkpoint service's trusted head (`trusted-head`:
    /// Heimdall's milestone, a beacon-finalized or configured block), or on the end of its
    /// newest accepted checkpoint (`latest-checkpoint`: Polygon with L1 sources only).
    #[arg(long, value_enum, default_value_t = AnchorFrom::TrustedHead)]
    anchor_from: AnchorFrom,
    /// The checkpoint service: its accepted checkpoints raise the units they cover to
    /// checkpoint-root, and without --anchor its trusted head (Polygon: Heimdall's latest
    /// milestone, agreed by its Heimdall sources; Ethereum: the newest block anchor) anchors
    /// the schedule, waited for at start. Heimdall's checkpoints carry no block hash, so they
    /// cannot anchor the hash linkage on their own.
    #[arg(long, env = "HYPASIS_CHECKPOINT", value_name = "URL")]
    checkpoint: Option<String>,
    /// A trusted head given by the operator, `NUMBER:HASH` (any chain): followed beside the
    /// checkpoint service's, the higher one counts; shown in the status.
    #[arg(long, value_name = "NUMBER:HASH")]
    trusted_head: Option<String>,
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

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let common = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7002)),
        SocketAddr::from(([127, 0, 0, 1], 9102)),
    )?;
    let anchor = match (&args.anchor, args.anchor_from) {
        (Some(a), _) => ServiceAnchor::Fixed(parse_anchor("--anchor", a, false)?),
        (None, AnchorFrom::TrustedHead) => ServiceAnchor::TrustedHead,
        (None, AnchorFrom::LatestCheckpoint) => ServiceAnchor::LatestCheckpoint,
    };
    let format = common.log_format;
    let cfg = SchedulerServiceConfig {
        common,
        spec: ChainSpec::by_name(&args.chain)?,
        store: args.store,
        etcd: args.etcd,
        etcd_prefix: args.etcd_prefix,
        leader_ttl: Duration::from_secs(args.leader_ttl_secs),
        advertise: args.advertise,
        anchor,
        checkpoint: args.checkpoint,
        trusted_head: args
            .trusted_head
            .as_deref()
            .map(|h| parse_anchor("--trusted-head", h, true))
            .transpose()?,
        settings: SchedulerSettings {
            genesis: args.genesis,
            unit_size: args.unit_size,
            lease_ttl: Duration::from_secs(args.lease_ttl_secs.max(1)),
            backward_share: Some(args.backward_share),
            backward_max_blocks_per_second: args.backward_max_blocks_per_second,
            tip_margin: args.tip_margin,
            refresh_interval: Duration::from_millis(args.refresh_ms),
            progress_interval: Duration::from_secs(args.progress_secs),
            static_tip: args.tip,
        },
    };
    hypasis_node::run_service(
        "hypasis-scheduler",
        format,
        hypasis_node::scheduler::serve(cfg),
    )?;
    Ok(())
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

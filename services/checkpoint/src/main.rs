//! `hypasis-checkpoint`: the checkpoint service.
//!
//! Follows the configured sources (Ethereum L1 RootChain, Heimdall, a beacon node verified with
//! the light-client protocol, static checkpoints), accepts what a quorum of them agrees on,
//! persists it in the store (embedded `--data-dir`, or the store service with `--store URL`) and
//! serves `hypasis.v1.CheckpointService` (Latest/Get/List/Watch) over mTLS gRPC with reflection,
//! health, metrics and tracing. A source outage never stops it: it keeps serving what it has and
//! reports degraded (metric `hypasis_checkpoint_degraded`, health service
//! `hypasis.v1.CheckpointService.sources` NOT_SERVING).

use clap::Parser;
use hypasis_checkpoint::config::SourceArgs;
use hypasis_config::CommonArgs;
use hypasis_node::checkpoint::CheckpointServiceConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
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

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let common = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7005)),
        SocketAddr::from(([127, 0, 0, 1], 9105)),
    )?;
    let format = common.log_format;
    let cfg = CheckpointServiceConfig {
        common,
        sources: args.sources,
        store: args.store,
        data_dir: args.data_dir,
        poll_interval: Duration::from_secs_f64(args.poll_interval.unwrap_or(30.0).max(0.05)),
        start_id: args.start_id,
    };
    hypasis_node::run_service(
        "hypasis-checkpoint",
        format,
        hypasis_node::checkpoint::serve(cfg),
    )?;
    Ok(())
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

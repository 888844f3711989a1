//! `hypasis-fetcher`: the fetcher service.
//!
//! Runs the devp2p peer pool, takes leases from the scheduler (`--scheduler URL`), downloads,
//! validates and writes the blocks to the store (`--store URL`), and serves `hypasis.v1.Fetcher`
//! (status, peers, bans) over the shared service plumbing (mTLS, health, metrics). With
//! `--etcd` it registers under the `fetcher` membership kind with its announcement (address,
//! tip from its peers' heads, peer count), refreshed as they change.

use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_node::fetcher::{FetcherServiceConfig, FetcherSettings};
use hypasis_node::p2p::{NodeKey, P2pArgs};
use hypasis_primitives::ChainSpec;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "hypasis-fetcher", version, about = "Hypasis fetcher service")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Scheduler gRPC URL(s): the leader and its standbys, comma-separated and/or repeated.
    /// A standby's leader hint is followed; otherwise the next URL is tried when one fails.
    #[arg(
        long,
        env = "HYPASIS_SCHEDULER",
        value_delimiter = ',',
        required = true
    )]
    scheduler: Vec<String>,
    /// Store gRPC URL.
    #[arg(long, env = "HYPASIS_STORE")]
    store: String,
    /// Validator service gRPC URL: validate there instead of in process.
    #[arg(long, env = "HYPASIS_VALIDATOR", value_name = "URL")]
    validator: Option<String>,
    /// Chain name (mainnet, sepolia, polygon, amoy, devnet).
    #[arg(long, env = "HYPASIS_CHAIN", conflicts_with = "genesis")]
    chain: Option<String>,
    /// A geth-format genesis.json for a custom chain.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    #[command(flatten)]
    p2p: P2pArgs,
    /// etcd endpoint for fetcher membership (repeatable).
    #[arg(long = "etcd", value_name = "URL")]
    etcd: Vec<String>,
    /// Key prefix in etcd.
    #[arg(long, default_value = "/hypasis")]
    etcd_prefix: String,
    /// Memory budget for blocks in flight, MiB.
    #[arg(long, default_value_t = 256)]
    memory_budget_mb: u64,
    /// Units worked on at once.
    #[arg(long, default_value_t = 4)]
    parallel_units: u32,
    /// This fetcher's id (default: derived from its node id).
    #[arg(long)]
    id: Option<String>,
    /// Address announced to the scheduler (default: the listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Data directory: the devp2p node key is kept in `DIR/nodekey` (created on first start),
    /// so the enode survives restarts. Without it (and without --nodekey) the key is new at
    /// every start.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// devp2p node key file (64 hex characters, geth's format); created when missing.
    /// Overrides DATA_DIR/nodekey.
    #[arg(long, value_name = "FILE")]
    nodekey: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let common = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7003)),
        SocketAddr::from(([127, 0, 0, 1], 9103)),
    )?;
    let spec = match (&args.chain, &args.genesis) {
        (_, Some(g)) => ChainSpec::from_genesis_file(g)?,
        (Some(c), None) => ChainSpec::by_name(c)?,
        (None, None) => anyhow::bail!("one of --chain NAME or --genesis FILE is required"),
    };
    let format = common.log_format;
    let cfg = FetcherServiceConfig {
        common,
        spec,
        schedulers: args.scheduler,
        store: args.store,
        validator: args.validator,
        p2p: args.p2p.config()?,
        node_key: NodeKey {
            file: args.nodekey,
            data_dir: args.data_dir,
        },
        etcd: args.etcd,
        etcd_prefix: args.etcd_prefix,
        settings: FetcherSettings {
            parallel_units: args.parallel_units,
            memory_budget: args.memory_budget_mb.max(1) * 1024 * 1024,
        },
        id: args.id,
        advertise: args.advertise,
    };
    hypasis_node::run_service("hypasis-fetcher", format, hypasis_node::fetcher::serve(cfg))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<Args>(&[
            ("scheduler", "http://127.0.0.1:7002"),
            ("store", "http://127.0.0.1:7001"),
        ]);
    }
}

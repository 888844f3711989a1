//! `hypasis-validator`: the validator service.
//!
//! Serves `hypasis.v1.Validator` (`ValidateRange`: a range of blocks streams in, verdicts stream
//! out) over mTLS gRPC, with reflection, health, metrics and tracing from the shared plumbing.
//! Stateless: run as many replicas as needed; each validates on all its cores.

use clap::Parser;
use hypasis_config::CommonArgs;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-validator",
    version,
    about = "Hypasis validator service: checks block ranges against the chain rules and trusted anchors"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Extra chains from geth-format genesis files, besides the built-in ones (mainnet,
    /// sepolia, polygon, amoy, devnet). Repeatable; the chain is named after the file stem.
    #[arg(long, env = "HYPASIS_GENESIS", value_name = "FILE")]
    genesis: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let common = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7004)),
        SocketAddr::from(([127, 0, 0, 1], 9104)),
    )?;
    let specs = hypasis_node::validator::load_genesis_files(&args.genesis)?;
    let format = common.log_format;
    hypasis_node::run_service(
        "hypasis-validator",
        format,
        hypasis_node::validator::serve(common, specs),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<Args>(&[]);
    }
}

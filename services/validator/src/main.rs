//! `hypasis-validator`: the validator service.
//!
//! Serves `hypasis.v1.Validator` (`ValidateRange`: a range of blocks streams in, verdicts stream
//! out) over mTLS gRPC, with reflection, health, metrics and tracing from the shared plumbing.
//! Stateless: run as many replicas as needed; each validates on all its cores.

use anyhow::Context;
use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_primitives::ChainSpec;
use hypasis_server::ServiceRuntime;
use hypasis_validator::{ValidatorMetrics, ValidatorService};
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
    let config = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7004)),
        SocketAddr::from(([127, 0, 0, 1], 9104)),
    )?;
    let mut specs = Vec::new();
    for path in &args.genesis {
        let name = path
            .file_stem()
            .map_or_else(|| "custom".into(), |s| s.to_string_lossy().into_owned());
        let spec = ChainSpec::from_genesis_file(path)
            .with_context(|| format!("reading genesis file {}", path.display()))?
            .with_name(name);
        specs.push(spec);
    }
    let format = hypasis_server::log_format(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-validator", format)?;
            let rt =
                ServiceRuntime::new("validator", hypasis_proto::service_names::VALIDATOR, config)?;
            let metrics = ValidatorMetrics::register(&rt.metrics.registry)?;
            for spec in &specs {
                tracing::info!(chain = %spec.name, chain_id = spec.chain_id, "custom chain loaded");
            }
            let service = ValidatorService::new(specs, metrics);
            let routes = tonic::service::Routes::new(service.into_server(rt.max_message_bytes));
            rt.set_serving(true).await;
            rt.serve(routes, hypasis_server::shutdown_signal()).await?;
            Ok(())
        })
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

//! `hypasis-validator`: the validator service.
//!
//! Its API (`hypasis.v1` in `proto/hypasis/v1/validator.proto`) lands with the Validation issue. Until then
//! this binary runs the shared service plumbing (mTLS, reflection, health reporting
//! `NOT_SERVING`, metrics, graceful shutdown) so deployments can be exercised.

use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-validator",
    version,
    about = "Hypasis validator service"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = args.common.load_file(&[])?;
    let config = args.common.resolve(
        &file,
        SocketAddr::from(([127, 0, 0, 1], 7004)),
        SocketAddr::from(([127, 0, 0, 1], 9104)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-validator", format)?;
            let rt =
                ServiceRuntime::new("validator", hypasis_proto::service_names::VALIDATOR, config)?;
            hypasis_server::serve_not_yet_implemented(rt, "the Validation issue").await?;
            Ok(())
        })
}

//! `hypasis-fetcher`: the fetcher service.
//!
//! Its API (`hypasis.v1` in `proto/hypasis/v1/fetcher.proto`) lands with the devp2p and Sync issues. Until then
//! this binary runs the shared service plumbing (mTLS, reflection, health reporting
//! `NOT_SERVING`, metrics, graceful shutdown) so deployments can be exercised.

use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(name = "hypasis-fetcher", version, about = "Hypasis fetcher service")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = args.common.load_file(&[])?;
    let config = args.common.resolve(
        &file,
        SocketAddr::from(([127, 0, 0, 1], 7003)),
        SocketAddr::from(([127, 0, 0, 1], 9103)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-fetcher", format)?;
            let rt = ServiceRuntime::new("fetcher", hypasis_proto::service_names::FETCHER, config)?;
            hypasis_server::serve_not_yet_implemented(rt, "the devp2p and Sync issues").await?;
            Ok(())
        })
}

//! `hypasis-scheduler`: the scheduler service.
//!
//! Its API (`hypasis.v1` in `proto/hypasis/v1/scheduler.proto`) lands with the Sync issue (scheduler leases). Until then
//! this binary runs the shared service plumbing (mTLS, reflection, health reporting
//! `NOT_SERVING`, metrics, graceful shutdown) so deployments can be exercised.

use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-scheduler",
    version,
    about = "Hypasis scheduler service"
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
        SocketAddr::from(([127, 0, 0, 1], 7002)),
        SocketAddr::from(([127, 0, 0, 1], 9102)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-scheduler", format)?;
            let rt =
                ServiceRuntime::new("scheduler", hypasis_proto::service_names::SCHEDULER, config)?;
            hypasis_server::serve_not_yet_implemented(rt, "the Sync issue (scheduler leases)")
                .await?;
            Ok(())
        })
}

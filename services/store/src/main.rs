//! `hypasis-store`: the store service.
//!
//! Serves `hypasis.v1.Store` over mTLS gRPC from the embedded redb backend (`--data-dir`) or,
//! when built with `--features fdb`, from FoundationDB (`--backend fdb`).

use anyhow::Context;
use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_server::ServiceRuntime;
use hypasis_storage_api::BlockStorage;
use hypasis_store::{StoreMetrics, StoreService};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Storage backend choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// Embedded redb database in --data-dir (the default; one machine).
    Redb,
    /// FoundationDB cluster (needs a build with --features fdb and libfdb_c).
    Fdb,
}

#[derive(Debug, Parser)]
#[command(
    name = "hypasis-store",
    version,
    about = "Hypasis store service: verified chain history, gaps, checkpoints and scheduler state"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory of the embedded database (`blocks.redb` inside it).
    #[arg(long, env = "HYPASIS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Storage backend.
    #[arg(long, env = "HYPASIS_BACKEND", value_enum)]
    backend: Option<Backend>,
    /// FoundationDB cluster file (backend fdb); default: the client library's default.
    #[arg(long, env = "FDB_CLUSTER_FILE", value_name = "FILE")]
    fdb_cluster_file: Option<PathBuf>,
    /// Chain name used as the FoundationDB subspace (backend fdb).
    #[arg(long, env = "HYPASIS_CHAIN", default_value = "mainnet")]
    chain: String,
}

fn backend(args: &Args) -> Backend {
    args.backend.unwrap_or(Backend::Redb)
}

async fn open_storage(args: &Args) -> anyhow::Result<Arc<dyn BlockStorage>> {
    match backend(args) {
        Backend::Redb => {
            let dir = args
                .data_dir
                .clone()
                .context("--data-dir DIR is required for the embedded backend")?;
            let path = dir.join("blocks.redb");
            let storage = tokio::task::spawn_blocking({
                let path = path.clone();
                move || hypasis_storage_redb::RedbStorage::open(path)
            })
            .await?
            .with_context(|| format!("opening embedded store {}", path.display()))?;
            tracing::info!(path = %path.display(), "embedded redb store open");
            Ok(Arc::new(storage))
        }
        Backend::Fdb => open_fdb(args).await,
    }
}

#[cfg(feature = "fdb")]
async fn open_fdb(args: &Args) -> anyhow::Result<Arc<dyn BlockStorage>> {
    let cluster = args
        .fdb_cluster_file
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let storage = hypasis_storage_fdb::FdbStorage::open(cluster.as_deref(), &args.chain)
        .await
        .context("opening FoundationDB store")?;
    tracing::info!(chain = %args.chain, "FoundationDB store open");
    Ok(Arc::new(storage))
}

#[cfg(not(feature = "fdb"))]
async fn open_fdb(_args: &Args) -> anyhow::Result<Arc<dyn BlockStorage>> {
    anyhow::bail!(
        "this hypasis-store was built without FoundationDB support; rebuild with `--features fdb` (needs libfdb_c)"
    )
}

/// Starts the FoundationDB client network when the fdb backend is selected. The guard lives in
/// `main` and is dropped after the tokio runtime (and with it every `FdbStorage`).
#[cfg(feature = "fdb")]
fn boot_fdb(args: &Args) -> anyhow::Result<Option<hypasis_storage_fdb::FdbNetwork>> {
    if backend(args) != Backend::Fdb {
        return Ok(None);
    }
    // SAFETY: `main` holds the guard until after the runtime is dropped and never leaks it; the
    // process exits by returning from `main`, not through `std::process::exit`.
    #[allow(unsafe_code)]
    let network =
        unsafe { hypasis_storage_fdb::boot() }.context("starting the FoundationDB client")?;
    Ok(Some(network))
}

#[cfg(not(feature = "fdb"))]
fn boot_fdb(_args: &Args) -> anyhow::Result<Option<()>> {
    Ok(None)
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let config = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7001)),
        SocketAddr::from(([127, 0, 0, 1], 9101)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    let _fdb_network = boot_fdb(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let _telemetry = hypasis_telemetry::init("hypasis-store", format)?;
        let storage = open_storage(&args).await?;
        let rt = ServiceRuntime::new("store", hypasis_proto::service_names::STORE, config)?;
        let metrics = StoreMetrics::register(&rt.metrics.registry)?;
        let service = StoreService::new(storage, metrics);
        service
            .refresh_gauges()
            .await
            .context("reading store statistics")?;
        let routes = tonic::service::Routes::new(service.into_server(rt.max_message_bytes));
        rt.set_serving(true).await;
        rt.serve(routes, hypasis_server::shutdown_signal()).await?;
        Ok(())
    });
    // Drop the runtime (and every storage handle) before the FoundationDB network guard.
    drop(runtime);
    result
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

//! `hypasis-store`: the store service.
//!
//! Serves `hypasis.v1.Store` over mTLS gRPC from the embedded redb backend (`--data-dir`) or,
//! when built with `--features fdb`, from FoundationDB (`--backend fdb`).

#[cfg(feature = "fdb")]
use anyhow::Context;
use clap::Parser;
use hypasis_config::CommonArgs;
use hypasis_node::store::StorageConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

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

fn storage_config(args: &Args) -> StorageConfig {
    StorageConfig {
        backend: match backend(args) {
            Backend::Redb => hypasis_node::store::Backend::Redb,
            Backend::Fdb => hypasis_node::store::Backend::Fdb,
        },
        data_dir: args.data_dir.clone(),
        fdb_cluster_file: args.fdb_cluster_file.clone(),
        chain: args.chain.clone(),
    }
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
    let common = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7001)),
        SocketAddr::from(([127, 0, 0, 1], 9101)),
    )?;
    // Held until after the runtime (and with it every storage handle) is dropped.
    let _fdb_network = boot_fdb(&args)?;
    let storage = storage_config(&args);
    let format = common.log_format;
    hypasis_node::run_service("hypasis-store", format, async move {
        let store = hypasis_node::store::open(&storage).await?;
        hypasis_node::store::serve(common, store).await
    })?;
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

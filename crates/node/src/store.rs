//! The store: opened once ([`open`]) for the store service ([`serve`]); standalone opens the
//! embedded backend in its data directory.

use crate::{ConfigError, NodeError};
use hypasis_config::CommonConfig;
use hypasis_server::ServiceRuntime;
use hypasis_storage_api::BlockStorage;
use hypasis_store::{StoreMetrics, StoreService};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which backend holds the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Embedded redb database in a directory (one machine; the default).
    #[default]
    Redb,
    /// FoundationDB (a build with the `fdb` feature and libfdb_c).
    Fdb,
}

/// Where the store's data lives.
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    /// The backend.
    pub backend: Backend,
    /// redb: the directory (`blocks.redb` inside).
    pub data_dir: Option<PathBuf>,
    /// FoundationDB: the cluster file (default: the client library's).
    pub fdb_cluster_file: Option<PathBuf>,
    /// FoundationDB: the chain, used as the subspace.
    pub chain: String,
}

/// Opens the embedded store `DIR/blocks.redb` (creating the directory).
pub async fn open_embedded(dir: &Path) -> Result<Arc<dyn BlockStorage>, NodeError> {
    crate::p2p::create_dir(dir)?;
    let path = dir.join("blocks.redb");
    let storage = tokio::task::spawn_blocking({
        let path = path.clone();
        move || hypasis_storage_redb::RedbStorage::open(path)
    })
    .await
    .map_err(|e| NodeError::Runtime(std::io::Error::other(e)))??;
    tracing::info!(path = %path.display(), "embedded redb store open");
    Ok(Arc::new(storage))
}

/// Opens the configured backend. FoundationDB needs its client network started first (see
/// `hypasis_storage_fdb::boot`, which the store binary calls).
pub async fn open(cfg: &StorageConfig) -> Result<Arc<dyn BlockStorage>, NodeError> {
    match cfg.backend {
        Backend::Redb => {
            let dir = cfg.data_dir.as_ref().ok_or(ConfigError::Missing(
                "--data-dir DIR is required for the embedded backend",
            ))?;
            open_embedded(dir).await
        }
        Backend::Fdb => open_fdb(cfg).await,
    }
}

#[cfg(feature = "fdb")]
async fn open_fdb(cfg: &StorageConfig) -> Result<Arc<dyn BlockStorage>, NodeError> {
    let cluster = cfg
        .fdb_cluster_file
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let storage = hypasis_storage_fdb::FdbStorage::open(cluster.as_deref(), &cfg.chain).await?;
    tracing::info!(chain = %cfg.chain, "FoundationDB store open");
    Ok(Arc::new(storage))
}

#[cfg(not(feature = "fdb"))]
async fn open_fdb(_cfg: &StorageConfig) -> Result<Arc<dyn BlockStorage>, NodeError> {
    Err(ConfigError::Unsupported(
        "this build has no FoundationDB support; rebuild with `--features fdb` (needs libfdb_c)",
    )
    .into())
}

/// Runs the store service over `storage` until SIGTERM/SIGINT.
pub async fn serve(common: CommonConfig, storage: Arc<dyn BlockStorage>) -> Result<(), NodeError> {
    let rt = ServiceRuntime::new("store", hypasis_proto::service_names::STORE, common)?;
    let metrics = StoreMetrics::register(&rt.metrics.registry)?;
    let service = StoreService::new(storage, metrics);
    service.refresh_gauges().await?;
    let routes = tonic::service::Routes::new(service.into_server(rt.max_message_bytes));
    rt.set_serving(true).await;
    rt.serve(routes, hypasis_server::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_store_needs_a_directory_and_fdb_a_feature() {
        let err = open(&StorageConfig::default()).await.unwrap_err();
        assert!(
            matches!(err, NodeError::Config(ConfigError::Missing(_))),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let s = open(&StorageConfig {
            data_dir: Some(dir.path().join("d")),
            ..StorageConfig::default()
        })
        .await
        .unwrap();
        assert_eq!(s.stats().await.unwrap().blocks, 0);
        #[cfg(not(feature = "fdb"))]
        assert!(matches!(
            open(&StorageConfig {
                backend: Backend::Fdb,
                ..StorageConfig::default()
            })
            .await,
            Err(NodeError::Config(ConfigError::Unsupported(_)))
        ));
    }
}

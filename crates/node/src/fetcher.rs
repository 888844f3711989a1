//! The fetcher: built once ([`build`]) for the fetcher service ([`serve`]) and for standalone.

use crate::p2p::{self, NodeKey, P2pConfig};
use crate::runtime::default_advertise;
use crate::{ConfigError, NodeError};
use hypasis_config::{CommonConfig, TlsMode};
use hypasis_coordination::{Coordinator, EtcdCoordinator, EtcdOptions};
use hypasis_fetcher::{Fetcher, FetcherConfig, FetcherGrpc, FetcherMetrics};
use hypasis_network::pool::Pool;
use hypasis_primitives::ChainSpec;
use hypasis_proto::v1;
use hypasis_scheduler::api::LeaseSource;
use hypasis_scheduler::client::GrpcLeases;
use hypasis_server::ServiceRuntime;
use hypasis_storage_api::sink::BlockSink;
use hypasis_store::client::GrpcStoreSink;
use std::sync::Arc;

/// How a fetcher works, whatever it is wired to.
#[derive(Debug, Clone)]
pub struct FetcherSettings {
    /// Units worked on at once.
    pub parallel_units: u32,
    /// Bytes of blocks in flight at most (at least 1 MiB).
    pub memory_budget: u64,
}

impl Default for FetcherSettings {
    fn default() -> Self {
        Self {
            parallel_units: 4,
            memory_budget: 256 * 1024 * 1024,
        }
    }
}

/// The default id of a fetcher: `PREFIX-` and the first 12 hex digits of its node id.
pub fn default_id(prefix: &str, node_id: &hypasis_rlpx::identity::NodeId) -> String {
    format!("{prefix}-{}", &format!("{node_id:x}")[..12])
}

/// The chain as the gRPC API names it.
pub fn chain_id(spec: &ChainSpec) -> v1::ChainId {
    v1::ChainId {
        chain_id: spec.chain_id,
        name: spec.name.clone(),
        genesis_hash: spec.genesis_hash.to_vec(),
    }
}

/// Assembles a fetcher for `spec` over its seams: where leases come from, where blocks go,
/// the peer pool, and (optionally) a validator service instead of the in-process library.
#[allow(clippy::too_many_arguments)]
pub fn build(
    spec: &ChainSpec,
    id: String,
    settings: &FetcherSettings,
    leases: Arc<dyn LeaseSource>,
    sink: Arc<dyn BlockSink>,
    pool: Pool,
    validator_service: Option<tonic::transport::Channel>,
    metrics: FetcherMetrics,
) -> Fetcher {
    let mut fc = FetcherConfig::new(id);
    fc.fetch = hypasis_downloader::fetch::FetchConfig::for_chain(spec);
    fc.parallel_units = settings.parallel_units.max(1);
    fc.memory_budget = settings.memory_budget.max(1024 * 1024);
    // The validation seam: the validator service when given, else the library in process.
    let validator: Arc<dyn hypasis_validator_api::RangeValidator> = match validator_service {
        Some(c) => Arc::new(hypasis_validator::GrpcValidator::new(c, chain_id(spec))),
        None => Arc::new(hypasis_validator::LocalValidator::new(spec.clone())),
    };
    Fetcher::new(fc, leases, sink, pool, validator, metrics)
}

/// Leases from the schedulers at `urls` (the leader and its standbys; dialed lazily, the
/// leader hint followed).
pub fn scheduler_leases(urls: &[String], tls: &TlsMode) -> Result<GrpcLeases, ConfigError> {
    let urls: Vec<String> = urls
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let scheme = match tls {
        TlsMode::Mutual(_) => "https://",
        TlsMode::Insecure => "http://",
    };
    for u in &urls {
        if !u.starts_with(scheme) || u.parse::<tonic::transport::Uri>().is_err() {
            return Err(ConfigError::BadUrl {
                flag: "--scheduler",
                url: u.clone(),
                scheme,
            });
        }
    }
    let tls = tls.clone();
    let dial = move |url: String| {
        let tls = tls.clone();
        async move {
            hypasis_server::client_channel(&url, &tls, "fetcher", "scheduler")
                .await
                .map_err(Into::into)
        }
    };
    GrpcLeases::with_endpoints(urls, dial).map_err(|_| ConfigError::NoUrl {
        flag: "--scheduler",
    })
}

/// Settings of the fetcher service.
#[derive(Debug, Clone)]
pub struct FetcherServiceConfig {
    /// Listen addresses, TLS, log format.
    pub common: CommonConfig,
    /// The chain.
    pub spec: ChainSpec,
    /// Scheduler URLs (leader and standbys).
    pub schedulers: Vec<String>,
    /// Store URL.
    pub store: String,
    /// Validator service URL (else the library in process).
    pub validator: Option<String>,
    /// Peers and discovery.
    pub p2p: P2pConfig,
    /// The devp2p node key.
    pub node_key: NodeKey,
    /// etcd endpoints for membership (none: no announcement).
    pub etcd: Vec<String>,
    /// Key prefix in etcd.
    pub etcd_prefix: String,
    /// Parallelism and memory.
    pub settings: FetcherSettings,
    /// This fetcher's id (default: from its node id).
    pub id: Option<String>,
    /// Address announced to the scheduler (default: the listen address).
    pub advertise: Option<String>,
}

/// Runs the fetcher service until SIGTERM/SIGINT.
pub async fn serve(cfg: FetcherServiceConfig) -> Result<(), NodeError> {
    let advertise = cfg
        .advertise
        .clone()
        .unwrap_or_else(|| default_advertise(&cfg.common));
    let tls = cfg.common.tls.clone();
    let rt = ServiceRuntime::new(
        "fetcher",
        hypasis_proto::service_names::FETCHER,
        cfg.common.clone(),
    )?;
    rt.metrics.set_chain(&cfg.spec.name);
    let metrics = FetcherMetrics::new(&rt.metrics.registry);
    let secret = cfg.node_key.load()?;
    let p2p = p2p::start(&cfg.spec, &cfg.p2p, secret).await?;
    let id = cfg
        .id
        .clone()
        .unwrap_or_else(|| default_id("fetcher", &p2p.node_id));
    let leases = scheduler_leases(&cfg.schedulers, &tls)?;

    let (stop_tx, stop_rx) = crate::runtime::stop_on_signal();
    let mut dial_stop = stop_rx.clone();
    let Some(store) =
        hypasis_server::connect_retrying(&cfg.store, &tls, "fetcher", "store", &mut dial_stop)
            .await?
    else {
        p2p.pool.shutdown().await;
        return Ok(());
    };
    let validator = match &cfg.validator {
        Some(url) => {
            let Some(c) =
                hypasis_server::connect_retrying(url, &tls, "fetcher", "validator", &mut dial_stop)
                    .await?
            else {
                p2p.pool.shutdown().await;
                return Ok(());
            };
            tracing::info!(validator = %url, "validating through the validator service");
            Some(c)
        }
        None => None,
    };
    let fetcher = build(
        &cfg.spec,
        id.clone(),
        &cfg.settings,
        Arc::new(leases),
        Arc::new(GrpcStoreSink::new(store, rt.max_message_bytes)),
        p2p.pool.clone(),
        validator,
        metrics,
    );
    let mut tasks = vec![tokio::spawn({
        let f = fetcher.clone();
        let rx = stop_rx.clone();
        async move { f.run(rx).await }
    })];
    if !cfg.etcd.is_empty() {
        let coord: Arc<dyn Coordinator> = Arc::new(
            EtcdCoordinator::connect(
                &cfg.etcd,
                EtcdOptions {
                    prefix: cfg.etcd_prefix.clone(),
                    ..EtcdOptions::default()
                },
            )
            .await?,
        );
        tasks.push(tokio::spawn(hypasis_fetcher::announce_membership(
            fetcher.clone(),
            coord,
            id.clone(),
            advertise,
            stop_rx.clone(),
        )));
    }

    rt.set_serving(true).await;
    let routes = tonic::service::Routes::new(
        FetcherGrpc::new(fetcher.clone(), id, chain_id(&cfg.spec)).into_server(),
    );
    let served = rt.serve(routes, crate::runtime::stopped(stop_rx)).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    p2p.pool.shutdown().await;
    Ok(served?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_urls_must_match_the_tls_mode() {
        let insecure = TlsMode::Insecure;
        assert!(scheduler_leases(&["http://127.0.0.1:7002".into()], &insecure).is_ok());
        let err = scheduler_leases(&["https://127.0.0.1:7002".into()], &insecure).unwrap_err();
        assert!(matches!(err, ConfigError::BadUrl { .. }), "{err}");
        let mtls = TlsMode::Mutual("/nonexistent".into());
        assert!(matches!(
            scheduler_leases(&["http://127.0.0.1:7002".into()], &mtls),
            Err(ConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            scheduler_leases(&[" ".into()], &insecure),
            Err(ConfigError::NoUrl { .. })
        ));
    }
}

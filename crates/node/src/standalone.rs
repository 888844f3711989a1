//! Standalone mode: the five services in one process, on the embedded store (redb) with the
//! in-process coordinator — assembled from the same builders as the cluster's services
//! ([`crate::p2p`], [`crate::fetcher`], [`crate::scheduler`], [`crate::checkpoint`],
//! [`crate::store`]), with the in-process side of every seam and no etcd:
//!
//! - **store**: one embedded redb store shared by everything below, and served as `hypasis.v1.Store`;
//! - **checkpoint**: the configured sources (Heimdall, L1, beacon) followed into the store by
//!   the checkpoint follower, served as `hypasis.v1.CheckpointService`;
//! - **scheduler**: a [`SchedulerNode`] elected by a [`LocalCoordinator`], its durable state in
//!   the store, served as `hypasis.v1.Scheduler`;
//! - **fetcher**: a [`Fetcher`] on a devp2p pool taking leases from the node and writing to
//!   the store, announcing its tip through the coordinator, served as `hypasis.v1.Fetcher`;
//! - **validator**: the validation library inside the fetcher, and `hypasis.v1.Validator` served.
//!
//! All five gRPC services listen on one address (mTLS with the `scheduler` identity by default),
//! so `hypasis status --scheduler` and grpcurl work against a standalone process as against a
//! cluster.

use crate::fetcher::FetcherSettings;
use crate::p2p::{NodeKey, P2pConfig};
use crate::scheduler::SchedulerSettings;
use crate::{ConfigError, NodeError};
use hypasis_checkpoint::CheckpointMetrics;
use hypasis_checkpoint::config::SourceArgs;
use hypasis_checkpoint::service::{CheckpointGrpc, FollowerConfig, Hub};
use hypasis_checkpoint::store::LocalStore;
use hypasis_checkpoint_api::AnchorStream;
use hypasis_config::{CommonConfig, LogFormat, TlsMode};
use hypasis_coordination::{Coordinator, LocalCoordinator};
use hypasis_fetcher::{Fetcher, FetcherGrpc, FetcherMetrics};
use hypasis_gaps::Range;
use hypasis_primitives::{ChainSpec, VerificationLevel};
use hypasis_scheduler::service::SchedulerNode;
use hypasis_scheduler::store::StorageSchedulerStore;
use hypasis_scheduler::{Anchor, AnchorSource, NodeLeases, SchedulerMetrics, Status};
use hypasis_server::ServiceRuntime;
use hypasis_storage_api::BlockStorage;
use hypasis_storage_api::sink::StorageSink;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What goes wrong when starting (kept as the name standalone callers know).
pub type StandaloneError = NodeError;

/// Where the sync is anchored.
#[derive(Debug, Clone)]
pub enum AnchorChoice {
    /// A trusted block `NUMBER:HASH`.
    Trusted(Anchor),
    /// The newest checkpoint the sources agree on when the schedule is first made.
    LatestCheckpoint,
    /// The checkpoint follower's trusted head (Polygon: Heimdall's latest milestone, agreed by
    /// its Heimdall sources), waited for up to [`TRUSTED_HEAD_WAIT`] at start.
    TrustedHead,
}

/// How long standalone waits at start for the checkpoint sources' first trusted head.
pub const TRUSTED_HEAD_WAIT: Duration = Duration::from_secs(60);

/// Settings of a standalone process.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// The chain.
    pub spec: ChainSpec,
    /// Data directory (`blocks.redb` inside).
    pub data_dir: PathBuf,
    /// Peers, discovery and the devp2p listen address.
    pub p2p: P2pConfig,
    /// The anchor.
    pub anchor: AnchorChoice,
    /// A trusted head the operator gives (`--trusted-head NUMBER:HASH`), followed beside the
    /// checkpoint follower's.
    pub trusted_head: Option<Anchor>,
    /// Checkpoint sources (Heimdall, L1, beacon).
    pub sources: SourceArgs,
    /// How often the checkpoint sources are polled.
    pub checkpoint_poll: Duration,
    /// First checkpoint id to fetch when none is stored (default: the newest).
    pub checkpoints_from: Option<u64>,
    /// gRPC address of the five services.
    pub listen: SocketAddr,
    /// Metrics address.
    pub metrics_listen: SocketAddr,
    /// mTLS directory (the `scheduler` identity serves) or plaintext.
    pub tls: TlsMode,
    /// Units fetched at once.
    pub parallel_units: u32,
    /// Bytes of blocks in flight at most.
    pub memory_budget: u64,
    /// Unit size where no checkpoint applies.
    pub unit_size: u64,
    /// Lowest block to sync.
    pub genesis: u64,
    /// Lease TTL.
    pub lease_ttl: Duration,
    /// Cap on backward blocks leased per second (the tranquilizer for background work).
    pub backward_max_blocks_per_second: Option<f64>,
    /// Blocks past trusted information (anchor, newest checkpoint, highest stored block) the
    /// scheduler cuts units to; the peers' claimed tip is bounded by it.
    pub tip_margin: u64,
    /// devp2p node key file, loaded or created (default: `DATA_DIR/nodekey`), so the enode
    /// survives restarts.
    pub nodekey: Option<PathBuf>,
}

impl StandaloneConfig {
    /// Defaults for `spec` in `data_dir`.
    pub fn new(spec: ChainSpec, data_dir: PathBuf) -> Self {
        Self {
            spec,
            data_dir,
            p2p: P2pConfig::default(),
            anchor: AnchorChoice::LatestCheckpoint,
            trusted_head: None,
            sources: SourceArgs::default(),
            checkpoint_poll: Duration::from_secs(5),
            checkpoints_from: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 7000)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
            tls: TlsMode::Insecure,
            parallel_units: 8,
            memory_budget: 256 * 1024 * 1024,
            unit_size: 1024,
            genesis: 0,
            lease_ttl: Duration::from_secs(30),
            backward_max_blocks_per_second: None,
            tip_margin: hypasis_scheduler::DEFAULT_TIP_MARGIN,
            nodekey: None,
        }
    }
}

/// A running standalone process.
#[derive(Debug)]
pub struct Standalone {
    storage: Arc<dyn BlockStorage>,
    node: Arc<SchedulerNode>,
    fetcher: Fetcher,
    genesis: u64,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<Result<(), hypasis_server::ServerError>>,
    started: Instant,
    grpc: SocketAddr,
    node_id: hypasis_rlpx::identity::NodeId,
}

/// A snapshot of the sync.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The scheduler's status (once it leads and is anchored).
    pub status: Option<Status>,
    /// Highest block the connected peers claim as their head (plausible claims only; `None`
    /// while no peer's head is known, e.g. eth/68 peers before their head header arrived).
    pub peer_tip: Option<u64>,
    /// Connected peers.
    pub peers: usize,
    /// Blocks/s stored by the fetcher, forward and backward.
    pub rates: [f64; 2],
}

/// The end-of-run summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The range accounted: `[genesis, tip]`.
    pub range: Option<Range>,
    /// Blocks stored.
    pub blocks: u64,
    /// Bytes stored (header + body + receipts).
    pub bytes: u64,
    /// Time since start.
    pub elapsed: Duration,
    /// Missing ranges within `range`.
    pub gaps: Vec<Range>,
    /// Blocks per verification level.
    pub levels: BTreeMap<VerificationLevel, u64>,
    /// The anchor.
    pub anchor: Option<Anchor>,
}

impl Standalone {
    /// Opens the store and starts every service.
    pub async fn start(cfg: StandaloneConfig) -> Result<Self, StandaloneError> {
        let storage = crate::store::open_embedded(&cfg.data_dir).await?;
        let spec = cfg.spec.clone();
        if cfg.genesis == 0 {
            store_genesis(&storage, &spec).await?;
        }
        if !matches!(cfg.anchor, AnchorChoice::Trusted(_)) && cfg.sources.is_empty() {
            return Err(ConfigError::NoAnchor.into());
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let rt = ServiceRuntime::new(
            "scheduler",
            hypasis_proto::service_names::SCHEDULER,
            CommonConfig {
                listen: cfg.listen,
                metrics_listen: cfg.metrics_listen,
                tls: cfg.tls.clone(),
                log_format: LogFormat::Text,
            },
        )?
        .also_serving(&[
            hypasis_proto::service_names::STORE,
            hypasis_proto::service_names::FETCHER,
            hypasis_proto::service_names::VALIDATOR,
            hypasis_proto::service_names::CHECKPOINT,
        ]);
        rt.metrics.set_chain(&spec.name);
        let registry = rt.metrics.registry.clone();
        let max_msg = rt.max_message_bytes;

        // Store.
        let store_svc = hypasis_store::StoreService::new(
            storage.clone(),
            hypasis_store::StoreMetrics::register(&registry)?,
        );

        // Checkpoints.
        let cp_metrics = CheckpointMetrics::register(&registry)?;
        let hub = Hub::new(Arc::new(LocalStore(storage.clone())), cp_metrics.clone());
        if !cfg.sources.is_empty() {
            let checker = crate::checkpoint::checker(&cfg.sources, cp_metrics).await?;
            let follower = crate::checkpoint::follower(
                checker,
                hub.clone(),
                cfg.checkpoint_poll,
                cfg.checkpoints_from,
                None,
            );
            // Catch up with the sources before the sync starts (bounded), so that the first
            // units are checked against the checkpoints they contain.
            let max_per_round = FollowerConfig::default().max_per_round;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(10), follower.sync_once()).await {
                    Ok(Ok(n)) if n < max_per_round => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "first checkpoint round failed; syncing on");
                        break;
                    }
                    Err(_) => break,
                }
            }
            tasks.push(tokio::spawn(
                follower.run(crate::runtime::stopped(stop_rx.clone())),
            ));
        }

        // Scheduler.
        let coordinator: Arc<dyn Coordinator> = Arc::new(LocalCoordinator::new());
        let anchor = match &cfg.anchor {
            AnchorChoice::Trusted(a) => AnchorSource::Fixed(*a),
            AnchorChoice::LatestCheckpoint => AnchorSource::LatestCheckpoint,
            // From the follower's hub, as the scheduler service takes it from the checkpoint
            // service: never from a source read directly.
            AnchorChoice::TrustedHead => {
                let head = tokio::time::timeout(TRUSTED_HEAD_WAIT, hub.wait_above(None))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .ok_or(NodeError::NoTrustedHead {
                        waited: TRUSTED_HEAD_WAIT,
                    })?;
                tracing::info!(head = %head, "anchor: the trusted head");
                AnchorSource::Fixed(Anchor {
                    number: head.number,
                    hash: Some(head.hash),
                })
            }
        };
        let node = crate::scheduler::build(
            &spec,
            &SchedulerSettings {
                genesis: cfg.genesis,
                unit_size: cfg.unit_size,
                lease_ttl: cfg.lease_ttl,
                backward_share: None,
                backward_max_blocks_per_second: cfg.backward_max_blocks_per_second,
                tip_margin: cfg.tip_margin,
                refresh_interval: Duration::from_millis(500),
                progress_interval: Duration::from_secs(30),
                static_tip: None,
            },
            anchor,
            format!("in-process://{}", cfg.listen),
            Arc::new(StorageSchedulerStore(storage.clone())),
            // Checkpoints as the follower accepted them, from its hub.
            Arc::new(hub.clone()),
            coordinator.clone(),
            SchedulerMetrics::register(&registry)?,
            None,
        );
        if let Some(heads) =
            crate::scheduler::with_operator_head(Some(Arc::new(hub.clone())), cfg.trusted_head)
        {
            node.follow_trusted_head(heads);
        }
        tasks.push(tokio::spawn(node.clone().run(stop_rx.clone())));

        // Fetcher on the devp2p pool.
        let secret = NodeKey {
            file: cfg.nodekey.clone(),
            data_dir: Some(cfg.data_dir.clone()),
        }
        .load()?;
        let p2p = crate::p2p::start(&spec, &cfg.p2p, secret).await?;
        let node_id = p2p.node_id;
        let id = crate::fetcher::default_id("standalone", &node_id);
        let fetcher = crate::fetcher::build(
            &spec,
            id.clone(),
            &FetcherSettings {
                parallel_units: cfg.parallel_units,
                memory_budget: cfg.memory_budget,
            },
            Arc::new(NodeLeases(node.clone())),
            Arc::new(StorageSink(storage.clone())),
            p2p.pool,
            None,
            FetcherMetrics::new(&registry),
        );
        tasks.push(tokio::spawn({
            let f = fetcher.clone();
            let rx = stop_rx.clone();
            let node = node.clone();
            async move {
                // The in-process coordinator elects the node at once; wait for it rather than
                // have the first acquire refused.
                let deadline = Instant::now() + Duration::from_secs(10);
                while node.leader_state().is_none() && Instant::now() < deadline && !*rx.borrow() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                f.run(rx).await
            }
        }));
        tasks.push(tokio::spawn(hypasis_fetcher::announce_membership(
            fetcher.clone(),
            coordinator,
            id.clone(),
            format!("in-process://{}", cfg.listen),
            stop_rx.clone(),
        )));
        // The five gRPC services on one address.
        let validator_metrics = hypasis_validator::ValidatorMetrics::register(&registry)?;
        let mut routes = tonic::service::Routes::new(
            node.grpc_service()
                .max_decoding_message_size(max_msg)
                .max_encoding_message_size(max_msg),
        );
        routes = routes
            .add_service(store_svc.into_server(max_msg))
            .add_service(
                FetcherGrpc::new(fetcher.clone(), id, crate::fetcher::chain_id(&spec))
                    .into_server(),
            )
            .add_service(
                hypasis_validator::ValidatorService::new(vec![spec.clone()], validator_metrics)
                    .into_server(max_msg),
            )
            .add_service(CheckpointGrpc::new(hub.clone()).into_server());
        rt.set_serving(true).await;
        let grpc = cfg.listen;
        let srx = stop_rx.clone();
        let server = tokio::spawn(async move {
            rt.serve(routes, async move {
                crate::runtime::stopped(srx).await;
                hub.close();
            })
            .await
        });
        Ok(Self {
            storage,
            node,
            fetcher,
            genesis: cfg.genesis,
            stop,
            tasks,
            server,
            started: Instant::now(),
            grpc,
            node_id,
        })
    }

    /// The devp2p node id (the `enode://` id; persisted in the node key file).
    pub fn node_id(&self) -> hypasis_rlpx::identity::NodeId {
        self.node_id
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// The store.
    pub fn storage(&self) -> &Arc<dyn BlockStorage> {
        &self.storage
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Whether the server task ended (it failed to bind or stopped).
    pub fn server_finished(&self) -> bool {
        self.server.is_finished()
    }

    /// Where the sync is.
    pub async fn progress(&self) -> Progress {
        let status = match self.node.leader_state() {
            Some(s) => Some(s.lock().await.scheduler().status()),
            None => None,
        };
        Progress {
            status,
            peer_tip: self.fetcher.tip(),
            peers: self.fetcher.pool().peer_count(),
            rates: self.fetcher.rates(),
        }
    }

    /// The summary over `[genesis, tip]` (`tip`: the scheduler's, when `None`).
    pub async fn summary(&self, tip: Option<u64>) -> Result<Summary, StandaloneError> {
        let p = self.progress().await;
        let tip = tip.or(p.status.as_ref().and_then(|s| s.tip));
        let range = tip.and_then(|t| Range::new(self.genesis, t).ok());
        let stats = self.storage.stats().await?;
        let gaps = match range {
            Some(r) => self.storage.gaps(r).await?,
            None => Vec::new(),
        };
        let levels = self
            .storage
            .verification()
            .await?
            .into_iter()
            .map(|(l, set)| {
                let n = match range {
                    Some(r) => set.count_within(r),
                    None => set.count(),
                };
                (l, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Ok(Summary {
            range,
            blocks: stats.blocks,
            bytes: stats.bytes,
            elapsed: self.started.elapsed(),
            gaps,
            levels,
            anchor: p.status.and_then(|s| s.anchor),
        })
    }

    /// Stops every service and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for (i, t) in self.tasks.into_iter().enumerate() {
            let started = Instant::now();
            if tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .is_err()
            {
                tracing::warn!(task = i, "a background task did not stop in time");
            }
            tracing::debug!(task = i, elapsed = ?started.elapsed(), "task stopped");
        }
        let started = Instant::now();
        match tokio::time::timeout(Duration::from_secs(10), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server stopped with an error"),
            Ok(_) => {}
            Err(_) => tracing::warn!("server did not stop in time"),
        }
        tracing::debug!(elapsed = ?started.elapsed(), "server stopped");
        self.fetcher.pool().shutdown().await;
    }
}

/// Stores block 0 from the chain spec (trusted by definition: its hash is the chain's genesis
/// hash, checked in every peer's handshake) unless it is there. Peers often do not serve it.
pub async fn store_genesis(
    storage: &Arc<dyn BlockStorage>,
    spec: &ChainSpec,
) -> Result<(), StandaloneError> {
    if storage.block_by_number(0).await?.is_some() {
        return Ok(());
    }
    let mut header = Vec::new();
    alloy_rlp::Encodable::encode(&spec.genesis_header, &mut header);
    let hash = hypasis_primitives::B256::from(alloy_primitives::keccak256(&header));
    if hash != spec.genesis_hash {
        return Err(ConfigError::GenesisMismatch {
            computed: hash,
            expected: spec.genesis_hash,
        }
        .into());
    }
    // Body: [transactions = [], ommers = []] (+ withdrawals = [] when the header has a root).
    let body: &[u8] = if spec.genesis_header.withdrawals_root.is_some() {
        &[0xc3, 0xc0, 0xc0, 0xc0]
    } else {
        &[0xc2, 0xc0, 0xc0]
    };
    let block = hypasis_primitives::RawBlock {
        number: 0,
        hash,
        header: header.into(),
        body: body.to_vec().into(),
        receipts: hypasis_storage_api::blockfile::receipts_file_item(&[]).into(),
    };
    storage
        .put_batch(&hypasis_storage_api::BlockBatch {
            blocks: vec![block],
            level: VerificationLevel::Linked,
        })
        .await?;
    Ok(())
}

/// Parses `--trusted NUMBER:0xHASH`.
pub fn parse_trusted(s: &str) -> Result<Anchor, ConfigError> {
    crate::scheduler::parse_anchor("--trusted", s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_anchor_parses_and_rejects_garbage() {
        let a =
            parse_trusted("42:0x1111111111111111111111111111111111111111111111111111111111111111")
                .unwrap();
        assert_eq!(a.number, 42);
        assert!(parse_trusted("42").is_err());
        assert!(parse_trusted("x:0x11").is_err());
        assert!(parse_trusted("42:0x11").is_err());
    }

    /// The devp2p identity lives in the data directory: a second start has the same enode,
    /// and `--nodekey` overrides it.
    #[tokio::test]
    async fn two_starts_in_one_data_dir_keep_the_enode() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("hypasis_node=debug")
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec::by_name("devnet").unwrap();
        let cfg = |data: &std::path::Path| {
            let mut c = StandaloneConfig::new(spec.clone(), data.to_path_buf());
            c.anchor = AnchorChoice::Trusted(Anchor {
                number: 0,
                hash: Some(spec.genesis_hash),
            });
            c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            c.metrics_listen = SocketAddr::from(([127, 0, 0, 1], 0));
            c
        };
        // Background tasks may hold the store's file lock a moment after shutdown.
        async fn start(c: StandaloneConfig) -> Standalone {
            for _ in 0..100 {
                match Standalone::start(c.clone()).await {
                    Ok(s) => return s,
                    Err(NodeError::Storage(_)) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("the store stayed locked after shutdown");
        }
        let first = start(cfg(dir.path())).await;
        let id = first.node_id();
        first.shutdown().await;
        let second = start(cfg(dir.path())).await;
        assert_eq!(second.node_id(), id);
        second.shutdown().await;
        let mut own = cfg(dir.path());
        own.nodekey = Some(dir.path().join("other.key"));
        let third = start(own).await;
        assert_ne!(third.node_id(), id);
        third.shutdown().await;
    }
}

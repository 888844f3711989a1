//! The fetcher against real parts: a real peer pool connected to real devp2p servers serving a
//! generated chain, a real redb store and the real durable scheduler in process.

use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::Header;
use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable};
use hypasis_fetcher::{Fetcher, FetcherConfig, FetcherMetrics, StorageSink};
use hypasis_gaps::Range;
use hypasis_network::{
    BlockSource, LocalStatus, MemoryBlockSource, SessionConfig,
    pool::Pool,
    server::Server,
    testchain::{self, TestBlock},
};
use hypasis_primitives::ChainSpec;
use hypasis_rlpx::identity::generate_secret_key;
use hypasis_scheduler::InProcessLeases;
use hypasis_scheduler::{
    Anchor, AnchorSource, BackoffConfig, DurableScheduler, SchedulerConfig, SystemClock,
    store::StorageSchedulerStore,
};
use hypasis_storage_api::BlockStorage;
use hypasis_storage_redb::RedbStorage;
use hypasis_validator::{GrpcValidator, LocalValidator};
use hypasis_validator_api::RangeValidator;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

const GENESIS_JSON: &str = r#"{
  "config": {"chainId": 4242, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
             "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
             "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0},
  "difficulty": "0x1", "gasLimit": "0x1c9c380", "alloc": {}
}"#;

/// The same chain with every header's timestamp + 1 and re-linked (a consistent fork).
fn forked(blocks: &[TestBlock]) -> MemoryBlockSource {
    let mut s = MemoryBlockSource::new();
    let mut parent = B256::ZERO;
    for b in blocks {
        let mut h = Header::decode(&mut &b.header[..]).unwrap();
        if b.number > 0 {
            h.parent_hash = parent;
        }
        h.timestamp += 1;
        let mut out = Vec::new();
        h.encode(&mut out);
        parent = alloy_primitives::keccak256(&out);
        s.insert(b.number, out.into(), b.body.clone(), b.receipts.clone());
    }
    s
}

async fn serve(source: Arc<dyn BlockSource>, genesis: B256, latest: u64) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = SessionConfig::new(testchain::test_status(genesis, latest));
    cfg.block_source = Some(source);
    Server::spawn(listener, generate_secret_key(), cfg, 16).unwrap()
}

struct Setup {
    blocks: Vec<TestBlock>,
    storage: Arc<RedbStorage>,
    fetcher: Fetcher,
    _dir: tempfile::TempDir,
    _servers: Vec<Server>,
    liar: Option<Server>,
    later: Vec<hypasis_rlpx::Enode>,
}

/// `testchain` blocks with the header's logs bloom set from the receipts (the generator leaves
/// it empty) and re-linked, so that the full validation rules pass.
fn valid_chain(count: u64) -> Vec<TestBlock> {
    let mut out = testchain::generate(count, 4, None);
    // Block 0 is the spec's genesis, so that block 1 links to the chain's genesis hash.
    let spec = ChainSpec::from_genesis_json(GENESIS_JSON).unwrap();
    let mut genesis = Vec::new();
    spec.genesis_header.encode(&mut genesis);
    out[0].hash = alloy_primitives::keccak256(&genesis);
    out[0].header = genesis.into();
    assert_eq!(out[0].hash, spec.genesis_hash);
    testchain::with_receipt_blooms(&mut out, B256::ZERO);
    out
}

/// Serves the validator service for `spec` on a loopback port (plaintext) and returns a channel.
async fn validator_service(spec: &ChainSpec) -> tonic::transport::Channel {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = prometheus::Registry::new();
    let svc = hypasis_validator::ValidatorService::new(
        vec![spec.clone()],
        hypasis_validator::ValidatorMetrics::register(&registry).unwrap(),
    )
    .into_server(64 << 20);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A fresh redb store in a temporary directory (kept alive by the returned guard), and the
/// scheduler's store over it.
fn open_store() -> (
    tempfile::TempDir,
    Arc<RedbStorage>,
    Arc<StorageSchedulerStore>,
) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(RedbStorage::open(dir.path().join("db.redb")).unwrap());
    let store = Arc::new(StorageSchedulerStore(
        storage.clone() as Arc<dyn BlockStorage>
    ));
    (dir, storage, store)
}

/// The fetcher settings of these tests: small requests and windows over a short chain.
fn fetcher_config(name: &str) -> FetcherConfig {
    let mut fc = FetcherConfig::new(name);
    fc.initial_block_bytes = 2048;
    fc.progress_interval = Duration::from_millis(500);
    fc.fetch.window = 128;
    fc.fetch.headers_per_request = 128;
    fc.fetch.bodies_per_request = 32;
    fc.fetch.receipts_per_request = 32;
    fc
}

async fn setup(count: u64, honest: usize, liar: bool, budget: u64, unit: u64) -> Setup {
    setup_with(count, honest, liar, budget, unit, false).await
}

async fn setup_with(
    count: u64,
    honest: usize,
    liar: bool,
    budget: u64,
    unit: u64,
    remote_validator: bool,
) -> Setup {
    init_tracing();
    let blocks = valid_chain(count);
    let genesis = blocks[0].hash;
    let latest = count - 1;
    let source: Arc<dyn BlockSource> = Arc::new(testchain::source(&blocks));
    let mut servers = Vec::new();
    for _ in 0..honest {
        servers.push(serve(source.clone(), genesis, latest).await);
    }
    let liar = if liar {
        Some(serve(Arc::new(forked(&blocks)), genesis, latest).await)
    } else {
        None
    };

    // With a liar, it is the only peer at first (the test adds the honest ones once it is
    // banned), so that it is certainly asked.
    let honest_peers: Vec<_> = servers.iter().map(|s| s.enode().clone()).collect();
    let (static_peers, later) = match &liar {
        Some(l) => (vec![l.enode().clone()], honest_peers),
        None => (honest_peers, Vec::new()),
    };
    let mut pc = testchain::test_pool_config(genesis, 0, static_peers);
    // Timeouts generous enough that a loaded CI machine does not get honest peers banned
    // for slowness (four timeouts ban a peer for ten minutes, and then nothing is left).
    pc.min_timeout = Duration::from_secs(1);
    pc.max_timeout = Duration::from_secs(10);
    pc.target_rtt = Duration::from_millis(200);
    pc.redial_interval = Duration::from_millis(200);
    pc.acquire_timeout = Duration::from_secs(10);
    pc.max_attempts = 20;
    let pool = Pool::start(pc, generate_secret_key(), None);
    let want = if liar.is_some() { 1 } else { honest };
    assert!(pool.wait_for_peers(want, Duration::from_secs(10)).await);

    let (dir, storage, store) = open_store();
    let config = sync_config(unit);
    let anchor = mid_anchor(&blocks, count);
    let mut durable = lead(store, config, anchor).await;
    durable.observe_tip(latest).await.unwrap();
    let leases = Arc::new(InProcessLeases::new(Arc::new(Mutex::new(durable))));

    let spec = ChainSpec::from_genesis_json(GENESIS_JSON).unwrap();
    let mut fc = fetcher_config("fetcher-test");
    fc.memory_budget = budget;
    fc.link_wait = Duration::from_secs(5);
    // The validation seam: the validator service over gRPC, or the library in process.
    let validator: Arc<dyn RangeValidator> = if remote_validator {
        let chain = hypasis_proto::v1::ChainId {
            chain_id: spec.chain_id,
            name: spec.name.clone(),
            genesis_hash: spec.genesis_hash.to_vec(),
        };
        Arc::new(GrpcValidator::new(validator_service(&spec).await, chain))
    } else {
        Arc::new(LocalValidator::new(spec))
    };
    let fetcher = Fetcher::new(
        fc,
        leases,
        Arc::new(StorageSink(storage.clone() as Arc<dyn BlockStorage>)),
        pool,
        validator,
        FetcherMetrics::unregistered(),
    );
    Setup {
        blocks,
        storage,
        fetcher,
        _dir: dir,
        _servers: servers,
        liar,
        later,
    }
}

async fn run_until_synced(s: &Setup, from: u64, to: u64, timeout: Duration) {
    let running = Running::start(&s.fetcher);
    let want = Range::new(from, to).unwrap();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let gaps = s.storage.gaps(want).await.unwrap();
        if gaps.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not synced in time; gaps: {gaps:?}; active: {:?}; peers: {} connected, {} banned: {:?}",
            s.fetcher.active(),
            s.fetcher.pool().peer_count(),
            s.fetcher.pool().banned().len(),
            s.fetcher.pool().stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop_within(Duration::from_secs(10)).await;
}

async fn assert_identical(s: &Setup, from: u64, to: u64) {
    let stored = s
        .storage
        .blocks(Range::new(from, to).unwrap(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len() as u64, to - from + 1);
    for b in stored {
        let src = &s.blocks[b.number as usize];
        assert_eq!(b.hash, src.hash, "block {}", b.number);
        assert_eq!(b.header, src.header, "block {}", b.number);
        assert_eq!(b.body, src.body, "block {}", b.number);
        assert_eq!(
            b.receipts.to_vec(),
            hypasis_network::blockfile::receipts_file_item(&src.receipts),
            "block {}",
            b.number
        );
    }
}

/// The fetcher running in the background until it is stopped.
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(fetcher: &Fetcher) -> Self {
        let (stop, rx) = watch::channel(false);
        let f = fetcher.clone();
        let task = tokio::spawn(async move { f.run(rx).await });
        Self { stop, task }
    }

    /// Stops the fetcher and waits until it has finished.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }

    /// Stops the fetcher and waits until it has finished, failing the test after `within`.
    async fn stop_within(self, within: Duration) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(within, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Runs the fetcher of a setup with a liar (at first its only peer, whose headers do not link
/// to the trusted anchor) until the liar is banned, within a minute; returns the liar's id and
/// the still running fetcher.
async fn run_until_liar_banned(s: &Setup) -> (hypasis_rlpx::NodeId, Running) {
    let liar = s.liar.as_ref().unwrap().enode().id;
    let running = Running::start(&s.fetcher);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !s.fetcher.pool().is_banned(&liar) {
        assert!(tokio::time::Instant::now() < deadline, "liar not banned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (liar, running)
}

/// Once the liar is banned and the fetcher stopped: connects the two honest peers held back
/// and syncs blocks `1..=to` from them, byte for byte.
async fn sync_from_the_honest_peers(s: &Setup, to: u64) {
    for e in &s.later {
        s.fetcher.pool().add_peer(e.clone());
    }
    assert!(
        s.fetcher
            .pool()
            .wait_for_peers(2, Duration::from_secs(30))
            .await
    );
    run_until_synced(s, 1, to, Duration::from_secs(120)).await;
    assert_identical(s, 1, to).await;
}

/// The scheduler of these tests: units of `unit` blocks from block 1, quick backoff.
fn sync_config(unit: u64) -> SchedulerConfig {
    SchedulerConfig {
        genesis: 1,
        unit_size: unit,
        // Generous: every grant and renewal is a durable commit, slow on a loaded CI disk.
        lease_ttl: Duration::from_secs(12),
        backoff: BackoffConfig {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
            no_peer_base: Duration::from_millis(500),
            no_peer_max: Duration::from_secs(2),
        },
        ..SchedulerConfig::default()
    }
}

/// A fixed anchor on the middle block of a `count`-block chain (hash known).
fn mid_anchor(blocks: &[TestBlock], count: u64) -> AnchorSource {
    let mid = count / 2;
    AnchorSource::Fixed(Anchor {
        number: mid,
        hash: Some(blocks[mid as usize].hash),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_syncs_whole_range_forward_and_backward() {
    let s = setup(1200, 3, false, 256 * 1024 * 1024, 100).await;
    run_until_synced(&s, 1, 1199, Duration::from_secs(120)).await;
    assert_identical(&s, 1, 1199).await;
    let m = s.fetcher.metrics();
    assert!(m.blocks.with_label_values(&["stored", "forward"]).get() > 0);
    assert!(m.blocks.with_label_values(&["stored", "backward"]).get() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_bans_lying_peer_and_stores_nothing_invalid() {
    let s = setup(800, 2, true, 256 * 1024 * 1024, 100).await;
    let (liar, running) = run_until_liar_banned(&s).await;
    assert_eq!(
        s.storage
            .present()
            .await
            .unwrap()
            .iter_within(Range::new(0, 799).unwrap())
            .count(),
        0,
        "nothing from the liar is stored"
    );
    running.stop().await;
    sync_from_the_honest_peers(&s, 799).await;
    // The forked peer served headers that do not link to the trusted blocks: it is banned.
    assert!(s.fetcher.pool().is_banned(&liar), "liar not banned");
    let _ = s
        .fetcher
        .metrics()
        .units
        .with_label_values(&["peer_fault"])
        .get();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_respects_memory_budget() {
    // Blocks are ~1–2 KiB; a 256 KiB budget holds only a couple of 50-block units at a time.
    let budget = 256 * 1024;
    let s = setup(1000, 3, false, budget, 50).await;
    run_until_synced(&s, 1, 999, Duration::from_secs(120)).await;
    assert_identical(&s, 1, 999).await;
    let m = s.fetcher.metrics();
    let max = m.bytes_in_flight_max.get();
    assert!(max > 0);
    assert!(
        max as u64 <= budget,
        "bytes in flight {max} exceeded the budget {budget}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_validates_through_the_validator_service_and_bans_liars() {
    let s = setup_with(600, 2, true, 256 * 1024 * 1024, 100, true).await;
    let (_liar, running) = run_until_liar_banned(&s).await;
    running.stop().await;
    sync_from_the_honest_peers(&s, 599).await;
    // The service validated: the stored ranges carry the linked level.
    let levels = s.storage.verification().await.unwrap();
    let linked = levels
        .get(&hypasis_primitives::VerificationLevel::Linked)
        .map(|r| r.count_within(Range::new(1, 599).unwrap()))
        .unwrap_or(0);
    assert_eq!(linked, 599, "{levels:?}");
}

/// Peers claiming absurd heads — `u64::MAX` in an eth/69 `Status`, a `NewBlockHashes` at 2^60
/// on eth/68 — next to honest peers: the claims never reach the scheduler (the pool drops
/// them and scores the liars down), the number of units the scheduler holds stays bounded by
/// the chain and the tip margin, and the sync completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_heads_neither_grow_the_schedule_nor_stop_the_sync() {
    use hypasis_eth_wire::EthVersion;
    use hypasis_scheduler::UnitFilter;

    init_tracing();
    let count = 1200;
    let latest = count - 1;
    let blocks = valid_chain(count);
    let genesis = blocks[0].hash;
    let source: Arc<dyn BlockSource> = Arc::new(testchain::source(&blocks));
    let honest = [
        serve(source.clone(), genesis, latest).await,
        serve(source.clone(), genesis, latest).await,
    ];
    // eth/69 liar: Status latest = u64::MAX (it serves the real chain otherwise).
    let liar69 = serve(source.clone(), genesis, u64::MAX).await;
    // eth/68 liar: an honest Status head (its header is served), then a NewBlockHashes at 2^60.
    let head = LocalStatus {
        head_hash: blocks[latest as usize].hash,
        ..testchain::test_status(genesis, latest)
    };
    let (announce, live) = watch::channel(head.clone());
    let mut cfg = SessionConfig::new(head.clone()).with_live_status(live);
    cfg.eth_versions = vec![EthVersion::Eth68];
    cfg.announce_block_hashes = true;
    cfg.head_update_blocks = 1;
    cfg.block_source = Some(source.clone());
    let liar68 = Server::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        generate_secret_key(),
        cfg,
        16,
    )
    .unwrap();

    let mut pc = testchain::test_pool_config(
        genesis,
        0,
        honest
            .iter()
            .chain([&liar69, &liar68])
            .map(|s| s.enode().clone())
            .collect(),
    );
    pc.min_timeout = Duration::from_millis(500);
    pc.max_timeout = Duration::from_secs(3);
    pc.target_rtt = Duration::from_millis(200);
    pc.redial_interval = Duration::from_millis(200);
    pc.max_attempts = 20;
    let pool = Pool::start(pc, generate_secret_key(), None);
    assert!(pool.wait_for_peers(4, Duration::from_secs(10)).await);
    // Once the eth/68 liar's true head is known, it announces 2^60.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pool
        .stats()
        .iter()
        .any(|p| p.node_id == liar68.enode().id && p.head_number == Some(latest))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:#?}",
            pool.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    announce
        .send(LocalStatus {
            latest_block: 1 << 60,
            head_hash: B256::repeat_byte(0x60),
            ..head
        })
        .unwrap();

    let (_dir, storage, store) = open_store();
    let unit = 100;
    let margin = 250;
    let config = SchedulerConfig {
        tip_margin: margin,
        ..sync_config(unit)
    };
    let anchor = mid_anchor(&blocks, count);
    let durable = Arc::new(Mutex::new(lead(store, config, anchor).await));
    let spec = ChainSpec::from_genesis_json(GENESIS_JSON).unwrap();
    let fc = fetcher_config("fetcher-heads");
    let fetcher = Fetcher::new(
        fc,
        Arc::new(InProcessLeases::new(durable.clone())),
        Arc::new(StorageSink(storage.clone() as Arc<dyn BlockStorage>)),
        pool,
        Arc::new(LocalValidator::new(spec)),
        FetcherMetrics::unregistered(),
    );
    let running = Running::start(&fetcher);

    // The scheduler follows the fetcher's tip (as the scheduler service does with the
    // fetchers' announcements) until the whole chain is stored.
    let want = Range::new(1, latest).unwrap();
    // One unit per `unit`-block bucket, split at most a few times where a wave of the
    // bounded tip ended inside a bucket whose first part was already leased.
    let most_units = (3 * count / unit + 2) as usize;
    let mut max_units = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let tip = fetcher.tip();
        assert!(tip.is_some_and(|t| t <= latest), "fetcher tip {tip:?}");
        {
            let mut d = durable.lock().await;
            d.observe_tip(tip.unwrap()).await.unwrap();
            let s = d.scheduler();
            max_units = max_units.max(s.units(UnitFilter::default()).count());
            assert!(s.tip().is_some_and(|t| t <= latest && t <= s.tip_bound()));
            assert!(
                max_units <= most_units,
                "{max_units} units (at most {most_units} expected)"
            );
        }
        if storage.gaps(want).await.unwrap().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not synced in time; active: {:?}",
            fetcher.active()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop_within(Duration::from_secs(10)).await;
    let st = durable.lock().await.scheduler().status();
    assert_eq!(st.tip, Some(latest));
    assert_eq!(st.peer_tip, Some(latest));
    // Both liars are scored down (or banned).
    for liar in [&liar69, &liar68] {
        let id = liar.enode().id;
        let scored = fetcher
            .pool()
            .stats()
            .iter()
            .any(|p| p.node_id == id && p.score < 0 && p.faults > 0);
        assert!(
            scored || fetcher.pool().is_banned(&id),
            "liar {} not scored: {:#?}",
            liar.enode(),
            fetcher.pool().stats()
        );
    }
    let stored = storage.blocks(want, usize::MAX).await.unwrap();
    assert_eq!(stored.len() as u64, latest);
    for b in stored {
        assert_eq!(b.hash, blocks[b.number as usize].hash, "block {}", b.number);
    }
}

/// The leader's durable schedule over `store`, anchored on a block hash alone: no accepted
/// checkpoints.
async fn lead(
    store: Arc<StorageSchedulerStore>,
    config: SchedulerConfig,
    anchor: AnchorSource,
) -> DurableScheduler {
    DurableScheduler::open(
        store,
        Arc::new(hypasis_checkpoint_api::FixedCheckpoints::default()),
        config,
        Arc::new(SystemClock),
        1,
        anchor,
    )
    .await
    .unwrap()
}

//! The whole cluster as processes over mTLS: a real etcd, `hypasis devnet` (a Bor-style chain
//! served by devp2p peers and a Heimdall-format checkpoint endpoint), `hypasis-store`,
//! `hypasis-checkpoint`, `hypasis-validator`, two leader-elected `hypasis-scheduler`s and three
//! `hypasis-fetcher`s. The sync completes to a gap-free store whose every block is
//! byte-identical to the devnet's chain and carries the verification level its anchors give
//! it — also when a fetcher holding leases is SIGKILLed, when the scheduler leader is
//! SIGKILLed (the fetchers follow the standby), when the store restarts, and when a peer
//! serves invalid data (it is banned and nothing invalid is stored).
//!
//! The checkpoint service reads the devnet's Heimdall endpoint only; the schedulers are anchored
//! on its trusted head, Heimdall's latest milestone (`--checkpoint URL`: Heimdall checkpoints
//! carry no block hash), and sync blocks 1..=BLOCKS (the devnet's peers do not serve genesis).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, U256};
use alloy_rlp::Decodable;
use hypasis_coordination::testing::EtcdServer;
use hypasis_eth_wire::EthVersion;
use hypasis_integration_tests::{
    ChildGuard, Devnet, bin, client_tls, devnet_command, free_addr, generate_certs, serving,
    start_devnet,
};
use hypasis_network::BlockSource;
use hypasis_network::blockfile::load_source;
use hypasis_network::chain::{Head, session_config};
use hypasis_network::server::Server;
use hypasis_network::testchain::{Tamper, Tampered};
use hypasis_primitives::ChainSpec;
use hypasis_proto::v1;
use hypasis_proto::v1::fetcher_client::FetcherClient;
use hypasis_proto::v1::scheduler_client::SchedulerClient;
use hypasis_proto::v1::store_client::StoreClient;
use hypasis_rlpx::identity::generate_secret_key;
use hypasis_storage_api::blockfile::{FileBlock, parse_chain, parse_receipts};
use tonic::transport::{Channel, Endpoint};

/// Blocks of the devnet chain (after genesis).
const BLOCKS: u64 = 4000;
/// Blocks per checkpoint.
const CHECKPOINT_LEN: u64 = 256;
/// Devnet peers.
const PEERS: usize = 3;
/// Fetchers.
const FETCHERS: usize = 3;
/// How long a whole sync may take on a loaded machine.
const SYNC_WITHIN: Duration = Duration::from_secs(75);
const ETCD_PREFIX: &str = "/cluster-e2e";
/// Per-connection bandwidth of the devnet's peers in the fault tests (Mbit/s): the sync then
/// takes long enough (~15 s) for a fault to land in its middle.
const SLOW_PEERS_MBPS: f64 = 0.5;

// ---------------------------------------------------------------------------------------------
// Clients

/// A channel with the operator's (admin) certificate, or `None` while not reachable.
async fn try_channel(addr: SocketAddr, certs: &Path) -> Option<Channel> {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tls_config(client_tls(certs, Some("admin"), "localhost"))
        .unwrap()
        .connect()
        .await
        .ok()
}

// ---------------------------------------------------------------------------------------------
// The devnet's chain, from its --out files

struct Chain {
    blocks: Vec<FileBlock>,
    receipts: Vec<Vec<Bytes>>,
    checkpoints: Vec<(u64, u64, u64)>,
}

fn load_chain(out: &Path) -> Chain {
    let blocks = parse_chain(&std::fs::read(out.join("chain.rlp")).unwrap()).unwrap();
    let receipts = parse_receipts(&std::fs::read(out.join("receipts.rlp")).unwrap()).unwrap();
    assert_eq!(blocks.len(), receipts.len());
    assert_eq!(
        blocks.len() as u64,
        BLOCKS,
        "chain.rlp holds blocks 1..={BLOCKS}"
    );
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.number, i as u64 + 1);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints.json")).unwrap())
            .unwrap();
    let checkpoints = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["range"]["start"].as_u64().unwrap(),
                c["range"]["end"].as_u64().unwrap(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(checkpoints.len() as u64, BLOCKS / CHECKPOINT_LEN);
    Chain {
        blocks,
        receipts,
        checkpoints,
    }
}

impl Chain {
    /// The last block covered by a checkpoint.
    fn checkpointed_end(&self) -> u64 {
        self.checkpoints.last().unwrap().2
    }
}

// ---------------------------------------------------------------------------------------------
// A peer serving the devnet's chain with corrupted receipts

/// The devnet's chain with every block's receipts in the wrong order (still well-formed, so
/// only the receipts-root check catches it). Headers and bodies are honest, so the peer passes
/// the handshake and the fetcher's link probes.
struct LyingSource;

impl Tamper for LyingSource {
    fn receipts(&self, mut r: Vec<Bytes>) -> Vec<Bytes> {
        if r.len() >= 2 {
            r.reverse();
        } else if let Some(first) = r.first().cloned() {
            r.push(first);
        }
        r
    }
}

async fn spawn_liar(out: &Path) -> Server {
    let (source, blocks) =
        load_source(&out.join("chain.rlp"), Some(&out.join("receipts.rlp"))).unwrap();
    let spec = ChainSpec::by_name("devnet").unwrap();
    let mut td = spec.genesis_header.difficulty;
    let mut last = None;
    for b in &blocks {
        let h = Header::decode(&mut &b.header[..]).unwrap();
        td += h.difficulty;
        last = Some((b.hash, h));
    }
    let (hash, h) = last.unwrap();
    let head = Head {
        number: h.number,
        timestamp: h.timestamp,
        hash,
        total_difficulty: td.max(U256::from(1)),
        earliest: 0,
    };
    let mut cfg = session_config(&spec, &head);
    cfg.eth_versions = vec![EthVersion::Eth68, EthVersion::Eth69];
    cfg.block_source = Some(Arc::new(Tampered {
        honest: source,
        tamper: LyingSource,
    }) as Arc<dyn BlockSource>);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::spawn(listener, generate_secret_key(), cfg, 16).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The cluster

struct Proc {
    guard: Option<ChildGuard>,
    /// False once killed by the test.
    alive: bool,
    addr: SocketAddr,
    metrics: SocketAddr,
    name: String,
}

impl Proc {
    fn new(name: &str) -> Self {
        Self {
            guard: None,
            alive: false,
            addr: free_addr(),
            metrics: free_addr(),
            name: name.into(),
        }
    }

    /// SIGKILLs the process and waits for it to exit.
    fn kill(&mut self) {
        let g = self.guard.as_mut().expect("started");
        g.signal("KILL");
        assert!(
            g.wait_timeout(Duration::from_secs(10)).is_some(),
            "{} did not die",
            self.name
        );
        self.alive = false;
    }

    fn log(&self) -> String {
        self.guard
            .as_ref()
            .map(ChildGuard::log_text)
            .unwrap_or_default()
    }
}

/// What differs between the tests' clusters.
#[derive(Debug, Clone, Copy, Default)]
struct Opts {
    /// Per-connection bandwidth cap of the devnet's peers (Mbit/s): slows the sync down so
    /// that a fault lands in the middle of it.
    peer_rate_mbps: Option<f64>,
    /// Also give the fetchers a peer serving corrupted receipts.
    liar: bool,
}

struct Cluster {
    liar: Option<Server>,
    /// The expected anchor `NUMBER:HASH` (Heimdall's latest milestone).
    anchor: String,
    tmp: tempfile::TempDir,
    certs: PathBuf,
    etcd: EtcdServer,
    devnet: ChildGuard,
    enodes: Vec<String>,
    store: Proc,
    checkpoint: Proc,
    validator: Proc,
    scheds: Vec<Proc>,
    fetchers: Vec<Proc>,
    chain: Chain,
    started: Instant,
    /// One cluster at a time (declared last: released after every process is gone).
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.tmp.disable_cleanup(true);
            eprintln!(
                "cluster_e2e: keeping the failed cluster's files in {}",
                self.tmp.path().display()
            );
        }
    }
}

/// The last `lines` lines of a log, without the periodic progress lines.
fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().filter(|l| !l.contains("progress")).collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

impl Cluster {
    /// Every process, started in dependency order.
    async fn start(opts: Opts) -> Self {
        let serial = hypasis_integration_tests::FLEET.lock().await;
        let started = Instant::now();
        let mut tmp = tempfile::tempdir().unwrap();
        if std::env::var_os("CLUSTER_E2E_KEEP").is_some() {
            tmp.disable_cleanup(true);
            eprintln!("cluster files in {}", tmp.path().display());
        }
        let certs = tmp.path().join("certs");
        generate_certs(&certs);
        let etcd =
            EtcdServer::start(tmp.path()).expect("etcd (Debian: apt-get install etcd-server)");

        // The devnet: PEERS enode lines, then `heimdall URL`.
        let out = tmp.path().join("devnet");
        let mut cmd = devnet_command(BLOCKS, PEERS);
        cmd.args(["--checkpoint-len", &CHECKPOINT_LEN.to_string()])
            .arg("--out")
            .arg(&out);
        if let Some(r) = opts.peer_rate_mbps {
            cmd.args(["--peer-rate-mbps", &r.to_string()]);
        }
        let Devnet {
            guard: devnet,
            enodes,
            heimdall,
        } = start_devnet(cmd, PEERS, &tmp.path().join("devnet.log"));
        let chain = load_chain(&out);
        // Heimdall checkpoints carry no block hash: the schedulers anchor on the latest
        // milestone (a finalized number and hash), as an operator would configure them.
        let milestone = hypasis_checkpoint::HeimdallSource::new(&heimdall, Duration::from_secs(10))
            .unwrap()
            .latest_milestone()
            .await
            .unwrap();
        let anchor = format!("{}:{}", milestone.end_block, milestone.hash);
        let liar = if opts.liar {
            Some(spawn_liar(&out).await)
        } else {
            None
        };

        let mut c = Self {
            liar,
            anchor,
            store: Proc::new("store"),
            checkpoint: Proc::new("checkpoint"),
            validator: Proc::new("validator"),
            scheds: (0..2)
                .map(|i| Proc::new(&format!("scheduler-{i}")))
                .collect(),
            fetchers: (0..FETCHERS)
                .map(|i| Proc::new(&format!("fetcher-{i}")))
                .collect(),
            tmp,
            certs,
            etcd,
            devnet,
            enodes,
            chain,
            started,
            _serial: serial,
        };

        c.start_store().await;

        // Checkpoints first, all of them (from id 1), so that the fetchers know every root
        // when they take their first unit.
        let mut cmd = c.service("hypasis-checkpoint", &c.checkpoint);
        cmd.args(["--heimdall", &heimdall])
            .args(["--store", &c.store_url()])
            .args(["--start-id", "1", "--poll-interval", "1"]);
        c.checkpoint.guard = Some(c.spawn(cmd, "checkpoint"));
        c.checkpoint.alive = true;
        let want = c.chain.checkpoints.len() as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stats = c
                .store_client()
                .await
                .get_stats(v1::GetStatsRequest {})
                .await;
            if stats.is_ok_and(|s| s.get_ref().checkpoints == want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the store did not get {want} checkpoints\n{}",
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let cmd = c.service("hypasis-validator", &c.validator);
        c.validator.guard = Some(c.spawn(cmd, "validator"));
        c.validator.alive = true;

        for i in 0..c.scheds.len() {
            c.start_scheduler(i);
        }
        c.wait_leader(Duration::from_secs(30)).await;

        let scheduler_urls = c
            .scheds
            .iter()
            .map(|s| format!("https://{}", s.addr))
            .collect::<Vec<_>>()
            .join(",");
        for i in 0..FETCHERS {
            let mut cmd = c.service("hypasis-fetcher", &c.fetchers[i]);
            cmd.args(["--scheduler", &scheduler_urls])
                .args(["--store", &c.store_url()])
                .args(["--chain", "devnet", "--no-discovery"])
                .args(["--etcd", &c.etcd.endpoint])
                .args(["--etcd-prefix", ETCD_PREFIX])
                .args(["--id", &format!("fetcher-{i}")]);
            // Fetcher 1 validates through the validator service, the others in process.
            if i == 1 {
                cmd.args(["--validator", &format!("https://{}", c.validator.addr)]);
            }
            for e in &c.enodes {
                cmd.args(["--peer", e]);
            }
            if let Some(l) = &c.liar {
                cmd.args(["--peer", &l.enode().to_string()]);
            }
            c.fetchers[i].guard = Some(c.spawn(cmd, &format!("fetcher-{i}")));
            c.fetchers[i].alive = true;
        }

        // The validator service serves (fetcher 1 validates through it).
        let deadline = Instant::now() + Duration::from_secs(30);
        while !serving(c.validator.addr, &c.certs, "admin", "hypasis.v1.Validator").await {
            assert!(Instant::now() < deadline, "validator\n{}", c.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c
    }

    fn store_url(&self) -> String {
        format!("https://{}", self.store.addr)
    }

    /// A service command with the shared flags.
    fn service(&self, name: &str, p: &Proc) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.args(["--listen", &p.addr.to_string()])
            .args(["--metrics-listen", &p.metrics.to_string()])
            .arg("--tls-dir")
            .arg(&self.certs)
            .env("RUST_LOG", "info");
        cmd
    }

    fn spawn(&self, cmd: Command, name: &str) -> ChildGuard {
        // A restarted process appends a counter to keep the earlier log.
        let mut log = self.tmp.path().join(format!("{name}.log"));
        let mut n = 1;
        while log.exists() {
            log = self.tmp.path().join(format!("{name}.{n}.log"));
            n += 1;
        }
        ChildGuard::spawn(cmd, &log)
    }

    /// (Re)starts the store on its data directory and address; waits until it serves.
    async fn start_store(&mut self) {
        let mut cmd = self.service("hypasis-store", &self.store);
        cmd.arg("--data-dir")
            .arg(self.tmp.path().join("store-data"));
        self.store.guard = Some(self.spawn(cmd, "store"));
        self.store.alive = true;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !serving(self.store.addr, &self.certs, "admin", "hypasis.v1.Store").await {
            assert!(
                Instant::now() < deadline,
                "store not serving\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn start_scheduler(&mut self, i: usize) {
        let mut cmd = self.service("hypasis-scheduler", &self.scheds[i]);
        cmd.args(["--store", &self.store_url()])
            .args(["--etcd", &self.etcd.endpoint])
            .args(["--etcd-prefix", ETCD_PREFIX])
            .args(["--chain", "devnet"])
            // Anchored on the checkpoint service's trusted head (Heimdall's latest milestone),
            // as on Polygon.
            .args(["--checkpoint", &format!("https://{}", self.checkpoint.addr)])
            // The devnet's peers serve blocks 1..=BLOCKS, not genesis.
            .args(["--genesis", "1"])
            .args(["--unit-size", &CHECKPOINT_LEN.to_string()])
            .args(["--leader-ttl-secs", "2"])
            .args(["--lease-ttl-secs", "3"])
            .args(["--refresh-ms", "300"])
            .args(["--progress-secs", "2"]);
        self.scheds[i].guard = Some(self.spawn(cmd, &format!("scheduler-{i}")));
        self.scheds[i].alive = true;
    }

    async fn store_client(&self) -> StoreClient<Channel> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(ch) = try_channel(self.store.addr, &self.certs).await {
                return StoreClient::new(ch).max_decoding_message_size(64 << 20);
            }
            assert!(
                Instant::now() < deadline,
                "store not reachable\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the one live scheduler serving as leader.
    async fn wait_leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for (i, s) in self.scheds.iter().enumerate() {
                if s.guard.is_some()
                    && serving(s.addr, &self.certs, "admin", "hypasis.v1.Scheduler").await
                {
                    leaders.push(i);
                }
            }
            assert!(
                leaders.len() <= 1,
                "two schedulers serve at once\n{}",
                self.logs()
            );
            if let [i] = leaders[..] {
                return i;
            }
            assert!(
                Instant::now() < deadline,
                "no scheduler leader within {within:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn scheduler_client(&self, i: usize) -> SchedulerClient<Channel> {
        SchedulerClient::new(
            try_channel(self.scheds[i].addr, &self.certs)
                .await
                .expect("scheduler reachable"),
        )
    }

    async fn scheduler_status(&self, i: usize) -> v1::SchedulerStatus {
        self.scheduler_client(i)
            .await
            .get_status(v1::GetSchedulerStatusRequest {})
            .await
            .expect("scheduler status")
            .into_inner()
    }

    async fn fetcher_client(&self, i: usize) -> Option<FetcherClient<Channel>> {
        try_channel(self.fetchers[i].addr, &self.certs)
            .await
            .map(FetcherClient::new)
    }

    /// The store's present ranges and gaps within [1, BLOCKS] (`None` while it does not answer).
    async fn ranges(&self) -> Option<v1::GetRangesResponse> {
        let ch = try_channel(self.store.addr, &self.certs).await?;
        StoreClient::new(ch)
            .get_ranges(v1::GetRangesRequest {
                within: Some(v1::BlockRange {
                    start: 1,
                    end: BLOCKS,
                }),
            })
            .await
            .ok()
            .map(tonic::Response::into_inner)
    }

    /// Polls the fetchers until one holds leases matching `pick`; returns that fetcher and its
    /// leases.
    async fn wait_fetcher_holding(
        &self,
        what: &str,
        pick: impl Fn(&[v1::Lease]) -> bool,
    ) -> (usize, Vec<v1::Lease>) {
        let deadline = Instant::now() + SYNC_WITHIN;
        // One channel per fetcher, kept, and all asked at once: a new TLS connection per
        // fetcher per round made the rounds slower than a short unit's lease.
        let mut clients: Vec<Option<FetcherClient<Channel>>> = vec![None; self.fetchers.len()];
        loop {
            for (i, c) in clients.iter_mut().enumerate() {
                if c.is_none() {
                    *c = self.fetcher_client(i).await;
                }
            }
            let asked = clients.iter().map(|c| async move {
                let mut f = c.clone()?;
                let st = f.get_status(v1::GetFetcherStatusRequest {}).await.ok()?;
                Some(st.into_inner().leases)
            });
            for (i, leases) in futures::future::join_all(asked)
                .await
                .into_iter()
                .enumerate()
            {
                if let Some(leases) = leases
                    && pick(&leases)
                {
                    return (i, leases);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no fetcher was seen holding {what}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn present_blocks(&self) -> u64 {
        self.ranges().await.map_or(0, |r| r.present_blocks)
    }

    /// Waits until the store has every block of [1, BLOCKS]; returns how long it took since
    /// the cluster started.
    async fn wait_synced(&self) -> Duration {
        self.wait_synced_by(self.started + SYNC_WITHIN + Duration::from_secs(15))
            .await
    }

    async fn wait_synced_by(&self, deadline: Instant) -> Duration {
        loop {
            if let Some(r) = self.ranges().await
                && r.gaps.is_empty()
                && r.present_blocks == BLOCKS
            {
                return self.started.elapsed();
            }
            if Instant::now() >= deadline {
                panic!(
                    "not synced within {:?}: {:?}\nunfinished units: {}\n{}",
                    deadline - self.started,
                    self.ranges().await.map(|r| (r.present_blocks, r.gaps)),
                    self.unfinished_units().await,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The live schedulers' units that are not done (for failure messages).
    async fn unfinished_units(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.scheds.iter().enumerate() {
            if !s.alive {
                continue;
            }
            let Some(ch) = try_channel(s.addr, &self.certs).await else {
                continue;
            };
            let r = SchedulerClient::new(ch)
                .list_units(v1::ListUnitsRequest {
                    direction: None,
                    state: None,
                    limit: 0,
                })
                .await;
            if let Ok(r) = r {
                let r = r.into_inner();
                for u in r
                    .units
                    .iter()
                    .filter(|u| u.state != v1::WorkUnitState::Done as i32)
                {
                    out += &format!(
                        "\n  scheduler-{i}: unit {} {:?} state {} attempts {} error {:?} not_before {:?}",
                        u.id, u.range, u.state, u.attempts, u.last_error, u.not_before
                    );
                }
                for l in &r.leases {
                    out += &format!(
                        "\n  scheduler-{i}: lease {} of {} on unit {:?}",
                        l.lease_id,
                        l.fetcher_id,
                        l.unit.as_ref().map(|u| u.id)
                    );
                }
            }
        }
        out
    }

    /// Waits until the store holds at least `n` blocks (and fewer than all of them).
    async fn wait_progress(&self, n: u64) -> u64 {
        let deadline = Instant::now() + SYNC_WITHIN;
        loop {
            let have = self.present_blocks().await;
            if have >= n {
                assert!(
                    have <= BLOCKS,
                    "the sync finished before the fault could be injected ({have} blocks)"
                );
                return have;
            }
            assert!(
                Instant::now() < deadline,
                "no progress to {n} blocks (have {have})\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        let mut out = format!(
            "--- etcd:\n{}\n--- devnet:\n{}\n",
            tail(&self.etcd.log_text(), 10),
            tail(&self.devnet.log_text(), 10)
        );
        for p in [&self.store, &self.checkpoint, &self.validator]
            .into_iter()
            .chain(&self.scheds)
            .chain(&self.fetchers)
        {
            out += &format!(
                "--- {} ({}{}):\n{}\n",
                p.name,
                p.addr,
                if p.alive { "" } else { ", killed" },
                tail(&p.log(), 40)
            );
        }
        out
    }

    /// Every block of [1, BLOCKS] is stored and equals the devnet's byte for byte (header,
    /// body, receipts).
    async fn assert_byte_identical(&self) {
        let mut stream = self
            .store_client()
            .await
            .get_blocks(v1::GetBlocksRequest {
                range: Some(v1::BlockRange {
                    start: 1,
                    end: BLOCKS,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let mut next = 1u64;
        while let Some(b) = stream.message().await.unwrap() {
            assert_eq!(b.number, next, "blocks out of order or missing");
            let i = (b.number - 1) as usize;
            let src = &self.chain.blocks[i];
            assert_eq!(B256::from_slice(&b.hash), src.hash, "block {}", b.number);
            assert_eq!(b.header, src.header.to_vec(), "header {}", b.number);
            assert_eq!(b.body, src.body.to_vec(), "body {}", b.number);
            assert_eq!(
                b.receipts,
                hypasis_storage_api::blockfile::receipts_file_item(&self.chain.receipts[i]),
                "receipts {}",
                b.number
            );
            next += 1;
        }
        assert_eq!(next, BLOCKS + 1, "blocks streamed: 1..={BLOCKS}");
    }

    /// The verification levels: every block carries one; the checkpointed blocks
    /// (1..=last checkpoint end) match their checkpoint's root (`CHECKPOINT_ROOT`); the
    /// blocks after the newest checkpoint (up to the milestone anchor) are hash-linked only
    /// (`LINKED`).
    async fn assert_levels(&self) {
        let r = self.ranges().await.expect("store answers");
        let mut by_level: BTreeMap<i32, Vec<(u64, u64)>> = BTreeMap::new();
        for v in &r.verification {
            let list = by_level.entry(v.level).or_default();
            for x in &v.ranges {
                list.push((x.start, x.end));
            }
            list.sort_unstable();
        }
        // Every present block has exactly one level.
        let mut covered: Vec<(u64, u64)> = by_level.values().flatten().copied().collect();
        covered.sort_unstable();
        let mut next = 1u64;
        for (s, e) in &covered {
            assert_eq!(*s, next, "verification ranges {by_level:?}");
            next = e + 1;
        }
        assert_eq!(next, BLOCKS + 1, "verification ranges {by_level:?}");
        let cp_end = self.chain.checkpointed_end();
        let root = v1::VerificationLevel::CheckpointRoot as i32;
        let linked = v1::VerificationLevel::Linked as i32;
        let merged = |l: i32| -> Vec<(u64, u64)> {
            let mut out: Vec<(u64, u64)> = Vec::new();
            for &(s, e) in by_level.get(&l).into_iter().flatten() {
                match out.last_mut() {
                    Some(last) if last.1 + 1 == s => last.1 = e,
                    _ => out.push((s, e)),
                }
            }
            out
        };
        assert_eq!(
            merged(root),
            vec![(1, cp_end)],
            "checkpoint-root ranges; all: {by_level:?}"
        );
        assert_eq!(
            merged(linked),
            vec![(cp_end + 1, BLOCKS)],
            "linked ranges; all: {by_level:?}"
        );
        assert_eq!(by_level.len(), 2, "levels {by_level:?}");
    }

    /// The leader's units: all done, disjoint, covering [1, BLOCKS], no lease left; and the
    /// leader counted no block completed twice.
    async fn assert_units_done_once(&self, leader: usize) {
        let mut c = self.scheduler_client(leader).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let units = loop {
            let r = c
                .list_units(v1::ListUnitsRequest {
                    direction: None,
                    state: None,
                    limit: 0,
                })
                .await
                .unwrap()
                .into_inner();
            let done = r
                .units
                .iter()
                .all(|u| u.state == v1::WorkUnitState::Done as i32);
            // The store may be complete a refresh before the scheduler has seen it.
            if done && r.leases.is_empty() {
                break r.units;
            }
            assert!(
                Instant::now() < deadline,
                "units not all done: {:?}\nleases {:?}",
                r.units
                    .iter()
                    .filter(|u| u.state != v1::WorkUnitState::Done as i32)
                    .collect::<Vec<_>>(),
                r.leases
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut ranges: Vec<(u64, u64)> = units
            .iter()
            .map(|u| {
                let r = u.range.unwrap();
                (r.start, r.end)
            })
            .collect();
        ranges.sort_unstable();
        let mut next = 1u64;
        for (s, e) in &ranges {
            assert_eq!(*s, next, "unit ranges overlap or leave a hole: {ranges:?}");
            next = e + 1;
        }
        assert_eq!(next, BLOCKS + 1, "unit ranges {ranges:?}");
        let completed = self
            .metric(leader, "hypasis_scheduler_completed_blocks_total")
            .await;
        assert!(
            completed > 0.0 && completed <= (BLOCKS) as f64,
            "blocks completed through leases: {completed} (> {BLOCKS} means a unit completed twice)"
        );
    }

    /// Sum of a metric's samples on a scheduler's /metrics.
    async fn metric(&self, sched: usize, name: &str) -> f64 {
        let text = scrape(self.scheds[sched].metrics).await;
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// The text of `http://addr/metrics`.
async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("metrics answer")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_syncs_devnet_byte_identical() {
    let c = Cluster::start(Opts::default()).await;
    let leader = c.wait_leader(Duration::from_secs(30)).await;
    // Anchored at the milestone: the devnet's head, with its hash.
    let status = c.scheduler_status(leader).await;
    let anchor = status.anchor.expect("anchored");
    assert_eq!(anchor.range.unwrap().end, BLOCKS);
    assert_eq!(
        anchor.end_block_hash.as_deref(),
        Some(c.chain.blocks[(BLOCKS - 1) as usize].hash.as_slice())
    );
    // That is the milestone Heimdall served (through the checkpoint service's trusted head).
    let hash = alloy_primitives::B256::from_slice(anchor.end_block_hash.as_deref().unwrap());
    assert_eq!(format!("{BLOCKS}:{hash}"), c.anchor);
    let took = c.wait_synced().await;
    c.assert_byte_identical().await;
    c.assert_levels().await;
    c.assert_units_done_once(leader).await;
    // The scheduler follows the checkpoint service's trusted head: the milestone at the
    // devnet's head, nothing left between the stored head and it.
    let status = c.scheduler_status(leader).await;
    let head = status.trusted_head.expect("a trusted head in the status");
    assert_eq!(head.number, BLOCKS);
    assert_eq!(
        head.hash,
        c.chain.blocks[(BLOCKS - 1) as usize].hash.to_vec()
    );
    assert_eq!(head.origin, v1::TrustOrigin::Milestone as i32);
    assert_eq!(status.trusted_head_distance, 0);
    // Fetcher 1 validated through the validator service.
    let text = scrape(c.validator.metrics).await;
    let validated: f64 = text
        .lines()
        .filter(|l| l.starts_with("hypasis_validator_blocks_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        validated > 0.0,
        "the validator service validated nothing:\n{text}"
    );
    eprintln!("synced {BLOCKS} blocks in {took:?}");
}

/// The unit next to the anchor: every other unit links down from it.
fn holds_anchor_unit(leases: &[v1::Lease]) -> bool {
    leases.iter().any(|l| {
        l.unit
            .as_ref()
            .and_then(|u| u.range)
            .is_some_and(|r| r.end == BLOCKS)
    })
}

/// SIGKILLs a fetcher picked by `pick` while it holds leases; checks the scheduler still lists
/// them, then that the sync completes by `within` after the kill, with no unit completed twice.
async fn kill_fetcher_holding_leases(pick: impl Fn(&[v1::Lease]) -> bool, within: Duration) {
    let mut c = Cluster::start(Opts {
        peer_rate_mbps: Some(SLOW_PEERS_MBPS),
        liar: false,
    })
    .await;
    let leader = c.wait_leader(Duration::from_secs(30)).await;
    let (victim, held) = c.wait_fetcher_holding("the leases to kill", pick).await;
    c.fetchers[victim].kill();
    let killed = Instant::now();
    let at_kill = c.present_blocks().await;
    assert!(at_kill < BLOCKS, "the sync ended before the kill");
    // The scheduler still counts the dead fetcher's leases (they expire after the TTL).
    let r = c
        .scheduler_client(leader)
        .await
        .list_units(v1::ListUnitsRequest {
            direction: None,
            state: None,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let id = format!("fetcher-{victim}");
    let orphaned: Vec<u64> = r
        .leases
        .iter()
        .filter(|l| l.fetcher_id == id)
        .map(|l| l.unit.as_ref().unwrap().id)
        .collect();
    assert!(
        !orphaned.is_empty(),
        "{id} held {held:?} but the scheduler lists none of its leases: {:?}",
        r.leases
    );
    let took = c.wait_synced_by(killed + within).await;
    c.assert_units_done_once(leader).await;
    c.assert_byte_identical().await;
    c.assert_levels().await;
    eprintln!(
        "{id} killed holding units {orphaned:?} at {at_kill} blocks; synced {:?} after the \
         kill, {took:?} after the start",
        killed.elapsed()
    );
}

/// SIGKILL a fetcher while it holds leases (not the anchor's unit): its units are leased
/// again once the leases expire and completed by the others; no unit is completed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_killed_holding_leases_sync_completes() {
    kill_fetcher_holding_leases(|l| !l.is_empty() && !holds_anchor_unit(l), SYNC_WITHIN).await;
}

/// The same with the fetcher holding the unit next to the anchor. The other fetchers' units
/// have been prefetched and wait for their link down from that unit; waiting, they leave their
/// slots free, so the dead fetcher's units are taken again once its leases expire (a
/// regression test: they used to hold their slots until `link_wait`, 60 s, gave them up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_killed_holding_the_anchor_unit_sync_completes_promptly() {
    kill_fetcher_holding_leases(holds_anchor_unit, Duration::from_secs(30)).await;
}

/// SIGKILL the scheduler leader mid-sync: the standby is elected, the fetchers (given both
/// schedulers) reach it and complete the sync through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_leader_killed_standby_takes_over() {
    let mut c = Cluster::start(Opts {
        peer_rate_mbps: Some(SLOW_PEERS_MBPS),
        liar: false,
    })
    .await;
    let old = c.wait_leader(Duration::from_secs(30)).await;
    let at_kill = c.wait_progress(BLOCKS / 4).await;
    c.scheds[old].kill();
    let new = c.wait_leader(Duration::from_secs(45)).await;
    assert_ne!(new, old);
    let took = c.wait_synced().await;
    // The new leader completed leases itself (so the fetchers reached it), none twice.
    c.assert_units_done_once(new).await;
    c.assert_byte_identical().await;
    c.assert_levels().await;
    eprintln!("leader scheduler-{old} killed at {at_kill} blocks; synced in {took:?}");
}

/// SIGKILL the store mid-sync and start it again on the same data and address: every block it
/// reported present before is still there, and the sync completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_restarted_mid_sync_keeps_acknowledged_blocks() {
    let mut c = Cluster::start(Opts {
        peer_rate_mbps: Some(SLOW_PEERS_MBPS),
        liar: false,
    })
    .await;
    c.wait_progress(BLOCKS / 4).await;
    let before = c.ranges().await.expect("store answers");
    assert!(before.present_blocks < BLOCKS, "the sync ended too early");
    c.store.kill();
    c.start_store().await;
    let after = c.ranges().await.expect("store answers after the restart");
    for r in &before.present {
        assert!(
            after
                .present
                .iter()
                .any(|a| a.start <= r.start && r.end <= a.end),
            "blocks {}..={} were acknowledged before the restart but are missing after it: {:?}",
            r.start,
            r.end,
            after.present
        );
    }
    let took = c.wait_synced().await;
    c.assert_byte_identical().await;
    c.assert_levels().await;
    let leader = c.wait_leader(Duration::from_secs(30)).await;
    c.assert_units_done_once(leader).await;
    eprintln!(
        "store killed at {} blocks, {} after the restart; synced in {took:?}",
        before.present_blocks, after.present_blocks
    );
}

/// A peer serving the devnet's chain with corrupted receipts: the fetchers that ask it ban
/// it, the honest peers are not banned, and the store holds only the honest chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_peer_banned_nothing_invalid_stored() {
    let c = Cluster::start(Opts {
        peer_rate_mbps: Some(SLOW_PEERS_MBPS),
        liar: true,
    })
    .await;
    let took = c.wait_synced().await;
    c.assert_byte_identical().await;
    c.assert_levels().await;

    // The pool logs bans with the first 6 bytes of the node id.
    let short = |enode: &str| enode.trim_start_matches("enode://")[..12].to_string();
    let liar = short(&c.liar.as_ref().unwrap().enode().to_string());
    let mut banned_by = Vec::new();
    for (i, f) in c.fetchers.iter().enumerate() {
        let log = f.log();
        let bans: Vec<&str> = log.lines().filter(|l| l.contains("banning peer")).collect();
        for e in &c.enodes {
            let id = short(e);
            assert!(
                !bans.iter().any(|l| l.contains(&id)),
                "fetcher-{i} banned the honest peer {id}: {bans:?}"
            );
        }
        if bans.iter().any(|l| l.contains(&liar)) {
            banned_by.push(i);
            let peers = c
                .fetcher_client(i)
                .await
                .expect("fetcher answers")
                .list_peers(v1::ListPeersRequest {})
                .await
                .unwrap()
                .into_inner()
                .peers;
            assert!(
                peers.iter().all(|p| !p.node_id.starts_with(&liar)),
                "fetcher-{i} banned the liar but still lists it: {peers:?}"
            );
        }
    }
    assert!(
        !banned_by.is_empty(),
        "no fetcher banned the lying peer {liar}\n{}",
        c.logs()
    );
    eprintln!("liar {liar} banned by fetchers {banned_by:?}; synced in {took:?}");
}

//! A scored peer pool: dials static peers and accepts inbound ones up to `max_peers`, keeps
//! only peers on our chain (network id, genesis and EIP-2124 fork id are checked by the
//! session's `Status` handshake), and hands the fetcher a typed request API that picks the
//! best idle peer, sizes the request from the peer's measured throughput, enforces per-peer
//! in-flight limits and RTT-based timeouts, and scores the outcome.
//!
//! Scoring: scores run from 0 (clean) down to [`BAN_SCORE`] (-100) and recover by one per
//! useful answer. A timeout costs 25, a slow answer 2, an empty answer 1, a link disagreement
//! between two peers 5; invalid or unrequested data (found by the caller and reported with
//! [`Pool::report`]) costs 100, which bans a clean peer at once. Protocol violations
//! (malformed or mismatched responses, which end the session) ban the peer for
//! [`PoolConfig::ban_duration`] directly, as does reaching [`BAN_SCORE`] through misbehaviour.
//! A peer whose score runs out through slowness alone (timeouts, slow or empty answers) is
//! only dropped for [`PoolConfig::cooldown`]: a loaded or distant node is not a liar, and an
//! operator's few static peers must not all be shut out for the ban's length by a bad minute.
//! Partial responses (fewer items than asked) are normal and not faults.
//!
//! Heads: a peer's head is a claim, used only to choose peers and as a hint of how far the
//! chain goes. eth/69 peers state it in `Status` and `BlockRangeUpdate`; an eth/68 `Status`
//! names only the head's hash, so right after the handshake the pool asks for that header
//! (one `GetBlockHeaders` by hash, amount 1, as geth does), checks that it hashes to the
//! claimed hash and records its number; a peer that cannot produce it is scored down
//! ([`Fault::UnknownHead`]). `NewBlockHashes` announcements raise the head on either version.
//! A claimed head beyond [`HeadBound`] (e.g. `u64::MAX`) is ignored and costs
//! [`Fault::ImplausibleHead`].

pub mod rate;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{B256, Bytes};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};
use tracing::{debug, info, warn};

use crate::{
    enode::Enode,
    eth::{BlockId, BlockRangeUpdate, GetBlockHeaders, Status},
    identity::{NodeId, SecretKey},
    p2p::DisconnectReason,
    receipts::ReceiptLimits,
    session::{Blame, Session, SessionConfig, SessionError, SessionEvent, SessionHandle},
};

pub use rate::{Kind, MAX_CAPACITY, RateTracker};

/// The longest ban: ten years (longer requests are cut to it).
pub const MAX_BAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Score at or below which a peer is banned.
pub const BAN_SCORE: i64 = -100;
/// Highest score: a clean peer. Scores are penalties that decay by one per useful answer, so
/// good behaviour cannot be banked to offset later invalid data.
pub const MAX_SCORE: i64 = 0;

/// Pool configuration.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Session settings (our status, fork id check, block source for serving).
    pub session: SessionConfig,
    /// Maximum connected peers (inbound + outbound).
    pub max_peers: usize,
    /// Peers to dial and keep dialing (`--no-discovery` static mode, bootnodes).
    pub static_peers: Vec<Enode>,
    /// Requests in flight per peer.
    pub max_in_flight_per_peer: usize,
    /// Target duration of one request; capacity = rate × this.
    pub target_rtt: Duration,
    /// Lower bound of request timeouts.
    pub min_timeout: Duration,
    /// Upper bound of request timeouts (3 × RTT estimate is used in between).
    pub max_timeout: Duration,
    /// Ban length for protocol violations and scores exhausted by misbehaviour.
    pub ban_duration: Duration,
    /// How long a peer whose score ran out through slowness alone (timeouts, slow or empty
    /// answers) stays dropped (at most `ban_duration`).
    pub cooldown: Duration,
    /// Delay between dial attempts of a disconnected static peer.
    pub redial_interval: Duration,
    /// How long a request waits for an idle peer before failing.
    pub acquire_timeout: Duration,
    /// Attempts (with different peers) per request before giving up.
    pub max_attempts: usize,
    /// Items asked for before a peer's throughput is known (headers, bodies, receipts).
    pub initial_capacity: [usize; 3],
    /// How far a claimed head may plausibly reach.
    pub head_bound: HeadBound,
    /// How long the eth/68 head probe (the header of the `Status` head hash) may take.
    pub head_probe_timeout: Duration,
}

/// The highest head number a peer can plausibly claim: one block per
/// `1 / max_blocks_per_second` since the genesis timestamp, plus `margin`. A claim beyond it
/// cannot be true on any chain we sync (it would need blocks faster than any of them makes),
/// so it is ignored and the peer scored down; claims below it are still only hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadBound {
    /// Genesis block timestamp (Unix seconds); 0 when unknown (the bound is then looser).
    pub genesis_timestamp: u64,
    /// Fastest block rate assumed. Ethereum makes a block per 12 s, Polygon PoS one per 2 s
    /// or faster; 10 per second is far above both.
    pub max_blocks_per_second: u64,
    /// Added to the time-based bound (clock skew, devnets that generate blocks faster than
    /// their timestamps advance).
    pub margin: u64,
}

impl Default for HeadBound {
    fn default() -> Self {
        Self {
            genesis_timestamp: 0,
            max_blocks_per_second: 10,
            margin: 1_000_000,
        }
    }
}

impl HeadBound {
    /// The bound for a chain whose genesis block has `genesis_timestamp`.
    pub fn for_genesis(genesis_timestamp: u64) -> Self {
        Self {
            genesis_timestamp,
            ..Self::default()
        }
    }

    /// The highest plausible head at Unix time `now_secs`.
    pub fn limit_at(&self, now_secs: u64) -> u64 {
        now_secs
            .saturating_sub(self.genesis_timestamp)
            .saturating_mul(self.max_blocks_per_second)
            .saturating_add(self.margin)
    }

    /// The highest plausible head now.
    pub fn limit(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.limit_at(now)
    }

    /// Whether a head at `number` is plausible now.
    pub fn plausible(&self, number: u64) -> bool {
        number <= self.limit()
    }
}

impl PoolConfig {
    /// Defaults suitable for the public network.
    pub fn new(session: SessionConfig) -> Self {
        Self {
            session,
            max_peers: 50,
            static_peers: Vec::new(),
            max_in_flight_per_peer: 2,
            target_rtt: Duration::from_millis(1500),
            min_timeout: Duration::from_secs(2),
            max_timeout: Duration::from_secs(10),
            ban_duration: Duration::from_secs(600),
            cooldown: Duration::from_secs(60),
            redial_interval: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
            max_attempts: 10,
            initial_capacity: [192, 64, 64],
            head_bound: HeadBound::default(),
            head_probe_timeout: Duration::from_secs(10),
        }
    }
}

/// A fault attributed to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request timed out.
    Timeout,
    /// The answer arrived but much slower than expected.
    Slow,
    /// The peer did not have data it announced (empty answer).
    Empty,
    /// Data that might be wrong (e.g. two peers disagree on a link); small penalty.
    Suspicious,
    /// Invalid data (wrong roots, broken links, malformed items).
    Invalid,
    /// Data that was not asked for.
    Unrequested,
    /// Protocol violation: ban.
    ProtocolViolation,
    /// An eth/68 peer did not produce the header of the head hash its `Status` names (empty
    /// answer, a header with another hash, or no answer in time).
    UnknownHead,
    /// A claimed head beyond [`HeadBound`]: a lie (or a broken peer).
    ImplausibleHead,
}

impl Fault {
    /// Whether the fault is misbehaviour (wrong, unasked-for or implausible data, a broken
    /// protocol) rather than slowness; only misbehaviour earns the full ban.
    pub fn is_misbehaviour(self) -> bool {
        !matches!(self, Self::Timeout | Self::Slow | Self::Empty)
    }

    /// The score change of this fault (`None` = ban).
    pub fn penalty(self) -> Option<i64> {
        Some(match self {
            Self::Slow => -2,
            Self::Empty => -1,
            Self::Suspicious => -5,
            Self::Timeout | Self::UnknownHead => -25,
            Self::ImplausibleHead => -50,
            Self::Invalid | Self::Unrequested => -100,
            Self::ProtocolViolation => return None,
        })
    }
}

/// Errors of pool requests.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No suitable idle peer within the acquire timeout.
    #[error("no suitable peer available within {0:?}")]
    NoPeers(Duration),
    /// Every attempt failed.
    #[error("request failed after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: usize,
        /// The last error.
        last: String,
    },
}

/// A snapshot of one peer for metrics and the `Peers` RPC.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStats {
    /// Node id.
    pub node_id: NodeId,
    /// `enode://` URL (for inbound peers: their address and advertised listen port).
    pub enode: String,
    /// Client id from `Hello`.
    pub client: String,
    /// Remote address.
    pub addr: Option<SocketAddr>,
    /// Negotiated eth version.
    pub eth_version: u32,
    /// Head hash from `Status` / the latest range update / the highest announced block.
    pub head_hash: B256,
    /// Head number (a claim, bounded by [`HeadBound`]): eth/69 from `Status` and
    /// `BlockRangeUpdate`; eth/68 from the header of the `Status` head hash, fetched right after
    /// the handshake; on either version raised by `NewBlockHashes` announcements.
    pub head_number: Option<u64>,
    /// Served block range (eth/69 only, from `Status` and `BlockRangeUpdate`).
    pub served_range: Option<(u64, u64)>,
    /// Current score.
    pub score: i64,
    /// RTT estimate.
    pub rtt: Duration,
    /// Estimated items/s for headers, bodies, receipts (0 when unknown).
    pub rates: [f64; 3],
    /// Requests in flight.
    pub in_flight: usize,
    /// Whether the peer connected to us.
    pub inbound: bool,
    /// Completed requests.
    pub requests: u64,
    /// Items received.
    pub items: u64,
    /// Faults recorded.
    pub faults: u64,
    /// Connected for.
    pub connected_for: Duration,
}

/// Identifies a peer in responses (for [`Pool::report`]).
pub type PeerId = NodeId;

/// A response and the peer that sent it.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The peer.
    pub peer: PeerId,
    /// The data.
    pub data: T,
}

struct PeerEntry {
    handle: SessionHandle,
    enode: String,
    inbound: bool,
    score: i64,
    in_flight: usize,
    rate: RateTracker,
    range: Option<BlockRangeUpdate>,
    /// Highest block announced with `NewBlockHashes` (number, hash).
    announced: Option<(u64, B256)>,
    /// eth/68: the number of the `Status` head, from its header.
    probed: Option<u64>,
    head_hash: B256,
    requests: u64,
    items: u64,
    faults: u64,
    connected_at: Instant,
}

impl PeerEntry {
    /// The highest head known: range update, announcement or probed `Status` head.
    fn head_number(&self) -> Option<u64> {
        let ranged = self.range.map(|r| r.latest);
        let announced = self.announced.map(|(n, _)| n);
        ranged.max(announced).max(self.probed)
    }
}

#[derive(Default)]
struct State {
    peers: HashMap<NodeId, PeerEntry>,
    bans: HashMap<NodeId, Instant>,
    dialing: HashMap<NodeId, Instant>,
}

struct Inner {
    config: PoolConfig,
    secret: SecretKey,
    state: Mutex<State>,
    notify: Notify,
}

/// The peer pool. Cloning is cheap; background tasks stop when [`Pool::shutdown`] is called
/// or the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
    tasks: Arc<Tasks>,
}

struct Tasks(Mutex<Vec<JoinHandle<()>>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        if let Ok(tasks) = self.0.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("peers", &self.peer_count())
            .finish_non_exhaustive()
    }
}

struct Lease {
    pool: Arc<Inner>,
    peer: NodeId,
    handle: SessionHandle,
    capacity: usize,
    timeout: Duration,
    expected: Duration,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut st) = self.pool.state.lock()
            && let Some(p) = st.peers.get_mut(&self.peer)
        {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
        self.pool.notify.notify_waiters();
    }
}

impl Pool {
    /// Starts a pool: dials `config.static_peers` and, if `listener` is given, accepts
    /// inbound peers.
    pub fn start(config: PoolConfig, secret: SecretKey, listener: Option<TcpListener>) -> Self {
        let mut config = config;
        if let Some(l) = &listener
            && let Ok(addr) = l.local_addr()
        {
            config.session.listen_port = addr.port();
        }
        let inner = Arc::new(Inner {
            config,
            secret,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
        });
        let mut tasks = Vec::new();
        let dialer = inner.clone();
        tasks.push(tokio::spawn(async move { dial_loop(dialer).await }));
        if let Some(listener) = listener {
            let acceptor = inner.clone();
            tasks.push(tokio::spawn(async move {
                accept_loop(acceptor, listener).await
            }));
        }
        Self {
            inner,
            tasks: Arc::new(Tasks(Mutex::new(tasks))),
        }
    }

    /// Feeds the pool from discv4: every `redial_interval`, nodes in the discovery table that
    /// are not connected, not banned and not recently dialed are dialed while the pool is below
    /// `max_peers` (chain membership is still checked at `Status`). Without this call the pool
    /// runs in static mode (`--no-discovery`): only `static_peers` and inbound peers.
    pub fn discover_from(&self, discv4: Arc<crate::discv4::Discv4>) {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(inner.config.redial_interval.max(Duration::from_millis(50)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let free = match inner.state.lock() {
                    Ok(st) => inner.config.max_peers.saturating_sub(st.peers.len()),
                    Err(_) => return,
                };
                if free == 0 {
                    continue;
                }
                let candidates: Vec<Enode> = {
                    let Ok(st) = inner.state.lock() else { return };
                    discv4
                        .enodes()
                        .into_iter()
                        .filter(|e| !st.peers.contains_key(&e.id) && !inner.banned(&st, &e.id))
                        .take(free)
                        .collect()
                };
                for enode in candidates {
                    let inner = inner.clone();
                    tokio::spawn(async move { dial(inner, enode).await });
                }
            }
        });
        if let Ok(mut tasks) = self.tasks.0.lock() {
            tasks.push(task);
        }
    }

    /// Adds a static peer at runtime (e.g. found by discovery).
    pub fn add_peer(&self, enode: Enode) {
        let inner = self.inner.clone();
        tokio::spawn(async move { dial(inner, enode).await });
    }

    /// Stops dialing and accepting and disconnects every peer.
    pub async fn shutdown(&self) {
        if let Ok(tasks) = self.tasks.0.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        let handles: Vec<SessionHandle> = match self.inner.state.lock() {
            Ok(st) => st.peers.values().map(|p| p.handle.clone()).collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            h.disconnect(DisconnectReason::ClientQuitting).await;
        }
    }

    /// Connected peers.
    pub fn peer_count(&self) -> usize {
        self.inner.state.lock().map(|s| s.peers.len()).unwrap_or(0)
    }

    /// Whether `peer` is currently banned.
    pub fn is_banned(&self, peer: &NodeId) -> bool {
        self.inner
            .state
            .lock()
            .map(|s| {
                s.bans
                    .get(peer)
                    .is_some_and(|until| *until > Instant::now())
            })
            .unwrap_or(false)
    }

    /// Banned peers (ban not yet expired).
    pub fn banned(&self) -> Vec<NodeId> {
        let now = Instant::now();
        self.inner
            .state
            .lock()
            .map(|s| {
                s.bans
                    .iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until at least `n` peers are connected (or `timeout` passes); returns whether
    /// they are.
    pub async fn wait_for_peers(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.peer_count() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// A snapshot of every connected peer.
    pub fn stats(&self) -> Vec<PeerStats> {
        let Ok(st) = self.inner.state.lock() else {
            return Vec::new();
        };
        let mut out: Vec<PeerStats> = st
            .peers
            .iter()
            .map(|(id, p)| {
                let info = p.handle.info();
                PeerStats {
                    node_id: *id,
                    enode: p.enode.clone(),
                    client: info.remote_hello.client_id.clone(),
                    addr: info.remote_addr,
                    eth_version: info.eth_version.number(),
                    head_hash: p.head_hash,
                    head_number: p.head_number(),
                    served_range: p.range.map(|r| (r.earliest, r.latest)),
                    score: p.score,
                    rtt: p.rate.rtt(),
                    rates: [Kind::Headers, Kind::Bodies, Kind::Receipts]
                        .map(|k| p.rate.rate(k).unwrap_or(0.0)),
                    in_flight: p.in_flight,
                    inbound: p.inbound,
                    requests: p.requests,
                    items: p.items,
                    faults: p.faults,
                    connected_for: p.connected_at.elapsed(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.node_id.cmp(&b.node_id)));
        out
    }

    /// Records a fault found by the caller (e.g. a body that does not match its header).
    pub fn report(&self, peer: PeerId, fault: Fault) {
        self.inner.fault(peer, fault);
    }

    /// Disconnects and bans `peer` for `duration` (an operator's decision), connected or not.
    pub fn ban_for(&self, peer: NodeId, duration: Duration) {
        self.inner.ban_for(peer, Fault::ProtocolViolation, duration);
    }

    /// Up to `count` consecutive headers from `start` (the pool may ask for fewer, sized to
    /// the peer; a peer may answer with fewer).
    pub async fn request_headers(
        &self,
        start: u64,
        count: u64,
    ) -> Result<Response<Vec<Bytes>>, PoolError> {
        let count = count.max(1);
        self.request(Kind::Headers, Some(start), |handle, cap| {
            let amount = count.min(cap as u64);
            async move {
                handle
                    .get_block_headers(GetBlockHeaders {
                        origin: BlockId::Number(start),
                        amount,
                        skip: 0,
                        reverse: false,
                    })
                    .await
            }
        })
        .await
    }

    /// Bodies for (a prefix of) `hashes`.
    pub async fn request_bodies(&self, hashes: &[B256]) -> Result<Response<Vec<Bytes>>, PoolError> {
        self.request(Kind::Bodies, None, |handle, cap| {
            let hashes = hashes[..hashes.len().min(cap)].to_vec();
            async move { handle.get_block_bodies(hashes).await }
        })
        .await
    }

    /// Receipts (consensus encodings) for (a prefix of) `hashes`.
    pub async fn request_receipts(
        &self,
        hashes: &[B256],
    ) -> Result<Response<Vec<Vec<Bytes>>>, PoolError> {
        self.request_receipts_with(hashes, &[]).await
    }

    /// Receipts for (a prefix of) `hashes`, `limits[i]` bounding block `i` (eth/70 partial
    /// lists are reassembled and checked in the session; a peer breaking EIP-7975's rules
    /// is scored as [`Fault::Invalid`] and the request goes to another peer).
    pub async fn request_receipts_with(
        &self,
        hashes: &[B256],
        limits: &[ReceiptLimits],
    ) -> Result<Response<Vec<Vec<Bytes>>>, PoolError> {
        self.request(Kind::Receipts, None, |handle, cap| {
            let n = hashes.len().min(cap);
            let hashes = hashes[..n].to_vec();
            let limits = limits[..limits.len().min(n)].to_vec();
            async move { handle.get_receipts_with(hashes, limits).await }
        })
        .await
    }

    async fn request<T, F, Fut>(
        &self,
        kind: Kind,
        block: Option<u64>,
        make: F,
    ) -> Result<Response<Vec<T>>, PoolError>
    where
        F: Fn(SessionHandle, usize) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, SessionError>>,
    {
        let mut last = String::from("no attempt");
        let attempts = self.inner.config.max_attempts.max(1);
        for _ in 0..attempts {
            let lease = self.acquire(kind, block).await?;
            let started = Instant::now();
            let res =
                tokio::time::timeout(lease.timeout, make(lease.handle.clone(), lease.capacity))
                    .await;
            let elapsed = started.elapsed();
            match res {
                Ok(Ok(items)) => {
                    self.inner
                        .success(lease.peer, kind, elapsed, items.len(), lease.expected);
                    return Ok(Response {
                        peer: lease.peer,
                        data: items,
                    });
                }
                Ok(Err(e)) => {
                    last = format!("peer {}: {e}", short(&lease.peer));
                    match e.blame() {
                        Blame::Peer => {
                            let fault = match e {
                                SessionError::RequestTimeout => Fault::Timeout,
                                // Bad eth/70 partial receipts: invalid data, like a wrong
                                // receipts root.
                                SessionError::PartialReceipts(_) => Fault::Invalid,
                                _ => Fault::ProtocolViolation,
                            };
                            self.inner.fault(lease.peer, fault);
                        }
                        _ => self.inner.remove(&lease.peer),
                    }
                }
                Err(_) => {
                    last = format!("peer {}: timed out after {elapsed:?}", short(&lease.peer));
                    if let Ok(mut st) = self.inner.state.lock()
                        && let Some(p) = st.peers.get_mut(&lease.peer)
                    {
                        p.rate.timed_out(kind, elapsed);
                    }
                    self.inner.fault(lease.peer, Fault::Timeout);
                }
            }
        }
        Err(PoolError::Exhausted { attempts, last })
    }

    async fn acquire(&self, kind: Kind, block: Option<u64>) -> Result<Lease, PoolError> {
        let wait = self.inner.config.acquire_timeout;
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(lease) = self.try_acquire(kind, block) {
                return Ok(lease);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PoolError::NoPeers(wait));
            }
            // Re-check periodically too (bans expire, ranges change).
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    fn try_acquire(&self, kind: Kind, block: Option<u64>) -> Option<Lease> {
        let cfg = &self.inner.config;
        let mut st = self.inner.state.lock().ok()?;
        let best = st
            .peers
            .iter()
            .filter(|(_, p)| p.in_flight < cfg.max_in_flight_per_peer.max(1))
            .filter(|(_, p)| match (block, p.range) {
                (Some(n), Some(r)) => n >= r.earliest && n <= r.latest,
                _ => true,
            })
            .map(|(id, p)| {
                // Unmeasured peers get tried first; then faster and better-scored peers;
                // idle peers before busy ones.
                let rate = p.rate.rate(kind).unwrap_or(f64::MAX / 4.0);
                let score = if p.score >= 0 {
                    1.0
                } else {
                    1.0 / (1.0 - p.score as f64 / 10.0)
                };
                let prio = rate * score / (1.0 + p.in_flight as f64);
                (*id, prio)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?
            .0;
        let p = st.peers.get_mut(&best)?;
        p.in_flight += 1;
        let capacity = p.rate.capacity(kind, cfg.target_rtt);
        let timeout = p.rate.timeout(cfg.min_timeout, cfg.max_timeout);
        let expected = p.rate.rate(kind).map_or(timeout, |r| {
            Duration::from_secs_f64((capacity as f64 / r.max(1e-3)).min(3600.0)) + p.rate.rtt()
        });
        Some(Lease {
            pool: self.inner.clone(),
            peer: best,
            handle: p.handle.clone(),
            capacity,
            timeout,
            expected,
        })
    }
}

/// The first six bytes of a node id in hex, for logs.
pub fn short(id: &NodeId) -> String {
    hex::encode(&id[..6])
}

impl Inner {
    fn success(
        &self,
        peer: NodeId,
        kind: Kind,
        elapsed: Duration,
        items: usize,
        expected: Duration,
    ) {
        let slow = elapsed > expected * 3 && elapsed > self.config.min_timeout;
        if let Ok(mut st) = self.state.lock()
            && let Some(p) = st.peers.get_mut(&peer)
        {
            p.rate.update(kind, elapsed, items);
            p.requests += 1;
            p.items += items as u64;
            if items > 0 {
                p.score = (p.score + 1).min(MAX_SCORE);
            }
        }
        if slow {
            self.fault(peer, Fault::Slow);
        } else if items == 0 {
            self.fault(peer, Fault::Empty);
        }
    }

    fn fault(&self, peer: NodeId, fault: Fault) {
        let ban = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let Some(p) = st.peers.get_mut(&peer) else {
                return;
            };
            p.faults += 1;
            match fault.penalty() {
                None => true,
                Some(delta) => {
                    p.score = (p.score + delta).max(BAN_SCORE);
                    p.score <= BAN_SCORE
                }
            }
        };
        debug!(peer = %short(&peer), ?fault, "peer fault");
        if ban {
            self.ban(peer, fault);
        }
    }

    /// Bans `peer` whose score ran out on `fault`: for the ban's length when it misbehaved,
    /// for the cooldown when it was only slow.
    fn ban(&self, peer: NodeId, fault: Fault) {
        let duration = if fault.is_misbehaviour() {
            self.config.ban_duration
        } else {
            self.config.cooldown.min(self.config.ban_duration)
        };
        self.ban_for(peer, fault, duration);
    }

    fn ban_for(&self, peer: NodeId, fault: Fault, duration: Duration) {
        // A ban of any length (an operator's `BanPeer` may ask for centuries) ends at the
        // latest after MAX_BAN: the deadline is computed before the lock, never overflowing.
        let duration = duration.min(MAX_BAN);
        let until = Instant::now()
            .checked_add(duration)
            .unwrap_or_else(Instant::now);
        let handle = match self.state.lock() {
            Ok(mut st) => {
                st.bans.insert(peer, until);
                st.peers.remove(&peer).map(|p| p.handle)
            }
            Err(_) => None,
        };
        info!(peer = %short(&peer), ?fault, ban = ?duration, "banning peer");
        if let Some(h) = handle {
            let reason = match fault {
                Fault::ProtocolViolation | Fault::Invalid | Fault::Unrequested => {
                    DisconnectReason::ProtocolBreach
                }
                _ => DisconnectReason::UselessPeer,
            };
            tokio::spawn(async move { h.disconnect(reason).await });
        }
        self.notify.notify_waiters();
    }

    fn remove(&self, peer: &NodeId) {
        if let Ok(mut st) = self.state.lock() {
            st.peers.remove(peer);
        }
        self.notify.notify_waiters();
    }

    fn banned(&self, st: &State, id: &NodeId) -> bool {
        st.bans.get(id).is_some_and(|until| *until > Instant::now())
    }

    /// Registers an established session; returns it back if it must be refused.
    fn admit(self: &Arc<Self>, session: Session, enode: String, inbound: bool, rtt: Duration) {
        let info = session.info().clone();
        let id = info.remote_id;
        let mut probe = None;
        let mut implausible = false;
        let refuse = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            if self.banned(&st, &id) {
                Some(DisconnectReason::UselessPeer)
            } else if st.peers.contains_key(&id) {
                Some(DisconnectReason::AlreadyConnected)
            } else if st.peers.len() >= self.config.max_peers {
                Some(DisconnectReason::TooManyPeers)
            } else {
                let (range, head_hash) = match &info.remote_status {
                    Status::Eth68(s) => {
                        probe = Some(s.head_hash);
                        (None, s.head_hash)
                    }
                    Status::Eth69(s) => (info.remote_status.block_range(), s.latest_hash),
                };
                // A range reaching beyond any plausible head is ignored (the peer is then
                // treated as one whose range is unknown) and scored below.
                let range = match range {
                    Some(r) if !self.config.head_bound.plausible(r.latest) => {
                        implausible = true;
                        None
                    }
                    r => r,
                };
                st.peers.insert(
                    id,
                    PeerEntry {
                        handle: session.handle(),
                        enode,
                        inbound,
                        score: 0,
                        in_flight: 0,
                        rate: RateTracker::new(
                            rtt.max(Duration::from_millis(1)),
                            self.config.initial_capacity,
                        ),
                        range,
                        announced: None,
                        probed: None,
                        head_hash,
                        requests: 0,
                        items: 0,
                        faults: 0,
                        connected_at: Instant::now(),
                    },
                );
                None
            }
        };
        if let Some(reason) = refuse {
            debug!(peer = %short(&id), %reason, "refusing peer");
            tokio::spawn(async move { session.disconnect(reason).await });
            return;
        }
        info!(
            peer = %short(&id),
            client = %info.remote_hello.client_id,
            eth = info.eth_version.number(),
            inbound,
            "peer added to pool"
        );
        if implausible {
            debug!(peer = %short(&id), "implausible head in Status");
            self.fault(id, Fault::ImplausibleHead);
        }
        if let Some(hash) = probe {
            let inner = self.clone();
            let handle = session.handle();
            tokio::spawn(async move { probe_head(inner, id, handle, hash).await });
        }
        self.notify.notify_waiters();
        let inner = self.clone();
        tokio::spawn(async move { watch(inner, id, session).await });
    }

    /// Records an eth/68 peer's head number learned from its `Status` head header.
    fn set_probed(&self, id: NodeId, number: u64) {
        if let Ok(mut st) = self.state.lock()
            && let Some(p) = st.peers.get_mut(&id)
        {
            p.probed = Some(number);
        }
        self.notify.notify_waiters();
    }
}

/// Why an answer to the head probe does not establish the head.
fn check_head(headers: &[Bytes], hash: B256) -> Result<u64, Fault> {
    let [raw] = headers else {
        // Nothing (or more than asked, which the session already refuses).
        return Err(Fault::UnknownHead);
    };
    let header = hypasis_primitives::rlp::decode_exact::<alloy_consensus::Header>(raw)
        .map_err(|_| Fault::Invalid)?;
    if alloy_primitives::keccak256(raw) != hash {
        return Err(Fault::UnknownHead);
    }
    Ok(header.number)
}

/// Asks an eth/68 peer for the header of the head hash its `Status` names (one
/// `GetBlockHeaders` by hash, amount 1) and records its number as the peer's head.
async fn probe_head(inner: Arc<Inner>, id: NodeId, handle: SessionHandle, hash: B256) {
    let request = GetBlockHeaders {
        origin: BlockId::Hash(hash),
        amount: 1,
        skip: 0,
        reverse: false,
    };
    let timeout = inner.config.head_probe_timeout;
    let outcome = match tokio::time::timeout(timeout, handle.get_block_headers(request)).await {
        Err(_) | Ok(Err(SessionError::RequestTimeout)) => Err(Fault::UnknownHead),
        Ok(Err(e)) => match e.blame() {
            Blame::Peer => Err(Fault::ProtocolViolation),
            // The session ended for another reason: `watch` removes the peer.
            _ => return,
        },
        Ok(Ok(headers)) => check_head(&headers, hash),
    };
    match outcome {
        Ok(n) if inner.config.head_bound.plausible(n) => {
            debug!(peer = %short(&id), head = n, "eth/68 head learned");
            inner.set_probed(id, n);
        }
        Ok(n) => {
            debug!(peer = %short(&id), head = n, "implausible eth/68 head");
            inner.fault(id, Fault::ImplausibleHead);
        }
        Err(fault) => {
            debug!(peer = %short(&id), ?fault, "eth/68 peer cannot produce its head");
            inner.fault(id, fault);
        }
    }
}

/// Follows a session's events until it ends, then removes the peer.
async fn watch(inner: Arc<Inner>, id: NodeId, mut session: Session) {
    while let Some(ev) = session.next_event().await {
        match ev {
            SessionEvent::BlockRangeUpdate(r) => {
                if !inner.config.head_bound.plausible(r.latest) {
                    debug!(peer = %short(&id), latest = r.latest, "implausible range update");
                    inner.fault(id, Fault::ImplausibleHead);
                    continue;
                }
                if let Ok(mut st) = inner.state.lock()
                    && let Some(p) = st.peers.get_mut(&id)
                {
                    p.range = Some(r);
                    // The range is authoritative (it may move back after a reorg).
                    p.announced = p.announced.filter(|(n, _)| *n <= r.latest);
                    p.head_hash = r.latest_hash;
                }
            }
            SessionEvent::NewBlockHashes(list) => {
                let bound = inner.config.head_bound.limit();
                if list.iter().any(|e| e.number > bound) {
                    debug!(peer = %short(&id), "implausible block announcement");
                    inner.fault(id, Fault::ImplausibleHead);
                }
                let Some(top) = list
                    .iter()
                    .filter(|e| e.number <= bound)
                    .max_by_key(|e| e.number)
                else {
                    continue;
                };
                if let Ok(mut st) = inner.state.lock()
                    && let Some(p) = st.peers.get_mut(&id)
                    && p.head_number().is_none_or(|n| top.number > n)
                {
                    p.announced = Some((top.number, top.hash));
                    p.head_hash = top.hash;
                }
            }
            SessionEvent::UnrequestedResponse { request_id } => {
                debug!(peer = %short(&id), request_id, "unrequested response");
                inner.fault(id, Fault::Unrequested);
            }
            SessionEvent::NewBlock(_) => {}
        }
    }
    let reason = session.closed().await;
    debug!(peer = %short(&id), %reason, "pool session ended");
    if reason.is_peer_fault() && !matches!(reason, SessionError::PingTimeout) {
        inner.fault(id, Fault::ProtocolViolation);
    }
    inner.remove(&id);
}

async fn dial(inner: Arc<Inner>, enode: Enode) {
    {
        let Ok(mut st) = inner.state.lock() else {
            return;
        };
        let now = Instant::now();
        if st.peers.contains_key(&enode.id)
            || inner.banned(&st, &enode.id)
            || st.peers.len() >= inner.config.max_peers
            || st
                .dialing
                .get(&enode.id)
                .is_some_and(|t| now.duration_since(*t) < inner.config.redial_interval)
        {
            return;
        }
        st.dialing.insert(enode.id, now);
    }
    let started = Instant::now();
    match crate::session::connect(&inner.secret, &enode, inner.config.session.clone()).await {
        Ok(session) => {
            let rtt = started.elapsed() / 3;
            inner.admit(session, enode.to_string(), false, rtt);
        }
        Err(e) => debug!(peer = %enode, error = %e, "dial failed"),
    }
}

async fn dial_loop(inner: Arc<Inner>) {
    let mut tick =
        tokio::time::interval(inner.config.redial_interval.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for enode in inner.config.static_peers.clone() {
            let inner = inner.clone();
            tokio::spawn(async move { dial(inner, enode).await });
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let full = inner
            .state
            .lock()
            .map(|s| s.peers.len() >= inner.config.max_peers)
            .unwrap_or(true);
        if full {
            // The handshake would end with TooManyPeers anyway; save the crypto.
            drop(stream);
            continue;
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            match crate::session::accept(stream, &inner.secret, inner.config.session.clone()).await
            {
                Ok(session) => {
                    let rtt = started.elapsed() / 3;
                    let info = session.info();
                    let port = if info.remote_hello.listen_port != 0 {
                        info.remote_hello.listen_port
                    } else {
                        addr.port()
                    };
                    let enode = format!(
                        "enode://{}@{}",
                        hex::encode(info.remote_id),
                        SocketAddr::new(addr.ip(), port)
                    );
                    inner.admit(session, enode, true, rtt);
                }
                Err(e) => debug!(%addr, error = %e, "inbound handshake failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests;

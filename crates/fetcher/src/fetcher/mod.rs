//! The fetcher worker loop: each leased unit runs through an explicit state machine
//! ([`UnitPhase`]) — Leased → Headers → Bodies/Receipts → Validating → Storing → Completed, or
//! Failed with the reason given back to the scheduler.

use crate::budget::{ByteBudget, Reservation};
use crate::lease::{LeaseError, LeaseSource, LeasedUnit};
use crate::metrics::FetcherMetrics;
use crate::sink::{BlockSink, MAX_BATCH_BYTES, split_batches};
use alloy_primitives::{B256, Bytes};
use hypasis_devp2p::blockfile::receipts_file_item;
use hypasis_devp2p::fetch::{
    FetchConfig, FetchError, FetchedBlock, Progress, Requester, fetch_range,
};
use hypasis_devp2p::pool::{Fault, PeerId, Pool};
use hypasis_devp2p::verify::VerifyError;
use hypasis_primitives::{Checkpoint, RawBlock, VerificationLevel};
use hypasis_scheduler_core::{Direction, FailureReason};
use hypasis_validation::{
    Anchors, BlockData, CheckpointAnchor, SealedHeader, ValidationError, Validator,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// Fetcher settings.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// Id given to the scheduler.
    pub fetcher_id: String,
    /// Units worked on at once.
    pub parallel_units: u32,
    /// Bytes of blocks in flight at most (default 256 MiB).
    pub memory_budget: u64,
    /// Initial estimate of a block's size, refined as blocks arrive.
    pub initial_block_bytes: u64,
    /// Largest store batch.
    pub max_batch_bytes: usize,
    /// Download tuning.
    pub fetch: FetchConfig,
    /// Interval of progress logs.
    pub progress_interval: Duration,
    /// Longest wait between acquire attempts.
    pub max_idle: Duration,
    /// How long a downloaded unit without a trusted anchor waits for a stored neighbour
    /// (the block before it, or the block after it) to link to before giving the unit back.
    pub link_wait: Duration,
    /// Validate through the validator service (its channel and the chain) instead of the
    /// in-process validation library.
    pub validator_service: Option<(tonic::transport::Channel, hypasis_proto::v1::ChainId)>,
}

impl FetcherConfig {
    /// Defaults with the given id.
    pub fn new(fetcher_id: impl Into<String>) -> Self {
        Self {
            fetcher_id: fetcher_id.into(),
            parallel_units: 4,
            memory_budget: 256 * 1024 * 1024,
            initial_block_bytes: 64 * 1024,
            max_batch_bytes: MAX_BATCH_BYTES,
            fetch: FetchConfig::default(),
            progress_interval: Duration::from_secs(5),
            max_idle: Duration::from_secs(2),
            link_wait: Duration::from_secs(60),
            validator_service: None,
        }
    }
}

/// Where a unit is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitPhase {
    /// Leased, waiting for memory budget.
    Leased,
    /// Waiting, without memory, for the block it links to (a neighbour being fetched).
    WaitingForLink,
    /// Downloading headers.
    Headers,
    /// Downloading bodies and receipts.
    Bodies,
    /// Running the validation rules.
    Validating,
    /// Writing to the store.
    Storing,
    /// Stored and completed.
    Completed,
    /// Given back.
    Failed(FailureReason, String),
}

/// A unit being worked on (for status).
#[derive(Debug, Clone)]
pub struct ActiveUnit {
    /// The lease.
    pub lease: LeasedUnit,
    /// Its phase.
    pub phase: UnitPhase,
}

#[derive(Debug, Default)]
struct DirCounters {
    stored: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    config: FetcherConfig,
    leases: Arc<dyn LeaseSource>,
    sink: Arc<dyn BlockSink>,
    pool: Pool,
    validator: Arc<Validator>,
    checkpoints: Mutex<HashMap<u64, Checkpoint>>,
    budget: ByteBudget,
    metrics: FetcherMetrics,
    active: Mutex<HashMap<String, ActiveUnit>>,
    avg_block_bytes: AtomicU64,
    /// Units waiting for a link without holding memory (they do not take a slot).
    link_waiting: std::sync::atomic::AtomicU32,
    /// Woken whenever this fetcher stored a batch (a neighbour's link may be there now).
    stored_batch: tokio::sync::Notify,
    dirs: [DirCounters; 2],
    rates: Mutex<[f64; 2]>,
}

/// The fetcher. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pooled")
    }
}

/// Outcome of working on a unit.
enum Outcome {
    Completed,
    Failed(FailureReason, String),
    /// The lease was lost (expired/superseded): nothing to report.
    Lost(String),
    /// Downloaded but not linked yet while others wait for memory: release the blocks, wait
    /// for the link and fetch again (never leaves `process`).
    Release,
}

impl Fetcher {
    /// A fetcher over a lease source, a sink, the peer pool and a validator.
    pub fn new(
        config: FetcherConfig,
        leases: Arc<dyn LeaseSource>,
        sink: Arc<dyn BlockSink>,
        pool: Pool,
        validator: Validator,
        metrics: FetcherMetrics,
    ) -> Self {
        let budget = ByteBudget::new(config.memory_budget, metrics.clone());
        let avg = AtomicU64::new(config.initial_block_bytes.max(1));
        Self {
            shared: Arc::new(Shared {
                config,
                leases,
                sink,
                pool,
                validator: Arc::new(validator),
                checkpoints: Mutex::new(HashMap::new()),
                budget,
                metrics,
                active: Mutex::new(HashMap::new()),
                avg_block_bytes: avg,
                link_waiting: std::sync::atomic::AtomicU32::new(0),
                stored_batch: tokio::sync::Notify::new(),
                dirs: Default::default(),
                rates: Mutex::new([0.0; 2]),
            }),
        }
    }

    /// Makes a checkpoint known: units with its id are checked against its root.
    pub fn add_checkpoint(&self, cp: Checkpoint) {
        self.shared.checkpoints.lock().unwrap().insert(cp.id, cp);
    }

    /// The peer pool.
    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    /// Metrics.
    pub fn metrics(&self) -> &FetcherMetrics {
        &self.shared.metrics
    }

    /// The memory budget.
    pub fn budget(&self) -> &ByteBudget {
        &self.shared.budget
    }

    /// Units being worked on.
    pub fn active(&self) -> Vec<ActiveUnit> {
        self.shared
            .active
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// Blocks/s stored, per direction (forward, backward), over the last progress interval.
    pub fn rates(&self) -> [f64; 2] {
        *self.shared.rates.lock().unwrap()
    }

    /// Blocks stored per direction since start.
    pub fn stored(&self, d: Direction) -> u64 {
        self.shared.dirs[d.index()].stored.load(Ordering::Relaxed)
    }

    /// Highest head number the connected peers claim (eth/69 `Status`/`BlockRangeUpdate`,
    /// eth/68 `Status` head header, `NewBlockHashes`; implausible claims are dropped by the
    /// pool). A hint: the scheduler bounds what it cuts from it.
    pub fn tip(&self) -> Option<u64> {
        self.shared
            .pool
            .stats()
            .iter()
            .filter_map(|p| p.head_number.or(p.served_range.map(|r| r.1)))
            .max()
    }

    /// Runs until `shutdown` turns true: acquires leases while fewer than `parallel_units` are
    /// in progress and works on each in its own task.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks: JoinSet<()> = JoinSet::new();
        let progress = tokio::spawn(self.clone().progress_loop());
        let mut idle = Duration::from_millis(50);
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Units waiting for a neighbour's link hold no memory and leave their slot to
            // others (the neighbour may need it), up to twice the slots in all.
            let running = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
            let parked = self
                .shared
                .link_waiting
                .load(Ordering::Relaxed)
                .min(running);
            let slots = self.shared.config.parallel_units;
            let want = slots
                .saturating_sub(running - parked)
                .min((2 * slots).saturating_sub(running));
            let mut got = 0;
            if want > 0 {
                match self
                    .shared
                    .leases
                    .acquire(&self.shared.config.fetcher_id, want)
                    .await
                {
                    Ok((leases, retry)) => {
                        got = leases.len();
                        idle = retry.clamp(Duration::from_millis(20), self.shared.config.max_idle);
                        for l in leases {
                            let me = self.clone();
                            tasks.spawn(async move { me.work(l).await });
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "acquiring leases failed");
                        idle = self.shared.config.max_idle;
                    }
                }
            }
            if got > 0 {
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        tasks.shutdown().await;
        progress.abort();
    }

    async fn progress_loop(self) {
        let every = self.shared.config.progress_interval;
        let mut last = [0u64; 2];
        let mut at = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let secs = at.elapsed().as_secs_f64().max(0.001);
            at = Instant::now();
            self.shared
                .metrics
                .peers
                .set(i64::try_from(self.shared.pool.peer_count()).unwrap_or(0));
            let active = self.active();
            let mut rates = [0.0; 2];
            for d in Direction::ALL {
                let now = self.stored(d);
                let rate = (now - last[d.index()]) as f64 / secs;
                last[d.index()] = now;
                rates[d.index()] = rate;
                let leased: u64 = active
                    .iter()
                    .filter(|a| a.lease.direction == d)
                    .map(|a| a.lease.blocks())
                    .sum();
                let eta = (rate > 0.0).then(|| Duration::from_secs_f64(leased as f64 / rate));
                info!(
                    direction = d.name(),
                    blocks_per_second = format!("{rate:.1}"),
                    stored = now,
                    leased_blocks = leased,
                    eta_leased = ?eta,
                    peers = self.shared.pool.peer_count(),
                    bytes_in_flight = self.shared.budget.in_flight(),
                    "fetcher progress"
                );
            }
            *self.shared.rates.lock().unwrap() = rates;
        }
    }

    fn set_phase(&self, lease: &LeasedUnit, phase: UnitPhase) {
        let mut a = self.shared.active.lock().unwrap();
        if matches!(phase, UnitPhase::Completed | UnitPhase::Failed(..)) {
            a.remove(&lease.lease_id);
        } else {
            a.insert(
                lease.lease_id.clone(),
                ActiveUnit {
                    lease: lease.clone(),
                    phase,
                },
            );
        }
    }

    /// Works on one unit: the state machine plus lease renewal at a third of the TTL.
    async fn work(&self, lease: LeasedUnit) {
        self.set_phase(&lease, UnitPhase::Leased);
        let outcome = {
            let renew = self.renew_loop(lease.clone());
            let run = self.process(&lease);
            tokio::pin!(renew, run);
            tokio::select! {
                o = &mut run => o,
                e = &mut renew => Outcome::Lost(e.to_string()),
            }
        };
        let m = &self.shared.metrics.units;
        // `process` resolves `Release` itself; should one escape, give the unit back.
        match outcome {
            Outcome::Completed => {
                m.with_label_values(&["completed"]).inc();
                self.set_phase(&lease, UnitPhase::Completed);
            }
            Outcome::Release => {
                // `process` resolves `Release` itself; should one escape, give the unit back.
                if let Err(e) = self
                    .shared
                    .leases
                    .fail(&lease, FailureReason::Local, "released")
                    .await
                {
                    warn!(unit = lease.unit_id, error = %e, "failing the lease failed");
                }
                self.set_phase(
                    &lease,
                    UnitPhase::Failed(FailureReason::Local, "released".into()),
                );
            }
            Outcome::Failed(reason, msg) => {
                let label = match reason {
                    FailureReason::PeerFault => "peer_fault",
                    FailureReason::NoPeer => "no_peer",
                    FailureReason::Local => "local",
                };
                m.with_label_values(&[label]).inc();
                warn!(unit = lease.unit_id, start = lease.start, end = lease.end, ?reason, error = %msg, "unit failed");
                if let Err(e) = self.shared.leases.fail(&lease, reason, &msg).await {
                    warn!(unit = lease.unit_id, error = %e, "failing the lease failed");
                }
                self.set_phase(&lease, UnitPhase::Failed(reason, msg));
            }
            Outcome::Lost(msg) => {
                m.with_label_values(&["lost"]).inc();
                warn!(unit = lease.unit_id, error = %msg, "lease lost; dropping the unit");
                self.set_phase(&lease, UnitPhase::Failed(FailureReason::Local, msg));
            }
        }
    }

    /// Renews until the lease is lost; returns why.
    async fn renew_loop(&self, mut lease: LeasedUnit) -> LeaseError {
        loop {
            let wait = (lease.remaining() / 3).max(Duration::from_millis(50));
            tokio::time::sleep(wait).await;
            match self.shared.leases.renew(&lease).await {
                Ok(exp) => lease.expires_at_ms = exp,
                Err(LeaseError::Lost(m)) => return LeaseError::Lost(m),
                Err(e) => {
                    debug!(unit = lease.unit_id, error = %e, "renewal failed; retrying");
                    if lease.remaining().is_zero() {
                        return LeaseError::Lost(format!("expired while renewal failed: {e}"));
                    }
                }
            }
        }
    }

    async fn process(&self, lease: &LeasedUnit) -> Outcome {
        let dir = lease.direction.name();
        let n = lease.blocks();
        let deadline = Instant::now() + self.shared.config.link_wait;
        let (blocks, tags, reservation, level) = loop {
            // Leased → wait for budget. A unit with something to link to waits its turn; one
            // without only prefetches into free room and otherwise waits for its link first,
            // holding no memory (the neighbour it needs may be waiting for that memory).
            let estimate = self
                .shared
                .avg_block_bytes
                .load(Ordering::Relaxed)
                .saturating_mul(n);
            let linked = match self.has_link(lease).await {
                Ok(l) => l,
                Err(e) => return Outcome::Failed(FailureReason::Local, e),
            };
            let reservation = match self.shared.budget.try_reserve(estimate) {
                Some(r) => r,
                None if linked => self.shared.budget.reserve(estimate).await,
                None => {
                    if let Err(o) = self.wait_for_link(lease, deadline).await {
                        return o;
                    }
                    continue;
                }
            };

            // Headers → Bodies/Receipts.
            self.set_phase(lease, UnitPhase::Headers);
            if let Err(o) = self.probe_links(lease).await {
                return o;
            }
            let (blocks, tags, reservation) = match self.download(lease, reservation).await {
                Ok(b) => b,
                Err(o) => return o,
            };
            // Validating (after the link is there).
            self.set_phase(lease, UnitPhase::Validating);
            match self.validate(lease, &blocks, &tags, deadline).await {
                Ok(level) => break (blocks, tags, reservation, level),
                Err(Outcome::Release) => {
                    // Others wait for memory: give it back, wait for the link, fetch again.
                    drop((blocks, tags, reservation));
                    debug!(
                        unit = lease.unit_id,
                        "released a prefetched unit waiting for its link"
                    );
                    if let Err(o) = self.wait_for_link(lease, deadline).await {
                        return o;
                    }
                }
                Err(o) => return o,
            }
        };
        let _ = tags;
        let m = &self.shared.metrics.blocks;
        m.with_label_values(&["fetched", dir])
            .inc_by(blocks.len() as u64);
        if let Some(bytes) = blocks
            .iter()
            .map(|b| (b.header.len() + b.body.len() + b.receipts.len()) as u64)
            .sum::<u64>()
            .checked_div(blocks.len() as u64)
        {
            let old = self.shared.avg_block_bytes.load(Ordering::Relaxed);
            self.shared
                .avg_block_bytes
                .store((old + bytes.max(1)) / 2 + 1, Ordering::Relaxed);
        }

        m.with_label_values(&["validated", dir])
            .inc_by(blocks.len() as u64);

        // Storing: every batch acknowledged before completing.
        self.set_phase(lease, UnitPhase::Storing);
        for batch in split_batches(blocks, self.shared.config.max_batch_bytes) {
            let len = batch.len() as u64;
            if let Err(e) = self.shared.sink.put(batch, level, &lease.lease_id).await {
                return Outcome::Failed(FailureReason::Local, e.to_string());
            }
            m.with_label_values(&["stored", dir]).inc_by(len);
            self.shared.stored_batch.notify_waiters();
            self.shared.dirs[lease.direction.index()]
                .stored
                .fetch_add(len, Ordering::Relaxed);
        }
        drop(reservation);
        match self.shared.leases.complete(lease).await {
            Ok(()) => Outcome::Completed,
            Err(LeaseError::Lost(m)) => Outcome::Lost(m),
            Err(e) => Outcome::Failed(FailureReason::Local, format!("complete: {e}")),
        }
    }

    /// Downloads the unit. `fetch_range`'s future is not `Send` (a higher-ranked lifetime in
    /// its body/receipt streams), so it runs on a blocking thread driving the runtime.
    async fn download(
        &self,
        lease: &LeasedUnit,
        reservation: Reservation,
    ) -> Result<(Vec<RawBlock>, Tags, Reservation), Outcome> {
        let requester = Pooled {
            pool: self.shared.pool.clone(),
            tags: Mutex::new(Tags::default()),
        };
        let bodies_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = bodies_started.clone();
        let (start, end, config) = (lease.start, lease.end, self.shared.config.fetch);
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut reservation = reservation;
            let mut out: Vec<RawBlock> = Vec::with_capacity((end - start + 1) as usize);
            let mut held: u64 = 0;
            let mut over_budget = false;
            let result = handle.block_on(fetch_range(
                &requester,
                start,
                end,
                config,
                |batch: Vec<FetchedBlock>| {
                    for b in batch {
                        let receipts = Bytes::from(receipts_file_item(&b.receipts));
                        held += (b.header.len() + b.body.len() + receipts.len()) as u64;
                        out.push(RawBlock {
                            number: b.number,
                            hash: b.hash,
                            header: b.header,
                            body: b.body,
                            receipts,
                        });
                    }
                    if !reservation.try_grow_to(held) {
                        over_budget = true;
                        return Err(FetchError::NoPeers(format!(
                            "memory budget: unit needs more than {} bytes held",
                            reservation.bytes()
                        )));
                    }
                    Ok(())
                },
                |p: Progress| {
                    if p.bodies > 0 || p.receipts > 0 {
                        started.store(true, Ordering::Relaxed);
                    }
                },
            ));
            let tags = requester.tags.into_inner().unwrap_or_default();
            (result, out, tags, reservation, over_budget)
        });
        // Show the Bodies phase once bodies arrive.
        let joined = {
            tokio::pin!(task);
            let mut shown = false;
            loop {
                tokio::select! {
                    r = &mut task => break r,
                    _ = tokio::time::sleep(Duration::from_millis(100)), if !shown => {
                        if bodies_started.load(Ordering::Relaxed) {
                            shown = true;
                            self.set_phase(lease, UnitPhase::Bodies);
                        }
                    }
                }
            }
        };
        let (result, out, tags, reservation, over_budget) = joined
            .map_err(|e| Outcome::Failed(FailureReason::Local, format!("download task: {e}")))?;
        match result {
            Ok(()) => Ok((out, tags, reservation)),
            Err(_) if over_budget => Err(Outcome::Failed(
                FailureReason::Local,
                format!(
                    "unit exceeds the memory budget of {} bytes",
                    self.shared.budget.limit()
                ),
            )),
            Err(FetchError::Invalid(e)) => {
                Err(Outcome::Failed(FailureReason::PeerFault, e.to_string()))
            }
            Err(e @ (FetchError::Unavailable { .. } | FetchError::NoPeers(_))) => {
                Err(Outcome::Failed(FailureReason::NoPeer, e.to_string()))
            }
            Err(e @ FetchError::Session(_)) => {
                Err(Outcome::Failed(FailureReason::NoPeer, e.to_string()))
            }
        }
    }

    /// Waits until this fetcher stores a batch, or briefly (other fetchers store too).
    async fn link_changed(&self) {
        tokio::select! {
            _ = self.shared.stored_batch.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }

    /// Whether the unit has something to link to now: a trusted hash from the lease, or a
    /// stored neighbour. (A checkpoint's root does not fix parent hashes, so a checkpoint alone
    /// is no link.)
    async fn has_link(&self, lease: &LeasedUnit) -> Result<bool, String> {
        let (parent, end) = self.resolve_links(lease).await?;
        Ok(parent.is_some() || end.is_some())
    }

    /// Waits, holding no memory and no slot, until the unit has something to link to; gives the
    /// unit back when `deadline` passes first.
    async fn wait_for_link(&self, lease: &LeasedUnit, deadline: Instant) -> Result<(), Outcome> {
        self.set_phase(lease, UnitPhase::WaitingForLink);
        self.shared.link_waiting.fetch_add(1, Ordering::Relaxed);
        let result = loop {
            match self.has_link(lease).await {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(Outcome::Failed(FailureReason::Local, e)),
            }
            if Instant::now() >= deadline {
                break Err(Outcome::Failed(
                    FailureReason::Local,
                    "no trusted anchor or stored neighbour to link the unit to".into(),
                ));
            }
            self.link_changed().await;
        };
        self.shared.link_waiting.fetch_sub(1, Ordering::Relaxed);
        self.set_phase(lease, UnitPhase::Leased);
        result
    }

    async fn validate(
        &self,
        lease: &LeasedUnit,
        blocks: &[RawBlock],
        tags: &Tags,
        deadline: Instant,
    ) -> Result<VerificationLevel, Outcome> {
        let fault = |number: u64, rule: &str, msg: String, part: Part| {
            self.shared
                .metrics
                .validation_failures
                .with_label_values(&[rule])
                .inc();
            if let Some(peer) = tags.peer_for(number, part, blocks) {
                warn!(%peer, number, rule, "reporting invalid data");
                self.shared.pool.report(peer, Fault::Invalid);
            }
            Outcome::Failed(FailureReason::PeerFault, msg)
        };
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Err(Outcome::Failed(FailureReason::NoPeer, "no blocks".into()));
        };
        if first.number != lease.start
            || last.number != lease.end
            || blocks.len() as u64 != lease.blocks()
        {
            return Err(Outcome::Failed(
                FailureReason::Local,
                "downloaded range does not match the unit".into(),
            ));
        }
        let mut anchors = Anchors::default();
        let mut linked = false;
        // While it waits for its link, the unit leaves its slot to others (the unit it needs
        // may have to be leased again, e.g. after its fetcher died).
        let mut parked: Option<Parked<'_>> = None;
        loop {
            let (parent, end_hash) = match self.resolve_links(lease).await {
                Ok(x) => x,
                Err(e) => return Err(Outcome::Failed(FailureReason::Local, e)),
            };
            // Forward linkage: the first block's parent is the trusted parent.
            if let Some((parent_hash, header)) = parent {
                let got = SealedHeader::decode(&first.header).map(|h| h.header.parent_hash);
                match got {
                    Ok(p) if p == parent_hash => {
                        linked = true;
                        anchors.parent = header.map(|h| (h, None));
                    }
                    Ok(p) => {
                        return Err(fault(
                            first.number,
                            "parent-hash",
                            format!(
                                "block {} has parent {p}, the trusted parent is {parent_hash}",
                                first.number
                            ),
                            Part::Header,
                        ));
                    }
                    Err(e) => {
                        return Err(fault(
                            first.number,
                            "header-rlp",
                            e.to_string(),
                            Part::Header,
                        ));
                    }
                }
            }
            // Backward linkage: the last block is the trusted end.
            if let Some(h) = end_hash {
                anchors.trusted.push((lease.end, h));
                linked = true;
            }
            if linked {
                break;
            }
            // Give the memory back rather than hold it while others wait for room (the
            // neighbour we wait for may be one of them).
            if self.shared.budget.waiting() > 0 {
                return Err(Outcome::Release);
            }
            if Instant::now() >= deadline {
                return Err(Outcome::Failed(
                    FailureReason::Local,
                    "no trusted anchor or stored neighbour to link the unit to".into(),
                ));
            }
            parked.get_or_insert_with(|| Parked::new(&self.shared.link_waiting));
            self.link_changed().await;
        }
        drop(parked);
        // Every known checkpoint inside the unit (the unit's own, and any others when the unit
        // was cut before they were known).
        let inside: Vec<Checkpoint> = self
            .shared
            .checkpoints
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.range.start >= lease.start && c.range.end <= lease.end)
            .cloned()
            .collect();
        anchors
            .checkpoints
            .extend(inside.iter().filter_map(checkpoint_anchor));
        if let Some((channel, chain)) = self.shared.config.validator_service.clone() {
            let parent = anchors.parent.as_ref().map(|(h, _)| h.hash).or(
                // A trusted parent hash without its header (from the lease).
                lease.parent_hash,
            );
            let end = anchors
                .trusted
                .iter()
                .find(|(n, _)| *n == lease.end)
                .map(|t| t.1);
            let exact = inside
                .iter()
                .find(|c| c.range.start == lease.start && c.range.end == lease.end);
            return match remote_validate(channel, chain, lease, blocks, parent, end, exact).await {
                Ok(Some(l)) => Ok(l),
                Ok(None) if linked => Ok(VerificationLevel::Linked),
                Ok(None) => Err(Outcome::Failed(
                    FailureReason::Local,
                    format!(
                        "no trusted anchor covers blocks {}..={}",
                        lease.start, lease.end
                    ),
                )),
                Err(RemoteVerdict::Invalid {
                    number,
                    rule,
                    message,
                }) => Err(fault(number, &rule, message, Part::of(&rule))),
                Err(RemoteVerdict::Local(m)) => Err(Outcome::Failed(FailureReason::Local, m)),
            };
        }
        let validator = self.shared.validator.clone();
        let data: Vec<BlockData> = blocks.iter().map(BlockData::from).collect();
        let result =
            tokio::task::spawn_blocking(move || validator.validate_range(&data, &anchors)).await;
        let report = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let number = error_number(&e).unwrap_or(lease.start);
                if e.is_peer_fault() {
                    return Err(fault(number, e.rule(), e.to_string(), Part::of(e.rule())));
                }
                self.shared
                    .metrics
                    .validation_failures
                    .with_label_values(&[e.rule()])
                    .inc();
                return Err(Outcome::Failed(FailureReason::Local, e.to_string()));
            }
            Err(e) => {
                return Err(Outcome::Failed(
                    FailureReason::Local,
                    format!("validation task: {e}"),
                ));
            }
        };
        let mut level: Option<VerificationLevel> = None;
        for r in &report.ranges {
            let l = match r.level {
                Some(l) => l,
                None if linked => VerificationLevel::Linked,
                None => {
                    return Err(Outcome::Failed(
                        FailureReason::Local,
                        format!("no trusted anchor covers blocks {}", r.range),
                    ));
                }
            };
            level = Some(level.map_or(l, |x| x.min(l)));
        }
        level.ok_or_else(|| Outcome::Failed(FailureReason::Local, "empty validation report".into()))
    }
}

impl Fetcher {
    /// Before downloading a unit, asks a peer for its first and last header and checks them
    /// against the known links (trusted parent, trusted end): a peer on another fork is
    /// reported at once instead of stalling the download of bodies no honest peer has.
    async fn probe_links(&self, lease: &LeasedUnit) -> Result<(), Outcome> {
        let Ok((parent, end)) = self.resolve_links(lease).await else {
            return Ok(());
        };
        let pool = &self.shared.pool;
        let mut checks = Vec::new();
        if let Some((p, _)) = parent {
            checks.push((lease.start, p, true));
        }
        if let Some(h) = end {
            checks.push((lease.end, h, false));
        }
        for (number, want, is_parent) in checks {
            let Ok(r) = pool.request_headers(number, 1).await else {
                continue;
            };
            let Some(raw) = r.data.first() else {
                continue;
            };
            let (got, ok) = match SealedHeader::decode(raw) {
                Ok(h) if h.number() != number => (h.hash, false),
                Ok(h) if is_parent => (h.header.parent_hash, h.header.parent_hash == want),
                Ok(h) => (h.hash, h.hash == want),
                Err(_) => (B256::ZERO, false),
            };
            if !ok {
                let rule = if is_parent {
                    "parent-hash"
                } else {
                    "trusted-hash"
                };
                self.shared
                    .metrics
                    .validation_failures
                    .with_label_values(&[rule])
                    .inc();
                warn!(peer = %r.peer, number, rule, "peer serves another fork; reporting");
                pool.report(r.peer, Fault::Invalid);
                return Err(Outcome::Failed(
                    FailureReason::PeerFault,
                    format!(
                        "header {number} from a peer does not link to the trusted {want} (got {got})"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The trusted parent (hash, and header when stored) and end hash of a unit: from the lease,
    /// else from stored neighbours.
    #[allow(clippy::type_complexity)]
    async fn resolve_links(
        &self,
        lease: &LeasedUnit,
    ) -> Result<(Option<(B256, Option<SealedHeader>)>, Option<B256>), String> {
        let sink = &self.shared.sink;
        let mut parent = lease.parent_hash.map(|h| (h, None));
        if lease.start > 0 {
            let stored = sink
                .header(lease.start - 1)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(raw) = stored {
                let h = SealedHeader::decode(&raw).map_err(|e| format!("stored header: {e}"))?;
                match parent {
                    Some((p, _)) if p != h.hash => {
                        return Err(format!(
                            "stored block {} has hash {}, the unit's parent hash is {p}",
                            lease.start - 1,
                            h.hash
                        ));
                    }
                    _ => parent = Some((h.hash, Some(h))),
                }
            }
        }
        let mut end = lease.end_hash;
        if end.is_none()
            && let Some(raw) = sink
                .header(lease.end + 1)
                .await
                .map_err(|e| e.to_string())?
        {
            let h = SealedHeader::decode(&raw).map_err(|e| format!("stored header: {e}"))?;
            end = Some(h.header.parent_hash);
        }
        Ok((parent, end))
    }
}

/// Counts a unit as parked (waiting for its link, not taking a slot) until dropped.
struct Parked<'a>(&'a std::sync::atomic::AtomicU32);

impl<'a> Parked<'a> {
    fn new(counter: &'a std::sync::atomic::AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the validator service said against a range.
enum RemoteVerdict {
    /// The data is wrong (peer fault).
    Invalid {
        number: u64,
        rule: String,
        message: String,
    },
    /// The service failed or refused for a local reason.
    Local(String),
}

/// Streams the unit to the validator service; returns the level it reached (`None`: valid but
/// no anchor raised it).
async fn remote_validate(
    channel: tonic::transport::Channel,
    chain: hypasis_proto::v1::ChainId,
    lease: &LeasedUnit,
    blocks: &[RawBlock],
    parent: Option<B256>,
    end: Option<B256>,
    checkpoint: Option<&Checkpoint>,
) -> Result<Option<VerificationLevel>, RemoteVerdict> {
    use hypasis_proto::v1;
    let start = v1::ValidateRangeStart {
        chain: Some(chain),
        range: Some(v1::BlockRange {
            start: lease.start,
            end: lease.end,
        }),
        parent: parent.map(|h| v1::BlockRef {
            number: lease.start.saturating_sub(1),
            hash: h.to_vec(),
        }),
        trusted_end: end.map(|h| v1::BlockRef {
            number: lease.end,
            hash: h.to_vec(),
        }),
        checkpoint: checkpoint.map(v1::Checkpoint::from),
        signers: Vec::new(),
    };
    let mut items = Vec::with_capacity(blocks.len() + 1);
    items.push(v1::ValidateRangeRequest {
        item: Some(v1::validate_range_request::Item::Start(start)),
    });
    items.extend(blocks.iter().map(|b| v1::ValidateRangeRequest {
        item: Some(v1::validate_range_request::Item::Block(v1::Block::from(b))),
    }));
    let mut client = v1::validator_client::ValidatorClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let mut stream = client
        .validate_range(futures::stream::iter(items))
        .await
        .map_err(|e| RemoteVerdict::Local(format!("validator service: {e}")))?
        .into_inner();
    loop {
        let msg = stream
            .message()
            .await
            .map_err(|e| RemoteVerdict::Local(format!("validator service: {e}")))?;
        let Some(msg) = msg else {
            return Err(RemoteVerdict::Local(
                "validator service: stream ended without a verdict".into(),
            ));
        };
        match msg.item {
            Some(v1::validate_range_response::Item::Failure(f)) => {
                let message = format!(
                    "block {}: {} ({}): expected {}, found {}",
                    f.number, f.rule, f.field, f.expected, f.found
                );
                return Err(if f.peer_fault {
                    RemoteVerdict::Invalid {
                        number: f.number,
                        rule: f.rule,
                        message,
                    }
                } else {
                    RemoteVerdict::Local(message)
                });
            }
            Some(v1::validate_range_response::Item::Done(d)) => {
                if !d.valid {
                    return Err(RemoteVerdict::Local(
                        "validator service: range invalid without a block verdict".into(),
                    ));
                }
                // Unspecified: valid, but no anchor raised the range.
                return Ok(hypasis_proto::convert::verification_level("level", d.level).ok());
            }
            None => {}
        }
    }
}

fn checkpoint_anchor(cp: &Checkpoint) -> Option<CheckpointAnchor> {
    Some(CheckpointAnchor {
        start: cp.range.start,
        end: cp.range.end,
        root: cp.root,
    })
}

fn error_number(e: &ValidationError) -> Option<u64> {
    e.block_number()
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Header,
    Body,
    Receipts,
}

impl Part {
    fn of(rule: &str) -> Self {
        if rule.starts_with("receipt")
            || matches!(rule, "logs-bloom" | "cumulative-gas" | "gas-used")
        {
            Part::Receipts
        } else if rule.starts_with("body")
            || matches!(
                rule,
                "transactions-root"
                    | "ommers-hash"
                    | "withdrawals-root"
                    | "ommer"
                    | "transaction"
                    | "block-size"
                    | "blob-gas-used"
            )
        {
            Part::Body
        } else {
            Part::Header
        }
    }
}

/// Which peer delivered what.
#[derive(Debug, Default)]
struct Tags {
    headers: Vec<(u64, u64, PeerId)>,
    bodies: HashMap<B256, PeerId>,
    receipts: HashMap<B256, PeerId>,
}

impl Tags {
    fn peer_for(&self, number: u64, part: Part, blocks: &[RawBlock]) -> Option<PeerId> {
        let hash = blocks.iter().find(|b| b.number == number).map(|b| b.hash);
        match part {
            Part::Header => self
                .headers
                .iter()
                .rev()
                .find(|(s, e, _)| *s <= number && number <= *e)
                .map(|t| t.2),
            Part::Body => hash.and_then(|h| self.bodies.get(&h).copied()),
            Part::Receipts => hash.and_then(|h| self.receipts.get(&h).copied()),
        }
    }
}

/// The pool as a [`Requester`] that remembers which peer answered what.
struct Pooled {
    pool: Pool,
    tags: Mutex<Tags>,
}

impl Requester for Pooled {
    type Tag = <Pool as Requester>::Tag;

    async fn headers(&self, start: u64, count: u64) -> Result<(Self::Tag, Vec<Bytes>), FetchError> {
        let (tag, h) = self.pool.headers(start, count).await?;
        if !h.is_empty() {
            self.tags
                .lock()
                .unwrap()
                .headers
                .push((start, start + h.len() as u64 - 1, tag));
        }
        Ok((tag, h))
    }

    async fn bodies(&self, hashes: Vec<B256>) -> Result<(Self::Tag, Vec<Bytes>), FetchError> {
        let keep = hashes.clone();
        let (tag, b) = self.pool.bodies(hashes).await?;
        let mut t = self.tags.lock().unwrap();
        for h in keep.iter().take(b.len()) {
            t.bodies.insert(*h, tag);
        }
        Ok((tag, b))
    }

    async fn receipts(
        &self,
        hashes: Vec<B256>,
        limits: Vec<hypasis_devp2p::receipts::ReceiptLimits>,
    ) -> Result<(Self::Tag, Vec<Vec<Bytes>>), FetchError> {
        let keep = hashes.clone();
        let (tag, r) = self.pool.receipts(hashes, limits).await?;
        let mut t = self.tags.lock().unwrap();
        for h in keep.iter().take(r.len()) {
            t.receipts.insert(*h, tag);
        }
        Ok((tag, r))
    }

    fn invalid(&self, tag: Self::Tag, error: &VerifyError) -> bool {
        self.pool.invalid(tag, error)
    }

    fn suspicious(&self, tag: Self::Tag, error: &VerifyError) -> bool {
        self.pool.suspicious(tag, error)
    }

    fn empty(&self, tag: Self::Tag) -> bool {
        self.pool.empty(tag)
    }
}

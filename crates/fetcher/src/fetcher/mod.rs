//! The fetcher: leases units from the scheduler and works on each in its own task, by job:
//! - this module: settings, status, and the loop that acquires leases ([`Fetcher::run`]);
//! - `unit`: one unit's state machine ([`UnitPhase`]) — Leased → Headers → Bodies/Receipts →
//!   Validating → Storing → Completed, or Failed with a typed [`UnitError`] whose fault class
//!   decides what happens next ([`Action`]); lease renewal;
//! - `links`: what a unit links to (trusted hashes, stored neighbours) and waiting for it;
//! - `download`: the unit's blocks through the one downloader (`hypasis_downloader::fetch`) over the
//!   pool, remembering which peer delivered what;
//! - `validate`: the validation library or the validator service, and blame for what fails;
//! - `commit`: store-sized batches, each acknowledged, then completing the lease;
//! - `progress`: rates and progress logs.

mod commit;
mod download;
mod error;
mod links;
mod progress;
mod unit;
mod validate;

pub use error::{Action, UnitError};

use crate::budget::ByteBudget;
use crate::lease::{LeaseSource, LeasedUnit};
use crate::metrics::FetcherMetrics;
use crate::sink::{BlockSink, MAX_BATCH_BYTES};
use hypasis_downloader::fetch::FetchConfig;
use hypasis_network::pool::Pool;
use hypasis_primitives::FaultClass;
use hypasis_scheduler_api::{Direction, FailureReason};
use hypasis_validator_api::RangeValidator;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

/// How long a stopping fetcher waits for the scheduler to take back one lease.
const GIVE_BACK_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Given back, with the reason given to the scheduler and the class of the error.
    Failed(FailureReason, FaultClass),
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
    validator: Arc<dyn RangeValidator>,
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
    /// The fatal error that stopped the fetcher, if one did.
    fatal: Mutex<Option<Arc<UnitError>>>,
    /// Woken when a fatal error stops the fetcher.
    halt: tokio::sync::Notify,
}

/// The fetcher. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
}

impl Fetcher {
    /// A fetcher over a lease source, a sink, the peer pool and a validator (in process or
    /// the validator service: the validation seam).
    pub fn new(
        config: FetcherConfig,
        leases: Arc<dyn LeaseSource>,
        sink: Arc<dyn BlockSink>,
        pool: Pool,
        validator: Arc<dyn RangeValidator>,
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
                validator,
                budget,
                metrics,
                active: Mutex::new(HashMap::new()),
                avg_block_bytes: avg,
                link_waiting: std::sync::atomic::AtomicU32::new(0),
                stored_batch: tokio::sync::Notify::new(),
                dirs: Default::default(),
                rates: Mutex::new([0.0; 2]),
                fatal: Mutex::new(None),
                halt: tokio::sync::Notify::new(),
            }),
        }
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

    /// The fatal error that stopped the fetcher ([`Action::Stop`]), if one did.
    pub fn fatal(&self) -> Option<Arc<UnitError>> {
        self.shared.fatal.lock().unwrap().clone()
    }

    /// Stops the fetcher for `error` (the unit was given back already).
    fn halt(&self, error: UnitError) {
        error!(error = %error, "fatal error; the fetcher stops");
        *self.shared.fatal.lock().unwrap() = Some(Arc::new(error));
        self.shared.halt.notify_waiters();
    }

    /// Runs until `shutdown` turns true, or until a unit fails with a fatal error
    /// ([`Fetcher::fatal`]): acquires leases while fewer than `parallel_units` are in progress
    /// and works on each in its own task.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks: JoinSet<()> = JoinSet::new();
        let progress = tokio::spawn(self.clone().progress_loop());
        let mut idle = Duration::from_millis(50);
        loop {
            if *shutdown.borrow() || self.shared.fatal.lock().unwrap().is_some() {
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
                _ = self.shared.halt.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        tasks.shutdown().await;
        progress.abort();
        self.give_back_unfinished().await;
    }

    /// After the unit tasks were stopped: hands the leases they held back to the scheduler, so
    /// that their units go to other fetchers now instead of after the lease TTL (a rolling
    /// restart of fetcher pods would otherwise stall their units for a TTL each).
    async fn give_back_unfinished(&self) {
        let held: Vec<ActiveUnit> = {
            let mut active = self.shared.active.lock().unwrap();
            std::mem::take(&mut *active).into_values().collect()
        };
        let leases = &self.shared.leases;
        let give_back = held.iter().map(|a| async move {
            let failure = hypasis_scheduler_api::Failure::new(FailureReason::Local, "the fetcher stopped");
            match tokio::time::timeout(GIVE_BACK_TIMEOUT, leases.fail(&a.lease, failure)).await {
                Ok(Ok(())) => debug!(unit = a.lease.unit_id, "lease given back on stop"),
                Ok(Err(e)) => debug!(unit = a.lease.unit_id, error = %e, "giving the lease back failed; it expires"),
                Err(_) => debug!(unit = a.lease.unit_id, "giving the lease back timed out; it expires"),
            }
        });
        futures::future::join_all(give_back).await;
    }

    pub(super) fn set_phase(&self, lease: &LeasedUnit, phase: UnitPhase) {
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
}

#[cfg(test)]
mod tests;

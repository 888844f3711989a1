//! The scheduler state machine (pure: no I/O, time from an injected [`Clock`]).

use crate::clock::{Clock, ms};
use crate::config::SchedulerConfig;
use crate::persist::{self, MetaRecord, RecordKey};
use crate::unit::{
    Direction, FailureReason, Lease, LeaseInfo, LeaseState, Unit, UnitState, lease_id,
    parse_lease_id, timestamp_ms,
};
use hypasis_checkpoint_api::TrustedBlock;
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{B256, Checkpoint};
use hypasis_proto::v1;
use hypasis_storage_api::{SchedulerDelta, SchedulerSnapshot};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

mod cutting;
mod errors;
mod indices;
mod invariants;
mod leases;
mod persistence;
mod status;

pub use errors::{InvariantError, RestoreError, SchedulerError};

/// The trusted block the sync starts from: forward units lie above it, backward units at and
/// below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// Block number (e.g. the end of the latest checkpoint).
    pub number: u64,
    /// Its hash, when known.
    pub hash: Option<B256>,
}

/// The part of a checkpoint the scheduler cuts units along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSpan {
    /// Checkpoint id.
    pub id: u64,
    /// Blocks covered.
    pub range: Range,
    /// Hash of `range.end`, when known.
    pub end_hash: Option<B256>,
}

impl From<&Checkpoint> for CheckpointSpan {
    fn from(c: &Checkpoint) -> Self {
        Self {
            id: c.id,
            range: c.range,
            end_hash: c.end_block_hash,
        }
    }
}

/// What an acquire handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// New leases, forward ones first.
    pub leases: Vec<Lease>,
    /// When nothing was handed out: how long to wait before asking again.
    pub retry_after: Duration,
}

/// Outcome of a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The unit is now done.
    Done(Unit),
    /// The unit was already done under this lease (a retried completion).
    AlreadyDone(Unit),
}

/// Per-direction progress.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionStatus {
    /// Direction.
    pub direction: Direction,
    /// Paused by an operator.
    pub paused: bool,
    /// Blocks of the direction's span that are stored.
    pub done_blocks: u64,
    /// Blocks under a lease.
    pub in_flight_blocks: u64,
    /// Blocks of the span still missing (including in flight).
    pub remaining_blocks: u64,
    /// Completed blocks per second over the sliding window.
    pub blocks_per_second: f64,
    /// `remaining / rate`, when the rate is positive.
    pub eta: Option<Duration>,
    /// Units waiting to be leased.
    pub units_pending: u64,
    /// Units leased.
    pub units_leased: u64,
    /// Units backing off after failures.
    pub units_backoff: u64,
    /// Units no peer served.
    pub units_no_peer: u64,
    /// Units done.
    pub units_done: u64,
    /// Blocks completed through leases since this scheduler started (not durable; metrics).
    pub completed_blocks: u64,
}

/// Scheduler-wide status.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Leadership term.
    pub term: u64,
    /// Lowest block.
    pub genesis: u64,
    /// The tip units are cut to: the peers' claimed tip, bounded by trusted information plus
    /// the configured margin ([`SchedulerConfig::tip_margin`]); it rises as blocks are stored.
    pub tip: Option<u64>,
    /// The highest tip the peers claim (a hint, never persisted).
    pub peer_tip: Option<u64>,
    /// Highest block units may be cut to now (trusted top + margin).
    pub tip_bound: u64,
    /// The anchor.
    pub anchor: Option<Anchor>,
    /// Forward, then backward.
    pub directions: [DirectionStatus; 2],
    /// Missing ranges of `[genesis, tip]` (first 256).
    pub gaps: Vec<Range>,
    /// The trusted head last seen, when the checkpoint sources gave one.
    pub trusted_head: Option<TrustedHeadStatus>,
}

/// The highest trusted hash as the scheduler last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedHeadStatus {
    /// The block and where its trust comes from.
    pub block: TrustedBlock,
    /// Since it was first seen.
    pub age: Duration,
    /// Blocks from the highest stored block up to it (0 when stored at or above it).
    pub distance: u64,
}

/// Filter of [`Scheduler::units`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitFilter {
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only units in this wire state.
    pub state: Option<v1::WorkUnitState>,
    /// Only active (not done) units.
    pub active_only: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DirCounts {
    active: u64,
    leased: u64,
    leased_blocks: u64,
    backoff: u64,
    no_peer: u64,
    done: u64,
}

#[derive(Debug, Clone, Copy)]
struct Completed {
    at: u64,
    range: Range,
    direction: Direction,
}

#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    refilled_at: u64,
}

/// The scheduler: work units cut from the gaps of `[genesis, tip]`, leased to fetchers.
///
/// Every mutation is recorded; [`Scheduler::take_delta`] returns the records to commit (under
/// the scheduler's term) before the mutation's result is acknowledged to anyone.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    term: u64,
    started_at: u64,

    next_unit_id: u64,
    next_token: u64,
    /// The tip units are cut to (never above `claimed` nor above the bound when it was set).
    tip: Option<u64>,
    /// The highest tip the peers claim (not persisted).
    claimed: Option<u64>,
    anchor: Option<Anchor>,
    /// The trusted head from the checkpoint sources and when it was first seen (not
    /// persisted: the sources give it again).
    trusted_head: Option<(TrustedBlock, u64)>,
    paused: [bool; 2],

    units: BTreeMap<u64, Unit>,
    /// Active (not done) units by start block.
    active: BTreeMap<u64, u64>,
    /// Eligible units by (start, id), per direction.
    ready: [BTreeSet<(u64, u64)>; 2],
    /// Backing-off units by (not_before, id).
    waiting: BTreeSet<(u64, u64)>,
    /// Leased units by (expires_at, id).
    leased: BTreeSet<(u64, u64)>,
    counts: [DirCounts; 2],

    checkpoints: BTreeMap<u64, CheckpointSpan>,
    /// Blocks the store holds (as of the last refresh) plus recent completions.
    view: RangeSet,
    /// `[genesis, tip] ∩ view` minus active units.
    done: RangeSet,
    recent: VecDeque<Completed>,
    /// Whether `view` was set from the store at least once (nothing is cut before).
    present_known: bool,
    completed_blocks: [u64; 2],
    bucket: TokenBucket,

    dirty: BTreeSet<u64>,
    deleted: BTreeSet<u64>,
    meta_dirty: bool,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Scheduler {
    /// An empty scheduler (no units) for leadership term `term`.
    pub fn new(config: SchedulerConfig, clock: Arc<dyn Clock>, term: u64) -> Self {
        let now = clock.now_ms();
        let burst = config.throttle.burst_blocks as f64;
        Self {
            config,
            clock,
            term,
            started_at: now,
            next_unit_id: 1,
            next_token: 1,
            tip: None,
            claimed: None,
            anchor: None,
            trusted_head: None,
            paused: [false; 2],
            units: BTreeMap::new(),
            active: BTreeMap::new(),
            ready: [BTreeSet::new(), BTreeSet::new()],
            waiting: BTreeSet::new(),
            leased: BTreeSet::new(),
            counts: [DirCounts::default(); 2],
            checkpoints: BTreeMap::new(),
            view: RangeSet::new(),
            done: RangeSet::new(),
            recent: VecDeque::new(),
            present_known: false,
            completed_blocks: [0; 2],
            bucket: TokenBucket {
                tokens: burst,
                refilled_at: now,
            },
            dirty: BTreeSet::new(),
            deleted: BTreeSet::new(),
            meta_dirty: true,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The leadership term writes are fenced with.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The anchor, once set.
    pub fn anchor(&self) -> Option<Anchor> {
        self.anchor
    }

    /// The tip units are cut to (bounded: see [`Scheduler::tip_bound`]).
    pub fn tip(&self) -> Option<u64> {
        self.tip
    }

    /// The highest tip the peers claim (a hint: units are cut only to [`Scheduler::tip`]).
    pub fn peer_tip(&self) -> Option<u64> {
        self.claimed
    }

    /// The highest block trusted information reaches: the anchor, the end of the newest
    /// checkpoint, and the highest stored block (as of the last refresh plus completions).
    pub fn trusted_top(&self) -> u64 {
        [
            self.anchor.map(|a| a.number),
            self.checkpoints.values().next_back().map(|c| c.range.end),
            self.view.last(),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.config.genesis)
        .max(self.config.genesis)
    }

    /// The highest block units may be cut to now: [`Scheduler::trusted_top`] plus
    /// [`SchedulerConfig::tip_margin`].
    pub fn tip_bound(&self) -> u64 {
        self.trusted_top().saturating_add(self.config.tip_margin)
    }

    /// Whether a direction is paused.
    pub fn is_paused(&self, d: Direction) -> bool {
        self.paused[d.index()]
    }

    /// `[genesis, max(tip, anchor)]`, when known.
    pub fn span(&self) -> Option<Range> {
        let end = match (self.tip, self.anchor) {
            (Some(t), Some(a)) => t.max(a.number),
            (Some(t), None) => t,
            (None, Some(a)) => a.number,
            (None, None) => return None,
        };
        Range::new(self.config.genesis, end).ok()
    }

    /// The blocks a direction covers within the span.
    pub fn direction_span(&self, d: Direction) -> Option<Range> {
        let span = self.span()?;
        match (d, self.anchor) {
            (Direction::Forward, None) => Some(span),
            (Direction::Backward, None) => None,
            (Direction::Forward, Some(a)) => {
                Range::new(a.number.checked_add(1)?.max(span.start), span.end).ok()
            }
            (Direction::Backward, Some(a)) => Range::new(span.start, a.number.min(span.end)).ok(),
        }
    }

    fn direction_of(&self, n: u64) -> Direction {
        match self.anchor {
            Some(a) if n <= a.number => Direction::Backward,
            _ => Direction::Forward,
        }
    }
}

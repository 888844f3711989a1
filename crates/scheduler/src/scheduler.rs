//! The scheduler state machine (pure: no I/O, time from an injected [`Clock`]).

use crate::clock::{Clock, ms};
use crate::config::SchedulerConfig;
use crate::persist::{self, MetaRecord, RecordKey};
use crate::unit::{
    Direction, FailureReason, Lease, LeaseInfo, LeaseState, Unit, UnitState, lease_id,
    parse_lease_id, timestamp_ms,
};
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{B256, Checkpoint};
use hypasis_proto::v1;
use hypasis_storage_api::{SchedulerDelta, SchedulerSnapshot};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

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

/// Refusals of lease operations. None of them changes the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    /// No unit has this lease.
    #[error("unknown lease `{0}`")]
    UnknownLease(String),
    /// The lease was superseded (the unit was leased again, or completed under another lease).
    #[error("lease `{lease_id}`: fencing token {given} is not current (current {current})")]
    StaleToken {
        /// The lease.
        lease_id: String,
        /// Token given.
        given: u64,
        /// The unit's current token.
        current: u64,
    },
    /// The lease expired; its unit went back to the queue.
    #[error("lease `{0}` expired")]
    Expired(String),
    /// A malformed request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Why stored scheduler state could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The stored state was written by a newer term than ours: we are not the leader.
    #[error("stored scheduler state has term {stored}, newer than ours ({ours})")]
    StaleTerm {
        /// Our term.
        ours: u64,
        /// Stored term.
        stored: u64,
    },
    /// A record does not decode.
    #[error("scheduler state is corrupt: {0}")]
    Corrupt(String),
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

    /// Rebuilds the scheduler from stored records for leadership term `term`. Leases whose
    /// expiry has passed return to the queue. Call [`Scheduler::add_checkpoints`] and
    /// [`Scheduler::refresh_present`] next, before serving.
    pub fn restore(
        config: SchedulerConfig,
        clock: Arc<dyn Clock>,
        term: u64,
        snapshot: &SchedulerSnapshot,
    ) -> Result<Self, RestoreError> {
        if snapshot.term > term {
            return Err(RestoreError::StaleTerm {
                ours: term,
                stored: snapshot.term,
            });
        }
        let mut s = Self::new(config, clock, term);
        if snapshot.records.is_empty() {
            return Ok(s);
        }
        let now = s.now();
        let meta_bytes = snapshot
            .records
            .get(&persist::META_KEY)
            .ok_or_else(|| RestoreError::Corrupt("meta record missing".into()))?;
        let meta: MetaRecord =
            persist::decode(persist::META_KEY, meta_bytes).map_err(RestoreError::Corrupt)?;
        s.next_unit_id = meta.next_unit_id.max(1);
        s.next_token = meta.next_token.max(1);
        // `meta.tip` (written by older versions) came from the peers' claims: ignored. The span
        // is set to reach the stored units below.
        if meta.genesis != s.config.genesis {
            return Err(RestoreError::Corrupt(format!(
                "stored genesis {} differs from the configured genesis {}",
                meta.genesis, s.config.genesis
            )));
        }
        s.anchor = match meta.anchor {
            Some(number) => Some(Anchor {
                number,
                hash: meta
                    .anchor_hash
                    .as_deref()
                    .map(|h| {
                        hypasis_proto::convert::b256("anchor_hash", h)
                            .map_err(|e| RestoreError::Corrupt(e.to_string()))
                    })
                    .transpose()?,
            }),
            None => None,
        };
        s.paused = [meta.paused_forward, meta.paused_backward];

        let mut units: BTreeMap<u64, (v1::WorkUnit, Option<v1::Lease>, bool)> = BTreeMap::new();
        let mut leases: BTreeMap<u64, v1::Lease> = BTreeMap::new();
        let mut reverify: BTreeSet<u64> = BTreeSet::new();
        for (&key, value) in &snapshot.records {
            match RecordKey::parse(key) {
                Some(RecordKey::Meta) => {}
                Some(RecordKey::Unit(id)) => {
                    let u: v1::WorkUnit =
                        persist::decode(key, value).map_err(RestoreError::Corrupt)?;
                    if u.id != id {
                        return Err(RestoreError::Corrupt(format!(
                            "record {key:#x} holds unit {}",
                            u.id
                        )));
                    }
                    units.insert(id, (u, None, false));
                }
                Some(RecordKey::Lease(id)) => {
                    let l: v1::Lease =
                        persist::decode(key, value).map_err(RestoreError::Corrupt)?;
                    leases.insert(id, l);
                }
                Some(RecordKey::Reverify(id)) => {
                    reverify.insert(id);
                }
                None => {
                    return Err(RestoreError::Corrupt(format!(
                        "unknown record key {key:#x}"
                    )));
                }
            }
        }
        for (id, l) in leases {
            if let Some(u) = units.get_mut(&id) {
                u.1 = Some(l);
            }
        }
        for id in reverify {
            if let Some(u) = units.get_mut(&id) {
                u.2 = true;
            }
        }
        for (id, (wire, lease, reverify)) in units {
            let unit = unit_from_records(id, wire, lease, reverify)?;
            s.units.insert(id, unit);
            s.index(id, now);
        }
        // Units already cut stay work: the tip reaches the highest of them.
        s.tip = s.units.values().map(|u| u.range.end).max();
        s.meta_dirty = false;
        s.expire_at(now);
        s.check_invariants_structural()
            .map_err(RestoreError::Corrupt)?;
        Ok(s)
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

    // ---- indices ---------------------------------------------------------------------------

    fn index(&mut self, id: u64, now: u64) {
        let u = &self.units[&id];
        let d = u.direction.index();
        let start = u.range.start;
        let blocks = u.range.len();
        let c = &mut self.counts[d];
        match &u.state {
            UnitState::Done => {
                c.done += 1;
                return;
            }
            UnitState::Pending => {
                self.ready[d].insert((start, id));
            }
            UnitState::Backoff { not_before } | UnitState::NoPeer { not_before } => {
                if matches!(u.state, UnitState::Backoff { .. }) {
                    c.backoff += 1;
                } else {
                    c.no_peer += 1;
                }
                if *not_before <= now {
                    self.ready[d].insert((start, id));
                } else {
                    self.waiting.insert((*not_before, id));
                }
            }
            UnitState::Leased(l) => {
                c.leased += 1;
                c.leased_blocks += blocks;
                self.leased.insert((l.expires_at, id));
            }
        }
        c.active += 1;
        self.active.insert(start, id);
    }

    fn unindex(&mut self, id: u64) {
        let u = &self.units[&id];
        let d = u.direction.index();
        let start = u.range.start;
        let blocks = u.range.len();
        let c = &mut self.counts[d];
        match &u.state {
            UnitState::Done => {
                c.done -= 1;
                return;
            }
            UnitState::Pending => {
                self.ready[d].remove(&(start, id));
            }
            UnitState::Backoff { not_before } | UnitState::NoPeer { not_before } => {
                if matches!(u.state, UnitState::Backoff { .. }) {
                    c.backoff -= 1;
                } else {
                    c.no_peer -= 1;
                }
                self.ready[d].remove(&(start, id));
                self.waiting.remove(&(*not_before, id));
            }
            UnitState::Leased(l) => {
                c.leased -= 1;
                c.leased_blocks -= blocks;
                self.leased.remove(&(l.expires_at, id));
            }
        }
        c.active -= 1;
        self.active.remove(&start);
    }

    /// Changes a unit through `f`, keeping indices and the dirty set right.
    fn update(&mut self, id: u64, now: u64, f: impl FnOnce(&mut Unit)) {
        self.unindex(id);
        if let Some(u) = self.units.get_mut(&id) {
            f(u);
        }
        self.index(id, now);
        self.dirty.insert(id);
    }

    fn delete_unit(&mut self, id: u64) {
        self.unindex(id);
        self.units.remove(&id);
        self.dirty.remove(&id);
        self.deleted.insert(id);
    }

    fn promote(&mut self, now: u64) {
        while let Some(&(nb, id)) = self.waiting.first() {
            if nb > now {
                break;
            }
            self.waiting.remove(&(nb, id));
            let u = &self.units[&id];
            self.ready[u.direction.index()].insert((u.range.start, id));
        }
    }

    /// Returns units whose lease expired to the queue; returns their ids.
    pub fn expire(&mut self) -> Vec<u64> {
        let now = self.now();
        self.expire_at(now)
    }

    fn expire_at(&mut self, now: u64) -> Vec<u64> {
        let mut expired = Vec::new();
        while let Some(&(exp, id)) = self.leased.first() {
            if exp > now {
                break;
            }
            self.update(id, now, |u| {
                u.state = UnitState::Pending;
                u.last_error = "lease expired".into();
            });
            expired.push(id);
        }
        expired
    }

    // ---- cutting ---------------------------------------------------------------------------

    fn checkpoint_containing(&self, n: u64) -> Option<&CheckpointSpan> {
        self.checkpoints
            .range(..=n)
            .next_back()
            .map(|(_, c)| c)
            .filter(|c| c.range.contains(n))
    }

    /// The aligned chunk containing block `n` (before clipping to the span): a checkpoint piece
    /// of at most `checkpoint_unit_max` blocks, or a `unit_size` bucket (shortened so it does
    /// not overlap a checkpoint), never crossing the anchor.
    fn chunk(&self, n: u64) -> (Range, Option<CheckpointSpan>) {
        let mut cp_used = None;
        let (mut s, mut e);
        let cp = if self.config.checkpoint_aligned {
            self.checkpoint_containing(n).copied()
        } else {
            None
        };
        if let Some(cp) = cp {
            let max = self.config.checkpoint_unit_max.max(1);
            let k = (n - cp.range.start) / max;
            s = cp.range.start + k * max;
            e = s.saturating_add(max - 1).min(cp.range.end);
            cp_used = Some(cp);
        } else {
            let size = self.config.unit_size.max(1);
            s = n - n % size;
            e = s.saturating_add(size - 1);
            if self.config.checkpoint_aligned {
                if let Some((_, prev)) = self.checkpoints.range(..n).next_back()
                    && prev.range.end >= s
                {
                    s = prev.range.end + 1;
                }
                if let Some((&next, _)) = self.checkpoints.range(n.saturating_add(1)..).next()
                    && next <= e
                {
                    e = next - 1;
                }
            }
        }
        if let Some(a) = self.anchor {
            if n <= a.number {
                e = e.min(a.number);
            } else {
                s = s.max(a.number + 1);
            }
        }
        (Range { start: s, end: e }, cp_used)
    }

    /// A known trusted hash of block `n`.
    fn hash_of(&self, n: u64) -> Option<B256> {
        if let Some(a) = self.anchor
            && a.number == n
            && a.hash.is_some()
        {
            return a.hash;
        }
        self.checkpoint_containing(n)
            .filter(|c| c.range.end == n)
            .and_then(|c| c.end_hash)
    }

    /// Cuts `range` (uncovered by any active unit) into new units.
    fn cut(&mut self, range: Range, reverify: bool, now: u64) -> Vec<u64> {
        let mut created = Vec::new();
        let mut p = range.start;
        loop {
            let (chunk, cp) = self.chunk(p);
            let end = chunk.end.min(range.end);
            let direction = self.direction_of(p);
            // Extend a still-pending tail unit of the same bucket instead of cutting a sliver
            // (the forward tail grows with the tip).
            let mut extended = false;
            if !reverify
                && cp.is_none()
                && p > chunk.start
                && let Some((_, &prev_id)) = self.active.range(..p).next_back()
            {
                let prev = &self.units[&prev_id];
                if prev.range.end + 1 == p
                    && prev.range.start >= chunk.start
                    && prev.state == UnitState::Pending
                    && prev.attempts == 0
                    && prev.last_token == 0
                    && !prev.reverify
                    && prev.checkpoint_id.is_none()
                    && prev.direction == direction
                {
                    let end_hash = self.hash_of(end);
                    self.update(prev_id, now, |u| {
                        u.range.end = end;
                        u.end_hash = end_hash;
                    });
                    extended = true;
                }
            }
            if !extended {
                let id = self.next_unit_id;
                self.next_unit_id += 1;
                self.meta_dirty = true;
                let unit = Unit {
                    id,
                    range: Range { start: p, end },
                    direction,
                    checkpoint_id: cp.map(|c| c.id),
                    end_hash: self.hash_of(end),
                    parent_hash: p.checked_sub(1).and_then(|n| self.hash_of(n)),
                    state: UnitState::Pending,
                    attempts: 0,
                    last_error: String::new(),
                    last_token: 0,
                    last_lease: None,
                    reverify,
                };
                self.units.insert(id, unit);
                self.index(id, now);
                self.dirty.insert(id);
                created.push(id);
            }
            if end >= range.end {
                break;
            }
            p = end + 1;
        }
        created
    }

    /// Accounts `r` (beyond every unit): stored blocks become done, the rest is cut.
    fn cover(&mut self, r: Range, now: u64) {
        let present: Vec<Range> = self.view.iter_within(r).collect();
        for p in present {
            self.done.insert(p);
        }
        for gap in self.view.gaps(r) {
            self.cut(gap, false, now);
        }
    }

    fn set_span(&mut self, old: Option<Range>, now: u64) {
        if !self.present_known {
            return;
        }
        let Some(new) = self.span() else { return };
        match old {
            Some(old) if old.end >= new.end => {}
            Some(old) => self.cover(
                Range {
                    start: old.end + 1,
                    end: new.end,
                },
                now,
            ),
            None => self.cover(new, now),
        }
    }

    /// Sets the anchor (only the first call has an effect: units keep their direction).
    /// Nothing is cut before the first [`Scheduler::refresh_present`].
    pub fn set_anchor(&mut self, anchor: Anchor) -> bool {
        if self.anchor.is_some() {
            return false;
        }
        if anchor.number < self.config.genesis {
            return false;
        }
        let now = self.now();
        let old = self.span();
        self.anchor = Some(anchor);
        self.meta_dirty = true;
        self.set_span(old, now);
        self.advance_tip(now);
        true
    }

    /// Records the highest block the fetchers' peers claim. The forward direction follows it
    /// as far as [`Scheduler::tip_bound`] allows: new blocks are cut into units (the pending
    /// tail unit grows first); the rest of the claim is cut as the bound rises (blocks stored,
    /// checkpoints added). Lower values are ignored; the claim is not persisted. Returns
    /// whether the tip units are cut to moved.
    pub fn observe_tip(&mut self, tip: u64) -> bool {
        if self.claimed.is_some_and(|t| t >= tip) || tip < self.config.genesis {
            return false;
        }
        self.claimed = Some(tip);
        let now = self.now();
        self.advance_tip(now)
    }

    /// Moves the tip towards the claim, as far as the bound allows; returns whether it moved.
    fn advance_tip(&mut self, now: u64) -> bool {
        let Some(claim) = self.claimed else {
            return false;
        };
        let target = claim.min(self.tip_bound());
        if self.tip.is_some_and(|t| t >= target) {
            return false;
        }
        let old = self.span();
        self.tip = Some(target);
        self.set_span(old, now);
        true
    }

    /// Adds checkpoints (Polygon alignment). Units not aligned to a new checkpoint (cut before
    /// it was known) that were never leased are cut again along it; units that were leased
    /// keep their range.
    pub fn add_checkpoints(&mut self, cps: impl IntoIterator<Item = CheckpointSpan>) -> usize {
        let now = self.now();
        let mut added = Vec::new();
        for cp in cps {
            if self.checkpoints.contains_key(&cp.range.start) {
                continue;
            }
            let overlaps = self
                .checkpoints
                .range(..=cp.range.end)
                .next_back()
                .is_some_and(|(_, c)| c.range.end >= cp.range.start);
            if overlaps {
                continue;
            }
            self.checkpoints.insert(cp.range.start, cp);
            added.push(cp.range);
        }
        if added.is_empty() {
            return 0;
        }
        if !self.config.checkpoint_aligned {
            self.advance_tip(now);
            return added.len();
        }
        let mut stale = BTreeSet::new();
        for r in &added {
            let first = self
                .active
                .range(..=r.start)
                .next_back()
                .map(|(&s, _)| s)
                .unwrap_or(r.start);
            for (_, &id) in self.active.range(first..=r.end) {
                let u = &self.units[&id];
                if u.range.intersect(r).is_some()
                    && u.checkpoint_id.is_none()
                    && !u.reverify
                    && u.last_token == 0
                {
                    stale.insert(id);
                }
            }
        }
        for id in stale {
            self.delete_unit(id);
        }
        self.fill(now);
        self.advance_tip(now);
        added.len()
    }

    /// The checkpoints known.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// Cuts every block of the span that is neither done nor in an active unit.
    fn fill(&mut self, now: u64) {
        if !self.present_known {
            return;
        }
        let Some(span) = self.span() else { return };
        let mut covered = self.done.clone();
        for id in self.active.values() {
            covered.insert(self.units[id].range);
        }
        for gap in covered.gaps(span) {
            self.cut(gap, false, now);
        }
    }

    /// Replaces the knowledge of stored blocks with `present` (the store's present ranges) plus
    /// the completions of the last minutes (which a concurrent read may not show yet). Units the
    /// store holds entirely become done; blocks that went missing are cut into new units.
    pub fn refresh_present(&mut self, present: &RangeSet) {
        let now = self.now();
        self.prune_recent(now);
        let mut view = present.clone();
        for c in &self.recent {
            view.insert(c.range);
        }
        self.view = view;
        self.present_known = true;
        let Some(span) = self.span() else {
            self.done = RangeSet::new();
            self.advance_tip(now);
            return;
        };
        let mut stored = Vec::new();
        let mut partial = Vec::new();
        for &id in self.active.values() {
            let u = &self.units[&id];
            if u.reverify || matches!(u.state, UnitState::Leased(_)) {
                continue;
            }
            if self.view.contains_range(u.range) {
                stored.push(id);
            } else if u.checkpoint_id.is_none()
                && u.last_token == 0
                && self.view.count_within(u.range) > 0
            {
                // Never leased and partly stored by someone else: cut again over what is
                // missing. Checkpoint units stay whole (the root covers the whole range).
                partial.push(id);
            }
        }
        for id in stored {
            self.update(id, now, |u| u.state = UnitState::Done);
        }
        for id in partial {
            self.delete_unit(id);
        }
        let mut done = RangeSet::from_ranges(self.view.iter_within(span));
        for id in self.active.values() {
            done.remove(self.units[id].range);
        }
        self.done = done;
        self.fill(now);
        self.advance_tip(now);
    }

    fn prune_recent(&mut self, now: u64) {
        let keep = ms(self.config.rate_window).max(120_000);
        while self
            .recent
            .front()
            .is_some_and(|c| c.at.saturating_add(keep) < now)
        {
            self.recent.pop_front();
        }
    }

    // ---- leases ----------------------------------------------------------------------------

    fn grant(&mut self, id: u64, fetcher: &str, now: u64) -> Lease {
        let token = self.next_token;
        self.next_token += 1;
        self.meta_dirty = true;
        let info = LeaseInfo {
            lease_id: lease_id(id, token),
            fetcher_id: fetcher.to_string(),
            expires_at: now.saturating_add(ms(self.config.lease_ttl)),
            token,
        };
        self.update(id, now, |u| {
            u.state = UnitState::Leased(info.clone());
            u.last_token = token;
            u.last_lease = Some(info.clone());
        });
        Lease {
            unit: self.units[&id].clone(),
            lease: info,
        }
    }

    /// The next ready unit of direction `d` in lease order (forward ascending, backward
    /// descending) whose blocks can be linked to something trusted when they are validated:
    /// its own trusted hash (parent or end), a stored neighbour, or a neighbour
    /// under lease (in flight, so stored soon). Units with neither wait: a fetcher would
    /// otherwise hold them while nothing they link to is being fetched.
    fn next_linkable(&self, d: Direction) -> Option<u64> {
        /// Ready units looked at per call (the first one is nearly always linkable).
        const SCAN: usize = 256;
        let ready = &self.ready[d.index()];
        let mut candidates: Box<dyn Iterator<Item = &(u64, u64)>> = match d {
            Direction::Forward => Box::new(ready.iter()),
            Direction::Backward => Box::new(ready.iter().rev()),
        };
        candidates
            .by_ref()
            .take(SCAN)
            .map(|&(_, id)| id)
            .find(|id| self.linkable(&self.units[id]))
    }

    fn linkable(&self, u: &Unit) -> bool {
        // A checkpoint root does not fix parent hashes: a checkpoint alone is no link.
        if u.parent_hash.is_some() || u.end_hash.is_some() || u.range.start <= self.config.genesis {
            return true;
        }
        // Next to the anchor: linked to it (by its hash when known).
        if let Some(a) = self.anchor
            && (u.range.start == a.number.saturating_add(1) || u.range.end == a.number)
        {
            return true;
        }
        let neighbour = |n: u64| {
            self.view.contains(n)
                || self.done.contains(n)
                || self
                    .active
                    .range(..=n)
                    .next_back()
                    .map(|(_, id)| &self.units[id])
                    .is_some_and(|v| v.range.contains(n) && matches!(v.state, UnitState::Leased(_)))
        };
        neighbour(u.range.start - 1) || u.range.end.checked_add(1).is_some_and(neighbour)
    }

    fn forward_catching_up(&self) -> bool {
        let f = Direction::Forward.index();
        !self.ready[f].is_empty() || self.counts[f].leased > 0
    }

    fn refill(&mut self, now: u64) {
        if let Some(rate) = self.config.throttle.max_blocks_per_second {
            let dt = now.saturating_sub(self.bucket.refilled_at) as f64 / 1000.0;
            self.bucket.tokens = (self.bucket.tokens + rate * dt)
                .min(self.config.throttle.burst_blocks.max(1) as f64);
        }
        self.bucket.refilled_at = now;
    }

    /// Whether one more backward unit may be leased now (throttle).
    fn backward_allowed(&mut self, now: u64) -> bool {
        let f = self.counts[Direction::Forward.index()].leased;
        let b = self.counts[Direction::Backward.index()].leased;
        if self.forward_catching_up() && b > 0 {
            let share = self.config.throttle.max_in_flight_share.clamp(0.0, 1.0);
            if (b + 1) as f64 > share * (f + b + 1) as f64 {
                return false;
            }
        }
        if self.config.throttle.max_blocks_per_second.is_some() {
            self.refill(now);
            if self.bucket.tokens <= 0.0 {
                return false;
            }
        }
        true
    }

    /// Hands out up to `max_units` units to `fetcher`: eligible forward units first (lowest
    /// first), then backward units (newest first) as far as the throttle allows. `directions`
    /// empty means both.
    pub fn acquire(&mut self, fetcher: &str, max_units: u32, directions: &[Direction]) -> Acquired {
        let now = self.now();
        self.expire_at(now);
        self.promote(now);
        let max = max_units.clamp(1, self.config.max_units_per_acquire.max(1)) as usize;
        let wants = |d: Direction| directions.is_empty() || directions.contains(&d);
        let mut leases = Vec::new();
        if wants(Direction::Forward) && !self.is_paused(Direction::Forward) {
            while leases.len() < max {
                let Some(id) = self.next_linkable(Direction::Forward) else {
                    break;
                };
                leases.push(self.grant(id, fetcher, now));
            }
        }
        let mut throttled = false;
        if wants(Direction::Backward) && !self.is_paused(Direction::Backward) {
            while leases.len() < max {
                let Some(id) = self.next_linkable(Direction::Backward) else {
                    break;
                };
                if !self.backward_allowed(now) {
                    throttled = true;
                    break;
                }
                let lease = self.grant(id, fetcher, now);
                if self.config.throttle.max_blocks_per_second.is_some() {
                    self.bucket.tokens -= lease.unit.range.len() as f64;
                }
                leases.push(lease);
            }
        }
        let retry_after = if leases.is_empty() {
            self.retry_after(now, throttled)
        } else {
            Duration::ZERO
        };
        Acquired {
            leases,
            retry_after,
        }
    }

    fn retry_after(&self, now: u64, throttled: bool) -> Duration {
        let max = ms(self.config.max_retry_after).max(50);
        let mut wait = max;
        if let Some(&(nb, _)) = self.waiting.first() {
            wait = wait.min(nb.saturating_sub(now));
        }
        if let Some(&(exp, _)) = self.leased.first() {
            wait = wait.min(exp.saturating_sub(now));
        }
        if throttled {
            wait = wait.min(1000);
            if let Some(rate) = self.config.throttle.max_blocks_per_second
                && rate > 0.0
                && self.bucket.tokens <= 0.0
            {
                let refill = ((-self.bucket.tokens + 1.0) / rate * 1000.0).ceil() as u64;
                wait = wait.max(refill.min(max));
            }
        }
        Duration::from_millis(wait.clamp(50, max))
    }

    fn lookup(&self, lease: &str) -> Result<u64, SchedulerError> {
        let (id, _) =
            parse_lease_id(lease).ok_or_else(|| SchedulerError::UnknownLease(lease.into()))?;
        if self.units.contains_key(&id) {
            Ok(id)
        } else {
            Err(SchedulerError::UnknownLease(lease.into()))
        }
    }

    /// Extends a valid lease by the lease TTL from now. Refused when it expired (the unit goes
    /// back to the queue) or was superseded.
    pub fn renew(&mut self, lease: &str, token: u64) -> Result<Lease, SchedulerError> {
        let now = self.now();
        let id = self.lookup(lease)?;
        let unit = &self.units[&id];
        match &unit.state {
            UnitState::Leased(l) if l.lease_id == lease && l.token == token => {
                if l.state(now) == LeaseState::Expired {
                    self.expire_at(now);
                    return Err(SchedulerError::Expired(lease.into()));
                }
                let mut info = l.clone();
                info.expires_at = now.saturating_add(ms(self.config.lease_ttl));
                self.update(id, now, |u| {
                    u.state = UnitState::Leased(info.clone());
                    u.last_lease = Some(info.clone());
                });
                Ok(Lease {
                    unit: self.units[&id].clone(),
                    lease: info,
                })
            }
            _ if unit.last_token == token
                && unit
                    .last_lease
                    .as_ref()
                    .is_some_and(|l| l.lease_id == lease)
                && unit.state != UnitState::Done =>
            {
                Err(SchedulerError::Expired(lease.into()))
            }
            _ => Err(SchedulerError::StaleToken {
                lease_id: lease.into(),
                given: token,
                current: unit.last_token,
            }),
        }
    }

    /// Marks a unit done. Accepted only with the unit's current fencing token (its latest
    /// lease, even if that lease has just expired and nobody holds the unit since: the blocks
    /// are stored). Idempotent: completing again with the same lease returns `AlreadyDone`.
    /// `stored`, when given, must cover the unit.
    pub fn complete(
        &mut self,
        lease: &str,
        token: u64,
        stored: Option<Range>,
    ) -> Result<Completion, SchedulerError> {
        let now = self.now();
        let id = self.lookup(lease)?;
        let unit = &self.units[&id];
        let current = unit.last_token != 0
            && unit.last_token == token
            && unit
                .last_lease
                .as_ref()
                .is_some_and(|l| l.lease_id == lease);
        if !current {
            return Err(SchedulerError::StaleToken {
                lease_id: lease.into(),
                given: token,
                current: unit.last_token,
            });
        }
        if let Some(r) = stored
            && (r.start > unit.range.start || r.end < unit.range.end)
        {
            return Err(SchedulerError::InvalidArgument(format!(
                "stored range {r} does not cover unit {} ({})",
                id, unit.range
            )));
        }
        if unit.state == UnitState::Done {
            return Ok(Completion::AlreadyDone(unit.clone()));
        }
        let (range, direction) = (unit.range, unit.direction);
        self.update(id, now, |u| {
            u.state = UnitState::Done;
            u.last_error.clear();
        });
        self.view.insert(range);
        if let Some(span) = self.span()
            && let Some(r) = range.intersect(&span)
        {
            self.done.insert(r);
        }
        self.recent.push_back(Completed {
            at: now,
            range,
            direction,
        });
        self.completed_blocks[direction.index()] += range.len();
        self.prune_recent(now);
        // Stored blocks raise the bound: the next wave of the claimed tip is cut.
        self.advance_tip(now);
        Ok(Completion::Done(self.units[&id].clone()))
    }

    fn backoff_delay(&self, id: u64, attempts: u32, base: Duration, max: Duration) -> u64 {
        let base = ms(base).max(1);
        let max = ms(max).max(base);
        let exp = attempts.saturating_sub(1).min(40);
        let delay = base.saturating_mul(1u64 << exp).min(max);
        // "Equal jitter": half fixed, half random (deterministic per unit and attempt).
        let r = splitmix(self.config.jitter_seed ^ id.rotate_left(17) ^ u64::from(attempts));
        let half = delay / 2;
        half + if half == 0 { 0 } else { r % (half + 1) }
    }

    /// Gives a leased unit back with a reason. Peer faults and local errors back off
    /// exponentially (with jitter); "no peer serves the range" goes to NO_PEER on a slower
    /// schedule. Refused unless the lease is current.
    pub fn fail(
        &mut self,
        lease: &str,
        token: u64,
        reason: FailureReason,
        message: &str,
    ) -> Result<Unit, SchedulerError> {
        let now = self.now();
        let id = self.lookup(lease)?;
        let unit = &self.units[&id];
        match &unit.state {
            UnitState::Leased(l) if l.lease_id == lease && l.token == token => {}
            _ => {
                return Err(SchedulerError::StaleToken {
                    lease_id: lease.into(),
                    given: token,
                    current: unit.last_token,
                });
            }
        }
        let attempts = unit.attempts.saturating_add(1);
        let b = &self.config.backoff;
        let state = match reason {
            FailureReason::NoPeer => UnitState::NoPeer {
                not_before: now + self.backoff_delay(id, attempts, b.no_peer_base, b.no_peer_max),
            },
            FailureReason::PeerFault | FailureReason::Local => UnitState::Backoff {
                not_before: now + self.backoff_delay(id, attempts, b.base, b.max),
            },
        };
        let message = if message.is_empty() {
            format!("{reason:?}")
        } else {
            format!("{reason:?}: {message}")
        };
        self.update(id, now, |u| {
            u.state = state;
            u.attempts = attempts;
            u.last_error = message;
        });
        Ok(self.units[&id].clone())
    }

    /// Pauses a direction (no new leases; running ones continue).
    pub fn pause(&mut self, d: Direction) {
        if !self.paused[d.index()] {
            self.paused[d.index()] = true;
            self.meta_dirty = true;
        }
    }

    /// Resumes a direction.
    pub fn resume(&mut self, d: Direction) {
        if self.paused[d.index()] {
            self.paused[d.index()] = false;
            self.meta_dirty = true;
        }
    }

    /// Schedules `range` (clipped to `[genesis, tip]`, widened to whole aligned chunks) to be
    /// fetched and validated again. Parts already in active units are left as they are.
    pub fn reverify(&mut self, range: Range) -> Result<Vec<Unit>, SchedulerError> {
        let now = self.now();
        let span = self
            .span()
            .ok_or_else(|| SchedulerError::InvalidArgument("the tip is not known yet".into()))?;
        let r = range.intersect(&span).ok_or_else(|| {
            SchedulerError::InvalidArgument(format!("{range} lies outside {span}"))
        })?;
        let r = Range {
            start: self.chunk(r.start).0.start.max(span.start),
            end: self.chunk(r.end).0.end.min(span.end),
        };
        let mut free = RangeSet::from_ranges([r]);
        let first = self
            .active
            .range(..=r.start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(r.start);
        for (_, id) in self.active.range(first..=r.end) {
            free.remove(self.units[id].range);
        }
        let mut created = Vec::new();
        for piece in free.iter().collect::<Vec<_>>() {
            self.done.remove(piece);
            created.extend(self.cut(piece, true, now));
        }
        Ok(created.iter().map(|id| self.units[id].clone()).collect())
    }

    // ---- queries ---------------------------------------------------------------------------

    /// A unit by id.
    pub fn unit(&self, id: u64) -> Option<&Unit> {
        self.units.get(&id)
    }

    /// Units (ascending id) matching `filter`.
    pub fn units(&self, filter: UnitFilter) -> impl Iterator<Item = &Unit> + '_ {
        self.units.values().filter(move |u| {
            filter.direction.is_none_or(|d| u.direction == d)
                && filter.state.is_none_or(|s| u.state.to_proto() == s)
                && (!filter.active_only || u.state.is_active())
        })
    }

    /// Active units in block order.
    pub fn active_units(&self) -> impl Iterator<Item = &Unit> + '_ {
        self.active.values().map(|id| &self.units[id])
    }

    /// Current leases, soonest expiry first.
    pub fn leases(&self) -> Vec<Lease> {
        self.leased
            .iter()
            .filter_map(|(_, id)| {
                let u = &self.units[id];
                u.lease().map(|l| Lease {
                    unit: u.clone(),
                    lease: l.clone(),
                })
            })
            .collect()
    }

    /// Blocks of `[genesis, tip]` that are stored and in no active unit.
    pub fn done_set(&self) -> &RangeSet {
        &self.done
    }

    /// Next fencing token to be handed out.
    pub fn next_token(&self) -> u64 {
        self.next_token
    }

    /// Progress per direction.
    pub fn status(&self) -> Status {
        let now = self.now();
        let dir = |d: Direction| {
            let span = self.direction_span(d);
            let c = self.counts[d.index()];
            let done_blocks = span.map(|s| self.done.count_within(s)).unwrap_or(0);
            let remaining = span.map(|s| s.len() - done_blocks).unwrap_or(0);
            let window = ms(self.config.rate_window).max(1000);
            let since = now.saturating_sub(window);
            let blocks: u64 = self
                .recent
                .iter()
                .filter(|c| c.direction == d && c.at >= since)
                .map(|c| c.range.len())
                .sum();
            let elapsed = now.saturating_sub(self.started_at).clamp(1000, window);
            let rate = blocks as f64 * 1000.0 / elapsed as f64;
            let eta = (rate > 0.0 && remaining > 0)
                .then(|| Duration::from_secs_f64(remaining as f64 / rate));
            DirectionStatus {
                direction: d,
                paused: self.paused[d.index()],
                done_blocks,
                in_flight_blocks: c.leased_blocks,
                remaining_blocks: remaining,
                blocks_per_second: rate,
                eta: if remaining == 0 {
                    Some(Duration::ZERO)
                } else {
                    eta
                },
                units_pending: c.active - c.leased - c.backoff - c.no_peer,
                units_leased: c.leased,
                units_backoff: c.backoff,
                units_no_peer: c.no_peer,
                units_done: c.done,
                completed_blocks: self.completed_blocks[d.index()],
            }
        };
        Status {
            term: self.term,
            genesis: self.config.genesis,
            tip: self.tip,
            peer_tip: self.claimed,
            tip_bound: self.tip_bound(),
            anchor: self.anchor,
            directions: [dir(Direction::Forward), dir(Direction::Backward)],
            gaps: self
                .span()
                .map(|s| self.done.gaps(s).into_iter().take(256).collect())
                .unwrap_or_default(),
        }
    }

    // ---- persistence -----------------------------------------------------------------------

    fn meta_record(&self) -> MetaRecord {
        MetaRecord {
            next_unit_id: self.next_unit_id,
            next_token: self.next_token,
            genesis: self.config.genesis,
            // Peer-derived: never persisted.
            tip: None,
            anchor: self.anchor.map(|a| a.number),
            anchor_hash: self.anchor.and_then(|a| a.hash).map(|h| h.to_vec()),
            paused_forward: self.paused[0],
            paused_backward: self.paused[1],
            version: 1,
        }
    }

    fn unit_records(&self, u: &Unit, out: &mut Vec<(u64, Vec<u8>)>) {
        out.push((RecordKey::Unit(u.id).raw(), persist::encode(&u.to_proto())));
        if let Some(l) = &u.last_lease {
            let wire = v1::Lease {
                lease_id: l.lease_id.clone(),
                unit: None,
                fetcher_id: l.fetcher_id.clone(),
                expires_at: Some(prost_types::Timestamp {
                    seconds: i64::try_from(l.expires_at / 1000).unwrap_or(i64::MAX),
                    nanos: i32::try_from((l.expires_at % 1000) * 1_000_000).unwrap_or(0),
                }),
                fencing_token: l.token,
            };
            out.push((RecordKey::Lease(u.id).raw(), persist::encode(&wire)));
        }
        if u.reverify {
            out.push((RecordKey::Reverify(u.id).raw(), Vec::new()));
        }
    }

    /// Whether there are changes not yet taken with [`Scheduler::take_delta`].
    pub fn has_changes(&self) -> bool {
        self.meta_dirty || !self.dirty.is_empty() || !self.deleted.is_empty()
    }

    /// The changes since the last call, as one delta under this scheduler's term (`None` when
    /// nothing changed). Commit it before acknowledging the operations that caused it.
    pub fn take_delta(&mut self) -> Option<SchedulerDelta> {
        if !self.has_changes() {
            return None;
        }
        let mut upserts = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            if let Some(u) = self.units.get(&id) {
                self.unit_records(u, &mut upserts);
            }
        }
        let mut deletes = Vec::new();
        for id in std::mem::take(&mut self.deleted) {
            deletes.push(RecordKey::Unit(id).raw());
            deletes.push(RecordKey::Lease(id).raw());
            deletes.push(RecordKey::Reverify(id).raw());
        }
        if std::mem::take(&mut self.meta_dirty) {
            upserts.push((persist::META_KEY, persist::encode(&self.meta_record())));
        }
        Some(SchedulerDelta {
            term: self.term,
            upserts,
            deletes,
        })
    }

    /// Every record of the current state (what the store holds once all deltas are applied).
    pub fn records(&self) -> BTreeMap<u64, Vec<u8>> {
        let mut out = Vec::new();
        for u in self.units.values() {
            self.unit_records(u, &mut out);
        }
        out.push((persist::META_KEY, persist::encode(&self.meta_record())));
        out.into_iter().collect()
    }

    // ---- invariants ------------------------------------------------------------------------

    fn check_invariants_structural(&self) -> Result<(), String> {
        let mut prev_end: Option<u64> = None;
        for (&start, id) in &self.active {
            let u = self
                .units
                .get(id)
                .ok_or_else(|| format!("active index names missing unit {id}"))?;
            if u.range.start != start || !u.state.is_active() {
                return Err(format!("active index out of date for unit {id}"));
            }
            if let Some(p) = prev_end
                && u.range.start <= p
            {
                return Err(format!(
                    "unit {id} ({}) overlaps the previous active unit (ends at {p})",
                    u.range
                ));
            }
            prev_end = Some(u.range.end);
        }
        let active = self.units.values().filter(|u| u.state.is_active()).count();
        if active != self.active.len() {
            return Err(format!(
                "{active} active units but {} indexed",
                self.active.len()
            ));
        }
        for u in self.units.values() {
            if u.last_token >= self.next_token {
                return Err(format!(
                    "unit {} has token {} >= next token {}",
                    u.id, u.last_token, self.next_token
                ));
            }
            if u.id >= self.next_unit_id {
                return Err(format!("unit id {} >= next id {}", u.id, self.next_unit_id));
            }
            if let UnitState::Leased(l) = &u.state
                && !self.leased.contains(&(l.expires_at, u.id))
            {
                return Err(format!("leased unit {} not indexed", u.id));
            }
        }
        Ok(())
    }

    /// Checks the invariants (tests, debug builds): active units are disjoint and indexed;
    /// every block of `[genesis, tip]` is in exactly one of the done set or an active unit;
    /// tokens and ids stay below their counters.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_invariants_structural()?;
        let Some(span) = self.span() else {
            return if self.active.is_empty() {
                Ok(())
            } else {
                Err("units exist but the span is unknown".into())
            };
        };
        let mut covered = 0u64;
        for u in self.active_units() {
            if u.range.intersect(&span) != Some(u.range) {
                return Err(format!("unit {} ({}) outside {span}", u.id, u.range));
            }
            if self.done.count_within(u.range) != 0 {
                return Err(format!("unit {} ({}) overlaps the done set", u.id, u.range));
            }
            covered += u.range.len();
        }
        let done = self.done.count_within(span);
        if done != self.done.count() {
            return Err("done set reaches outside the span".into());
        }
        if done + covered != span.len() {
            return Err(format!(
                "{done} done + {covered} in units != {} blocks in {span}",
                span.len()
            ));
        }
        Ok(())
    }
}

fn unit_from_records(
    id: u64,
    wire: v1::WorkUnit,
    lease: Option<v1::Lease>,
    reverify: bool,
) -> Result<Unit, RestoreError> {
    let corrupt = |m: String| RestoreError::Corrupt(format!("unit {id}: {m}"));
    let range = hypasis_proto::convert::range("unit.range", wire.range.as_ref())
        .map_err(|e| corrupt(e.to_string()))?;
    let direction =
        Direction::from_proto(wire.direction).ok_or_else(|| corrupt("bad direction".into()))?;
    let hash = |f: &'static str, h: Option<Vec<u8>>| {
        h.map(|h| hypasis_proto::convert::b256(f, &h))
            .transpose()
            .map_err(|e| corrupt(e.to_string()))
    };
    let last_lease = lease.map(|l| LeaseInfo {
        lease_id: l.lease_id,
        fetcher_id: l.fetcher_id,
        expires_at: l.expires_at.as_ref().map(timestamp_ms).unwrap_or(0),
        token: l.fencing_token,
    });
    let not_before = wire.not_before.as_ref().map(timestamp_ms).unwrap_or(0);
    let state = match v1::WorkUnitState::try_from(wire.state) {
        Ok(v1::WorkUnitState::Pending) => UnitState::Pending,
        Ok(v1::WorkUnitState::Done) => UnitState::Done,
        Ok(v1::WorkUnitState::Backoff) => UnitState::Backoff { not_before },
        Ok(v1::WorkUnitState::NoPeer) => UnitState::NoPeer { not_before },
        Ok(v1::WorkUnitState::Leased) => match &last_lease {
            Some(l) => UnitState::Leased(l.clone()),
            None => UnitState::Pending,
        },
        _ => return Err(corrupt(format!("bad state {}", wire.state))),
    };
    Ok(Unit {
        id,
        range,
        direction,
        checkpoint_id: wire.checkpoint_id,
        end_hash: hash("unit.end_hash", wire.end_hash)?,
        parent_hash: hash("unit.parent_hash", wire.parent_hash)?,
        state,
        attempts: wire.attempts,
        last_error: wire.last_error,
        last_token: last_lease.as_ref().map(|l| l.token).unwrap_or(0),
        last_lease,
        reverify,
    })
}

//! The leader's scheduler: the state machine plus its durable state in the store. Every
//! operation's changes are committed under the leader's term before the operation returns, so
//! nothing is acknowledged that a successor would not see.

use crate::Lease;
use crate::clock::Clock;
use crate::config::SchedulerConfig;
use crate::scheduler::{Anchor, CheckpointSpan, RestoreError, Scheduler};
use crate::store::{SchedulerStore, StoreError};
use hypasis_checkpoint_api::CheckpointFeed;
use hypasis_gaps::Range;
use hypasis_primitives::Checkpoint;
use hypasis_storage_api::SchedulerDelta;
use std::sync::Arc;

/// Failures of a durable operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DurableError {
    /// A newer leader owns the state: stop acting as leader.
    #[error("deposed: {0}")]
    Deposed(String),
    /// The store failed; the operation was not acknowledged (its effects are discarded and the
    /// state is reloaded from the store before the next operation).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state does not load.
    #[error(transparent)]
    Restore(RestoreError),
}

impl hypasis_primitives::Fault for DurableError {
    /// Deposed: stop leading (fatal); a store failure or a load failure keeps its class.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Deposed(_) => hypasis_primitives::FaultClass::Fatal,
            Self::Store(e) => e.fault(),
            Self::Restore(e) => e.fault(),
        }
    }
}

/// Where the anchor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorSource {
    /// A configured trusted block.
    Fixed(Anchor),
    /// The end of the newest accepted checkpoint when the schedule is first made.
    LatestCheckpoint,
}

/// Checkpoints read per page.
const CHECKPOINT_PAGE: usize = 1000;

/// The scheduler of the current leader, kept in step with the store.
#[derive(Debug)]
pub struct DurableScheduler {
    sched: Scheduler,
    store: Arc<dyn SchedulerStore>,
    /// The accepted checkpoints, from the checkpoint service (or its in-process hub).
    feed: Arc<dyn CheckpointFeed>,
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    anchor_source: AnchorSource,
    anchor_checkpoint: Option<Checkpoint>,
    checkpoints: Vec<CheckpointSpan>,
    /// The same checkpoints in full, by first block (their roots go out with the leases).
    by_start: std::collections::BTreeMap<u64, Checkpoint>,
    latest_checkpoint: Option<Checkpoint>,
    tip_hint: Option<u64>,
    broken: bool,
    deposed: bool,
}

impl DurableScheduler {
    /// Takes over the durable state as the newly elected leader with coordinator term `term`.
    ///
    /// The term written is `max(term, stored term + 1)`: always above every term that wrote
    /// before, even when the coordinator's terms restarted (an in-process coordinator after a
    /// restart, a recreated etcd cluster). The coordinator guarantees one leader at a time; the
    /// term only has to fence writes of a deposed leader that has not noticed yet. It first
    /// fences (an empty write under the term, after which the store refuses older terms), then
    /// loads the state, reads checkpoints and gaps, and commits what changed (expired leases
    /// returned to the queue, new units).
    pub async fn open(
        store: Arc<dyn SchedulerStore>,
        feed: Arc<dyn CheckpointFeed>,
        config: SchedulerConfig,
        clock: Arc<dyn Clock>,
        term: u64,
        anchor_source: AnchorSource,
    ) -> Result<Self, DurableError> {
        let stored = store.load().await?.term;
        let term = term.max(stored.saturating_add(1));
        let fence = SchedulerDelta {
            term,
            upserts: Vec::new(),
            deletes: Vec::new(),
        };
        match store.commit(&fence).await {
            Ok(()) => {}
            Err(StoreError::StaleTerm(m)) => return Err(DurableError::Deposed(m)),
            Err(e) => return Err(e.into()),
        }
        let mut d = Self {
            sched: Scheduler::new(config.clone(), clock.clone(), term),
            store,
            feed,
            config,
            clock,
            anchor_source,
            anchor_checkpoint: None,
            checkpoints: Vec::new(),
            by_start: std::collections::BTreeMap::new(),
            latest_checkpoint: None,
            tip_hint: None,
            broken: true,
            deposed: false,
        };
        d.ensure().await?;
        Ok(d)
    }

    /// The state machine (read-only; mutate through [`DurableScheduler::apply`]).
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// The checkpoint the anchor came from, if any.
    pub fn anchor_checkpoint(&self) -> Option<&Checkpoint> {
        self.anchor_checkpoint.as_ref()
    }

    /// Whether a newer leader took over.
    pub fn is_deposed(&self) -> bool {
        self.deposed
    }

    /// The term.
    pub fn term(&self) -> u64 {
        self.sched.term()
    }

    async fn reload(&mut self) -> Result<(), DurableError> {
        let snap = self.store.load().await?;
        let term = self.sched.term();
        let sched = Scheduler::restore(self.config.clone(), self.clock.clone(), term, &snap)
            .map_err(|e| match e {
                RestoreError::StaleTerm { .. } => {
                    self.deposed = true;
                    DurableError::Deposed(e.to_string())
                }
                other => DurableError::Restore(other),
            })?;
        self.sched = sched;
        self.sched.add_checkpoints(self.checkpoints.iter().copied());
        Ok(())
    }

    /// Reloads the state after a failed commit; refuses once deposed.
    async fn ensure(&mut self) -> Result<(), DurableError> {
        if self.deposed {
            return Err(DurableError::Deposed("a newer leader took over".into()));
        }
        if self.broken {
            self.reload().await?;
            self.sync_inputs_inner().await?;
            self.commit().await?;
            self.broken = false;
        }
        Ok(())
    }

    /// Commits pending changes under the term.
    async fn commit(&mut self) -> Result<(), DurableError> {
        let Some(delta) = self.sched.take_delta() else {
            return Ok(());
        };
        match self.store.commit(&delta).await {
            Ok(()) => Ok(()),
            Err(StoreError::StaleTerm(m)) => {
                self.deposed = true;
                Err(DurableError::Deposed(m))
            }
            Err(e) => {
                self.broken = true;
                Err(e.into())
            }
        }
    }

    /// Runs `f` on the state machine and commits its changes before returning its result.
    pub async fn apply<T>(
        &mut self,
        f: impl FnOnce(&mut Scheduler) -> T,
    ) -> Result<T, DurableError> {
        self.ensure().await?;
        let out = f(&mut self.sched);
        self.commit().await?;
        Ok(out)
    }

    /// Records a tip announced by the fetchers (applied once the anchor is known).
    pub async fn observe_tip(&mut self, tip: u64) -> Result<(), DurableError> {
        if self.tip_hint.is_some_and(|t| t >= tip) {
            return Ok(());
        }
        self.tip_hint = Some(tip);
        if self.sched.anchor().is_some() {
            self.apply(|s| s.observe_tip(tip)).await?;
        }
        Ok(())
    }

    /// Records the trusted head from the checkpoint sources (in memory: not a durable
    /// commit; shown in the status). Returns whether it moved (it never moves backward).
    pub fn observe_trusted_head(&mut self, head: hypasis_checkpoint_api::TrustedBlock) -> bool {
        self.sched.observe_trusted_head(head)
    }

    /// The accepted checkpoints whose range lies within `[start, end]`.
    pub fn checkpoints_within(&self, start: u64, end: u64) -> Vec<Checkpoint> {
        if start > end {
            return Vec::new();
        }
        self.by_start
            .range(start..=end)
            .map(|(_, c)| c)
            .filter(|c| c.range.end <= end)
            .cloned()
            .collect()
    }

    /// A lease on the wire, with the checkpoints inside its unit.
    pub fn lease_proto(&self, lease: &Lease) -> hypasis_proto::v1::Lease {
        let mut p = lease.to_proto();
        if let Some(u) = p.unit.as_mut() {
            u.checkpoints = self
                .checkpoints_within(lease.unit.range.start, lease.unit.range.end)
                .iter()
                .map(hypasis_proto::v1::Checkpoint::from)
                .collect();
        }
        p
    }

    /// Reads new checkpoints and the store's present ranges, sets the anchor when it becomes
    /// known, applies the tip, and commits.
    pub async fn sync_inputs(&mut self) -> Result<(), DurableError> {
        self.ensure().await?;
        let r = self.sync_inputs_inner().await;
        if r.is_err() {
            // Inputs were applied partly; the state machine may be ahead of the store.
            self.broken = true;
        }
        r?;
        self.commit().await
    }

    async fn sync_inputs_inner(&mut self) -> Result<(), DurableError> {
        // New checkpoints, from the checkpoint service. Read before anything changes: while it
        // is unreachable the schedule goes on with the checkpoints it knows.
        let mut pages = Vec::new();
        let mut from = self.checkpoints.last().map(|c| c.id + 1).unwrap_or(0);
        loop {
            match self.feed.accepted(from, CHECKPOINT_PAGE).await {
                Ok(page) => {
                    let n = page.len();
                    if let Some(l) = page.last() {
                        from = l.id + 1;
                    }
                    pages.push(page);
                    if n < CHECKPOINT_PAGE {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the accepted checkpoints failed; going on with the known ones");
                    break;
                }
            }
        }
        let mut new = Vec::new();
        for page in pages {
            for c in page {
                let span = CheckpointSpan::from(&c);
                if self.checkpoints.last().is_none_or(|l| span.id > l.id) {
                    self.checkpoints.push(span);
                    self.by_start.insert(c.range.start, c.clone());
                    new.push(span);
                    if self.sched.anchor().is_some_and(|a| a.number == c.range.end) {
                        self.anchor_checkpoint = Some(c.clone());
                    }
                    self.latest_checkpoint = Some(c);
                }
            }
        }
        if !new.is_empty() {
            self.sched.add_checkpoints(new);
        }
        // The anchor candidate.
        let anchor = match self.sched.anchor() {
            Some(a) => Some(a),
            None => match self.anchor_source {
                AnchorSource::Fixed(a) => Some(a),
                AnchorSource::LatestCheckpoint => self.latest_checkpoint.as_ref().map(|c| Anchor {
                    number: c.range.end,
                    hash: c.end_block_hash,
                }),
            },
        };
        if anchor.is_none() && self.sched.span().is_none() {
            return Ok(()); // nothing to schedule yet
        }
        // Present blocks within everything that is or will be scheduled.
        let end = [
            self.sched.span().map(|s| s.end),
            anchor.map(|a| a.number),
            self.tip_hint,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.config.genesis)
        .max(self.config.genesis);
        let present = self
            .store
            .present(Range {
                start: self.config.genesis,
                end,
            })
            .await?;
        self.sched.refresh_present(&present);
        if self.sched.anchor().is_none()
            && let Some(a) = anchor
        {
            self.sched.set_anchor(a);
            if matches!(self.anchor_source, AnchorSource::LatestCheckpoint) {
                self.anchor_checkpoint = self.latest_checkpoint.clone();
            }
            tracing::info!(anchor = a.number, "schedule anchored");
        }
        if let Some(t) = self.tip_hint {
            self.sched.observe_tip(t);
        }
        Ok(())
    }
}

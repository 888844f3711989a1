//! Property tests: random sequences of acquire / renew / complete / fail / expiry / tip growth /
//! store changes / checkpoints / re-verify / pause / restart against the scheduler, checking
//! after every step:
//! - no two valid leases (as their holders see them) cover overlapping blocks;
//! - every block of `[genesis, tip]` is in exactly one of the done set or one active unit, and
//!   the done set only holds blocks the store holds;
//! - forward units are handed out before backward ones whenever both are available;
//! - fencing tokens strictly increase, across restarts too.

use hypasis_gaps::{Range, RangeSet};
use hypasis_scheduler::{
    Anchor, BackoffConfig, BackwardThrottle, CheckpointSpan, Clock, Direction, FailureReason,
    ManualClock, Scheduler, SchedulerConfig, UnitState,
};
use hypasis_storage_api::SchedulerSnapshot;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Acquire { fetcher: u8, n: u32, dirs: u8 },
    Renew(usize),
    Complete { idx: usize, stale: bool },
    Fail { idx: usize, reason: u8 },
    Advance(u64),
    Tip(u64),
    ExternalWrite { start: u64, len: u64 },
    Checkpoint(u64),
    Reverify { start: u64, len: u64 },
    Pause(bool, bool),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 1u32..6, 0u8..3).prop_map(|(fetcher, n, dirs)| Op::Acquire { fetcher, n, dirs }),
        2 => any::<usize>().prop_map(Op::Renew),
        5 => (any::<usize>(), prop::bool::weighted(0.1)).prop_map(|(idx, stale)| Op::Complete { idx, stale }),
        2 => (any::<usize>(), 0u8..3).prop_map(|(idx, reason)| Op::Fail { idx, reason }),
        3 => (0u64..15_000).prop_map(Op::Advance),
        2 => (0u64..40).prop_map(Op::Tip),
        1 => (0u64..300, 1u64..40).prop_map(|(start, len)| Op::ExternalWrite { start, len }),
        1 => (1u64..40).prop_map(Op::Checkpoint),
        1 => (0u64..300, 1u64..30).prop_map(|(start, len)| Op::Reverify { start, len }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(f, b)| Op::Pause(f, b)),
        1 => Just(Op::Restart),
    ]
}

/// A lease as its holder sees it.
#[derive(Debug, Clone)]
struct Held {
    lease_id: String,
    token: u64,
    range: Range,
    expires_at: u64,
}

struct Harness {
    cfg: SchedulerConfig,
    clock: ManualClock,
    s: Scheduler,
    term: u64,
    /// What the store holds: external writes and completed units.
    store: RangeSet,
    /// Durable records, as committed.
    records: BTreeMap<u64, Vec<u8>>,
    held: Vec<Held>,
    /// Every lease ever granted (for stale completions).
    granted: Vec<Held>,
    max_token: u64,
    next_cp_start: u64,
    next_cp_id: u64,
    cps: Vec<CheckpointSpan>,
}

impl Harness {
    fn new(aligned: bool, anchor: u64, tip: u64, initial_cps: &[u64]) -> Self {
        let cfg = SchedulerConfig {
            genesis: 0,
            unit_size: 16,
            checkpoint_aligned: aligned,
            checkpoint_unit_max: 8,
            lease_ttl: Duration::from_secs(10),
            max_units_per_acquire: 8,
            backoff: BackoffConfig {
                base: Duration::from_secs(1),
                max: Duration::from_secs(8),
                no_peer_base: Duration::from_secs(5),
                no_peer_max: Duration::from_secs(40),
            },
            throttle: BackwardThrottle {
                max_in_flight_share: 0.5,
                max_blocks_per_second: None,
                burst_blocks: 64,
            },
            ..SchedulerConfig::default()
        };
        let clock = ManualClock::new(1_000_000);
        let mut h = Self {
            s: Scheduler::new(cfg.clone(), Arc::new(clock.clone()), 1),
            cfg,
            clock,
            term: 1,
            store: RangeSet::new(),
            records: BTreeMap::new(),
            held: Vec::new(),
            granted: Vec::new(),
            max_token: 0,
            next_cp_start: 0,
            next_cp_id: 1,
            cps: Vec::new(),
        };
        for &len in initial_cps {
            h.push_checkpoint(len);
        }
        h.s.add_checkpoints(h.cps.clone());
        h.s.refresh_present(&h.store);
        h.s.set_anchor(Anchor {
            number: anchor,
            hash: None,
        });
        h.s.observe_tip(tip);
        h.commit();
        h
    }

    fn push_checkpoint(&mut self, len: u64) -> CheckpointSpan {
        let cp = CheckpointSpan {
            id: self.next_cp_id,
            range: Range::new(self.next_cp_start, self.next_cp_start + len - 1).unwrap(),
            end_hash: None,
        };
        self.next_cp_id += 1;
        self.next_cp_start += len;
        self.cps.push(cp);
        cp
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn commit(&mut self) {
        if let Some(d) = self.s.take_delta() {
            assert_eq!(d.term, self.term);
            for k in d.deletes {
                self.records.remove(&k);
            }
            self.records.extend(d.upserts);
        }
    }

    fn pick(&self, idx: usize) -> Option<Held> {
        if self.held.is_empty() {
            None
        } else {
            Some(self.held[idx % self.held.len()].clone())
        }
    }

    fn drop_held(&mut self, lease_id: &str) {
        self.held.retain(|h| h.lease_id != lease_id);
    }

    /// Model of the scheduler's link rule: a unit is leased only when it can be linked to
    /// something trusted — its own anchor, the schedule's anchor, or a neighbouring block that
    /// is stored or under lease.
    fn linkable(&self, u: &hypasis_scheduler::Unit) -> bool {
        let st = self.s.status();
        let (anchor, tip) = (self.s.anchor().map(|a| a.number), st.tip);
        if u.parent_hash.is_some()
            || u.end_hash.is_some()
            || u.range.start == 0
            || anchor.is_some_and(|a| u.range.start == a + 1 || u.range.end == a)
        {
            return true;
        }
        let ok = |n: u64| {
            if tip.is_none_or(|t| n > t.max(anchor.unwrap_or(0))) {
                return false;
            }
            match self.s.active_units().find(|v| v.range.contains(n)) {
                None => true,
                Some(v) => matches!(v.state, UnitState::Leased(_)),
            }
        };
        ok(u.range.start - 1) || ok(u.range.end + 1)
    }

    fn eligible_forward(&self) -> usize {
        let now = self.now();
        self.s
            .active_units()
            .filter(|u| u.direction == Direction::Forward)
            .filter(|u| self.linkable(u))
            .filter(|u| match u.state {
                UnitState::Pending => true,
                UnitState::Backoff { not_before } | UnitState::NoPeer { not_before } => {
                    not_before <= now
                }
                _ => false,
            })
            .count()
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op.clone() {
            Op::Acquire { fetcher, n, dirs } => {
                let dirs: &[Direction] = match dirs {
                    0 => &[],
                    1 => &[Direction::Forward],
                    _ => &[Direction::Backward],
                };
                let forward_allowed =
                    !dirs.contains(&Direction::Backward) && !self.s.is_paused(Direction::Forward);
                let a = self.s.acquire(&format!("f{fetcher}"), n, dirs);
                prop_assert!(a.leases.len() <= n.max(1) as usize);
                let mut seen_backward = false;
                for l in &a.leases {
                    prop_assert!(l.lease.token > self.max_token, "token not increasing");
                    self.max_token = l.lease.token;
                    if l.unit.direction == Direction::Backward {
                        seen_backward = true;
                    } else {
                        prop_assert!(!seen_backward, "forward lease after a backward one");
                    }
                    if !dirs.is_empty() {
                        prop_assert!(dirs.contains(&l.unit.direction));
                    }
                    let h = Held {
                        lease_id: l.lease.lease_id.clone(),
                        token: l.lease.token,
                        range: l.unit.range,
                        expires_at: l.lease.expires_at,
                    };
                    self.held.push(h.clone());
                    self.granted.push(h);
                }
                if seen_backward && forward_allowed {
                    prop_assert_eq!(
                        self.eligible_forward(),
                        0,
                        "backward handed out while forward work was available"
                    );
                }
                if a.leases.is_empty() {
                    prop_assert!(a.retry_after > Duration::ZERO);
                }
            }
            Op::Renew(idx) => {
                if let Some(h) = self.pick(idx) {
                    match self.s.renew(&h.lease_id, h.token) {
                        Ok(l) => {
                            prop_assert!(h.expires_at > self.now());
                            for x in self.held.iter_mut().filter(|x| x.lease_id == h.lease_id) {
                                x.expires_at = l.lease.expires_at;
                            }
                        }
                        Err(_) => {
                            prop_assert!(h.expires_at <= self.now(), "valid lease not renewed");
                            self.drop_held(&h.lease_id);
                        }
                    }
                }
            }
            Op::Complete { idx, stale } => {
                if stale && !self.granted.is_empty() {
                    // Retry of an arbitrary old lease: either idempotent or refused.
                    let g = self.granted[idx % self.granted.len()].clone();
                    if self.s.complete(&g.lease_id, g.token, None).is_ok() {
                        self.store.insert(g.range);
                        self.drop_held(&g.lease_id);
                    }
                } else if let Some(h) = self.pick(idx) {
                    // The fetcher stored the blocks, then completes.
                    self.store.insert(h.range);
                    let res = self.s.complete(&h.lease_id, h.token, Some(h.range));
                    if h.expires_at > self.now() {
                        prop_assert!(res.is_ok(), "valid lease refused: {:?}", res);
                    }
                    self.drop_held(&h.lease_id);
                }
            }
            Op::Fail { idx, reason } => {
                if let Some(h) = self.pick(idx) {
                    let reason = match reason {
                        0 => FailureReason::PeerFault,
                        1 => FailureReason::NoPeer,
                        _ => FailureReason::Local,
                    };
                    let res = self.s.fail(&h.lease_id, h.token, reason, "x");
                    if h.expires_at > self.now() {
                        prop_assert!(res.is_ok(), "valid lease fail refused: {:?}", res);
                    }
                    self.drop_held(&h.lease_id);
                }
            }
            Op::Advance(ms) => {
                self.clock.advance(Duration::from_millis(ms));
                let now = self.now();
                self.held.retain(|h| h.expires_at > now);
                if ms % 3 == 0 {
                    self.s.expire();
                }
            }
            Op::Tip(delta) => {
                let tip = self.s.tip().unwrap_or(0) + delta;
                self.s.observe_tip(tip);
            }
            Op::ExternalWrite { start, len } => {
                self.store
                    .insert(Range::new(start, start + len - 1).unwrap());
                self.s.refresh_present(&self.store);
            }
            Op::Checkpoint(len) => {
                let cp = self.push_checkpoint(len);
                self.s.add_checkpoints([cp]);
            }
            Op::Reverify { start, len } => {
                let _ = self.s.reverify(Range::new(start, start + len - 1).unwrap());
            }
            Op::Pause(f, b) => {
                for (d, p) in [(Direction::Forward, f), (Direction::Backward, b)] {
                    if p {
                        self.s.pause(d);
                    } else {
                        self.s.resume(d);
                    }
                }
            }
            Op::Restart => {
                // Everything acknowledged was committed; a new leader (next term) loads it.
                self.commit();
                let snap = SchedulerSnapshot {
                    term: self.term,
                    records: self.records.clone(),
                };
                self.term += 1;
                let mut s2 = Scheduler::restore(
                    self.cfg.clone(),
                    Arc::new(self.clock.clone()),
                    self.term,
                    &snap,
                )
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                s2.add_checkpoints(self.cps.clone());
                s2.refresh_present(&self.store);
                // Same inputs: the old leader (refreshed the same way) has the same state.
                self.s.expire();
                self.s.refresh_present(&self.store);
                prop_assert_eq!(s2.records(), self.s.records());
                self.s = s2;
            }
        }
        self.commit();
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        self.s
            .check_invariants()
            .map_err(|e| TestCaseError::fail(format!("invariant: {e}")))?;
        // Durable records equal the in-memory state.
        prop_assert_eq!(&self.records, &self.s.records());
        // No two valid leases on overlapping ranges.
        let now = self.now();
        let mut valid: Vec<&Held> = self.held.iter().filter(|h| h.expires_at > now).collect();
        valid.sort_by_key(|h| h.range.start);
        for w in valid.windows(2) {
            prop_assert!(
                w[0].range.end < w[1].range.start,
                "overlapping valid leases {:?} and {:?}",
                w[0],
                w[1]
            );
        }
        // Done blocks are stored.
        for r in self.s.done_set().iter() {
            prop_assert!(self.store.contains_range(r), "done {r} not stored");
        }
        Ok(())
    }
}

fn scenario() -> impl Strategy<Value = (bool, u64, u64, Vec<u64>, Vec<Op>)> {
    (
        any::<bool>(),
        10u64..120,
        0u64..60,
        prop::collection::vec(1u64..30, 0..8),
        prop::collection::vec(op(), 1..120),
    )
        .prop_map(|(aligned, anchor, ahead, cps, ops)| (aligned, anchor, anchor + ahead, cps, ops))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn scheduler_invariants_hold_under_random_operations(
        (aligned, anchor, tip, cps, ops) in scenario()
    ) {
        let mut h = Harness::new(aligned, anchor, tip, &cps);
        h.check()?;
        for op in &ops {
            h.apply(op)?;
        }
    }
}

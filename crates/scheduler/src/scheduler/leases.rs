//! Leases and the unit state machine: acquire (forward first, backward throttled), renew,
//! complete, fail with backoff, expire, pause, re-verify.

use super::*;

impl Scheduler {
    pub(super) fn grant(&mut self, id: u64, fetcher: &str, now: u64) -> Lease {
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
    pub(super) fn next_linkable(&self, d: Direction) -> Option<u64> {
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

    pub(super) fn linkable(&self, u: &Unit) -> bool {
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

    pub(super) fn forward_catching_up(&self) -> bool {
        let f = Direction::Forward.index();
        !self.ready[f].is_empty() || self.counts[f].leased > 0
    }

    pub(super) fn refill(&mut self, now: u64) {
        if let Some(rate) = self.config.throttle.max_blocks_per_second {
            let dt = now.saturating_sub(self.bucket.refilled_at) as f64 / 1000.0;
            self.bucket.tokens = (self.bucket.tokens + rate * dt)
                .min(self.config.throttle.burst_blocks.max(1) as f64);
        }
        self.bucket.refilled_at = now;
    }

    /// Whether one more backward unit may be leased now (throttle).
    pub(super) fn backward_allowed(&mut self, now: u64) -> bool {
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

    pub(super) fn retry_after(&self, now: u64, throttled: bool) -> Duration {
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

    pub(super) fn lookup(&self, lease: &str) -> Result<u64, SchedulerError> {
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

    pub(super) fn backoff_delay(
        &self,
        id: u64,
        attempts: u32,
        base: Duration,
        max: Duration,
    ) -> u64 {
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
        let first = self.active_scan_start(r.start);
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
}

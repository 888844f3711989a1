//! Progress and status queries: units, leases, the done set, per-direction counts.

use super::*;

impl Scheduler {
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
            trusted_head: self
                .trusted_head
                .as_ref()
                .map(|(b, seen)| TrustedHeadStatus {
                    block: b.clone(),
                    age: Duration::from_millis(now.saturating_sub(*seen)),
                    distance: b
                        .number
                        .saturating_sub(self.view.last().unwrap_or(self.config.genesis)),
                }),
        }
    }

    /// Records the trusted head the checkpoint sources give (the highest trusted hash: a
    /// Heimdall milestone, a finalized block). It never moves backward: a lower or equal head
    /// is ignored. Returns whether it moved.
    pub fn observe_trusted_head(&mut self, head: TrustedBlock) -> bool {
        if self
            .trusted_head
            .as_ref()
            .is_some_and(|(h, _)| h.number >= head.number)
        {
            return false;
        }
        let now = self.now();
        self.trusted_head = Some((head, now));
        true
    }

    /// The trusted head last seen.
    pub fn trusted_head(&self) -> Option<&TrustedBlock> {
        self.trusted_head.as_ref().map(|(b, _)| b)
    }
}

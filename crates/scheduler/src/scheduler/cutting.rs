//! Cutting units: checkpoint-aligned or bucket-aligned chunks over the gaps of the span, the
//! anchor, the tip and the stored ranges.

use super::*;

impl Scheduler {
    pub(super) fn checkpoint_containing(&self, n: u64) -> Option<&CheckpointSpan> {
        self.checkpoints
            .range(..=n)
            .next_back()
            .map(|(_, c)| c)
            .filter(|c| c.range.contains(n))
    }

    /// The aligned chunk containing block `n` (before clipping to the span): a checkpoint piece
    /// of at most `checkpoint_unit_max` blocks, or a `unit_size` bucket (shortened so it does
    /// not overlap a checkpoint), never crossing the anchor.
    pub(super) fn chunk(&self, n: u64) -> (Range, Option<CheckpointSpan>) {
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
    pub(super) fn hash_of(&self, n: u64) -> Option<B256> {
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
    pub(super) fn cut(&mut self, range: Range, reverify: bool, now: u64) -> Vec<u64> {
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
    pub(super) fn cover(&mut self, r: Range, now: u64) {
        let present: Vec<Range> = self.view.iter_within(r).collect();
        for p in present {
            self.done.insert(p);
        }
        for gap in self.view.gaps(r) {
            self.cut(gap, false, now);
        }
    }

    pub(super) fn set_span(&mut self, old: Option<Range>, now: u64) {
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
    pub(super) fn advance_tip(&mut self, now: u64) -> bool {
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
            let first = self.active_scan_start(r.start);
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
    pub(super) fn fill(&mut self, now: u64) {
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

    pub(super) fn prune_recent(&mut self, now: u64) {
        let keep = ms(self.config.rate_window).max(120_000);
        while self
            .recent
            .front()
            .is_some_and(|c| c.at.saturating_add(keep) < now)
        {
            self.recent.pop_front();
        }
    }
}

//! The indices over the units (active by start, eligible by direction, leased by expiry):
//! every state change of a unit goes through them.

use super::*;

impl Scheduler {
    /// The start of the active unit at or before `n` (or `n` itself): where a scan of the
    /// active units that may overlap `[n, ..]` begins.
    pub(super) fn active_scan_start(&self, n: u64) -> u64 {
        self.active
            .range(..=n)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(n)
    }

    pub(super) fn index(&mut self, id: u64, now: u64) {
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

    pub(super) fn unindex(&mut self, id: u64) {
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
    pub(super) fn update(&mut self, id: u64, now: u64, f: impl FnOnce(&mut Unit)) {
        self.unindex(id);
        if let Some(u) = self.units.get_mut(&id) {
            f(u);
        }
        self.index(id, now);
        self.dirty.insert(id);
    }

    pub(super) fn delete_unit(&mut self, id: u64) {
        self.unindex(id);
        self.units.remove(&id);
        self.dirty.remove(&id);
        self.deleted.insert(id);
    }

    pub(super) fn promote(&mut self, now: u64) {
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

    pub(super) fn expire_at(&mut self, now: u64) -> Vec<u64> {
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
}

//! Invariant checks (after restore, and in the tests).

use super::*;

impl Scheduler {
    pub(super) fn check_invariants_structural(&self) -> Result<(), String> {
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
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.invariants().map_err(InvariantError)
    }

    fn invariants(&self) -> Result<(), String> {
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

//! Persistence: the term-fenced delta of every change, the full record set, and the restore
//! that rebuilds the exact state from it.

use super::*;

impl Scheduler {
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
        let meta: MetaRecord = persist::decode(persist::META_KEY, meta_bytes)
            .map_err(|e| RestoreError::Corrupt(e.to_string()))?;
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
                    let u: v1::WorkUnit = persist::decode(key, value)
                        .map_err(|e| RestoreError::Corrupt(e.to_string()))?;
                    if u.id != id {
                        return Err(RestoreError::Corrupt(format!(
                            "record {key:#x} holds unit {}",
                            u.id
                        )));
                    }
                    units.insert(id, (u, None, false));
                }
                Some(RecordKey::Lease(id)) => {
                    let l: v1::Lease = persist::decode(key, value)
                        .map_err(|e| RestoreError::Corrupt(e.to_string()))?;
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

    pub(super) fn meta_record(&self) -> MetaRecord {
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

    pub(super) fn unit_records(&self, u: &Unit, out: &mut Vec<(u64, Vec<u8>)>) {
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

//! What a unit links to — a trusted parent or end hash from the lease, or a stored neighbour —
//! checking the first peer's headers against it, and waiting for it without holding memory.

use super::unit::Outcome;
use super::{Fetcher, UnitError, UnitPhase};
use crate::lease::LeasedUnit;
use alloy_primitives::B256;
use hypasis_network::pool::Fault;
use hypasis_validator_api::SealedHeader;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::warn;

/// The trusted parent (hash, and header when stored) and the trusted end hash of a unit.
pub(super) type Links = (Option<(B256, Option<SealedHeader>)>, Option<B256>);

impl Fetcher {
    /// Waits until this fetcher stores a batch, or briefly (other fetchers store too).
    pub(super) async fn link_changed(&self) {
        tokio::select! {
            _ = self.shared.stored_batch.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }

    /// Whether the unit has something to link to now: a trusted hash from the lease, or a
    /// stored neighbour. (A checkpoint's root does not fix parent hashes, so a checkpoint alone
    /// is no link.)
    pub(super) async fn has_link(&self, lease: &LeasedUnit) -> Result<bool, UnitError> {
        let (parent, end) = self.resolve_links(lease).await?;
        Ok(parent.is_some() || end.is_some())
    }

    /// Waits, holding no memory and no slot, until the unit has something to link to; gives the
    /// unit back when `deadline` passes first.
    pub(super) async fn wait_for_link(
        &self,
        lease: &LeasedUnit,
        deadline: Instant,
    ) -> Result<(), Outcome> {
        self.set_phase(lease, UnitPhase::WaitingForLink);
        // A guard, so that a unit aborted while parked (the fetcher stopping) is not counted on.
        let parked = Parked::new(&self.shared.link_waiting);
        let result = loop {
            match self.has_link(lease).await {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(Outcome::Failed(e)),
            }
            if Instant::now() >= deadline {
                break Err(Outcome::Failed(UnitError::NoLink));
            }
            self.link_changed().await;
        };
        drop(parked);
        self.set_phase(lease, UnitPhase::Leased);
        result
    }

    /// Before downloading a unit, asks a peer for its first and last header and checks them
    /// against the known links (trusted parent, trusted end): a peer on another fork is
    /// reported at once instead of stalling the download of bodies no honest peer has.
    pub(super) async fn probe_links(&self, lease: &LeasedUnit) -> Result<(), Outcome> {
        let Ok((parent, end)) = self.resolve_links(lease).await else {
            return Ok(());
        };
        let pool = &self.shared.pool;
        let mut checks = Vec::new();
        if let Some((p, _)) = parent {
            checks.push((lease.start, p, true));
        }
        if let Some(h) = end {
            checks.push((lease.end, h, false));
        }
        for (number, want, is_parent) in checks {
            let Ok(r) = pool.request_headers(number, 1).await else {
                continue;
            };
            let Some(raw) = r.data.first() else {
                continue;
            };
            let (got, ok) = match SealedHeader::decode(raw) {
                Ok(h) if h.number() != number => (h.hash, false),
                Ok(h) if is_parent => (h.header.parent_hash, h.header.parent_hash == want),
                Ok(h) => (h.hash, h.hash == want),
                Err(_) => (B256::ZERO, false),
            };
            if !ok {
                let rule = if is_parent {
                    "parent-hash"
                } else {
                    "trusted-hash"
                };
                self.shared
                    .metrics
                    .validation_failures
                    .with_label_values(&[rule])
                    .inc();
                warn!(peer = %r.peer, number, rule, "peer serves another fork; reporting");
                pool.report(r.peer, Fault::Invalid);
                return Err(Outcome::Failed(UnitError::OtherFork { number, want, got }));
            }
        }
        Ok(())
    }

    /// The trusted parent (hash, and header when stored) and end hash of a unit: from the lease,
    /// else from stored neighbours.
    pub(super) async fn resolve_links(&self, lease: &LeasedUnit) -> Result<Links, UnitError> {
        let sink = &self.shared.sink;
        let stored = |number: u64, raw: &[u8]| {
            SealedHeader::decode(raw).map_err(|reason| UnitError::CorruptStore {
                number,
                reason: reason.to_string(),
            })
        };
        let mut parent = lease.parent_hash.map(|h| (h, None));
        if lease.start > 0 {
            let number = lease.start - 1;
            if let Some(raw) = sink.header(number).await.map_err(UnitError::Store)? {
                let h = stored(number, &raw)?;
                match parent {
                    Some((p, _)) if p != h.hash => {
                        return Err(UnitError::ParentConflict {
                            number,
                            stored: h.hash,
                            parent: p,
                        });
                    }
                    _ => parent = Some((h.hash, Some(h))),
                }
            }
        }
        let mut end = lease.end_hash;
        if end.is_none()
            && let Some(raw) = sink.header(lease.end + 1).await.map_err(UnitError::Store)?
        {
            end = Some(stored(lease.end + 1, &raw)?.header.parent_hash);
        }
        Ok((parent, end))
    }
}

/// Counts a unit as parked (waiting for its link, not taking a slot) until dropped.
pub(super) struct Parked<'a>(&'a std::sync::atomic::AtomicU32);

impl<'a> Parked<'a> {
    pub(super) fn new(counter: &'a std::sync::atomic::AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

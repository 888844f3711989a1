//! Batching and commit: a validated unit goes to the store in store-sized batches, each
//! acknowledged, and only then is its lease completed.

use super::unit::Outcome;
use super::{Fetcher, UnitError};
use crate::budget::Reservation;
use crate::lease::{LeaseError, LeasedUnit};
use crate::sink::split_batches;
use hypasis_primitives::{RawBlock, VerificationLevel};
use std::sync::atomic::Ordering;

impl Fetcher {
    /// Stores `blocks` at `level` batch by batch, frees the unit's memory, then completes the
    /// lease.
    pub(super) async fn commit(
        &self,
        lease: &LeasedUnit,
        blocks: Vec<RawBlock>,
        level: VerificationLevel,
        reservation: Reservation,
    ) -> Outcome {
        let dir = lease.direction.name();
        let m = &self.shared.metrics.blocks;
        for batch in split_batches(blocks, self.shared.config.max_batch_bytes) {
            let len = batch.len() as u64;
            if let Err(e) = self.shared.sink.put(batch, level, &lease.lease_id).await {
                return Outcome::Failed(UnitError::Store(e));
            }
            m.with_label_values(&["stored", dir]).inc_by(len);
            self.shared.stored_batch.notify_waiters();
            self.shared.dirs[lease.direction.index()]
                .stored
                .fetch_add(len, Ordering::Relaxed);
        }
        drop(reservation);
        match self.shared.leases.complete(lease).await {
            Ok(()) => Outcome::Completed,
            Err(e @ LeaseError::Lost(_)) => Outcome::Lost(e),
            Err(e) => Outcome::Failed(UnitError::Complete(e)),
        }
    }
}

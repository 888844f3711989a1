//! One unit's state machine and its lease renewal.

use super::{Action, Fetcher, UnitError, UnitPhase};
use crate::lease::{LeaseError, LeasedUnit};
use hypasis_primitives::Fault;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Outcome of working on a unit.
pub(super) enum Outcome {
    Completed,
    Failed(UnitError),
    /// The lease was lost (expired/superseded): nothing to report.
    Lost(LeaseError),
    /// Downloaded but not linked yet while others wait for memory: release the blocks, wait
    /// for the link and fetch again (never leaves `process`).
    Release,
}

impl Fetcher {
    /// Works on one unit: the state machine plus lease renewal at a third of the TTL.
    pub(super) async fn work(&self, lease: LeasedUnit) {
        self.set_phase(&lease, UnitPhase::Leased);
        let outcome = {
            let renew = self.renew_loop(lease.clone());
            let run = self.process(&lease);
            tokio::pin!(renew, run);
            tokio::select! {
                o = &mut run => o,
                e = &mut renew => Outcome::Lost(e),
            }
        };
        let m = &self.shared.metrics.units;
        match outcome {
            Outcome::Completed => {
                m.with_label_values(&["completed"]).inc();
                self.set_phase(&lease, UnitPhase::Completed);
            }
            // `process` resolves `Release` itself; should one escape, give the unit back.
            Outcome::Release => self.give_back(&lease, UnitError::Released).await,
            Outcome::Failed(e) => self.give_back(&lease, e).await,
            Outcome::Lost(e) => {
                m.with_label_values(&["lost"]).inc();
                warn!(unit = lease.unit_id, error = %e, "lease lost; dropping the unit");
                self.set_phase(
                    &lease,
                    UnitPhase::Failed(
                        hypasis_scheduler_api::FailureReason::Local,
                        hypasis_primitives::FaultClass::Local,
                    ),
                );
            }
        }
    }

    /// Acts on a failed unit by the class of its error ([`UnitError::action`]): gives it back
    /// with the reason the scheduler retries it by, and on a fatal error stops the fetcher.
    async fn give_back(&self, lease: &LeasedUnit, error: UnitError) {
        let action = error.action();
        let reason = error.failure_reason();
        let label = match action {
            Action::Stop => "fatal",
            Action::GiveBack(hypasis_scheduler_api::FailureReason::PeerFault) => "peer_fault",
            Action::GiveBack(hypasis_scheduler_api::FailureReason::NoPeer) => "no_peer",
            Action::GiveBack(hypasis_scheduler_api::FailureReason::Local) => "local",
        };
        if !matches!(error, UnitError::Released) {
            self.shared.metrics.units.with_label_values(&[label]).inc();
            warn!(unit = lease.unit_id, start = lease.start, end = lease.end, ?reason, class = %error.fault(), error = %error, "unit failed");
        }
        if let Err(e) = self
            .shared
            .leases
            .fail(
                lease,
                hypasis_scheduler_api::Failure {
                    reason,
                    class: error.fault(),
                    rule: error.rule(),
                    message: &error.to_string(),
                },
            )
            .await
        {
            warn!(unit = lease.unit_id, error = %e, "failing the lease failed");
        }
        self.set_phase(lease, UnitPhase::Failed(reason, error.fault()));
        if action == Action::Stop {
            self.halt(error);
        }
    }

    /// Renews until the lease is lost; returns why.
    pub(super) async fn renew_loop(&self, mut lease: LeasedUnit) -> LeaseError {
        loop {
            let wait = (lease.remaining() / 3).max(Duration::from_millis(50));
            tokio::time::sleep(wait).await;
            match self.shared.leases.renew(&lease).await {
                Ok(exp) => lease.expires_at_ms = exp,
                Err(LeaseError::Lost(m)) => return LeaseError::Lost(m),
                Err(e) => {
                    debug!(unit = lease.unit_id, error = %e, "renewal failed; retrying");
                    if lease.remaining().is_zero() {
                        return LeaseError::Lost(format!("expired while renewal failed: {e}"));
                    }
                }
            }
        }
    }

    pub(super) async fn process(&self, lease: &LeasedUnit) -> Outcome {
        let dir = lease.direction.name();
        let n = lease.blocks();
        let deadline = Instant::now() + self.shared.config.link_wait;
        let (blocks, tags, reservation, level) = loop {
            // Leased → wait for budget. A unit with something to link to waits its turn; one
            // without only prefetches into free room and otherwise waits for its link first,
            // holding no memory (the neighbour it needs may be waiting for that memory).
            let estimate = self
                .shared
                .avg_block_bytes
                .load(Ordering::Relaxed)
                .saturating_mul(n);
            let linked = match self.has_link(lease).await {
                Ok(l) => l,
                Err(e) => return Outcome::Failed(e),
            };
            let reservation = match self.shared.budget.try_reserve(estimate) {
                Some(r) => r,
                None if linked => self.shared.budget.reserve(estimate).await,
                None => {
                    if let Err(o) = self.wait_for_link(lease, deadline).await {
                        return o;
                    }
                    continue;
                }
            };

            // Headers → Bodies/Receipts.
            self.set_phase(lease, UnitPhase::Headers);
            if let Err(o) = self.probe_links(lease).await {
                return o;
            }
            let (blocks, tags, reservation) = match self.download(lease, reservation).await {
                Ok(b) => b,
                Err(o) => return o,
            };
            // Validating (after the link is there).
            self.set_phase(lease, UnitPhase::Validating);
            match self.validate(lease, &blocks, &tags, deadline).await {
                Ok(level) => break (blocks, tags, reservation, level),
                Err(Outcome::Release) => {
                    // Others wait for memory: give it back, wait for the link, fetch again.
                    drop((blocks, tags, reservation));
                    debug!(
                        unit = lease.unit_id,
                        "released a prefetched unit waiting for its link"
                    );
                    if let Err(o) = self.wait_for_link(lease, deadline).await {
                        return o;
                    }
                }
                Err(o) => return o,
            }
        };
        let _ = tags;
        let m = &self.shared.metrics.blocks;
        m.with_label_values(&["fetched", dir])
            .inc_by(blocks.len() as u64);
        if let Some(bytes) = blocks
            .iter()
            .map(|b| (b.header.len() + b.body.len() + b.receipts.len()) as u64)
            .sum::<u64>()
            .checked_div(blocks.len() as u64)
        {
            let old = self.shared.avg_block_bytes.load(Ordering::Relaxed);
            self.shared
                .avg_block_bytes
                .store((old + bytes.max(1)) / 2 + 1, Ordering::Relaxed);
        }

        m.with_label_values(&["validated", dir])
            .inc_by(blocks.len() as u64);

        // Storing: every batch acknowledged before completing.
        self.set_phase(lease, UnitPhase::Storing);
        self.commit(lease, blocks, level, reservation).await
    }
}

//! The in-process side of the lease seam: leases straight from a [`DurableScheduler`] (or from
//! whichever term of a [`SchedulerNode`] leads), for standalone mode and tests.

use crate::service::SchedulerNode;
use crate::{DurableScheduler, Lease, SchedulerError};
use async_trait::async_trait;
use hypasis_scheduler_api::{Direction, Failure, LeaseError, LeaseSource, LeasedUnit};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// A scheduler's lease as the fetcher holds it.
pub fn leased_unit(l: &Lease) -> LeasedUnit {
    LeasedUnit {
        lease_id: l.lease.lease_id.clone(),
        token: l.lease.token,
        unit_id: l.unit.id,
        start: l.unit.range.start,
        end: l.unit.range.end,
        direction: l.unit.direction,
        checkpoint_id: l.unit.checkpoint_id,
        checkpoints: Vec::new(),
        end_hash: l.unit.end_hash,
        parent_hash: l.unit.parent_hash,
        expires_at_ms: l.lease.expires_at,
    }
}

fn sched_err(e: SchedulerError) -> LeaseError {
    match e {
        SchedulerError::Expired(_) | SchedulerError::StaleToken { .. } => {
            LeaseError::Lost(e.to_string())
        }
        other => LeaseError::Protocol(other.to_string()),
    }
}

/// Leases from a [`DurableScheduler`] in the same process (standalone mode).
#[derive(Debug, Clone)]
pub struct InProcessLeases {
    sched: Arc<Mutex<DurableScheduler>>,
}

impl InProcessLeases {
    /// Over the leader's scheduler.
    pub fn new(sched: Arc<Mutex<DurableScheduler>>) -> Self {
        Self { sched }
    }
}

#[async_trait]
impl LeaseSource for InProcessLeases {
    async fn acquire(
        &self,
        fetcher_id: &str,
        max_units: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError> {
        let mut s = self.sched.lock().await;
        let a = s
            .apply(|s| s.acquire(fetcher_id, max_units, &Direction::ALL))
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        Ok((
            a.leases
                .iter()
                .map(|l| LeasedUnit {
                    checkpoints: s.checkpoints_within(l.unit.range.start, l.unit.range.end),
                    ..leased_unit(l)
                })
                .collect(),
            a.retry_after,
        ))
    }

    async fn renew(&self, lease: &LeasedUnit) -> Result<u64, LeaseError> {
        let mut s = self.sched.lock().await;
        let r = s
            .apply(|s| s.renew(&lease.lease_id, lease.token))
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        r.map(|l| l.lease.expires_at).map_err(sched_err)
    }

    async fn complete(&self, lease: &LeasedUnit) -> Result<(), LeaseError> {
        let mut s = self.sched.lock().await;
        let range = hypasis_gaps_range(lease)?;
        let r = s
            .apply(|s| s.complete(&lease.lease_id, lease.token, Some(range)))
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        r.map(|_| ()).map_err(sched_err)
    }

    async fn fail(&self, lease: &LeasedUnit, failure: Failure<'_>) -> Result<(), LeaseError> {
        let mut s = self.sched.lock().await;
        let r = s
            .apply(|s| {
                s.fail(
                    &lease.lease_id,
                    lease.token,
                    failure.reason,
                    failure.message,
                )
            })
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        r.map(|_| ()).map_err(sched_err)
    }
}

fn hypasis_gaps_range(lease: &LeasedUnit) -> Result<hypasis_gaps::Range, LeaseError> {
    hypasis_gaps::Range::new(lease.start, lease.end)
        .map_err(|e| LeaseError::Protocol(e.to_string()))
}

/// Leases from the in-process scheduler node, whichever term leads.
#[derive(Debug)]
pub struct NodeLeases(pub Arc<SchedulerNode>);

impl NodeLeases {
    fn inner(&self) -> Result<InProcessLeases, LeaseError> {
        self.0
            .leader_state()
            .map(InProcessLeases::new)
            .ok_or_else(|| LeaseError::Unavailable("the scheduler is not leading yet".into()))
    }
}

#[async_trait]
impl LeaseSource for NodeLeases {
    async fn acquire(
        &self,
        fetcher_id: &str,
        max_units: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError> {
        self.inner()?.acquire(fetcher_id, max_units).await
    }
    async fn renew(&self, lease: &LeasedUnit) -> Result<u64, LeaseError> {
        self.inner()?.renew(lease).await
    }
    async fn complete(&self, lease: &LeasedUnit) -> Result<(), LeaseError> {
        self.inner()?.complete(lease).await
    }
    async fn fail(&self, lease: &LeasedUnit, failure: Failure<'_>) -> Result<(), LeaseError> {
        self.inner()?.fail(lease, failure).await
    }
}

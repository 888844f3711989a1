//! Where leases come from: the durable scheduler in process, or the scheduler's gRPC API.

use alloy_primitives::B256;
use async_trait::async_trait;
use hypasis_proto::v1;
use hypasis_proto::v1::scheduler_client::SchedulerClient;
use hypasis_scheduler_core::{Direction, DurableScheduler, FailureReason, Lease, SchedulerError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use tonic::transport::Channel;

/// A unit held under a lease, as the fetcher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedUnit {
    /// Lease id.
    pub lease_id: String,
    /// Fencing token.
    pub token: u64,
    /// Unit id.
    pub unit_id: u64,
    /// First block.
    pub start: u64,
    /// Last block (inclusive).
    pub end: u64,
    /// Direction.
    pub direction: Direction,
    /// Polygon checkpoint the unit belongs to.
    pub checkpoint_id: Option<u64>,
    /// Trusted hash of `end`.
    pub end_hash: Option<B256>,
    /// Trusted hash of `start - 1`.
    pub parent_hash: Option<B256>,
    /// Wall-clock expiry, ms since the epoch.
    pub expires_at_ms: u64,
}

impl LeasedUnit {
    /// Blocks in the unit.
    pub fn blocks(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Time left on the lease (zero once expired).
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.expires_at_ms.saturating_sub(now_ms()))
    }

    /// From the scheduler's lease.
    pub fn from_lease(l: &Lease) -> Self {
        Self {
            lease_id: l.lease.lease_id.clone(),
            token: l.lease.token,
            unit_id: l.unit.id,
            start: l.unit.range.start,
            end: l.unit.range.end,
            direction: l.unit.direction,
            checkpoint_id: l.unit.checkpoint_id,
            end_hash: l.unit.end_hash,
            parent_hash: l.unit.parent_hash,
            expires_at_ms: l.lease.expires_at,
        }
    }

    /// From the wire form.
    pub fn from_proto(l: &v1::Lease) -> Result<Self, LeaseError> {
        let bad = |m: &str| LeaseError::Protocol(format!("lease {}: {m}", l.lease_id));
        let unit = l.unit.as_ref().ok_or_else(|| bad("no unit"))?;
        let range = unit.range.as_ref().ok_or_else(|| bad("no range"))?;
        if range.start > range.end {
            return Err(bad("empty range"));
        }
        let hash = |h: &Option<Vec<u8>>| -> Result<Option<B256>, LeaseError> {
            match h {
                None => Ok(None),
                Some(b) if b.len() == 32 => Ok(Some(B256::from_slice(b))),
                Some(_) => Err(bad("hash is not 32 bytes")),
            }
        };
        let expires_at_ms = l
            .expires_at
            .as_ref()
            .map(|t| {
                u64::try_from(t.seconds).unwrap_or(0).saturating_mul(1000)
                    + u64::try_from(t.nanos).unwrap_or(0) / 1_000_000
            })
            .unwrap_or(0);
        Ok(Self {
            lease_id: l.lease_id.clone(),
            token: l.fencing_token,
            unit_id: unit.id,
            start: range.start,
            end: range.end,
            direction: Direction::from_proto(unit.direction).ok_or_else(|| bad("no direction"))?,
            checkpoint_id: unit.checkpoint_id,
            end_hash: hash(&unit.end_hash)?,
            parent_hash: hash(&unit.parent_hash)?,
            expires_at_ms,
        })
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Failures of lease operations.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LeaseError {
    /// The lease is no longer ours (expired, superseded): stop working on the unit.
    #[error("lease lost: {0}")]
    Lost(String),
    /// The scheduler is unreachable or not the leader: retry later.
    #[error("scheduler unavailable: {0}")]
    Unavailable(String),
    /// A malformed answer.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Acquire, renew, complete and fail leases.
#[async_trait]
pub trait LeaseSource: Send + Sync + std::fmt::Debug + 'static {
    /// Up to `max_units` new leases (forward first: the scheduler's job) and, when none, how
    /// long to wait before asking again.
    async fn acquire(
        &self,
        fetcher_id: &str,
        max_units: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError>;

    /// Extends the lease; returns the new expiry (ms since the epoch).
    async fn renew(&self, lease: &LeasedUnit) -> Result<u64, LeaseError>;

    /// Marks the unit done (only after the store acknowledged all of its blocks).
    async fn complete(&self, lease: &LeasedUnit) -> Result<(), LeaseError>;

    /// Gives the unit back.
    async fn fail(
        &self,
        lease: &LeasedUnit,
        reason: FailureReason,
        message: &str,
    ) -> Result<(), LeaseError>;
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
            a.leases.iter().map(LeasedUnit::from_lease).collect(),
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

    async fn fail(
        &self,
        lease: &LeasedUnit,
        reason: FailureReason,
        message: &str,
    ) -> Result<(), LeaseError> {
        let mut s = self.sched.lock().await;
        let r = s
            .apply(|s| s.fail(&lease.lease_id, lease.token, reason, message))
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        r.map(|_| ()).map_err(sched_err)
    }
}

fn hypasis_gaps_range(lease: &LeasedUnit) -> Result<hypasis_gaps::Range, LeaseError> {
    hypasis_gaps::Range::new(lease.start, lease.end)
        .map_err(|e| LeaseError::Protocol(e.to_string()))
}

/// Leases from the scheduler service over gRPC (cluster mode).
#[derive(Debug, Clone)]
pub struct GrpcLeases {
    client: SchedulerClient<Channel>,
}

impl GrpcLeases {
    /// Over a channel to the scheduler (leader).
    pub fn new(channel: Channel) -> Self {
        Self {
            client: SchedulerClient::new(channel),
        }
    }
}

fn rpc_err(s: tonic::Status) -> LeaseError {
    match s.code() {
        tonic::Code::FailedPrecondition | tonic::Code::NotFound | tonic::Code::Aborted => {
            LeaseError::Lost(s.message().to_string())
        }
        _ => LeaseError::Unavailable(format!("{}: {}", s.code(), s.message())),
    }
}

#[async_trait]
impl LeaseSource for GrpcLeases {
    async fn acquire(
        &self,
        fetcher_id: &str,
        max_units: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError> {
        let r = self
            .client
            .clone()
            .acquire_lease(v1::AcquireLeaseRequest {
                fetcher_id: fetcher_id.to_string(),
                max_units,
                directions: Vec::new(),
            })
            .await
            .map_err(rpc_err)?
            .into_inner();
        let leases = r
            .leases
            .iter()
            .map(LeasedUnit::from_proto)
            .collect::<Result<Vec<_>, _>>()?;
        let retry = r
            .retry_after
            .map(|d| {
                Duration::from_secs(u64::try_from(d.seconds).unwrap_or(0))
                    + Duration::from_nanos(u64::try_from(d.nanos).unwrap_or(0))
            })
            .unwrap_or(Duration::from_secs(1));
        Ok((leases, retry))
    }

    async fn renew(&self, lease: &LeasedUnit) -> Result<u64, LeaseError> {
        let r = self
            .client
            .clone()
            .renew_lease(v1::RenewLeaseRequest {
                lease_id: lease.lease_id.clone(),
                fencing_token: lease.token,
            })
            .await
            .map_err(rpc_err)?
            .into_inner();
        let l = r
            .lease
            .ok_or_else(|| LeaseError::Protocol("renew: no lease".into()))?;
        Ok(LeasedUnit::from_proto(&l)?.expires_at_ms)
    }

    async fn complete(&self, lease: &LeasedUnit) -> Result<(), LeaseError> {
        self.client
            .clone()
            .complete_lease(v1::CompleteLeaseRequest {
                lease_id: lease.lease_id.clone(),
                fencing_token: lease.token,
                stored: Some(v1::BlockRange {
                    start: lease.start,
                    end: lease.end,
                }),
                level: 0,
            })
            .await
            .map_err(rpc_err)?;
        Ok(())
    }

    async fn fail(
        &self,
        lease: &LeasedUnit,
        reason: FailureReason,
        message: &str,
    ) -> Result<(), LeaseError> {
        let reason = match reason {
            FailureReason::PeerFault => v1::FailureReason::PeerFault,
            FailureReason::NoPeer => v1::FailureReason::NoPeer,
            FailureReason::Local => v1::FailureReason::Local,
        };
        self.client
            .clone()
            .fail_lease(v1::FailLeaseRequest {
                lease_id: lease.lease_id.clone(),
                fencing_token: lease.token,
                reason: reason as i32,
                message: message.to_string(),
            })
            .await
            .map_err(rpc_err)?;
        Ok(())
    }
}

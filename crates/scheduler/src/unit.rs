//! Work units, their states and leases.

use hypasis_gaps::Range;
use hypasis_primitives::B256;
use hypasis_proto::v1;

pub use hypasis_scheduler_api::{Direction, FailureReason};

/// A lease: one fetcher's time-bounded claim on one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Unique lease id (`<unit id>-<fencing token>`).
    pub lease_id: String,
    /// The holder.
    pub fetcher_id: String,
    /// Wall-clock expiry, ms since the epoch.
    pub expires_at: u64,
    /// Fencing token: unique and increasing over all leases ever granted.
    pub token: u64,
}

/// Whether a lease still holds at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Valid: nobody else may get the unit.
    Valid,
    /// Past its expiry: the unit returns to the queue.
    Expired,
}

impl LeaseInfo {
    /// The lease's state at `now_ms`.
    pub fn state(&self, now_ms: u64) -> LeaseState {
        if now_ms < self.expires_at {
            LeaseState::Valid
        } else {
            LeaseState::Expired
        }
    }
}

/// Lifecycle of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    /// Waiting to be leased.
    Pending,
    /// Held under a lease.
    Leased(LeaseInfo),
    /// Fetched, validated and stored (or found stored).
    Done,
    /// Failed; eligible again from `not_before` (ms).
    Backoff {
        /// Earliest next attempt.
        not_before: u64,
    },
    /// No peer served the range; eligible again from `not_before` (ms), on a slower schedule.
    NoPeer {
        /// Earliest next attempt.
        not_before: u64,
    },
}

impl UnitState {
    /// Wire value.
    pub fn to_proto(&self) -> v1::WorkUnitState {
        match self {
            UnitState::Pending => v1::WorkUnitState::Pending,
            UnitState::Leased(_) => v1::WorkUnitState::Leased,
            UnitState::Done => v1::WorkUnitState::Done,
            UnitState::Backoff { .. } => v1::WorkUnitState::Backoff,
            UnitState::NoPeer { .. } => v1::WorkUnitState::NoPeer,
        }
    }

    /// Whether the unit is not done (it covers blocks still to fetch).
    pub fn is_active(&self) -> bool {
        !matches!(self, UnitState::Done)
    }
}

/// A contiguous range of blocks fetched, validated and stored as one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Unique id (never reused).
    pub id: u64,
    /// Blocks.
    pub range: Range,
    /// Direction.
    pub direction: Direction,
    /// Polygon: the checkpoint this unit belongs to.
    pub checkpoint_id: Option<u64>,
    /// Trusted hash of `range.end`, when known.
    pub end_hash: Option<B256>,
    /// Hash of `range.start - 1`, when known.
    pub parent_hash: Option<B256>,
    /// State.
    pub state: UnitState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Last failure message.
    pub last_error: String,
    /// Fencing token of the latest lease (0 = never leased).
    pub last_token: u64,
    /// Latest lease (kept after it ends, so a completion with the current token stays
    /// idempotent).
    pub last_lease: Option<LeaseInfo>,
    /// Created by a re-verify request: stays to be fetched even though the store holds it.
    pub reverify: bool,
}

fn timestamp(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

pub(crate) fn timestamp_ms(t: &prost_types::Timestamp) -> u64 {
    let s = u64::try_from(t.seconds).unwrap_or(0);
    let n = u64::try_from(t.nanos).unwrap_or(0);
    s.saturating_mul(1000).saturating_add(n / 1_000_000)
}

impl Unit {
    /// Blocks in the unit.
    pub fn blocks(&self) -> u64 {
        self.range.len()
    }

    /// The current lease, if leased.
    pub fn lease(&self) -> Option<&LeaseInfo> {
        match &self.state {
            UnitState::Leased(l) => Some(l),
            _ => None,
        }
    }

    /// Wire form.
    pub fn to_proto(&self) -> v1::WorkUnit {
        let not_before = match self.state {
            UnitState::Backoff { not_before } | UnitState::NoPeer { not_before } => {
                Some(timestamp(not_before))
            }
            _ => None,
        };
        v1::WorkUnit {
            id: self.id,
            range: Some(self.range.into()),
            direction: self.direction.to_proto() as i32,
            state: self.state.to_proto() as i32,
            attempts: self.attempts,
            checkpoint_id: self.checkpoint_id,
            end_hash: self.end_hash.map(|h| h.to_vec()),
            parent_hash: self.parent_hash.map(|h| h.to_vec()),
            not_before,
            last_error: self.last_error.clone(),
            checkpoints: Vec::new(),
        }
    }

    /// Wire form of a lease on this unit.
    pub fn lease_proto(&self, lease: &LeaseInfo) -> v1::Lease {
        v1::Lease {
            lease_id: lease.lease_id.clone(),
            unit: Some(self.to_proto()),
            fetcher_id: lease.fetcher_id.clone(),
            expires_at: Some(timestamp(lease.expires_at)),
            fencing_token: lease.token,
        }
    }
}

/// A lease handed to a fetcher: the unit and the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The unit (state `Leased`).
    pub unit: Unit,
    /// The claim.
    pub lease: LeaseInfo,
}

impl Lease {
    /// Wire form.
    pub fn to_proto(&self) -> v1::Lease {
        self.unit.lease_proto(&self.lease)
    }
}

/// Splits a lease id into unit id and fencing token.
pub fn parse_lease_id(lease_id: &str) -> Option<(u64, u64)> {
    let (unit, token) = lease_id.split_once('-')?;
    Some((unit.parse().ok()?, token.parse().ok()?))
}

/// The lease id of unit `unit` under `token`.
pub fn lease_id(unit: u64, token: u64) -> String {
    format!("{unit}-{token}")
}

//! The seam between the scheduler and the fetchers: what a leased unit is, the
//! [`LeaseSource`] a fetcher takes leases from (in process: `hypasis_scheduler::NodeLeases` /
//! `InProcessLeases`; over gRPC: `hypasis_scheduler::client::GrpcLeases`), the sync
//! [`Direction`], why a unit is given back ([`FailureReason`]) and the membership record
//! fetchers announce. Fetchers depend on this crate, not on the scheduler's implementation.

use alloy_primitives::B256;
use hypasis_primitives::{Fault, FaultClass};
use hypasis_proto::v1;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Sync direction of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the anchor towards the tip (foreground, always first).
    Forward,
    /// From the anchor back to genesis (background, throttled, newest first).
    Backward,
}

impl Direction {
    /// Both directions, forward first.
    pub const ALL: [Direction; 2] = [Direction::Forward, Direction::Backward];

    /// Index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::Forward => 0,
            Direction::Backward => 1,
        }
    }

    /// Lower-case name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }

    /// Wire value.
    pub fn to_proto(self) -> v1::Direction {
        match self {
            Direction::Forward => v1::Direction::Forward,
            Direction::Backward => v1::Direction::Backward,
        }
    }

    /// From the wire value; `None` for UNSPECIFIED or unknown values.
    pub fn from_proto(v: i32) -> Option<Self> {
        match v1::Direction::try_from(v).ok()? {
            v1::Direction::Forward => Some(Direction::Forward),
            v1::Direction::Backward => Some(Direction::Backward),
            v1::Direction::Unspecified => None,
        }
    }
}

/// Why a fetcher gave a unit back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// A peer sent invalid data or misbehaved: retry (elsewhere) after a backoff.
    PeerFault,
    /// No connected peer serves the range: NO_PEER, retried on a slower schedule.
    NoPeer,
    /// A local error (store unavailable, out of resources): retry after a backoff.
    Local,
}

impl FailureReason {
    /// The reason as a [`FaultClass`]: a peer fault blames the peer; no peer and a local
    /// error are retried without blame.
    pub const fn fault(self) -> FaultClass {
        match self {
            Self::PeerFault => FaultClass::Peer,
            Self::NoPeer | Self::Local => FaultClass::Local,
        }
    }

    /// The reason a fetcher reports for a failure of class `class` (a fatal failure gives the
    /// unit back as a local error: another fetcher may be configured right).
    pub const fn from_fault(class: FaultClass) -> Self {
        match class {
            FaultClass::Peer => Self::PeerFault,
            FaultClass::Local | FaultClass::Fatal => Self::Local,
        }
    }

    /// From a `FailLeaseRequest`'s `reason` and `fault_class`: the reason when it is set, else
    /// the class (newer fetchers), else a local error.
    pub fn from_request(reason: i32, fault_class: i32) -> Self {
        match v1::FailureReason::try_from(reason) {
            Ok(v1::FailureReason::Unspecified) | Err(_) => {
                match hypasis_proto::convert::fault_class(fault_class) {
                    Some(c) => Self::from_fault(c),
                    None => Self::Local,
                }
            }
            Ok(_) => Self::from_proto(reason),
        }
    }

    /// From the wire value (UNSPECIFIED counts as a local error).
    pub fn from_proto(v: i32) -> Self {
        match v1::FailureReason::try_from(v) {
            Ok(v1::FailureReason::PeerFault) => FailureReason::PeerFault,
            Ok(v1::FailureReason::NoPeer) => FailureReason::NoPeer,
            _ => FailureReason::Local,
        }
    }
}

/// Metadata key carrying the leader's address on `UNAVAILABLE` answers of non-leaders.
pub const LEADER_METADATA: &str = "x-hypasis-leader";

/// Membership kind fetchers register under.
pub const FETCHER_KIND: &str = "fetcher";

/// What a fetcher advertises in its membership value (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetcherAnnouncement {
    /// The fetcher's gRPC address.
    #[serde(default)]
    pub addr: String,
    /// Highest block its peers announce.
    #[serde(default)]
    pub tip: Option<u64>,
    /// Connected peers.
    #[serde(default)]
    pub peers: u32,
}

impl FetcherAnnouncement {
    /// JSON encoding.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a membership value (`None` when it is not an announcement).
    pub fn decode(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

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
    /// The accepted checkpoints inside the unit (their roots check it), from the scheduler.
    pub checkpoints: Vec<hypasis_primitives::Checkpoint>,
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
            checkpoints: unit
                .checkpoints
                .iter()
                .map(|c| {
                    hypasis_primitives::Checkpoint::try_from(c.clone())
                        .map_err(|e| bad(&format!("checkpoint: {e}")))
                })
                .collect::<Result<_, _>>()?,
            end_hash: hash(&unit.end_hash)?,
            parent_hash: hash(&unit.parent_hash)?,
            expires_at_ms,
        })
    }
}

/// Wall-clock now, ms since the epoch.
pub fn now_ms() -> u64 {
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
#[async_trait::async_trait]
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

    /// Gives the unit back, saying why.
    async fn fail(&self, lease: &LeasedUnit, failure: Failure<'_>) -> Result<(), LeaseError>;
}

/// Why a fetcher gives a unit back, as it tells the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    /// How the scheduler retries the unit.
    pub reason: FailureReason,
    /// Whose fault it was (`Fatal`: this fetcher stops; another may be configured right).
    pub class: FaultClass,
    /// For a validation failure, the rule that failed.
    pub rule: Option<v1::ValidationRule>,
    /// Human-readable detail.
    pub message: &'a str,
}

impl<'a> Failure<'a> {
    /// A failure of `reason`, its class implied by it, no rule.
    pub fn new(reason: FailureReason, message: &'a str) -> Self {
        Self {
            reason,
            class: reason.fault(),
            rule: None,
            message,
        }
    }
}

impl Fault for LeaseError {
    fn fault(&self) -> FaultClass {
        match self {
            // Not an error of anyone's: the unit went to someone else; stop working on it.
            Self::Lost(_) | Self::Unavailable(_) => FaultClass::Local,
            // The scheduler answered something malformed.
            Self::Protocol(_) => FaultClass::Peer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hypasis_gaps_range(start: u64, end: u64) -> hypasis_primitives::BlockRange {
        hypasis_primitives::BlockRange::new(start, end).unwrap()
    }

    #[test]
    fn leases_from_the_wire_are_checked() {
        let mut l = v1::Lease {
            lease_id: "l".into(),
            fencing_token: 3,
            unit: Some(v1::WorkUnit {
                id: 9,
                range: Some(v1::BlockRange { start: 5, end: 4 }),
                direction: v1::Direction::Forward as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            LeasedUnit::from_proto(&l),
            Err(LeaseError::Protocol(_))
        ));
        l.unit.as_mut().unwrap().range = Some(v1::BlockRange { start: 5, end: 9 });
        let u = LeasedUnit::from_proto(&l).unwrap();
        assert_eq!(
            (u.blocks(), u.direction, u.token),
            (5, Direction::Forward, 3)
        );
        // The checkpoints inside the unit travel with it; a malformed one refuses the lease.
        let cp = hypasis_primitives::Checkpoint::new(
            hypasis_primitives::CheckpointSource::Heimdall,
            4,
            hypasis_gaps_range(5, 9),
            B256::repeat_byte(7),
        );
        l.unit.as_mut().unwrap().checkpoints = vec![v1::Checkpoint::from(&cp)];
        assert_eq!(LeasedUnit::from_proto(&l).unwrap().checkpoints, vec![cp]);
        l.unit.as_mut().unwrap().checkpoints[0].range = None;
        assert!(LeasedUnit::from_proto(&l).is_err());
        l.unit.as_mut().unwrap().checkpoints.clear();
        l.unit.as_mut().unwrap().end_hash = Some(vec![1; 31]);
        assert!(LeasedUnit::from_proto(&l).is_err());
        assert_eq!(LeaseError::Protocol("x".into()).fault(), FaultClass::Peer);
        assert_eq!(LeaseError::Lost("x".into()).fault(), FaultClass::Local);
    }

    #[test]
    fn announcements_round_trip() {
        let a = FetcherAnnouncement {
            addr: "https://f:7003".into(),
            tip: Some(7),
            peers: 3,
        };
        assert_eq!(FetcherAnnouncement::decode(&a.encode()), Some(a));
        assert_eq!(FetcherAnnouncement::decode("not json"), None);
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn failure_reasons_speak_fault_classes() {
        assert_eq!(FailureReason::PeerFault.fault(), FaultClass::Peer);
        assert_eq!(FailureReason::NoPeer.fault(), FaultClass::Local);
        assert_eq!(FailureReason::Local.fault(), FaultClass::Local);
        assert_eq!(
            FailureReason::from_fault(FaultClass::Peer),
            FailureReason::PeerFault
        );
        assert_eq!(
            FailureReason::from_fault(FaultClass::Fatal),
            FailureReason::Local
        );
        // The reason wins when set; the class decides when it is not; neither: local.
        let peer = v1::FaultClass::Peer as i32;
        assert_eq!(
            FailureReason::from_request(v1::FailureReason::NoPeer as i32, peer),
            FailureReason::NoPeer
        );
        assert_eq!(
            FailureReason::from_request(v1::FailureReason::Unspecified as i32, peer),
            FailureReason::PeerFault
        );
        assert_eq!(FailureReason::from_request(0, 0), FailureReason::Local);
    }
}

//! Refusals of lease operations, restore failures and invariant violations, with their fault
//! classes.

/// Refusals of lease operations. None of them changes the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    /// No unit has this lease.
    #[error("unknown lease `{0}`")]
    UnknownLease(String),
    /// The lease was superseded (the unit was leased again, or completed under another lease).
    #[error("lease `{lease_id}`: fencing token {given} is not current (current {current})")]
    StaleToken {
        /// The lease.
        lease_id: String,
        /// Token given.
        given: u64,
        /// The unit's current token.
        current: u64,
    },
    /// The lease expired; its unit went back to the queue.
    #[error("lease `{0}` expired")]
    Expired(String),
    /// A malformed request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl hypasis_primitives::Fault for SchedulerError {
    /// Every refusal answers what the caller (a fetcher) sent: an unknown, superseded or
    /// expired lease or a malformed request (peer: its work is not accepted as it is).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::UnknownLease(_)
            | Self::StaleToken { .. }
            | Self::Expired(_)
            | Self::InvalidArgument(_) => hypasis_primitives::FaultClass::Peer,
        }
    }
}

/// Why stored scheduler state could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The stored state was written by a newer term than ours: we are not the leader.
    #[error("stored scheduler state has term {stored}, newer than ours ({ours})")]
    StaleTerm {
        /// Our term.
        ours: u64,
        /// Stored term.
        stored: u64,
    },
    /// A record does not decode.
    #[error("scheduler state is corrupt: {0}")]
    Corrupt(String),
}

impl hypasis_primitives::Fault for RestoreError {
    /// A newer term owns the state, or the state does not decode: stop (fatal).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::StaleTerm { .. } | Self::Corrupt(_) => hypasis_primitives::FaultClass::Fatal,
        }
    }
}

/// A broken invariant of the scheduler state (see [`super::Scheduler::check_invariants`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvariantError(pub String);

impl hypasis_primitives::Fault for InvariantError {
    /// A broken invariant is a bug or corrupt state: stop (fatal).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        hypasis_primitives::FaultClass::Fatal
    }
}

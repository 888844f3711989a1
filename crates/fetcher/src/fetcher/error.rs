//! Why a unit failed, typed, and what the fetcher does about it (by [`FaultClass`]).

use crate::lease::LeaseError;
use crate::sink::SinkError;
use alloy_primitives::B256;
use hypasis_downloader::fetch::FetchError;
use hypasis_primitives::{Fault, FaultClass};
use hypasis_scheduler_api::FailureReason;
use hypasis_validator_api::{Rule, ValidateError};

/// Why the fetcher gave a unit back.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// The download failed (its own class: invalid data or peers without the data are the
    /// peers' fault, no peer to ask is local).
    #[error("download: {0}")]
    Download(#[source] FetchError),
    /// The unit needs more memory than the whole budget.
    #[error("unit exceeds the memory budget of {limit} bytes")]
    OverBudget {
        /// The budget.
        limit: u64,
    },
    /// The downloaded data broke a rule (the validation library's or the validator service's
    /// verdict, or the link to a trusted neighbour): the peer that sent it is scored down.
    #[error("invalid data ({rule}): {message}", rule = rule.as_str())]
    Invalid {
        /// The block at fault.
        number: u64,
        /// The rule.
        rule: Rule,
        /// What is wrong.
        message: String,
    },
    /// Before the download, a peer's header did not link to the trusted hash: it serves
    /// another fork.
    #[error("header {number} from a peer does not link to the trusted {want} (got {got})")]
    OtherFork {
        /// Block probed.
        number: u64,
        /// The trusted hash.
        want: B256,
        /// What the peer's header says.
        got: B256,
    },
    /// The validator refused for a reason that says nothing about the data (an anchor it could
    /// not apply, a fork this build does not know), or could not be asked.
    #[error("validator: {0}")]
    Validator(#[source] ValidateError),
    /// Nothing to link the unit to before the link wait ran out.
    #[error("no trusted anchor or stored neighbour to link the unit to")]
    NoLink,
    /// The range validated, but no anchor covers part of it.
    #[error("no trusted anchor covers blocks {start}..={end}")]
    NoAnchor {
        /// First block not covered.
        start: u64,
        /// Last block not covered.
        end: u64,
    },
    /// The download ended without blocks.
    #[error("no blocks")]
    NoBlocks,
    /// The download returned another range than the unit's.
    #[error("downloaded range does not match the unit")]
    RangeMismatch,
    /// The store failed (reading a neighbour or writing a batch).
    #[error("{0}")]
    Store(#[source] SinkError),
    /// A stored header does not decode: the local store is corrupt.
    #[error("stored header {number}: {reason}")]
    CorruptStore {
        /// Block number.
        number: u64,
        /// Decoder message.
        reason: String,
    },
    /// The stored parent of the unit is not the block the lease names.
    #[error("stored block {number} has hash {stored}, the unit's parent hash is {parent}")]
    ParentConflict {
        /// The stored block.
        number: u64,
        /// Its hash.
        stored: B256,
        /// The lease's parent hash.
        parent: B256,
    },
    /// Completing the lease failed.
    #[error("complete: {0}")]
    Complete(#[source] LeaseError),
    /// A blocking task of the unit died.
    #[error("{what} task: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Why.
        source: tokio::task::JoinError,
    },
    /// The unit released its memory and was given back (never leaves the unit loop in
    /// practice).
    #[error("released")]
    Released,
}

impl Fault for UnitError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Download(e) => e.fault(),
            Self::Invalid { .. } | Self::OtherFork { .. } | Self::NoBlocks => FaultClass::Peer,
            Self::CorruptStore { .. } => FaultClass::Fatal,
            Self::Validator(e) => e.fault(),
            Self::OverBudget { .. }
            | Self::NoLink
            | Self::NoAnchor { .. }
            | Self::RangeMismatch
            | Self::Store(_)
            | Self::ParentConflict { .. }
            | Self::Complete(_)
            | Self::Task { .. }
            | Self::Released => FaultClass::Local,
        }
    }
}

/// What the fetcher does with a failed unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give the unit back with this reason (peer faults: the scheduler leases it again, to
    /// whichever fetcher and peers come next; local: after a backoff).
    GiveBack(FailureReason),
    /// Give the unit back and stop the fetcher: retrying cannot help.
    Stop,
}

impl UnitError {
    /// What to do: by the fault class (peer → refetch elsewhere, the sender already scored
    /// down where the fault was found; local → retry; fatal → stop), with "no peer has it"
    /// told apart for the scheduler's slower `NO_PEER` schedule.
    pub fn action(&self) -> Action {
        match (self, self.fault()) {
            (_, FaultClass::Fatal) => Action::Stop,
            (Self::Download(FetchError::Invalid(_)), _) => {
                Action::GiveBack(FailureReason::PeerFault)
            }
            (Self::Download(_) | Self::NoBlocks, _) => Action::GiveBack(FailureReason::NoPeer),
            (_, FaultClass::Peer) => Action::GiveBack(FailureReason::PeerFault),
            (_, FaultClass::Local) => Action::GiveBack(FailureReason::Local),
        }
    }

    /// The reason given to the scheduler with the unit.
    pub fn failure_reason(&self) -> FailureReason {
        match self.action() {
            Action::GiveBack(r) => r,
            Action::Stop => FailureReason::Local,
        }
    }

    /// For a validation failure, the rule that failed, as the wire names it.
    pub fn rule(&self) -> Option<hypasis_proto::v1::ValidationRule> {
        let rule = match self {
            Self::Validator(ValidateError::Broken { rule, .. }) | Self::Invalid { rule, .. } => {
                *rule
            }
            _ => return None,
        };
        hypasis_proto::v1::ValidationRule::try_from(rule.code()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypasis_downloader::verify::VerifyError;

    #[test]
    fn validation_failures_name_their_rule_on_the_wire() {
        let bad = UnitError::Invalid {
            number: 1,
            rule: Rule::ParentHash,
            message: String::new(),
        };
        let rule = bad.rule().expect("a known rule");
        assert_eq!(rule.as_str_name(), "VALIDATION_RULE_PARENT_HASH");
        assert_eq!(bad.to_string(), "invalid data (parent-hash): ");
        let local = UnitError::Validator(ValidateError::Broken {
            number: 1,
            rule: Rule::BaseFee,
            message: String::new(),
            class: FaultClass::Local,
        });
        assert_eq!(
            local.rule().map(|r| r.as_str_name()),
            Some("VALIDATION_RULE_BASE_FEE")
        );
        assert_eq!(local.fault(), FaultClass::Local);
        let down = UnitError::Validator(ValidateError::Unavailable("down".into()));
        assert_eq!(down.rule(), None);
        assert_eq!(UnitError::NoBlocks.rule(), None);
    }

    #[test]
    fn each_class_has_its_action() {
        let peer = UnitError::Invalid {
            number: 5,
            rule: Rule::TransactionsRoot,
            message: "mismatch".into(),
        };
        assert_eq!(peer.fault(), FaultClass::Peer);
        assert_eq!(peer.action(), Action::GiveBack(FailureReason::PeerFault));
        let invalid = UnitError::Download(FetchError::Invalid(VerifyError::WrongNumber {
            expected: 1,
            got: 2,
        }));
        assert_eq!(invalid.action(), Action::GiveBack(FailureReason::PeerFault));
        let missing = UnitError::Download(FetchError::Unavailable {
            what: "bodies",
            number: 3,
        });
        assert_eq!(missing.action(), Action::GiveBack(FailureReason::NoPeer));
        let local = UnitError::Store(SinkError::Storage(
            hypasis_storage_api::StorageError::Unavailable("unavailable".into()),
        ));
        assert_eq!(local.fault(), FaultClass::Local);
        assert_eq!(local.action(), Action::GiveBack(FailureReason::Local));
        let fatal = UnitError::CorruptStore {
            number: 9,
            reason: "not a header".into(),
        };
        assert_eq!(fatal.fault(), FaultClass::Fatal);
        assert_eq!(fatal.action(), Action::Stop);
        assert_eq!(fatal.failure_reason(), FailureReason::Local);
    }
}

//! One fault vocabulary for every library error of Hypasis Sync.
//!
//! Whoever handles an error needs one answer first: whose fault is it, and so what next?
//!
//! | class | meaning | what the caller does |
//! |---|---|---|
//! | [`FaultClass::Peer`] | the remote party (a devp2p peer, a checkpoint source, a gRPC caller) sent something wrong | score it down, refetch elsewhere; never retry the same answer into acceptance |
//! | [`FaultClass::Local`] | a transient problem on our side or on the path (I/O, timeout, unavailable backend, lost connection) | retry with backoff, without blaming anyone |
//! | [`FaultClass::Fatal`] | bad configuration, corrupt local data, a broken invariant | stop and report; retrying cannot help |
//!
//! Every library error type implements [`Fault`]; the detail (which rule, which peer) stays in
//! the error itself, the class is what loops, schedulers and the gRPC seam act on.

use std::fmt;

/// Whose fault an error is, and therefore what the caller does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultClass {
    /// The remote party sent something wrong: score it, refetch elsewhere.
    Peer,
    /// A transient local or transport problem: retry.
    Local,
    /// Cannot continue: stop.
    Fatal,
}

impl FaultClass {
    /// Stable lower-case label for logs, metrics and wire enums.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::Local => "local",
            Self::Fatal => "fatal",
        }
    }

    /// Whether the remote party should be scored down for this error.
    pub const fn blames_peer(self) -> bool {
        matches!(self, Self::Peer)
    }

    /// Whether the same work may succeed if tried again (here for `Local`, elsewhere for
    /// `Peer`).
    pub const fn is_retryable(self) -> bool {
        !matches!(self, Self::Fatal)
    }

    /// Whether the process (or the task) must stop.
    pub const fn is_fatal(self) -> bool {
        matches!(self, Self::Fatal)
    }
}

impl fmt::Display for FaultClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`FaultClass`]. Implemented by every library error type.
pub trait Fault: std::error::Error {
    /// The class of this error.
    fn fault(&self) -> FaultClass;
}

impl Fault for std::io::Error {
    /// I/O errors are local and transient unless the input itself was refused.
    fn fault(&self) -> FaultClass {
        match self.kind() {
            std::io::ErrorKind::InvalidData => FaultClass::Peer,
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::Unsupported => {
                FaultClass::Fatal
            }
            _ => FaultClass::Local,
        }
    }
}

impl<E: Fault> Fault for Box<E> {
    fn fault(&self) -> FaultClass {
        (**self).fault()
    }
}

/// A range with start > end came from whoever asked: the caller's fault.
impl Fault for hypasis_gaps::InvalidRange {
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

/// A block whose hash, number or header RLP is inconsistent was sent that way: the sender's
/// fault (refetch elsewhere).
impl Fault for crate::BlockIntegrityError {
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for crate::ChainSpecError {
    /// A chain that cannot be loaded is a configuration error.
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_say_what_to_do() {
        assert!(FaultClass::Peer.blames_peer() && FaultClass::Peer.is_retryable());
        assert!(!FaultClass::Local.blames_peer() && FaultClass::Local.is_retryable());
        assert!(FaultClass::Fatal.is_fatal() && !FaultClass::Fatal.is_retryable());
        assert_eq!(FaultClass::Local.to_string(), "local");
    }

    #[test]
    fn io_errors_are_classified() {
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        assert_eq!(e.fault(), FaultClass::Local);
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad bytes");
        assert_eq!(e.fault(), FaultClass::Peer);
        let boxed: Box<std::io::Error> =
            Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(boxed.fault(), FaultClass::Fatal);
    }

    #[test]
    fn bad_ranges_and_blocks_blame_the_sender() {
        let e = hypasis_gaps::InvalidRange { start: 2, end: 1 };
        assert_eq!(e.fault(), FaultClass::Peer);
    }
}

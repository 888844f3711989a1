//! The [`FaultClass`] of the errors of this crate.

use hypasis_primitives::{Fault, FaultClass};

use crate::{fetch::FetchError, verify::VerifyError};

impl Fault for VerifyError {
    /// Data that does not match its headers is the fault of whoever sent it.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for FetchError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Session(e) => e.fault(),
            Self::Invalid(e) => e.fault(),
            // Nobody had the data (yet), or no peer to ask: try again later.
            Self::Unavailable { .. } | Self::NoPeers(_) => FaultClass::Local,
        }
    }
}

#[cfg(test)]
mod tests {
    use hypasis_network::SessionError;

    use super::*;

    #[test]
    fn fetch_errors_say_whom_to_blame() {
        let invalid = VerifyError::MalformedHeader("short".into());
        assert_eq!(invalid.fault(), FaultClass::Peer);
        assert_eq!(FetchError::Invalid(invalid).fault(), FaultClass::Peer);
        assert_eq!(
            FetchError::Session(SessionError::RequestTimeout).fault(),
            FaultClass::Peer
        );
        let closed = SessionError::Closed("gone".into());
        assert_eq!(FetchError::Session(closed).fault(), FaultClass::Local);
        let missing = FetchError::Unavailable {
            what: "bodies",
            number: 7,
        };
        assert_eq!(missing.fault(), FaultClass::Local);
        assert_eq!(
            FetchError::NoPeers("closed".into()).fault(),
            FaultClass::Local
        );
    }
}

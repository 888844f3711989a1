//! The [`FaultClass`] of every error of this crate. A session error's class follows its
//! [`Blame`]: a misbehaving or incompatible peer is the peer's fault (score it, use another),
//! the network path and local conditions are retried, and malformed local data is fatal.

use hypasis_primitives::{Fault, FaultClass};

use crate::{
    pool::PoolError,
    receipts::PartialReceiptsError,
    session::{Blame, SessionError},
};

impl Fault for SessionError {
    fn fault(&self) -> FaultClass {
        match self.blame() {
            Blame::Peer | Blame::Incompatible => FaultClass::Peer,
            Blame::Network => FaultClass::Local,
            Blame::Local => match self {
                // Our own stored data cannot be encoded: retrying cannot help.
                Self::Encode(e) => e.fault(),
                _ => FaultClass::Local,
            },
        }
    }
}

impl Fault for PartialReceiptsError {
    /// Every variant describes receipts the peer sent.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for PoolError {
    /// No peer now, or every attempt failed: wait and retry; the peers at fault have already
    /// been scored by the pool.
    fn fault(&self) -> FaultClass {
        FaultClass::Local
    }
}

#[cfg(test)]
mod tests {
    use std::{io, time::Duration};

    use hypasis_eth_wire::eth::EncodeError;
    use hypasis_rlpx::{
        enode::EnodeError, frame::FrameError, handshake::HandshakeError, p2p::DisconnectReason,
        p2p::MessageError,
    };

    use super::*;

    #[test]
    fn session_errors_follow_their_blame() {
        // Peer
        assert_eq!(SessionError::RequestTimeout.fault(), FaultClass::Peer);
        assert_eq!(
            SessionError::Message(MessageError::BadMessageId).fault(),
            FaultClass::Peer
        );
        assert_eq!(
            SessionError::Frame(FrameError::BadHeaderMac).fault(),
            FaultClass::Peer
        );
        // Incompatible → Peer: use another peer.
        assert_eq!(SessionError::NoSharedCapabilities.fault(), FaultClass::Peer);
        assert_eq!(
            SessionError::Disconnected(DisconnectReason::TooManyPeers).fault(),
            FaultClass::Peer
        );
        // Network → Local: retry.
        let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(SessionError::Io(reset()).fault(), FaultClass::Local);
        assert_eq!(
            SessionError::Handshake(HandshakeError::Io(reset())).fault(),
            FaultClass::Local
        );
        // Local → Local, except malformed local data → Fatal.
        assert_eq!(SessionError::ConnectedToSelf.fault(), FaultClass::Local);
        assert_eq!(
            SessionError::Closed("shutdown".into()).fault(),
            FaultClass::Local
        );
        assert_eq!(
            SessionError::Enode(EnodeError::NotOnCurve).fault(),
            FaultClass::Local
        );
        let encode = EncodeError {
            message: "Receipts",
            reason: "bad".into(),
        };
        assert_eq!(SessionError::Encode(encode).fault(), FaultClass::Fatal);
    }

    #[test]
    fn receipt_and_pool_errors() {
        let e = PartialReceiptsError::NoProgress { index: 0 };
        assert_eq!(e.fault(), FaultClass::Peer);
        assert_eq!(
            PoolError::NoPeers(Duration::from_secs(1)).fault(),
            FaultClass::Local
        );
    }
}

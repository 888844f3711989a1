//! The [`FaultClass`] of every error of this crate: what the remote sent is the peer's fault,
//! transport I/O is local and transient, a bad local key file or enode is configuration.

use hypasis_primitives::{Fault, FaultClass};

use crate::{
    ecies::EciesError, enode::EnodeError, frame::FrameError, handshake::HandshakeError,
    identity::KeyFileError, p2p::MessageError,
};

impl Fault for EciesError {
    /// ECIES messages come from the remote party.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for HandshakeError {
    fn fault(&self) -> FaultClass {
        if self.is_peer_fault() {
            FaultClass::Peer
        } else {
            FaultClass::Local
        }
    }
}

impl Fault for FrameError {
    fn fault(&self) -> FaultClass {
        if self.is_peer_fault() {
            FaultClass::Peer
        } else {
            // Transport I/O, or one of our own messages above the frame cap.
            FaultClass::Local
        }
    }
}

impl Fault for MessageError {
    /// Every variant describes a message the peer sent (malformed, oversized or in the other
    /// dialect of the chain).
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for EnodeError {
    /// Enode URLs come from configuration (bootnodes, static peers): fix the URL.
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
    }
}

impl Fault for KeyFileError {
    /// A node key file that cannot be read or holds no valid key stops the node: generating
    /// another key would change its enode.
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn remote_bytes_are_the_peer_s_fault_and_io_is_local() {
        assert_eq!(EciesError::BadMac.fault(), FaultClass::Peer);
        assert_eq!(HandshakeError::InvalidSignature.fault(), FaultClass::Peer);
        assert_eq!(
            HandshakeError::Ecies(EciesError::TooShort(3)).fault(),
            FaultClass::Peer
        );
        let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(HandshakeError::Io(reset()).fault(), FaultClass::Local);
        assert_eq!(FrameError::BadFrameMac.fault(), FaultClass::Peer);
        assert_eq!(
            FrameError::FrameTooLarge { size: 2, max: 1 }.fault(),
            FaultClass::Peer
        );
        assert_eq!(
            FrameError::OutgoingTooLarge { size: 2, max: 1 }.fault(),
            FaultClass::Local
        );
        assert_eq!(FrameError::Io(reset()).fault(), FaultClass::Local);
        assert_eq!(MessageError::BadMessageId.fault(), FaultClass::Peer);
    }

    #[test]
    fn configuration_errors_are_fatal() {
        assert_eq!(EnodeError::BadScheme.fault(), FaultClass::Fatal);
        assert_eq!(KeyFileError::BadHex.fault(), FaultClass::Fatal);
    }
}

//! The [`FaultClass`] of the errors of this crate.

use hypasis_primitives::{Fault, FaultClass};

use crate::packet::PacketError;

impl Fault for PacketError {
    /// Every packet error describes a datagram the remote node sent.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_packets_are_the_sender_s_fault() {
        assert_eq!(PacketError::HashMismatch.fault(), FaultClass::Peer);
        assert_eq!(
            PacketError::Expired {
                expiration: 1,
                now: 2
            }
            .fault(),
            FaultClass::Peer
        );
    }
}

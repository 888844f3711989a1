//! Our `Status` and the peer checks derived from a [`ChainSpec`].

use alloy_primitives::{B256, U256};
use hypasis_primitives::chain::ChainSpec;

use crate::session::{LocalStatus, StatusCheck, fork_filter_check};

/// The head we announce: number, timestamp, hash, total difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block timestamp.
    pub timestamp: u64,
    /// Block hash.
    pub hash: B256,
    /// Total difficulty (eth/68 `Status`).
    pub total_difficulty: U256,
    /// Earliest block we serve (eth/69 `Status`).
    pub earliest: u64,
}

impl Head {
    /// The genesis block of `spec` as head.
    pub fn genesis(spec: &ChainSpec) -> Self {
        Self {
            number: 0,
            timestamp: spec.genesis_header.timestamp,
            hash: spec.genesis_hash,
            total_difficulty: spec.genesis_header.difficulty,
            earliest: 0,
        }
    }
}

/// Our `Status` for `spec` at `head`.
pub fn local_status(spec: &ChainSpec, head: &Head) -> LocalStatus {
    LocalStatus {
        network_id: spec.network_id,
        genesis: spec.genesis_hash,
        fork_id: spec.fork_id(head.number, head.timestamp),
        total_difficulty: head.total_difficulty,
        head_hash: head.hash,
        earliest_block: head.earliest,
        latest_block: head.number,
    }
}

/// A status check accepting only peers whose EIP-2124 fork id is compatible with `spec` at
/// `head` (network id and genesis are checked by the session itself).
pub fn status_check(spec: &ChainSpec, head: &Head) -> StatusCheck {
    fork_filter_check(spec.fork_filter(head.number, head.timestamp))
}

/// A session configuration for `spec` at `head`, with the fork id check installed.
pub fn session_config(spec: &ChainSpec, head: &Head) -> crate::session::SessionConfig {
    let mut config = crate::session::SessionConfig::new(local_status(spec, head));
    config.status_check = Some(status_check(spec, head));
    config
}

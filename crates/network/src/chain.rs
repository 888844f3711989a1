//! Our `Status` and the peer checks derived from a [`ChainSpec`].

use alloy_primitives::{B256, U256};
use hypasis_primitives::chain::ChainSpec;

use crate::{
    eth::{Dialect, EthVersion},
    session::{LocalStatus, SessionConfig, StatusCheck, fork_filter_check},
};

/// Bor's `maxMessageSize` (`eth/protocols/eth/protocol.go`: 10 MiB), applied to Bor sessions.
pub const BOR_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// The eth dialect of `spec`: Bor's for every Bor chain (built-in `polygon`, `amoy`,
/// `devnet`, any `genesis.json` with a `bor` section), the standard one otherwise.
pub fn dialect(spec: &ChainSpec) -> Dialect {
    if spec.is_bor() {
        Dialect::Bor
    } else {
        Dialect::Standard
    }
}

/// The eth versions we offer on `spec`. Ethereum chains: eth/70, eth/69, eth/68. Bor chains:
/// what Bor offers, eth/69 then eth/68 (`ProtocolVersions` in Bor's
/// `eth/protocols/eth/protocol.go`); eth/70 stays off until Bor ships it (EIP-7975 is only in
/// an open Bor pull request).
pub fn eth_versions(spec: &ChainSpec) -> Vec<EthVersion> {
    match dialect(spec) {
        Dialect::Bor => vec![EthVersion::Eth69, EthVersion::Eth68],
        Dialect::Standard => vec![EthVersion::Eth70, EthVersion::Eth69, EthVersion::Eth68],
    }
}

impl SessionConfig {
    /// A session configuration for `spec` with our `status`: the one place that decides
    /// the dialect, the offered versions and the message size cap of a chain (no fork id
    /// check; [`session_config`] adds it).
    pub fn for_chain(spec: &ChainSpec, status: LocalStatus) -> Self {
        let mut config = SessionConfig::new(status);
        config.dialect = dialect(spec);
        config.eth_versions = eth_versions(spec);
        if config.dialect == Dialect::Bor {
            config.max_message_size = BOR_MAX_MESSAGE_SIZE;
        }
        config
    }
}

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

/// A session configuration for `spec` at `head` ([`SessionConfig::for_chain`]), with the
/// fork id check installed.
pub fn session_config(spec: &ChainSpec, head: &Head) -> SessionConfig {
    let mut config = SessionConfig::for_chain(spec, local_status(spec, head));
    config.status_check = Some(status_check(spec, head));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_and_versions_follow_the_chain() {
        for spec in [ChainSpec::polygon(), ChainSpec::amoy(), ChainSpec::devnet()] {
            let c = session_config(&spec, &Head::genesis(&spec));
            assert_eq!(c.dialect, Dialect::Bor, "{}", spec.name);
            assert_eq!(c.eth_versions, vec![EthVersion::Eth69, EthVersion::Eth68]);
            assert_eq!(c.max_message_size, BOR_MAX_MESSAGE_SIZE);
        }
        for spec in [ChainSpec::mainnet(), ChainSpec::sepolia()] {
            let c = session_config(&spec, &Head::genesis(&spec));
            assert_eq!(c.dialect, Dialect::Standard);
            assert_eq!(
                c.eth_versions,
                vec![EthVersion::Eth70, EthVersion::Eth69, EthVersion::Eth68]
            );
        }
    }
}

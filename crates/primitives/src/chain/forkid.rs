//! EIP-2124 fork identifiers.
//!
//! `FORK_HASH` is the IEEE CRC32 of the genesis hash followed by every passed fork activation
//! (block number, then timestamp), each as a big-endian `u64`; `FORK_NEXT` is the next scheduled
//! activation, or 0. Activations are deduplicated, block 0 is dropped (the genesis rule set), and
//! time forks at or before the genesis timestamp are dropped (EIP-6122), as geth's
//! `core/forkid.gatherForks` does.

use alloy_eips::eip2124::{ForkHash, ForkId};
use alloy_primitives::B256;

/// The activations that make up a chain's fork id, as geth gathers them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForkIdActivations {
    /// Block-number activations, ascending, without duplicates and without block 0.
    pub blocks: Vec<u64>,
    /// Timestamp activations after the genesis timestamp, ascending, without duplicates.
    pub timestamps: Vec<u64>,
}

impl ForkIdActivations {
    /// Normalises raw activation values like geth: sort, deduplicate, drop block 0 and time forks
    /// at or before `genesis_timestamp`.
    pub fn new(
        blocks: impl IntoIterator<Item = u64>,
        timestamps: impl IntoIterator<Item = u64>,
        genesis_timestamp: u64,
    ) -> Self {
        let mut blocks: Vec<u64> = blocks.into_iter().filter(|b| *b != 0).collect();
        blocks.sort_unstable();
        blocks.dedup();
        let mut timestamps: Vec<u64> = timestamps
            .into_iter()
            .filter(|t| *t > genesis_timestamp)
            .collect();
        timestamps.sort_unstable();
        timestamps.dedup();
        Self { blocks, timestamps }
    }

    /// The fork id of a node whose head block has this number and timestamp.
    pub fn fork_id(&self, genesis_hash: B256, head_number: u64, head_timestamp: u64) -> ForkId {
        let mut hash = crc32fast::hash(genesis_hash.as_slice());
        for &fork in &self.blocks {
            if fork > head_number {
                return ForkId {
                    hash: ForkHash(hash.to_be_bytes()),
                    next: fork,
                };
            }
            hash = checksum_update(hash, fork);
        }
        for &fork in &self.timestamps {
            if fork > head_timestamp {
                return ForkId {
                    hash: ForkHash(hash.to_be_bytes()),
                    next: fork,
                };
            }
            hash = checksum_update(hash, fork);
        }
        ForkId {
            hash: ForkHash(hash.to_be_bytes()),
            next: 0,
        }
    }
}

/// `CRC32(previous-blob ‖ be64(fork))` given `CRC32(previous-blob)`.
fn checksum_update(hash: u32, fork: u64) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(hash);
    hasher.update(&fork.to_be_bytes());
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    const MAINNET_GENESIS: B256 =
        b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");

    #[test]
    fn matches_alloy_fork_hash_arithmetic() {
        let activations = ForkIdActivations::new([1_150_000, 1_920_000, 0, 1_150_000], [], 0);
        assert_eq!(activations.blocks, [1_150_000, 1_920_000]);
        let expected = ForkHash::from(MAINNET_GENESIS) + 1_150_000u64 + 1_920_000u64;
        assert_eq!(
            activations.fork_id(MAINNET_GENESIS, 2_000_000, 0),
            ForkId {
                hash: expected,
                next: 0
            }
        );
    }

    #[test]
    fn time_forks_at_or_before_genesis_are_skipped() {
        let a = ForkIdActivations::new([], [10, 20, 30], 20);
        assert_eq!(a.timestamps, [30]);
    }

    #[test]
    fn rlp_encoding_of_fork_id() {
        // geth core/forkid TestEncoding.
        let id = ForkId {
            hash: ForkHash([0xde, 0xad, 0xbe, 0xef]),
            next: 0xBADDCAFE,
        };
        assert_eq!(
            alloy_rlp::encode(id),
            hex::decode("ca84deadbeef84baddcafe").unwrap()
        );
        let id = ForkId {
            hash: ForkHash([0; 4]),
            next: 0,
        };
        assert_eq!(
            alloy_rlp::encode(id),
            hex::decode("c6840000000080").unwrap()
        );
    }
}

//! Polygon checkpoint roots.
//!
//! A Heimdall checkpoint commits to blocks `[start, end]` with a Merkle root over one leaf per
//! block, `keccak256(uint256(number) ‖ uint256(timestamp) ‖ transactionsRoot ‖ receiptsRoot)`
//! (32 bytes each, big-endian integers). The leaves are padded with zero leaves (not hashed)
//! to the next power of two and combined pairwise with `keccak256(left ‖ right)`, unsorted —
//! Bor's `GetRootHash` (facts, not code).
//!
//! The root does not commit to parent hashes, so a range counts as checkpoint-verified only
//! when its headers are also hash-linked (see [`crate::range`]).

use alloy_consensus::Header;
use alloy_primitives::{B256, keccak256};
use rayon::prelude::*;

/// A Polygon checkpoint: blocks `start..=end` and their root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointAnchor {
    /// First block.
    pub start: u64,
    /// Last block.
    pub end: u64,
    /// Root hash.
    pub root: B256,
}

impl From<&hypasis_primitives::Checkpoint> for CheckpointAnchor {
    /// The range and root of a stored or followed checkpoint.
    fn from(c: &hypasis_primitives::Checkpoint) -> Self {
        Self {
            start: c.range.start,
            end: c.range.end,
            root: c.root,
        }
    }
}

/// The leaf of one block.
pub fn checkpoint_leaf(header: &Header) -> B256 {
    let mut buf = [0u8; 128];
    buf[24..32].copy_from_slice(&header.number.to_be_bytes());
    buf[56..64].copy_from_slice(&header.timestamp.to_be_bytes());
    buf[64..96].copy_from_slice(header.transactions_root.as_slice());
    buf[96..128].copy_from_slice(header.receipts_root.as_slice());
    keccak256(buf)
}

/// The checkpoint root over `headers` (which must be the range's headers in order). The leaves
/// are hashed in parallel.
pub fn checkpoint_root<'a, I>(headers: I) -> B256
where
    I: IntoParallelIterator<Item = &'a Header>,
{
    let leaves: Vec<B256> = headers.into_par_iter().map(checkpoint_leaf).collect();
    merkle_root_keccak(leaves)
}

/// Keccak Merkle root of leaves padded with zero leaves to a power of two.
pub fn merkle_root_keccak(mut level: Vec<B256>) -> B256 {
    if level.is_empty() {
        return B256::ZERO;
    }
    let width = level.len().next_power_of_two();
    level.resize(width, B256::ZERO);
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| {
                let mut buf = [0u8; 64];
                buf[..32].copy_from_slice(pair[0].as_slice());
                buf[32..].copy_from_slice(pair[1].as_slice());
                keccak256(buf)
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    /// paulgoleary/polygon-pos-light `checkpoint/src/header.rs` one-leaf vector (quoted in the
    /// fixtures README, section 3d): block 3639411, timestamp 1708274440, empty tx and receipt
    /// roots.
    #[test]
    fn one_leaf_vector() {
        let empty = b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
        let header = Header {
            number: 3_639_411,
            timestamp: 1_708_274_440,
            transactions_root: empty,
            receipts_root: empty,
            ..Default::default()
        };
        let leaf = b256!("fc905b8816642b177111968433a6aea8ea790ad2ea7c164de1625eaf01270f88");
        assert_eq!(checkpoint_leaf(&header), leaf);
        assert_eq!(checkpoint_root([&header]), leaf);
    }

    #[test]
    fn padding() {
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        let c = B256::repeat_byte(3);
        let h = |x: B256, y: B256| {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(x.as_slice());
            buf[32..].copy_from_slice(y.as_slice());
            keccak256(buf)
        };
        assert_eq!(
            merkle_root_keccak(vec![a, b, c]),
            h(h(a, b), h(c, B256::ZERO))
        );
    }
}

//! The SSZ Merkleization needed by the light client: `hash_tree_root` of the few containers it
//! touches (beacon block header, execution payload header, sync committee, fork and signing
//! data) and Merkle-branch checks, with SHA-256 as in the consensus specs.

use sha2::{Digest, Sha256};

/// A 32-byte chunk.
pub type Chunk = [u8; 32];

/// `sha256(a ‖ b)`.
pub fn hash_pair(a: &Chunk, b: &Chunk) -> Chunk {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// Root of `chunks` padded with zero chunks to `limit` leaves (a power of two ≥ `chunks.len()`).
pub fn merkleize(chunks: &[Chunk], limit: usize) -> Chunk {
    let width = limit.max(1).next_power_of_two();
    assert!(chunks.len() <= width, "more chunks than the limit");
    let mut layer: Vec<Chunk> = chunks.to_vec();
    let mut zero = [0u8; 32];
    let mut size = width;
    if layer.is_empty() {
        layer.push(zero);
    }
    while size > 1 {
        if layer.len() % 2 == 1 {
            layer.push(zero);
        }
        layer = layer.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        zero = hash_pair(&zero, &zero);
        size /= 2;
    }
    layer[0]
}

/// `mix_in_length(root, len)`.
pub fn mix_in_length(root: &Chunk, len: usize) -> Chunk {
    hash_pair(root, &u64_leaf(len as u64))
}

/// A `uint64` leaf (little-endian, zero-padded).
pub fn u64_leaf(v: u64) -> Chunk {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&v.to_le_bytes());
    c
}

/// Bytes packed into zero-padded chunks.
pub fn pack(bytes: &[u8]) -> Vec<Chunk> {
    bytes
        .chunks(32)
        .map(|b| {
            let mut c = [0u8; 32];
            c[..b.len()].copy_from_slice(b);
            c
        })
        .collect()
}

/// Root of a fixed-size byte vector (`Bytes20`, `Bytes48`, `ByteVector[256]`).
pub fn byte_vector_root(bytes: &[u8]) -> Chunk {
    let chunks = pack(bytes);
    let n = chunks.len().max(1);
    merkleize(&chunks, n)
}

/// Root of a `ByteList[max_len]`.
pub fn byte_list_root(bytes: &[u8], max_len: usize) -> Chunk {
    let chunks = pack(bytes);
    mix_in_length(&merkleize(&chunks, max_len.div_ceil(32)), bytes.len())
}

/// `is_valid_merkle_branch(leaf, branch, depth, index, root)` of the consensus specs, with
/// `depth = branch.len()` and `index` the subtree index (`gindex − 2^depth`).
pub fn is_valid_merkle_branch(leaf: &Chunk, branch: &[Chunk], index: u64, root: &Chunk) -> bool {
    let mut value = *leaf;
    for (i, sibling) in branch.iter().enumerate() {
        value = if (index >> i) & 1 == 1 {
            hash_pair(sibling, &value)
        } else {
            hash_pair(&value, sibling)
        };
    }
    &value == root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkleize_pads_with_zero_subtrees() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert_eq!(merkleize(&[a], 1), a);
        assert_eq!(merkleize(&[a, b], 2), hash_pair(&a, &b));
        let z = [0u8; 32];
        assert_eq!(
            merkleize(&[a, b, a], 4),
            hash_pair(&hash_pair(&a, &b), &hash_pair(&a, &z))
        );
        let zz = hash_pair(&z, &z);
        assert_eq!(merkleize(&[a], 4), hash_pair(&hash_pair(&a, &z), &zz));
        assert_eq!(merkleize(&[], 2), zz);
    }

    #[test]
    fn branches_verify_both_sides() {
        let leaves: Vec<Chunk> = (0..8u8).map(|i| [i; 32]).collect();
        let root = merkleize(&leaves, 8);
        // Branch of leaf 5: sibling 4, then hash(6,7), then hash(hash(0,1),hash(2,3)).
        let branch = [
            leaves[4],
            hash_pair(&leaves[6], &leaves[7]),
            hash_pair(
                &hash_pair(&leaves[0], &leaves[1]),
                &hash_pair(&leaves[2], &leaves[3]),
            ),
        ];
        assert!(is_valid_merkle_branch(&leaves[5], &branch, 5, &root));
        assert!(!is_valid_merkle_branch(&leaves[5], &branch, 4, &root));
        assert!(!is_valid_merkle_branch(&leaves[4], &branch, 5, &root));
    }
}

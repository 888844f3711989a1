//! Serving block data to peers: the [`BlockSource`] trait and request handlers with
//! serving limits.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{B256, Bytes, keccak256};

use crate::eth::{BlockId, GetBlockHeaders};

/// Read access to locally stored blocks, in canonical RLP.
///
/// Implementations are called from the session task and should be fast (in-memory or a
/// cached store); they must not block for long.
pub trait BlockSource: Send + Sync {
    /// Canonical header RLP for block `number`.
    fn header_by_number(&self, number: u64) -> Option<Bytes>;
    /// Header RLP and block number for the block with `hash`.
    fn header_by_hash(&self, hash: &B256) -> Option<(u64, Bytes)>;
    /// Body RLP (`[transactions, uncles, ...]`) of the block with `hash`.
    fn body_by_hash(&self, hash: &B256) -> Option<Bytes>;
    /// Receipts of the block with `hash`, each in consensus (EIP-2718 envelope) encoding.
    fn receipts_by_hash(&self, hash: &B256) -> Option<Vec<Bytes>>;
}

/// Limits applied when serving requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Maximum headers per response.
    pub max_headers: usize,
    /// Maximum bodies per response.
    pub max_bodies: usize,
    /// Maximum blocks of receipts per response.
    pub max_receipts: usize,
    /// Soft response size: no further item is added once this many bytes are collected.
    pub soft_response_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_headers: 1024,
            max_bodies: 1024,
            max_receipts: 1024,
            soft_response_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Answers a `GetBlockHeaders` request: starting at the origin, `skip + 1` blocks apart,
/// ascending or descending, stopping at the first missing header or when a limit is hit.
pub fn serve_headers(
    source: &dyn BlockSource,
    request: &GetBlockHeaders,
    limits: &ServeLimits,
) -> Vec<Bytes> {
    let max = usize::try_from(request.amount)
        .unwrap_or(usize::MAX)
        .min(limits.max_headers);
    let mut out = Vec::new();
    if max == 0 {
        return out;
    }
    let (mut number, first) = match request.origin {
        BlockId::Hash(hash) => match source.header_by_hash(&hash) {
            Some((n, h)) => (n, Some(h)),
            None => return out,
        },
        BlockId::Number(n) => (n, None),
    };
    let step = request.skip.saturating_add(1);
    let mut size = 0usize;
    let mut next = first;
    loop {
        let header = match next.take() {
            Some(h) => h,
            None => match source.header_by_number(number) {
                Some(h) => h,
                None => break,
            },
        };
        size += header.len();
        out.push(header);
        if out.len() >= max || size >= limits.soft_response_bytes {
            break;
        }
        let following = if request.reverse {
            number.checked_sub(step)
        } else {
            number.checked_add(step)
        };
        match following {
            Some(n) => number = n,
            None => break,
        }
    }
    out
}

/// Answers a `GetBlockBodies` request; stops at the first unknown block so that the
/// response is a prefix of the request.
pub fn serve_bodies(source: &dyn BlockSource, hashes: &[B256], limits: &ServeLimits) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut size = 0usize;
    for hash in hashes.iter().take(limits.max_bodies) {
        let Some(body) = source.body_by_hash(hash) else {
            break;
        };
        size += body.len();
        out.push(body);
        if size >= limits.soft_response_bytes {
            break;
        }
    }
    out
}

/// Answers a `GetReceipts` request (consensus encoding); stops at the first unknown block.
pub fn serve_receipts(
    source: &dyn BlockSource,
    hashes: &[B256],
    limits: &ServeLimits,
) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut size = 0usize;
    for hash in hashes.iter().take(limits.max_receipts) {
        let Some(receipts) = source.receipts_by_hash(hash) else {
            break;
        };
        size += receipts.iter().map(|r| r.len()).sum::<usize>();
        out.push(receipts);
        if size >= limits.soft_response_bytes {
            break;
        }
    }
    out
}

#[derive(Debug, Clone)]
struct StoredBlock {
    number: u64,
    header: Bytes,
    body: Bytes,
    receipts: Vec<Bytes>,
}

/// A simple in-memory [`BlockSource`] (for tests and small fixtures).
#[derive(Debug, Clone, Default)]
pub struct MemoryBlockSource {
    canonical: BTreeMap<u64, B256>,
    blocks: HashMap<B256, StoredBlock>,
}

impl MemoryBlockSource {
    /// Creates an empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a canonical block and returns its hash (`keccak256(header)`).
    pub fn insert(
        &mut self,
        number: u64,
        header: Bytes,
        body: Bytes,
        receipts: Vec<Bytes>,
    ) -> B256 {
        let hash = keccak256(&header);
        self.canonical.insert(number, hash);
        self.blocks.insert(
            hash,
            StoredBlock {
                number,
                header,
                body,
                receipts,
            },
        );
        hash
    }

    /// Hash of the canonical block `number`.
    pub fn hash_of(&self, number: u64) -> Option<B256> {
        self.canonical.get(&number).copied()
    }
}

impl BlockSource for MemoryBlockSource {
    fn header_by_number(&self, number: u64) -> Option<Bytes> {
        let hash = self.canonical.get(&number)?;
        self.blocks.get(hash).map(|b| b.header.clone())
    }

    fn header_by_hash(&self, hash: &B256) -> Option<(u64, Bytes)> {
        self.blocks.get(hash).map(|b| (b.number, b.header.clone()))
    }

    fn body_by_hash(&self, hash: &B256) -> Option<Bytes> {
        self.blocks.get(hash).map(|b| b.body.clone())
    }

    fn receipts_by_hash(&self, hash: &B256) -> Option<Vec<Bytes>> {
        self.blocks.get(hash).map(|b| b.receipts.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u64) -> MemoryBlockSource {
        let mut s = MemoryBlockSource::new();
        for i in 0..n {
            // A valid RLP list `[u16 as 2-byte string]` encoding the number.
            let header = Bytes::from(vec![0xc3, 0x82, (i >> 8) as u8, i as u8]);
            s.insert(i, header, Bytes::from(vec![0xc2, 0xc0, 0xc0]), vec![]);
        }
        s
    }

    fn nums(hs: &[Bytes]) -> Vec<u64> {
        hs.iter()
            .map(|h| u64::from(h[2]) << 8 | u64::from(h[3]))
            .collect()
    }

    #[test]
    fn header_traversal() {
        let s = source(2000);
        let l = ServeLimits::default();
        let req = |origin, amount, skip, reverse| GetBlockHeaders {
            origin,
            amount,
            skip,
            reverse,
        };
        assert_eq!(
            nums(&serve_headers(
                &s,
                &req(BlockId::Number(5), 3, 0, false),
                &l
            )),
            vec![5, 6, 7]
        );
        assert_eq!(
            nums(&serve_headers(&s, &req(BlockId::Number(5), 3, 1, true), &l)),
            vec![5, 3, 1]
        );
        assert_eq!(
            nums(&serve_headers(&s, &req(BlockId::Number(1), 5, 0, true), &l)),
            vec![1, 0]
        );
        assert_eq!(
            nums(&serve_headers(
                &s,
                &req(BlockId::Number(1998), 5, 0, false),
                &l
            )),
            vec![1998, 1999]
        );
        let h = s.hash_of(10).unwrap();
        assert_eq!(
            nums(&serve_headers(&s, &req(BlockId::Hash(h), 2, 9, false), &l)),
            vec![10, 20]
        );
        assert!(serve_headers(&s, &req(BlockId::Hash(B256::ZERO), 2, 0, false), &l).is_empty());
        assert_eq!(
            serve_headers(&s, &req(BlockId::Number(0), 5000, 0, false), &l).len(),
            1024
        );
        assert_eq!(
            serve_headers(&s, &req(BlockId::Number(0), 5, u64::MAX, false), &l).len(),
            1
        );
        let small = ServeLimits {
            soft_response_bytes: 10,
            ..l
        };
        assert_eq!(
            serve_headers(&s, &req(BlockId::Number(0), 100, 0, false), &small).len(),
            3
        );
        let hashes: Vec<_> = (0..3)
            .map(|i| s.hash_of(i).unwrap())
            .chain([B256::ZERO, s.hash_of(4).unwrap()])
            .collect();
        assert_eq!(serve_bodies(&s, &hashes, &l).len(), 3);
        assert_eq!(serve_receipts(&s, &hashes, &l).len(), 3);
    }
}

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
    /// eth/70 (EIP-7975): hard size of a `Receipts` response. A block whose receipts would
    /// go past it is cut at a receipt boundary and sent with `lastBlockIncomplete`; the peer
    /// asks for the rest with `firstBlockReceiptIndex`. (Sizes are counted in consensus
    /// encoding, which is larger than the eth/69 wire encoding, so the message stays below.)
    pub receipts_response_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_headers: 1024,
            max_bodies: 1024,
            max_receipts: 1024,
            // geth's softResponseLimit (eth/protocols/eth/handler.go).
            soft_response_bytes: 2 * 1024 * 1024,
            // geth's maxPacketSize, which EIP-7975's devp2p text names as where a list is cut.
            receipts_response_bytes: 10 * 1024 * 1024,
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

/// Per-list overhead counted when sizing a response (an RLP list header is at most 9 bytes).
const LIST_OVERHEAD: usize = 9;

/// Answers an eth/70 `GetReceipts` request: whole blocks up to the soft limit, stopping at
/// the first unknown block; receipts of the first block before `first_block_receipt_index`
/// are omitted; the block that would go past [`ServeLimits::receipts_response_bytes`] is cut
/// and the returned flag (`lastBlockIncomplete`) is set. A response always carries at least
/// one receipt of a non-empty first block, so a client's continuation always progresses.
pub fn serve_receipts_partial(
    source: &dyn BlockSource,
    hashes: &[B256],
    first_block_receipt_index: u64,
    limits: &ServeLimits,
) -> (Vec<Vec<Bytes>>, bool) {
    let hard = limits.receipts_response_bytes;
    let mut out: Vec<Vec<Bytes>> = Vec::new();
    let mut size = 0usize;
    for (i, hash) in hashes.iter().take(limits.max_receipts).enumerate() {
        let Some(mut receipts) = source.receipts_by_hash(hash) else {
            break;
        };
        if i == 0 {
            let skip = usize::try_from(first_block_receipt_index)
                .unwrap_or(usize::MAX)
                .min(receipts.len());
            receipts.drain(..skip);
        }
        let block_size = LIST_OVERHEAD + receipts.iter().map(|r| r.len()).sum::<usize>();
        if size + block_size <= hard || receipts.is_empty() {
            size += block_size;
            out.push(receipts);
            if size >= limits.soft_response_bytes {
                break;
            }
            continue;
        }
        // Cut this block at the hard limit.
        let mut part = Vec::new();
        let mut s = size + LIST_OVERHEAD;
        for r in receipts.iter() {
            if s + r.len() > hard {
                break;
            }
            s += r.len();
            part.push(r.clone());
        }
        if part.is_empty() {
            if !out.is_empty() {
                // Not even one receipt fits after the blocks already taken: end here; the
                // client asks for this block again.
                break;
            }
            // A single receipt larger than the limit: send it alone rather than nothing.
            part.push(receipts[0].clone());
        }
        let incomplete = part.len() < receipts.len();
        out.push(part);
        return (out, incomplete);
    }
    (out, false)
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

    #[test]
    fn receipts_are_cut_at_the_hard_limit() {
        let blocks = crate::testchain::generate(4, 4, None);
        let s = crate::testchain::source(&blocks);
        let hashes: Vec<B256> = blocks[1..].iter().map(|b| b.hash).collect();
        let r = &blocks[1].receipts;
        let one = r[0].len();
        let l = ServeLimits::default();
        // Default: everything, complete.
        let (all, incomplete) = serve_receipts_partial(&s, &hashes, 0, &l);
        assert!(!incomplete);
        assert_eq!(all.len(), 3);
        // Room for one block and a half: block 1 whole, block 2 cut.
        let block_size = LIST_OVERHEAD + r.iter().map(|x| x.len()).sum::<usize>();
        let half = ServeLimits {
            receipts_response_bytes: block_size + LIST_OVERHEAD + 2 * one + 10,
            ..l
        };
        let (got, incomplete) = serve_receipts_partial(&s, &hashes, 0, &half);
        assert!(incomplete);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], blocks[1].receipts);
        assert_eq!(got[1], blocks[2].receipts[..2].to_vec());
        // The continuation starts at the index asked for.
        let (rest, incomplete) = serve_receipts_partial(&s, &hashes[1..], 2, &l);
        assert!(!incomplete);
        assert_eq!(rest[0], blocks[2].receipts[2..].to_vec());
        assert_eq!(rest[1], blocks[3].receipts);
        // A limit below one receipt still makes progress, one receipt at a time.
        let tiny = ServeLimits {
            receipts_response_bytes: 1,
            ..l
        };
        let (got, incomplete) = serve_receipts_partial(&s, &hashes, 2, &tiny);
        assert!(incomplete);
        assert_eq!(got, vec![blocks[1].receipts[2..3].to_vec()]);
        let (got, incomplete) = serve_receipts_partial(&s, &hashes, 3, &tiny);
        assert!(!incomplete);
        assert_eq!(got, vec![blocks[1].receipts[3..].to_vec()]);
        // An index beyond the list gives an empty, complete first list.
        let (got, _) = serve_receipts_partial(&s, &hashes[..1], 99, &l);
        assert_eq!(got, vec![Vec::<Bytes>::new()]);
    }
}

//! Downloading a block range: headers, bodies and receipts in batched requests with several
//! in flight, each piece checked against the headers (see [`crate::verify`]).
//!
//! The downloader is generic over a [`Requester`]: a single session ([`SessionHandle`]) for
//! `hypasis p2p fetch`, or the peer pool ([`crate::pool::Pool`]), which retries invalid data
//! with other peers.

use std::future::Future;

use alloy_consensus::EMPTY_OMMER_ROOT_HASH;
use alloy_primitives::{B256, Bytes};
use alloy_trie::EMPTY_ROOT_HASH;
use futures::{StreamExt, stream};
use hypasis_primitives::{Fault, FaultClass};

use crate::{
    eth::{BlockId, GetBlockHeaders},
    receipts::ReceiptLimits,
    rlp_util::wrap_list,
    session::{SessionError, SessionHandle},
    verify::{CheckedHeader, VerifyError, check_body, check_header_chain, check_receipts},
};

/// Errors of a range download.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The session failed.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// Received data did not match the headers.
    #[error("invalid data: {0}")]
    Invalid(#[from] VerifyError),
    /// The peer(s) repeatedly returned nothing for an item.
    #[error("no peer returned {what} for block {number}")]
    Unavailable {
        /// `headers`, `bodies` or `receipts`.
        what: &'static str,
        /// First missing block.
        number: u64,
    },
    /// A request could not be placed (pool closed, no peers).
    #[error("{0}")]
    NoPeers(String),
    /// The caller's sink refused a window of blocks (and so stopped the download).
    #[error("sink: {0}")]
    Sink(Box<dyn Fault + Send + Sync>),
}

impl FetchError {
    /// Wraps an error of the caller's sink.
    pub fn sink(e: impl Fault + Send + Sync + 'static) -> Self {
        Self::Sink(Box::new(e))
    }
}

impl Fault for FetchError {
    /// Invalid data is the sender's fault; so are a single session's protocol faults and peers
    /// that have nothing to give (try others). No peer to ask, a lost connection and our own
    /// session problems are local and transient; a sink's error keeps its own class.
    fn fault(&self) -> FaultClass {
        match self {
            Self::Invalid(e) => e.fault(),
            Self::Session(e) => e.fault(),
            Self::Unavailable { .. } => FaultClass::Peer,
            Self::NoPeers(_) => FaultClass::Local,
            Self::Sink(e) => e.fault(),
        }
    }
}

/// Something that answers header/body/receipt requests, tagging each answer with where it
/// came from so that invalid data can be reported.
pub trait Requester: Sync {
    /// Identifies the peer that answered.
    type Tag: Copy + Send + Sync + std::fmt::Debug;

    /// Up to `count` consecutive headers starting at `start`.
    fn headers(
        &self,
        start: u64,
        count: u64,
    ) -> impl Future<Output = Result<(Self::Tag, Vec<Bytes>), FetchError>> + Send;

    /// Bodies for `hashes` (a prefix of them is a valid answer).
    fn bodies(
        &self,
        hashes: Vec<B256>,
    ) -> impl Future<Output = Result<(Self::Tag, Vec<Bytes>), FetchError>> + Send;

    /// Receipts (consensus encodings) for `hashes` (a prefix is a valid answer). `limits[i]`
    /// bounds block `i`'s list (from its header): an eth/70 peer's partial lists are checked
    /// against them while they are reassembled in the session (see [`crate::receipts`]).
    fn receipts(
        &self,
        hashes: Vec<B256>,
        limits: Vec<ReceiptLimits>,
    ) -> impl Future<Output = Result<(Self::Tag, Vec<Vec<Bytes>>), FetchError>> + Send;

    /// Data from `tag` failed a check. Return `true` to retry (with another peer), `false` to
    /// abort the download with the error.
    fn invalid(&self, tag: Self::Tag, error: &VerifyError) -> bool;

    /// Data from `tag` may be wrong (e.g. two peers' header chunks do not link, and it is not
    /// known which one lied). Return `true` to retry.
    fn suspicious(&self, tag: Self::Tag, error: &VerifyError) -> bool {
        self.invalid(tag, error)
    }

    /// An empty answer from `tag` (the peer lacks the data). Return `true` to retry.
    fn empty(&self, tag: Self::Tag) -> bool;
}

/// Download tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchConfig {
    /// Headers per request (≤ 1024).
    pub headers_per_request: u64,
    /// Bodies per request.
    pub bodies_per_request: usize,
    /// Block receipt lists per request.
    pub receipts_per_request: usize,
    /// Requests in flight per phase.
    pub in_flight: usize,
    /// Blocks processed per window (bounds memory).
    pub window: u64,
    /// Whether to download receipts.
    pub receipts: bool,
    /// Attempts per item before giving up on empty answers.
    pub max_attempts: usize,
    /// Bor chains: a block's receipt list may end with a state-sync receipt that its receipts
    /// root does not cover (Bor's eth/69 answers append it before Madhugiri, marked by a
    /// cumulative gas of 0 or equal to the previous receipt's). When the whole list does not
    /// match the root, such a trailing receipt is set aside and the rest must match; only what
    /// the root covers is kept. From Madhugiri on the state-sync receipt is in the root and the
    /// whole list matches as it is. Set with [`FetchConfig::for_chain`].
    pub bor_state_sync_receipts: bool,
}

impl FetchConfig {
    /// Defaults for `spec` (Bor's state-sync receipts on Bor chains).
    pub fn for_chain(spec: &hypasis_primitives::ChainSpec) -> Self {
        Self {
            bor_state_sync_receipts: spec.is_bor(),
            ..Self::default()
        }
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            headers_per_request: 512,
            bodies_per_request: 128,
            receipts_per_request: 128,
            in_flight: 4,
            window: 4096,
            receipts: true,
            max_attempts: 5,
            bor_state_sync_receipts: false,
        }
    }
}

/// A downloaded, checked block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBlock {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Header RLP.
    pub header: Bytes,
    /// Body RLP `[txs, uncles(, withdrawals)]`.
    pub body: Bytes,
    /// Receipts in consensus encoding (empty if receipts were not downloaded).
    pub receipts: Vec<Bytes>,
}

/// Progress increments reported while downloading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Headers received and checked.
    pub headers: u64,
    /// Bodies received and checked (including empty bodies not requested).
    pub bodies: u64,
    /// Receipt lists received and checked.
    pub receipts: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Blocks completed (written out).
    pub blocks: u64,
}

/// Downloads blocks `from..=to`, calling `sink` with complete, checked blocks in order (one
/// call per window) and `progress` with increments.
pub async fn fetch_range<R, S, P>(
    requester: &R,
    from: u64,
    to: u64,
    config: FetchConfig,
    mut sink: S,
    progress: P,
) -> Result<(), FetchError>
where
    R: Requester,
    S: FnMut(Vec<FetchedBlock>) -> Result<(), FetchError>,
    P: Fn(Progress) + Sync,
{
    let mut parent: Option<B256> = None;
    let mut start = from;
    let window = config.window.max(1);
    while start <= to {
        let end = start.saturating_add(window - 1).min(to);
        let headers = fetch_headers(requester, start, end, parent, &config, &progress).await?;
        parent = headers.last().map(|h| h.hash);
        let (bodies, receipts) = futures::future::try_join(
            fetch_bodies(requester, &headers, &config, &progress),
            async {
                if config.receipts {
                    fetch_receipts(requester, &headers, &config, &progress).await
                } else {
                    Ok(vec![Vec::new(); headers.len()])
                }
            },
        )
        .await?;
        let blocks: Vec<FetchedBlock> = headers
            .into_iter()
            .zip(bodies)
            .zip(receipts)
            .map(|((h, body), receipts)| FetchedBlock {
                number: h.number(),
                hash: h.hash,
                header: h.raw,
                body,
                receipts,
            })
            .collect();
        let n = blocks.len() as u64;
        sink(blocks)?;
        progress(Progress {
            blocks: n,
            ..Default::default()
        });
        match end.checked_add(1) {
            Some(next) => start = next,
            None => break,
        }
    }
    Ok(())
}

async fn fetch_headers<R: Requester, P: Fn(Progress) + Sync>(
    requester: &R,
    from: u64,
    to: u64,
    parent: Option<B256>,
    config: &FetchConfig,
    progress: &P,
) -> Result<Vec<CheckedHeader>, FetchError> {
    let per = config.headers_per_request.clamp(1, 1024);
    let mut chunks = Vec::new();
    let mut s = from;
    loop {
        let e = s.saturating_add(per - 1).min(to);
        chunks.push((s, e));
        if e >= to {
            break;
        }
        s = e + 1;
    }
    loop {
        let results: Vec<HeaderChunk<R::Tag>> = stream::iter(chunks.iter().copied())
            .map(|(s, e)| header_chunk(requester, s, e, config, progress))
            .buffered(config.in_flight.max(1))
            .collect()
            .await;
        let mut all = Vec::with_capacity((to - from + 1) as usize);
        let mut tags = Vec::new();
        for r in results {
            let (hs, t) = r?;
            tags.push(t);
            all.push(hs);
        }
        // Check links across chunk boundaries (and to the previous window).
        let mut prev = parent;
        let mut broken = None;
        for (i, chunk) in all.iter().enumerate() {
            if let (Some(p), Some(first)) = (prev, chunk.first())
                && first.header.parent_hash != p
            {
                broken = Some((i, p, first.header.parent_hash, first.number()));
                break;
            }
            prev = chunk.last().map(|h| h.hash);
        }
        match broken {
            None => return Ok(all.into_iter().flatten().collect()),
            Some((i, expected, got, number)) => {
                let err = VerifyError::BrokenLink {
                    number,
                    expected,
                    got,
                };
                // We cannot tell which side lied: report both and fetch both again.
                let mut retry = true;
                for t in tags[i]
                    .iter()
                    .chain(i.checked_sub(1).map_or(&[][..], |j| &tags[j]))
                {
                    retry &= requester.suspicious(*t, &err);
                }
                if !retry {
                    return Err(err.into());
                }
            }
        }
    }
}

/// A checked chunk of headers and the peers that supplied it.
type HeaderChunk<T> = Result<(Vec<CheckedHeader>, Vec<T>), FetchError>;
/// Receipt lists by header index.
async fn header_chunk<R: Requester, P: Fn(Progress) + Sync>(
    requester: &R,
    from: u64,
    to: u64,
    config: &FetchConfig,
    progress: &P,
) -> HeaderChunk<R::Tag> {
    let mut out: Vec<CheckedHeader> = Vec::with_capacity((to - from + 1) as usize);
    let mut tags = Vec::new();
    let mut empty = 0;
    while (out.len() as u64) < to - from + 1 {
        let next = from + out.len() as u64;
        let (tag, raw) = requester.headers(next, to - next + 1).await?;
        if raw.is_empty() {
            empty += 1;
            if !requester.empty(tag) || empty >= config.max_attempts {
                return Err(FetchError::Unavailable {
                    what: "headers",
                    number: next,
                });
            }
            continue;
        }
        let parent = out.last().map(|h| h.hash);
        let bytes: usize = raw.iter().map(|h| h.len()).sum();
        match check_header_chain(next, parent, &raw) {
            Ok(hs) => {
                progress(Progress {
                    headers: hs.len() as u64,
                    bytes: bytes as u64,
                    ..Default::default()
                });
                tags.push(tag);
                out.extend(hs);
            }
            Err(e) => {
                if !requester.invalid(tag, &e) {
                    return Err(e.into());
                }
            }
        }
    }
    Ok((out, tags))
}

fn empty_body(h: &CheckedHeader) -> Option<Bytes> {
    let hd = &h.header;
    if hd.transactions_root != EMPTY_ROOT_HASH || hd.ommers_hash != EMPTY_OMMER_ROOT_HASH {
        return None;
    }
    match hd.withdrawals_root {
        None => Some(Bytes::from(wrap_list(&[0xc0, 0xc0]))),
        Some(r) if r == EMPTY_ROOT_HASH => Some(Bytes::from(wrap_list(&[0xc0, 0xc0, 0xc0]))),
        Some(_) => None,
    }
}

/// One kind of per-block data fetched by hash after the headers (bodies, receipt lists): how
/// it is asked for, which blocks need no request, and how an answer is checked.
trait PerBlock<R: Requester> {
    /// One block's item.
    type Item: Send + Default;
    /// For errors and logs.
    const WHAT: &'static str;
    /// Blocks per request.
    fn per_request(config: &FetchConfig) -> usize;
    /// The item when the header alone fixes it (an empty body or receipt list).
    fn known(header: &CheckedHeader) -> Option<Self::Item>;
    /// Asks for the items of `headers[i]` for every `i` in `idx` (a prefix is a valid answer).
    fn request<'a>(
        requester: &'a R,
        headers: &[CheckedHeader],
        idx: &[usize],
    ) -> impl Future<Output = Result<(R::Tag, Vec<Self::Item>), FetchError>> + Send + 'a;
    /// Checks one answered item against its header; returns what is kept and its size.
    fn check(
        config: &FetchConfig,
        header: &CheckedHeader,
        item: Self::Item,
    ) -> Result<(Self::Item, u64), VerifyError>;
    /// Progress of `items` more blocks and `bytes`.
    fn progress(items: u64, bytes: u64) -> Progress;
}

/// Bodies, checked against the transactions, ommers and withdrawals roots.
struct Bodies;

impl<R: Requester> PerBlock<R> for Bodies {
    type Item = Bytes;
    const WHAT: &'static str = "bodies";
    fn per_request(config: &FetchConfig) -> usize {
        config.bodies_per_request
    }
    fn known(header: &CheckedHeader) -> Option<Bytes> {
        empty_body(header)
    }
    fn request<'a>(
        requester: &'a R,
        headers: &[CheckedHeader],
        idx: &[usize],
    ) -> impl Future<Output = Result<(R::Tag, Vec<Bytes>), FetchError>> + Send + 'a {
        requester.bodies(idx.iter().map(|i| headers[*i].hash).collect())
    }
    fn check(
        _config: &FetchConfig,
        header: &CheckedHeader,
        body: Bytes,
    ) -> Result<(Bytes, u64), VerifyError> {
        check_body(&header.header, &body)?;
        let n = body.len() as u64;
        Ok((body, n))
    }
    fn progress(items: u64, bytes: u64) -> Progress {
        Progress {
            bodies: items,
            bytes,
            ..Default::default()
        }
    }
}

/// Receipt lists, checked against the receipts root (on Bor chains without an uncovered
/// trailing state-sync receipt).
struct Receipts;

impl<R: Requester> PerBlock<R> for Receipts {
    type Item = Vec<Bytes>;
    const WHAT: &'static str = "receipts";
    fn per_request(config: &FetchConfig) -> usize {
        config.receipts_per_request
    }
    fn known(header: &CheckedHeader) -> Option<Vec<Bytes>> {
        (header.header.receipts_root == EMPTY_ROOT_HASH).then(Vec::new)
    }
    fn request<'a>(
        requester: &'a R,
        headers: &[CheckedHeader],
        idx: &[usize],
    ) -> impl Future<Output = Result<(R::Tag, Vec<Vec<Bytes>>), FetchError>> + Send + 'a {
        let hashes = idx.iter().map(|i| headers[*i].hash).collect();
        // The transaction counts are not known here (bodies are fetched alongside), so
        // partial lists are bounded by the header's gas used.
        let limits = idx
            .iter()
            .map(|i| ReceiptLimits::from_header(&headers[*i].header))
            .collect();
        requester.receipts(hashes, limits)
    }
    fn check(
        config: &FetchConfig,
        header: &CheckedHeader,
        list: Vec<Bytes>,
    ) -> Result<(Vec<Bytes>, u64), VerifyError> {
        let list = if config.bor_state_sync_receipts {
            without_uncovered_state_sync_receipt(&header.header, list)
        } else {
            list
        };
        check_receipts(&header.header, &list)?;
        let n = list.iter().map(|r| r.len() as u64).sum::<u64>();
        Ok((list, n))
    }
    fn progress(items: u64, bytes: u64) -> Progress {
        Progress {
            receipts: items,
            bytes,
            ..Default::default()
        }
    }
}

async fn fetch_bodies<R: Requester, P: Fn(Progress) + Sync>(
    requester: &R,
    headers: &[CheckedHeader],
    config: &FetchConfig,
    progress: &P,
) -> Result<Vec<Bytes>, FetchError> {
    fetch_per_block::<Bodies, R, P>(requester, headers, config, progress).await
}

async fn fetch_receipts<R: Requester, P: Fn(Progress) + Sync>(
    requester: &R,
    headers: &[CheckedHeader],
    config: &FetchConfig,
    progress: &P,
) -> Result<Vec<Vec<Bytes>>, FetchError> {
    fetch_per_block::<Receipts, R, P>(requester, headers, config, progress).await
}

/// One chunk's checked items, by index into the headers.
type Indexed<T> = Result<Vec<(usize, T)>, FetchError>;

/// Fetches `K`'s item of every header: the blocks the header alone fixes are not asked for;
/// the rest in chunks of `K::per_request`, `config.in_flight` at a time, each chunk completed
/// (partial answers re-requested) and checked. A peer's whole answer is dropped when one item
/// in it is invalid; empty answers are retried up to `config.max_attempts` times.
async fn fetch_per_block<K, R, P>(
    requester: &R,
    headers: &[CheckedHeader],
    config: &FetchConfig,
    progress: &P,
) -> Result<Vec<K::Item>, FetchError>
where
    K: PerBlock<R>,
    R: Requester,
    P: Fn(Progress) + Sync,
{
    let mut out: Vec<Option<K::Item>> = headers.iter().map(K::known).collect();
    let skipped = out.iter().filter(|b| b.is_some()).count();
    if skipped > 0 {
        progress(K::progress(skipped as u64, 0));
    }
    let wanted: Vec<usize> = (0..headers.len()).filter(|i| out[*i].is_none()).collect();
    let per = K::per_request(config).max(1);
    let results: Vec<Indexed<K::Item>> = stream::iter(wanted.chunks(per))
        .map(|idx| async move {
            let mut got = Vec::with_capacity(idx.len());
            let mut empty = 0;
            while got.len() < idx.len() {
                let rest = &idx[got.len()..];
                let (tag, items) = K::request(requester, headers, rest).await?;
                if items.is_empty() {
                    empty += 1;
                    if !requester.empty(tag) || empty >= config.max_attempts {
                        return Err(FetchError::Unavailable {
                            what: K::WHAT,
                            number: headers[rest[0]].number(),
                        });
                    }
                    continue;
                }
                let mut bytes = 0u64;
                let mut checked = Vec::with_capacity(items.len());
                let mut failure = None;
                for (i, item) in rest.iter().zip(items) {
                    match K::check(config, &headers[*i], item) {
                        Ok((item, n)) => {
                            bytes += n;
                            checked.push((*i, item));
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failure {
                    // Drop the whole answer of a peer that sent invalid data.
                    if !requester.invalid(tag, &e) {
                        return Err(e.into());
                    }
                    continue;
                }
                progress(K::progress(checked.len() as u64, bytes));
                got.extend(checked);
            }
            Ok(got)
        })
        .buffer_unordered(config.in_flight.max(1))
        .collect()
        .await;
    for r in results {
        for (i, item) in r? {
            out[i] = Some(item);
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// Drops a trailing Bor state-sync receipt (cumulative gas 0, or equal to the previous
/// receipt's) when the list does not match the header's receipts root but the list without it
/// does; otherwise returns the list unchanged (and the root check refuses it if it is wrong).
fn without_uncovered_state_sync_receipt(
    header: &alloy_consensus::Header,
    mut list: Vec<Bytes>,
) -> Vec<Bytes> {
    let gas = |r: &Bytes| crate::eth::receipt_cumulative_gas(r);
    let Some(last) = list.last().map(gas) else {
        return list;
    };
    let previous = list.len().checked_sub(2).map(|i| gas(&list[i]));
    let gasless = match (last, previous) {
        (Ok(0), _) => true,
        (Ok(g), Some(Ok(p))) => g == p,
        _ => false,
    };
    if gasless
        && check_receipts(header, &list).is_err()
        && check_receipts(header, &list[..list.len() - 1]).is_ok()
    {
        list.pop();
    }
    list
}

/// A single session as a [`Requester`]: any invalid or missing data aborts the download.
impl Requester for SessionHandle {
    type Tag = ();

    async fn headers(&self, start: u64, count: u64) -> Result<((), Vec<Bytes>), FetchError> {
        let req = GetBlockHeaders {
            origin: BlockId::Number(start),
            amount: count,
            skip: 0,
            reverse: false,
        };
        Ok(((), self.get_block_headers(req).await?))
    }

    async fn bodies(&self, hashes: Vec<B256>) -> Result<((), Vec<Bytes>), FetchError> {
        Ok(((), self.get_block_bodies(hashes).await?))
    }

    async fn receipts(
        &self,
        hashes: Vec<B256>,
        limits: Vec<ReceiptLimits>,
    ) -> Result<((), Vec<Vec<Bytes>>), FetchError> {
        Ok(((), self.get_receipts_with(hashes, limits).await?))
    }

    fn invalid(&self, _tag: (), _error: &VerifyError) -> bool {
        false
    }

    fn empty(&self, _tag: ()) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bloom;
    use alloy_rlp::Encodable;
    use alloy_trie::root::ordered_trie_root_encoded;

    /// A legacy consensus receipt `rlp([status, cumulativeGas, bloom, logs])`.
    fn receipt(cumulative_gas: u64) -> Bytes {
        let mut p = Vec::new();
        1u8.encode(&mut p);
        cumulative_gas.encode(&mut p);
        Bloom::ZERO.encode(&mut p);
        p.extend_from_slice(&wrap_list(&[]));
        Bytes::from(wrap_list(&p))
    }

    fn header_for(list: &[Bytes]) -> alloy_consensus::Header {
        alloy_consensus::Header {
            receipts_root: ordered_trie_root_encoded(list),
            ..Default::default()
        }
    }

    #[test]
    fn fetch_errors_are_classified() {
        let invalid = FetchError::Invalid(VerifyError::WrongNumber {
            expected: 1,
            got: 2,
        });
        assert_eq!(invalid.fault(), FaultClass::Peer);
        let missing = FetchError::Unavailable {
            what: "bodies",
            number: 7,
        };
        assert_eq!(missing.fault(), FaultClass::Peer);
        assert_eq!(
            FetchError::NoPeers("none".into()).fault(),
            FaultClass::Local
        );
        assert_eq!(
            FetchError::Session(SessionError::RequestTimeout).fault(),
            FaultClass::Peer
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            FetchError::Session(SessionError::Io(reset)).fault(),
            FaultClass::Local
        );
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(FetchError::sink(denied).fault(), FaultClass::Fatal);
    }

    #[test]
    fn bor_state_sync_receipt_outside_the_root_is_set_aside() {
        let covered = vec![receipt(21_000), receipt(50_000)];
        let header = header_for(&covered);
        // Pre-Madhugiri Bor eth/69: the state-sync receipt comes last with gas 0 or repeated.
        for extra in [receipt(0), receipt(50_000)] {
            let mut sent = covered.clone();
            sent.push(extra);
            assert!(check_receipts(&header, &sent).is_err());
            let kept = without_uncovered_state_sync_receipt(&header, sent);
            assert_eq!(kept, covered);
            assert!(check_receipts(&header, &kept).is_ok());
        }
    }

    #[test]
    fn lists_the_root_covers_or_other_extras_are_left_alone() {
        // From Madhugiri the state-sync receipt (repeated gas) is in the root: kept.
        let full = vec![receipt(21_000), receipt(50_000), receipt(50_000)];
        let header = header_for(&full);
        assert_eq!(
            without_uncovered_state_sync_receipt(&header, full.clone()),
            full
        );
        // An extra receipt that uses gas is not a state-sync receipt: left for the root check
        // to refuse.
        let covered = vec![receipt(21_000)];
        let header = header_for(&covered);
        let sent = vec![receipt(21_000), receipt(42_000)];
        let kept = without_uncovered_state_sync_receipt(&header, sent.clone());
        assert_eq!(kept, sent);
        assert!(check_receipts(&header, &kept).is_err());
        // Garbage never panics.
        let junk = vec![Bytes::from_static(&[0xff, 0x00])];
        assert_eq!(
            without_uncovered_state_sync_receipt(&header, junk.clone()),
            junk
        );
    }
}

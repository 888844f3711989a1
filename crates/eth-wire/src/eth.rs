//! `eth` wire protocol messages for eth/68, eth/69 and eth/70 (`caps/eth.md`, EIP-2481,
//! EIP-7642, EIP-7975), in the standard dialect and in Bor's (see [`Dialect`]).
//!
//! Headers, bodies and blocks are kept as raw RLP slices of the received message
//! ([`alloy_primitives::Bytes`] sharing the message buffer): the store keeps canonical RLP and
//! nothing is re-encoded. Receipts are exposed in *consensus* encoding (the EIP-2718 envelope
//! that goes into the receipts trie) for both versions; for eth/69 this requires recomputing
//! the bloom filter, see [`eth69_receipt_to_consensus`].

use alloy_primitives::{B256, Bloom, BloomInput, Bytes, U256};
use alloy_rlp::{Encodable, Header};

pub use alloy_eips::eip2124::{
    ForkFilter, ForkHash, ForkId, ValidationError as ForkValidationError,
};

use hypasis_primitives::rlp::{Items, decode_exact, list_payload, wrap_list};
use hypasis_rlpx::p2p::{Capability, MessageError, ProtocolSpec};

/// eth message ids (relative to the capability offset).
pub mod ids {
    /// `Status`.
    pub const STATUS: u64 = 0x00;
    /// `NewBlockHashes`.
    pub const NEW_BLOCK_HASHES: u64 = 0x01;
    /// `Transactions`.
    pub const TRANSACTIONS: u64 = 0x02;
    /// `GetBlockHeaders`.
    pub const GET_BLOCK_HEADERS: u64 = 0x03;
    /// `BlockHeaders`.
    pub const BLOCK_HEADERS: u64 = 0x04;
    /// `GetBlockBodies`.
    pub const GET_BLOCK_BODIES: u64 = 0x05;
    /// `BlockBodies`.
    pub const BLOCK_BODIES: u64 = 0x06;
    /// `NewBlock`.
    pub const NEW_BLOCK: u64 = 0x07;
    /// `NewPooledTransactionHashes`.
    pub const NEW_POOLED_TRANSACTION_HASHES: u64 = 0x08;
    /// `GetPooledTransactions`.
    pub const GET_POOLED_TRANSACTIONS: u64 = 0x09;
    /// `PooledTransactions`.
    pub const POOLED_TRANSACTIONS: u64 = 0x0a;
    /// `GetReceipts`.
    pub const GET_RECEIPTS: u64 = 0x0f;
    /// `Receipts`.
    pub const RECEIPTS: u64 = 0x10;
    /// `BlockRangeUpdate` (eth/69).
    pub const BLOCK_RANGE_UPDATE: u64 = 0x11;
}

/// Supported eth protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EthVersion {
    /// eth/68.
    Eth68,
    /// eth/69 (EIP-7642).
    Eth69,
    /// eth/70 (EIP-7975: partial receipts; otherwise eth/69).
    Eth70,
}

impl EthVersion {
    /// The numeric version.
    pub fn number(self) -> u32 {
        match self {
            Self::Eth68 => 68,
            Self::Eth69 => 69,
            Self::Eth70 => 70,
        }
    }

    /// Parses a numeric version.
    pub fn from_number(v: u32) -> Option<Self> {
        match v {
            68 => Some(Self::Eth68),
            69 => Some(Self::Eth69),
            70 => Some(Self::Eth70),
            _ => None,
        }
    }

    /// Number of message ids used by this version.
    pub fn message_count(self) -> u64 {
        match self {
            Self::Eth68 => 17,
            // eth/70 adds no message id (EIP-7975; geth's protocolLengths: 70 -> 18).
            Self::Eth69 | Self::Eth70 => 18,
        }
    }

    /// Whether this version has eth/69's `Status` / `BlockRangeUpdate` / bloomless receipts.
    pub fn has_block_range(self) -> bool {
        self >= Self::Eth69
    }

    /// Whether `GetReceipts` / `Receipts` carry EIP-7975's partial-receipt fields.
    pub fn has_partial_receipts(self) -> bool {
        self >= Self::Eth70
    }

    /// The `eth/N` capability.
    pub fn capability(self) -> Capability {
        Capability::new("eth", self.number())
    }

    /// The capability with its message count, for `Hello` negotiation.
    pub fn spec(self) -> ProtocolSpec {
        ProtocolSpec {
            capability: self.capability(),
            message_count: self.message_count(),
        }
    }
}

pub use hypasis_rlpx::p2p::Dialect;

/// What decides a message's byte layout on a session: the negotiated version and the chain's
/// dialect. `From<EthVersion>` gives the standard dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wire {
    /// Negotiated eth version.
    pub version: EthVersion,
    /// The chain's dialect.
    pub dialect: Dialect,
}

impl Wire {
    /// Every supported (version, dialect) pair (for fuzzing and tests).
    pub const ALL: [Wire; 6] = [
        Wire::new(EthVersion::Eth68, Dialect::Standard),
        Wire::new(EthVersion::Eth69, Dialect::Standard),
        Wire::new(EthVersion::Eth70, Dialect::Standard),
        Wire::new(EthVersion::Eth68, Dialect::Bor),
        Wire::new(EthVersion::Eth69, Dialect::Bor),
        Wire::new(EthVersion::Eth70, Dialect::Bor),
    ];

    /// `version` in `dialect`.
    pub const fn new(version: EthVersion, dialect: Dialect) -> Self {
        Self { version, dialect }
    }
}

impl From<EthVersion> for Wire {
    fn from(version: EthVersion) -> Self {
        Self::new(version, Dialect::Standard)
    }
}

/// eth/68 `Status`: `[version, networkid, td, blockhash, genesis, forkid]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status68 {
    /// Protocol version (68).
    pub version: u32,
    /// Network id.
    pub network_id: u64,
    /// Total difficulty of the head block.
    pub total_difficulty: U256,
    /// Head block hash.
    pub head_hash: B256,
    /// Genesis hash.
    pub genesis: B256,
    /// EIP-2124 fork id.
    pub fork_id: ForkId,
}

/// eth/69 and eth/70 `Status`: EIP-7642's
/// `[version, networkid, genesis, forkid, earliestBlock, latestBlock, latestBlockHash]`, or
/// Bor's `[version, networkid, td, genesis, forkid, earliestBlock, latestBlock,
/// latestBlockHash]` (see [`Dialect::Bor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status69 {
    /// Protocol version (69 or 70).
    pub version: u32,
    /// Network id.
    pub network_id: u64,
    /// Total difficulty of the head: `Some` exactly in Bor's dialect.
    pub total_difficulty: Option<U256>,
    /// Genesis hash.
    pub genesis: B256,
    /// EIP-2124 fork id.
    pub fork_id: ForkId,
    /// Earliest block served.
    pub earliest_block: u64,
    /// Latest block.
    pub latest_block: u64,
    /// Hash of the latest block.
    pub latest_hash: B256,
}

/// A version-specific `Status` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// eth/68 status.
    Eth68(Status68),
    /// eth/69 status.
    Eth69(Status69),
}

impl Status {
    /// The announced protocol version.
    pub fn version(&self) -> u32 {
        match self {
            Self::Eth68(s) => s.version,
            Self::Eth69(s) => s.version,
        }
    }

    /// The network id.
    pub fn network_id(&self) -> u64 {
        match self {
            Self::Eth68(s) => s.network_id,
            Self::Eth69(s) => s.network_id,
        }
    }

    /// The genesis hash.
    pub fn genesis(&self) -> B256 {
        match self {
            Self::Eth68(s) => s.genesis,
            Self::Eth69(s) => s.genesis,
        }
    }

    /// The fork id.
    pub fn fork_id(&self) -> ForkId {
        match self {
            Self::Eth68(s) => s.fork_id,
            Self::Eth69(s) => s.fork_id,
        }
    }

    /// The served block range (eth/69 only).
    pub fn block_range(&self) -> Option<BlockRangeUpdate> {
        match self {
            Self::Eth68(_) => None,
            Self::Eth69(s) => Some(BlockRangeUpdate {
                earliest: s.earliest_block,
                latest: s.latest_block,
                latest_hash: s.latest_hash,
            }),
        }
    }

    /// The dialect this status is laid out in (eth/68's is the same in both; reported as
    /// standard).
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Eth69(s) if s.total_difficulty.is_some() => Dialect::Bor,
            _ => Dialect::Standard,
        }
    }

    fn encode(&self, dialect: Dialect) -> Result<Vec<u8>, EncodeError> {
        let mut p = Vec::with_capacity(160);
        match self {
            Self::Eth68(s) => {
                s.version.encode(&mut p);
                s.network_id.encode(&mut p);
                s.total_difficulty.encode(&mut p);
                s.head_hash.encode(&mut p);
                s.genesis.encode(&mut p);
                s.fork_id.encode(&mut p);
            }
            Self::Eth69(s) => {
                s.version.encode(&mut p);
                s.network_id.encode(&mut p);
                match (dialect, s.total_difficulty) {
                    (Dialect::Bor, Some(td)) => td.encode(&mut p),
                    (Dialect::Standard, None) => {}
                    (d, _) => {
                        return Err(EncodeError {
                            message: "Status",
                            reason: format!(
                                "a {} Status cannot be sent on a {d} session",
                                self.dialect()
                            ),
                        });
                    }
                }
                s.genesis.encode(&mut p);
                s.fork_id.encode(&mut p);
                s.earliest_block.encode(&mut p);
                s.latest_block.encode(&mut p);
                s.latest_hash.encode(&mut p);
            }
        }
        Ok(wrap_list(&p))
    }

    /// Decodes the eth/69+ layout of `dialect` (no fallback).
    fn decode69(payload: &[u8], dialect: Dialect) -> alloy_rlp::Result<Status69> {
        let mut buf = payload;
        // Extra trailing list elements are ignored for forward compatibility.
        let mut it = Items::new(list_payload(&mut buf)?);
        Ok(Status69 {
            version: it.require()?,
            network_id: it.require()?,
            total_difficulty: match dialect {
                Dialect::Bor => Some(it.require()?),
                Dialect::Standard => None,
            },
            genesis: it.require()?,
            fork_id: it.require()?,
            earliest_block: it.require()?,
            latest_block: it.require()?,
            latest_hash: it.require()?,
        })
    }

    fn decode(payload: &[u8], wire: Wire) -> Result<Self, MessageError> {
        if !wire.version.has_block_range() {
            let mut buf = payload;
            let mut it = Items::new(list_payload(&mut buf).map_err(MessageError::rlp("Status"))?);
            let s = (|| {
                Ok::<_, alloy_rlp::Error>(Status68 {
                    version: it.require()?,
                    network_id: it.require()?,
                    total_difficulty: it.require()?,
                    head_hash: it.require()?,
                    genesis: it.require()?,
                    fork_id: it.require()?,
                })
            })()
            .map_err(MessageError::rlp("Status"))?;
            return Ok(Self::Eth68(s));
        }
        match Self::decode69(payload, wire.dialect) {
            Ok(s) => Ok(Self::Eth69(s)),
            Err(error) => {
                // Strict per dialect; but name the mismatch when the other layout fits.
                let other = match wire.dialect {
                    Dialect::Standard => Dialect::Bor,
                    Dialect::Bor => Dialect::Standard,
                };
                if Self::decode69(payload, other).is_ok() {
                    Err(MessageError::StatusDialect {
                        expected: wire.dialect,
                        found: other,
                    })
                } else {
                    Err(MessageError::Rlp {
                        message: "Status",
                        error,
                    })
                }
            }
        }
    }
}

/// eth/69 `BlockRangeUpdate`: `[earliestBlock, latestBlock, latestBlockHash]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRangeUpdate {
    /// Earliest block available.
    pub earliest: u64,
    /// Latest block available.
    pub latest: u64,
    /// Hash of the latest block.
    pub latest_hash: B256,
}

/// Origin of a header request: a block number or hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    /// By number.
    Number(u64),
    /// By hash.
    Hash(B256),
}

/// `GetBlockHeaders` request body: `[origin, amount, skip, reverse]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetBlockHeaders {
    /// First block.
    pub origin: BlockId,
    /// Maximum number of headers.
    pub amount: u64,
    /// Blocks to skip between consecutive headers.
    pub skip: u64,
    /// Descending order if true.
    pub reverse: bool,
}

/// A `NewBlockHashes` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHashNumber {
    /// Block hash.
    pub hash: B256,
    /// Block number.
    pub number: u64,
}

/// `NewBlock`: `[block, td]` with the block kept as raw RLP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// Raw RLP of `[header, transactions, uncles, ...]`.
    pub block: Bytes,
    /// Total difficulty.
    pub total_difficulty: U256,
}

/// A decoded eth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthMessage {
    /// `Status` (0x00).
    Status(Status),
    /// `NewBlockHashes` (0x01).
    NewBlockHashes(Vec<BlockHashNumber>),
    /// `Transactions` (0x02); content is not decoded.
    Transactions,
    /// `GetBlockHeaders` (0x03).
    GetBlockHeaders {
        /// Request id.
        request_id: u64,
        /// Request.
        request: GetBlockHeaders,
    },
    /// `BlockHeaders` (0x04): raw header RLP.
    BlockHeaders {
        /// Request id.
        request_id: u64,
        /// Raw RLP headers.
        headers: Vec<Bytes>,
    },
    /// `GetBlockBodies` (0x05).
    GetBlockBodies {
        /// Request id.
        request_id: u64,
        /// Block hashes.
        hashes: Vec<B256>,
    },
    /// `BlockBodies` (0x06): raw body RLP (`[txs, uncles, ...]`).
    BlockBodies {
        /// Request id.
        request_id: u64,
        /// Raw RLP bodies.
        bodies: Vec<Bytes>,
    },
    /// `NewBlock` (0x07).
    NewBlock(NewBlock),
    /// `NewPooledTransactionHashes` (0x08); content is not decoded.
    NewPooledTransactionHashes,
    /// `GetPooledTransactions` (0x09); only the request id is decoded.
    GetPooledTransactions {
        /// Request id.
        request_id: u64,
    },
    /// `PooledTransactions` (0x0a); only the request id is decoded.
    PooledTransactions {
        /// Request id.
        request_id: u64,
    },
    /// `GetReceipts` (0x0f).
    GetReceipts {
        /// Request id.
        request_id: u64,
        /// eth/70 (EIP-7975) `firstBlockReceiptIndex`: receipts of the first block before this
        /// index are omitted from the answer. Always 0 before eth/70.
        first_block_receipt_index: u64,
        /// Block hashes.
        hashes: Vec<B256>,
    },
    /// `Receipts` (0x10): per block, receipts in consensus (EIP-2718 envelope) encoding.
    Receipts {
        /// Request id.
        request_id: u64,
        /// eth/70 (EIP-7975) `lastBlockIncomplete`: the last list misses its tail. Always
        /// false before eth/70.
        last_block_incomplete: bool,
        /// Receipts per block.
        receipts: Vec<Vec<Bytes>>,
    },
    /// `BlockRangeUpdate` (0x11, eth/69).
    BlockRangeUpdate(BlockRangeUpdate),
    /// A message id this implementation does not know; ignored.
    Unknown {
        /// Capability-relative message id.
        id: u64,
    },
}

/// Errors encoding a message from *local* data (e.g. a malformed stored receipt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {message}: {reason}")]
pub struct EncodeError {
    /// Message name.
    pub message: &'static str,
    /// What is wrong with the local data.
    pub reason: String,
}

fn share(parent: &bytes::Bytes, sub: &[u8]) -> Bytes {
    Bytes::from(hypasis_primitives::rlp::share(parent, sub))
}

fn raw_items_shared(parent: &bytes::Bytes, payload: &[u8]) -> alloy_rlp::Result<Vec<Bytes>> {
    let mut it = Items::new(payload);
    let mut out = Vec::new();
    while let Some(raw) = it.next_raw()? {
        out.push(share(parent, raw));
    }
    Ok(out)
}

fn hashes(payload: &[u8]) -> alloy_rlp::Result<Vec<B256>> {
    let mut it = Items::new(payload);
    let mut out = Vec::new();
    while let Some(raw) = it.next_raw()? {
        out.push(decode_exact::<B256>(raw)?);
    }
    Ok(out)
}

fn encode_hashes(request_id: u64, hashes: &[B256]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(hashes.len() * 33);
    for h in hashes {
        h.encode(&mut inner);
    }
    let mut p = Vec::with_capacity(inner.len() + 12);
    request_id.encode(&mut p);
    p.extend_from_slice(&wrap_list(&inner));
    wrap_list(&p)
}

fn encode_raw_list(request_id: u64, items: &[Bytes]) -> Vec<u8> {
    let inner: Vec<u8> = items.iter().flat_map(|b| b.iter().copied()).collect();
    let mut p = Vec::with_capacity(inner.len() + 12);
    request_id.encode(&mut p);
    p.extend_from_slice(&wrap_list(&inner));
    wrap_list(&p)
}

/// Splits eth/70's `[request-id, n, [items...]]` into the id, `n` and the list payload.
fn request_triple(payload: &[u8]) -> alloy_rlp::Result<(u64, u64, &[u8])> {
    let mut buf = payload;
    let mut it = Items::new(list_payload(&mut buf)?);
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let request_id: u64 = it.require()?;
    let n: u64 = it.require()?;
    let mut inner = it.require_raw()?;
    let list = list_payload(&mut inner)?;
    if !it.is_empty() {
        return Err(alloy_rlp::Error::Custom("unexpected extra list elements"));
    }
    Ok((request_id, n, list))
}

/// Wraps `[request-id, n, list]` (eth/70 `GetReceipts` / `Receipts`) with an already wrapped
/// `list`.
fn encode_triple(request_id: u64, n: u64, wrapped_list: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(wrapped_list.len() + 20);
    request_id.encode(&mut p);
    n.encode(&mut p);
    p.extend_from_slice(wrapped_list);
    wrap_list(&p)
}

/// Splits `[request-id, payload-item]` into the id and the raw list payload of the second item.
fn request_pair(payload: &[u8]) -> alloy_rlp::Result<(u64, &[u8])> {
    let mut buf = payload;
    let mut it = Items::new(list_payload(&mut buf)?);
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let request_id: u64 = it.require()?;
    let mut inner = it.require_raw()?;
    let list = list_payload(&mut inner)?;
    if !it.is_empty() {
        return Err(alloy_rlp::Error::Custom("unexpected extra list elements"));
    }
    Ok((request_id, list))
}

fn request_id_only(payload: &[u8]) -> alloy_rlp::Result<u64> {
    let mut buf = payload;
    let mut it = Items::new(list_payload(&mut buf)?);
    it.require()
}

impl EthMessage {
    /// The capability-relative message id.
    pub fn id(&self) -> u64 {
        match self {
            Self::Status(_) => ids::STATUS,
            Self::NewBlockHashes(_) => ids::NEW_BLOCK_HASHES,
            Self::Transactions => ids::TRANSACTIONS,
            Self::GetBlockHeaders { .. } => ids::GET_BLOCK_HEADERS,
            Self::BlockHeaders { .. } => ids::BLOCK_HEADERS,
            Self::GetBlockBodies { .. } => ids::GET_BLOCK_BODIES,
            Self::BlockBodies { .. } => ids::BLOCK_BODIES,
            Self::NewBlock(_) => ids::NEW_BLOCK,
            Self::NewPooledTransactionHashes => ids::NEW_POOLED_TRANSACTION_HASHES,
            Self::GetPooledTransactions { .. } => ids::GET_POOLED_TRANSACTIONS,
            Self::PooledTransactions { .. } => ids::POOLED_TRANSACTIONS,
            Self::GetReceipts { .. } => ids::GET_RECEIPTS,
            Self::Receipts { .. } => ids::RECEIPTS,
            Self::BlockRangeUpdate(_) => ids::BLOCK_RANGE_UPDATE,
            Self::Unknown { id } => *id,
        }
    }

    /// Decodes a message with capability-relative id `id` for the negotiated version and
    /// dialect (an [`EthVersion`] alone means the standard dialect). `payload` is the
    /// decompressed message data; returned raw items share its buffer.
    pub fn decode(
        wire: impl Into<Wire>,
        id: u64,
        payload: &bytes::Bytes,
    ) -> Result<Self, MessageError> {
        let wire = wire.into();
        let version = wire.version;
        let p = &payload[..];
        macro_rules! rlp {
            ($e:expr, $name:literal) => {
                $e.map_err(MessageError::rlp($name))?
            };
        }
        Ok(match id {
            ids::STATUS => Self::Status(Status::decode(p, wire)?),
            ids::NEW_BLOCK_HASHES => {
                let mut buf = p;
                let mut it = Items::new(rlp!(list_payload(&mut buf), "NewBlockHashes"));
                let mut out = Vec::new();
                while let Some(raw) = rlp!(it.next_raw(), "NewBlockHashes") {
                    let mut b = raw;
                    let mut f = Items::new(rlp!(list_payload(&mut b), "NewBlockHashes"));
                    let hash: B256 = rlp!(f.require(), "NewBlockHashes");
                    let number: u64 = rlp!(f.require(), "NewBlockHashes");
                    out.push(BlockHashNumber { hash, number });
                }
                Self::NewBlockHashes(out)
            }
            ids::TRANSACTIONS => {
                let mut buf = p;
                rlp!(list_payload(&mut buf), "Transactions");
                Self::Transactions
            }
            ids::GET_BLOCK_HEADERS => {
                let mut buf = p;
                let mut it = Items::new(rlp!(list_payload(&mut buf), "GetBlockHeaders"));
                let request_id: u64 = rlp!(it.require(), "GetBlockHeaders");
                let mut inner = rlp!(it.require_raw(), "GetBlockHeaders");
                let mut f = Items::new(rlp!(list_payload(&mut inner), "GetBlockHeaders"));
                let origin_raw = rlp!(f.require_raw(), "GetBlockHeaders");
                let mut ob = origin_raw;
                let header = rlp!(Header::decode(&mut ob), "GetBlockHeaders");
                let origin = if !header.list && header.payload_length == 32 {
                    BlockId::Hash(rlp!(decode_exact::<B256>(origin_raw), "GetBlockHeaders"))
                } else {
                    BlockId::Number(rlp!(decode_exact::<u64>(origin_raw), "GetBlockHeaders"))
                };
                let amount: u64 = rlp!(f.require(), "GetBlockHeaders");
                let skip: u64 = rlp!(f.require(), "GetBlockHeaders");
                let reverse: u64 = rlp!(f.require(), "GetBlockHeaders");
                Self::GetBlockHeaders {
                    request_id,
                    request: GetBlockHeaders {
                        origin,
                        amount,
                        skip,
                        reverse: reverse != 0,
                    },
                }
            }
            ids::BLOCK_HEADERS => {
                let (request_id, list) = rlp!(request_pair(p), "BlockHeaders");
                let headers = rlp!(raw_items_shared(payload, list), "BlockHeaders");
                if headers.iter().any(|h| h.first().is_none_or(|b| *b < 0xc0)) {
                    return Err(MessageError::Invalid {
                        message: "BlockHeaders",
                        reason: "header is not a list",
                    });
                }
                Self::BlockHeaders {
                    request_id,
                    headers,
                }
            }
            ids::GET_BLOCK_BODIES => {
                let (request_id, list) = rlp!(request_pair(p), "GetBlockBodies");
                Self::GetBlockBodies {
                    request_id,
                    hashes: rlp!(hashes(list), "GetBlockBodies"),
                }
            }
            ids::BLOCK_BODIES => {
                let (request_id, list) = rlp!(request_pair(p), "BlockBodies");
                let bodies = rlp!(raw_items_shared(payload, list), "BlockBodies");
                if bodies.iter().any(|h| h.first().is_none_or(|b| *b < 0xc0)) {
                    return Err(MessageError::Invalid {
                        message: "BlockBodies",
                        reason: "body is not a list",
                    });
                }
                Self::BlockBodies { request_id, bodies }
            }
            ids::NEW_BLOCK => {
                let mut buf = p;
                let mut it = Items::new(rlp!(list_payload(&mut buf), "NewBlock"));
                let block = rlp!(it.require_raw(), "NewBlock");
                let total_difficulty: U256 = rlp!(it.require(), "NewBlock");
                Self::NewBlock(NewBlock {
                    block: share(payload, block),
                    total_difficulty,
                })
            }
            ids::NEW_POOLED_TRANSACTION_HASHES => {
                let mut buf = p;
                rlp!(list_payload(&mut buf), "NewPooledTransactionHashes");
                Self::NewPooledTransactionHashes
            }
            ids::GET_POOLED_TRANSACTIONS => Self::GetPooledTransactions {
                request_id: rlp!(request_id_only(p), "GetPooledTransactions"),
            },
            ids::POOLED_TRANSACTIONS => Self::PooledTransactions {
                request_id: rlp!(request_id_only(p), "PooledTransactions"),
            },
            ids::GET_RECEIPTS => {
                let (request_id, first_block_receipt_index, list) =
                    if version.has_partial_receipts() {
                        rlp!(request_triple(p), "GetReceipts")
                    } else {
                        let (id, list) = rlp!(request_pair(p), "GetReceipts");
                        (id, 0, list)
                    };
                Self::GetReceipts {
                    request_id,
                    first_block_receipt_index,
                    hashes: rlp!(hashes(list), "GetReceipts"),
                }
            }
            ids::RECEIPTS => {
                let (request_id, flag, list) = if version.has_partial_receipts() {
                    rlp!(request_triple(p), "Receipts")
                } else {
                    let (id, list) = rlp!(request_pair(p), "Receipts");
                    (id, 0, list)
                };
                // EIP-7975 `{0,1}`: a canonical RLP integer that is 0 or 1.
                if flag > 1 {
                    return Err(MessageError::Invalid {
                        message: "Receipts",
                        reason: "lastBlockIncomplete is neither 0 nor 1",
                    });
                }
                let mut blocks = Items::new(list);
                let mut receipts = Vec::new();
                while let Some(block_raw) = rlp!(blocks.next_raw(), "Receipts") {
                    let mut b = block_raw;
                    let mut items = Items::new(rlp!(list_payload(&mut b), "Receipts"));
                    let mut block = Vec::new();
                    while let Some(r) = rlp!(items.next_raw(), "Receipts") {
                        block.push(if version.has_block_range() {
                            Bytes::from(rlp!(eth69_receipt_to_consensus(r), "Receipts"))
                        } else {
                            rlp!(receipt68_to_consensus(payload, r), "Receipts")
                        });
                    }
                    receipts.push(block);
                }
                if flag == 1 && receipts.is_empty() {
                    return Err(MessageError::Invalid {
                        message: "Receipts",
                        reason: "lastBlockIncomplete set on an empty response",
                    });
                }
                Self::Receipts {
                    request_id,
                    last_block_incomplete: flag == 1,
                    receipts,
                }
            }
            ids::BLOCK_RANGE_UPDATE if version.has_block_range() => {
                let mut buf = p;
                let mut it = Items::new(rlp!(list_payload(&mut buf), "BlockRangeUpdate"));
                let update = BlockRangeUpdate {
                    earliest: rlp!(it.require(), "BlockRangeUpdate"),
                    latest: rlp!(it.require(), "BlockRangeUpdate"),
                    latest_hash: rlp!(it.require(), "BlockRangeUpdate"),
                };
                if update.earliest > update.latest {
                    return Err(MessageError::Invalid {
                        message: "BlockRangeUpdate",
                        reason: "earliest block above latest block",
                    });
                }
                Self::BlockRangeUpdate(update)
            }
            other => Self::Unknown { id: other },
        })
    }

    /// Encodes the message for the negotiated version and dialect (an [`EthVersion`] alone
    /// means the standard dialect), returning the capability-relative id and payload.
    pub fn encode(&self, wire: impl Into<Wire>) -> Result<(u64, Vec<u8>), EncodeError> {
        let wire = wire.into();
        let version = wire.version;
        let payload = match self {
            Self::Status(s) => s.encode(wire.dialect)?,
            Self::NewBlockHashes(list) => {
                let mut inner = Vec::new();
                for e in list {
                    let mut f = Vec::with_capacity(42);
                    e.hash.encode(&mut f);
                    e.number.encode(&mut f);
                    inner.extend_from_slice(&wrap_list(&f));
                }
                wrap_list(&inner)
            }
            Self::Transactions | Self::NewPooledTransactionHashes => wrap_list(&[]),
            Self::GetBlockHeaders {
                request_id,
                request,
            } => {
                let mut f = Vec::with_capacity(48);
                match request.origin {
                    BlockId::Number(n) => n.encode(&mut f),
                    BlockId::Hash(h) => h.encode(&mut f),
                }
                request.amount.encode(&mut f);
                request.skip.encode(&mut f);
                u64::from(request.reverse).encode(&mut f);
                let mut p = Vec::with_capacity(64);
                request_id.encode(&mut p);
                p.extend_from_slice(&wrap_list(&f));
                wrap_list(&p)
            }
            Self::BlockHeaders {
                request_id,
                headers,
            } => encode_raw_list(*request_id, headers),
            Self::GetBlockBodies { request_id, hashes } => encode_hashes(*request_id, hashes),
            Self::BlockBodies { request_id, bodies } => encode_raw_list(*request_id, bodies),
            Self::NewBlock(nb) => {
                let mut p = nb.block.to_vec();
                nb.total_difficulty.encode(&mut p);
                wrap_list(&p)
            }
            Self::GetPooledTransactions { request_id }
            | Self::PooledTransactions { request_id } => {
                let mut p = Vec::with_capacity(10);
                request_id.encode(&mut p);
                p.extend_from_slice(&wrap_list(&[]));
                wrap_list(&p)
            }
            Self::GetReceipts {
                request_id,
                first_block_receipt_index,
                hashes,
            } => {
                if version.has_partial_receipts() {
                    let mut inner = Vec::with_capacity(hashes.len() * 33);
                    for h in hashes {
                        h.encode(&mut inner);
                    }
                    encode_triple(*request_id, *first_block_receipt_index, &wrap_list(&inner))
                } else if *first_block_receipt_index != 0 {
                    return Err(EncodeError {
                        message: "GetReceipts",
                        reason: "firstBlockReceiptIndex requires eth/70".into(),
                    });
                } else {
                    encode_hashes(*request_id, hashes)
                }
            }
            Self::Receipts {
                request_id,
                last_block_incomplete,
                receipts,
            } => {
                if *last_block_incomplete && !version.has_partial_receipts() {
                    return Err(EncodeError {
                        message: "Receipts",
                        reason: "lastBlockIncomplete requires eth/70".into(),
                    });
                }
                if *last_block_incomplete && receipts.is_empty() {
                    return Err(EncodeError {
                        message: "Receipts",
                        reason: "lastBlockIncomplete on an empty response".into(),
                    });
                }
                let mut blocks = Vec::new();
                for block in receipts {
                    let inner = match version {
                        EthVersion::Eth68 => consensus_receipts_to_eth68(block),
                        EthVersion::Eth69 | EthVersion::Eth70 => {
                            let mut inner = Vec::new();
                            for r in block {
                                let converted =
                                    consensus_receipt_to_eth69(r).map_err(|e| EncodeError {
                                        message: "Receipts",
                                        reason: e.to_string(),
                                    })?;
                                inner.extend_from_slice(&converted);
                            }
                            wrap_list(&inner)
                        }
                    };
                    blocks.extend_from_slice(&inner);
                }
                if version.has_partial_receipts() {
                    encode_triple(
                        *request_id,
                        u64::from(*last_block_incomplete),
                        &wrap_list(&blocks),
                    )
                } else {
                    let mut p = Vec::with_capacity(blocks.len() + 12);
                    request_id.encode(&mut p);
                    p.extend_from_slice(&wrap_list(&blocks));
                    wrap_list(&p)
                }
            }
            Self::BlockRangeUpdate(u) => {
                if !version.has_block_range() {
                    return Err(EncodeError {
                        message: "BlockRangeUpdate",
                        reason: "requires eth/69".into(),
                    });
                }
                let mut p = Vec::with_capacity(48);
                u.earliest.encode(&mut p);
                u.latest.encode(&mut p);
                u.latest_hash.encode(&mut p);
                wrap_list(&p)
            }
            Self::Unknown { id } => {
                return Err(EncodeError {
                    message: "Unknown",
                    reason: format!("message id {id}"),
                });
            }
        };
        Ok((self.id(), payload))
    }
}

/// Converts one eth/68 wire receipt (a legacy receipt list, or a byte string wrapping a typed
/// receipt) to its consensus encoding, sharing `parent`'s buffer.
fn receipt68_to_consensus(parent: &bytes::Bytes, raw: &[u8]) -> alloy_rlp::Result<Bytes> {
    let first = *raw.first().ok_or(alloy_rlp::Error::InputTooShort)?;
    if first >= 0xc0 {
        Ok(share(parent, raw))
    } else {
        let mut buf = raw;
        let inner = Header::decode_bytes(&mut buf, false)?;
        match inner.first() {
            Some(t) if *t < 0x80 => Ok(share(parent, inner)),
            _ => Err(alloy_rlp::Error::Custom(
                "typed receipt without a valid type byte",
            )),
        }
    }
}

/// Encodes a block's consensus receipts as the eth/68 wire list (typed receipts wrapped as
/// byte strings, legacy receipts verbatim).
pub fn consensus_receipts_to_eth68(receipts: &[Bytes]) -> Vec<u8> {
    hypasis_primitives::block::receipt_list_rlp(receipts)
}

/// Raw fields of a receipt: `(tx_type, status_raw, cumulative_gas_raw, logs_raw)`.
type ReceiptFields<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn check_receipt_fields<'a>(
    status: &'a [u8],
    gas: &'a [u8],
    logs: &'a [u8],
) -> alloy_rlp::Result<Bloom> {
    let mut s = status;
    let h = Header::decode(&mut s)?;
    if h.list || !(h.payload_length <= 1 || h.payload_length == 32) {
        return Err(alloy_rlp::Error::Custom(
            "invalid receipt status / post-state",
        ));
    }
    decode_exact::<u64>(gas)?;
    logs_bloom(logs)
}

/// Computes the bloom filter of a raw RLP log list `[[address, [topic...], data], ...]`,
/// validating its structure.
pub fn logs_bloom(logs_raw: &[u8]) -> alloy_rlp::Result<Bloom> {
    let mut bloom = Bloom::ZERO;
    let mut buf = logs_raw;
    let mut logs = Items::new(list_payload(&mut buf)?);
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    while let Some(log) = logs.next_raw()? {
        let mut lb = log;
        let mut f = Items::new(list_payload(&mut lb)?);
        let address = f.require_raw()?;
        let mut ab = address;
        let addr = Header::decode_bytes(&mut ab, false)?;
        if addr.len() != 20 {
            return Err(alloy_rlp::Error::Custom("log address is not 20 bytes"));
        }
        bloom.accrue(BloomInput::Raw(addr));
        let mut tb = f.require_raw()?;
        let mut topics = Items::new(list_payload(&mut tb)?);
        while let Some(t) = topics.next_raw()? {
            let mut tt = t;
            let topic = Header::decode_bytes(&mut tt, false)?;
            if topic.len() != 32 {
                return Err(alloy_rlp::Error::Custom("log topic is not 32 bytes"));
            }
            bloom.accrue(BloomInput::Raw(topic));
        }
        let data = f.require_raw()?;
        let mut db = data;
        Header::decode_bytes(&mut db, false)?;
    }
    Ok(bloom)
}

fn eth69_fields(raw: &[u8]) -> alloy_rlp::Result<ReceiptFields<'_>> {
    let mut buf = raw;
    let mut it = Items::new(list_payload(&mut buf)?);
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let tx_type: u8 = it.require()?;
    if tx_type >= 0x80 {
        return Err(alloy_rlp::Error::Custom("receipt tx type out of range"));
    }
    let status = it.require_raw()?;
    let gas = it.require_raw()?;
    let logs = it.require_raw()?;
    if !it.is_empty() {
        return Err(alloy_rlp::Error::Custom("unexpected extra receipt fields"));
    }
    Ok((tx_type, status, gas, logs))
}

/// Converts an eth/69 receipt `[tx-type, post-state-or-status, cumulative-gas, logs]` to its
/// consensus encoding (`rlp([status, gas, bloom, logs])`, prefixed by the type byte for
/// typed receipts), recomputing the bloom filter from the logs. Status, gas and logs are
/// copied verbatim.
pub fn eth69_receipt_to_consensus(raw: &[u8]) -> alloy_rlp::Result<Vec<u8>> {
    let (tx_type, status, gas, logs) = eth69_fields(raw)?;
    let bloom = check_receipt_fields(status, gas, logs)?;
    let mut payload = Vec::with_capacity(status.len() + gas.len() + logs.len() + 259);
    payload.extend_from_slice(status);
    payload.extend_from_slice(gas);
    bloom.encode(&mut payload);
    payload.extend_from_slice(logs);
    let mut out = Vec::with_capacity(payload.len() + 10);
    if tx_type != 0 {
        out.push(tx_type);
    }
    out.extend_from_slice(&wrap_list(&payload));
    Ok(out)
}

/// Converts an eth/69 per-block receipt list (`[receipt₁, receipt₂, ...]`) to consensus
/// encodings.
pub fn eth69_receipt_list_to_consensus(list_raw: &[u8]) -> alloy_rlp::Result<Vec<Bytes>> {
    let mut buf = list_raw;
    let mut it = Items::new(list_payload(&mut buf)?);
    let mut out = Vec::new();
    while let Some(r) = it.next_raw()? {
        out.push(Bytes::from(eth69_receipt_to_consensus(r)?));
    }
    Ok(out)
}

fn consensus_fields(raw: &[u8]) -> alloy_rlp::Result<(ReceiptFields<'_>, &[u8])> {
    let first = *raw.first().ok_or(alloy_rlp::Error::InputTooShort)?;
    let (tx_type, body) = if first >= 0xc0 {
        (0u8, raw)
    } else if first < 0x80 {
        (first, &raw[1..])
    } else {
        return Err(alloy_rlp::Error::Custom(
            "receipt is neither legacy nor typed",
        ));
    };
    let mut buf = body;
    let mut it = Items::new(list_payload(&mut buf)?);
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let status = it.require_raw()?;
    let gas = it.require_raw()?;
    let bloom = it.require_raw()?;
    let logs = it.require_raw()?;
    Ok(((tx_type, status, gas, logs), bloom))
}

/// The cumulative gas used of a consensus-encoded receipt.
pub fn receipt_cumulative_gas(raw: &[u8]) -> alloy_rlp::Result<u64> {
    let ((_, _, gas, _), _) = consensus_fields(raw)?;
    decode_exact::<u64>(gas)
}

/// Converts a consensus-encoded receipt to the eth/69 wire encoding (drops the bloom).
pub fn consensus_receipt_to_eth69(raw: &[u8]) -> alloy_rlp::Result<Vec<u8>> {
    let ((tx_type, status, gas, logs), _bloom) = consensus_fields(raw)?;
    let mut payload = Vec::with_capacity(status.len() + gas.len() + logs.len() + 2);
    tx_type.encode(&mut payload);
    payload.extend_from_slice(status);
    payload.extend_from_slice(gas);
    payload.extend_from_slice(logs);
    Ok(wrap_list(&payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, b256, hex};

    fn roundtrip(version: EthVersion, msg: EthMessage) -> EthMessage {
        let (id, payload) = msg.encode(version).unwrap();
        let decoded = EthMessage::decode(version, id, &bytes::Bytes::from(payload)).unwrap();
        assert_eq!(decoded, msg);
        decoded
    }

    fn fork() -> ForkId {
        ForkId {
            hash: ForkHash([0xfc, 0x64, 0xec, 0x04]),
            next: 1_150_000,
        }
    }

    #[test]
    fn status_roundtrips() {
        roundtrip(
            EthVersion::Eth68,
            EthMessage::Status(Status::Eth68(Status68 {
                version: 68,
                network_id: 1,
                total_difficulty: U256::from(17_179_869_184u64),
                head_hash: B256::repeat_byte(1),
                genesis: B256::repeat_byte(2),
                fork_id: fork(),
            })),
        );
        roundtrip(
            EthVersion::Eth69,
            EthMessage::Status(Status::Eth69(Status69 {
                version: 69,
                network_id: 137,
                total_difficulty: None,
                genesis: B256::repeat_byte(2),
                fork_id: fork(),
                earliest_block: 0,
                latest_block: 1000,
                latest_hash: B256::repeat_byte(3),
            })),
        );
    }

    #[test]
    fn eip2481_get_block_headers_vector() {
        // EIP-2481 / eth/66 test vector: GetBlockHeaders by hash and by number.
        let by_hash = hex!(
            "e8820457e4a000000000000000000000000000000000000000000000000000000000deadc0de050580"
        );
        let msg = EthMessage::decode(
            EthVersion::Eth68,
            ids::GET_BLOCK_HEADERS,
            &bytes::Bytes::copy_from_slice(&by_hash),
        )
        .unwrap();
        let expected = EthMessage::GetBlockHeaders {
            request_id: 1111,
            request: GetBlockHeaders {
                origin: BlockId::Hash(b256!(
                    "00000000000000000000000000000000000000000000000000000000deadc0de"
                )),
                amount: 5,
                skip: 5,
                reverse: false,
            },
        };
        assert_eq!(msg, expected);
        assert_eq!(msg.encode(EthVersion::Eth68).unwrap().1, by_hash.to_vec());

        let by_number = hex!("ca820457c682270f050580");
        let msg = EthMessage::decode(
            EthVersion::Eth68,
            ids::GET_BLOCK_HEADERS,
            &bytes::Bytes::copy_from_slice(&by_number),
        )
        .unwrap();
        assert_eq!(
            msg,
            EthMessage::GetBlockHeaders {
                request_id: 1111,
                request: GetBlockHeaders {
                    origin: BlockId::Number(9999),
                    amount: 5,
                    skip: 5,
                    reverse: false
                },
            }
        );
        assert_eq!(msg.encode(EthVersion::Eth68).unwrap().1, by_number.to_vec());
    }

    #[test]
    fn other_roundtrips() {
        let header = Bytes::from(vec![0xc3, 0x01, 0x02, 0x03]);
        for v in [EthVersion::Eth68, EthVersion::Eth69, EthVersion::Eth70] {
            roundtrip(
                v,
                EthMessage::BlockHeaders {
                    request_id: 7,
                    headers: vec![header.clone()],
                },
            );
            roundtrip(
                v,
                EthMessage::BlockBodies {
                    request_id: 8,
                    bodies: vec![Bytes::from(vec![0xc2, 0xc0, 0xc0])],
                },
            );
            roundtrip(
                v,
                EthMessage::GetBlockBodies {
                    request_id: 9,
                    hashes: vec![B256::ZERO; 3],
                },
            );
            roundtrip(
                v,
                EthMessage::GetReceipts {
                    request_id: 10,
                    first_block_receipt_index: 0,
                    hashes: vec![B256::ZERO],
                },
            );
            roundtrip(
                v,
                EthMessage::NewBlockHashes(vec![BlockHashNumber {
                    hash: B256::ZERO,
                    number: 5,
                }]),
            );
            roundtrip(
                v,
                EthMessage::NewBlock(NewBlock {
                    block: Bytes::from(vec![0xc3, 0xc0, 0xc0, 0xc0]),
                    total_difficulty: U256::from(5),
                }),
            );
            roundtrip(v, EthMessage::GetPooledTransactions { request_id: 3 });
        }
        roundtrip(
            EthVersion::Eth69,
            EthMessage::BlockRangeUpdate(BlockRangeUpdate {
                earliest: 1,
                latest: 2,
                latest_hash: B256::ZERO,
            }),
        );
        // BlockRangeUpdate is unknown on eth/68 and ignored.
        assert_eq!(
            EthMessage::decode(EthVersion::Eth68, 0x11, &bytes::Bytes::from_static(&[0xc0]))
                .unwrap(),
            EthMessage::Unknown { id: 0x11 }
        );
    }

    fn sample_logs() -> Vec<u8> {
        // [[address, [topic0, topic1], data]]
        let mut log = Vec::new();
        Address::repeat_byte(0x11).encode(&mut log);
        let mut topics = Vec::new();
        B256::repeat_byte(0x22).encode(&mut topics);
        B256::repeat_byte(0x33).encode(&mut topics);
        log.extend_from_slice(&wrap_list(&topics));
        Bytes::from(vec![1u8, 2, 3]).encode(&mut log);
        wrap_list(&wrap_list(&log))
    }

    #[test]
    fn receipt_conversions() {
        let logs = sample_logs();
        let mut expected_bloom = Bloom::ZERO;
        expected_bloom.accrue_raw_log(
            Address::repeat_byte(0x11),
            &[B256::repeat_byte(0x22), B256::repeat_byte(0x33)],
        );
        assert_eq!(logs_bloom(&logs).unwrap(), expected_bloom);

        for tx_type in [0u8, 2] {
            let mut p = Vec::new();
            tx_type.encode(&mut p);
            1u8.encode(&mut p);
            21000u64.encode(&mut p);
            p.extend_from_slice(&logs);
            let r69 = wrap_list(&p);
            let consensus = eth69_receipt_to_consensus(&r69).unwrap();
            if tx_type == 0 {
                assert!(consensus[0] >= 0xc0);
            } else {
                assert_eq!(consensus[0], tx_type);
            }
            let ((t, _, _, _), bloom_raw) = consensus_fields(&consensus).unwrap();
            assert_eq!(t, tx_type);
            assert_eq!(decode_exact::<Bloom>(bloom_raw).unwrap(), expected_bloom);
            assert_eq!(consensus_receipt_to_eth69(&consensus).unwrap(), r69);

            // Receipts message roundtrip through both versions.
            let block = vec![Bytes::from(consensus.clone())];
            for v in [EthVersion::Eth68, EthVersion::Eth69, EthVersion::Eth70] {
                roundtrip(
                    v,
                    EthMessage::Receipts {
                        request_id: 4,
                        last_block_incomplete: false,
                        receipts: vec![block.clone()],
                    },
                );
            }
            roundtrip(
                EthVersion::Eth70,
                EthMessage::Receipts {
                    request_id: 4,
                    last_block_incomplete: true,
                    receipts: vec![block.clone(), block.clone()],
                },
            );
        }
        // Malformed: bad address length, list status, extra fields.
        assert!(logs_bloom(&wrap_list(&wrap_list(&[0x81, 0x80, 0xc0, 0x80]))).is_err());
        assert!(eth69_receipt_to_consensus(&wrap_list(&[0x80, 0xc0, 0x80, 0xc0])).is_err());
        assert!(eth69_receipt_to_consensus(&wrap_list(&[0x80, 0x01, 0x80, 0xc0, 0x80])).is_err());
        assert!(eth69_receipt_to_consensus(&wrap_list(&[0x81, 0x80, 0x01, 0x80, 0xc0])).is_err());
        assert_eq!(
            eth69_receipt_list_to_consensus(&wrap_list(&[])).unwrap(),
            Vec::<Bytes>::new()
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        let cases: Vec<(u64, Vec<u8>)> = vec![
            (ids::STATUS, vec![0xc1, 0x44]),
            (ids::BLOCK_HEADERS, vec![0xc3, 0x01, 0xc1, 0x05]),
            (ids::BLOCK_HEADERS, vec![0xc2, 0x01]),
            (
                ids::GET_BLOCK_HEADERS,
                vec![0xc5, 0x01, 0xc3, 0x01, 0x01, 0x01],
            ),
            (ids::GET_BLOCK_BODIES, vec![0xc4, 0x01, 0xc2, 0x81, 0x05]),
            (ids::RECEIPTS, vec![0xc4, 0x01, 0xc2, 0xc1, 0x05]),
            (ids::NEW_BLOCK, vec![0xc1, 0xc0]),
            (ids::BLOCK_RANGE_UPDATE, vec![0xc3, 0x05, 0x01, 0x80]),
            (ids::TRANSACTIONS, vec![0x05]),
            (ids::BLOCK_BODIES, vec![0xff]),
        ];
        for (id, raw) in cases {
            let res = EthMessage::decode(EthVersion::Eth69, id, &bytes::Bytes::from(raw.clone()));
            assert!(res.is_err(), "id {id} raw {raw:02x?} decoded to {res:?}");
        }
        assert_eq!(
            EthMessage::decode(EthVersion::Eth69, 0x0d, &bytes::Bytes::from_static(b"junk"))
                .unwrap(),
            EthMessage::Unknown { id: 0x0d }
        );
    }

    /// Polygon mainnet's genesis hash.
    const POLYGON_GENESIS: B256 =
        b256!("a9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b");

    /// Bor's `StatusPacket69` (0xPolygon/bor `eth/protocols/eth/protocol.go`), field by field.
    const BOR_STATUS69: &str = concat!(
        "f854",                                                               // list, 84 bytes
        "45",                                                                 // ProtocolVersion 69
        "8189",                                                               // NetworkID 137
        "832a3b4c",                                                           // TD 0x2a3b4c
        "a0a9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b", // Genesis
        "c684f097bc1380", // ForkID [f097bc13, 0]
        "80",             // EarliestBlock 0
        "8203e8",         // LatestBlock 1000
        "a01111111111111111111111111111111111111111111111111111111111111111", // LatestBlockHash
    );

    /// The same status in EIP-7642's layout (no TD).
    const STANDARD_STATUS69: &str = concat!(
        "f850",
        "45",
        "8189",
        "a0a9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b",
        "c684f097bc1380",
        "80",
        "8203e8",
        "a01111111111111111111111111111111111111111111111111111111111111111",
    );

    fn expected_status69(td: Option<U256>) -> Status {
        Status::Eth69(Status69 {
            version: 69,
            network_id: 137,
            total_difficulty: td,
            genesis: POLYGON_GENESIS,
            fork_id: ForkId {
                hash: ForkHash([0xf0, 0x97, 0xbc, 0x13]),
                next: 0,
            },
            earliest_block: 0,
            latest_block: 1000,
            latest_hash: B256::repeat_byte(0x11),
        })
    }

    #[test]
    fn bor_status69_byte_layout() {
        let bor = Wire::new(EthVersion::Eth69, Dialect::Bor);
        let raw = hex::decode(BOR_STATUS69).unwrap();
        let msg = EthMessage::decode(bor, ids::STATUS, &bytes::Bytes::from(raw.clone())).unwrap();
        let expected = EthMessage::Status(expected_status69(Some(U256::from(0x2a3b4c))));
        assert_eq!(msg, expected);
        assert_eq!(msg.encode(bor).unwrap(), (ids::STATUS, raw));
        if let EthMessage::Status(s) = &msg {
            assert_eq!(s.dialect(), Dialect::Bor);
        }

        let raw = hex::decode(STANDARD_STATUS69).unwrap();
        let msg = EthMessage::decode(
            EthVersion::Eth69,
            ids::STATUS,
            &bytes::Bytes::from(raw.clone()),
        )
        .unwrap();
        assert_eq!(msg, EthMessage::Status(expected_status69(None)));
        assert_eq!(msg.encode(EthVersion::Eth69).unwrap().1, raw);
    }

    #[test]
    fn status_dialect_mismatch_is_a_typed_error() {
        let bor = Wire::new(EthVersion::Eth69, Dialect::Bor);
        let bor_raw = bytes::Bytes::from(hex::decode(BOR_STATUS69).unwrap());
        let std_raw = bytes::Bytes::from(hex::decode(STANDARD_STATUS69).unwrap());
        // Bor's layout on a standard session, also on eth/70.
        for v in [EthVersion::Eth69, EthVersion::Eth70] {
            assert_eq!(
                EthMessage::decode(v, ids::STATUS, &bor_raw),
                Err(MessageError::StatusDialect {
                    expected: Dialect::Standard,
                    found: Dialect::Bor
                })
            );
        }
        // EIP-7642's layout on a Bor session.
        let err = EthMessage::decode(bor, ids::STATUS, &std_raw).unwrap_err();
        assert_eq!(
            err,
            MessageError::StatusDialect {
                expected: Dialect::Bor,
                found: Dialect::Standard
            }
        );
        assert!(err.to_string().contains("dialect mismatch"), "{err}");
        // Garbage stays an RLP error.
        assert!(matches!(
            EthMessage::decode(bor, ids::STATUS, &bytes::Bytes::from_static(&[0xc1, 0x45])),
            Err(MessageError::Rlp { .. })
        ));
        // Our own status cannot go out in the wrong layout either.
        let standard = EthMessage::Status(expected_status69(None));
        assert!(standard.encode(bor).is_err());
        let bor_status = EthMessage::Status(expected_status69(Some(U256::from(1))));
        assert!(bor_status.encode(EthVersion::Eth69).is_err());
        // eth/68's Status is the same in both dialects.
        let s68 = EthMessage::Status(Status::Eth68(Status68 {
            version: 68,
            network_id: 137,
            total_difficulty: U256::from(5),
            head_hash: B256::repeat_byte(1),
            genesis: POLYGON_GENESIS,
            fork_id: fork(),
        }));
        let bor68 = Wire::new(EthVersion::Eth68, Dialect::Bor);
        let (_, p) = s68.encode(bor68).unwrap();
        assert_eq!(p, s68.encode(EthVersion::Eth68).unwrap().1);
        assert_eq!(
            EthMessage::decode(bor68, ids::STATUS, &bytes::Bytes::from(p)).unwrap(),
            s68
        );
    }

    #[test]
    fn eth70_receipt_messages_wire_format() {
        // EIP-7975 GetReceipts: [request-id, firstBlockReceiptIndex, [blockhash, ...]].
        let hash = B256::repeat_byte(0xab);
        let msg = EthMessage::GetReceipts {
            request_id: 5,
            first_block_receipt_index: 3,
            hashes: vec![hash],
        };
        let mut expected = hex::decode("e40503e1a0").unwrap();
        expected.extend_from_slice(hash.as_slice());
        assert_eq!(
            msg.encode(EthVersion::Eth70).unwrap(),
            (ids::GET_RECEIPTS, expected)
        );
        roundtrip(EthVersion::Eth70, msg.clone());
        // The index does not exist before eth/70.
        assert!(msg.encode(EthVersion::Eth69).is_err());

        // EIP-7975 Receipts: [request-id, lastBlockIncomplete, [[receipt, ...], ...]].
        let msg = EthMessage::Receipts {
            request_id: 5,
            last_block_incomplete: true,
            receipts: vec![vec![]],
        };
        assert_eq!(
            msg.encode(EthVersion::Eth70).unwrap(),
            (ids::RECEIPTS, vec![0xc4, 0x05, 0x01, 0xc1, 0xc0])
        );
        assert!(msg.encode(EthVersion::Eth69).is_err());
        let complete = EthMessage::Receipts {
            request_id: 5,
            last_block_incomplete: false,
            receipts: vec![vec![]],
        };
        assert_eq!(
            complete.encode(EthVersion::Eth70).unwrap().1,
            vec![0xc4, 0x05, 0x80, 0xc1, 0xc0]
        );
        let decode = |raw: &'static [u8]| {
            EthMessage::decode(
                EthVersion::Eth70,
                ids::RECEIPTS,
                &bytes::Bytes::from_static(raw),
            )
        };
        assert_eq!(decode(&[0xc4, 0x05, 0x01, 0xc1, 0xc0]).unwrap(), msg);
        // The flag is 0 or 1, canonical; never on an empty response.
        assert!(decode(&[0xc4, 0x05, 0x02, 0xc1, 0xc0]).is_err());
        assert!(decode(&[0xc4, 0x05, 0x00, 0xc1, 0xc0]).is_err());
        assert!(decode(&[0xc3, 0x05, 0x01, 0xc0]).is_err());
        // An eth/69 body is not an eth/70 one, and the reverse.
        assert!(decode(&[0xc3, 0x05, 0xc1, 0xc0]).is_err());
        assert!(
            EthMessage::decode(
                EthVersion::Eth69,
                ids::RECEIPTS,
                &bytes::Bytes::from_static(&[0xc4, 0x05, 0x01, 0xc1, 0xc0])
            )
            .is_err()
        );
        // BlockRangeUpdate exists on eth/70.
        roundtrip(
            EthVersion::Eth70,
            EthMessage::BlockRangeUpdate(BlockRangeUpdate {
                earliest: 0,
                latest: 9,
                latest_hash: B256::repeat_byte(1),
            }),
        );
        assert_eq!(EthVersion::from_number(70), Some(EthVersion::Eth70));
        assert_eq!(EthVersion::Eth70.message_count(), 18);
    }
}

//! Body rules: transactions root, ommers hash (and ommer sanity before the merge), withdrawals
//! root, transaction types per fork, blob gas, block size (Osaka).
//!
//! Transactions are kept in their canonical encodings: a legacy transaction is an RLP list, a
//! typed (EIP-2718) transaction an RLP string `type ‖ payload` whose trie value is the string's
//! content. The roots are ordered tries over those encodings, so every transaction type —
//! including ones this crate does not know, like Bor's state-sync transaction — hashes
//! correctly.

use crate::error::{HeaderField, ValidationError};
use crate::gas::GAS_PER_BLOB;
use crate::header::{SealedHeader, is_post_merge};
use crate::rlp::{Item, RlpError, items, single_item};
use alloy_consensus::Header;
use alloy_primitives::{B256, keccak256};
use alloy_trie::root::ordered_trie_root_encoded;
use hypasis_primitives::{ChainSpec, Hardfork};

/// Bor's state-sync transaction type (from Madhugiri).
pub const STATE_SYNC_TX_TYPE: u8 = 0x7f;

/// Osaka (EIP-7934): largest RLP-encoded block.
pub const MAX_RLP_BLOCK_SIZE: usize = 8_388_608;
/// Largest number of ommers in a proof-of-work block.
pub const MAX_OMMERS: usize = 2;
/// How far back an ommer may be.
pub const MAX_OMMER_DEPTH: u64 = 6;

/// One transaction of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxView<'a> {
    /// EIP-2718 type (0 for legacy).
    pub tx_type: u8,
    /// The trie value: the legacy RLP list, or `type ‖ payload`.
    pub encoding: &'a [u8],
}

/// A decoded (zero-copy) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyView<'a> {
    /// Transactions, in order.
    pub transactions: Vec<TxView<'a>>,
    /// The ommers list encoding (hashed for the ommers hash).
    pub ommers_rlp: &'a [u8],
    /// The ommer header encodings.
    pub ommers: Vec<&'a [u8]>,
    /// Withdrawal encodings, when the body has a withdrawals list.
    pub withdrawals: Option<Vec<&'a [u8]>>,
    /// Length of the body list's payload (for the block size).
    pub payload_len: usize,
}

/// Why a body (or one of its transactions) does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The bytes are not one RLP item (the walker's message).
    #[error("{0}")]
    Rlp(String),
    /// The body is an RLP string, not a list.
    #[error("body is not a list")]
    NotAList,
    /// The body list has the wrong number of fields.
    #[error("body has {0} fields, expected 2 or 3 (txs, ommers, withdrawals)")]
    FieldCount(usize),
    /// The transactions field is not a list.
    #[error("transactions: {0}")]
    Transactions(String),
    /// One transaction is not a valid envelope.
    #[error("transaction {index}: {reason}")]
    Transaction {
        /// Position in the body.
        index: usize,
        /// What is wrong.
        reason: TxError,
    },
    /// The ommers field is not a list.
    #[error("ommers: {0}")]
    Ommers(String),
    /// An ommer is not a list.
    #[error("ommer is not a list")]
    OmmerNotAList,
    /// The withdrawals field is not a list.
    #[error("withdrawals: {0}")]
    Withdrawals(String),
    /// A withdrawal is not a list.
    #[error("withdrawal is not a list")]
    WithdrawalNotAList,
}

impl From<String> for BodyError {
    fn from(reason: String) -> Self {
        Self::Rlp(reason)
    }
}

impl From<RlpError> for BodyError {
    fn from(e: RlpError) -> Self {
        Self::Rlp(e.to_string())
    }
}

/// Why one transaction's envelope is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// A typed transaction with no bytes.
    #[error("empty typed transaction")]
    EmptyTyped,
    /// The first byte is not an EIP-2718 type.
    #[error("typed transaction starts with {0:#04x}, outside the EIP-2718 range")]
    TypeOutOfRange(u8),
    /// A blob (type-3) transaction's payload is not the RLP it must be.
    #[error("{0}")]
    BlobRlp(String),
    /// A blob transaction with fewer than 11 fields.
    #[error("blob transaction has {0} fields")]
    BlobFieldCount(usize),
    /// `blob_versioned_hashes` is not a list.
    #[error("blob hashes: {0}")]
    BlobHashes(String),
    /// A blob transaction without blobs.
    #[error("blob transaction without blobs")]
    NoBlobs,
}

impl hypasis_primitives::Fault for BodyError {
    /// A body that does not decode was sent that way: the sender's fault.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        hypasis_primitives::FaultClass::Peer
    }
}

impl hypasis_primitives::Fault for TxError {
    /// A transaction envelope that does not decode was sent that way: the sender's fault.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        hypasis_primitives::FaultClass::Peer
    }
}

fn decode_tx(item: Item<'_>) -> Result<TxView<'_>, TxError> {
    if item.is_list {
        return Ok(TxView {
            tx_type: 0,
            encoding: item.raw,
        });
    }
    match item.payload.first() {
        None => Err(TxError::EmptyTyped),
        Some(&t) if t > 0x7f => Err(TxError::TypeOutOfRange(t)),
        Some(&t) => Ok(TxView {
            tx_type: t,
            encoding: item.payload,
        }),
    }
}

/// Decodes `rlp([txs, ommers(, withdrawals)])`.
pub fn decode_body(bytes: &[u8]) -> Result<BodyView<'_>, BodyError> {
    let outer = single_item(bytes)?;
    if !outer.is_list {
        return Err(BodyError::NotAList);
    }
    let fields = items(outer.payload)?;
    if !(2..=3).contains(&fields.len()) {
        return Err(BodyError::FieldCount(fields.len()));
    }
    let transactions = fields[0]
        .list()
        .map_err(|e| BodyError::Transactions(e.to_string()))?
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            decode_tx(item).map_err(|reason| BodyError::Transaction { index, reason })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ommers = fields[1]
        .list()
        .map_err(|e| BodyError::Ommers(e.to_string()))?
        .into_iter()
        .map(|i| {
            if i.is_list {
                Ok(i.raw)
            } else {
                Err(BodyError::OmmerNotAList)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let withdrawals = match fields.get(2) {
        None => None,
        Some(w) => Some(
            w.list()
                .map_err(|e| BodyError::Withdrawals(e.to_string()))?
                .into_iter()
                .map(|i| {
                    if i.is_list {
                        Ok(i.raw)
                    } else {
                        Err(BodyError::WithdrawalNotAList)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(BodyView {
        transactions,
        ommers_rlp: fields[1].raw,
        ommers,
        withdrawals,
        payload_len: outer.payload.len(),
    })
}

/// Number of blobs of a type-3 transaction (`blob_versioned_hashes` is field 10).
fn blob_count(encoding: &[u8]) -> Result<u64, TxError> {
    let payload = encoding.get(1..).ok_or(TxError::EmptyTyped)?;
    let fields = single_item(payload)
        .and_then(|i| i.list())
        .map_err(|e| TxError::BlobRlp(e.to_string()))?;
    let hashes = fields
        .get(10)
        .ok_or(TxError::BlobFieldCount(fields.len()))?
        .list()
        .map_err(|e| TxError::BlobHashes(e.to_string()))?;
    if hashes.is_empty() {
        return Err(TxError::NoBlobs);
    }
    Ok(hashes.len() as u64)
}

/// The fork that introduced an Ethereum transaction type.
fn tx_type_fork(tx_type: u8) -> Option<Hardfork> {
    match tx_type {
        0 => Some(Hardfork::Frontier),
        1 => Some(Hardfork::Berlin),
        2 => Some(Hardfork::London),
        3 => Some(Hardfork::Cancun),
        4 => Some(Hardfork::Prague),
        _ => None,
    }
}

/// What body validation learned (used by the receipt rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodySummary {
    /// The transaction types, in order.
    pub tx_types: Vec<u8>,
}

/// Validates a body against its (already validated) header.
pub fn validate_body(
    spec: &ChainSpec,
    sealed: &SealedHeader,
    header_rlp_len: usize,
    body: &[u8],
) -> Result<BodySummary, ValidationError> {
    let h = &sealed.header;
    let number = h.number;
    let view = decode_body(body).map_err(|e| ValidationError::MalformedBody {
        number,
        reason: e.to_string(),
    })?;

    // Bor's state-sync transaction (type 0x7F, PIP-74): only from Madhugiri, and then only as
    // the body's last transaction (Bor `core/types/tx_state_sync.go`; `Finalize` appends it).
    if spec.is_bor() {
        let madhugiri = spec.is_active(Hardfork::Madhugiri, number, h.timestamp);
        let last = view.transactions.len().saturating_sub(1);
        for (index, tx) in view.transactions.iter().enumerate() {
            if tx.tx_type != STATE_SYNC_TX_TYPE {
                continue;
            }
            let reason = if !madhugiri {
                "state-sync transaction (type 0x7f) before madhugiri"
            } else if index != last {
                "state-sync transaction (type 0x7f) is not the last transaction"
            } else {
                continue;
            };
            return Err(ValidationError::InvalidTransaction {
                number,
                index,
                reason: reason.into(),
            });
        }
    }

    // Transaction types per fork (Ethereum; Bor has its own system transaction type).
    if !spec.is_bor() {
        for (index, tx) in view.transactions.iter().enumerate() {
            match tx_type_fork(tx.tx_type) {
                Some(fork) if spec.is_active(fork, number, h.timestamp) => {}
                Some(fork) => {
                    return Err(ValidationError::InvalidTransaction {
                        number,
                        index,
                        reason: format!("type {} before {fork}", tx.tx_type),
                    });
                }
                None => {
                    return Err(ValidationError::InvalidTransaction {
                        number,
                        index,
                        reason: format!("unknown transaction type {}", tx.tx_type),
                    });
                }
            }
        }
    }

    check_roots(h, &view)?;
    if !spec.is_bor() && !is_post_merge(spec, h) {
        check_ommers(number, &view.ommers)?;
    }

    let shanghai = !spec.is_bor() && spec.is_active(Hardfork::Shanghai, number, h.timestamp);
    // Bor nodes may send an empty withdrawals list; a non-empty one is never valid.
    let fork = (!spec.is_bor()).then_some(Hardfork::Shanghai);
    check_withdrawals(h, &view, shanghai, spec.is_bor(), fork)?;

    if let Some(used) = h.blob_gas_used.filter(|_| !spec.is_bor()) {
        let mut blobs = 0u64;
        for (index, tx) in view.transactions.iter().enumerate() {
            if tx.tx_type == 3 {
                blobs +=
                    blob_count(tx.encoding).map_err(|e| ValidationError::InvalidTransaction {
                        number,
                        index,
                        reason: e.to_string(),
                    })?;
            }
        }
        let expected = blobs.saturating_mul(GAS_PER_BLOB);
        if expected != used {
            return Err(ValidationError::BlobGasUsedMismatch {
                number,
                expected,
                found: used,
            });
        }
    }

    if !spec.is_bor() && spec.is_active(Hardfork::Osaka, number, h.timestamp) {
        let payload = header_rlp_len + view.payload_len;
        let size = payload + alloy_rlp::length_of_length(payload);
        if size > MAX_RLP_BLOCK_SIZE {
            return Err(ValidationError::BlockTooLarge {
                number,
                max: MAX_RLP_BLOCK_SIZE,
                found: size,
            });
        }
    }

    Ok(BodySummary {
        tx_types: view.transactions.iter().map(|t| t.tx_type).collect(),
    })
}

/// Checks a body against what its header commits to, without the chain rules: the
/// transactions root, the ommers hash, and the withdrawals root (withdrawals are expected
/// exactly when the header has a withdrawals root). Returns the number of transactions.
///
/// This is the check a downloader runs on each body as it arrives (it knows the headers, not
/// yet the forks); [`validate_body`] runs the same checks and the chain rules on top.
pub fn check_body_against_header(h: &Header, body: &[u8]) -> Result<usize, ValidationError> {
    let number = h.number;
    let view = decode_body(body).map_err(|e| ValidationError::MalformedBody {
        number,
        reason: e.to_string(),
    })?;
    check_roots(h, &view)?;
    let expected = h.withdrawals_root.is_some();
    check_withdrawals(h, &view, expected, false, Some(Hardfork::Shanghai))?;
    Ok(view.transactions.len())
}

/// The transactions root and the ommers hash.
fn check_roots(h: &Header, view: &BodyView<'_>) -> Result<(), ValidationError> {
    let number = h.number;
    let encodings: Vec<&[u8]> = view.transactions.iter().map(|t| t.encoding).collect();
    let tx_root = ordered_trie_root_encoded(&encodings);
    if tx_root != h.transactions_root {
        return Err(ValidationError::TransactionsRoot {
            number,
            expected: h.transactions_root,
            found: tx_root,
        });
    }
    let ommers_hash = keccak256(view.ommers_rlp);
    if ommers_hash != h.ommers_hash {
        return Err(ValidationError::OmmersHash {
            number,
            expected: h.ommers_hash,
            found: ommers_hash,
        });
    }
    Ok(())
}

/// The withdrawals list against the header: present (and matching the withdrawals root)
/// exactly when `expected`; an empty list where none is expected passes when `tolerate_empty`
/// (Bor). `fork` names the fork in [`ValidationError::UnexpectedField`].
fn check_withdrawals(
    h: &Header,
    view: &BodyView<'_>,
    expected: bool,
    tolerate_empty: bool,
    fork: Option<Hardfork>,
) -> Result<(), ValidationError> {
    let number = h.number;
    match (&view.withdrawals, expected) {
        (Some(w), true) => {
            let root = ordered_trie_root_encoded(w);
            let expected = h.withdrawals_root.unwrap_or_default();
            if root != expected {
                return Err(ValidationError::WithdrawalsRoot {
                    number,
                    expected,
                    found: root,
                });
            }
        }
        (None, true) => {
            return Err(ValidationError::MissingField {
                number,
                field: HeaderField::BodyWithdrawals,
                fork: Hardfork::Shanghai,
            });
        }
        (Some(w), false) if !(tolerate_empty && w.is_empty()) => {
            return Err(ValidationError::UnexpectedField {
                number,
                field: HeaderField::BodyWithdrawals,
                fork,
            });
        }
        _ => {}
    }
    Ok(())
}

/// Pre-merge ommer sanity: at most two, distinct, each a header of one of the six previous
/// generations. (Their own seals and ancestry are not checked; see the crate docs.)
fn check_ommers(number: u64, ommers: &[&[u8]]) -> Result<(), ValidationError> {
    if ommers.len() > MAX_OMMERS {
        return Err(ValidationError::InvalidOmmer {
            number,
            index: MAX_OMMERS,
            reason: format!("{} ommers, at most {MAX_OMMERS} allowed", ommers.len()),
        });
    }
    let mut seen: Vec<B256> = Vec::with_capacity(ommers.len());
    for (index, raw) in ommers.iter().enumerate() {
        let ommer = SealedHeader::decode(raw).map_err(|reason| ValidationError::InvalidOmmer {
            number,
            index,
            reason: format!("not a header: {reason}"),
        })?;
        let n = ommer.header.number;
        if n >= number || number - n > MAX_OMMER_DEPTH {
            return Err(ValidationError::InvalidOmmer {
                number,
                index,
                reason: format!(
                    "ommer number {n} is not within the {MAX_OMMER_DEPTH} generations before {number}"
                ),
            });
        }
        if seen.contains(&ommer.hash) {
            return Err(ValidationError::InvalidOmmer {
                number,
                index,
                reason: format!("duplicate ommer {}", ommer.hash),
            });
        }
        seen.push(ommer.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_shapes() {
        // [[legacy [0x01], typed 0x02 0xc0], [], []]
        let body = [0xc8, 0xc5, 0xc1, 0x01, 0x82, 0x02, 0xc0, 0xc0, 0xc0];
        let v = decode_body(&body).unwrap();
        assert_eq!(v.transactions.len(), 2);
        assert_eq!(v.transactions[0].tx_type, 0);
        assert_eq!(v.transactions[1].tx_type, 2);
        assert_eq!(v.transactions[1].encoding, &[0x02, 0xc0]);
        assert_eq!(v.withdrawals, Some(vec![]));
        assert!(decode_body(&[0xc1, 0xc0]).is_err());
        assert!(
            decode_body(&[0xc3, 0xc1, 0x80, 0xc0]).is_err(),
            "empty typed tx"
        );
        assert!(
            decode_body(&[0xc4, 0xc2, 0x81, 0x80, 0xc0]).is_err(),
            "type 0x80"
        );
    }

    #[test]
    fn decode_errors_are_typed() {
        use hypasis_primitives::{Fault, FaultClass};
        assert_eq!(decode_body(&[0xc1, 0xc0]), Err(BodyError::FieldCount(1)));
        assert_eq!(decode_body(&[0x80]), Err(BodyError::NotAList));
        let e = decode_body(&[0xc4, 0xc2, 0x81, 0x80, 0xc0]).unwrap_err();
        assert_eq!(
            e,
            BodyError::Transaction {
                index: 0,
                reason: TxError::TypeOutOfRange(0x80)
            }
        );
        assert_eq!(
            e.to_string(),
            "transaction 0: typed transaction starts with 0x80, outside the EIP-2718 range"
        );
        assert_eq!(e.fault(), FaultClass::Peer);
        assert_eq!(blob_count(&[0x03, 0xc0]), Err(TxError::BlobFieldCount(0)));
    }
}

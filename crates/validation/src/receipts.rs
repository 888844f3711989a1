//! Receipt rules: count, receipts root, logs bloom, cumulative gas, status form, type.
//!
//! Accepted receipt encodings, per receipt (they may be mixed):
//! - consensus (eth/68, era1): legacy `rlp([status, cumulativeGas, bloom, logs])`, typed as an
//!   RLP string `type ‖ rlp([status, cumulativeGas, bloom, logs])`;
//! - eth/69 "slim": `rlp([type, status, cumulativeGas, logs])`, without the bloom — which is
//!   rebuilt from the logs, and the consensus encoding rebuilt for the receipts root.
//!
//! `status` is the 32-byte post-state root before Byzantium and `0`/`1` from Byzantium.
//!
//! Bor's state-sync receipt ([`StateSyncReceipts`], by fork on the chain spec): before
//! Madhugiri a Bor peer may append the block's state-sync receipt after its transaction
//! receipts (Bor `eth/protocols/eth/handlers.go`, eth/69: type 0, cumulative gas 0); it is not
//! part of the receipts root, bloom or gas used, and Bor's own receiver drops a trailing receipt
//! whose cumulative gas is 0 or repeats the previous one before checking the root
//! (`excludeStateSyncReceipt`). The same list is accepted here: such a trailing receipt is
//! set aside (when the transaction types are known, only as the one receipt beyond the
//! transaction count), and every other receipt must match the header. From Madhugiri the
//! state-sync transaction (type `0x7F`) is in the body and its receipt an ordinary one, so
//! nothing is set aside and an extra receipt is refused.

use crate::error::{DecodeError, ValidationError};
use crate::header::SealedHeader;
use crate::rlp::{Item, RlpError, items, list_header, list_items, single_item};
use alloy_primitives::{Bloom, BloomInput};
use alloy_rlp::Encodable;
use alloy_trie::root::ordered_trie_root_encoded;
use hypasis_primitives::{ChainSpec, Hardfork, StateSyncReceipts};
use std::borrow::Cow;

/// How a receipt arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptForm {
    /// Consensus encoding, with bloom.
    Consensus,
    /// eth/69 slim encoding, without bloom.
    Slim,
}

/// One decoded receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptView<'a> {
    /// Encoding it arrived in.
    pub form: ReceiptForm,
    /// EIP-2718 type (0 legacy).
    pub tx_type: u8,
    /// The status / post-state item payload.
    pub status: &'a [u8],
    /// Cumulative gas used.
    pub cumulative_gas: u64,
    /// The bloom the receipt carried (consensus form).
    pub bloom: Option<Bloom>,
    /// The bloom of its logs.
    pub logs_bloom: Bloom,
    /// The consensus encoding (the receipts-trie value).
    pub encoding: Cow<'a, [u8]>,
}

/// Why one receipt does not decode (the Display text is the reported message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ReceiptError {
    /// The receipt (or its typed payload, or its logs field) is not the RLP it must be.
    #[error(transparent)]
    Rlp(#[from] RlpError),
    /// A log is not a list.
    #[error("log {index}: {source}")]
    Log { index: usize, source: RlpError },
    /// A log without exactly three fields.
    #[error("log {index} has {count} fields, expected 3")]
    LogFieldCount { index: usize, count: usize },
    /// A log address that is not a string.
    #[error("log {index} address: {source}")]
    LogAddress { index: usize, source: RlpError },
    /// A log address that is not 20 bytes.
    #[error("log {index} address has {len} bytes")]
    LogAddressLength { index: usize, len: usize },
    /// Log topics that are not a list.
    #[error("log {index} topics: {source}")]
    LogTopics { index: usize, source: RlpError },
    /// A log topic that is not a string.
    #[error("log {index} topic {topic}: {source}")]
    LogTopic {
        index: usize,
        topic: usize,
        source: RlpError,
    },
    /// A log topic that is not 32 bytes.
    #[error("log {index} topic {topic} has {len} bytes")]
    LogTopicLength {
        index: usize,
        topic: usize,
        len: usize,
    },
    /// Log data that is not a string.
    #[error("log {index} data: {source}")]
    LogData { index: usize, source: RlpError },
    /// A typed receipt with no bytes.
    #[error("empty typed receipt")]
    EmptyTyped,
    /// A typed receipt whose first byte is not an EIP-2718 type.
    #[error("typed receipt type {0:#04x} outside the EIP-2718 range")]
    TypeOutOfRange(u8),
    /// A receipt without exactly four fields.
    #[error("receipt has {0} fields, expected 4")]
    FieldCount(usize),
    /// A slim receipt's type that is not a canonical integer.
    #[error("type: {0}")]
    SlimType(RlpError),
    /// A slim receipt's type outside the EIP-2718 range.
    #[error("slim receipt type outside the EIP-2718 range")]
    SlimTypeOutOfRange,
    /// A status / post-state that is not a string.
    #[error("status: {0}")]
    Status(RlpError),
    /// A cumulative gas that is not a canonical integer.
    #[error("cumulative gas: {0}")]
    CumulativeGas(RlpError),
    /// A bloom that is not a string.
    #[error("bloom: {0}")]
    Bloom(RlpError),
    /// A bloom that is not 256 bytes.
    #[error("bloom has {0} bytes")]
    BloomLength(usize),
}

/// Why a receipt list does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ReceiptsError {
    /// The list itself is not an RLP list.
    #[error(transparent)]
    Rlp(#[from] RlpError),
    /// One receipt does not decode.
    #[error("receipt {index}: {source}")]
    Receipt { index: usize, source: ReceiptError },
}

impl From<ReceiptsError> for DecodeError {
    fn from(e: ReceiptsError) -> Self {
        Self(e.to_string())
    }
}

fn logs_bloom(logs: &Item<'_>) -> Result<Bloom, ReceiptError> {
    let mut bloom = Bloom::ZERO;
    for (index, log) in logs.list()?.iter().enumerate() {
        let fields = log
            .list()
            .map_err(|source| ReceiptError::Log { index, source })?;
        if fields.len() != 3 {
            return Err(ReceiptError::LogFieldCount {
                index,
                count: fields.len(),
            });
        }
        let address = fields[0]
            .bytes()
            .map_err(|source| ReceiptError::LogAddress { index, source })?;
        if address.len() != 20 {
            return Err(ReceiptError::LogAddressLength {
                index,
                len: address.len(),
            });
        }
        bloom.accrue(BloomInput::Raw(address));
        for (topic, item) in fields[1]
            .list()
            .map_err(|source| ReceiptError::LogTopics { index, source })?
            .iter()
            .enumerate()
        {
            let bytes = item.bytes().map_err(|source| ReceiptError::LogTopic {
                index,
                topic,
                source,
            })?;
            if bytes.len() != 32 {
                return Err(ReceiptError::LogTopicLength {
                    index,
                    topic,
                    len: bytes.len(),
                });
            }
            bloom.accrue(BloomInput::Raw(bytes));
        }
        fields[2]
            .bytes()
            .map_err(|source| ReceiptError::LogData { index, source })?;
    }
    Ok(bloom)
}

fn decode_one(item: Item<'_>) -> Result<ReceiptView<'_>, ReceiptError> {
    if !item.is_list {
        // Typed consensus receipt: type ‖ rlp([status, cumGas, bloom, logs]).
        let (&tx_type, rest) = item.payload.split_first().ok_or(ReceiptError::EmptyTyped)?;
        if tx_type > 0x7f {
            return Err(ReceiptError::TypeOutOfRange(tx_type));
        }
        let fields = single_item(rest)?.list()?;
        return consensus(tx_type, &fields, Cow::Borrowed(item.payload));
    }
    let fields = item.list()?;
    if fields.len() != 4 {
        return Err(ReceiptError::FieldCount(fields.len()));
    }
    // Consensus legacy receipts carry the 256-byte bloom third; slim receipts carry the
    // cumulative gas there.
    if !fields[2].is_list && fields[2].payload.len() == 256 {
        return consensus(0, &fields, Cow::Borrowed(item.raw));
    }
    let tx_type = u8::try_from(fields[0].uint().map_err(ReceiptError::SlimType)?)
        .ok()
        .filter(|t| *t <= 0x7f)
        .ok_or(ReceiptError::SlimTypeOutOfRange)?;
    let status = fields[1].bytes().map_err(ReceiptError::Status)?;
    let cumulative_gas = fields[2].uint().map_err(ReceiptError::CumulativeGas)?;
    let bloom = logs_bloom(&fields[3])?;
    // Rebuild the consensus encoding.
    let mut bloom_rlp = Vec::with_capacity(259);
    bloom.encode(&mut bloom_rlp);
    let payload_len =
        fields[1].raw.len() + fields[2].raw.len() + bloom_rlp.len() + fields[3].raw.len();
    let mut enc = Vec::with_capacity(payload_len + 6);
    if tx_type != 0 {
        enc.push(tx_type);
    }
    list_header(payload_len, &mut enc);
    enc.extend_from_slice(fields[1].raw);
    enc.extend_from_slice(fields[2].raw);
    enc.extend_from_slice(&bloom_rlp);
    enc.extend_from_slice(fields[3].raw);
    Ok(ReceiptView {
        form: ReceiptForm::Slim,
        tx_type,
        status,
        cumulative_gas,
        bloom: None,
        logs_bloom: bloom,
        encoding: Cow::Owned(enc),
    })
}

fn consensus<'a>(
    tx_type: u8,
    fields: &[Item<'a>],
    encoding: Cow<'a, [u8]>,
) -> Result<ReceiptView<'a>, ReceiptError> {
    if fields.len() != 4 {
        return Err(ReceiptError::FieldCount(fields.len()));
    }
    let status = fields[0].bytes().map_err(ReceiptError::Status)?;
    let cumulative_gas = fields[1].uint().map_err(ReceiptError::CumulativeGas)?;
    let bloom_bytes = fields[2].bytes().map_err(ReceiptError::Bloom)?;
    if bloom_bytes.len() != 256 {
        return Err(ReceiptError::BloomLength(bloom_bytes.len()));
    }
    let logs_bloom = logs_bloom(&fields[3])?;
    Ok(ReceiptView {
        form: ReceiptForm::Consensus,
        tx_type,
        status,
        cumulative_gas,
        bloom: Some(Bloom::from_slice(bloom_bytes)),
        logs_bloom,
        encoding,
    })
}

/// Decodes a receipt list (one element of a `Receipts` message).
pub fn decode_receipts(bytes: &[u8]) -> Result<Vec<ReceiptView<'_>>, DecodeError> {
    Ok(decode_receipt_list(bytes)?)
}

fn decode_receipt_list(bytes: &[u8]) -> Result<Vec<ReceiptView<'_>>, ReceiptsError> {
    list_items(bytes)?
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            decode_one(item).map_err(|source| ReceiptsError::Receipt { index, source })
        })
        .collect()
}

/// Whether the last receipt of a pre-Madhugiri Bor list is the state-sync receipt a Bor peer
/// appends: its cumulative gas is 0 or equal to the previous receipt's (a transaction uses at
/// least 21,000 gas, a state-sync receipt none), and, when the transaction types are known, it
/// is the one receipt beyond the transaction count.
pub fn is_trailing_state_sync_receipt(list: &[ReceiptView<'_>], tx_types: Option<&[u8]>) -> bool {
    let Some(last) = list.last() else {
        return false;
    };
    let previous = list.len().checked_sub(2).map(|i| list[i].cumulative_gas);
    let gasless = last.cumulative_gas == 0 || previous == Some(last.cumulative_gas);
    match tx_types {
        Some(types) => gasless && list.len() == types.len() + 1,
        None => gasless,
    }
}

/// Validates a block's receipts against its header and (when known) its transaction types.
///
/// On Bor chains before Madhugiri a trailing state-sync receipt is set aside first (see the
/// module docs); [`receipts_in_root`] says how many receipts took part.
pub fn validate_receipts(
    spec: &ChainSpec,
    sealed: &SealedHeader,
    receipts: &[u8],
    tx_types: Option<&[u8]>,
) -> Result<(), ValidationError> {
    receipts_in_root(spec, sealed, receipts, tx_types).map(drop)
}

/// [`validate_receipts`], returning the number of receipts that make up the receipts root (one
/// fewer than given when a pre-Madhugiri state-sync receipt was set aside).
pub fn receipts_in_root(
    spec: &ChainSpec,
    sealed: &SealedHeader,
    receipts: &[u8],
    tx_types: Option<&[u8]>,
) -> Result<usize, ValidationError> {
    let h = &sealed.header;
    let number = h.number;
    let mut list =
        decode_receipt_list(receipts).map_err(|e| ValidationError::MalformedReceipts {
            number,
            reason: e.to_string(),
        })?;
    if spec.state_sync_receipts(number, h.timestamp) == StateSyncReceipts::Separate
        && is_trailing_state_sync_receipt(&list, tx_types)
    {
        list.pop();
    }
    if let Some(types) = tx_types {
        if types.len() != list.len() {
            return Err(ValidationError::ReceiptCount {
                number,
                expected: types.len(),
                found: list.len(),
            });
        }
        for (index, (r, t)) in list.iter().zip(types).enumerate() {
            if r.tx_type != *t {
                return Err(ValidationError::ReceiptType {
                    number,
                    index,
                    expected: *t,
                    found: r.tx_type,
                });
            }
        }
    }
    let byzantium = spec.is_active(Hardfork::Byzantium, number, h.timestamp);
    let mut previous = 0u64;
    let mut bloom = Bloom::ZERO;
    for (index, r) in list.iter().enumerate() {
        let ok = if byzantium {
            r.status.is_empty() || r.status == [1]
        } else {
            r.status.len() == 32
        };
        if !ok {
            return Err(ValidationError::ReceiptStatus {
                number,
                index,
                expected: if byzantium {
                    "status 0 or 1 (Byzantium)"
                } else {
                    "a 32-byte post-state root (before Byzantium)"
                },
                found: format!("0x{}", hex(r.status)),
            });
        }
        if let Some(given) = r.bloom
            && given != r.logs_bloom
        {
            return Err(ValidationError::ReceiptBloom {
                number,
                index,
                expected: Box::new(r.logs_bloom),
                found: Box::new(given),
            });
        }
        if r.cumulative_gas < previous {
            return Err(ValidationError::CumulativeGas {
                number,
                index,
                expected: previous,
                found: r.cumulative_gas,
            });
        }
        previous = r.cumulative_gas;
        bloom.accrue_bloom(&r.logs_bloom);
    }
    if previous != h.gas_used {
        return Err(ValidationError::GasUsed {
            number,
            expected: h.gas_used,
            found: previous,
        });
    }
    if bloom != h.logs_bloom {
        return Err(ValidationError::LogsBloom {
            number,
            expected: Box::new(bloom),
            found: Box::new(h.logs_bloom),
        });
    }
    let encodings: Vec<&[u8]> = list.iter().map(|r| r.encoding.as_ref()).collect();
    check_receipts_root(h, &encodings)?;
    Ok(list.len())
}

/// Checks receipts, each in its consensus encoding (the receipts-trie value), against the
/// header's receipts root, without the chain rules. This is the check a downloader runs on
/// each receipt list as it arrives; [`validate_receipts`] runs it and the rules on top.
pub fn check_receipts_root<T: AsRef<[u8]>>(
    h: &alloy_consensus::Header,
    encodings: &[T],
) -> Result<(), ValidationError> {
    let root = ordered_trie_root_encoded(encodings);
    if root != h.receipts_root {
        return Err(ValidationError::ReceiptsRoot {
            number: h.number,
            expected: h.receipts_root,
            found: root,
        });
    }
    Ok(())
}

/// Sets aside the pre-Madhugiri state-sync receipt a Bor peer may append to a block's
/// receipts (see the module docs), so that what is stored is exactly what the receipts root
/// covers: that receipt is in no root, so it can be neither verified nor stored (and a stored
/// block must have one receipt per transaction, `RawBlock::check_integrity`).
///
/// For every block of a Bor chain before Madhugiri whose receipt list has one receipt more than
/// its body has transactions and ends in a gasless receipt, the last receipt is removed (the
/// other receipts keep their exact encodings). Blocks of other eras or chains, and blocks that
/// do not decode (validation reports those), are left as they are. Returns how many receipts
/// were removed. Call it on fetched blocks before validating and storing them.
pub fn set_aside_state_sync_receipts(
    spec: &ChainSpec,
    blocks: &mut [hypasis_primitives::RawBlock],
) -> usize {
    if !spec.is_bor() {
        return 0;
    }
    let mut removed = 0;
    for block in blocks {
        let Ok(header) = block.decode_header() else {
            continue;
        };
        if spec.state_sync_receipts(header.number, header.timestamp) != StateSyncReceipts::Separate
        {
            continue;
        }
        let (Ok(txs), Ok(items)) = (block.transaction_count(), list_items(&block.receipts)) else {
            continue;
        };
        if items.len() != txs + 1 {
            continue;
        }
        let Ok(list) = items
            .iter()
            .map(|i| decode_one(*i))
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        if !is_trailing_state_sync_receipt(&list, None) {
            continue;
        }
        let kept = &items[..txs];
        let payload_len: usize = kept.iter().map(|i| i.raw.len()).sum();
        let mut out = Vec::with_capacity(payload_len + 9);
        list_header(payload_len, &mut out);
        for item in kept {
            out.extend_from_slice(item.raw);
        }
        block.receipts = out.into();
        removed += 1;
    }
    removed
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Count-only helper used by tools: the number of receipts in a list.
pub fn receipt_count(bytes: &[u8]) -> Result<usize, DecodeError> {
    Ok(items(single_item(bytes)?.payload)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_and_consensus_forms_agree() {
        // A legacy receipt with one log: address 0x11.., one topic 0x22.., empty data.
        let mut log = Vec::new();
        let mut log_payload = Vec::new();
        alloy_primitives::Address::repeat_byte(0x11).encode(&mut log_payload);
        let topics = vec![alloy_primitives::B256::repeat_byte(0x22)];
        topics.encode(&mut log_payload);
        alloy_primitives::Bytes::new().encode(&mut log_payload);
        list_header(log_payload.len(), &mut log);
        log.extend_from_slice(&log_payload);
        let mut logs = Vec::new();
        list_header(log.len(), &mut logs);
        logs.extend_from_slice(&log);

        let mut slim_payload = vec![0x02, 0x01, 0x82, 0x52, 0x08]; // type 2, status 1, 21000
        slim_payload.extend_from_slice(&logs);
        let mut slim = Vec::new();
        list_header(slim_payload.len(), &mut slim);
        slim.extend_from_slice(&slim_payload);
        let mut slim_list = Vec::new();
        list_header(slim.len(), &mut slim_list);
        slim_list.extend_from_slice(&slim);
        let decoded = decode_receipts(&slim_list).unwrap();
        assert_eq!(decoded[0].form, ReceiptForm::Slim);
        assert_eq!(decoded[0].tx_type, 2);
        assert_eq!(decoded[0].cumulative_gas, 21000);
        assert_ne!(decoded[0].logs_bloom, Bloom::ZERO);
        // Re-decoding the rebuilt consensus encoding gives the same receipt.
        let enc = decoded[0].encoding.to_vec();
        let mut wrapped = Vec::new();
        alloy_rlp::Header {
            list: false,
            payload_length: enc.len(),
        }
        .encode(&mut wrapped);
        wrapped.extend_from_slice(&enc);
        let mut list = Vec::new();
        list_header(wrapped.len(), &mut list);
        list.extend_from_slice(&wrapped);
        let again = decode_receipts(&list).unwrap();
        assert_eq!(again[0].form, ReceiptForm::Consensus);
        assert_eq!(again[0].bloom, Some(decoded[0].logs_bloom));
        assert_eq!(again[0].encoding, decoded[0].encoding);
    }

    #[test]
    fn decode_error_messages() {
        let msg = |bytes: &[u8]| decode_receipts(bytes).unwrap_err().to_string();
        // Slim receipt [0, [], 0, []]: the status is a list.
        assert_eq!(
            msg(&[0xc5, 0xc4, 0x80, 0xc0, 0x80, 0xc0]),
            "receipt 0: status: expected a string, found a list"
        );
        // Slim receipt [0, 0, 0, [[0x01, [], 0x80]]]: a one-byte log address.
        assert_eq!(
            msg(&[0xc9, 0xc8, 0x80, 0x80, 0x80, 0xc4, 0xc3, 0x01, 0xc0, 0x80]),
            "receipt 0: log 0 address has 1 bytes"
        );
        assert_eq!(msg(&[0x80]), "expected a list, found a string");
    }
}

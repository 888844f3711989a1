//! Blocks as canonical RLP.

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use serde::{Deserialize, Serialize};

/// A block as it travels between services and is stored: its canonical encodings, untouched.
///
/// - `header`: `rlp(header)`; `keccak256(header) == hash`.
/// - `body`: `rlp([transactions, ommers])`, plus `withdrawals` from Shanghai — one element of an
///   eth `BlockBodies` message. Transactions are in their network/canonical form (typed
///   transactions as byte strings `type ‖ payload`).
/// - `receipts`: `rlp([receipt, ...])` — one element of an eth/68 `Receipts` message (typed
///   receipts as byte strings `type ‖ rlp([status, cumulativeGas, bloom, logs])`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawBlock {
    /// Block number (must equal the header's).
    pub number: u64,
    /// Block hash (must equal `keccak256(header)`).
    pub hash: B256,
    /// Canonical header RLP.
    pub header: Bytes,
    /// Canonical body RLP.
    pub body: Bytes,
    /// Canonical receipt-list RLP.
    pub receipts: Bytes,
}

/// Why a block's encodings are inconsistent with the number and hash it claims.
///
/// All variants are faults of whoever produced the block (a peer or a client): refuse the
/// block, do not retry with the same data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockIntegrityError {
    /// `keccak256(header)` differs from the claimed hash.
    #[error("block {number}: header hash is {computed}, but the block claims {claimed}")]
    HashMismatch {
        /// Claimed number.
        number: u64,
        /// Claimed hash.
        claimed: B256,
        /// Hash of the header bytes.
        computed: B256,
    },
    /// The header is not valid RLP of a header.
    #[error("block {number}: malformed header RLP: {reason}")]
    MalformedHeader {
        /// Claimed number.
        number: u64,
        /// Decoder message.
        reason: String,
    },
    /// The header's number differs from the claimed number.
    #[error("block {number}: header carries number {header_number}")]
    NumberMismatch {
        /// Claimed number.
        number: u64,
        /// Number inside the header.
        header_number: u64,
    },
    /// The body is not `rlp([txs, ommers(, withdrawals)])`.
    #[error("block {number}: malformed body RLP: {reason}")]
    MalformedBody {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The receipts are not an RLP list.
    #[error("block {number}: malformed receipts RLP: {reason}")]
    MalformedReceipts {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// Body and receipts disagree on the number of transactions.
    #[error("block {number}: body has {transactions} transactions but {receipts} receipts")]
    CountMismatch {
        /// Block number.
        number: u64,
        /// Transactions in the body.
        transactions: usize,
        /// Receipts in the receipt list.
        receipts: usize,
    },
}

/// Why [`rlp_list_items`] could not count a list (the Display text is the reported reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum ListItemsError {
    /// A list or item header does not decode.
    #[error(transparent)]
    Rlp(#[from] alloy_rlp::Error),
    /// The item is a string.
    #[error("expected a list, found a string")]
    NotAList,
    /// The list payload runs past the input.
    #[error("list claims {claimed} bytes but only {remaining} remain")]
    Truncated { claimed: usize, remaining: usize },
    /// An item payload runs past the list.
    #[error("item {0} is truncated")]
    ItemTruncated(usize),
}

/// Counts the items of the RLP list at the start of `buf`, advancing `buf` past the list.
fn rlp_list_items(buf: &mut &[u8]) -> Result<usize, ListItemsError> {
    let header = alloy_rlp::Header::decode(buf)?;
    if !header.list {
        return Err(ListItemsError::NotAList);
    }
    if header.payload_length > buf.len() {
        return Err(ListItemsError::Truncated {
            claimed: header.payload_length,
            remaining: buf.len(),
        });
    }
    let (mut payload, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    let mut count = 0usize;
    while !payload.is_empty() {
        let item = alloy_rlp::Header::decode(&mut payload)?;
        if item.payload_length > payload.len() {
            return Err(ListItemsError::ItemTruncated(count));
        }
        payload = &payload[item.payload_length..];
        count += 1;
    }
    Ok(count)
}

impl RawBlock {
    /// Decodes the header.
    pub fn decode_header(&self) -> Result<Header, BlockIntegrityError> {
        let mut buf = &self.header[..];
        let header =
            Header::decode(&mut buf).map_err(|e| BlockIntegrityError::MalformedHeader {
                number: self.number,
                reason: e.to_string(),
            })?;
        if !buf.is_empty() {
            return Err(BlockIntegrityError::MalformedHeader {
                number: self.number,
                reason: format!("{} trailing bytes", buf.len()),
            });
        }
        Ok(header)
    }

    /// Number of transactions in the body.
    pub fn transaction_count(&self) -> Result<usize, BlockIntegrityError> {
        let bad = |reason: String| BlockIntegrityError::MalformedBody {
            number: self.number,
            reason,
        };
        let mut buf = &self.body[..];
        let outer = alloy_rlp::Header::decode(&mut buf).map_err(|e| bad(e.to_string()))?;
        if !outer.list || outer.payload_length != buf.len() {
            return Err(bad("body is not exactly one RLP list".into()));
        }
        let txs = rlp_list_items(&mut buf).map_err(|e| bad(format!("transactions: {e}")))?;
        let _ommers = rlp_list_items(&mut buf).map_err(|e| bad(format!("ommers: {e}")))?;
        if !buf.is_empty() {
            let _withdrawals =
                rlp_list_items(&mut buf).map_err(|e| bad(format!("withdrawals: {e}")))?;
        }
        if !buf.is_empty() {
            return Err(bad("unexpected fields after withdrawals".into()));
        }
        Ok(txs)
    }

    /// Number of receipts in the receipt list.
    pub fn receipt_count(&self) -> Result<usize, BlockIntegrityError> {
        let mut buf = &self.receipts[..];
        let count =
            rlp_list_items(&mut buf).map_err(|e| BlockIntegrityError::MalformedReceipts {
                number: self.number,
                reason: e.to_string(),
            })?;
        if !buf.is_empty() {
            return Err(BlockIntegrityError::MalformedReceipts {
                number: self.number,
                reason: format!("{} trailing bytes", buf.len()),
            });
        }
        Ok(count)
    }

    /// Checks that the encodings are consistent with the claimed number and hash and with each
    /// other (header hash, header number, body/receipt shape and counts), and returns the decoded
    /// header. This is the structural check every store write performs; the consensus rules
    /// (roots, linkage to anchors) are the validator's job.
    pub fn check_integrity(&self) -> Result<Header, BlockIntegrityError> {
        let computed = keccak256(&self.header);
        if computed != self.hash {
            return Err(BlockIntegrityError::HashMismatch {
                number: self.number,
                claimed: self.hash,
                computed,
            });
        }
        let header = self.decode_header()?;
        if header.number != self.number {
            return Err(BlockIntegrityError::NumberMismatch {
                number: self.number,
                header_number: header.number,
            });
        }
        let transactions = self.transaction_count()?;
        let receipts = self.receipt_count()?;
        if transactions != receipts {
            return Err(BlockIntegrityError::CountMismatch {
                number: self.number,
                transactions,
                receipts,
            });
        }
        Ok(header)
    }

    /// Total encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.header.len() + self.body.len() + self.receipts.len()
    }
}

/// Encodes consensus receipt encodings (legacy receipts as RLP lists, typed receipts as
/// `type ‖ rlp(...)`) as the receipt-list RLP of [`RawBlock::receipts`]: one element of an
/// eth/68 `Receipts` message, typed receipts wrapped as byte strings.
pub fn receipt_list_rlp(receipts: &[Bytes]) -> Vec<u8> {
    let mut inner = Vec::new();
    for r in receipts {
        if r.first().is_some_and(|b| *b >= 0xc0) {
            inner.extend_from_slice(r);
        } else {
            crate::rlp::put_string_header(&mut inner, r.len());
            inner.extend_from_slice(r);
        }
    }
    crate::rlp::wrap_list(&inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_rlp::Encodable;

    fn block(number: u64, txs: usize, receipts: usize) -> RawBlock {
        let header = Header {
            number,
            ..Default::default()
        };
        let mut h = Vec::new();
        header.encode(&mut h);
        // body: [[tx...], []] with opaque legacy-looking tx lists
        let tx_items: Vec<Vec<u8>> = (0..txs).map(|i| vec![0xc1, i as u8 & 0x7f]).collect();
        let mut txs_payload: Vec<u8> = tx_items.concat();
        let mut list = Vec::new();
        alloy_rlp::Header {
            list: true,
            payload_length: txs_payload.len(),
        }
        .encode(&mut list);
        list.append(&mut txs_payload);
        list.push(0xc0); // ommers
        let mut body = Vec::new();
        alloy_rlp::Header {
            list: true,
            payload_length: list.len(),
        }
        .encode(&mut body);
        body.extend_from_slice(&list);
        let rc: Vec<u8> = (0..receipts).flat_map(|_| [0xc0]).collect();
        let mut rec = Vec::new();
        alloy_rlp::Header {
            list: true,
            payload_length: rc.len(),
        }
        .encode(&mut rec);
        rec.extend_from_slice(&rc);
        RawBlock {
            number,
            hash: keccak256(&h),
            header: h.into(),
            body: body.into(),
            receipts: rec.into(),
        }
    }

    #[test]
    fn consistent_block_passes() {
        let b = block(7, 3, 3);
        assert_eq!(b.check_integrity().unwrap().number, 7);
    }

    #[test]
    fn wrong_hash_refused() {
        let mut b = block(7, 0, 0);
        b.hash = B256::repeat_byte(1);
        assert!(matches!(
            b.check_integrity(),
            Err(BlockIntegrityError::HashMismatch { number: 7, .. })
        ));
    }

    #[test]
    fn wrong_number_refused() {
        let mut b = block(7, 0, 0);
        b.number = 8;
        assert!(matches!(
            b.check_integrity(),
            Err(BlockIntegrityError::NumberMismatch {
                number: 8,
                header_number: 7
            })
        ));
    }

    #[test]
    fn count_mismatch_refused() {
        let b = block(7, 3, 2);
        assert_eq!(
            b.check_integrity(),
            Err(BlockIntegrityError::CountMismatch {
                number: 7,
                transactions: 3,
                receipts: 2
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut b = block(1, 1, 1);
        for cut in 0..b.body.len() {
            let mut x = b.clone();
            x.body = b.body.slice(..cut);
            assert!(x.check_integrity().is_err());
        }
        b.receipts = Bytes::from_static(&[0xff, 0x00]);
        assert!(b.check_integrity().is_err());
    }
}

//! Checks of downloaded block data against headers: header hashes and parent links, bodies
//! against the transactions root / ommers hash / withdrawals root, receipts against the
//! receipts root.
//!
//! Everything works on the raw RLP received from peers; nothing is re-encoded except the
//! canonical transaction encoding (typed transactions in a body are byte strings wrapping
//! `type ‖ payload`; the trie holds `type ‖ payload`).

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::root::ordered_trie_root_encoded;

use crate::rlp_util::{Items, list_payload};

/// Why downloaded data does not match the headers it belongs to. All variants are faults of
/// whoever sent the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not valid header RLP.
    #[error("malformed header: {0}")]
    MalformedHeader(String),
    /// A header carries an unexpected number.
    #[error("expected header {expected}, got {got}")]
    WrongNumber {
        /// Number asked for.
        expected: u64,
        /// Number in the header.
        got: u64,
    },
    /// A header's parent hash does not match the previous header's hash.
    #[error("header {number}: parent hash {got} does not match previous header hash {expected}")]
    BrokenLink {
        /// Number of the header whose parent hash is wrong.
        number: u64,
        /// Hash of the previous header.
        expected: B256,
        /// Parent hash in the header.
        got: B256,
    },
    /// A header's hash is not the one asked for.
    #[error("header {number}: hash {got} is not the requested {expected}")]
    WrongHash {
        /// Block number.
        number: u64,
        /// Requested hash.
        expected: B256,
        /// Actual hash.
        got: B256,
    },
    /// The body is not `[transactions, ommers(, withdrawals)]`.
    #[error("block {number}: malformed body: {reason}")]
    MalformedBody {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The transactions root does not match.
    #[error("block {number}: transactions root {computed} does not match header {expected}")]
    TransactionsRoot {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the body.
        computed: B256,
    },
    /// The ommers hash does not match.
    #[error("block {number}: ommers hash {computed} does not match header {expected}")]
    OmmersHash {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the body.
        computed: B256,
    },
    /// The withdrawals root does not match, or withdrawals are present/missing against the
    /// header.
    #[error("block {number}: withdrawals do not match the header: {reason}")]
    Withdrawals {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The receipts root does not match.
    #[error("block {number}: receipts root {computed} does not match header {expected}")]
    ReceiptsRoot {
        /// Block number.
        number: u64,
        /// Header value.
        expected: B256,
        /// Computed from the receipts.
        computed: B256,
    },
}

/// A header decoded once, with its hash.
#[derive(Debug, Clone)]
pub struct CheckedHeader {
    /// Raw RLP as received.
    pub raw: Bytes,
    /// `keccak256(raw)`.
    pub hash: B256,
    /// Decoded header.
    pub header: Header,
}

impl CheckedHeader {
    /// Decodes a raw header (exactly one RLP item).
    pub fn decode(raw: Bytes) -> Result<Self, VerifyError> {
        let mut buf = &raw[..];
        let header =
            Header::decode(&mut buf).map_err(|e| VerifyError::MalformedHeader(e.to_string()))?;
        if !buf.is_empty() {
            return Err(VerifyError::MalformedHeader(format!(
                "{} trailing bytes",
                buf.len()
            )));
        }
        Ok(Self {
            hash: keccak256(&raw),
            raw,
            header,
        })
    }

    /// Block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }
}

/// Decodes `headers` (expected to be blocks `first, first+1, ...`) and checks numbers and
/// parent links; `parent` is the hash of block `first - 1` when known.
pub fn check_header_chain(
    first: u64,
    parent: Option<B256>,
    headers: &[Bytes],
) -> Result<Vec<CheckedHeader>, VerifyError> {
    let mut out = Vec::with_capacity(headers.len());
    let mut prev = parent;
    for (i, raw) in headers.iter().enumerate() {
        let h = CheckedHeader::decode(raw.clone())?;
        let expected = first + i as u64;
        if h.number() != expected {
            return Err(VerifyError::WrongNumber {
                expected,
                got: h.number(),
            });
        }
        if let Some(p) = prev
            && h.header.parent_hash != p
        {
            return Err(VerifyError::BrokenLink {
                number: expected,
                expected: p,
                got: h.header.parent_hash,
            });
        }
        prev = Some(h.hash);
        out.push(h);
    }
    Ok(out)
}

/// The parts of a block body, as raw RLP slices of the body.
#[derive(Debug, Clone, Copy)]
pub struct BodyParts<'a> {
    /// Canonical transaction encodings (legacy: the RLP list; typed: `type ‖ payload`).
    pub transaction_count: usize,
    /// The raw RLP of the ommers list.
    pub ommers: &'a [u8],
    /// The raw RLP of the withdrawals list, when present.
    pub withdrawals: Option<&'a [u8]>,
}

/// Splits a body `[txs, ommers(, withdrawals)]` and returns the canonical transaction
/// encodings and the other parts.
pub fn split_body(body: &[u8]) -> Result<(Vec<&[u8]>, BodyParts<'_>), String> {
    let mut buf = body;
    let payload = list_payload(&mut buf).map_err(|e| e.to_string())?;
    if !buf.is_empty() {
        return Err("trailing bytes after body".into());
    }
    let mut fields = Items::new(payload);
    let txs_raw = fields
        .require_raw()
        .map_err(|e| format!("transactions: {e}"))?;
    let ommers = fields.require_raw().map_err(|e| format!("ommers: {e}"))?;
    let withdrawals = fields.next_raw().map_err(|e| format!("withdrawals: {e}"))?;
    if !fields.is_empty() {
        return Err("unexpected fields after withdrawals".into());
    }
    let mut tb = txs_raw;
    let mut txs_it = Items::new(list_payload(&mut tb).map_err(|e| format!("transactions: {e}"))?);
    let mut txs = Vec::new();
    while let Some(tx) = txs_it.next_raw().map_err(|e| format!("transaction: {e}"))? {
        txs.push(canonical_tx(tx)?);
    }
    let mut ob = ommers;
    list_payload(&mut ob).map_err(|e| format!("ommers: {e}"))?;
    if let Some(w) = withdrawals {
        let mut wb = w;
        list_payload(&mut wb).map_err(|e| format!("withdrawals: {e}"))?;
    }
    let parts = BodyParts {
        transaction_count: txs.len(),
        ommers,
        withdrawals,
    };
    Ok((txs, parts))
}

fn canonical_tx(raw: &[u8]) -> Result<&[u8], String> {
    match raw.first() {
        Some(b) if *b >= 0xc0 => Ok(raw),
        Some(_) => {
            let mut buf = raw;
            let inner = alloy_rlp::Header::decode_bytes(&mut buf, false)
                .map_err(|e| format!("typed transaction: {e}"))?;
            match inner.first() {
                Some(t) if *t < 0x80 => Ok(inner),
                _ => Err("typed transaction without a valid type byte".into()),
            }
        }
        None => Err("empty transaction".into()),
    }
}

/// The raw items of an RLP list.
fn list_items(raw: &[u8]) -> alloy_rlp::Result<Vec<&[u8]>> {
    let mut buf = raw;
    let mut it = Items::new(list_payload(&mut buf)?);
    let mut out = Vec::new();
    while let Some(item) = it.next_raw()? {
        out.push(item);
    }
    Ok(out)
}

/// Checks a body against its header: transactions root, ommers hash and withdrawals root.
/// Returns the number of transactions.
pub fn check_body(header: &Header, body: &[u8]) -> Result<usize, VerifyError> {
    let number = header.number;
    let (txs, parts) =
        split_body(body).map_err(|reason| VerifyError::MalformedBody { number, reason })?;
    let computed = ordered_trie_root_encoded(&txs);
    if computed != header.transactions_root {
        return Err(VerifyError::TransactionsRoot {
            number,
            expected: header.transactions_root,
            computed,
        });
    }
    let computed = keccak256(parts.ommers);
    if computed != header.ommers_hash {
        return Err(VerifyError::OmmersHash {
            number,
            expected: header.ommers_hash,
            computed,
        });
    }
    match (header.withdrawals_root, parts.withdrawals) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(VerifyError::Withdrawals {
                number,
                reason: "header has a withdrawals root but the body has no withdrawals".into(),
            });
        }
        (None, Some(_)) => {
            return Err(VerifyError::Withdrawals {
                number,
                reason: "body has withdrawals but the header has no withdrawals root".into(),
            });
        }
        (Some(expected), Some(raw)) => {
            let items = list_items(raw).map_err(|e| VerifyError::MalformedBody {
                number,
                reason: format!("withdrawals: {e}"),
            })?;
            let computed = ordered_trie_root_encoded(&items);
            if computed != expected {
                return Err(VerifyError::Withdrawals {
                    number,
                    reason: format!("root {computed} does not match header {expected}"),
                });
            }
        }
    }
    Ok(parts.transaction_count)
}

/// Checks a block's receipts (consensus encodings) against the header's receipts root.
pub fn check_receipts(header: &Header, receipts: &[Bytes]) -> Result<(), VerifyError> {
    let computed = ordered_trie_root_encoded(receipts);
    if computed != header.receipts_root {
        return Err(VerifyError::ReceiptsRoot {
            number: header.number,
            expected: header.receipts_root,
            computed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlp_util::wrap_list;
    use alloy_consensus::EMPTY_OMMER_ROOT_HASH;
    use alloy_rlp::Encodable;
    use alloy_trie::EMPTY_ROOT_HASH;

    fn header_bytes(h: &Header) -> Bytes {
        let mut out = Vec::new();
        h.encode(&mut out);
        out.into()
    }

    #[test]
    fn empty_body_and_links() {
        let mut h0 = Header {
            number: 5,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            ..Default::default()
        };
        let raw0 = header_bytes(&h0);
        let h1 = Header {
            number: 6,
            parent_hash: keccak256(&raw0),
            ..h0.clone()
        };
        let raw1 = header_bytes(&h1);
        let chain = check_header_chain(5, None, &[raw0.clone(), raw1.clone()]).unwrap();
        assert_eq!(chain[1].hash, keccak256(&raw1));
        assert!(matches!(
            check_header_chain(5, None, &[raw1.clone(), raw0.clone()]),
            Err(VerifyError::WrongNumber { .. })
        ));
        assert!(matches!(
            check_header_chain(5, Some(B256::repeat_byte(1)), std::slice::from_ref(&raw0)),
            Err(VerifyError::BrokenLink { .. })
        ));
        let body = wrap_list(&[0xc0, 0xc0]);
        assert_eq!(check_body(&h0, &body).unwrap(), 0);
        check_receipts(&h0, &[]).unwrap();
        // Withdrawals present in body but not in header.
        assert!(matches!(
            check_body(&h0, &wrap_list(&[0xc0, 0xc0, 0xc0])),
            Err(VerifyError::Withdrawals { .. })
        ));
        h0.withdrawals_root = Some(EMPTY_ROOT_HASH);
        assert_eq!(check_body(&h0, &wrap_list(&[0xc0, 0xc0, 0xc0])).unwrap(), 0);
        assert!(matches!(
            check_body(&h0, &body),
            Err(VerifyError::Withdrawals { .. })
        ));
        // A transaction that does not match the root.
        let txs = wrap_list(&[0xc1, 0x01]);
        let mut b = txs.clone();
        b.push(0xc0);
        b.push(0xc0);
        assert!(matches!(
            check_body(&h0, &wrap_list(&b)),
            Err(VerifyError::TransactionsRoot { .. })
        ));
        // Garbage.
        assert!(matches!(
            check_body(&h0, &[0x80]),
            Err(VerifyError::MalformedBody { .. })
        ));
        assert!(matches!(
            check_receipts(&h0, &[Bytes::from_static(&[0xc0])]),
            Err(VerifyError::ReceiptsRoot { .. })
        ));
    }
}

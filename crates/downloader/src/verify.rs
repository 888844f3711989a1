//! The downloader's checks of block data as it arrives: header numbers and parent links here,
//! bodies and receipts against what their headers commit to by the validation crate
//! (`hypasis_validation::body::check_body_against_header`,
//! `hypasis_validation::receipts::check_receipts_root`) — one body/receipt checker. The chain
//! rules run later, on the whole range (`hypasis_validation::Validator`).

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};
use hypasis_primitives::{Fault, FaultClass};
use hypasis_validation::{
    SealedHeader, ValidationError, body::check_body_against_header, receipts::check_receipts_root,
};

/// Why downloaded data does not match the headers it belongs to. All variants are faults of
/// whoever sent the data ([`FaultClass::Peer`]).
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
    /// A body or a receipt list does not match what its header commits to (the validation
    /// crate's verdict).
    #[error(transparent)]
    Data(#[from] ValidationError),
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
        let SealedHeader { header, hash } =
            SealedHeader::decode(&raw).map_err(|e| VerifyError::MalformedHeader(e.to_string()))?;
        Ok(Self { raw, hash, header })
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

/// Checks a body against its header: transactions root, ommers hash and withdrawals root
/// (the validation crate's [`check_body_against_header`]). Returns the number of transactions.
pub fn check_body(header: &Header, body: &[u8]) -> Result<usize, VerifyError> {
    Ok(check_body_against_header(header, body)?)
}

/// Checks a block's receipts (consensus encodings) against the header's receipts root (the
/// validation crate's [`check_receipts_root`]).
pub fn check_receipts(header: &Header, receipts: &[Bytes]) -> Result<(), VerifyError> {
    Ok(check_receipts_root(header, receipts)?)
}

impl Fault for VerifyError {
    /// Every check here is of data a peer sent.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlp_util::wrap_list;
    use alloy_consensus::EMPTY_OMMER_ROOT_HASH;
    use alloy_primitives::keccak256;
    use alloy_rlp::Encodable;
    use alloy_trie::EMPTY_ROOT_HASH;
    use hypasis_validation::HeaderField;

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
            Err(VerifyError::Data(ValidationError::UnexpectedField {
                field: HeaderField::BodyWithdrawals,
                ..
            }))
        ));
        h0.withdrawals_root = Some(EMPTY_ROOT_HASH);
        assert_eq!(check_body(&h0, &wrap_list(&[0xc0, 0xc0, 0xc0])).unwrap(), 0);
        assert!(matches!(
            check_body(&h0, &body),
            Err(VerifyError::Data(ValidationError::MissingField {
                field: HeaderField::BodyWithdrawals,
                ..
            }))
        ));
        // A transaction that does not match the root.
        let txs = wrap_list(&[0xc1, 0x01]);
        let mut b = txs.clone();
        b.push(0xc0);
        b.push(0xc0);
        assert!(matches!(
            check_body(&h0, &wrap_list(&b)),
            Err(VerifyError::Data(ValidationError::TransactionsRoot { .. }))
        ));
        // Garbage.
        assert!(matches!(
            check_body(&h0, &[0x80]),
            Err(VerifyError::Data(ValidationError::MalformedBody { .. }))
        ));
        assert!(matches!(
            check_receipts(&h0, &[Bytes::from_static(&[0xc0])]),
            Err(VerifyError::Data(ValidationError::ReceiptsRoot { .. }))
        ));
    }

    #[test]
    fn every_check_blames_the_sender() {
        let e = VerifyError::WrongNumber {
            expected: 1,
            got: 2,
        };
        assert_eq!(e.fault(), FaultClass::Peer);
        let h = Header::default();
        let e = check_body(&h, &[0x80]).unwrap_err();
        assert_eq!(e.fault(), FaultClass::Peer);
    }
}

//! Block files: geth's export format (`chain.rlp`, concatenated `rlp([header, txs, uncles(,
//! withdrawals)])`) and our receipts file (`receipts.rlp`, one RLP item per block: that
//! block's receipt list exactly as one element of an eth/68 `Receipts` message, the
//! [`hypasis_primitives::RawBlock::receipts`] encoding). The storage API owns these stored
//! encodings; `hypasis_network::blockfile::load_source` loads the files into a block source.

use alloy_primitives::{B256, Bytes, keccak256};

use hypasis_primitives::{
    Fault, FaultClass,
    block::receipt_list_rlp,
    rlp::{Items, list_payload, next_item, wrap_list},
};

/// Errors reading block files.
#[derive(Debug, thiserror::Error)]
pub enum BlockFileError {
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Malformed block RLP.
    #[error("block #{index} in the chain file is malformed: {reason}")]
    MalformedBlock {
        /// Position in the file (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Malformed receipts RLP.
    #[error("receipt list #{index} in the receipts file is malformed: {reason}")]
    MalformedReceipts {
        /// Position in the file (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The two files disagree on the number of blocks.
    #[error("chain file has {blocks} blocks but receipts file has {receipts} entries")]
    CountMismatch {
        /// Blocks in the chain file.
        blocks: usize,
        /// Entries in the receipts file.
        receipts: usize,
    },
}

/// One block of a chain file, split into header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBlock {
    /// Block number (from the header).
    pub number: u64,
    /// `keccak256(header)`.
    pub hash: B256,
    /// Header RLP.
    pub header: Bytes,
    /// Body RLP `[txs, uncles(, withdrawals)]`.
    pub body: Bytes,
}

/// Encodes `rlp([header, txs, uncles(, withdrawals)])` from a header and a body
/// `[txs, uncles(, withdrawals)]`.
pub fn block_rlp(header: &[u8], body: &[u8]) -> Result<Vec<u8>, alloy_rlp::Error> {
    let mut b = body;
    let body_payload = list_payload(&mut b)?;
    let mut p = Vec::with_capacity(header.len() + body_payload.len());
    p.extend_from_slice(header);
    p.extend_from_slice(body_payload);
    Ok(wrap_list(&p))
}

/// Splits `rlp([header, rest...])` into header and body `[rest...]`.
pub fn split_block(block: &[u8]) -> Result<(Bytes, Bytes), alloy_rlp::Error> {
    let mut b = block;
    let payload = list_payload(&mut b)?;
    if !b.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let mut rest = payload;
    let header = next_item(&mut rest)?;
    if header.first().is_none_or(|x| *x < 0xc0) {
        return Err(alloy_rlp::Error::UnexpectedString);
    }
    Ok((Bytes::copy_from_slice(header), Bytes::from(wrap_list(rest))))
}

/// Reads block number of a header RLP (the 9th field).
fn header_number(header: &[u8]) -> Result<u64, alloy_rlp::Error> {
    let mut b = header;
    let mut it = Items::new(list_payload(&mut b)?);
    for _ in 0..8 {
        it.require_raw()?;
    }
    it.require::<u64>()
}

/// Parses a chain file (concatenated block RLP).
pub fn parse_chain(data: &[u8]) -> Result<Vec<FileBlock>, BlockFileError> {
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let index = out.len();
        let bad = |reason: String| BlockFileError::MalformedBlock { index, reason };
        let item = next_item(&mut rest).map_err(|e| bad(e.to_string()))?;
        let (header, body) = split_block(item).map_err(|e| bad(e.to_string()))?;
        let number = header_number(&header).map_err(|e| bad(e.to_string()))?;
        out.push(FileBlock {
            number,
            hash: keccak256(&header),
            header,
            body,
        });
    }
    Ok(out)
}

/// Parses a receipts file into per-block consensus receipt encodings.
pub fn parse_receipts(data: &[u8]) -> Result<Vec<Vec<Bytes>>, BlockFileError> {
    let mut rest = data;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let index = out.len();
        let bad = |reason: String| BlockFileError::MalformedReceipts { index, reason };
        let item = next_item(&mut rest).map_err(|e| bad(e.to_string()))?;
        out.push(receipts_from_eth68_list(item).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

/// Converts one eth/68 per-block receipt list to consensus encodings.
pub fn receipts_from_eth68_list(list: &[u8]) -> Result<Vec<Bytes>, alloy_rlp::Error> {
    let mut b = list;
    let mut it = Items::new(list_payload(&mut b)?);
    if !b.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    let mut out = Vec::new();
    while let Some(r) = it.next_raw()? {
        if r.first().is_some_and(|x| *x >= 0xc0) {
            out.push(Bytes::copy_from_slice(r));
        } else {
            let mut rb = r;
            let inner = alloy_rlp::Header::decode_bytes(&mut rb, false)?;
            if inner.first().is_none_or(|t| *t >= 0x80) {
                return Err(alloy_rlp::Error::Custom("typed receipt without type byte"));
            }
            out.push(Bytes::copy_from_slice(inner));
        }
    }
    Ok(out)
}

/// Encodes one block's consensus receipts as a receipts-file item.
pub fn receipts_file_item(receipts: &[Bytes]) -> Vec<u8> {
    receipt_list_rlp(receipts)
}

/// Reads a block file, naming it in the error.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>, BlockFileError> {
    std::fs::read(path).map_err(|source| BlockFileError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Fault for BlockFileError {
    /// Block files are local files named by the operator: transient I/O is retried, a file
    /// that cannot be read or parsed stops.
    fn fault(&self) -> FaultClass {
        match self {
            Self::Io { source, .. } => match source.fault() {
                FaultClass::Local => FaultClass::Local,
                _ => FaultClass::Fatal,
            },
            Self::MalformedBlock { .. }
            | Self::MalformedReceipts { .. }
            | Self::CountMismatch { .. } => FaultClass::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_rlp::Encodable;

    #[test]
    fn roundtrip() {
        let header = alloy_consensus::Header {
            number: 7,
            ..Default::default()
        };
        let mut h = Vec::new();
        header.encode(&mut h);
        let body = wrap_list(&[0xc0, 0xc0]);
        let block = block_rlp(&h, &body).unwrap();
        let mut file = block.clone();
        file.extend_from_slice(&block);
        let parsed = parse_chain(&file).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].number, 7);
        assert_eq!(&parsed[0].header[..], &h[..]);
        assert_eq!(&parsed[0].body[..], &body[..]);
        assert!(parse_chain(&file[..file.len() - 1]).is_err());

        let receipts = vec![
            Bytes::from(vec![0xc1, 0x01]),
            Bytes::from(vec![0x02, 0xc1, 0x01]),
        ];
        let item = receipts_file_item(&receipts);
        assert_eq!(parse_receipts(&item).unwrap(), vec![receipts]);
        assert!(parse_receipts(&[0x81]).is_err());
    }

    #[test]
    fn block_file_errors_are_local_or_fatal() {
        let denied = BlockFileError::Io {
            path: "chain.rlp".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(denied.fault(), FaultClass::Fatal);
        let interrupted = BlockFileError::Io {
            path: "chain.rlp".into(),
            source: std::io::Error::from(std::io::ErrorKind::Interrupted),
        };
        assert_eq!(interrupted.fault(), FaultClass::Local);
        let e = BlockFileError::CountMismatch {
            blocks: 2,
            receipts: 1,
        };
        assert_eq!(e.fault(), FaultClass::Fatal);
    }
}

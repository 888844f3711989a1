//! Input formats: `chain.rlp` (concatenated `rlp([header, txs, ommers(, withdrawals)])`),
//! `receipts.rlp` (one receipt list per block), `headers.rlp` (concatenated headers) and era1
//! files. All splitters are zero-copy where possible and never panic on malformed input.

use crate::error::DecodeError;
use crate::range::BlockData;
use crate::rlp::{items, list_header, single_item, split_concatenated};
use alloy_primitives::Bytes;
use hypasis_era::{Era1, EraError};

/// Splits one full block `rlp([header, txs, ommers(, withdrawals)])` into the header RLP and
/// the body RLP `rlp([txs, ommers(, withdrawals)])`.
pub fn split_block(block: &[u8]) -> Result<(Bytes, Bytes), DecodeError> {
    let outer = single_item(block)?;
    if !outer.is_list {
        return Err("block is not a list".into());
    }
    let fields = items(outer.payload)?;
    if !(3..=4).contains(&fields.len()) {
        return Err(format!(
            "block has {} fields, expected 3 or 4 (header, txs, ommers, withdrawals)",
            fields.len()
        )
        .into());
    }
    if !fields[0].is_list {
        return Err("header is not a list".into());
    }
    let body_payload_len: usize = fields[1..].iter().map(|f| f.raw.len()).sum();
    let mut body = Vec::with_capacity(body_payload_len + 9);
    list_header(body_payload_len, &mut body);
    for f in &fields[1..] {
        body.extend_from_slice(f.raw);
    }
    Ok((Bytes::copy_from_slice(fields[0].raw), body.into()))
}

/// Why an input file could not be turned into blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The file is not a sequence of RLP items of the expected shape.
    #[error("{file}: item {index}: {reason}")]
    Rlp {
        /// Which input.
        file: &'static str,
        /// Item index (block position).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// `--receipts` does not have one receipt list per block.
    #[error("receipts.rlp has {receipts} receipt lists for {blocks} blocks")]
    ReceiptListCount {
        /// Blocks in chain.rlp.
        blocks: usize,
        /// Receipt lists.
        receipts: usize,
    },
    /// An era1 file is corrupt.
    #[error("era1: {0}")]
    Era(#[from] EraError),
}

/// Blocks from `chain.rlp` and, optionally, `receipts.rlp`.
pub fn blocks_from_chain_rlp(
    chain: &[u8],
    receipts: Option<&[u8]>,
) -> Result<Vec<BlockData>, InputError> {
    let items = split_concatenated(chain).map_err(|e| InputError::Rlp {
        file: "chain.rlp",
        index: 0,
        reason: e.to_string(),
    })?;
    let receipt_items = match receipts {
        Some(r) => Some(split_concatenated(r).map_err(|e| InputError::Rlp {
            file: "receipts.rlp",
            index: 0,
            reason: e.to_string(),
        })?),
        None => None,
    };
    if let Some(r) = &receipt_items
        && r.len() != items.len()
    {
        return Err(InputError::ReceiptListCount {
            blocks: items.len(),
            receipts: r.len(),
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let (header, body) = split_block(item).map_err(|e| InputError::Rlp {
                file: "chain.rlp",
                index,
                reason: e.to_string(),
            })?;
            Ok(BlockData {
                header,
                body: Some(body),
                receipts: receipt_items
                    .as_ref()
                    .map(|r| Bytes::copy_from_slice(r[index])),
                total_difficulty: None,
                claimed: None,
            })
        })
        .collect()
}

/// Header-only blocks from `headers.rlp`.
pub fn blocks_from_headers_rlp(headers: &[u8]) -> Result<Vec<BlockData>, InputError> {
    let items = split_concatenated(headers).map_err(|e| InputError::Rlp {
        file: "headers.rlp",
        index: 0,
        reason: e.to_string(),
    })?;
    Ok(items
        .into_iter()
        .map(|h| BlockData::header_only(Bytes::copy_from_slice(h)))
        .collect())
}

/// Blocks (header, body, receipts, total difficulty) from a parsed era1 file, decompressed in
/// parallel.
pub fn blocks_from_era1(era: &Era1<'_>) -> Result<Vec<BlockData>, InputError> {
    use rayon::prelude::*;
    era.blocks
        .par_iter()
        .map(|b| {
            Ok(BlockData {
                header: b.header()?.into(),
                body: Some(b.body()?.into()),
                receipts: Some(b.receipts()?.into()),
                total_difficulty: Some(b.total_difficulty),
                claimed: None,
            })
        })
        .collect()
}

impl hypasis_primitives::Fault for InputError {
    /// Input files that do not decode are bad data from whoever supplied them (peer); a
    /// corrupt era1 file keeps the era error's class.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Rlp { .. } | Self::ReceiptListCount { .. } => {
                hypasis_primitives::FaultClass::Peer
            }
            Self::Era(e) => hypasis_primitives::Fault::fault(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_block_shapes() {
        // [[header], [], [], []]
        let block = [0xc5, 0xc1, 0x80, 0xc0, 0xc0, 0xc0];
        let (h, b) = split_block(&block).unwrap();
        assert_eq!(h.as_ref(), &[0xc1, 0x80]);
        assert_eq!(b.as_ref(), &[0xc3, 0xc0, 0xc0, 0xc0]);
        assert!(split_block(&[0xc2, 0xc0, 0xc0]).is_err());
        assert!(split_block(&[0xc3, 0x80, 0xc0, 0xc0]).is_err());
    }
}

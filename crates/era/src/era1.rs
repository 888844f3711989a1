//! era1 files: `Version | (CompressedHeader | CompressedBody | CompressedReceipts |
//! TotalDifficulty)* | other* | Accumulator | BlockIndex`.
//!
//! - header, body and receipts are snappy *framed* (the streaming format) RLP: the header, the
//!   body `rlp([txs, uncles])`, and the receipt list in its consensus encoding;
//! - the total difficulty is a `uint256` little-endian;
//! - the accumulator is the 32-byte `hash_tree_root` of the epoch's `(hash, td)` records;
//! - the block index is `start u64 LE | count × i64 LE offsets | count u64 LE`, each offset
//!   relative to the start of the index record and pointing at the block's header record.

use crate::e2store::{E2Record, E2StoreReader, HEADER_LEN};
use crate::{EraError, MAX_DECOMPRESSED_LEN};
use alloy_primitives::{B256, U256};
use std::io::Read;

/// Record type: version marker (bytes `65 32`, "e2").
pub const VERSION: u16 = 0x3265;
/// Record type: snappy-framed header RLP.
pub const COMPRESSED_HEADER: u16 = 0x03;
/// Record type: snappy-framed body RLP.
pub const COMPRESSED_BODY: u16 = 0x04;
/// Record type: snappy-framed receipts RLP.
pub const COMPRESSED_RECEIPTS: u16 = 0x05;
/// Record type: total difficulty, uint256 LE.
pub const TOTAL_DIFFICULTY: u16 = 0x06;
/// Record type: epoch accumulator root.
pub const ACCUMULATOR: u16 = 0x07;
/// Record type: block index (bytes `66 32`).
pub const BLOCK_INDEX: u16 = 0x3266;
/// Blocks per era1 file (one epoch of the pre-merge accumulator).
pub const BLOCKS_PER_FILE: usize = 8192;

/// One block of an era1 file, still compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Era1Block<'a> {
    /// Block number.
    pub number: u64,
    /// Snappy-framed header RLP.
    pub compressed_header: &'a [u8],
    /// Snappy-framed body RLP (`[txs, uncles]`).
    pub compressed_body: &'a [u8],
    /// Snappy-framed receipt list RLP.
    pub compressed_receipts: &'a [u8],
    /// Total difficulty up to and including this block.
    pub total_difficulty: U256,
}

fn decompress(number: u64, what: &'static str, data: &[u8]) -> Result<Vec<u8>, EraError> {
    let mut out = Vec::new();
    snap::read::FrameDecoder::new(data)
        .take(MAX_DECOMPRESSED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| EraError::Snappy {
            number,
            what,
            reason: e.to_string(),
        })?;
    if out.len() > MAX_DECOMPRESSED_LEN {
        return Err(EraError::TooLarge {
            number,
            what,
            limit: MAX_DECOMPRESSED_LEN,
        });
    }
    Ok(out)
}

impl Era1Block<'_> {
    /// The header RLP.
    pub fn header(&self) -> Result<Vec<u8>, EraError> {
        decompress(self.number, "header", self.compressed_header)
    }

    /// The body RLP, `rlp([txs, uncles])`.
    pub fn body(&self) -> Result<Vec<u8>, EraError> {
        decompress(self.number, "body", self.compressed_body)
    }

    /// The receipt list RLP (consensus encoding: legacy receipts as lists, typed receipts as
    /// byte strings `type ‖ rlp(...)`).
    pub fn receipts(&self) -> Result<Vec<u8>, EraError> {
        decompress(self.number, "receipts", self.compressed_receipts)
    }
}

/// A parsed era1 file (borrowing the file bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Era1<'a> {
    /// Number of the first block.
    pub start_number: u64,
    /// The blocks, in order.
    pub blocks: Vec<Era1Block<'a>>,
    /// The accumulator record: `hash_tree_root` of the epoch's header records.
    pub accumulator: B256,
}

fn expect<'a>(
    records: &[E2Record<'a>],
    index: usize,
    expected: u16,
) -> Result<E2Record<'a>, EraError> {
    let record = records.get(index).ok_or_else(|| EraError::BadIndex {
        reason: format!("file ends at record {index}, expected a record of type {expected:#06x}"),
    })?;
    if record.record_type != expected {
        return Err(EraError::UnexpectedRecord {
            index,
            offset: record.offset,
            expected,
            found: record.record_type,
        });
    }
    Ok(*record)
}

impl<'a> Era1<'a> {
    /// Parses and structurally checks an era1 file: record framing, record order, the block
    /// index (start, count and every offset pointing at its block's header record).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EraError> {
        let records: Vec<E2Record<'a>> = E2StoreReader::new(bytes).collect::<Result<_, _>>()?;
        let first = records.first().map_or(0, |r| r.record_type);
        if first != VERSION {
            return Err(EraError::MissingVersion {
                expected: VERSION,
                found: first,
            });
        }
        let index_record = records
            .last()
            .copied()
            .filter(|r| r.record_type == BLOCK_INDEX);
        let Some(index_record) = index_record else {
            return Err(EraError::BadIndex {
                reason: "the last record is not a block index".into(),
            });
        };
        let data = index_record.data;
        if data.len() < 16 || !(data.len() - 16).is_multiple_of(8) {
            return Err(EraError::BadLength {
                record_type: BLOCK_INDEX,
                offset: index_record.offset,
                expected: 16,
                found: data.len(),
            });
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let start_number = u64_at(0);
        let count = u64_at(data.len() - 8);
        let slots = (data.len() - 16) / 8;
        if count != slots as u64 {
            return Err(EraError::BadIndex {
                reason: format!("count field says {count} blocks, the index has {slots} offsets"),
            });
        }
        if slots == 0 || slots > BLOCKS_PER_FILE {
            return Err(EraError::BadIndex {
                reason: format!("{slots} blocks (an era1 file holds 1 to {BLOCKS_PER_FILE})"),
            });
        }
        if start_number.checked_add(count).is_none() {
            return Err(EraError::BadIndex {
                reason: format!("start {start_number} + count {count} overflows"),
            });
        }
        // Version, 4 records per block, then at least the accumulator and the index.
        let needed = 1 + 4 * slots + 2;
        if records.len() < needed {
            return Err(EraError::BadIndex {
                reason: format!(
                    "{slots} blocks need at least {needed} records, the file has {}",
                    records.len()
                ),
            });
        }
        let mut blocks = Vec::with_capacity(slots);
        for i in 0..slots {
            let base = 1 + 4 * i;
            let number = start_number + i as u64;
            let header = expect(&records, base, COMPRESSED_HEADER)?;
            let body = expect(&records, base + 1, COMPRESSED_BODY)?;
            let receipts = expect(&records, base + 2, COMPRESSED_RECEIPTS)?;
            let td = expect(&records, base + 3, TOTAL_DIFFICULTY)?;
            if td.data.len() != 32 {
                return Err(EraError::BadLength {
                    record_type: TOTAL_DIFFICULTY,
                    offset: td.offset,
                    expected: 32,
                    found: td.data.len(),
                });
            }
            let raw_offset = u64_at(8 + 8 * i) as i64;
            let target = (index_record.offset as i64).checked_add(raw_offset);
            if target != Some(header.offset as i64) {
                return Err(EraError::BadIndex {
                    reason: format!(
                        "offset of block {number} points to {target:?}, its header record is at {}",
                        header.offset
                    ),
                });
            }
            blocks.push(Era1Block {
                number,
                compressed_header: header.data,
                compressed_body: body.data,
                compressed_receipts: receipts.data,
                total_difficulty: U256::from_le_slice(td.data),
            });
        }
        let acc_index = records.len() - 2;
        let acc = expect(&records, acc_index, ACCUMULATOR)?;
        if acc.data.len() != 32 {
            return Err(EraError::BadLength {
                record_type: ACCUMULATOR,
                offset: acc.offset,
                expected: 32,
                found: acc.data.len(),
            });
        }
        // Anything between the last block tuple and the accumulator must not be another block
        // record (those would be blocks the index does not list).
        for (index, r) in records
            .iter()
            .enumerate()
            .take(acc_index)
            .skip(1 + 4 * slots)
        {
            if matches!(
                r.record_type,
                COMPRESSED_HEADER | COMPRESSED_BODY | COMPRESSED_RECEIPTS | TOTAL_DIFFICULTY
            ) {
                return Err(EraError::BadIndex {
                    reason: format!(
                        "record {index} at offset {} is a block record the index does not list",
                        r.offset
                    ),
                });
            }
        }
        Ok(Self {
            start_number,
            blocks,
            accumulator: B256::from_slice(acc.data),
        })
    }

    /// Number of the last block.
    pub fn end_number(&self) -> u64 {
        self.start_number + self.blocks.len() as u64 - 1
    }

    /// The epoch number (`start / 8192`).
    pub fn epoch(&self) -> u64 {
        self.start_number / BLOCKS_PER_FILE as u64
    }

    /// The first four bytes of the accumulator root as lower-case hex, as in the file name
    /// `<network>-<epoch:05>-<short root>.era1`.
    pub fn short_root(&self) -> String {
        self.accumulator[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Size of a record header, re-exported for writers.
pub const RECORD_HEADER_LEN: usize = HEADER_LEN;

/// One block for [`build`]: header, body and receipts RLP (uncompressed) and the total
/// difficulty.
pub type BlockTuple = (Vec<u8>, Vec<u8>, Vec<u8>, U256);

/// Builds an era1 file from block tuples, for tests and tools. The accumulator is taken as
/// given.
pub fn build(start_number: u64, blocks: &[BlockTuple], accumulator: B256) -> Vec<u8> {
    use crate::e2store::encode_record;
    use std::io::Write;
    let compress = |data: &[u8]| {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(data).expect("in-memory write");
        enc.into_inner().expect("in-memory flush")
    };
    let mut out = Vec::new();
    encode_record(VERSION, &[], &mut out);
    let mut offsets = Vec::with_capacity(blocks.len());
    for (header, body, receipts, td) in blocks {
        offsets.push(out.len());
        encode_record(COMPRESSED_HEADER, &compress(header), &mut out);
        encode_record(COMPRESSED_BODY, &compress(body), &mut out);
        encode_record(COMPRESSED_RECEIPTS, &compress(receipts), &mut out);
        encode_record(TOTAL_DIFFICULTY, &td.to_le_bytes::<32>(), &mut out);
    }
    encode_record(ACCUMULATOR, accumulator.as_slice(), &mut out);
    let index_offset = out.len() as i64;
    let mut index = Vec::with_capacity(16 + 8 * blocks.len());
    index.extend_from_slice(&start_number.to_le_bytes());
    for o in offsets {
        index.extend_from_slice(&(o as i64 - index_offset).to_le_bytes());
    }
    index.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
    encode_record(BLOCK_INDEX, &index, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let blocks = vec![
            (
                vec![0xc0],
                vec![0xc2, 0xc0, 0xc0],
                vec![0xc0],
                U256::from(5),
            ),
            (
                vec![0xc1, 0x01],
                vec![0xc2, 0xc0, 0xc0],
                vec![0xc0],
                U256::from(9),
            ),
        ];
        build(100, &blocks, B256::repeat_byte(7))
    }

    #[test]
    fn build_and_parse() {
        let bytes = sample();
        let era = Era1::parse(&bytes).unwrap();
        assert_eq!(era.start_number, 100);
        assert_eq!(era.end_number(), 101);
        assert_eq!(era.blocks[1].header().unwrap(), vec![0xc1, 0x01]);
        assert_eq!(era.blocks[1].total_difficulty, U256::from(9));
        assert_eq!(era.accumulator, B256::repeat_byte(7));
        assert_eq!(era.short_root(), "07070707");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(Era1::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn bad_offsets_are_errors() {
        let mut bytes = sample();
        let n = bytes.len();
        // First offset lives right after the index record header and the start number.
        let first_offset = n - (16 + 16) + 8;
        bytes[first_offset] ^= 1;
        assert!(matches!(
            Era1::parse(&bytes),
            Err(EraError::BadIndex { .. })
        ));
    }

    #[test]
    fn garbage_snappy_is_an_error() {
        let block = Era1Block {
            number: 1,
            compressed_header: &[0xff, 0x06, 0, 0, b's', b'N', b'a', b'P', b'p', b'Y', 0x00],
            compressed_body: &[1, 2, 3],
            compressed_receipts: &[],
            total_difficulty: U256::ZERO,
        };
        assert!(block.header().is_err());
        assert!(block.body().is_err());
    }
}

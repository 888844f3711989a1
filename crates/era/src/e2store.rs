//! e2store record framing.
//!
//! Every record is an 8-byte header — `type: u16 LE`, `length: u32 LE`, `reserved: u16` (zero) —
//! followed by `length` bytes of data.

use crate::EraError;

/// Length of a record header.
pub const HEADER_LEN: usize = 8;

/// One e2store record, borrowed from the file bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E2Record<'a> {
    /// Record type.
    pub record_type: u16,
    /// Record data.
    pub data: &'a [u8],
    /// Byte offset of the record header in the file.
    pub offset: usize,
}

impl E2Record<'_> {
    /// Total encoded length (header + data).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }
}

/// Iterates over the records of an e2store byte slice. Yields an error (and then stops) at the
/// first malformed record.
#[derive(Debug, Clone)]
pub struct E2StoreReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> E2StoreReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            failed: false,
        }
    }

    /// Reads the record at `offset`.
    pub fn record_at(bytes: &'a [u8], offset: usize) -> Result<E2Record<'a>, EraError> {
        let header = offset
            .checked_add(HEADER_LEN)
            .and_then(|end| bytes.get(offset..end))
            .ok_or_else(|| EraError::Truncated {
                offset,
                reason: format!(
                    "needs an {HEADER_LEN}-byte header, {} bytes remain",
                    bytes.len().saturating_sub(offset)
                ),
            })?;
        let record_type = u16::from_le_bytes([header[0], header[1]]);
        let length = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
        if header[6] != 0 || header[7] != 0 {
            return Err(EraError::Reserved { offset });
        }
        let start = offset + HEADER_LEN;
        let data = start
            .checked_add(length)
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| EraError::Truncated {
                offset,
                reason: format!(
                    "claims {length} data bytes, {} remain",
                    bytes.len().saturating_sub(start)
                ),
            })?;
        Ok(E2Record {
            record_type,
            data,
            offset,
        })
    }
}

impl<'a> Iterator for E2StoreReader<'a> {
    type Item = Result<E2Record<'a>, EraError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        match Self::record_at(self.bytes, self.pos) {
            Ok(record) => {
                self.pos += record.encoded_len();
                Some(Ok(record))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Encodes one record (for tests and writers).
pub fn encode_record(record_type: u16, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&record_type.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode_record(0x3265, &[], &mut buf);
        encode_record(0x03, &[1, 2, 3], &mut buf);
        let records: Vec<_> = E2StoreReader::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].record_type, 3);
        assert_eq!(records[1].data, &[1, 2, 3]);
        assert_eq!(records[1].offset, 8);
    }

    #[test]
    fn truncation_and_reserved_are_errors() {
        let mut buf = Vec::new();
        encode_record(0x03, &[1, 2, 3], &mut buf);
        for cut in 1..buf.len() {
            let r: Result<Vec<_>, _> = E2StoreReader::new(&buf[..cut]).collect();
            assert!(matches!(r, Err(EraError::Truncated { .. })), "cut {cut}");
        }
        buf[6] = 1;
        let r: Result<Vec<_>, _> = E2StoreReader::new(&buf).collect();
        assert_eq!(r, Err(EraError::Reserved { offset: 0 }));
    }
}

//! A typed view (list or string, payload, whole encoding) over the zero-copy RLP walker of
//! [`hypasis_primitives::rlp`] (canonical form enforced by `alloy_rlp::Header`), never
//! panicking on malformed input.

use crate::error::DecodeError;

/// Why bytes are not the RLP item (list, string or integer) they must be. The Display text
/// is the message the decoders report (and the public errors carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RlpError {
    /// The walker refused an item header (non-canonical, truncated, ...).
    #[error(transparent)]
    Header(#[from] alloy_rlp::Error),
    /// Bytes after the one item expected.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A string where a list is required.
    #[error("expected a list, found a string")]
    ExpectedList,
    /// A list where a string is required.
    #[error("expected a string, found a list")]
    ExpectedString,
    /// An integer wider than 8 bytes.
    #[error("integer of {0} bytes")]
    IntegerTooLong(usize),
    /// A non-canonical integer (leading zero byte).
    #[error("integer with a leading zero")]
    LeadingZero,
    /// An item of a list payload does not decode.
    #[error("item {index}: {source}")]
    Item {
        /// Position in the list.
        index: usize,
        /// The walker's error.
        source: alloy_rlp::Error,
    },
    /// An item of a concatenation (a `chain.rlp`-style file) does not decode.
    #[error("item {index} at byte {offset}: {source}")]
    ItemAt {
        /// Position in the file.
        index: usize,
        /// Byte offset of the item.
        offset: usize,
        /// The walker's error.
        source: alloy_rlp::Error,
    },
}

impl From<RlpError> for DecodeError {
    fn from(e: RlpError) -> Self {
        Self(e.to_string())
    }
}

/// One RLP item, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    /// Whether the item is a list.
    pub is_list: bool,
    /// The payload (string bytes or concatenated list items).
    pub payload: &'a [u8],
    /// The whole encoding (header + payload).
    pub raw: &'a [u8],
}

/// Reads one item from the front of `buf` and advances it (the walk is
/// [`hypasis_primitives::rlp::next_item`]; this adds the typed view).
pub(crate) fn next_item<'a>(buf: &mut &'a [u8]) -> Result<Item<'a>, alloy_rlp::Error> {
    let raw = hypasis_primitives::rlp::next_item(buf)?;
    let mut payload = raw;
    // `raw` is one complete item: its header decodes and its payload is the rest.
    let header = alloy_rlp::Header::decode(&mut payload)?;
    Ok(Item {
        is_list: header.list,
        payload,
        raw,
    })
}

/// Decodes `bytes` as exactly one item.
pub(crate) fn single_item(bytes: &[u8]) -> Result<Item<'_>, RlpError> {
    let mut buf = bytes;
    let item = next_item(&mut buf)?;
    if !buf.is_empty() {
        return Err(RlpError::TrailingBytes(buf.len()));
    }
    Ok(item)
}

/// Decodes `bytes` as exactly one list and returns its items.
pub(crate) fn list_items(bytes: &[u8]) -> Result<Vec<Item<'_>>, RlpError> {
    let item = single_item(bytes)?;
    if !item.is_list {
        return Err(RlpError::ExpectedList);
    }
    items(item.payload)
}

/// Splits a list payload into its items.
pub(crate) fn items(mut payload: &[u8]) -> Result<Vec<Item<'_>>, RlpError> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        let index = out.len();
        out.push(next_item(&mut payload).map_err(|source| RlpError::Item { index, source })?);
    }
    Ok(out)
}

impl<'a> Item<'a> {
    /// The item as a string payload.
    pub(crate) fn bytes(&self) -> Result<&'a [u8], RlpError> {
        if self.is_list {
            Err(RlpError::ExpectedString)
        } else {
            Ok(self.payload)
        }
    }

    /// The item as a canonical unsigned integer of at most 8 bytes.
    pub(crate) fn uint(&self) -> Result<u64, RlpError> {
        let b = self.bytes()?;
        if b.len() > 8 {
            return Err(RlpError::IntegerTooLong(b.len()));
        }
        if b.first() == Some(&0) {
            return Err(RlpError::LeadingZero);
        }
        Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }

    /// The item as a list of items.
    pub(crate) fn list(&self) -> Result<Vec<Item<'a>>, RlpError> {
        if !self.is_list {
            return Err(RlpError::ExpectedList);
        }
        items(self.payload)
    }
}

/// Encodes an RLP list header for a payload of `len` bytes.
pub(crate) fn list_header(len: usize, out: &mut Vec<u8>) {
    hypasis_primitives::rlp::put_list_header(out, len);
}

/// Splits concatenated RLP items (a `chain.rlp` / `headers.rlp` / `receipts.rlp` file).
pub fn split_concatenated(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut buf = bytes;
    let mut out = Vec::new();
    while !buf.is_empty() {
        let offset = bytes.len() - buf.len();
        let index = out.len();
        let item = next_item(&mut buf).map_err(|source| RlpError::ItemAt {
            index,
            offset,
            source,
        })?;
        out.push(item.raw);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_uints() {
        let list = [0xc4, 0x82, 0x01, 0x00, 0x80];
        let items = list_items(&list).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].uint().unwrap(), 256);
        assert_eq!(items[1].uint().unwrap(), 0);
        assert!(single_item(&[0x82, 0x00, 0x01]).unwrap().uint().is_err());
        assert!(list_items(&[0xc4, 0x82]).is_err());
        assert!(single_item(&[0x80, 0x80]).is_err());
        assert_eq!(split_concatenated(&[0x80, 0xc0, 0x01]).unwrap().len(), 3);
    }

    #[test]
    fn messages() {
        let msg = |e: RlpError| e.to_string();
        assert_eq!(
            msg(list_items(&[0x80]).unwrap_err()),
            "expected a list, found a string"
        );
        assert_eq!(
            msg(single_item(&[0xc0]).unwrap().bytes().unwrap_err()),
            "expected a string, found a list"
        );
        assert_eq!(
            msg(single_item(&[0x80, 0x80]).unwrap_err()),
            "1 trailing bytes"
        );
        assert_eq!(
            msg(single_item(&[0x82, 0x00, 0x01])
                .unwrap()
                .uint()
                .unwrap_err()),
            "integer with a leading zero"
        );
        assert_eq!(
            msg(single_item(&[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9])
                .unwrap()
                .uint()
                .unwrap_err()),
            "integer of 9 bytes"
        );
        assert_eq!(
            msg(list_items(&[0xc2, 0x80, 0x82]).unwrap_err()),
            format!("item 1: {}", alloy_rlp::Error::InputTooShort)
        );
        assert_eq!(
            split_concatenated(&[0x80, 0x82, 0x01])
                .unwrap_err()
                .to_string(),
            format!("item 1 at byte 1: {}", alloy_rlp::Error::InputTooShort)
        );
    }
}

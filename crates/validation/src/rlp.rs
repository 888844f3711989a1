//! A typed view (list or string, payload, whole encoding) over the zero-copy RLP walker of
//! [`hypasis_primitives::rlp`] (canonical form enforced by `alloy_rlp::Header`), never
//! panicking on malformed input.

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
pub(crate) fn next_item<'a>(buf: &mut &'a [u8]) -> Result<Item<'a>, String> {
    let raw = hypasis_primitives::rlp::next_item(buf).map_err(|e| e.to_string())?;
    let mut payload = raw;
    // `raw` is one complete item: its header decodes and its payload is the rest.
    let header = alloy_rlp::Header::decode(&mut payload).map_err(|e| e.to_string())?;
    Ok(Item {
        is_list: header.list,
        payload,
        raw,
    })
}

/// Decodes `bytes` as exactly one item.
pub(crate) fn single_item(bytes: &[u8]) -> Result<Item<'_>, String> {
    let mut buf = bytes;
    let item = next_item(&mut buf)?;
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(item)
}

/// Decodes `bytes` as exactly one list and returns its items.
pub(crate) fn list_items(bytes: &[u8]) -> Result<Vec<Item<'_>>, String> {
    let item = single_item(bytes)?;
    if !item.is_list {
        return Err("expected a list, found a string".into());
    }
    items(item.payload)
}

/// Splits a list payload into its items.
pub(crate) fn items(mut payload: &[u8]) -> Result<Vec<Item<'_>>, String> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        out.push(next_item(&mut payload).map_err(|e| format!("item {}: {e}", out.len()))?);
    }
    Ok(out)
}

impl<'a> Item<'a> {
    /// The item as a string payload.
    pub(crate) fn bytes(&self) -> Result<&'a [u8], String> {
        if self.is_list {
            Err("expected a string, found a list".into())
        } else {
            Ok(self.payload)
        }
    }

    /// The item as a canonical unsigned integer of at most 8 bytes.
    pub(crate) fn uint(&self) -> Result<u64, String> {
        let b = self.bytes()?;
        if b.len() > 8 {
            return Err(format!("integer of {} bytes", b.len()));
        }
        if b.first() == Some(&0) {
            return Err("integer with a leading zero".into());
        }
        Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }

    /// The item as a list of items.
    pub(crate) fn list(&self) -> Result<Vec<Item<'a>>, String> {
        if !self.is_list {
            return Err("expected a list, found a string".into());
        }
        items(self.payload)
    }
}

/// Encodes an RLP list header for a payload of `len` bytes.
pub(crate) fn list_header(len: usize, out: &mut Vec<u8>) {
    hypasis_primitives::rlp::put_list_header(out, len);
}

/// Splits concatenated RLP items (a `chain.rlp` / `headers.rlp` / `receipts.rlp` file).
pub fn split_concatenated(bytes: &[u8]) -> Result<Vec<&[u8]>, crate::error::DecodeError> {
    let mut buf = bytes;
    let mut out = Vec::new();
    while !buf.is_empty() {
        let offset = bytes.len() - buf.len();
        let item =
            next_item(&mut buf).map_err(|e| format!("item {} at byte {offset}: {e}", out.len()))?;
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
}

//! Small zero-copy RLP helpers used by the wire decoders and the checks of remote data.
//!
//! Everything here works on borrowed slices and never panics on malformed input: every
//! length is checked by [`alloy_rlp::Header::decode`] before it is used.

use alloy_rlp::{Decodable, Header};
use bytes::Bytes;

/// Result alias for RLP helpers.
pub type RlpResult<T> = Result<T, alloy_rlp::Error>;

/// Splits the next complete RLP item (header included) off the front of `buf`.
pub fn next_item<'a>(buf: &mut &'a [u8]) -> RlpResult<&'a [u8]> {
    let start = *buf;
    let mut rest = *buf;
    let header = Header::decode(&mut rest)?;
    // `Header::decode` guarantees `rest.len() >= payload_length`.
    rest = &rest[header.payload_length..];
    let len = start.len() - rest.len();
    *buf = rest;
    Ok(&start[..len])
}

/// Decodes a list header at the front of `buf` and returns the list payload, advancing `buf`
/// past the whole list.
pub fn list_payload<'a>(buf: &mut &'a [u8]) -> RlpResult<&'a [u8]> {
    Header::decode_bytes(buf, true)
}

/// Iterates over the raw items of an RLP list payload.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Items<'a> {
    /// Creates an iterator over the items of a list payload (the bytes after the list header).
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    /// Returns the next raw item, or `None` when the list is exhausted.
    pub fn next_raw(&mut self) -> RlpResult<Option<&'a [u8]>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        next_item(&mut self.rest).map(Some)
    }

    /// Returns the next raw item or an error if the list is exhausted.
    pub fn require_raw(&mut self) -> RlpResult<&'a [u8]> {
        self.next_raw()?.ok_or(alloy_rlp::Error::InputTooShort)
    }

    /// Decodes the next item as `T`; errors if the list is exhausted or the item does not
    /// decode exactly.
    pub fn require<T: Decodable>(&mut self) -> RlpResult<T> {
        let raw = self.require_raw()?;
        decode_exact(raw)
    }

    /// Bytes not yet consumed.
    pub fn rest_len(&self) -> usize {
        self.rest.len()
    }

    /// Whether all items were consumed.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Decodes `T` from `raw`, requiring that the whole slice is consumed.
pub fn decode_exact<T: Decodable>(raw: &[u8]) -> RlpResult<T> {
    let mut buf = raw;
    let value = T::decode(&mut buf)?;
    if !buf.is_empty() {
        return Err(alloy_rlp::Error::UnexpectedLength);
    }
    Ok(value)
}

#[cfg(test)]
/// Returns all raw items of the list payload, failing on malformed items or when there are
/// more than `max` items.
pub fn raw_list_items(payload: &[u8], max: usize) -> RlpResult<Vec<&[u8]>> {
    let mut items = Items::new(payload);
    let mut out = Vec::new();
    while let Some(item) = items.next_raw()? {
        if out.len() >= max {
            return Err(alloy_rlp::Error::Custom("too many list items"));
        }
        out.push(item);
    }
    Ok(out)
}

/// Converts a subslice of `parent` into a zero-copy [`Bytes`] handle sharing `parent`'s buffer.
///
/// `sub` must point into `parent`; callers only pass slices obtained by splitting `parent`.
pub fn share(parent: &Bytes, sub: &[u8]) -> Bytes {
    if sub.is_empty() {
        return Bytes::new();
    }
    parent.slice_ref(sub)
}

/// Encodes a list header for a payload of `payload_length` bytes into `out`.
pub fn put_list_header(out: &mut Vec<u8>, payload_length: usize) {
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
}

/// Encodes a string header for a payload of `payload_length` bytes into `out`.
pub fn put_string_header(out: &mut Vec<u8>, payload_length: usize) {
    Header {
        list: false,
        payload_length,
    }
    .encode(out);
}

/// Wraps an already-encoded list payload in a list header.
pub fn wrap_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    put_list_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_iterate_and_reject_truncation() {
        // [1, "dog", []]
        let enc = [0xc6, 0x01, 0x83, b'd', b'o', b'g', 0xc0];
        let mut buf = &enc[..];
        let payload = list_payload(&mut buf).unwrap();
        assert!(buf.is_empty());
        let items = raw_list_items(payload, 10).unwrap();
        assert_eq!(
            items,
            vec![&[0x01][..], &[0x83, b'd', b'o', b'g'][..], &[0xc0][..]]
        );
        assert!(raw_list_items(payload, 2).is_err());
        let truncated = [0xc6, 0x01, 0x83, b'd'];
        let mut buf = &truncated[..];
        assert!(list_payload(&mut buf).is_err());
        let mut bad = &[0x83u8, b'd'][..];
        assert!(next_item(&mut bad).is_err());
    }
}

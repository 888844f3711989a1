//! Record encodings every backend stores the same way: checkpoints as JSON, and the u32 length
//! fields of the block records.

use crate::{StorageError, StorageResult};
use hypasis_primitives::Checkpoint;

/// A checkpoint as stored (JSON).
pub fn encode_checkpoint(checkpoint: &Checkpoint) -> StorageResult<Vec<u8>> {
    serde_json::to_vec(checkpoint)
        .map_err(|e| StorageError::InvalidArgument(format!("checkpoint {}: {e}", checkpoint.id)))
}

/// A stored checkpoint, checked to carry the id it is stored under; anything else means the
/// database is damaged ([`StorageError::Corrupt`]).
pub fn decode_checkpoint(id: u64, value: &[u8]) -> StorageResult<Checkpoint> {
    let cp: Checkpoint = serde_json::from_slice(value)
        .map_err(|e| StorageError::Corrupt(format!("checkpoint {id}: {e}")))?;
    if cp.id != id {
        return Err(StorageError::Corrupt(format!(
            "checkpoint stored under id {id} carries id {}",
            cp.id
        )));
    }
    Ok(cp)
}

/// A length field of block `number`'s record (`what`: header, body, receipts), little-endian;
/// a part of 4 GiB or more is refused.
pub fn len_u32(len: usize, what: &str, number: u64) -> StorageResult<[u8; 4]> {
    u32::try_from(len).map(u32::to_le_bytes).map_err(|_| {
        StorageError::InvalidArgument(format!(
            "block {number}: {what} of {len} bytes is too large"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypasis_gaps::Range;
    use hypasis_primitives::{B256, CheckpointSource};

    #[test]
    fn checkpoints_round_trip_and_ids_are_checked() {
        let cp = Checkpoint::new(
            CheckpointSource::Heimdall,
            7,
            Range::new(1, 256).unwrap(),
            B256::repeat_byte(3),
        );
        let bytes = encode_checkpoint(&cp).unwrap();
        assert_eq!(decode_checkpoint(7, &bytes).unwrap(), cp);
        assert!(matches!(
            decode_checkpoint(8, &bytes),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            decode_checkpoint(7, b"{"),
            Err(StorageError::Corrupt(_))
        ));
        assert_eq!(len_u32(5, "body", 1).unwrap(), 5u32.to_le_bytes());
    }
}

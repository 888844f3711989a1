//! The seam where validated blocks go: [`BlockSink`], in process over any [`BlockStorage`]
//! ([`StorageSink`]) or over gRPC (`hypasis_store::client::GrpcStoreSink`).

use crate::{BlockBatch, BlockStorage, StorageError};
use async_trait::async_trait;
use hypasis_primitives::{Fault, FaultClass, RawBlock, VerificationLevel};
use std::sync::Arc;

/// Largest batch written at once (FoundationDB transactions stay under 10 MB).
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A failed write or read.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The storage backend in process refused or failed.
    #[error("store: {0}")]
    Storage(#[from] StorageError),
    /// The store service answered with an error status (or could not be reached).
    #[error("store service: {code}: {message}")]
    Remote {
        /// The gRPC status code, by name.
        code: String,
        /// Its message.
        message: String,
        /// Whose fault: `Local` for an unreachable or busy store, `Fatal` for a refusal that
        /// retrying cannot change.
        class: FaultClass,
    },
}

impl Fault for SinkError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Storage(e) => e.fault(),
            Self::Remote { class, .. } => *class,
        }
    }
}

/// Writes validated, contiguous batches; returns once the store acknowledged.
#[async_trait]
pub trait BlockSink: Send + Sync + std::fmt::Debug + 'static {
    /// Writes one batch atomically.
    async fn put(
        &self,
        blocks: Vec<RawBlock>,
        level: VerificationLevel,
        lease_id: &str,
    ) -> Result<(), SinkError>;

    /// The stored header RLP of block `number`, if stored (a verified neighbour to link to).
    async fn header(&self, number: u64) -> Result<Option<alloy_primitives::Bytes>, SinkError>;
}

fn block_bytes(b: &RawBlock) -> usize {
    b.header.len() + b.body.len() + b.receipts.len() + 64
}

/// Splits contiguous blocks into batches of at most `max_bytes` each (a single larger block
/// forms its own batch).
pub fn split_batches(blocks: Vec<RawBlock>, max_bytes: usize) -> Vec<Vec<RawBlock>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0usize;
    for b in blocks {
        let n = block_bytes(&b);
        if !cur.is_empty() && size + n > max_bytes {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += n;
        cur.push(b);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An in-process storage backend.
#[derive(Debug, Clone)]
pub struct StorageSink(pub Arc<dyn BlockStorage>);

#[async_trait]
impl BlockSink for StorageSink {
    async fn put(
        &self,
        blocks: Vec<RawBlock>,
        level: VerificationLevel,
        _lease_id: &str,
    ) -> Result<(), SinkError> {
        self.0
            .put_batch(&BlockBatch { blocks, level })
            .await
            .map(|_| ())
            .map_err(SinkError::from)
    }

    async fn header(&self, number: u64) -> Result<Option<alloy_primitives::Bytes>, SinkError> {
        self.0
            .block_by_number(number)
            .await
            .map(|b| b.map(|b| b.header))
            .map_err(SinkError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{B256, Bytes};

    fn block(n: u64, size: usize) -> RawBlock {
        RawBlock {
            number: n,
            hash: B256::ZERO,
            header: Bytes::from(vec![0u8; size]),
            body: Bytes::new(),
            receipts: Bytes::new(),
        }
    }

    #[test]
    fn batches_stay_under_the_byte_limit_and_keep_order() {
        let blocks: Vec<RawBlock> = (0..100).map(|n| block(n, 300_000)).collect();
        let batches = split_batches(blocks, MAX_BATCH_BYTES);
        assert!(batches.len() > 1);
        let mut next = 0;
        for b in &batches {
            let bytes: usize = b.iter().map(block_bytes).sum();
            assert!(bytes <= MAX_BATCH_BYTES);
            for x in b {
                assert_eq!(x.number, next);
                next += 1;
            }
        }
        assert_eq!(next, 100);
        // A single oversized block forms its own batch.
        let big = split_batches(vec![block(0, 9 << 20), block(1, 10)], MAX_BATCH_BYTES);
        assert_eq!(big.len(), 2);
    }
}

//! The block-sink seam, from `hypasis-storage-api` (the gRPC implementation lives with the
//! store service).

pub use hypasis_storage_api::sink::{
    BlockSink, MAX_BATCH_BYTES, SinkError, StorageSink, split_batches,
};

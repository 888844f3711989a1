//! The FoundationDB storage backend of Hypasis Sync (cargo feature `fdb`).
//!
//! Without the `fdb` feature this crate is empty, so the workspace builds and tests on machines
//! without the FoundationDB client library (`libfdb_c`). With it, [`FdbStorage`] implements
//! [`BlockStorage`](hypasis_storage_api::BlockStorage) on a FoundationDB 7.3 cluster and passes
//! the shared contract suite (run it with `FDB_CLUSTER_FILE=/etc/foundationdb/fdb.cluster cargo
//! test -p hypasis-storage-fdb --features fdb`).
//!
//! # Network boot
//!
//! The FoundationDB client runs one network thread per process, started once and stopped once
//! (it cannot be restarted). Call [`boot`] once at startup — it wraps
//! [`foundationdb::api::FdbApiBuilder`] / `NetworkBuilder::boot` as `foundationdb::boot` does,
//! but returns an error instead of panicking on a second call — and keep the returned
//! [`FdbNetwork`] guard alive until every [`FdbStorage`] is dropped; dropping it stops the
//! network. It is `unsafe` for the same reason `foundationdb::boot` is: the guard **must** be
//! dropped before the process exits (do not leak it or call `std::process::exit` while it is
//! alive).
//!
//! ```ignore
//! #[allow(unsafe_code)] // SAFETY: `network` is dropped at the end of main.
//! let network = unsafe { hypasis_storage_fdb::boot() }?;
//! let store = FdbStorage::open(None, "polygon").await?;
//! // ... run the service ...
//! drop(store);
//! drop(network);
//! ```
//!
//! # Key schema
//!
//! Everything of one chain lives under the tuple subspace `("hypasis", chain)`:
//!
//! | key | value |
//! |---|---|
//! | `(…, "schema")` | layout version, u64 BE |
//! | `(…, "blk", number)` | block head: format ‖ hash ‖ parent hash ‖ level ‖ header/body/receipts lengths (u32 LE) ‖ chunk count (u32 LE) |
//! | `(…, "blk", number, i)` | chunk `i` of `header ‖ body ‖ receipts`, ≤ 100,000 bytes each |
//! | `(…, "hash", hash bytes)` | block number, u64 BE |
//! | `(…, "present", start)` | end of the present range starting at `start`, u64 BE |
//! | `(…, "lvl", level code, start)` | end of a range recorded under that verification level |
//! | `(…, "stat", "blocks" \| "bytes" \| "ranges" \| "checkpoints")` | i64 LE counter, changed by atomic `ADD` |
//! | `(…, "ckpt", id)` | JSON of the checkpoint |
//! | `(…, "sched", key)` | record head: length (u32 LE) ‖ chunk count (u32 LE) |
//! | `(…, "sched", key, i)` | chunk `i` of the record |
//! | `(…, "term")` | highest scheduler term, u64 BE |
//!
//! # Transactions
//!
//! Every write is one FoundationDB transaction run by [`foundationdb::Database::run`] (retried
//! on conflicts and retryable errors, at most [`FdbOptions::retry_limit`] times, each attempt
//! bounded by [`FdbOptions::timeout_ms`]). A batch's checks (stored blocks at its numbers, the
//! stored neighbours `n-1` and `n+1`) read inside the same transaction, so they are serializable
//! with concurrent writers. Counters use atomic adds and take no read conflicts.
//!
//! FoundationDB limits a transaction to 10 MB of writes and 5 seconds. A batch is therefore
//! refused with [`StorageError::InvalidArgument`](hypasis_storage_api::StorageError) when its
//! blocks' encodings exceed [`MAX_BATCH_BYTES`] (8 MB) — never split, since a batch must stay
//! atomic; callers size batches by bytes. Reads of [`blocks`](hypasis_storage_api::BlockStorage::blocks)
//! stop after [`MAX_READ_BYTES`] per call (callers page on anyway).

#[cfg(feature = "fdb")]
mod backend;

#[cfg(feature = "fdb")]
pub use backend::{
    CHUNK_BYTES, FdbNetwork, FdbOptions, FdbStorage, MAX_BATCH_BYTES, MAX_READ_BYTES,
    SCHEMA_VERSION, boot,
};

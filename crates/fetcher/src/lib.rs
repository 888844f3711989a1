//! The sync fetcher: takes leases from the scheduler ([`LeaseSource`]), downloads each unit's
//! blocks from the devp2p peer pool, validates them with the validation library, writes them
//! to the store ([`BlockSink`]) in store-sized batches and completes the lease only after the
//! store acknowledged every batch.
//!
//! The same [`Fetcher`] runs in process (standalone: the durable scheduler and a
//! [`hypasis_storage_api::BlockStorage`] directly) and in a cluster (the scheduler's and the
//! store's gRPC clients).

mod budget;
mod fetcher;
mod grpc;
mod lease;
mod membership;
mod metrics;
mod sink;

pub use budget::{ByteBudget, Reservation};
pub use fetcher::{Action, ActiveUnit, Fetcher, FetcherConfig, UnitError, UnitPhase};
pub use grpc::FetcherGrpc;
pub use lease::{LeaseError, LeaseSource, LeasedUnit};
pub use membership::announce_membership;
pub use metrics::FetcherMetrics;
pub use sink::{BlockSink, MAX_BATCH_BYTES, SinkError, StorageSink, split_batches};

//! Where the scheduler reads gaps and keeps its durable state: the store, in process
//! ([`StorageSchedulerStore`], standalone mode) or over gRPC ([`GrpcSchedulerStore`], cluster
//! mode, the Store service's `GetRanges`, `CommitSchedulerState`, `LoadSchedulerState`). The
//! accepted checkpoints come from the checkpoint service, not from here
//! (`hypasis_checkpoint_api::CheckpointFeed`).

use async_trait::async_trait;
use hypasis_gaps::{Range, RangeSet};
use hypasis_proto::v1;
use hypasis_proto::v1::store_client::StoreClient;
use hypasis_storage_api::{BlockStorage, SchedulerDelta, SchedulerSnapshot, StorageError};
use std::sync::Arc;
use tonic::transport::Channel;

/// Store failures as the scheduler sees them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A newer leader wrote: this scheduler is deposed and must stop.
    #[error("scheduler state was written by a newer term: {0}")]
    StaleTerm(String),
    /// The store is unreachable or failing; retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused or returned something unusable.
    #[error("store error: {0}")]
    Other(String),
}

impl hypasis_primitives::Fault for StoreError {
    /// A newer term wrote: this scheduler must stop leading (fatal for this leader); an
    /// unreachable store is retried (local); a refusal or an unusable answer stops (fatal).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        use hypasis_primitives::FaultClass;
        match self {
            Self::StaleTerm(_) | Self::Other(_) => FaultClass::Fatal,
            Self::Unavailable(_) => FaultClass::Local,
        }
    }
}

/// What the scheduler needs from the store.
#[async_trait]
pub trait SchedulerStore: Send + Sync + std::fmt::Debug + 'static {
    /// Present (stored) block ranges within `within`.
    async fn present(&self, within: Range) -> Result<RangeSet, StoreError>;
    /// Applies a delta atomically, refusing a stale term.
    async fn commit(&self, delta: &SchedulerDelta) -> Result<(), StoreError>;
    /// All scheduler records and the highest term that wrote.
    async fn load(&self) -> Result<SchedulerSnapshot, StoreError>;
}

fn from_storage(e: StorageError) -> StoreError {
    match e {
        StorageError::StaleTerm { .. } => StoreError::StaleTerm(e.to_string()),
        StorageError::Unavailable(_) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

/// [`SchedulerStore`] over an in-process storage backend.
#[derive(Debug, Clone)]
pub struct StorageSchedulerStore(pub Arc<dyn BlockStorage>);

#[async_trait]
impl SchedulerStore for StorageSchedulerStore {
    async fn present(&self, within: Range) -> Result<RangeSet, StoreError> {
        let present = self.0.present().await.map_err(from_storage)?;
        Ok(present.iter_within(within).collect())
    }
    async fn commit(&self, delta: &SchedulerDelta) -> Result<(), StoreError> {
        self.0.commit_scheduler(delta).await.map_err(from_storage)
    }
    async fn load(&self) -> Result<SchedulerSnapshot, StoreError> {
        self.0.load_scheduler().await.map_err(from_storage)
    }
}

/// [`SchedulerStore`] over the Store service (mTLS gRPC). Every call is bounded by a timeout
/// (a hanging store must not hold the scheduler's lock forever).
#[derive(Debug, Clone)]
pub struct GrpcSchedulerStore {
    client: StoreClient<Channel>,
    timeout: std::time::Duration,
}

async fn bounded<T>(
    timeout: std::time::Duration,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r.map(tonic::Response::into_inner).map_err(from_status),
        Err(_) => Err(StoreError::Unavailable(format!(
            "store did not answer within {timeout:?}"
        ))),
    }
}

fn from_status(s: tonic::Status) -> StoreError {
    match s.code() {
        tonic::Code::FailedPrecondition => StoreError::StaleTerm(s.message().to_string()),
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Unknown
        | tonic::Code::Cancelled
        | tonic::Code::ResourceExhausted
        | tonic::Code::Aborted
        | tonic::Code::Internal => {
            StoreError::Unavailable(format!("{}: {}", s.code(), s.message()))
        }
        _ => StoreError::Other(format!("{}: {}", s.code(), s.message())),
    }
}

fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

impl GrpcSchedulerStore {
    /// Over an established channel to the store.
    pub fn new(channel: Channel, max_message_bytes: usize) -> Self {
        Self {
            client: StoreClient::new(channel)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
            timeout: std::time::Duration::from_secs(15),
        }
    }
}

#[async_trait]
impl SchedulerStore for GrpcSchedulerStore {
    async fn present(&self, within: Range) -> Result<RangeSet, StoreError> {
        let mut c = self.client.clone();
        let resp = bounded(
            self.timeout,
            c.get_ranges(v1::GetRangesRequest {
                within: Some(within.into()),
            }),
        )
        .await?;
        resp.present
            .iter()
            .map(|r| hypasis_proto::convert::range("present", Some(r)).map_err(bad))
            .collect()
    }
    async fn commit(&self, delta: &SchedulerDelta) -> Result<(), StoreError> {
        let mut c = self.client.clone();
        bounded(
            self.timeout,
            c.commit_scheduler_state(v1::CommitSchedulerStateRequest {
                term: delta.term,
                upserts: delta
                    .upserts
                    .iter()
                    .map(|(key, value)| v1::SchedulerRecord {
                        key: *key,
                        value: value.clone(),
                    })
                    .collect(),
                deletes: delta.deletes.clone(),
            }),
        )
        .await?;
        Ok(())
    }
    async fn load(&self) -> Result<SchedulerSnapshot, StoreError> {
        let mut c = self.client.clone();
        let resp = bounded(
            self.timeout,
            c.load_scheduler_state(v1::LoadSchedulerStateRequest {}),
        )
        .await?;
        Ok(SchedulerSnapshot {
            term: resp.term,
            records: resp.records.into_iter().map(|r| (r.key, r.value)).collect(),
        })
    }
}

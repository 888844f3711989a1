//! Where accepted checkpoints are persisted: the store in-process ([`LocalStore`], any
//! [`BlockStorage`]) or the store service over gRPC ([`RemoteStore`], `PutCheckpoint` /
//! `ListCheckpoints`). Both enforce [`hypasis_storage_api::check_checkpoint`]: never backwards,
//! never changed, contiguous.

use hypasis_primitives::{Checkpoint, Fault, FaultClass};
use hypasis_proto::v1;
use hypasis_storage_api::{BlockStorage, StorageError};
use std::sync::Arc;
use tonic::transport::Channel;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The checkpoint goes backwards, changes a stored one, or is not contiguous. Never retried.
    #[error("checkpoint refused by the store: {0}")]
    Refused(String),
    /// The store is temporarily unavailable. Retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt data, bad reply).
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// Refusal reason label (`backwards`, `changed`, `not_contiguous`, `other`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(m) if m.contains("backwards") => "backwards",
            Self::Refused(m) if m.contains("already stored") => "changed",
            Self::Refused(m) if m.contains("not contiguous") => "not_contiguous",
            Self::Refused(_) => "refused",
            Self::Unavailable(_) => "unavailable",
            Self::Other(_) => "other",
        }
    }
}

impl Fault for StoreError {
    /// A refused checkpoint conflicts with what is stored: the data (and so its sources) is
    /// at fault, never retried (peer). An unavailable store is retried (local); anything else
    /// (corrupt data, a bad reply) stops (fatal).
    fn fault(&self) -> FaultClass {
        match self {
            Self::Refused(_) => FaultClass::Peer,
            Self::Unavailable(_) => FaultClass::Local,
            Self::Other(_) => FaultClass::Fatal,
        }
    }
}

impl From<StorageError> for StoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::CheckpointRefused { .. } => Self::Refused(e.to_string()),
            StorageError::Unavailable(_) => Self::Unavailable(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

/// Checkpoint persistence.
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `cp`; `Ok(false)` when an identical record was already stored.
    async fn put(&self, cp: &Checkpoint) -> Result<bool, StoreError>;
    /// Checkpoint `id`.
    async fn get(&self, id: u64) -> Result<Option<Checkpoint>, StoreError>;
    /// The newest checkpoint.
    async fn latest(&self) -> Result<Option<Checkpoint>, StoreError>;
    /// Checkpoints with ids in `from..=to`, ascending, at most `limit`.
    async fn list(&self, from: u64, to: u64, limit: usize) -> Result<Vec<Checkpoint>, StoreError>;
}

/// The store in-process.
#[derive(Debug, Clone)]
pub struct LocalStore(pub Arc<dyn BlockStorage>);

#[async_trait::async_trait]
impl CheckpointStore for LocalStore {
    async fn put(&self, cp: &Checkpoint) -> Result<bool, StoreError> {
        Ok(self.0.put_checkpoint(cp).await?)
    }
    async fn get(&self, id: u64) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.0.checkpoint(id).await?)
    }
    async fn latest(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.0.latest_checkpoint().await?)
    }
    async fn list(&self, from: u64, to: u64, limit: usize) -> Result<Vec<Checkpoint>, StoreError> {
        Ok(self.0.checkpoints(from, to, limit).await?)
    }
}

/// The store service over gRPC.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    client: v1::store_client::StoreClient<Channel>,
}

impl RemoteStore {
    /// A store client over `channel`.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: v1::store_client::StoreClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024),
        }
    }
}

fn status_err(s: tonic::Status) -> StoreError {
    match s.code() {
        tonic::Code::FailedPrecondition => StoreError::Refused(s.message().to_string()),
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::ResourceExhausted
        | tonic::Code::Aborted => StoreError::Unavailable(s.message().to_string()),
        _ => StoreError::Other(format!("{:?}: {}", s.code(), s.message())),
    }
}

fn from_wire(cps: Vec<v1::Checkpoint>) -> Result<Vec<Checkpoint>, StoreError> {
    cps.into_iter()
        .map(|c| Checkpoint::try_from(c).map_err(|e| StoreError::Other(e.to_string())))
        .collect()
}

#[async_trait::async_trait]
impl CheckpointStore for RemoteStore {
    async fn put(&self, cp: &Checkpoint) -> Result<bool, StoreError> {
        let resp = self
            .client
            .clone()
            .put_checkpoint(v1::PutCheckpointRequest {
                checkpoint: Some(cp.into()),
            })
            .await
            .map_err(status_err)?;
        Ok(resp.into_inner().created)
    }
    async fn get(&self, id: u64) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.list(id, id, 1).await?.into_iter().next())
    }
    async fn latest(&self) -> Result<Option<Checkpoint>, StoreError> {
        let resp = self
            .client
            .clone()
            .list_checkpoints(v1::ListCheckpointsRequest {
                latest_only: true,
                ..Default::default()
            })
            .await
            .map_err(status_err)?;
        Ok(from_wire(resp.into_inner().checkpoints)?.into_iter().next())
    }
    async fn list(&self, from: u64, to: u64, limit: usize) -> Result<Vec<Checkpoint>, StoreError> {
        let resp = self
            .client
            .clone()
            .list_checkpoints(v1::ListCheckpointsRequest {
                from_id: Some(from),
                to_id: Some(to),
                limit: u32::try_from(limit).unwrap_or(u32::MAX),
                latest_only: false,
            })
            .await
            .map_err(status_err)?;
        from_wire(resp.into_inner().checkpoints)
    }
}

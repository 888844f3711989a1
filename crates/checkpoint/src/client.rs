//! [`GrpcAnchors`]: the [`AnchorStream`] and [`CheckpointFeed`] of a remote checkpoint service
//! (`TrustedHead`, `WatchTrustedHead`, `List`).

use hypasis_checkpoint_api::{AnchorError, AnchorStream, CheckpointFeed, TrustedBlock};
use hypasis_primitives::Checkpoint;
use hypasis_proto::v1::{self, checkpoint_service_client::CheckpointServiceClient};
use std::time::Duration;
use tonic::transport::Channel;

/// Bound of one unary call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The trusted head of the checkpoint service at the other end of a channel.
#[derive(Debug, Clone)]
pub struct GrpcAnchors {
    client: CheckpointServiceClient<Channel>,
}

impl GrpcAnchors {
    /// Over `channel` (mTLS to the checkpoint service).
    pub fn new(channel: Channel) -> Self {
        Self {
            client: CheckpointServiceClient::new(channel),
        }
    }
}

fn unavailable(s: &tonic::Status) -> AnchorError {
    AnchorError::Unavailable(format!("{:?}: {}", s.code(), s.message()))
}

#[async_trait::async_trait]
impl CheckpointFeed for GrpcAnchors {
    async fn accepted(&self, from_id: u64, limit: usize) -> Result<Vec<Checkpoint>, AnchorError> {
        let mut c = self.client.clone();
        let call = c.list(v1::ListCheckpointsRequest {
            from_id: Some(from_id),
            to_id: None,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            latest_only: false,
        });
        let resp = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| {
                AnchorError::Unavailable(format!("List timed out after {CALL_TIMEOUT:?}"))
            })?
            .map_err(|s| unavailable(&s))?
            .into_inner();
        resp.checkpoints
            .into_iter()
            .map(|c| {
                Checkpoint::try_from(c)
                    .map_err(|_| AnchorError::Invalid("a checkpoint that does not decode"))
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl AnchorStream for GrpcAnchors {
    async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError> {
        match self
            .client
            .clone()
            .trusted_head(v1::TrustedHeadRequest {})
            .await
        {
            Ok(r) => TrustedBlock::try_from(r.into_inner()).map(Some),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(&s)),
        }
    }

    async fn wait_above(&self, after: Option<u64>) -> Result<TrustedBlock, AnchorError> {
        let mut stream = self
            .client
            .clone()
            .watch_trusted_head(v1::WatchTrustedHeadRequest {})
            .await
            .map_err(|s| unavailable(&s))?
            .into_inner();
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    let block = TrustedBlock::try_from(m)?;
                    if after.is_none_or(|a| block.number > a) {
                        return Ok(block);
                    }
                }
                Ok(None) => return Err(AnchorError::Closed),
                Err(s) => return Err(unavailable(&s)),
            }
        }
    }
}

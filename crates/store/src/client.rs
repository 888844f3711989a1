//! The gRPC side of the block-sink seam: [`GrpcStoreSink`] writes validated batches to the
//! store service.

use async_trait::async_trait;
use hypasis_primitives::{FaultClass, RawBlock, VerificationLevel};
use hypasis_proto::v1;
use hypasis_proto::v1::store_client::StoreClient;
use hypasis_storage_api::sink::{BlockSink, SinkError};
use tonic::transport::Channel;

/// A store answer as a [`SinkError`]: unreachable, busy or timed out is `Local` (retry), a
/// refusal of the batch is `Fatal` (retrying the same batch cannot help).
fn status_error(s: &tonic::Status) -> SinkError {
    use tonic::Code;
    let class = match s.code() {
        Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated | Code::DataLoss => {
            FaultClass::Fatal
        }
        _ => FaultClass::Local,
    };
    SinkError::Remote {
        code: format!("{:?}", s.code()),
        message: s.message().to_string(),
        class,
    }
}

/// The store service.
#[derive(Debug, Clone)]
pub struct GrpcStoreSink {
    client: StoreClient<Channel>,
}

impl GrpcStoreSink {
    /// Over a channel to the store; `max_message_bytes` must exceed [`hypasis_storage_api::sink::MAX_BATCH_BYTES`].
    pub fn new(channel: Channel, max_message_bytes: usize) -> Self {
        Self {
            client: StoreClient::new(channel)
                .max_encoding_message_size(max_message_bytes)
                .max_decoding_message_size(max_message_bytes),
        }
    }
}

#[async_trait]
impl BlockSink for GrpcStoreSink {
    async fn put(
        &self,
        blocks: Vec<RawBlock>,
        level: VerificationLevel,
        lease_id: &str,
    ) -> Result<(), SinkError> {
        let req = v1::PutBatchRequest {
            blocks: blocks.into_iter().map(v1::Block::from).collect(),
            level: v1::VerificationLevel::from(level) as i32,
            lease_id: lease_id.to_string(),
        };
        self.client
            .clone()
            .put_batch(req)
            .await
            .map(|_| ())
            .map_err(|s| status_error(&s))
    }

    async fn header(&self, number: u64) -> Result<Option<hypasis_primitives::Bytes>, SinkError> {
        match self
            .client
            .clone()
            .get_block_by_number(v1::GetBlockByNumberRequest { number })
            .await
        {
            Ok(b) => Ok(Some(b.into_inner().header.into())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(status_error(&s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypasis_primitives::Fault;

    #[test]
    fn refusals_are_fatal_and_outages_local() {
        let refused = status_error(&tonic::Status::invalid_argument("bad batch"));
        assert_eq!(refused.fault(), FaultClass::Fatal);
        let down = status_error(&tonic::Status::unavailable("down"));
        assert_eq!(down.fault(), FaultClass::Local);
        assert!(down.to_string().contains("down"), "{down}");
    }
}

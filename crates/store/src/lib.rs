//! The `hypasis.v1.Store` service: verified chain history, its gaps, checkpoints and scheduler
//! state over a [`BlockStorage`] backend.
//!
//! Error mapping (what the client should do):
//! - `INVALID_ARGUMENT`: the request or batch is malformed (bad hash, not contiguous, count
//!   mismatch, bad range). Fix the data; nothing was written.
//! - `FAILED_PRECONDITION`: the batch conflicts with stored blocks, a checkpoint would go backwards
//!   or change, a scheduler write is from a deposed leader. Nothing was written.
//! - `UNAVAILABLE`: the backend is temporarily failing. Retry.
//! - `DATA_LOSS`: stored data is corrupt. Stop and investigate.
//! - `NOT_FOUND`: the requested block or checkpoint is not stored.

pub mod client;
use hypasis_gaps::Range;
use hypasis_primitives::{Fault, RawBlock, VerificationLevel};
use hypasis_proto::convert::{self, ConvertError};
use hypasis_proto::v1;
use hypasis_storage_api::{BlockBatch, BlockStorage, SchedulerDelta, StorageError};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Largest number of blocks accepted in one `PutBatch`.
pub const MAX_BATCH_BLOCKS: usize = 8192;
/// Blocks read from the backend per page while streaming `GetBlocks`.
const STREAM_PAGE: usize = 128;

/// Metrics of the store service.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    blocks_written: IntCounter,
    bytes_written: IntCounter,
    batches: IntCounterVec,
    write_latency: Histogram,
    blocks_stored: IntGauge,
    bytes_stored: IntGauge,
    blocks_read: IntCounter,
}

impl StoreMetrics {
    /// Registers the store metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            blocks_written: IntCounter::new(
                "hypasis_store_blocks_written_total",
                "Blocks newly written",
            )?,
            bytes_written: IntCounter::new(
                "hypasis_store_bytes_written_total",
                "Bytes of newly written blocks",
            )?,
            batches: IntCounterVec::new(
                Opts::new(
                    "hypasis_store_batches_total",
                    "PutBatch requests by outcome",
                ),
                &["outcome"],
            )?,
            write_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "hypasis_store_batch_write_seconds",
                    "Time to validate and durably commit a batch",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            )?,
            blocks_stored: IntGauge::new("hypasis_store_blocks", "Blocks stored")?,
            bytes_stored: IntGauge::new("hypasis_store_bytes", "Bytes stored")?,
            blocks_read: IntCounter::new(
                "hypasis_store_blocks_read_total",
                "Blocks served to readers",
            )?,
        };
        registry.register(Box::new(m.blocks_written.clone()))?;
        registry.register(Box::new(m.bytes_written.clone()))?;
        registry.register(Box::new(m.batches.clone()))?;
        registry.register(Box::new(m.write_latency.clone()))?;
        registry.register(Box::new(m.blocks_stored.clone()))?;
        registry.register(Box::new(m.bytes_stored.clone()))?;
        registry.register(Box::new(m.blocks_read.clone()))?;
        Ok(m)
    }
}

/// Maps a storage error to the gRPC status the client acts on. The code follows the class
/// (peer: INVALID_ARGUMENT for bad input, FAILED_PRECONDITION for a conflict with stored
/// state; local: UNAVAILABLE; fatal: DATA_LOSS), and the class itself travels as a
/// `FaultDetail` (see [`convert::status_fault`]).
pub fn status(e: StorageError) -> Status {
    let class = e.fault();
    let status = match &e {
        StorageError::Integrity(_)
        | StorageError::NotContiguous { .. }
        | StorageError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        StorageError::Conflict { .. }
        | StorageError::CheckpointRefused { .. }
        | StorageError::StaleTerm { .. } => Status::failed_precondition(e.to_string()),
        StorageError::Unavailable(_) => Status::unavailable(e.to_string()),
        StorageError::Corrupt(_) => Status::data_loss(e.to_string()),
    };
    convert::with_fault(status, class, 0)
}

fn refusal_label(e: &StorageError) -> &'static str {
    match e {
        StorageError::Integrity(_) => "integrity",
        StorageError::NotContiguous { .. } => "not_contiguous",
        StorageError::Conflict { .. } => "conflict",
        StorageError::InvalidArgument(_) => "invalid_argument",
        StorageError::Unavailable(_) => "unavailable",
        StorageError::Corrupt(_) => "corrupt",
        StorageError::CheckpointRefused { .. } | StorageError::StaleTerm { .. } => "refused",
    }
}

/// The store service.
#[derive(Debug, Clone)]
pub struct StoreService {
    storage: Arc<dyn BlockStorage>,
    metrics: StoreMetrics,
}

impl StoreService {
    /// A service over `storage`, recording into `metrics`.
    pub fn new(storage: Arc<dyn BlockStorage>, metrics: StoreMetrics) -> Self {
        Self { storage, metrics }
    }

    /// The tonic server for this service, accepting messages up to `max_message_bytes`.
    pub fn into_server(self, max_message_bytes: usize) -> v1::store_server::StoreServer<Self> {
        v1::store_server::StoreServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }

    /// Refreshes the stored-size gauges from the backend.
    pub async fn refresh_gauges(&self) -> Result<(), StorageError> {
        let stats = self.storage.stats().await?;
        self.metrics
            .blocks_stored
            .set(i64::try_from(stats.blocks).unwrap_or(i64::MAX));
        self.metrics
            .bytes_stored
            .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        Ok(())
    }
}

type BlockStream = Pin<Box<dyn Stream<Item = Result<v1::Block, Status>> + Send>>;

#[tonic::async_trait]
impl v1::store_server::Store for StoreService {
    #[tracing::instrument(skip_all, fields(blocks = request.get_ref().blocks.len(), lease = %request.get_ref().lease_id))]
    async fn put_batch(
        &self,
        request: Request<v1::PutBatchRequest>,
    ) -> Result<Response<v1::PutBatchResponse>, Status> {
        let req = request.into_inner();
        if req.blocks.len() > MAX_BATCH_BLOCKS {
            self.metrics.batches.with_label_values(&["too_large"]).inc();
            return Err(Status::invalid_argument(format!(
                "batch of {} blocks exceeds the limit of {MAX_BATCH_BLOCKS}; split it",
                req.blocks.len()
            )));
        }
        let level = convert::verification_level("level", req.level)?;
        let blocks = req
            .blocks
            .into_iter()
            .map(RawBlock::try_from)
            .collect::<Result<Vec<_>, ConvertError>>()?;
        let batch = BlockBatch { blocks, level };
        let start = Instant::now();
        match self.storage.put_batch(&batch).await {
            Ok(outcome) => {
                self.metrics
                    .write_latency
                    .observe(start.elapsed().as_secs_f64());
                self.metrics.batches.with_label_values(&["ok"]).inc();
                self.metrics.blocks_written.inc_by(outcome.written);
                self.metrics.bytes_written.inc_by(outcome.bytes);
                self.metrics
                    .blocks_stored
                    .add(i64::try_from(outcome.written).unwrap_or(0));
                self.metrics
                    .bytes_stored
                    .add(i64::try_from(outcome.bytes).unwrap_or(0));
                let first = batch.blocks.first().map(|b| b.number).unwrap_or_default();
                let last = batch.blocks.last().map(|b| b.number).unwrap_or_default();
                tracing::debug!(first, last, written = outcome.written, "batch committed");
                Ok(Response::new(v1::PutBatchResponse {
                    range: Some(v1::BlockRange {
                        start: first,
                        end: last,
                    }),
                    written: outcome.written,
                    already_present: outcome.already_present,
                    bytes: outcome.bytes,
                }))
            }
            Err(e) => {
                self.metrics
                    .batches
                    .with_label_values(&[refusal_label(&e)])
                    .inc();
                if e.is_caller_fault() {
                    tracing::warn!(error = %e, "batch refused");
                } else {
                    tracing::error!(error = %e, "batch write failed");
                }
                Err(status(e))
            }
        }
    }

    type GetBlocksStream = BlockStream;

    async fn get_blocks(
        &self,
        request: Request<v1::GetBlocksRequest>,
    ) -> Result<Response<Self::GetBlocksStream>, Status> {
        let range = convert::range("range", request.get_ref().range.as_ref())?;
        let storage = self.storage.clone();
        let metrics = self.metrics.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_PAGE);
        tokio::spawn(async move {
            let mut next = range.start;
            loop {
                let page = match storage
                    .blocks(
                        Range {
                            start: next,
                            end: range.end,
                        },
                        STREAM_PAGE,
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
                let Some(last) = page.last().map(|b| b.number) else {
                    return;
                };
                for b in page {
                    metrics.blocks_read.inc();
                    if tx.send(Ok(v1::Block::from(b))).await.is_err() {
                        return; // client went away
                    }
                }
                match last.checked_add(1) {
                    Some(n) if n <= range.end => next = n,
                    _ => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_block_by_number(
        &self,
        request: Request<v1::GetBlockByNumberRequest>,
    ) -> Result<Response<v1::Block>, Status> {
        let n = request.get_ref().number;
        match self.storage.block_by_number(n).await.map_err(status)? {
            Some(b) => {
                self.metrics.blocks_read.inc();
                Ok(Response::new(b.into()))
            }
            None => Err(Status::not_found(format!("block {n} is not stored"))),
        }
    }

    async fn get_block_by_hash(
        &self,
        request: Request<v1::GetBlockByHashRequest>,
    ) -> Result<Response<v1::Block>, Status> {
        let hash = convert::b256("hash", &request.get_ref().hash)?;
        match self.storage.block_by_hash(hash).await.map_err(status)? {
            Some(b) => {
                self.metrics.blocks_read.inc();
                Ok(Response::new(b.into()))
            }
            None => Err(Status::not_found(format!("block {hash} is not stored"))),
        }
    }

    async fn get_ranges(
        &self,
        request: Request<v1::GetRangesRequest>,
    ) -> Result<Response<v1::GetRangesResponse>, Status> {
        let present = self.storage.present().await.map_err(status)?;
        let within = match &request.get_ref().within {
            Some(r) => convert::range("within", Some(r))?,
            None => Range {
                start: 0,
                end: present.last().unwrap_or(0),
            },
        };
        let verification = self.storage.verification().await.map_err(status)?;
        let present_blocks = present.count_within(within);
        Ok(Response::new(v1::GetRangesResponse {
            within: Some(within.into()),
            present: present.iter_within(within).map(Into::into).collect(),
            gaps: present.gaps(within).into_iter().map(Into::into).collect(),
            verification: VerificationLevel::ALL
                .into_iter()
                .filter_map(|level| {
                    let set = verification.get(&level)?;
                    Some(v1::VerifiedRanges {
                        level: v1::VerificationLevel::from(level) as i32,
                        ranges: set.iter_within(within).map(Into::into).collect(),
                    })
                })
                .collect(),
            present_blocks,
            missing_blocks: within.len() - present_blocks,
        }))
    }

    async fn get_stats(
        &self,
        _request: Request<v1::GetStatsRequest>,
    ) -> Result<Response<v1::StoreStats>, Status> {
        let s = self.storage.stats().await.map_err(status)?;
        Ok(Response::new(v1::StoreStats {
            blocks: s.blocks,
            bytes: s.bytes,
            lowest: s.lowest,
            highest: s.highest,
            ranges: s.ranges,
            checkpoints: s.checkpoints,
            backend: self.storage.backend().to_string(),
        }))
    }

    async fn put_checkpoint(
        &self,
        request: Request<v1::PutCheckpointRequest>,
    ) -> Result<Response<v1::PutCheckpointResponse>, Status> {
        let cp = request
            .into_inner()
            .checkpoint
            .ok_or(ConvertError::Missing("checkpoint"))?;
        let cp = hypasis_primitives::Checkpoint::try_from(cp)?;
        let created = self.storage.put_checkpoint(&cp).await.map_err(status)?;
        Ok(Response::new(v1::PutCheckpointResponse { created }))
    }

    async fn list_checkpoints(
        &self,
        request: Request<v1::ListCheckpointsRequest>,
    ) -> Result<Response<v1::ListCheckpointsResponse>, Status> {
        let checkpoints = match convert::CheckpointQuery::of(request.get_ref())? {
            convert::CheckpointQuery::Latest => self
                .storage
                .latest_checkpoint()
                .await
                .map_err(status)?
                .into_iter()
                .collect(),
            convert::CheckpointQuery::Range { from, to, limit } => self
                .storage
                .checkpoints(from, to, limit)
                .await
                .map_err(status)?,
        };
        Ok(Response::new(v1::ListCheckpointsResponse {
            checkpoints: checkpoints.iter().map(v1::Checkpoint::from).collect(),
        }))
    }

    async fn commit_scheduler_state(
        &self,
        request: Request<v1::CommitSchedulerStateRequest>,
    ) -> Result<Response<v1::CommitSchedulerStateResponse>, Status> {
        let req = request.into_inner();
        let delta = SchedulerDelta {
            term: req.term,
            upserts: req.upserts.into_iter().map(|r| (r.key, r.value)).collect(),
            deletes: req.deletes,
        };
        self.storage
            .commit_scheduler(&delta)
            .await
            .map_err(status)?;
        Ok(Response::new(v1::CommitSchedulerStateResponse {}))
    }

    async fn load_scheduler_state(
        &self,
        _request: Request<v1::LoadSchedulerStateRequest>,
    ) -> Result<Response<v1::LoadSchedulerStateResponse>, Status> {
        let snap = self.storage.load_scheduler().await.map_err(status)?;
        Ok(Response::new(v1::LoadSchedulerStateResponse {
            term: snap.term,
            records: snap
                .records
                .into_iter()
                .map(|(key, value)| v1::SchedulerRecord { key, value })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;
    use hypasis_primitives::FaultClass;

    #[test]
    fn status_code_and_detail_follow_the_class() {
        let cases = [
            (
                StorageError::InvalidArgument("start > end".into()),
                tonic::Code::InvalidArgument,
                FaultClass::Peer,
            ),
            (
                StorageError::StaleTerm {
                    given: 1,
                    current: 2,
                },
                tonic::Code::FailedPrecondition,
                FaultClass::Peer,
            ),
            (
                StorageError::Unavailable("disk".into()),
                tonic::Code::Unavailable,
                FaultClass::Local,
            ),
            (
                StorageError::Corrupt("record".into()),
                tonic::Code::DataLoss,
                FaultClass::Fatal,
            ),
        ];
        for (e, code, class) in cases {
            let s = status(e);
            assert_eq!(s.code(), code);
            assert_eq!(convert::status_fault(&s), class);
            assert!(convert::fault_detail(&s).is_some());
        }
    }
}

//! The [`CheckpointSource`] trait every anchor source implements.

use crate::error::{ErrorKind, SourceError, SourceResult};
use futures::stream::BoxStream;
use hypasis_checkpoint_api::TrustedBlock;
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind};
use std::sync::Arc;
use std::time::Duration;

/// Most checkpoints fetched by one [`CheckpointSource::range`] call.
pub const MAX_RANGE: u64 = 1000;

/// A source of trusted checkpoints (Heimdall, the L1 RootChain contract, a beacon node verified
/// with the light-client protocol, static configuration).
///
/// Ids are Heimdall checkpoint numbers for Polygon (the L1 header-block id ÷ 10,000) and the
/// execution block number for Ethereum block anchors.
#[async_trait::async_trait]
pub trait CheckpointSource: Send + Sync + std::fmt::Debug + 'static {
    /// Which kind of source this is.
    fn kind(&self) -> SourceKind;

    /// Display name for logs, metrics and errors (kind and endpoint).
    fn name(&self) -> String;

    /// The newest checkpoint this source vouches for (for L1: the newest final one).
    async fn latest(&self) -> SourceResult<Checkpoint>;

    /// Checkpoint `id`; [`ErrorKind::NotFound`] when the source does not have it (yet).
    async fn by_id(&self, id: u64) -> SourceResult<Checkpoint>;

    /// Checkpoints `from..=to` in ascending order (at most [`MAX_RANGE`]).
    async fn range(&self, from: u64, to: u64) -> SourceResult<Vec<Checkpoint>> {
        if from > to {
            return Err(SourceError::config(
                self.name(),
                format!("range {from}..={to} is empty"),
            ));
        }
        if to - from >= MAX_RANGE {
            return Err(SourceError::config(
                self.name(),
                format!("range {from}..={to} is longer than {MAX_RANGE} checkpoints"),
            ));
        }
        let mut out = Vec::with_capacity((to - from + 1) as usize);
        for id in from..=to {
            out.push(self.by_id(id).await?);
        }
        Ok(out)
    }

    /// The newest block this source vouches for by number and hash beyond its checkpoints
    /// (Heimdall: the latest milestone); `None` for sources that have no such notion.
    async fn latest_trusted_block(&self) -> SourceResult<Option<TrustedBlock>> {
        Ok(None)
    }

    /// Every checkpoint that appears from now on, in ascending id order, polling every `poll`
    /// (sources with push notifications use them in addition). Transient failures are yielded as
    /// errors and the stream goes on; it ends only when dropped.
    fn watch(self: Arc<Self>, poll: Duration) -> BoxStream<'static, SourceResult<Checkpoint>> {
        poll_watch(self, poll)
    }
}

/// Fetches the checkpoints after `last` up to `latest` (gap filling), ascending.
async fn fill<S: CheckpointSource + ?Sized>(
    source: &S,
    last: Option<u64>,
    latest: Checkpoint,
) -> SourceResult<Vec<Checkpoint>> {
    let Some(last) = last else {
        return Ok(vec![latest]);
    };
    if latest.id <= last {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    // Block anchors (Ethereum) have sparse ids: only the latest one is meaningful.
    let contiguous = !(latest.root.is_zero() && latest.end_block_hash.is_some());
    if contiguous {
        let from = last + 1;
        let to = latest.id - 1;
        if from <= to {
            let from = from.max(to.saturating_sub(MAX_RANGE - 1));
            for id in from..=to {
                out.push(source.by_id(id).await?);
            }
        }
    }
    out.push(latest);
    Ok(out)
}

/// The polling implementation of [`CheckpointSource::watch`]: emits the newest checkpoint and
/// then every new one (gap-filled by id).
pub fn poll_watch<S: CheckpointSource + ?Sized>(
    source: Arc<S>,
    poll: Duration,
) -> BoxStream<'static, SourceResult<Checkpoint>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<SourceResult<Checkpoint>>(16);
    tokio::spawn(async move {
        let mut last: Option<u64> = None;
        loop {
            let step = match source.latest().await {
                Ok(latest) => fill(&*source, last, latest).await,
                Err(e) => Err(e),
            };
            match step {
                Ok(new) => {
                    for cp in new {
                        last = Some(cp.id);
                        if tx.send(Ok(cp)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

//! The checkpoint service: a [`Follower`] that cross-checks the sources, persists accepted
//! checkpoints and broadcasts them, and [`CheckpointGrpc`], the `hypasis.v1.CheckpointService`
//! serving `Latest/Get/List/Watch` from the store and the trusted head (`TrustedHead`,
//! `WatchTrustedHead`). The [`Hub`] is also the in-process [`AnchorStream`].
//!
//! Resilience: a source outage (timeouts, 5xx, connection refused) is retried with exponential
//! backoff and jitter; meanwhile the service keeps serving what it has, the
//! `hypasis_checkpoint_degraded` gauge is 1 and the health service [`SOURCES_HEALTH`] reports
//! `NOT_SERVING` (the service itself stays `SERVING`, so probes do not restart it).

use crate::metrics::CheckpointMetrics;
use crate::quorum::{CrossCheckError, CrossChecker, TrustedHeadError};
use crate::retry::Backoff;
use crate::store::{CheckpointStore, StoreError};
use hypasis_checkpoint_api::{
    AnchorError, AnchorStream, CheckpointFeed, TrustOrigin, TrustedBlock,
};
use hypasis_gaps::Range;
use hypasis_primitives::{Checkpoint, Fault, FaultClass};
use hypasis_proto::convert::CheckpointQuery;
use hypasis_proto::v1;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Health-service name reporting whether the checkpoint sources are healthy (`SERVING`) or the
/// service is degraded (`NOT_SERVING`).
pub const SOURCES_HEALTH: &str = "hypasis.v1.CheckpointService.sources";

/// Largest `List` page (a lagging watcher re-reads at most this many at once).
const MAX_LIST_LIMIT: usize = CheckpointQuery::MAX_LIMIT;

/// Whether `cp` is a block anchor (Ethereum: a block hash, no range root).
pub fn is_block_anchor(cp: &Checkpoint) -> bool {
    cp.root.is_zero() && cp.end_block_hash.is_some()
}

/// Shared state of the follower and the gRPC service.
#[derive(Clone, Debug)]
pub struct Hub {
    store: Arc<dyn CheckpointStore>,
    tx: broadcast::Sender<Checkpoint>,
    head: Arc<tokio::sync::watch::Sender<Option<TrustedBlock>>>,
    metrics: CheckpointMetrics,
    closed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Hub {
    /// A hub over `store`.
    pub fn new(store: Arc<dyn CheckpointStore>, metrics: CheckpointMetrics) -> Self {
        let (tx, _) = broadcast::channel(256);
        Self {
            store,
            tx,
            head: Arc::new(tokio::sync::watch::channel(None).0),
            metrics,
            closed: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ends every `Watch` stream (at shutdown, so graceful shutdown does not wait on them).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CheckpointStore> {
        &self.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &CheckpointMetrics {
        &self.metrics
    }

    /// New accepted checkpoints.
    pub fn subscribe(&self) -> broadcast::Receiver<Checkpoint> {
        self.tx.subscribe()
    }

    /// The trusted head now.
    pub fn head(&self) -> Option<TrustedBlock> {
        self.head.borrow().clone()
    }

    /// Moves the trusted head up to `block`; returns whether it moved. A block below the head
    /// is ignored (a lagging source never moves it backward); another hash for the head's own
    /// block is refused loudly and changes nothing.
    pub fn advance_head(&self, block: TrustedBlock) -> Result<bool, TrustedHeadError> {
        let mut refused = None;
        let moved = self.head.send_if_modified(|head| match head {
            Some(h) if block.number < h.number => false,
            Some(h) if block.number == h.number => {
                if h.hash != block.hash {
                    refused = Some(TrustedHeadError::Disagreement {
                        number: block.number,
                        details: format!(
                            "the trusted head is {}, a source now says {}",
                            h.hash, block.hash
                        ),
                    });
                }
                false
            }
            _ => {
                tracing::info!(head = %block, "trusted head");
                self.metrics
                    .trusted_head
                    .set(i64::try_from(block.number).unwrap_or(i64::MAX));
                *head = Some(block.clone());
                true
            }
        });
        match refused {
            Some(e) => {
                tracing::error!(error = %e, "TRUSTED HEAD REFUSED");
                self.metrics
                    .refused
                    .with_label_values(&["head_conflict"])
                    .inc();
                Err(e)
            }
            None => Ok(moved),
        }
    }

    /// The trusted head a block anchor gives (its end block and hash).
    fn block_anchor_head(cp: &Checkpoint) -> Option<TrustedBlock> {
        let hash = cp.end_block_hash.filter(|_| is_block_anchor(cp))?;
        Some(TrustedBlock {
            number: cp.range.end,
            hash,
            origin: TrustOrigin::BlockAnchor,
            label: Some(format!("checkpoint {}", cp.id)),
        })
    }

    /// Checks `cp` against the stored checkpoints (never backwards, never changed, contiguous)
    /// and persists it; broadcasts it when new. Block anchors (Ethereum) are widened to cover
    /// the blocks since the previous anchor, so consecutive anchors stay contiguous.
    pub async fn accept(&self, mut cp: Checkpoint) -> Result<bool, StoreError> {
        let latest = self.store.latest().await?;
        if is_block_anchor(&cp)
            && let Some(prev) = &latest
            && cp.range.start == cp.range.end
            && cp.range.end > prev.range.end
        {
            cp.range = Range {
                start: prev.range.end + 1,
                end: cp.range.end,
            };
        }
        let existing = self.store.get(cp.id).await?;
        if let Err(e) =
            hypasis_storage_api::check_checkpoint(&cp, existing.as_ref(), latest.as_ref())
        {
            let err = StoreError::Refused(e.to_string());
            self.refused(&cp, &err);
            return Err(err);
        }
        match self.store.put(&cp).await {
            Ok(true) => {
                tracing::info!(
                    id = cp.id,
                    range = %cp.range,
                    root = %cp.root,
                    verified_by = ?cp.verified_by,
                    "checkpoint accepted"
                );
                self.metrics.accepted.inc();
                self.metrics
                    .latest_id
                    .set(i64::try_from(cp.id).unwrap_or(i64::MAX));
                if let Some(head) = Self::block_anchor_head(&cp) {
                    // Never a conflict: the store refused a changed record above.
                    let _ = self.advance_head(head);
                }
                let _ = self.tx.send(cp);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                if matches!(e, StoreError::Refused(_)) {
                    self.refused(&cp, &e);
                }
                Err(e)
            }
        }
    }

    fn refused(&self, cp: &Checkpoint, e: &StoreError) {
        tracing::error!(id = cp.id, range = %cp.range, root = %cp.root, error = %e, "CHECKPOINT REFUSED");
        self.metrics.refused.with_label_values(&[e.reason()]).inc();
    }
}

/// Follower settings.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// Time between polls when the sources are healthy.
    pub poll_interval: Duration,
    /// First checkpoint to fetch when the store has none (default: the latest agreed one).
    pub start_id: Option<u64>,
    /// First retry delay after a transient failure.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Most checkpoints accepted per round (the next round starts at once).
    pub max_per_round: u64,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(30),
            start_id: None,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(120),
            max_per_round: 100,
        }
    }
}

/// Why one follower round failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Sources failed or disagreed.
    #[error(transparent)]
    Sources(#[from] CrossCheckError),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trusted head could not be read or was refused.
    #[error(transparent)]
    Head(#[from] TrustedHeadError),
}

impl FollowError {
    /// Whether a quick retry may help.
    pub fn is_transient(&self) -> bool {
        self.fault() == FaultClass::Local
    }
}

impl Fault for FollowError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Sources(e) => e.fault(),
            Self::Store(e) => e.fault(),
            Self::Head(e) => e.fault(),
        }
    }
}

/// Follows the sources and persists what the quorum agrees on.
#[derive(Debug)]
pub struct Follower {
    checker: CrossChecker,
    hub: Hub,
    config: FollowerConfig,
    health: Option<HealthReporter>,
}

impl Follower {
    /// A follower cross-checking with `checker` and persisting through `hub`.
    pub fn new(
        checker: CrossChecker,
        hub: Hub,
        config: FollowerConfig,
        health: Option<HealthReporter>,
    ) -> Self {
        Self {
            checker,
            hub,
            config,
            health,
        }
    }

    /// One round: cross-check the sources' latest checkpoint and accept every checkpoint from
    /// the stored one up to it (at most `max_per_round`). Returns how many were accepted.
    pub async fn sync_once(&self) -> Result<u64, FollowError> {
        let accepted = self.checkpoints_once().await?;
        self.trusted_head_once().await?;
        Ok(accepted)
    }

    /// The trusted head's part of a round: the sources' agreed trusted block (Heimdall's
    /// milestone), and after a restart the stored block anchor, move the head up.
    async fn trusted_head_once(&self) -> Result<(), FollowError> {
        if self.hub.head().is_none()
            && let Some(head) = self
                .hub
                .store
                .latest()
                .await?
                .as_ref()
                .and_then(Hub::block_anchor_head)
        {
            self.hub.advance_head(head)?;
        }
        if let Some(block) = self.checker.latest_trusted_block().await? {
            self.hub.advance_head(block)?;
        }
        Ok(())
    }

    async fn checkpoints_once(&self) -> Result<u64, FollowError> {
        let stored = self.hub.store.latest().await?;
        let target = self.checker.latest().await?.checkpoint;
        if is_block_anchor(&target) {
            if stored.as_ref().is_none_or(|s| target.id > s.id) {
                return Ok(u64::from(self.hub.accept(target).await?));
            }
            return Ok(0);
        }
        let start = match &stored {
            Some(s) => s.id + 1,
            None => self.config.start_id.unwrap_or(target.id).max(1),
        };
        if start > target.id {
            if let Some(s) = &stored
                && s.id == target.id
            {
                // The sources still vouch for our newest record; refuse loudly if it changed.
                self.hub.accept(target).await?;
            }
            return Ok(0);
        }
        let end = target
            .id
            .min(start.saturating_add(self.config.max_per_round.max(1) - 1));
        let mut accepted = 0;
        for id in start..=end {
            let cp = if id == target.id {
                target.clone()
            } else {
                self.checker.by_id(id).await?.checkpoint
            };
            if self.hub.accept(cp).await? {
                accepted += 1;
            }
        }
        Ok(accepted)
    }

    async fn set_degraded(&self, degraded: bool) {
        self.hub.metrics.degraded.set(i64::from(degraded));
        if let Some(h) = &self.health {
            h.set_service_status(
                SOURCES_HEALTH,
                if degraded {
                    ServingStatus::NotServing
                } else {
                    ServingStatus::Serving
                },
            )
            .await;
        }
    }

    /// Runs rounds until `shutdown` resolves. Never returns early on source or store failures:
    /// transient ones are retried with backoff and jitter, refusals are logged and retried at
    /// the poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        tokio::pin!(shutdown);
        loop {
            let delay = match self.sync_once().await {
                Ok(n) => {
                    self.set_degraded(false).await;
                    backoff.reset();
                    if n >= self.config.max_per_round {
                        Duration::ZERO
                    } else {
                        self.config.poll_interval
                    }
                }
                Err(e) => {
                    self.set_degraded(true).await;
                    if e.is_transient() {
                        let d = backoff.next_delay();
                        tracing::warn!(error = %e, retry_in = ?d, attempt = backoff.attempts(), "checkpoint sources unavailable; serving stored checkpoints (degraded)");
                        d
                    } else {
                        tracing::error!(error = %e, retry_in = ?self.config.poll_interval, "checkpoint not accepted; serving stored checkpoints (degraded)");
                        self.config.poll_interval
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut shutdown => return,
            }
        }
    }
}

fn status(e: StoreError) -> Status {
    match e {
        StoreError::Unavailable(m) => Status::unavailable(m),
        StoreError::Refused(m) => Status::failed_precondition(m),
        StoreError::Other(m) => Status::internal(m),
    }
}

/// `hypasis.v1.CheckpointService` over a [`Hub`].
#[derive(Clone, Debug)]
pub struct CheckpointGrpc {
    hub: Hub,
}

impl CheckpointGrpc {
    /// The service.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }

    /// The tonic server.
    pub fn into_server(self) -> v1::checkpoint_service_server::CheckpointServiceServer<Self> {
        v1::checkpoint_service_server::CheckpointServiceServer::new(self)
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::Checkpoint, Status>> + Send>>;
type HeadStream = Pin<Box<dyn Stream<Item = Result<v1::TrustedBlock, Status>> + Send>>;

#[tonic::async_trait]
impl v1::checkpoint_service_server::CheckpointService for CheckpointGrpc {
    async fn latest(
        &self,
        _request: Request<v1::LatestCheckpointRequest>,
    ) -> Result<Response<v1::Checkpoint>, Status> {
        match self.hub.store.latest().await.map_err(status)? {
            Some(cp) => Ok(Response::new((&cp).into())),
            None => Err(Status::not_found("no checkpoint has been accepted yet")),
        }
    }

    async fn get(
        &self,
        request: Request<v1::GetCheckpointRequest>,
    ) -> Result<Response<v1::Checkpoint>, Status> {
        let id = request.into_inner().id;
        match self.hub.store.get(id).await.map_err(status)? {
            Some(cp) => Ok(Response::new((&cp).into())),
            None => Err(Status::not_found(format!("checkpoint {id} is not stored"))),
        }
    }

    async fn list(
        &self,
        request: Request<v1::ListCheckpointsRequest>,
    ) -> Result<Response<v1::ListCheckpointsResponse>, Status> {
        let cps = match CheckpointQuery::of(request.get_ref())? {
            CheckpointQuery::Latest => self
                .hub
                .store
                .latest()
                .await
                .map_err(status)?
                .into_iter()
                .collect(),
            CheckpointQuery::Range { from, to, limit } => {
                self.hub.store.list(from, to, limit).await.map_err(status)?
            }
        };
        Ok(Response::new(v1::ListCheckpointsResponse {
            checkpoints: cps.iter().map(v1::Checkpoint::from).collect(),
        }))
    }

    async fn trusted_head(
        &self,
        _request: Request<v1::TrustedHeadRequest>,
    ) -> Result<Response<v1::TrustedBlock>, Status> {
        match self.hub.head() {
            Some(b) => Ok(Response::new((&b).into())),
            None => Err(Status::not_found("no trusted head yet")),
        }
    }

    type WatchTrustedHeadStream = HeadStream;

    async fn watch_trusted_head(
        &self,
        _request: Request<v1::WatchTrustedHeadRequest>,
    ) -> Result<Response<Self::WatchTrustedHeadStream>, Status> {
        let mut head = self.hub.head.subscribe();
        let mut closed = self.hub.closed.subscribe();
        let (tx, out) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            // The current head first, then each advance (a slow watcher sees the newest).
            head.mark_changed();
            loop {
                tokio::select! {
                    r = head.changed() => if r.is_err() { return },
                    _ = tx.closed() => return,
                    _ = closed.wait_for(|c| *c) => return,
                }
                let now = head.borrow_and_update().clone();
                if let Some(b) = now
                    && tx.send(Ok(v1::TrustedBlock::from(&b))).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<v1::WatchCheckpointsRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let include_latest = request.into_inner().include_latest;
        let mut rx = self.hub.subscribe();
        let store = self.hub.store.clone();
        let mut last: Option<u64> = None;
        if include_latest {
            if let Some(cp) = store.latest().await.map_err(status)? {
                last = Some(cp.id);
                let (tx, out) = tokio::sync::mpsc::channel(64);
                let _ = tx.send(Ok(v1::Checkpoint::from(&cp))).await;
                tokio::spawn(forward(rx, store, last, tx, self.hub.closed.subscribe()));
                return Ok(Response::new(Box::pin(
                    tokio_stream::wrappers::ReceiverStream::new(out),
                )));
            }
        } else if let Some(cp) = store.latest().await.map_err(status)? {
            last = Some(cp.id);
        }
        let (tx, out) = tokio::sync::mpsc::channel(64);
        // Drain anything broadcast between subscribing and reading the latest id.
        while let Ok(cp) = rx.try_recv() {
            if last.is_none_or(|l| cp.id > l) {
                last = Some(cp.id);
                let _ = tx.send(Ok(v1::Checkpoint::from(&cp))).await;
            }
        }
        tokio::spawn(forward(rx, store, last, tx, self.hub.closed.subscribe()));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}

/// Forwards broadcast checkpoints to one watcher; after lagging, re-reads the missed ones from
/// the store so a slow watcher never skips a checkpoint.
async fn forward(
    mut rx: broadcast::Receiver<Checkpoint>,
    store: Arc<dyn CheckpointStore>,
    mut last: Option<u64>,
    tx: tokio::sync::mpsc::Sender<Result<v1::Checkpoint, Status>>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let cp = tokio::select! {
            r = rx.recv() => r,
            _ = tx.closed() => return,
            _ = closed.wait_for(|c| *c) => return,
        };
        let batch = match cp {
            Ok(cp) => vec![cp],
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let from = last.map_or(0, |l| l + 1);
                match store.list(from, u64::MAX, MAX_LIST_LIMIT).await {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for cp in batch {
            if last.is_some_and(|l| cp.id <= l) {
                continue;
            }
            last = Some(cp.id);
            if tx.send(Ok(v1::Checkpoint::from(&cp))).await.is_err() {
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl AnchorStream for Hub {
    async fn trusted_head(&self) -> Result<Option<TrustedBlock>, AnchorError> {
        Ok(self.head())
    }

    async fn wait_above(&self, after: Option<u64>) -> Result<TrustedBlock, AnchorError> {
        let mut head = self.head.subscribe();
        let mut closed = self.closed.subscribe();
        let above = |h: &Option<TrustedBlock>| {
            h.as_ref()
                .is_some_and(|h| after.is_none_or(|a| h.number > a))
        };
        tokio::select! {
            r = head.wait_for(above) => r
                .map_err(|_| AnchorError::Closed)?
                .clone()
                .ok_or(AnchorError::Closed),
            _ = closed.wait_for(|c| *c) => Err(AnchorError::Closed),
        }
    }
}

#[async_trait::async_trait]
impl CheckpointFeed for Hub {
    async fn accepted(&self, from_id: u64, limit: usize) -> Result<Vec<Checkpoint>, AnchorError> {
        self.store
            .list(from_id, u64::MAX, limit)
            .await
            .map_err(|e| AnchorError::Unavailable(e.to_string()))
    }
}

//! The `hypasis.v1.Scheduler` service and the leader loop of a scheduler node.
//!
//! Every node campaigns for leadership through a [`Coordinator`] (etcd in a cluster, in process
//! in standalone mode). The leader takes over the durable state ([`DurableScheduler::open`],
//! fenced by its term), serves the API and reports `SERVING`; the others answer `UNAVAILABLE`
//! with the leader's address (message and `x-hypasis-leader` metadata) and report
//! `NOT_SERVING`. A leader that loses its lease or finds a newer term in the store steps down at
//! once and campaigns again.

use crate::clock::Clock;
use crate::config::SchedulerConfig;
use crate::durable::{AnchorSource, DurableError, DurableScheduler};
use crate::metrics::SchedulerMetrics;
use crate::scheduler::{Completion, SchedulerError, Status, UnitFilter};
use crate::store::SchedulerStore;
use crate::unit::{Direction, FailureReason};
use hypasis_checkpoint_api::{AnchorStream, CheckpointFeed};
use hypasis_coordination::{Coordinator, Members};
use hypasis_proto::v1;
use hypasis_proto::v1::scheduler_server::{Scheduler as SchedulerRpc, SchedulerServer};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tonic::{Request, Response, Status as RpcStatus};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use hypasis_scheduler_api::{FETCHER_KIND, FetcherAnnouncement, LEADER_METADATA};

/// The chain a scheduler works on (for status).
#[derive(Debug, Clone, Default)]
pub struct ChainInfo {
    /// Command-line name.
    pub name: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Genesis hash (32 bytes).
    pub genesis_hash: Vec<u8>,
}

/// Settings of a scheduler node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain.
    pub chain: ChainInfo,
    /// Scheduling.
    pub scheduler: SchedulerConfig,
    /// Anchor.
    pub anchor: AnchorSource,
    /// This node's gRPC URL, given to clients of non-leaders as the leader hint.
    pub advertise: String,
    /// Election name (one election per chain).
    pub election: String,
    /// How often the leader re-reads gaps and checkpoints and expires leases.
    pub refresh_interval: Duration,
    /// How often progress is logged.
    pub progress_interval: Duration,
    /// A fixed tip (in addition to what fetchers announce).
    pub static_tip: Option<u64>,
}

/// A scheduler node: leader loop plus the shared state the gRPC service reads.
#[derive(Debug)]
pub struct SchedulerNode {
    cfg: NodeConfig,
    store: Arc<dyn SchedulerStore>,
    checkpoints: Arc<dyn CheckpointFeed>,
    coordinator: Arc<dyn Coordinator>,
    clock: Arc<dyn Clock>,
    metrics: SchedulerMetrics,
    health: Option<(HealthReporter, &'static str)>,
    leader: RwLock<Option<Arc<Mutex<DurableScheduler>>>>,
    fleet: RwLock<Members>,
    /// Where the trusted head comes from (the checkpoint service or its in-process hub).
    trusted_heads: RwLock<Option<Arc<dyn AnchorStream>>>,
}

fn to_status(e: DurableError) -> RpcStatus {
    match e {
        DurableError::Deposed(m) => RpcStatus::unavailable(format!("not the leader any more: {m}")),
        DurableError::Store(e) => RpcStatus::unavailable(e.to_string()),
        DurableError::Restore(e) => RpcStatus::internal(e.to_string()),
    }
}

fn sched_status(e: SchedulerError) -> RpcStatus {
    match e {
        SchedulerError::UnknownLease(_) => RpcStatus::not_found(e.to_string()),
        SchedulerError::StaleToken { .. } | SchedulerError::Expired(_) => {
            RpcStatus::failed_precondition(e.to_string())
        }
        SchedulerError::InvalidArgument(_) => RpcStatus::invalid_argument(e.to_string()),
    }
}

fn direction(field: &str, v: i32) -> Result<Direction, RpcStatus> {
    Direction::from_proto(v)
        .ok_or_else(|| RpcStatus::invalid_argument(format!("`{field}`: unknown direction {v}")))
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

impl SchedulerNode {
    /// A node; call [`SchedulerNode::run`] to campaign and lead.
    pub fn new(
        cfg: NodeConfig,
        store: Arc<dyn SchedulerStore>,
        checkpoints: Arc<dyn CheckpointFeed>,
        coordinator: Arc<dyn Coordinator>,
        clock: Arc<dyn Clock>,
        metrics: SchedulerMetrics,
        health: Option<(HealthReporter, &'static str)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            store,
            checkpoints,
            coordinator,
            clock,
            metrics,
            health,
            leader: RwLock::new(None),
            fleet: RwLock::new(Members::new()),
            trusted_heads: RwLock::new(None),
        })
    }

    /// Follows the trusted head of `heads` (read at every refresh while leading; shown in the
    /// status with its source, age and distance from the stored head).
    pub fn follow_trusted_head(&self, heads: Arc<dyn AnchorStream>) {
        *self.trusted_heads.write().expect("poisoned") = Some(heads);
    }

    /// The trusted head now, from the followed source; a failure, or no answer within the
    /// refresh interval (the leader loop must not wait on the checkpoint service), is logged
    /// and leaves the head where it was.
    async fn read_trusted_head(&self) -> Option<hypasis_checkpoint_api::TrustedBlock> {
        let heads = self.trusted_heads.read().expect("poisoned").clone()?;
        let bound = self.cfg.refresh_interval.max(Duration::from_secs(1));
        match tokio::time::timeout(bound, heads.trusted_head()).await {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the trusted head failed; it stays where it was");
                None
            }
            Err(_) => {
                tracing::warn!(waited = ?bound, "the trusted head did not come in time; it stays where it was");
                None
            }
        }
    }

    /// The tonic service.
    pub fn grpc_service(self: &Arc<Self>) -> SchedulerServer<SchedulerGrpc> {
        SchedulerServer::new(self.grpc())
    }

    /// The service implementation (callable in process without a transport).
    pub fn grpc(self: &Arc<Self>) -> SchedulerGrpc {
        SchedulerGrpc(self.clone())
    }

    /// The leader's scheduler, when this node leads.
    pub fn leader_state(&self) -> Option<Arc<Mutex<DurableScheduler>>> {
        self.leader.read().expect("poisoned").clone()
    }

    async fn set_leader(&self, state: Option<Arc<Mutex<DurableScheduler>>>, term: Option<u64>) {
        let serving = state.is_some();
        *self.leader.write().expect("poisoned") = state;
        self.metrics.set_leader(term);
        if let Some((health, service)) = &self.health {
            let s = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(*service, s).await;
            health.set_service_status("", s).await;
        }
    }

    async fn not_leader(&self) -> RpcStatus {
        let hint = tokio::time::timeout(
            Duration::from_secs(1),
            self.coordinator.leader(&self.cfg.election),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .filter(|h| *h != self.cfg.advertise);
        let mut status = RpcStatus::unavailable(match &hint {
            Some(h) => format!("not the scheduler leader; leader: {h}"),
            None => "not the scheduler leader; no leader elected yet".to_string(),
        });
        if let Some(h) = hint
            && let Ok(v) = h.parse()
        {
            status.metadata_mut().insert(LEADER_METADATA, v);
        }
        status
    }

    async fn state(&self) -> Result<Arc<Mutex<DurableScheduler>>, RpcStatus> {
        match self.leader_state() {
            Some(s) => Ok(s),
            None => Err(self.not_leader().await),
        }
    }

    fn fleet_tip(&self) -> (Option<u64>, usize, u64) {
        let fleet = self.fleet.read().expect("poisoned");
        let mut tip = self.cfg.static_tip;
        let mut peers = 0u64;
        for v in fleet.values() {
            if let Some(a) = FetcherAnnouncement::decode(v) {
                tip = tip.max(a.tip);
                peers += u64::from(a.peers);
            }
        }
        (tip, fleet.len(), peers)
    }

    /// Campaigns, leads while elected, campaigns again after losing leadership; returns when
    /// `shutdown` becomes true (resigning if leading).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        self.set_leader(None, None).await;
        let mut members = loop {
            match self
                .coordinator
                .watch_members(crate::service::FETCHER_KIND)
                .await
            {
                Ok(rx) => break rx,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch fetcher membership; retrying");
                    tokio::select! {
                        _ = flag(&mut shutdown) => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            if *shutdown.borrow() {
                return;
            }
            let campaign = self
                .coordinator
                .campaign(&self.cfg.election, &self.cfg.advertise);
            let guard = tokio::select! {
                _ = flag(&mut shutdown) => return,
                g = campaign => match g {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!(error = %e, "campaign failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            let term = guard.term;
            tracing::info!(term, election = %self.cfg.election, "elected scheduler leader; taking over the durable state");
            let mut lost = guard.lost.clone();
            // Take over the durable state (retrying while the store is unreachable).
            let durable = loop {
                let open = DurableScheduler::open(
                    self.store.clone(),
                    self.checkpoints.clone(),
                    self.cfg.scheduler.clone(),
                    self.clock.clone(),
                    term,
                    self.cfg.anchor,
                );
                tokio::select! {
                    _ = flag(&mut shutdown) => return,
                    _ = flag(&mut lost) => break None,
                    r = open => match r {
                        Ok(d) => break Some(d),
                        Err(DurableError::Deposed(m)) => {
                            tracing::warn!(term, reason = %m, "a newer term owns the state; resigning");
                            break None;
                        }
                        Err(e) => {
                            tracing::warn!(term, error = %e, "cannot load the scheduler state; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            };
            let Some(durable) = durable else {
                drop(guard);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let term = durable.term();
            let state = Arc::new(Mutex::new(durable));
            self.set_leader(Some(state.clone()), Some(term)).await;
            tracing::info!(term, "scheduler leader serving");
            let resign = self
                .lead(&state, &mut members, &mut lost, &mut shutdown)
                .await;
            self.set_leader(None, None).await;
            if resign {
                drop(guard);
                tracing::info!(term, "resigned scheduler leadership");
                return;
            }
            tracing::warn!(term, "scheduler leadership lost; campaigning again");
            drop(guard);
        }
    }

    /// Leader duties until leadership is lost (returns false) or shutdown (returns true).
    async fn lead(
        &self,
        state: &Arc<Mutex<DurableScheduler>>,
        members: &mut watch::Receiver<Members>,
        lost: &mut watch::Receiver<bool>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut refresh = tokio::time::interval(self.cfg.refresh_interval);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut progress = tokio::time::interval(self.cfg.progress_interval);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        members.mark_changed();
        loop {
            tokio::select! {
                _ = flag(shutdown) => return true,
                _ = flag(lost) => return false,
                r = members.changed() => {
                    if r.is_err() {
                        // Membership feed gone (coordinator shut down): keep leading on the
                        // static tip; leadership loss is reported through `lost`.
                        tokio::time::sleep(self.cfg.refresh_interval).await;
                        continue;
                    }
                    *self.fleet.write().expect("poisoned") = members.borrow_and_update().clone();
                    let (tip, n, peers) = self.fleet_tip();
                    self.metrics.set_fleet(n, peers);
                    if let Some(tip) = tip {
                        let mut d = state.lock().await;
                        if let Err(e) = d.observe_tip(tip).await {
                            tracing::warn!(error = %e, "recording the tip failed");
                        }
                        if d.is_deposed() {
                            return false;
                        }
                    }
                }
                _ = refresh.tick() => {
                    let head = self.read_trusted_head().await;
                    let mut d = state.lock().await;
                    if let Some(head) = head
                        && d.observe_trusted_head(head.clone())
                    {
                        tracing::info!(head = %head, "trusted head");
                    }
                    if let Some(tip) = self.fleet_tip().0
                        && let Err(e) = d.observe_tip(tip).await
                    {
                        tracing::warn!(error = %e, "recording the tip failed");
                    }
                    if let Err(e) = d.sync_inputs().await {
                        tracing::warn!(error = %e, "refreshing gaps and checkpoints failed");
                    }
                    if let Err(e) = d.apply(|s| s.expire()).await {
                        tracing::warn!(error = %e, "expiring leases failed");
                    }
                    if d.is_deposed() {
                        return false;
                    }
                    self.metrics.observe(&d.scheduler().status());
                }
                _ = progress.tick() => {
                    let st = state.lock().await.scheduler().status();
                    log_progress(&st);
                }
            }
        }
    }

    async fn status(&self) -> Result<v1::SchedulerStatus, RpcStatus> {
        let state = self.state().await?;
        let d = state.lock().await;
        let st = d.scheduler().status();
        let (_, fetchers, peers) = self.fleet_tip();
        let anchor = match (d.anchor_checkpoint(), st.anchor) {
            (Some(c), _) => Some(v1::Checkpoint::from(c)),
            (None, Some(a)) => Some(v1::Checkpoint {
                source: v1::CheckpointSource::Static as i32,
                range: Some(v1::BlockRange {
                    start: a.number,
                    end: a.number,
                }),
                end_block_hash: a.hash.map(|h| h.to_vec()),
                ..Default::default()
            }),
            (None, None) => None,
        };
        Ok(v1::SchedulerStatus {
            chain: Some(v1::ChainId {
                chain_id: self.cfg.chain.chain_id,
                name: self.cfg.chain.name.clone(),
                genesis_hash: self.cfg.chain.genesis_hash.clone(),
            }),
            leader: true,
            term: st.term,
            anchor,
            tip: st.tip.unwrap_or(0),
            directions: st
                .directions
                .iter()
                .map(|d| v1::DirectionStatus {
                    direction: d.direction.to_proto() as i32,
                    paused: d.paused,
                    done_blocks: d.done_blocks,
                    in_flight_blocks: d.in_flight_blocks,
                    remaining_blocks: d.remaining_blocks,
                    blocks_per_second: d.blocks_per_second,
                    eta: d.eta.map(duration),
                    units_no_peer: u32::try_from(d.units_no_peer).unwrap_or(u32::MAX),
                    units_backoff: u32::try_from(d.units_backoff).unwrap_or(u32::MAX),
                })
                .collect(),
            gaps: st.gaps.iter().map(|&r| r.into()).collect(),
            fetchers: u32::try_from(fetchers).unwrap_or(u32::MAX),
            peers: u32::try_from(peers).unwrap_or(u32::MAX),
            trusted_head: st
                .trusted_head
                .as_ref()
                .map(|h| v1::TrustedBlock::from(&h.block)),
            trusted_head_age: st.trusted_head.as_ref().map(|h| duration(h.age)),
            trusted_head_distance: st.trusted_head.as_ref().map_or(0, |h| h.distance),
        })
    }
}

/// Resolves when the flag becomes true (or its sender is gone).
async fn flag(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Logs per-direction progress (structured fields: done, remaining, blocks/s, ETA).
pub fn log_progress(st: &Status) {
    for d in &st.directions {
        tracing::info!(
            direction = d.direction.name(),
            done_blocks = d.done_blocks,
            remaining_blocks = d.remaining_blocks,
            in_flight_blocks = d.in_flight_blocks,
            blocks_per_second = format!("{:.1}", d.blocks_per_second),
            eta_seconds = d.eta.map(|e| e.as_secs()),
            units_leased = d.units_leased,
            units_backoff = d.units_backoff,
            units_no_peer = d.units_no_peer,
            paused = d.paused,
            tip = st.tip,
            peer_tip = st.peer_tip,
            term = st.term,
            "sync progress"
        );
    }
}

/// The gRPC face of a [`SchedulerNode`].
#[derive(Debug, Clone)]
pub struct SchedulerGrpc(Arc<SchedulerNode>);

impl SchedulerGrpc {
    /// Pauses or resumes leasing in the direction the wire value names (durably).
    async fn set_paused(&self, wire_direction: i32, paused: bool) -> Result<(), RpcStatus> {
        let d = direction("direction", wire_direction)?;
        let state = self.0.state().await?;
        state
            .lock()
            .await
            .apply(|s| if paused { s.pause(d) } else { s.resume(d) })
            .await
            .map_err(to_status)?;
        let what = if paused {
            "direction paused"
        } else {
            "direction resumed"
        };
        tracing::info!(direction = d.name(), "{what}");
        Ok(())
    }

    fn count(&self, op: &str, ok: bool) {
        self.0
            .metrics
            .lease_ops
            .with_label_values(&[op, if ok { "ok" } else { "refused" }])
            .inc();
    }
}

#[tonic::async_trait]
impl SchedulerRpc for SchedulerGrpc {
    async fn acquire_lease(
        &self,
        request: Request<v1::AcquireLeaseRequest>,
    ) -> Result<Response<v1::AcquireLeaseResponse>, RpcStatus> {
        let req = request.into_inner();
        if req.fetcher_id.is_empty() {
            return Err(RpcStatus::invalid_argument("`fetcher_id` is required"));
        }
        let dirs = req
            .directions
            .iter()
            .map(|&d| direction("directions", d))
            .collect::<Result<Vec<_>, _>>()?;
        let state = self.0.state().await?;
        let mut d = state.lock().await;
        let a = d
            .apply(|s| s.acquire(&req.fetcher_id, req.max_units.max(1), &dirs))
            .await
            .map_err(to_status)?;
        let leases = a.leases.iter().map(|l| d.lease_proto(l)).collect();
        drop(d);
        self.count("acquire", true);
        if !a.leases.is_empty() {
            tracing::debug!(fetcher = %req.fetcher_id, leases = a.leases.len(), "leases granted");
        }
        Ok(Response::new(v1::AcquireLeaseResponse {
            leases,
            retry_after: (a.leases.is_empty()).then(|| duration(a.retry_after)),
        }))
    }

    async fn renew_lease(
        &self,
        request: Request<v1::RenewLeaseRequest>,
    ) -> Result<Response<v1::RenewLeaseResponse>, RpcStatus> {
        let req = request.into_inner();
        let state = self.0.state().await?;
        let r = state
            .lock()
            .await
            .apply(|s| s.renew(&req.lease_id, req.fencing_token))
            .await
            .map_err(to_status)?;
        self.count("renew", r.is_ok());
        let lease = r.map_err(sched_status)?;
        Ok(Response::new(v1::RenewLeaseResponse {
            lease: Some(lease.to_proto()),
        }))
    }

    async fn complete_lease(
        &self,
        request: Request<v1::CompleteLeaseRequest>,
    ) -> Result<Response<v1::CompleteLeaseResponse>, RpcStatus> {
        let req = request.into_inner();
        let stored = req
            .stored
            .as_ref()
            .map(|r| hypasis_proto::convert::range("stored", Some(r)))
            .transpose()?;
        let state = self.0.state().await?;
        let r = state
            .lock()
            .await
            .apply(|s| s.complete(&req.lease_id, req.fencing_token, stored))
            .await
            .map_err(to_status)?;
        self.count("complete", r.is_ok());
        match r.map_err(sched_status)? {
            Completion::Done(u) => {
                self.0.metrics.completed(u.direction, u.range.len());
                tracing::debug!(unit = u.id, range = %u.range, direction = u.direction.name(), "unit done");
            }
            Completion::AlreadyDone(_) => {}
        }
        Ok(Response::new(v1::CompleteLeaseResponse {}))
    }

    async fn fail_lease(
        &self,
        request: Request<v1::FailLeaseRequest>,
    ) -> Result<Response<v1::FailLeaseResponse>, RpcStatus> {
        let req = request.into_inner();
        let reason = FailureReason::from_request(req.reason, req.fault_class);
        let state = self.0.state().await?;
        let r = state
            .lock()
            .await
            .apply(|s| s.fail(&req.lease_id, req.fencing_token, reason, &req.message))
            .await
            .map_err(to_status)?;
        self.count("fail", r.is_ok());
        let unit = r.map_err(sched_status)?;
        tracing::info!(unit = unit.id, range = %unit.range, attempts = unit.attempts, reason = ?reason, rule = req.rule().as_str_name(), message = %req.message, "unit failed; backing off");
        Ok(Response::new(v1::FailLeaseResponse {
            unit: Some(unit.to_proto()),
        }))
    }

    async fn list_units(
        &self,
        request: Request<v1::ListUnitsRequest>,
    ) -> Result<Response<v1::ListUnitsResponse>, RpcStatus> {
        let req = request.into_inner();
        let filter = UnitFilter {
            direction: req
                .direction
                .map(|d| direction("direction", d))
                .transpose()?,
            state: req
                .state
                .map(|s| {
                    v1::WorkUnitState::try_from(s)
                        .ok()
                        .filter(|s| *s != v1::WorkUnitState::Unspecified)
                        .ok_or_else(|| RpcStatus::invalid_argument(format!("unknown state {s}")))
                })
                .transpose()?,
            active_only: false,
        };
        let limit = if req.limit == 0 {
            1000
        } else {
            req.limit.min(100_000) as usize
        };
        let state = self.0.state().await?;
        let d = state.lock().await;
        let s = d.scheduler();
        let units = s.units(filter).take(limit).map(|u| u.to_proto()).collect();
        let leases = s
            .leases()
            .iter()
            .filter(|l| filter.direction.is_none_or(|d| l.unit.direction == d))
            .take(limit)
            .map(|l| l.to_proto())
            .collect();
        Ok(Response::new(v1::ListUnitsResponse { units, leases }))
    }

    async fn get_status(
        &self,
        _request: Request<v1::GetSchedulerStatusRequest>,
    ) -> Result<Response<v1::SchedulerStatus>, RpcStatus> {
        Ok(Response::new(self.0.status().await?))
    }

    async fn pause(
        &self,
        request: Request<v1::PauseRequest>,
    ) -> Result<Response<v1::PauseResponse>, RpcStatus> {
        self.set_paused(request.get_ref().direction, true).await?;
        Ok(Response::new(v1::PauseResponse {}))
    }

    async fn resume(
        &self,
        request: Request<v1::ResumeRequest>,
    ) -> Result<Response<v1::ResumeResponse>, RpcStatus> {
        self.set_paused(request.get_ref().direction, false).await?;
        Ok(Response::new(v1::ResumeResponse {}))
    }

    async fn reverify_range(
        &self,
        request: Request<v1::ReverifyRangeRequest>,
    ) -> Result<Response<v1::ReverifyRangeResponse>, RpcStatus> {
        let range = hypasis_proto::convert::range("range", request.get_ref().range.as_ref())?;
        let state = self.0.state().await?;
        let units = state
            .lock()
            .await
            .apply(|s| s.reverify(range))
            .await
            .map_err(to_status)?
            .map_err(sched_status)?;
        tracing::info!(range = %range, units = units.len(), "re-verification scheduled");
        Ok(Response::new(v1::ReverifyRangeResponse {
            units: units.iter().map(|u| u.to_proto()).collect(),
        }))
    }
}

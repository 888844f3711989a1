//! The gRPC side of the lease seam: [`GrpcLeases`], a client of `hypasis.v1.Scheduler` that
//! follows the leader among several scheduler instances.

use crate::service::LEADER_METADATA;
use async_trait::async_trait;
use futures::future::BoxFuture;
use hypasis_proto::v1;
use hypasis_proto::v1::scheduler_client::SchedulerClient;
use hypasis_scheduler_api::{Failure, FailureReason, LeaseError, LeaseSource, LeasedUnit};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tonic::transport::Channel;

/// Why a scheduler URL could not be dialed (TLS set-up, connection refused, timeout).
pub type DialError = Box<dyn std::error::Error + Send + Sync>;

/// Dials a scheduler URL: a connected channel or why not.
type SchedulerDialer =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Channel, DialError>> + Send + Sync>;

/// Leases from the scheduler service over gRPC (cluster mode).
///
/// Either over one fixed channel ([`GrpcLeases::new`]) or over a list of scheduler URLs
/// ([`GrpcLeases::with_endpoints`]): a standby scheduler answers `UNAVAILABLE` with the
/// leader's URL in the [`LEADER_METADATA`] header, which is followed at once; without a hint
/// (no leader elected yet, a dead or unreachable scheduler) the next URL of the list is tried
/// on the next call, so after the leader dies the fetcher reaches the new one.
#[derive(Debug, Clone)]
pub struct GrpcLeases {
    target: Arc<Target>,
}

#[derive(Debug)]
enum Target {
    Fixed(SchedulerClient<Channel>),
    Endpoints(Endpoints),
}

struct Endpoints {
    urls: Vec<String>,
    dial: SchedulerDialer,
    state: Mutex<EndpointState>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoints")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct EndpointState {
    /// The URL calls go to.
    url: String,
    /// Index in `urls` of the URL to rotate to when `url` fails without a hint.
    next: usize,
    /// The channel to `url`, once dialed.
    client: Option<SchedulerClient<Channel>>,
    /// URLs that could not be reached, and when: neither rotated to nor followed as a leader
    /// hint for [`UNREACHABLE_FOR`] (a standby names the dead leader until its election lease
    /// expires).
    unreachable: HashMap<String, Instant>,
}

/// Bounds of how long a completion is retried while no scheduler takes it.
const COMPLETE_RETRY_MIN: Duration = Duration::from_secs(5);
const COMPLETE_RETRY_MAX: Duration = Duration::from_secs(30);

/// How long a scheduler URL that could not be reached is avoided.
const UNREACHABLE_FOR: Duration = Duration::from_secs(5);

impl EndpointState {
    fn avoided(&self, url: &str) -> bool {
        self.unreachable
            .get(url)
            .is_some_and(|t| t.elapsed() < UNREACHABLE_FOR)
    }

    /// Moves to `url` (a leader hint, or the next of the list).
    fn switch_to(&mut self, urls: &[String], url: String) {
        if let Some(i) = urls.iter().position(|u| *u == url) {
            self.next = (i + 1) % urls.len();
        }
        if self.url != url {
            self.url = url;
            self.client = None;
        }
    }

    /// Moves to the next URL of the list that is not avoided; stays when every other one is
    /// (unless the current one is avoided too: then simply the next).
    fn rotate(&mut self, urls: &[String]) {
        let n = urls.len();
        let pick = (0..n)
            .map(|k| &urls[(self.next + k) % n])
            .find(|u| **u != self.url && !self.avoided(u))
            .cloned();
        let url = match pick {
            Some(u) => u,
            None if !self.avoided(&self.url) => self.url.clone(),
            None => urls[self.next % n].clone(),
        };
        self.switch_to(urls, url);
    }
}

/// The leader's URL a standby put on its `UNAVAILABLE` answer.
fn leader_hint(s: &tonic::Status) -> Option<String> {
    if s.code() != tonic::Code::Unavailable {
        return None;
    }
    s.metadata()
        .get(LEADER_METADATA)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Whether the error says nothing about the lease, only about the scheduler we asked (dead,
/// unreachable, not the leader): another scheduler may answer.
fn is_endpoint_failure(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
    )
}

impl Endpoints {
    /// The current URL and its client, dialing it if needed; on a dial failure the next URL
    /// of the list becomes current.
    async fn client(&self) -> Result<(String, SchedulerClient<Channel>), LeaseError> {
        let mut st = self.state.lock().await;
        if let Some(c) = &st.client {
            return Ok((st.url.clone(), c.clone()));
        }
        let url = st.url.clone();
        match (self.dial)(url.clone()).await {
            Ok(ch) => {
                let c = SchedulerClient::new(ch);
                st.client = Some(c.clone());
                st.unreachable.remove(&url);
                Ok((url, c))
            }
            Err(e) => {
                st.unreachable.insert(url.clone(), Instant::now());
                st.rotate(&self.urls);
                tracing::debug!(%url, error = %e, next = %st.url, "scheduler not reachable");
                Err(LeaseError::Unavailable(format!("scheduler {url}: {e}")))
            }
        }
    }

    /// After `url` failed with `s`: follow the leader hint, or rotate (unless another call
    /// already moved on). Returns whether a hint was followed.
    async fn failed(&self, url: &str, s: &tonic::Status) -> bool {
        let hint = leader_hint(s);
        // A standby answered (with or without a hint): reachable, just not the leader.
        let answered = hint.is_some() || s.message().starts_with("not the scheduler leader");
        let mut st = self.state.lock().await;
        if !answered {
            st.unreachable.insert(url.to_string(), Instant::now());
        }
        if st.url != url {
            return false;
        }
        match hint {
            Some(h) if !st.avoided(&h) => {
                tracing::info!(from = %url, leader = %h, "following the scheduler leader hint");
                st.switch_to(&self.urls, h);
                true
            }
            _ => {
                st.rotate(&self.urls);
                tracing::debug!(from = %url, to = %st.url, "trying the next scheduler");
                false
            }
        }
    }

    async fn succeeded(&self, url: &str) {
        let mut st = self.state.lock().await;
        if !st.unreachable.is_empty() {
            st.unreachable.remove(url);
        }
    }

    async fn call<T, F, Fut>(&self, f: F) -> Result<T, LeaseError>
    where
        F: Fn(SchedulerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        // Retried at once only where the request surely was not applied: a dial failure, or
        // a standby's answer naming the leader. Any other failure is returned (the caller
        // retries later) after moving on to the next scheduler.
        let mut last = None;
        for _ in 0..=self.urls.len() {
            let (url, client) = match self.client().await {
                Ok(x) => x,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match f(client).await {
                Ok(r) => {
                    self.succeeded(&url).await;
                    return Ok(r.into_inner());
                }
                Err(s) if is_endpoint_failure(&s) => {
                    let again = self.failed(&url, &s).await;
                    let e =
                        LeaseError::Unavailable(format!("{url}: {}: {}", s.code(), s.message()));
                    if !again {
                        return Err(e);
                    }
                    last = Some(e);
                }
                Err(s) => return Err(rpc_err(s)),
            }
        }
        Err(last.unwrap_or_else(|| LeaseError::Unavailable("no scheduler".into())))
    }
}

impl GrpcLeases {
    /// Over a channel to the scheduler (leader).
    pub fn new(channel: Channel) -> Self {
        Self {
            target: Arc::new(Target::Fixed(SchedulerClient::new(channel))),
        }
    }

    /// Over several scheduler instances (the leader and its standbys), each dialed lazily with
    /// `dial` (which sets up TLS and timeouts, e.g. `hypasis_server::client_channel`); follows
    /// the leader hint of standbys and otherwise rotates through `urls`. `urls` must not be
    /// empty.
    pub fn with_endpoints<D, Fut>(urls: Vec<String>, dial: D) -> Result<Self, LeaseError>
    where
        D: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Channel, DialError>> + Send + 'static,
    {
        let dial: SchedulerDialer = Arc::new(move |url| Box::pin(dial(url)));
        let first = urls
            .first()
            .cloned()
            .ok_or_else(|| LeaseError::Protocol("no scheduler URL".into()))?;
        Ok(Self {
            target: Arc::new(Target::Endpoints(Endpoints {
                state: Mutex::new(EndpointState {
                    url: first,
                    next: 1 % urls.len(),
                    client: None,
                    unreachable: HashMap::new(),
                }),
                urls,
                dial,
            })),
        })
    }

    /// The scheduler URL calls currently go to (`None` over a fixed channel).
    pub async fn current_url(&self) -> Option<String> {
        match &*self.target {
            Target::Fixed(_) => None,
            Target::Endpoints(e) => Some(e.state.lock().await.url.clone()),
        }
    }

    async fn call<T, F, Fut>(&self, f: F) -> Result<T, LeaseError>
    where
        F: Fn(SchedulerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match &*self.target {
            Target::Fixed(c) => f(c.clone())
                .await
                .map(tonic::Response::into_inner)
                .map_err(rpc_err),
            Target::Endpoints(e) => e.call(f).await,
        }
    }
}

fn rpc_err(s: tonic::Status) -> LeaseError {
    match s.code() {
        tonic::Code::FailedPrecondition | tonic::Code::NotFound | tonic::Code::Aborted => {
            LeaseError::Lost(s.message().to_string())
        }
        _ => LeaseError::Unavailable(format!("{}: {}", s.code(), s.message())),
    }
}

#[async_trait]
impl LeaseSource for GrpcLeases {
    async fn acquire(
        &self,
        fetcher_id: &str,
        max_units: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError> {
        let req = v1::AcquireLeaseRequest {
            fetcher_id: fetcher_id.to_string(),
            max_units,
            directions: Vec::new(),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.acquire_lease(req).await }
            })
            .await?;
        let leases = r
            .leases
            .iter()
            .map(LeasedUnit::from_proto)
            .collect::<Result<Vec<_>, _>>()?;
        let retry = r
            .retry_after
            .map(|d| {
                Duration::from_secs(u64::try_from(d.seconds).unwrap_or(0))
                    + Duration::from_nanos(u64::try_from(d.nanos).unwrap_or(0))
            })
            .unwrap_or(Duration::from_secs(1));
        Ok((leases, retry))
    }

    async fn renew(&self, lease: &LeasedUnit) -> Result<u64, LeaseError> {
        let req = v1::RenewLeaseRequest {
            lease_id: lease.lease_id.clone(),
            fencing_token: lease.token,
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.renew_lease(req).await }
            })
            .await?;
        let l = r
            .lease
            .ok_or_else(|| LeaseError::Protocol("renew: no lease".into()))?;
        Ok(LeasedUnit::from_proto(&l)?.expires_at_ms)
    }

    async fn complete(&self, lease: &LeasedUnit) -> Result<(), LeaseError> {
        let req = v1::CompleteLeaseRequest {
            lease_id: lease.lease_id.clone(),
            fencing_token: lease.token,
            stored: Some(v1::BlockRange {
                start: lease.start,
                end: lease.end,
            }),
            level: 0,
        };
        // The blocks are stored: worth waiting for a scheduler to take the completion (e.g.
        // through a leader failover, after which leases stay valid) rather than failing the
        // unit. A lost lease is answered at once.
        let deadline = Instant::now()
            + lease
                .remaining()
                .clamp(COMPLETE_RETRY_MIN, COMPLETE_RETRY_MAX);
        loop {
            let r = self
                .call(|mut c| {
                    let req = req.clone();
                    async move { c.complete_lease(req).await }
                })
                .await;
            match r {
                Err(LeaseError::Unavailable(m)) if Instant::now() < deadline => {
                    tracing::debug!(lease = %lease.lease_id, error = %m, "completing: retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                r => return r.map(|_| ()),
            }
        }
    }

    async fn fail(&self, lease: &LeasedUnit, failure: Failure<'_>) -> Result<(), LeaseError> {
        let reason = match failure.reason {
            FailureReason::PeerFault => v1::FailureReason::PeerFault,
            FailureReason::NoPeer => v1::FailureReason::NoPeer,
            FailureReason::Local => v1::FailureReason::Local,
        };
        let req = v1::FailLeaseRequest {
            lease_id: lease.lease_id.clone(),
            fencing_token: lease.token,
            reason: reason as i32,
            message: failure.message.to_string(),
            fault_class: v1::FaultClass::from(failure.class) as i32,
            rule: failure.rule.unwrap_or(v1::ValidationRule::Unspecified) as i32,
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.fail_lease(req).await }
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypasis_proto::v1::scheduler_server::{Scheduler, SchedulerServer};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tonic::transport::server::TcpIncoming;
    use tonic::{Request, Response, Status};

    /// A scheduler that is the leader or a standby (with or without a leader hint).
    #[derive(Debug, Default)]
    struct Mock {
        leader: AtomicBool,
        hint: std::sync::Mutex<Option<String>>,
        calls: AtomicUsize,
        lost: AtomicBool,
    }

    impl Mock {
        fn gate(&self) -> Result<(), Status> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.leader.load(Ordering::SeqCst) {
                return Ok(());
            }
            let mut s = Status::unavailable("not the scheduler leader");
            if let Some(h) = self.hint.lock().unwrap().clone() {
                s.metadata_mut().insert(LEADER_METADATA, h.parse().unwrap());
            }
            Err(s)
        }
    }

    struct Svc(Arc<Mock>);

    fn proto_lease(id: &str) -> v1::Lease {
        v1::Lease {
            lease_id: id.into(),
            fencing_token: 7,
            unit: Some(v1::WorkUnit {
                id: 1,
                range: Some(v1::BlockRange { start: 10, end: 19 }),
                direction: v1::Direction::Forward as i32,
                ..Default::default()
            }),
            expires_at: Some(prost_types::Timestamp {
                seconds: 2_000_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[tonic::async_trait]
    impl Scheduler for Svc {
        async fn acquire_lease(
            &self,
            _: Request<v1::AcquireLeaseRequest>,
        ) -> Result<Response<v1::AcquireLeaseResponse>, Status> {
            self.0.gate()?;
            Ok(Response::new(v1::AcquireLeaseResponse {
                leases: vec![proto_lease("l1")],
                ..Default::default()
            }))
        }
        async fn renew_lease(
            &self,
            _: Request<v1::RenewLeaseRequest>,
        ) -> Result<Response<v1::RenewLeaseResponse>, Status> {
            self.0.gate()?;
            if self.0.lost.load(Ordering::SeqCst) {
                return Err(Status::failed_precondition("stale token"));
            }
            Ok(Response::new(v1::RenewLeaseResponse {
                lease: Some(proto_lease("l1")),
            }))
        }
        async fn complete_lease(
            &self,
            _: Request<v1::CompleteLeaseRequest>,
        ) -> Result<Response<v1::CompleteLeaseResponse>, Status> {
            self.0.gate()?;
            Ok(Response::new(v1::CompleteLeaseResponse::default()))
        }
        async fn fail_lease(
            &self,
            _: Request<v1::FailLeaseRequest>,
        ) -> Result<Response<v1::FailLeaseResponse>, Status> {
            self.0.gate()?;
            Ok(Response::new(v1::FailLeaseResponse::default()))
        }
        async fn list_units(
            &self,
            _: Request<v1::ListUnitsRequest>,
        ) -> Result<Response<v1::ListUnitsResponse>, Status> {
            Err(Status::unimplemented("mock"))
        }
        async fn get_status(
            &self,
            _: Request<v1::GetSchedulerStatusRequest>,
        ) -> Result<Response<v1::SchedulerStatus>, Status> {
            Err(Status::unimplemented("mock"))
        }
        async fn pause(
            &self,
            _: Request<v1::PauseRequest>,
        ) -> Result<Response<v1::PauseResponse>, Status> {
            Err(Status::unimplemented("mock"))
        }
        async fn resume(
            &self,
            _: Request<v1::ResumeRequest>,
        ) -> Result<Response<v1::ResumeResponse>, Status> {
            Err(Status::unimplemented("mock"))
        }
        async fn reverify_range(
            &self,
            _: Request<v1::ReverifyRangeRequest>,
        ) -> Result<Response<v1::ReverifyRangeResponse>, Status> {
            Err(Status::unimplemented("mock"))
        }
    }

    /// A mock scheduler on its own runtime: killing it drops every connection task too, as
    /// a dead process would.
    struct Running {
        mock: Arc<Mock>,
        url: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        async fn kill(mut self) {
            let _ = self.stop.take().unwrap().send(());
            let t = self.thread.take().unwrap();
            tokio::task::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
    }

    async fn serve(leader: bool) -> Running {
        let mock = Arc::new(Mock::default());
        mock.leader.store(leader, Ordering::SeqCst);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let svc = SchedulerServer::new(Svc(mock.clone()));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let server = tonic::transport::Server::builder()
                    .add_service(svc)
                    .serve_with_incoming(TcpIncoming::from(listener));
                tokio::select! {
                    _ = server => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_background();
        });
        Running {
            mock,
            url,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    async fn dial(url: String) -> Result<Channel, DialError> {
        tonic::transport::Endpoint::from_shared(url)?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(Into::into)
    }

    fn unit() -> LeasedUnit {
        LeasedUnit::from_proto(&proto_lease("l1")).unwrap()
    }

    #[tokio::test]
    async fn follows_the_leader_hint_outside_the_list() {
        let leader = serve(true).await;
        let standby = serve(false).await;
        *standby.mock.hint.lock().unwrap() = Some(leader.url.clone());
        let leases = GrpcLeases::with_endpoints(vec![standby.url.clone()], dial).unwrap();
        let (got, _) = leases.acquire("f", 1).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].lease_id, "l1");
        assert_eq!(leases.current_url().await.as_deref(), Some(&*leader.url));
        assert_eq!(standby.mock.calls.load(Ordering::SeqCst), 1);
        // Later calls go straight to the leader.
        leases.renew(&unit()).await.unwrap();
        leases.complete(&unit()).await.unwrap();
        assert_eq!(standby.mock.calls.load(Ordering::SeqCst), 1);
        assert_eq!(leader.mock.calls.load(Ordering::SeqCst), 3);
        leader.kill().await;
        standby.kill().await;
    }

    #[tokio::test]
    async fn reaches_the_new_leader_after_the_leader_dies() {
        let a = serve(true).await;
        let b = serve(false).await;
        let leases = GrpcLeases::with_endpoints(vec![a.url.clone(), b.url.clone()], dial).unwrap();
        leases.acquire("f", 1).await.unwrap();
        assert_eq!(leases.current_url().await.as_deref(), Some(&*a.url));
        let b_url = b.url.clone();
        let b_mock = b.mock.clone();
        a.kill().await;
        // No leader yet: the standby answers without a hint; calls fail but do not stick to
        // the dead instance.
        assert!(matches!(
            leases.acquire("f", 1).await,
            Err(LeaseError::Unavailable(_))
        ));
        b_mock.leader.store(true, Ordering::SeqCst);
        let mut ok = false;
        for _ in 0..4 {
            if leases.renew(&unit()).await.is_ok() {
                ok = true;
                break;
            }
        }
        assert!(ok, "never reached the new leader");
        assert_eq!(leases.current_url().await.as_deref(), Some(&*b_url));
        // Stays there.
        leases
            .fail(&unit(), Failure::new(FailureReason::Local, "x"))
            .await
            .unwrap();
        assert_eq!(leases.current_url().await.as_deref(), Some(&*b_url));
        b.kill().await;
    }

    #[tokio::test]
    async fn ignores_a_hint_naming_the_dead_leader() {
        let a = serve(true).await;
        let b = serve(false).await;
        let (a_url, b_url) = (a.url.clone(), b.url.clone());
        // Until its election lease expires, the standby still names the dead leader.
        *b.mock.hint.lock().unwrap() = Some(a_url.clone());
        let leases = GrpcLeases::with_endpoints(vec![a_url.clone(), b_url.clone()], dial).unwrap();
        leases.acquire("f", 1).await.unwrap();
        a.kill().await;
        assert!(leases.acquire("f", 1).await.is_err());
        assert_eq!(leases.current_url().await.as_deref(), Some(&*b_url));
        let before = b.mock.calls.load(Ordering::SeqCst);
        // The standby's hint points at the unreachable URL: not followed, the standby stays
        // current and is asked again next time.
        for _ in 0..3 {
            assert!(matches!(
                leases.acquire("f", 1).await,
                Err(LeaseError::Unavailable(_))
            ));
            assert_eq!(leases.current_url().await.as_deref(), Some(&*b_url));
        }
        assert_eq!(b.mock.calls.load(Ordering::SeqCst), before + 3);
        b.mock.leader.store(true, Ordering::SeqCst);
        leases.acquire("f", 1).await.unwrap();
        b.kill().await;
    }

    #[tokio::test]
    async fn completion_waits_for_the_new_leader() {
        let a = serve(true).await;
        let b = serve(false).await;
        let leases = GrpcLeases::with_endpoints(vec![a.url.clone(), b.url.clone()], dial).unwrap();
        leases.acquire("f", 1).await.unwrap();
        a.kill().await;
        let m = b.mock.clone();
        let elect = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            m.leader.store(true, Ordering::SeqCst);
        });
        let t = Instant::now();
        leases.complete(&unit()).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(600),
            "{:?}",
            t.elapsed()
        );
        elect.await.unwrap();
        // A lost lease is not retried.
        b.mock.lost.store(true, Ordering::SeqCst);
        assert!(matches!(
            leases.renew(&unit()).await,
            Err(LeaseError::Lost(_))
        ));
        b.kill().await;
    }

    #[tokio::test]
    async fn skips_unreachable_urls_and_keeps_lease_errors() {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let s = serve(true).await;
        let leases = GrpcLeases::with_endpoints(vec![dead, s.url.clone()], dial).unwrap();
        // The dead URL fails to dial and the live one is tried in the same call.
        leases.acquire("f", 1).await.unwrap();
        assert_eq!(leases.current_url().await.as_deref(), Some(&*s.url));
        // A lease error from the leader is not a reason to move: it is reported as lost.
        s.mock.lost.store(true, Ordering::SeqCst);
        assert!(matches!(
            leases.renew(&unit()).await,
            Err(LeaseError::Lost(_))
        ));
        assert_eq!(leases.current_url().await.as_deref(), Some(&*s.url));
        s.kill().await;
    }

    #[tokio::test]
    async fn nothing_answers() {
        assert!(GrpcLeases::with_endpoints(Vec::new(), dial).is_err());
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let leases = GrpcLeases::with_endpoints(vec![dead], dial).unwrap();
        assert!(matches!(
            leases.acquire("f", 1).await,
            Err(LeaseError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn fixed_channel_still_works() {
        let s = serve(true).await;
        let ch = tonic::transport::Endpoint::from_shared(s.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let leases = GrpcLeases::new(ch);
        assert_eq!(leases.acquire("f", 1).await.unwrap().0.len(), 1);
        assert_eq!(leases.current_url().await, None);
        s.mock.leader.store(false, Ordering::SeqCst);
        assert!(matches!(
            leases.acquire("f", 1).await,
            Err(LeaseError::Unavailable(_))
        ));
        s.kill().await;
    }
}

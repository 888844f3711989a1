//! etcd implementation: Election API + leases with keep-alive; membership keys under leases.

use crate::{
    CoordError, Coordinator, LeaderGuard, MemberGuard, MemberHandle, Members, Release, check_name,
};
use async_trait::async_trait;
use etcd_client::{Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout};

/// Settings of the etcd coordinator.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Key prefix of every key written (elections under `<prefix>/election/`, members under
    /// `<prefix>/members/<kind>/`).
    pub prefix: String,
    /// TTL of the leadership lease: a dead leader is replaced at most this long after its last
    /// renewal. The leader itself gives up after 3/4 of it without a successful renewal, so it
    /// stops acting before a successor can be elected.
    pub leader_ttl: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Timeout of single requests (not of campaigning, which waits for leadership).
    pub request_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            prefix: "/hypasis".into(),
            leader_ttl: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// [`Coordinator`] over etcd (v3 API; tested with etcd 3.4).
#[derive(Clone)]
pub struct EtcdCoordinator {
    client: Client,
    opts: EtcdOptions,
}

impl std::fmt::Debug for EtcdCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdCoordinator")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> CoordError {
    CoordError::Unavailable(e.to_string())
}

fn ttl_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs().max(2)).unwrap_or(i64::MAX)
}

impl EtcdCoordinator {
    /// Connects to the etcd cluster at `endpoints` (`http://host:port`).
    pub async fn connect(endpoints: &[String], opts: EtcdOptions) -> Result<Self, CoordError> {
        if endpoints.is_empty() {
            return Err(CoordError::InvalidArgument("no etcd endpoint".into()));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
        let client = timeout(
            opts.connect_timeout,
            Client::connect(endpoints, Some(options)),
        )
        .await
        .map_err(|_| unavailable(format!("connecting to etcd {endpoints:?} timed out")))?
        .map_err(unavailable)?;
        Ok(Self { client, opts })
    }

    fn election_key(&self, name: &str) -> String {
        format!("{}/election/{name}", self.opts.prefix)
    }

    fn member_prefix(&self, kind: &str) -> String {
        format!("{}/members/{kind}/", self.opts.prefix)
    }

    async fn request<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, CoordError> {
        timeout(self.opts.request_timeout, f)
            .await
            .map_err(|_| unavailable("etcd request timed out"))?
            .map_err(unavailable)
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, CoordError> {
        let mut c = self.client.clone();
        Ok(self.request(c.lease_grant(ttl_secs(ttl), None)).await?.id())
    }
}

/// How a keep-alive task ends.
#[derive(Debug)]
enum Stop {
    /// Revoke the lease (its keys go away now).
    Revoke,
    /// Just stop renewing (the lease expires with its TTL).
    Abandon,
}

/// Renews `lease` every `ttl / 4`; reports loss on `lost` when no renewal succeeded for 3/4 of
/// the TTL or etcd says the lease is gone. Ends on `stop` or loss.
async fn keep_alive(
    client: Client,
    lease: i64,
    ttl: Duration,
    lost: watch::Sender<bool>,
    mut stop: oneshot::Receiver<Stop>,
) {
    let interval = ttl / 4;
    let give_up = ttl * 3 / 4;
    let mut last_ok = Instant::now();
    let mut stream: Option<(etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)> = None;
    loop {
        tokio::select! {
            s = &mut stop => {
                if matches!(s, Ok(Stop::Revoke) | Err(_)) {
                    let mut c = client.clone();
                    let _ = timeout(Duration::from_secs(2), c.lease_revoke(lease)).await;
                }
                return;
            }
            _ = tokio::time::sleep(interval) => {}
        }
        let sent = Instant::now();
        let ok = timeout(interval.max(Duration::from_millis(200)), async {
            if stream.is_none() {
                let mut c = client.clone();
                stream = Some(c.lease_keep_alive(lease).await.map_err(|e| e.to_string())?);
            }
            let (keeper, responses) = stream.as_mut().expect("just set");
            keeper.keep_alive().await.map_err(|e| e.to_string())?;
            match responses.message().await {
                Ok(Some(r)) if r.ttl() > 0 => Ok(true),
                Ok(Some(_)) => Ok(false),
                Ok(None) => Err("keep-alive stream closed".to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        match ok {
            Ok(Ok(true)) => last_ok = sent,
            Ok(Ok(false)) => {
                tracing::warn!(lease, "etcd lease expired");
                let _ = lost.send(true);
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(lease, error = %e, "etcd keep-alive failed; retrying");
                stream = None;
            }
            Err(_) => {
                tracing::warn!(lease, "etcd keep-alive timed out; retrying");
                stream = None;
            }
        }
        if last_ok.elapsed() >= give_up {
            tracing::warn!(lease, "etcd lease not renewed in time; giving it up");
            let _ = lost.send(true);
            return;
        }
    }
}

#[derive(Debug)]
struct EtcdRelease {
    stop: oneshot::Sender<Stop>,
}

impl Release for EtcdRelease {
    fn resign(self: Box<Self>) {
        let _ = self.stop.send(Stop::Revoke);
    }
    fn abandon(self: Box<Self>) {
        let _ = self.stop.send(Stop::Abandon);
    }
}

/// Revokes the lease if a campaign is cancelled or fails before it is handed to a guard.
struct CampaignCleanup(Option<oneshot::Sender<Stop>>);

impl Drop for CampaignCleanup {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let _ = s.send(Stop::Revoke);
        }
    }
}

struct EtcdMember {
    client: Client,
    key: String,
    lease: Arc<Mutex<i64>>,
    value: Arc<Mutex<String>>,
    stop: oneshot::Sender<Stop>,
    request_timeout: Duration,
}

impl std::fmt::Debug for EtcdMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdMember")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MemberHandle for EtcdMember {
    async fn set_value(&self, value: &str) -> Result<(), CoordError> {
        *self.value.lock().expect("poisoned") = value.to_string();
        let lease = *self.lease.lock().expect("poisoned");
        let mut c = self.client.clone();
        timeout(
            self.request_timeout,
            c.put(
                self.key.clone(),
                value,
                Some(PutOptions::new().with_lease(lease)),
            ),
        )
        .await
        .map_err(|_| unavailable("etcd request timed out"))?
        .map_err(unavailable)?;
        Ok(())
    }
    fn leave(self: Box<Self>) {
        let _ = self.stop.send(Stop::Revoke);
    }
    fn abandon(self: Box<Self>) {
        let _ = self.stop.send(Stop::Abandon);
    }
}

#[async_trait]
impl Coordinator for EtcdCoordinator {
    async fn campaign(&self, name: &str, value: &str) -> Result<LeaderGuard, CoordError> {
        check_name("election name", name)?;
        let ttl = Duration::from_secs(ttl_secs(self.opts.leader_ttl) as u64);
        let lease = self.grant(ttl).await?;
        let (lost_tx, lost_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(keep_alive(
            self.client.clone(),
            lease,
            ttl,
            lost_tx,
            stop_rx,
        ));
        let mut cleanup = CampaignCleanup(Some(stop_tx));
        let mut c = self.client.clone();
        let key = self.election_key(name);
        let mut lost = lost_rx.clone();
        let resp = tokio::select! {
            r = c.campaign(key, value, lease) => r.map_err(unavailable)?,
            _ = async { let _ = lost.wait_for(|l| *l).await; } => {
                return Err(CoordError::Unavailable("lease lost while campaigning".into()));
            }
        };
        let leader = resp
            .leader()
            .ok_or_else(|| unavailable("campaign response without leader key"))?;
        let term = u64::try_from(leader.rev()).unwrap_or(0);
        if *lost_rx.borrow() {
            return Err(CoordError::Unavailable(
                "lease lost while campaigning".into(),
            ));
        }
        let stop = cleanup.0.take().expect("set above");
        tracing::info!(election = name, term, lease, "elected leader");
        Ok(LeaderGuard::new(
            term,
            lost_rx,
            Box::new(EtcdRelease { stop }),
        ))
    }

    async fn leader(&self, name: &str) -> Result<Option<String>, CoordError> {
        let mut c = self.client.clone();
        match timeout(self.opts.request_timeout, c.leader(self.election_key(name))).await {
            Err(_) => Err(unavailable("etcd request timed out")),
            Ok(Ok(r)) => Ok(r
                .kv()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())),
            Ok(Err(e)) if e.to_string().contains("no leader") => Ok(None),
            Ok(Err(e)) => Err(unavailable(e)),
        }
    }

    async fn register_member(
        &self,
        kind: &str,
        id: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<MemberGuard, CoordError> {
        check_name("member kind", kind)?;
        check_name("member id", id)?;
        let ttl = Duration::from_secs(ttl_secs(ttl) as u64);
        let key = format!("{}{id}", self.member_prefix(kind));
        let lease = self.grant(ttl).await?;
        let mut c = self.client.clone();
        self.request(c.put(
            key.clone(),
            value,
            Some(PutOptions::new().with_lease(lease)),
        ))
        .await?;
        let lease = Arc::new(Mutex::new(lease));
        let value = Arc::new(Mutex::new(value.to_string()));
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(member_task(
            self.clone(),
            key.clone(),
            ttl,
            lease.clone(),
            value.clone(),
            stop_rx,
        ));
        Ok(MemberGuard::new(Box::new(EtcdMember {
            client: self.client.clone(),
            key,
            lease,
            value,
            stop: stop_tx,
            request_timeout: self.opts.request_timeout,
        })))
    }

    async fn watch_members(&self, kind: &str) -> Result<watch::Receiver<Members>, CoordError> {
        check_name("member kind", kind)?;
        let prefix = self.member_prefix(kind);
        let (members, rev) = self.list(&prefix).await?;
        let (tx, rx) = watch::channel(members);
        tokio::spawn(watch_task(self.clone(), prefix, rev, tx));
        Ok(rx)
    }
}

impl EtcdCoordinator {
    async fn list(&self, prefix: &str) -> Result<(Members, i64), CoordError> {
        let mut c = self.client.clone();
        let resp = self
            .request(c.get(prefix, Some(GetOptions::new().with_prefix())))
            .await?;
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let members = resp
            .kvs()
            .iter()
            .map(|kv| {
                let k = String::from_utf8_lossy(kv.key());
                (
                    k.strip_prefix(prefix).unwrap_or(&k).to_string(),
                    String::from_utf8_lossy(kv.value()).into_owned(),
                )
            })
            .collect();
        Ok((members, rev))
    }
}

/// Keeps a membership alive; re-registers under a new lease if the old one is lost (etcd
/// partition longer than the TTL).
async fn member_task(
    coord: EtcdCoordinator,
    key: String,
    ttl: Duration,
    lease: Arc<Mutex<i64>>,
    value: Arc<Mutex<String>>,
    mut stop: oneshot::Receiver<Stop>,
) {
    loop {
        let id = *lease.lock().expect("poisoned");
        let (lost_tx, mut lost_rx) = watch::channel(false);
        let (inner_stop_tx, inner_stop_rx) = oneshot::channel();
        let task = tokio::spawn(keep_alive(
            coord.client.clone(),
            id,
            ttl,
            lost_tx,
            inner_stop_rx,
        ));
        tokio::select! {
            s = &mut stop => {
                let _ = inner_stop_tx.send(s.unwrap_or(Stop::Revoke));
                let _ = task.await;
                return;
            }
            _ = async { let _ = lost_rx.wait_for(|l| *l).await; } => {}
        }
        // Lost: register again under a fresh lease.
        loop {
            let attempt = async {
                let new = coord.grant(ttl).await?;
                let v = value.lock().expect("poisoned").clone();
                let mut c = coord.client.clone();
                coord
                    .request(c.put(key.clone(), v, Some(PutOptions::new().with_lease(new))))
                    .await?;
                Ok::<i64, CoordError>(new)
            };
            tokio::select! {
                _ = &mut stop => return,
                r = attempt => match r {
                    Ok(new) => {
                        *lease.lock().expect("poisoned") = new;
                        tracing::info!(key, "membership registered again");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %e, "re-registering membership failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    }
}

/// Mirrors the members under `prefix` into `tx` until every receiver is gone.
async fn watch_task(
    coord: EtcdCoordinator,
    prefix: String,
    mut rev: i64,
    tx: watch::Sender<Members>,
) {
    loop {
        let mut c = coord.client.clone();
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(rev + 1);
        let started = tokio::select! {
            _ = tx.closed() => return,
            r = c.watch(prefix.clone(), Some(opts)) => r,
        };
        if let Ok((_watcher, mut stream)) = started {
            loop {
                let msg = tokio::select! {
                    _ = tx.closed() => return,
                    m = stream.message() => m,
                };
                match msg {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            break;
                        }
                        if resp.events().is_empty() {
                            continue;
                        }
                        tx.send_modify(|m| {
                            for ev in resp.events() {
                                let Some(kv) = ev.kv() else { continue };
                                let k = String::from_utf8_lossy(kv.key());
                                let id = k.strip_prefix(prefix.as_str()).unwrap_or(&k).to_string();
                                match ev.event_type() {
                                    EventType::Put => {
                                        m.insert(
                                            id,
                                            String::from_utf8_lossy(kv.value()).into_owned(),
                                        );
                                    }
                                    EventType::Delete => {
                                        m.remove(&id);
                                    }
                                }
                                rev = rev.max(kv.mod_revision());
                            }
                        });
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // Re-sync from a fresh listing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if tx.is_closed() {
            return;
        }
        if let Ok((members, r)) = coord.list(&prefix).await {
            rev = r;
            tx.send_replace(members);
        }
    }
}

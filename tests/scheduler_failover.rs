//! Scheduler leader election and failover with real processes: a real etcd, `hypasis-store`
//! and two `hypasis-scheduler` instances over mTLS. A client (playing a fetcher) takes leases
//! from the leader, stores blocks and completes some; the standby answers UNAVAILABLE with the
//! leader's address. The leader is SIGKILLed: the standby takes over within a few seconds and
//! continues from the durable state — completed units stay done, leases held under the old
//! leader stay valid (renewable, completable), no unit under a valid lease is handed out again,
//! fencing tokens keep increasing.

use hypasis_coordination::testing::EtcdServer;
use hypasis_integration_tests::{ChildGuard, bin, client_tls, free_addr, generate_certs};
use hypasis_primitives::{B256, RawBlock};
use hypasis_proto::v1::{self, scheduler_client::SchedulerClient, store_client::StoreClient};
use hypasis_storage_api::contract::test_chain;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

const ANCHOR: u64 = 2000;
const TIP: u64 = 3999;
const UNIT: u64 = 100;

async fn channel(addr: SocketAddr, certs: &Path) -> Option<Channel> {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .tls_config(client_tls(certs, Some("fetcher"), "localhost"))
        .unwrap()
        .connect()
        .await
        .ok()
}

async fn serving(addr: SocketAddr, certs: &Path, service: &str) -> Option<bool> {
    let ch = channel(addr, certs).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .ok()?;
    Some(
        resp.into_inner().status
            == tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
    )
}

struct Sched {
    proc: ChildGuard,
    grpc: SocketAddr,
}

fn start_scheduler(
    tmp: &Path,
    tag: &str,
    store: SocketAddr,
    etcd: &str,
    grpc: SocketAddr,
) -> Sched {
    let mut cmd = Command::new(bin("hypasis-scheduler"));
    cmd.args(["--listen", &grpc.to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        .arg("--tls-dir")
        .arg(tmp.join("certs"))
        .args(["--store", &format!("https://{store}")])
        .args(["--etcd", etcd])
        .args(["--etcd-prefix", "/failover-test"])
        .args(["--chain", "mainnet"])
        .args(["--anchor", &ANCHOR.to_string()])
        .args(["--tip", &TIP.to_string()])
        .args(["--unit-size", &UNIT.to_string()])
        .args(["--leader-ttl-secs", "2"])
        .args(["--lease-ttl-secs", "60"])
        .args(["--refresh-ms", "300"])
        .args(["--progress-secs", "2"])
        .env("RUST_LOG", "info");
    Sched {
        proc: ChildGuard::spawn(cmd, &tmp.join(format!("scheduler-{tag}.log"))),
        grpc,
    }
}

fn logs(s: &[&Sched]) -> String {
    s.iter()
        .map(|s| format!("--- {}:\n{}", s.grpc, s.proc.log_text()))
        .collect()
}

/// Waits until exactly one of the schedulers reports SERVING; returns its index.
async fn wait_leader(scheds: &[&Sched], certs: &Path, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut serving_idx = Vec::new();
        for (i, s) in scheds.iter().enumerate() {
            if serving(s.grpc, certs, "hypasis.v1.Scheduler").await == Some(true) {
                serving_idx.push(i);
            }
        }
        assert!(
            serving_idx.len() <= 1,
            "two schedulers SERVING at once:\n{}",
            logs(scheds)
        );
        if let [i] = serving_idx[..] {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduler leader within {within:?}:\n{}",
            logs(scheds)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put_blocks(store: &mut StoreClient<Channel>, chain: &[RawBlock], r: &v1::BlockRange) {
    let blocks = chain[r.start as usize..=r.end as usize]
        .iter()
        .map(v1::Block::from)
        .collect();
    store
        .put_batch(v1::PutBatchRequest {
            blocks,
            level: v1::VerificationLevel::Linked as i32,
            lease_id: String::new(),
        })
        .await
        .unwrap();
}

async fn acquire(c: &mut SchedulerClient<Channel>, n: u32) -> Vec<v1::Lease> {
    c.acquire_lease(v1::AcquireLeaseRequest {
        fetcher_id: "test-fetcher".into(),
        max_units: n,
        directions: vec![],
    })
    .await
    .unwrap()
    .into_inner()
    .leases
}

fn range(l: &v1::Lease) -> v1::BlockRange {
    l.unit.as_ref().unwrap().range.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_leader_failover_continues_from_durable_state() {
    let _fleet = hypasis_integration_tests::FLEET.lock().await;
    let test_start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let etcd = EtcdServer::start(tmp.path()).expect("etcd (Debian: apt-get install etcd-server)");

    let store_addr = free_addr();
    let mut store_cmd = Command::new(bin("hypasis-store"));
    store_cmd
        .arg("--data-dir")
        .arg(tmp.path().join("store"))
        .args(["--listen", &store_addr.to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        .arg("--tls-dir")
        .arg(&certs)
        .env("RUST_LOG", "info");
    let store_proc = ChildGuard::spawn(store_cmd, &tmp.path().join("store.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while serving(store_addr, &certs, "hypasis.v1.Store").await != Some(true) {
        assert!(
            Instant::now() < deadline,
            "store not ready:\n{}",
            store_proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut store = StoreClient::new(channel(store_addr, &certs).await.unwrap());
    let chain = test_chain(0, TIP + 1, 0, B256::ZERO);

    let a = start_scheduler(tmp.path(), "a", store_addr, &etcd.endpoint, free_addr());
    let b = start_scheduler(tmp.path(), "b", store_addr, &etcd.endpoint, free_addr());
    let mut scheds = [Some(a), Some(b)];
    let leader_idx = {
        let both: Vec<&Sched> = scheds.iter().flatten().collect();
        wait_leader(&both, &certs, Duration::from_secs(30)).await
    };
    let standby_idx = 1 - leader_idx;
    eprintln!("leader elected after {:?}", test_start.elapsed());
    let leader_addr = scheds[leader_idx].as_ref().unwrap().grpc;
    let standby_addr = scheds[standby_idx].as_ref().unwrap().grpc;

    // The standby refuses with the leader's address.
    let mut standby = SchedulerClient::new(channel(standby_addr, &certs).await.unwrap());
    let err = standby
        .acquire_lease(v1::AcquireLeaseRequest {
            fetcher_id: "x".into(),
            max_units: 1,
            directions: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert_eq!(
        err.metadata()
            .get("x-hypasis-leader")
            .and_then(|v| v.to_str().ok()),
        Some(format!("https://{leader_addr}").as_str()),
        "{err:?}"
    );

    // Work with the leader: forward units first, then backward newest first.
    let mut leader = SchedulerClient::new(channel(leader_addr, &certs).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut leases = Vec::new();
    while leases.is_empty() {
        leases = acquire(&mut leader, 8).await;
        assert!(Instant::now() < deadline, "no units were cut");
        if leases.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(leases.len(), 8);
    let first = range(&leases[0]);
    assert_eq!((first.start, first.end), (ANCHOR + 1, 2099));
    let mut max_token = leases.iter().map(|l| l.fencing_token).max().unwrap();
    // Complete three (blocks stored first), fail one, hold four.
    let mut completed = Vec::new();
    let done_blocks: u64 = leases[..3]
        .iter()
        .map(|l| range(l).end - range(l).start + 1)
        .sum();
    for l in &leases[..3] {
        put_blocks(&mut store, &chain, &range(l)).await;
        leader
            .complete_lease(v1::CompleteLeaseRequest {
                lease_id: l.lease_id.clone(),
                fencing_token: l.fencing_token,
                stored: Some(range(l)),
                level: v1::VerificationLevel::Linked as i32,
            })
            .await
            .unwrap();
        completed.push(l.unit.as_ref().unwrap().id);
    }
    let failed = &leases[3];
    let f = leader
        .fail_lease(v1::FailLeaseRequest {
            lease_id: failed.lease_id.clone(),
            fencing_token: failed.fencing_token,
            reason: v1::FailureReason::NoPeer as i32,
            message: "no peer serves it".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        f.unit.unwrap().state,
        v1::WorkUnitState::NoPeer as i32,
        "NO_PEER state expected"
    );
    let held: Vec<v1::Lease> = leases[4..].to_vec();
    let status = leader
        .get_status(v1::GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.leader);
    let term_before = status.term;
    let fwd = &status.directions[0];
    assert_eq!(fwd.done_blocks, done_blocks);
    assert_eq!(fwd.units_no_peer, 1);

    // SIGKILL the leader.
    let killed_at = Instant::now();
    scheds[leader_idx].as_ref().unwrap().proc.signal("KILL");
    let remaining: Vec<&Sched> = vec![scheds[standby_idx].as_ref().unwrap()];
    wait_leader(&remaining, &certs, Duration::from_secs(15)).await;
    let mut new_leader = SchedulerClient::new(channel(standby_addr, &certs).await.unwrap());
    // First successful call on the new leader.
    let next = loop {
        match new_leader
            .acquire_lease(v1::AcquireLeaseRequest {
                fetcher_id: "test-fetcher".into(),
                max_units: 20,
                directions: vec![],
            })
            .await
        {
            Ok(r) => break r.into_inner().leases,
            Err(e) => {
                assert!(
                    killed_at.elapsed() < Duration::from_secs(15),
                    "standby never served: {e:?}\n{}",
                    logs(&remaining)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let takeover = killed_at.elapsed();
    eprintln!("standby took over and served {takeover:?} after SIGKILL of the leader");
    assert!(
        takeover < Duration::from_secs(8),
        "takeover took {takeover:?}"
    );

    // Continues from durable state.
    let status = new_leader
        .get_status(v1::GetSchedulerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.term > term_before, "term must increase");
    assert_eq!(
        status.directions[0].done_blocks, done_blocks,
        "completions kept"
    );
    assert_eq!(status.directions[0].units_no_peer, 1, "NO_PEER kept");
    assert_eq!(next.len(), 20);
    let held_ids: Vec<u64> = held.iter().map(|l| l.unit.as_ref().unwrap().id).collect();
    for l in &next {
        let u = l.unit.as_ref().unwrap();
        assert!(
            !held_ids.contains(&u.id),
            "unit {} handed out again while its lease is valid",
            u.id
        );
        assert!(
            !completed.contains(&u.id),
            "completed unit {} handed out",
            u.id
        );
        assert!(
            u.id != failed.unit.as_ref().unwrap().id,
            "backing-off unit handed out"
        );
        assert!(l.fencing_token > max_token, "fencing token went backwards");
        let r = range(l);
        for h in &held {
            let hr = range(h);
            assert!(
                r.end < hr.start || r.start > hr.end,
                "overlaps a held lease"
            );
        }
    }
    max_token = next.iter().map(|l| l.fencing_token).max().unwrap();
    // Leases from the old leader stay valid: renew and complete them on the new one.
    let h = &held[0];
    let renewed = new_leader
        .renew_lease(v1::RenewLeaseRequest {
            lease_id: h.lease_id.clone(),
            fencing_token: h.fencing_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renewed.lease.unwrap().fencing_token, h.fencing_token);
    put_blocks(&mut store, &chain, &range(h)).await;
    new_leader
        .complete_lease(v1::CompleteLeaseRequest {
            lease_id: h.lease_id.clone(),
            fencing_token: h.fencing_token,
            stored: Some(range(h)),
            level: v1::VerificationLevel::Linked as i32,
        })
        .await
        .unwrap();
    // Retried completion is idempotent; a wrong token is refused.
    new_leader
        .complete_lease(v1::CompleteLeaseRequest {
            lease_id: h.lease_id.clone(),
            fencing_token: h.fencing_token,
            stored: None,
            level: 0,
        })
        .await
        .unwrap();
    let err = new_leader
        .complete_lease(v1::CompleteLeaseRequest {
            lease_id: held[1].lease_id.clone(),
            fencing_token: held[1].fencing_token + 1,
            stored: None,
            level: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let units = new_leader
        .list_units(v1::ListUnitsRequest {
            direction: None,
            state: Some(v1::WorkUnitState::Leased as i32),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(units.units.len(), held.len() - 1 + next.len());
    assert!(units.leases.iter().all(|l| l.fencing_token <= max_token));

    // The killed instance comes back as a standby pointing at the new leader.
    let old_addr = scheds[leader_idx].as_ref().unwrap().grpc;
    scheds[leader_idx] = None;
    let back = start_scheduler(tmp.path(), "a2", store_addr, &etcd.endpoint, old_addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(ch) = channel(old_addr, &certs).await {
            let mut c = SchedulerClient::new(ch);
            if let Err(e) = c.get_status(v1::GetSchedulerStatusRequest {}).await
                && e.code() == tonic::Code::Unavailable
                && e.metadata().get("x-hypasis-leader").is_some()
            {
                assert_eq!(
                    e.metadata()
                        .get("x-hypasis-leader")
                        .unwrap()
                        .to_str()
                        .unwrap(),
                    format!("https://{standby_addr}")
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "restarted scheduler did not become a standby:\n{}",
            back.proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        serving(old_addr, &certs, "hypasis.v1.Scheduler").await,
        Some(false)
    );
    eprintln!("test finished in {:?}", test_start.elapsed());
    drop(back);
    drop(etcd);
}

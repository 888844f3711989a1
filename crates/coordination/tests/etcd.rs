//! The etcd coordinator against a real etcd (3.4, Debian `etcd-server`) started on random
//! 127.0.0.1 ports: exactly one leader of two candidates, takeover after the leader stops
//! renewing, immediate takeover on resignation, increasing terms, loss detection when etcd
//! goes away, members joining / changing / leaving (including by lease expiry).

use hypasis_coordination::testing::EtcdServer;
use hypasis_coordination::{Coordinator, EtcdCoordinator, EtcdOptions, LeaderGuard, Members};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::timeout;

fn opts(ttl: u64) -> EtcdOptions {
    EtcdOptions {
        prefix: "/test".into(),
        leader_ttl: Duration::from_secs(ttl),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

async fn coord(etcd: &EtcdServer, ttl: u64) -> EtcdCoordinator {
    EtcdCoordinator::connect(std::slice::from_ref(&etcd.endpoint), opts(ttl))
        .await
        .unwrap()
}

async fn wait_members(
    rx: &mut watch::Receiver<Members>,
    want: &[&str],
    within: Duration,
) -> Duration {
    let start = Instant::now();
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    timeout(within, async {
        loop {
            if rx.borrow_and_update().keys().cloned().collect::<Vec<_>>() == want {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("members never became {want:?}: {:?}", rx.borrow()));
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_election_failover_and_membership() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = EtcdServer::start(dir.path()).unwrap();
    let a = coord(&etcd, 2).await;
    let b = coord(&etcd, 2).await;

    // Two candidates: exactly one wins; the other waits.
    let ca = {
        let a = a.clone();
        tokio::spawn(async move { a.campaign("scheduler", "addr-a").await.unwrap() })
    };
    let cb = {
        let b = b.clone();
        tokio::spawn(async move { b.campaign("scheduler", "addr-b").await.unwrap() })
    };
    let start = Instant::now();
    while !ca.is_finished() && !cb.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(10), "nobody elected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        ca.is_finished() ^ cb.is_finished(),
        "exactly one leader expected"
    );
    let (leader, standby, leader_addr, standby_addr): (
        LeaderGuard,
        tokio::task::JoinHandle<LeaderGuard>,
        _,
        _,
    ) = if ca.is_finished() {
        (ca.await.unwrap(), cb, "addr-a", "addr-b")
    } else {
        (cb.await.unwrap(), ca, "addr-b", "addr-a")
    };
    assert_eq!(
        a.leader("scheduler").await.unwrap().as_deref(),
        Some(leader_addr)
    );
    assert!(!leader.is_lost());
    let first_term = leader.term;

    // The leader stops renewing (as if it crashed): the standby takes over after the lease TTL.
    let killed = Instant::now();
    leader.abandon();
    let second = timeout(Duration::from_secs(8), standby)
        .await
        .expect("standby did not take over within 8 s")
        .unwrap();
    let takeover = killed.elapsed();
    eprintln!("takeover after abandoned keep-alive: {takeover:?}");
    assert!(second.term > first_term, "terms must increase");
    assert_eq!(
        b.leader("scheduler").await.unwrap().as_deref(),
        Some(standby_addr)
    );

    // Resignation (drop) hands over at once.
    let c = coord(&etcd, 2).await;
    let next = {
        let c = c.clone();
        tokio::spawn(async move { c.campaign("scheduler", "addr-c").await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!next.is_finished());
    let second_term = second.term;
    let resigned = Instant::now();
    drop(second);
    let third = timeout(Duration::from_secs(3), next)
        .await
        .expect("no takeover after resignation")
        .unwrap();
    eprintln!("takeover after resignation: {:?}", resigned.elapsed());
    assert!(third.term > second_term);

    // Membership: join, change, leave by deregistration and by lease expiry.
    let mut members = a.watch_members("fetcher").await.unwrap();
    assert!(members.borrow().is_empty());
    let m1 = b
        .register_member("fetcher", "f1", "tip=10", Duration::from_secs(2))
        .await
        .unwrap();
    let m2 = c
        .register_member("fetcher", "f2", "tip=12", Duration::from_secs(2))
        .await
        .unwrap();
    wait_members(&mut members, &["f1", "f2"], Duration::from_secs(5)).await;
    m1.set_value("tip=20").await.unwrap();
    timeout(Duration::from_secs(5), async {
        while members.borrow().get("f1").map(String::as_str) != Some("tip=20") {
            members.changed().await.unwrap();
        }
    })
    .await
    .expect("value change not seen");
    // Kept alive beyond its TTL while the guard lives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(members.borrow().len(), 2);
    drop(m1);
    let left = wait_members(&mut members, &["f2"], Duration::from_secs(3)).await;
    eprintln!("member left after deregistration: {left:?}");
    m2.abandon();
    let expired = wait_members(&mut members, &[], Duration::from_secs(8)).await;
    eprintln!("member left after lease expiry: {expired:?}");

    // etcd goes away: the leader notices within its TTL and stops.
    let mut third = third;
    etcd.kill();
    let lost_at = Instant::now();
    timeout(Duration::from_secs(4), third.lost())
        .await
        .expect("leader did not notice losing etcd");
    eprintln!("leadership loss detected after {:?}", lost_at.elapsed());
    assert!(lost_at.elapsed() <= Duration::from_secs(3));
}

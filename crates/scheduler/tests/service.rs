//! The scheduler service in process (standalone wiring): two nodes on one in-process
//! coordinator and one embedded store. One leads, the other answers UNAVAILABLE with the
//! leader's address; fetcher announcements move the tip; when the leader shuts down (resigns)
//! the other takes over from the durable state at once.

use hypasis_coordination::{Coordinator, LocalCoordinator};
use hypasis_proto::v1;
use hypasis_proto::v1::scheduler_server::Scheduler as _;
use hypasis_scheduler::service::{
    ChainInfo, FETCHER_KIND, FetcherAnnouncement, LEADER_METADATA, NodeConfig, SchedulerNode,
};
use hypasis_scheduler::store::StorageSchedulerStore;
use hypasis_scheduler::{Anchor, AnchorSource, SchedulerConfig, SchedulerMetrics, SystemClock};
use hypasis_storage_api::BlockStorage;
use hypasis_storage_redb::RedbStorage;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tonic::Request;

fn node(addr: &str, store: &Arc<dyn BlockStorage>, coord: &LocalCoordinator) -> Arc<SchedulerNode> {
    let cfg = NodeConfig {
        chain: ChainInfo {
            name: "mainnet".into(),
            chain_id: 1,
            genesis_hash: vec![0; 32],
        },
        scheduler: SchedulerConfig {
            unit_size: 100,
            ..SchedulerConfig::default()
        },
        anchor: AnchorSource::Fixed(Anchor {
            number: 999,
            hash: None,
        }),
        advertise: addr.into(),
        election: "scheduler/mainnet".into(),
        refresh_interval: Duration::from_millis(50),
        progress_interval: Duration::from_secs(60),
        static_tip: None,
    };
    SchedulerNode::new(
        cfg,
        Arc::new(StorageSchedulerStore(store.clone())),
        Arc::new(hypasis_checkpoint_api::FixedCheckpoints::default()),
        Arc::new(coord.clone()),
        Arc::new(SystemClock),
        SchedulerMetrics::unregistered(),
        None,
    )
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn acquire(n: &Arc<SchedulerNode>, max: u32) -> Result<Vec<v1::Lease>, tonic::Status> {
    Ok(n.grpc()
        .acquire_lease(Request::new(v1::AcquireLeaseRequest {
            fetcher_id: "f1".into(),
            max_units: max,
            directions: vec![],
        }))
        .await?
        .into_inner()
        .leases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_leader_standby_tip_following_and_handover() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlockStorage> =
        Arc::new(RedbStorage::open(dir.path().join("blocks.redb")).unwrap());
    let coord = LocalCoordinator::new();
    let a = node("http://a", &store, &coord);
    let b = node("http://b", &store, &coord);
    let (stop_a, rx_a) = watch::channel(false);
    let (_stop_b, rx_b) = watch::channel(false);
    let ta = tokio::spawn(a.clone().run(rx_a));
    wait_for("a to lead", || a.leader_state().is_some()).await;
    let tb = tokio::spawn(b.clone().run(rx_b));

    // The standby refuses with the leader's address.
    let err = acquire(&b, 1).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(
        err.metadata()
            .get(LEADER_METADATA)
            .unwrap()
            .to_str()
            .unwrap(),
        "http://a"
    );

    // No tip yet: only backward units exist (anchor 999 → genesis), newest first.
    let first = acquire(&a, 2).await.unwrap();
    let r: Vec<(u64, u64)> = first
        .iter()
        .map(|l| {
            let r = l.unit.as_ref().unwrap().range.unwrap();
            (r.start, r.end)
        })
        .collect();
    assert_eq!(r, vec![(900, 999), (800, 899)]);

    // A fetcher announces its peers' tip: forward units appear and come first.
    let _member = coord
        .register_member(
            FETCHER_KIND,
            "f1",
            &FetcherAnnouncement {
                addr: "http://f1".into(),
                tip: Some(1150),
                peers: 3,
            }
            .encode(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = a
            .grpc()
            .get_status(Request::new(v1::GetSchedulerStatusRequest {}))
            .await
            .unwrap()
            .into_inner();
        if st.tip == 1150 {
            break;
        }
        assert!(Instant::now() < deadline, "tip never applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let forward = acquire(&a, 1).await.unwrap();
    let fr = forward[0].unit.as_ref().unwrap().range.unwrap();
    assert_eq!((fr.start, fr.end), (1000, 1099));
    let status = a
        .grpc()
        .get_status(Request::new(v1::GetSchedulerStatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.tip, 1150);
    assert_eq!(status.fetchers, 1);
    assert_eq!(status.peers, 3);

    // The leader shuts down (resigns): b takes over from the durable state.
    let held = first[0].clone();
    stop_a.send(true).unwrap();
    ta.await.unwrap();
    wait_for("b to lead", || b.leader_state().is_some()).await;
    let renewed = b
        .grpc()
        .renew_lease(Request::new(v1::RenewLeaseRequest {
            lease_id: held.lease_id.clone(),
            fencing_token: held.fencing_token,
        }))
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    assert_eq!(renewed.fencing_token, held.fencing_token);
    let next = acquire(&b, 3).await.unwrap();
    let taken: Vec<u64> = first
        .iter()
        .chain(&forward)
        .map(|l| l.unit.as_ref().unwrap().id)
        .collect();
    for l in &next {
        assert!(!taken.contains(&l.unit.as_ref().unwrap().id));
        assert!(l.fencing_token > forward[0].fencing_token);
    }
    let st = b
        .grpc()
        .get_status(Request::new(v1::GetSchedulerStatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(st.term >= 2);
    tb.abort();
}

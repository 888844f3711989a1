//! Unit tests of cross-checking, acceptance rules and the follower's resilience.

use crate::metrics::CheckpointMetrics;
use crate::quorum::{CrossCheckError, CrossChecker};
use crate::service::{Follower, FollowerConfig, Hub};
use crate::source::CheckpointSource;
use crate::store::{CheckpointStore, LocalStore, StoreError};
use crate::testing::{MemorySource, chain, checkpoint};
use hypasis_primitives::CheckpointSource as Kind;
use std::sync::Arc;
use std::time::Duration;

fn store() -> (tempfile::TempDir, Arc<dyn CheckpointStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = hypasis_storage_redb::RedbStorage::open(dir.path().join("cp.redb")).unwrap();
    (dir, Arc::new(LocalStore(Arc::new(s))))
}

fn sources(
    a: Vec<hypasis_primitives::Checkpoint>,
    b: Vec<hypasis_primitives::Checkpoint>,
) -> (Arc<MemorySource>, Arc<MemorySource>) {
    (
        Arc::new(MemorySource::new(Kind::L1RootChain, "l1", a)),
        Arc::new(MemorySource::new(Kind::Heimdall, "heimdall", b)),
    )
}

fn checker(l1: &Arc<MemorySource>, h: &Arc<MemorySource>, quorum: usize) -> CrossChecker {
    let v: Vec<Arc<dyn CheckpointSource>> = vec![l1.clone(), h.clone()];
    CrossChecker::new(v, quorum)
}

#[tokio::test]
async fn agreeing_sources_are_merged() {
    let (l1, h) = sources(chain(Kind::L1RootChain, 5), chain(Kind::Heimdall, 7));
    let a = checker(&l1, &h, 2).latest().await.unwrap();
    // Heimdall is ahead of L1 finality: the common checkpoint is L1's latest.
    assert_eq!(a.checkpoint.id, 5);
    assert_eq!(a.checkpoint.source, Kind::L1RootChain);
    assert_eq!(
        a.checkpoint.verified_by,
        vec![Kind::L1RootChain, Kind::Heimdall]
    );
}

#[tokio::test]
async fn disagreement_is_refused_and_counted() {
    let (l1, h) = sources(chain(Kind::L1RootChain, 5), chain(Kind::Heimdall, 5));
    h.put(checkpoint(Kind::Heimdall, 5, 400, 499, 0xee));
    let metrics = CheckpointMetrics::unregistered().unwrap();
    let c = checker(&l1, &h, 1).with_metrics(metrics.clone());
    let err = c.latest().await.unwrap_err();
    assert!(
        matches!(err, CrossCheckError::Disagreement { id: Some(5), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("root"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(metrics.disagreements.get(), 1);
    // A different range is a disagreement too, even with quorum 1.
    h.put(checkpoint(Kind::Heimdall, 5, 400, 498, 5));
    let err = c.by_id(5).await.unwrap_err();
    assert!(err.to_string().contains("range"), "{err}");
    assert_eq!(metrics.disagreements.get(), 2);
}

#[tokio::test]
async fn quorum_counts_answers() {
    let (l1, h) = sources(chain(Kind::L1RootChain, 3), chain(Kind::Heimdall, 3));
    h.set_down(true);
    let err = checker(&l1, &h, 2).latest().await.unwrap_err();
    assert!(
        matches!(
            err,
            CrossCheckError::NoQuorum {
                agreeing: 1,
                quorum: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("connection refused"), "{err}");
    let a = checker(&l1, &h, 1).latest().await.unwrap();
    assert_eq!(a.checkpoint.verified_by, vec![Kind::L1RootChain]);
}

#[tokio::test]
async fn store_refuses_backwards_changed_and_non_contiguous() {
    let (_dir, store) = store();
    let metrics = CheckpointMetrics::unregistered().unwrap();
    let hub = Hub::new(store.clone(), metrics.clone());
    for cp in chain(Kind::Heimdall, 3) {
        assert!(hub.accept(cp).await.unwrap());
    }
    // Identical re-accept is a no-op.
    assert!(
        !hub.accept(chain(Kind::Heimdall, 3).pop().unwrap())
            .await
            .unwrap()
    );
    // Changed.
    let err = hub
        .accept(checkpoint(Kind::Heimdall, 3, 200, 299, 0xaa))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Refused(_)) && err.reason() == "changed",
        "{err}"
    );
    // Backwards (a new id below the latest).
    let mut back = checkpoint(Kind::Heimdall, 2, 100, 199, 2);
    back.id = 2;
    let (_d2, s2) = self::store();
    let hub2 = Hub::new(s2, metrics.clone());
    hub2.accept(checkpoint(Kind::Heimdall, 5, 0, 99, 5))
        .await
        .unwrap();
    let err = hub2.accept(back).await.unwrap_err();
    assert_eq!(err.reason(), "backwards", "{err}");
    // Not contiguous.
    let err = hub
        .accept(checkpoint(Kind::Heimdall, 4, 301, 399, 4))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "not_contiguous", "{err}");
    assert_eq!(store.latest().await.unwrap().unwrap().id, 3);
    assert_eq!(metrics.refused.with_label_values(&["changed"]).get(), 1);
    assert_eq!(
        metrics.refused.with_label_values(&["not_contiguous"]).get(),
        1
    );
}

#[tokio::test]
async fn follower_catches_up_survives_outages_and_refuses_disagreement() {
    let (_dir, store) = store();
    let metrics = CheckpointMetrics::unregistered().unwrap();
    let hub = Hub::new(store.clone(), metrics.clone());
    let (l1, h) = sources(chain(Kind::L1RootChain, 4), chain(Kind::Heimdall, 4));
    let config = FollowerConfig {
        poll_interval: Duration::from_millis(20),
        start_id: Some(1),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_per_round: 2,
    };
    let follower = Follower::new(
        checker(&l1, &h, 2).with_metrics(metrics.clone()),
        hub.clone(),
        config,
        None,
    );
    assert_eq!(follower.sync_once().await.unwrap(), 2);
    assert_eq!(follower.sync_once().await.unwrap(), 2);
    assert_eq!(follower.sync_once().await.unwrap(), 0);
    let stored = store.list(0, u64::MAX, 100).await.unwrap();
    assert_eq!(
        stored.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        stored[0].verified_by,
        vec![Kind::L1RootChain, Kind::Heimdall]
    );

    // Outage: the round fails transiently, nothing stored changes.
    h.set_down(true);
    let err = follower.sync_once().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(store.latest().await.unwrap().unwrap().id, 4);

    // Run the loop through an outage and back.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(follower.run(async {
        let _ = stop_rx.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics.degraded.get() != 1 {
        assert!(std::time::Instant::now() < deadline, "outage not reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    l1.put(checkpoint(Kind::L1RootChain, 5, 400, 499, 5));
    h.put(checkpoint(Kind::Heimdall, 5, 400, 499, 5));
    h.set_down(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.latest().await.unwrap().unwrap().id < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "follower did not recover"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics.degraded.get() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "recovery not reported"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Disagreement on 6: refused, degraded, nothing stored.
    l1.put(checkpoint(Kind::L1RootChain, 6, 500, 599, 6));
    h.put(checkpoint(Kind::Heimdall, 6, 500, 599, 0x66));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics.disagreements.get() < 1 || metrics.degraded.get() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "disagreement not detected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.latest().await.unwrap().unwrap().id, 5);
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn block_anchors_are_widened_to_stay_contiguous() {
    use crate::static_source::block_anchor;
    use alloy_primitives::B256;
    let (_dir, store) = store();
    let hub = Hub::new(store.clone(), CheckpointMetrics::unregistered().unwrap());
    assert!(
        hub.accept(block_anchor(Kind::Beacon, 100, B256::repeat_byte(1)))
            .await
            .unwrap()
    );
    assert!(
        hub.accept(block_anchor(Kind::Beacon, 164, B256::repeat_byte(2)))
            .await
            .unwrap()
    );
    let second = store.get(164).await.unwrap().unwrap();
    assert_eq!((second.range.start, second.range.end), (101, 164));
    assert_eq!(second.end_block_hash, Some(B256::repeat_byte(2)));
    // An older anchor is refused.
    let err = hub
        .accept(block_anchor(Kind::Beacon, 150, B256::repeat_byte(3)))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "backwards", "{err}");
}

#[tokio::test]
async fn polling_watch_emits_latest_then_every_new_checkpoint() {
    use futures::StreamExt;
    let src = Arc::new(MemorySource::new(
        Kind::Heimdall,
        "h",
        chain(Kind::Heimdall, 2),
    ));
    let mut w = src.clone().watch(Duration::from_millis(10));
    assert_eq!(w.next().await.unwrap().unwrap().id, 2);
    for cp in chain(Kind::Heimdall, 5).into_iter().skip(2) {
        src.put(cp);
    }
    for want in [3, 4, 5] {
        assert_eq!(w.next().await.unwrap().unwrap().id, want);
    }
    src.set_down(true);
    assert!(w.next().await.unwrap().unwrap_err().is_transient());
}

fn milestone(number: u64, seed: u8) -> hypasis_checkpoint_api::TrustedBlock {
    hypasis_checkpoint_api::TrustedBlock {
        number,
        hash: alloy_primitives::B256::repeat_byte(seed),
        origin: hypasis_checkpoint_api::TrustOrigin::Milestone,
        label: Some(format!("m{number}")),
    }
}

#[tokio::test]
async fn the_trusted_head_needs_every_source_that_vouches_for_blocks() {
    use crate::quorum::TrustedHeadError;
    use hypasis_primitives::{Fault, FaultClass};
    let (l1, h) = sources(chain(Kind::L1RootChain, 2), chain(Kind::Heimdall, 2));
    let h2 = Arc::new(MemorySource::new(
        Kind::Heimdall,
        "heimdall-2",
        chain(Kind::Heimdall, 2),
    ));
    let all: Vec<Arc<dyn CheckpointSource>> = vec![l1.clone(), h.clone(), h2.clone()];
    let metrics = CheckpointMetrics::unregistered().unwrap();
    let c = CrossChecker::new(all, 1).with_metrics(metrics.clone());
    // Nobody vouches for a block yet: no head (the L1 source has no such notion).
    assert_eq!(c.latest_trusted_block().await.unwrap(), None);
    // One Heimdall has a milestone, the other none yet: that one's.
    h.set_trusted_block(Some(milestone(150, 1)));
    assert_eq!(
        c.latest_trusted_block().await.unwrap(),
        Some(milestone(150, 1))
    );
    // Both level and agreeing.
    h2.set_trusted_block(Some(milestone(150, 1)));
    assert_eq!(
        c.latest_trusted_block().await.unwrap(),
        Some(milestone(150, 1))
    );
    // At different milestones: no head this round, no error.
    h2.set_trusted_block(Some(milestone(160, 2)));
    assert_eq!(c.latest_trusted_block().await.unwrap(), None);
    // Another hash for the same block: refused, counted, the sources' fault.
    h2.set_trusted_block(Some(milestone(150, 9)));
    let err = c.latest_trusted_block().await.unwrap_err();
    assert!(
        matches!(err, TrustedHeadError::Disagreement { number: 150, .. }),
        "{err}"
    );
    assert_eq!(err.fault(), FaultClass::Peer);
    assert_eq!(metrics.disagreements.get(), 1);
    // One of them down: an error, retried (a head needs all of them).
    h2.set_down(true);
    let err = c.latest_trusted_block().await.unwrap_err();
    assert_eq!(err.fault(), FaultClass::Local, "{err}");
}

#[tokio::test]
async fn the_trusted_head_only_moves_up_and_a_changed_hash_is_refused() {
    use hypasis_checkpoint_api::AnchorStream;
    let (_dir, st) = store();
    let hub = Hub::new(st, CheckpointMetrics::unregistered().unwrap());
    assert_eq!(hub.trusted_head().await.unwrap(), None);
    let waiter = tokio::spawn({
        let hub = hub.clone();
        async move { hub.wait_above(Some(100)).await }
    });
    assert!(hub.advance_head(milestone(100, 1)).unwrap());
    assert!(hub.advance_head(milestone(120, 2)).unwrap());
    // The waiter wanted a head above 100: 120.
    assert_eq!(waiter.await.unwrap().unwrap(), milestone(120, 2));
    // A lagging source never moves it backward; the same block again changes nothing.
    assert!(!hub.advance_head(milestone(110, 3)).unwrap());
    assert!(!hub.advance_head(milestone(120, 2)).unwrap());
    // Another hash for the head's block: refused, the head stays.
    assert!(hub.advance_head(milestone(120, 7)).is_err());
    assert_eq!(hub.head(), Some(milestone(120, 2)));
    assert_eq!(hub.metrics().trusted_head.get(), 120);
    // Closing the hub ends waiters.
    hub.close();
    assert!(hub.wait_above(Some(500)).await.is_err());
}

#[tokio::test]
async fn the_follower_moves_the_trusted_head_with_the_milestones() {
    let (l1, h) = sources(chain(Kind::L1RootChain, 3), chain(Kind::Heimdall, 3));
    let (_dir, st) = store();
    let hub = Hub::new(st, CheckpointMetrics::unregistered().unwrap());
    let f = Follower::new(
        checker(&l1, &h, 2),
        hub.clone(),
        FollowerConfig::default(),
        None,
    );
    f.sync_once().await.unwrap();
    assert_eq!(hub.head(), None);
    h.set_trusted_block(Some(milestone(350, 4)));
    f.sync_once().await.unwrap();
    assert_eq!(hub.head(), Some(milestone(350, 4)));
    // Heimdall answering with an older milestone (another node behind a balancer): it stays.
    h.set_trusted_block(Some(milestone(340, 5)));
    f.sync_once().await.unwrap();
    assert_eq!(hub.head(), Some(milestone(350, 4)));
    // A changed hash for the head's block fails the round (degraded), the head stays.
    h.set_trusted_block(Some(milestone(350, 6)));
    assert!(f.sync_once().await.is_err());
    assert_eq!(hub.head(), Some(milestone(350, 4)));
}

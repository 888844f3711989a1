//! Durable state on the embedded redb store: a scheduler restarted mid-way (new process, new
//! term) continues exactly where the old one stopped; leases survive the failover; expired ones
//! return to the queue; writes of a deposed (older-term) leader are refused.

use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{B256, RawBlock, VerificationLevel};
use hypasis_scheduler::store::{SchedulerStore, StorageSchedulerStore, StoreError};
use hypasis_scheduler::{
    Anchor, AnchorSource, Completion, Direction, DurableError, DurableScheduler, FailureReason,
    ManualClock, Scheduler, SchedulerConfig, UnitState,
};
use hypasis_storage_api::contract::test_chain;
use hypasis_storage_api::{BlockBatch, BlockStorage, SchedulerDelta};
use hypasis_storage_redb::RedbStorage;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn config() -> SchedulerConfig {
    SchedulerConfig {
        unit_size: 50,
        lease_ttl: Duration::from_secs(10),
        ..SchedulerConfig::default()
    }
}

fn open(path: &Path) -> (Arc<dyn BlockStorage>, Arc<dyn SchedulerStore>) {
    let storage: Arc<dyn BlockStorage> = Arc::new(RedbStorage::open(path).unwrap());
    let store: Arc<dyn SchedulerStore> = Arc::new(StorageSchedulerStore(storage.clone()));
    (storage, store)
}

async fn put(storage: &Arc<dyn BlockStorage>, chain: &[RawBlock], r: Range) {
    let blocks = chain[r.start as usize..=r.end as usize].to_vec();
    storage
        .put_batch(&BlockBatch {
            blocks,
            level: VerificationLevel::Linked,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn restart_from_redb_continues_exactly_and_stale_terms_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.redb");
    let chain = test_chain(0, 400, 0, B256::ZERO);
    let clock = ManualClock::new(T0);
    let anchor = AnchorSource::Fixed(Anchor {
        number: 199,
        hash: Some(chain[199].hash),
    });

    let (records_before, held, max_token) = {
        let (storage, store) = open(&path);
        put(&storage, &chain, Range::new(0, 99).unwrap()).await;
        let mut d1 = lead(store, &clock, 1, anchor).await;
        d1.observe_tip(399).await.unwrap();
        d1.sync_inputs().await.unwrap();
        d1.scheduler().check_invariants().unwrap();
        let a = d1.apply(|s| s.acquire("f1", 6, &[])).await.unwrap();
        let got: Vec<(Direction, Range)> = a
            .leases
            .iter()
            .map(|l| (l.unit.direction, l.unit.range))
            .collect();
        let r = |a, b| Range::new(a, b).unwrap();
        assert_eq!(
            got,
            vec![
                (Direction::Forward, r(200, 249)),
                (Direction::Forward, r(250, 299)),
                (Direction::Forward, r(300, 349)),
                (Direction::Forward, r(350, 399)),
                (Direction::Backward, r(150, 199)),
                (Direction::Backward, r(100, 149)),
            ]
        );
        // Complete two (after the store acknowledged the blocks), fail one, keep three.
        for i in [0usize, 4] {
            let l = &a.leases[i];
            put(&storage, &chain, l.unit.range).await;
            let done = d1
                .apply(|s| s.complete(&l.lease.lease_id, l.lease.token, Some(l.unit.range)))
                .await
                .unwrap()
                .unwrap();
            assert!(matches!(done, Completion::Done(_)));
        }
        let f = &a.leases[1];
        d1.apply(|s| {
            s.fail(
                &f.lease.lease_id,
                f.lease.token,
                FailureReason::NoPeer,
                "pruned",
            )
        })
        .await
        .unwrap()
        .unwrap();
        d1.apply(|s| s.pause(Direction::Backward)).await.unwrap();
        let held: Vec<_> = [2usize, 3, 5]
            .iter()
            .map(|&i| a.leases[i].clone())
            .collect();
        let max_token = a.leases.iter().map(|l| l.lease.token).max().unwrap();
        // What the store holds equals the in-memory state.
        let durable = storage.load_scheduler().await.unwrap();
        assert_eq!(durable.term, 1);
        assert_eq!(durable.records, d1.scheduler().records());
        (d1.scheduler().records(), held, max_token)
        // d1 and the database are dropped here: the "process" is gone.
    };

    // Restart: a new leader (term 2) on the reopened database.
    let (storage, store) = open(&path);
    let snapshot = storage.load_scheduler().await.unwrap();
    assert_eq!(snapshot.records, records_before);
    let mut d2 = lead(store.clone(), &clock, 2, anchor).await;
    assert_eq!(
        d2.scheduler().records(),
        records_before,
        "state rebuilt exactly"
    );
    d2.scheduler().check_invariants().unwrap();
    assert!(d2.scheduler().is_paused(Direction::Backward));
    let leased: Vec<String> = d2
        .scheduler()
        .leases()
        .iter()
        .map(|l| l.lease.lease_id.clone())
        .collect();
    let mut want: Vec<String> = held.iter().map(|l| l.lease.lease_id.clone()).collect();
    leased.iter().for_each(|l| assert!(want.contains(l)));
    want.sort();
    let mut leased = leased;
    leased.sort();
    assert_eq!(leased, want, "valid leases survive the restart");

    // It continues exactly as the old state would have: same answers as an in-memory replica.
    let mut replica = Scheduler::restore(config(), Arc::new(clock.clone()), 2, &snapshot).unwrap();
    replica.refresh_present(&RangeSet::from_ranges(
        storage.present().await.unwrap().iter(),
    ));
    let x = d2.apply(|s| s.acquire("f2", 10, &[])).await.unwrap();
    let y = replica.acquire("f2", 10, &[]);
    assert_eq!(x, y);
    assert!(x.leases.iter().all(|l| l.lease.token > max_token));
    assert!(
        x.leases
            .iter()
            .all(|l| held.iter().all(|h| h.unit.id != l.unit.id)),
        "a unit under a valid lease was handed out again"
    );
    // A fetcher holding a lease from the old leader completes it with the new one.
    let h = &held[0];
    put(&storage, &chain, h.unit.range).await;
    assert!(matches!(
        d2.apply(|s| s.complete(&h.lease.lease_id, h.lease.token, None))
            .await
            .unwrap(),
        Ok(Completion::Done(_))
    ));

    // The deposed leader's writes are refused, and it cannot take over again.
    let stale = SchedulerDelta {
        term: 1,
        upserts: vec![(1, vec![1, 2, 3])],
        deletes: vec![],
    };
    assert!(matches!(
        store.commit(&stale).await,
        Err(StoreError::StaleTerm(_))
    ));
    assert_eq!(
        storage.load_scheduler().await.unwrap().records,
        d2.scheduler().records()
    );

    // Later, a third leader after the lease TTL: expired leases are back in the queue.
    clock.advance(Duration::from_secs(11));
    // (Its coordinator term may even be lower — e.g. a restarted in-process coordinator: the
    // term written is always above the stored one.)
    let d3 = lead(store.clone(), &clock, 1, anchor).await;
    assert_eq!(d3.term(), 3);
    assert!(d3.scheduler().leases().is_empty());
    for l in held.iter().skip(1) {
        let u = d3.scheduler().unit(l.unit.id).unwrap();
        assert_eq!(u.state, UnitState::Pending, "unit {} not requeued", u.id);
    }
    // d2 is now deposed: its next write fails and it says so.
    let r = d2.apply(|s| s.acquire("f2", 1, &[])).await;
    assert!(matches!(r, Err(DurableError::Deposed(_))), "{r:?}");
    assert!(d2.is_deposed());
    d3.scheduler().check_invariants().unwrap();
}

/// A leader of term `term` over `store` on the test clock; anchored on a block alone, without
/// checkpoints.
async fn lead(
    store: Arc<dyn SchedulerStore>,
    clock: &ManualClock,
    term: u64,
    anchor: AnchorSource,
) -> DurableScheduler {
    DurableScheduler::open(
        store,
        Arc::new(hypasis_checkpoint_api::FixedCheckpoints::default()),
        config(),
        Arc::new(clock.clone()),
        term,
        anchor,
    )
    .await
    .unwrap()
}

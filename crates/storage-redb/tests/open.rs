//! Opening, reopening and refusing damaged or busy database files.

use alloy_primitives::B256;
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::VerificationLevel;
use hypasis_storage_api::contract::test_chain;
use hypasis_storage_api::{BlockBatch, BlockStorage, SchedulerDelta, StorageError};
use hypasis_storage_redb::RedbStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/store.redb");
    let chain = test_chain(10, 20, 5, B256::repeat_byte(1));
    {
        let store = RedbStorage::open(&path).unwrap();
        store
            .put_batch(&BlockBatch {
                blocks: chain[..10].to_vec(),
                level: VerificationLevel::Linked,
            })
            .await
            .unwrap();
        store
            .put_batch(&BlockBatch {
                blocks: chain[15..].to_vec(),
                level: VerificationLevel::Accumulator,
            })
            .await
            .unwrap();
        store
            .commit_scheduler(&SchedulerDelta {
                term: 7,
                upserts: vec![(1, vec![1, 2, 3])],
                deletes: vec![],
            })
            .await
            .unwrap();
    }
    let store = RedbStorage::open(&path).unwrap();
    assert_eq!(
        store.present().await.unwrap(),
        RangeSet::from_ranges([Range { start: 10, end: 19 }, Range { start: 25, end: 29 }])
    );
    assert_eq!(
        store.block_by_number(27).await.unwrap().as_ref(),
        Some(&chain[17])
    );
    assert_eq!(
        store.block_by_hash(chain[3].hash).await.unwrap().as_ref(),
        Some(&chain[3])
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.blocks, stats.ranges, stats.lowest, stats.highest),
        (15, 2, Some(10), Some(29))
    );
    assert_eq!(store.load_scheduler().await.unwrap().term, 7);
    assert_eq!(store.verification().await.unwrap().len(), 2);
    // the store continues where it left off: the hole 20..=24 links on both sides
    let out = store
        .put_batch(&BlockBatch {
            blocks: chain[10..15].to_vec(),
            level: VerificationLevel::Linked,
        })
        .await
        .unwrap();
    assert_eq!(out.written, 5);
    assert_eq!(store.present().await.unwrap().range_count(), 1);
}

#[test]
fn garbage_file_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.redb");
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, garbage).unwrap();
    match RedbStorage::open(&path) {
        Err(StorageError::Corrupt(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn second_open_of_the_same_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _first = RedbStorage::open(&path).unwrap();
    match RedbStorage::open(&path) {
        Err(e @ StorageError::Unavailable(_)) => assert!(e.is_retryable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
fn directory_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        RedbStorage::open(dir.path()),
        Err(StorageError::Unavailable(_))
    ));
}

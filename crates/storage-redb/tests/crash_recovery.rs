//! Crash recovery: a child process (this test binary, re-executed with an env var) writes
//! batches in a loop and prints `ACK <batch>` after each `put_batch` returns; the parent
//! SIGKILLs it at varying moments (mostly in the middle of a commit), reopens the store and
//! checks that it is consistent and that every acknowledged batch survived.

use alloy_primitives::B256;
use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::{RawBlock, VerificationLevel};
use hypasis_storage_api::contract::test_chain;
use hypasis_storage_api::{BlockBatch, BlockStorage, SchedulerDelta};
use hypasis_storage_redb::{RedbOptions, RedbStorage};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CHILD_ENV: &str = "HYPASIS_REDB_CRASH_CHILD";
const QUICK_REPAIR_ENV: &str = "HYPASIS_REDB_CRASH_QUICK_REPAIR";
const BATCHES: u64 = 48;
const BATCH_BLOCKS: u64 = 16;
const TXS: usize = 40;

fn chain() -> Vec<RawBlock> {
    test_chain(0, BATCHES * BATCH_BLOCKS, TXS, B256::repeat_byte(0x42))
}

/// Batches are written out of order (stride 7 over 48), so ranges are created and merged.
fn order() -> Vec<u64> {
    (0..BATCHES).map(|i| (i * 7) % BATCHES).collect()
}

fn batch_range(idx: u64) -> Range {
    Range {
        start: idx * BATCH_BLOCKS,
        end: (idx + 1) * BATCH_BLOCKS - 1,
    }
}

fn level_of(idx: u64) -> VerificationLevel {
    VerificationLevel::ALL[(idx % 3) as usize]
}

fn options(quick_repair: bool) -> RedbOptions {
    RedbOptions {
        quick_repair,
        ..RedbOptions::default()
    }
}

/// The batches a child that finds `stored` already in the store writes, in order.
fn child_order(stored: &BTreeSet<u64>) -> Vec<u64> {
    order()
        .into_iter()
        .filter(|i| !stored.contains(i))
        .collect()
}

/// The child: writes every batch not yet stored, then re-writes all of them (idempotent)
/// forever.
fn child(path: &str, quick_repair: bool) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = RedbStorage::open_with(path, options(quick_repair)).expect("child: open");
        let present = store.present().await.expect("child: present");
        let stored: BTreeSet<u64> = (0..BATCHES)
            .filter(|i| present.contains_range(batch_range(*i)))
            .collect();
        let chain = chain();
        let mut out = std::io::stdout();
        let mut pass = child_order(&stored);
        loop {
            for idx in std::mem::replace(&mut pass, order()) {
                let r = batch_range(idx);
                let blocks = chain[r.start as usize..=r.end as usize].to_vec();
                store
                    .put_batch(&BlockBatch {
                        blocks,
                        level: level_of(idx),
                    })
                    .await
                    .expect("child: put_batch");
                // scheduler state moves with the batches: term = batch index + 1 of this pass
                store
                    .commit_scheduler(&SchedulerDelta {
                        term: 1,
                        upserts: vec![(idx, idx.to_be_bytes().to_vec())],
                        deletes: vec![],
                    })
                    .await
                    .expect("child: scheduler");
                writeln!(out, "ACK {idx}")
                    .and_then(|_| out.flush())
                    .expect("child: stdout");
            }
        }
    });
}

/// Checks the reopened store: consistent, every acknowledged batch present, every batch all or
/// nothing, nothing but acknowledged batches plus at most the one in flight.
/// `earlier` holds batches found stored but unacknowledged after earlier kills; `in_flight` is
/// the batch the child was writing when it was killed (the next one after its last ACK).
async fn verify(
    path: &Path,
    quick_repair: bool,
    acked: &BTreeSet<u64>,
    earlier: &mut BTreeSet<u64>,
    in_flight: Option<u64>,
    chain: &[RawBlock],
) -> BTreeSet<u64> {
    let store = RedbStorage::open_with(path, options(quick_repair))
        .expect("reopen after SIGKILL must not fail");
    let present = store.present().await.unwrap();
    let stats = store.stats().await.unwrap();
    let levels = store.verification().await.unwrap();

    let mut stored_batches = BTreeSet::new();
    for idx in 0..BATCHES {
        let r = batch_range(idx);
        let have = present.count_within(r);
        assert!(
            have == 0 || have == BATCH_BLOCKS,
            "batch {idx} is half-written: {have} blocks present"
        );
        if have == BATCH_BLOCKS {
            stored_batches.insert(idx);
            assert!(
                levels[&level_of(idx)].contains_range(r),
                "batch {idx} lost its verification level"
            );
        }
    }
    for idx in acked {
        assert!(
            stored_batches.contains(idx),
            "acknowledged batch {idx} was lost"
        );
    }
    let unacked: Vec<u64> = stored_batches
        .iter()
        .filter(|i| !acked.contains(i) && !earlier.contains(i))
        .copied()
        .collect();
    assert!(
        unacked.is_empty() || in_flight.is_some_and(|f| unacked == [f]),
        "stored batches that were never acknowledged and are not the one in flight ({in_flight:?}): {unacked:?}"
    );
    earlier.extend(unacked);

    // every present block readable with the right content; nothing stored outside `present`
    let all = store
        .blocks(
            Range {
                start: 0,
                end: u64::MAX,
            },
            usize::MAX,
        )
        .await
        .unwrap();
    assert_eq!(all.len() as u64, present.count());
    for block in &all {
        assert!(present.contains(block.number));
        assert_eq!(block, &chain[block.number as usize]);
        assert_eq!(
            store.block_by_hash(block.hash).await.unwrap().as_ref(),
            Some(block)
        );
    }
    let expected_ranges = RangeSet::from_ranges(stored_batches.iter().map(|i| batch_range(*i)));
    assert_eq!(present, expected_ranges);
    assert_eq!(stats.blocks, present.count());
    assert_eq!(stats.ranges, present.range_count() as u64);
    assert_eq!(
        stats.bytes,
        all.iter().map(|b| b.encoded_len() as u64).sum::<u64>()
    );
    let mut union = RangeSet::new();
    for set in levels.values() {
        set.iter().for_each(|r| {
            union.insert(r);
        });
    }
    assert_eq!(union, present);
    // scheduler records of acknowledged batches survived
    let sched = store.load_scheduler().await.unwrap();
    for idx in acked {
        assert_eq!(
            sched.records.get(idx),
            Some(&idx.to_be_bytes().to_vec()),
            "scheduler record {idx} lost"
        );
    }
    stored_batches
}

fn run_kills(quick_repair: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap();
    let chain = chain();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut acked = BTreeSet::new();
    let mut earlier = BTreeSet::new();
    let test_name = if quick_repair {
        "sigkill_with_quick_repair"
    } else {
        "sigkill_without_quick_repair"
    };
    let mut stored = BTreeSet::new();

    for round in 0..10u64 {
        let expected_order = child_order(&stored);
        let mut child = Command::new(&exe)
            .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, &path)
            .env(QUICK_REPAIR_ENV, if quick_repair { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test name ... " on the same line before the first ACK
                let Some((_, rest)) = line.split_once("ACK ") else {
                    continue;
                };
                if let Ok(idx) = rest.trim().parse::<u64>()
                    && tx.send(idx).is_err()
                {
                    break;
                }
            }
        });
        // wait for a few acknowledgements, then kill after a varying delay (0-15 ms), which
        // usually lands inside the next commit
        let wait_for = 2 + round % 4;
        let mut got = 0;
        let mut last = None;
        while got < wait_for {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(idx) => {
                    acked.insert(idx);
                    last = Some(idx);
                    got += 1;
                }
                Err(_) => panic!("child produced no acknowledgement in time (round {round})"),
            }
        }
        std::thread::sleep(Duration::from_micros((round * 2_113) % 15_000));
        child.kill().expect("SIGKILL child");
        let status = child.wait().unwrap();
        assert!(!status.success(), "child must die by the signal");
        reader.join().unwrap();
        // acknowledgements printed before the kill count too
        for idx in rx.try_iter() {
            acked.insert(idx);
            last = Some(idx);
        }
        // the batch being written when the kill landed: the one after the last ACK
        let in_flight = last.and_then(|l| {
            let pos = expected_order.iter().position(|i| *i == l)?;
            expected_order.get(pos + 1).copied()
        });
        stored = rt.block_on(verify(
            &path,
            quick_repair,
            &acked,
            &mut earlier,
            in_flight,
            &chain,
        ));
        eprintln!(
            "round {round}: {} batches acknowledged, {} stored, store consistent",
            acked.len(),
            stored.len()
        );
    }
    assert!(
        stored.len() >= 20,
        "the child made too little progress: {} batches",
        stored.len()
    );
}

#[test]
fn sigkill_with_quick_repair() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let quick = std::env::var(QUICK_REPAIR_ENV).as_deref() == Ok("1");
        child(&path, quick);
        return;
    }
    run_kills(true);
}

#[test]
fn sigkill_without_quick_repair() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let quick = std::env::var(QUICK_REPAIR_ENV).as_deref() == Ok("1");
        child(&path, quick);
        return;
    }
    run_kills(false);
}

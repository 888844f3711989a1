//! Scheduler throughput: the pure state machine and the durable path on the embedded store.
//!
//! `cargo run --release -p hypasis-scheduler --example throughput`
//!
//! 1. Pure core: a 10,000,000-block span cut into 100-block units (100,000 units); fetchers
//!    acquire 16 units at a time and complete them, until everything is done.
//! 2. Durable: the same loop through `DurableScheduler` on redb (every acquire and every
//!    completion committed before it returns), over a 200,000-block span.

use hypasis_gaps::RangeSet;
use hypasis_scheduler::store::StorageSchedulerStore;
use hypasis_scheduler::{
    Anchor, AnchorSource, DurableScheduler, ManualClock, Scheduler, SchedulerConfig, SystemClock,
};
use hypasis_storage_api::BlockStorage;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config() -> SchedulerConfig {
    SchedulerConfig {
        unit_size: 100,
        throttle: hypasis_scheduler::BackwardThrottle {
            max_in_flight_share: 1.0,
            ..Default::default()
        },
        ..SchedulerConfig::default()
    }
}

fn pure() {
    let clock = ManualClock::new(1_700_000_000_000);
    let mut s = Scheduler::new(config(), Arc::new(clock.clone()), 1);
    let t = Instant::now();
    s.refresh_present(&RangeSet::new());
    s.set_anchor(Anchor {
        number: 5_000_000,
        hash: None,
    });
    s.observe_tip(9_999_999);
    let cut = t.elapsed();
    let units = s.active_units().count();
    let t = Instant::now();
    s.refresh_present(&RangeSet::from_ranges([
        hypasis_gaps::Range::new(0, 99).unwrap()
    ]));
    let refresh_active = t.elapsed();
    let t = Instant::now();
    let mut ops = 0u64;
    loop {
        let a = s.acquire("f", 16, &[]);
        if a.leases.is_empty() {
            break;
        }
        ops += 1;
        for l in &a.leases {
            s.complete(&l.lease.lease_id, l.lease.token, None).unwrap();
            ops += 1;
        }
        let _ = s.take_delta();
        clock.advance(Duration::from_millis(1));
    }
    let run = t.elapsed();
    let t = Instant::now();
    s.refresh_present(&RangeSet::from_ranges([hypasis_gaps::Range::new(
        0, 9_999_999,
    )
    .unwrap()]));
    let refresh = t.elapsed();
    println!(
        "pure core: cut {units} units in {cut:?}; {ops} acquire/complete ops in {run:?} = {:.0} ops/s, {:.0} units/s; refresh with {units} active units {refresh_active:?}, with none {refresh:?}",
        ops as f64 / run.as_secs_f64(),
        units as f64 / run.as_secs_f64()
    );
}

async fn durable() {
    let dir = std::env::temp_dir().join(format!("hypasis-sched-bench-{}", std::process::id()));
    let storage: Arc<dyn BlockStorage> =
        Arc::new(hypasis_storage_redb::RedbStorage::open(dir.join("blocks.redb")).unwrap());
    let store = Arc::new(StorageSchedulerStore(storage));
    let mut d = DurableScheduler::open(
        store,
        Arc::new(hypasis_checkpoint_api::FixedCheckpoints::default()),
        config(),
        Arc::new(SystemClock),
        1,
        AnchorSource::Fixed(Anchor {
            number: 100_000,
            hash: None,
        }),
    )
    .await
    .unwrap();
    d.observe_tip(199_999).await.unwrap();
    d.sync_inputs().await.unwrap();
    let units = d.scheduler().active_units().count();
    let t = Instant::now();
    let (mut acquires, mut completes) = (0u64, 0u64);
    let mut latencies = Vec::new();
    loop {
        let t0 = Instant::now();
        let a = d.apply(|s| s.acquire("f", 16, &[])).await.unwrap();
        latencies.push(t0.elapsed());
        if a.leases.is_empty() {
            break;
        }
        acquires += 1;
        for l in &a.leases {
            let t0 = Instant::now();
            d.apply(|s| s.complete(&l.lease.lease_id, l.lease.token, None))
                .await
                .unwrap()
                .unwrap();
            latencies.push(t0.elapsed());
            completes += 1;
        }
    }
    let run = t.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "durable (redb): {units} units, {acquires} acquires (16 units each) + {completes} completions in {run:?} = {:.0} committed ops/s, {:.0} units/s; commit latency p50 {:?} p99 {:?}",
        (acquires + completes) as f64 / run.as_secs_f64(),
        units as f64 / run.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::main]
async fn main() {
    pure();
    durable().await;
}

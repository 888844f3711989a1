//! Deterministic unit tests of the scheduler state machine (manual clock, no sleeps).

use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::B256;
use hypasis_scheduler::{
    Acquired, Anchor, BackoffConfig, BackwardThrottle, CheckpointSpan, Completion, Direction,
    FailureReason, ManualClock, Scheduler, SchedulerConfig, SchedulerError, UnitFilter, UnitState,
};
use hypasis_storage_api::SchedulerSnapshot;
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn r(start: u64, end: u64) -> Range {
    Range::new(start, end).unwrap()
}

fn config(unit_size: u64) -> SchedulerConfig {
    SchedulerConfig {
        unit_size,
        lease_ttl: Duration::from_secs(10),
        backoff: BackoffConfig {
            base: Duration::from_secs(1),
            max: Duration::from_secs(8),
            no_peer_base: Duration::from_secs(30),
            no_peer_max: Duration::from_secs(600),
        },
        ..SchedulerConfig::default()
    }
}

fn sched(cfg: SchedulerConfig) -> (Scheduler, ManualClock) {
    let clock = ManualClock::new(T0);
    (Scheduler::new(cfg, Arc::new(clock.clone()), 1), clock)
}

/// Anchors `s` at block `anchor` (no hash), with the peers' tip at `tip` and `present` stored.
fn anchored(s: &mut Scheduler, anchor: u64, tip: Option<u64>, present: &[Range]) {
    s.set_anchor(Anchor {
        number: anchor,
        hash: None,
    });
    if let Some(tip) = tip {
        s.observe_tip(tip);
    }
    s.refresh_present(&RangeSet::from_ranges(present.iter().copied()));
}

fn ranges(s: &Scheduler, d: Direction) -> Vec<Range> {
    s.active_units()
        .filter(|u| u.direction == d)
        .map(|u| u.range)
        .collect()
}

fn lease_ranges(a: &Acquired) -> Vec<(Direction, Range)> {
    a.leases
        .iter()
        .map(|l| (l.unit.direction, l.unit.range))
        .collect()
}

#[test]
fn cuts_aligned_units_on_both_sides_of_the_anchor() {
    let (mut s, _) = sched(config(100));
    s.set_anchor(Anchor {
        number: 550,
        hash: Some(B256::repeat_byte(1)),
    });
    s.observe_tip(1000);
    s.refresh_present(&RangeSet::new());
    s.check_invariants().unwrap();
    assert_eq!(
        ranges(&s, Direction::Backward),
        vec![
            r(0, 99),
            r(100, 199),
            r(200, 299),
            r(300, 399),
            r(400, 499),
            r(500, 550)
        ]
    );
    assert_eq!(
        ranges(&s, Direction::Forward),
        vec![
            r(551, 599),
            r(600, 699),
            r(700, 799),
            r(800, 899),
            r(900, 999),
            r(1000, 1000)
        ]
    );
    let top = s.active_units().find(|u| u.range == r(500, 550)).unwrap();
    assert_eq!(top.end_hash, Some(B256::repeat_byte(1)));
    let first_fwd = s.active_units().find(|u| u.range == r(551, 599)).unwrap();
    assert_eq!(first_fwd.parent_hash, Some(B256::repeat_byte(1)));
}

#[test]
fn stored_blocks_are_not_cut_and_fully_stored_units_become_done() {
    let (mut s, _) = sched(config(100));
    anchored(&mut s, 299, None, &[r(0, 149)]);
    s.check_invariants().unwrap();
    assert_eq!(
        ranges(&s, Direction::Backward),
        vec![r(150, 199), r(200, 299)]
    );
    // Another writer stores 200..=299: the pending unit becomes done.
    s.refresh_present(&RangeSet::from_ranges([r(0, 149), r(200, 299)]));
    s.check_invariants().unwrap();
    assert_eq!(ranges(&s, Direction::Backward), vec![r(150, 199)]);
    // Data went missing (e.g. a restored backup): it is cut again.
    s.refresh_present(&RangeSet::from_ranges([r(0, 99)]));
    s.check_invariants().unwrap();
    assert_eq!(
        ranges(&s, Direction::Backward),
        vec![r(100, 149), r(150, 199), r(200, 299)]
    );
}

fn polygon_config() -> SchedulerConfig {
    SchedulerConfig {
        checkpoint_aligned: true,
        checkpoint_unit_max: 1024,
        ..config(1024)
    }
}

fn cp(id: u64, start: u64, end: u64) -> CheckpointSpan {
    CheckpointSpan {
        id,
        range: r(start, end),
        end_hash: Some(B256::repeat_byte(id as u8)),
    }
}

#[test]
fn polygon_units_follow_checkpoints_and_split_long_ones_on_1024_boundaries() {
    let (mut s, _) = sched(polygon_config());
    s.add_checkpoints([cp(1, 0, 255), cp(2, 256, 2303), cp(3, 2304, 3000)]);
    s.set_anchor(Anchor {
        number: 3000,
        hash: Some(B256::repeat_byte(3)),
    });
    s.observe_tip(3500);
    s.refresh_present(&RangeSet::new());
    s.check_invariants().unwrap();
    let units: Vec<(Range, Option<u64>)> = s
        .active_units()
        .map(|u| (u.range, u.checkpoint_id))
        .collect();
    assert_eq!(
        units,
        vec![
            (r(0, 255), Some(1)),
            (r(256, 1279), Some(2)),
            (r(1280, 2303), Some(2)),
            (r(2304, 3000), Some(3)),
            (r(3001, 3071), None),
            (r(3072, 3500), None),
        ]
    );
    let u = s.active_units().find(|u| u.range == r(1280, 2303)).unwrap();
    assert_eq!(u.end_hash, Some(B256::repeat_byte(2)));
    assert_eq!(
        s.active_units()
            .find(|u| u.range == r(2304, 3000))
            .unwrap()
            .parent_hash,
        Some(B256::repeat_byte(2))
    );

    // Lease the first forward unit, then a checkpoint over the tip region arrives: the pending
    // unaligned unit is cut again along it; the leased one stays.
    let a = s.acquire("f1", 1, &[Direction::Forward]);
    assert_eq!(lease_ranges(&a), vec![(Direction::Forward, r(3001, 3071))]);
    s.add_checkpoints([cp(4, 3001, 3400)]);
    s.check_invariants().unwrap();
    let fwd: Vec<(Range, Option<u64>)> = s
        .active_units()
        .filter(|u| u.direction == Direction::Forward)
        .map(|u| (u.range, u.checkpoint_id))
        .collect();
    assert_eq!(
        fwd,
        vec![
            (r(3001, 3071), None),
            (r(3072, 3400), Some(4)),
            (r(3401, 3500), None)
        ]
    );
}

#[test]
fn forward_follows_the_tip_and_the_pending_tail_grows() {
    let (mut s, _) = sched(config(100));
    anchored(&mut s, 999, None, &[r(0, 999)]);
    assert!(s.active_units().next().is_none());
    s.observe_tip(1010);
    assert_eq!(ranges(&s, Direction::Forward), vec![r(1000, 1010)]);
    s.observe_tip(1050);
    assert_eq!(ranges(&s, Direction::Forward), vec![r(1000, 1050)]);
    s.observe_tip(1005); // lower tips are ignored
    assert_eq!(s.tip(), Some(1050));
    // Once leased, the tail is not extended: a new unit starts behind it.
    let a = s.acquire("f", 4, &[]);
    assert_eq!(lease_ranges(&a), vec![(Direction::Forward, r(1000, 1050))]);
    s.observe_tip(1120);
    assert_eq!(
        ranges(&s, Direction::Forward),
        vec![r(1000, 1050), r(1051, 1099), r(1100, 1120)]
    );
    s.check_invariants().unwrap();
}

#[test]
fn forward_first_then_backward_newest_first() {
    let mut cfg = config(100);
    cfg.throttle.max_in_flight_share = 1.0;
    let (mut s, _) = sched(cfg);
    anchored(&mut s, 399, Some(599), &[]);
    let a = s.acquire("f", 5, &[]);
    assert_eq!(
        lease_ranges(&a),
        vec![
            (Direction::Forward, r(400, 499)),
            (Direction::Forward, r(500, 599)),
            (Direction::Backward, r(300, 399)),
            (Direction::Backward, r(200, 299)),
            (Direction::Backward, r(100, 199)),
        ]
    );
    // Tokens increase.
    let tokens: Vec<u64> = a.leases.iter().map(|l| l.lease.token).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]));
    // A backward-only fetcher gets backward work; a forward-only one gets nothing left.
    let b = s.acquire("g", 5, &[Direction::Forward]);
    assert!(b.leases.is_empty());
    assert!(b.retry_after > Duration::ZERO);
    let c = s.acquire("g", 5, &[Direction::Backward]);
    assert_eq!(lease_ranges(&c), vec![(Direction::Backward, r(0, 99))]);
    s.check_invariants().unwrap();
}

#[test]
fn leases_expire_renew_and_are_never_handed_out_twice_while_valid() {
    let (mut s, clock) = sched(config(100));
    anchored(&mut s, 0, Some(100), &[r(0, 0)]);
    assert_eq!(ranges(&s, Direction::Forward), vec![r(1, 99), r(100, 100)]);
    let a = s.acquire("f1", 1, &[]);
    let l = a.leases[0].lease.clone();
    // Another fetcher cannot get the same unit while the lease is valid.
    clock.advance(Duration::from_secs(9));
    let b = s.acquire("f2", 10, &[]);
    assert_eq!(lease_ranges(&b), vec![(Direction::Forward, r(100, 100))]);
    // Renewal extends by the TTL from now.
    let renewed = s.renew(&l.lease_id, l.token).unwrap();
    assert_eq!(renewed.lease.expires_at, clock_now(&clock) + 10_000);
    clock.advance(Duration::from_secs(9));
    assert!(s.acquire("f2", 10, &[]).leases.is_empty());
    // Past expiry the unit returns to the queue; renew is refused.
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        s.renew(&l.lease_id, l.token),
        Err(SchedulerError::Expired(l.lease_id.clone()))
    );
    let c = s.acquire("f2", 10, &[]);
    assert_eq!(
        lease_ranges(&c),
        vec![
            (Direction::Forward, r(1, 99)),
            (Direction::Forward, r(100, 100))
        ]
    );
    assert!(c.leases[0].lease.token > l.token);
    // The old holder can no longer complete or fail it.
    assert!(matches!(
        s.complete(&l.lease_id, l.token, None),
        Err(SchedulerError::StaleToken { .. })
    ));
    assert!(matches!(
        s.fail(&l.lease_id, l.token, FailureReason::PeerFault, ""),
        Err(SchedulerError::StaleToken { .. })
    ));
    s.check_invariants().unwrap();
}

fn clock_now(c: &ManualClock) -> u64 {
    use hypasis_scheduler::Clock;
    c.now_ms()
}

#[test]
fn complete_needs_the_current_token_and_is_idempotent() {
    let (mut s, clock) = sched(config(100));
    anchored(&mut s, 0, Some(99), &[r(0, 0)]);
    let l = s.acquire("f", 1, &[]).leases.remove(0).lease;
    assert!(matches!(
        s.complete(&l.lease_id, l.token + 1, None),
        Err(SchedulerError::StaleToken { .. })
    ));
    assert!(matches!(
        s.complete("nonsense", 1, None),
        Err(SchedulerError::UnknownLease(_))
    ));
    assert!(matches!(
        s.complete(&l.lease_id, l.token, Some(r(1, 50))),
        Err(SchedulerError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.complete(&l.lease_id, l.token, Some(r(1, 99))),
        Ok(Completion::Done(_))
    ));
    assert!(matches!(
        s.complete(&l.lease_id, l.token, None),
        Ok(Completion::AlreadyDone(_))
    ));
    assert_eq!(s.status().directions[0].remaining_blocks, 0);
    s.check_invariants().unwrap();

    // A completion arriving just after expiry, before anyone re-leased the unit, is accepted
    // (the store holds the blocks); after a re-lease it is refused.
    s.observe_tip(299);
    let a = s.acquire("f", 2, &[]);
    let (l1, l2) = (a.leases[0].lease.clone(), a.leases[1].lease.clone());
    clock.advance(Duration::from_secs(11));
    s.expire();
    assert!(matches!(
        s.complete(&l1.lease_id, l1.token, None),
        Ok(Completion::Done(_))
    ));
    let again = s.acquire("g", 1, &[]);
    assert_eq!(again.leases[0].unit.id, a.leases[1].unit.id);
    assert!(matches!(
        s.complete(&l2.lease_id, l2.token, None),
        Err(SchedulerError::StaleToken { .. })
    ));
    s.check_invariants().unwrap();
}

#[test]
fn failures_back_off_exponentially_with_jitter_and_no_peer_is_slower_and_visible() {
    let (mut s, clock) = sched(config(100));
    anchored(&mut s, 0, Some(99), &[r(0, 0)]);
    let mut delays = Vec::new();
    let mut unit_id = 0;
    for _ in 0..6 {
        let a = s.acquire("f", 1, &[]);
        assert_eq!(a.leases.len(), 1, "unit must be eligible again");
        let l = a.leases[0].lease.clone();
        unit_id = a.leases[0].unit.id;
        let u = s
            .fail(&l.lease_id, l.token, FailureReason::PeerFault, "bad body")
            .unwrap();
        let UnitState::Backoff { not_before } = u.state else {
            panic!("not backing off: {:?}", u.state)
        };
        let delay = not_before - clock_now(&clock);
        delays.push(delay);
        // Not retried in a hot loop: nothing until not_before.
        let b = s.acquire("f", 1, &[]);
        assert!(b.leases.is_empty());
        assert!(b.retry_after <= Duration::from_millis(delay));
        assert_eq!(s.status().directions[0].units_backoff, 1);
        clock.set(not_before);
    }
    // base 1 s doubling, capped at 8 s, equal jitter: delay in [d/2, d].
    for (i, d) in delays.iter().enumerate() {
        let full = (1000u64 << i).min(8000);
        assert!(
            *d >= full / 2 && *d <= full,
            "attempt {i}: {d} ms vs {full}"
        );
    }
    assert_eq!(s.unit(unit_id).unwrap().attempts, 6);
    assert!(s.unit(unit_id).unwrap().last_error.contains("bad body"));

    let l = s.acquire("f", 1, &[]).leases.remove(0).lease;
    let u = s
        .fail(
            &l.lease_id,
            l.token,
            FailureReason::NoPeer,
            "history expired",
        )
        .unwrap();
    let UnitState::NoPeer { not_before } = u.state else {
        panic!("{:?}", u.state)
    };
    assert!(not_before - clock_now(&clock) >= 300_000, "slow schedule");
    let st = s.status();
    assert_eq!(st.directions[0].units_no_peer, 1);
    assert_eq!(st.directions[0].units_backoff, 0);
    assert_eq!(
        s.units(UnitFilter {
            state: Some(hypasis_proto::v1::WorkUnitState::NoPeer),
            ..UnitFilter::default()
        })
        .count(),
        1
    );
}

#[test]
fn backward_is_throttled_by_share_and_rate_and_pausable() {
    let mut cfg = config(10);
    cfg.throttle = BackwardThrottle {
        max_in_flight_share: 0.5,
        max_blocks_per_second: None,
        burst_blocks: 100,
    };
    let (mut s, _) = sched(cfg.clone());
    anchored(&mut s, 99, Some(139), &[]);
    // 4 forward units available: backward may hold at most half of in-flight units.
    let a = s.acquire("f", 20, &[]);
    let fwd = a
        .leases
        .iter()
        .filter(|l| l.unit.direction == Direction::Forward)
        .count();
    let bwd = a.leases.len() - fwd;
    assert_eq!(fwd, 4);
    assert_eq!(bwd, 4, "{:?}", lease_ranges(&a));
    // Forward done (caught up): backward fills all remaining capacity.
    for l in a
        .leases
        .iter()
        .filter(|l| l.unit.direction == Direction::Forward)
    {
        s.complete(&l.lease.lease_id, l.lease.token, None).unwrap();
    }
    let b = s.acquire("f", 20, &[]);
    assert_eq!(b.leases.len(), 6);

    // Pause / resume.
    let (mut s, _) = sched(cfg.clone());
    anchored(&mut s, 99, None, &[]);
    s.pause(Direction::Backward);
    assert!(s.status().directions[1].paused);
    assert!(s.acquire("f", 5, &[]).leases.is_empty());
    s.resume(Direction::Backward);
    assert_eq!(s.acquire("f", 5, &[]).leases.len(), 5);

    // Rate: 10 blocks/s with a burst of 20 → 2 units now, then one per second.
    cfg.throttle.max_blocks_per_second = Some(10.0);
    cfg.throttle.burst_blocks = 20;
    let (mut s, clock) = sched(cfg);
    anchored(&mut s, 99, None, &[]);
    assert_eq!(s.acquire("f", 10, &[]).leases.len(), 2);
    let none = s.acquire("f", 10, &[]);
    assert!(none.leases.is_empty());
    assert!(none.retry_after >= Duration::from_millis(100));
    clock.advance(Duration::from_millis(1000));
    assert_eq!(s.acquire("f", 10, &[]).leases.len(), 1);
    assert!(s.acquire("f", 10, &[]).leases.is_empty());
}

#[test]
fn reverify_cuts_stored_ranges_again() {
    let (mut s, _) = sched(config(100));
    anchored(&mut s, 499, None, &[r(0, 499)]);
    assert!(s.active_units().next().is_none());
    let units = s.reverify(r(150, 250)).unwrap();
    let got: Vec<Range> = units.iter().map(|u| u.range).collect();
    assert_eq!(got, vec![r(100, 199), r(200, 299)]);
    s.check_invariants().unwrap();
    // A refresh does not mark them done although the store holds them.
    s.refresh_present(&RangeSet::from_ranges([r(0, 499)]));
    assert_eq!(s.active_units().count(), 2);
    let a = s.acquire("f", 5, &[]);
    for l in &a.leases {
        s.complete(&l.lease.lease_id, l.lease.token, None).unwrap();
    }
    assert!(s.active_units().next().is_none());
    s.check_invariants().unwrap();
    assert!(s.reverify(r(1000, 2000)).is_err());
}

#[test]
fn status_reports_rate_and_eta_per_direction() {
    let (mut s, clock) = sched(config(100));
    anchored(&mut s, 999, Some(1999), &[]);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(2));
        let a = s.acquire("f", 1, &[Direction::Forward]);
        let l = &a.leases[0].lease;
        s.complete(&l.lease_id, l.token, None).unwrap();
    }
    let st = s.status();
    let f = &st.directions[0];
    assert_eq!(f.done_blocks, 500);
    assert_eq!(f.remaining_blocks, 500);
    assert!(
        (f.blocks_per_second - 50.0).abs() < 1e-9,
        "{}",
        f.blocks_per_second
    );
    assert_eq!(f.eta, Some(Duration::from_secs(10)));
    let b = &st.directions[1];
    assert_eq!(b.remaining_blocks, 1000);
    assert_eq!(b.eta, None);
    assert_eq!(b.units_pending, 10);
}

#[test]
fn restore_rebuilds_the_exact_state_and_refuses_newer_terms() {
    let (mut s, clock) = sched(config(100));
    s.set_anchor(Anchor {
        number: 499,
        hash: Some(B256::repeat_byte(9)),
    });
    s.observe_tip(999);
    s.refresh_present(&RangeSet::new());
    let a = s.acquire("f", 4, &[]);
    let (l0, l1, l2) = (
        a.leases[0].lease.clone(),
        a.leases[1].lease.clone(),
        a.leases[2].lease.clone(),
    );
    s.complete(&l0.lease_id, l0.token, None).unwrap();
    s.fail(&l1.lease_id, l1.token, FailureReason::NoPeer, "gone")
        .unwrap();
    s.pause(Direction::Backward);
    s.reverify(r(0, 10)).unwrap();
    let mut records = std::collections::BTreeMap::new();
    while let Some(d) = s.take_delta() {
        for k in d.deletes {
            records.remove(&k);
        }
        records.extend(d.upserts);
    }
    assert_eq!(records, s.records());
    let snap = SchedulerSnapshot { term: 1, records };
    let present = RangeSet::from_ranges([a.leases[0].unit.range]);
    let mut s2 = Scheduler::restore(config(100), Arc::new(clock.clone()), 2, &snap).unwrap();
    s2.refresh_present(&present);
    assert_eq!(s2.records(), s.records());
    assert_eq!(s2.term(), 2);
    s2.check_invariants().unwrap();
    // The valid lease is still held: the same acquire gives the same answers on both.
    let x = s.acquire("g", 10, &[]);
    let y = s2.acquire("g", 10, &[]);
    assert_eq!(x, y);
    assert!(
        y.leases
            .iter()
            .all(|l| l.lease.lease_id != l2.lease_id && l.lease.token > l2.token)
    );
    // Leases whose expiry passed return to the queue on restore.
    clock.advance(Duration::from_secs(11));
    let mut s3 = Scheduler::restore(config(100), Arc::new(clock.clone()), 3, &snap).unwrap();
    s3.refresh_present(&present);
    assert!(s3.leases().is_empty());
    s3.check_invariants().unwrap();
    // A scheduler of an older term cannot take over newer state.
    let newer = SchedulerSnapshot {
        term: 5,
        records: snap.records.clone(),
    };
    assert!(Scheduler::restore(config(100), Arc::new(clock), 4, &newer).is_err());
}

#[test]
fn units_with_nothing_to_link_to_wait_for_their_neighbour() {
    let mut cfg = config(100);
    cfg.throttle.max_in_flight_share = 1.0;
    let (mut s, clock) = sched(cfg);
    anchored(&mut s, 399, Some(699), &[]);
    // One forward unit at a time: the next one links to the one under lease.
    let a = s.acquire("f", 1, &[Direction::Forward]);
    assert_eq!(lease_ranges(&a), vec![(Direction::Forward, r(400, 499))]);
    let first = a.leases[0].lease.clone();
    s.fail(
        &first.lease_id,
        first.token,
        FailureReason::PeerFault,
        "bad",
    )
    .unwrap();
    // 400..=499 backs off: 500..=599 has nothing stored or in flight to link to, so it waits.
    let b = s.acquire("f", 4, &[Direction::Forward]);
    assert!(b.leases.is_empty(), "got {:?}", lease_ranges(&b));
    clock.advance(Duration::from_secs(2));
    let c = s.acquire("f", 4, &[Direction::Forward]);
    assert_eq!(
        lease_ranges(&c),
        vec![
            (Direction::Forward, r(400, 499)),
            (Direction::Forward, r(500, 599)),
            (Direction::Forward, r(600, 699)),
        ]
    );
    s.check_invariants().unwrap();
}

#[test]
fn the_trusted_head_never_moves_backward_and_the_status_shows_its_age_and_distance() {
    use hypasis_checkpoint_api::{TrustOrigin, TrustedBlock};
    let head = |number: u64| TrustedBlock {
        number,
        hash: B256::repeat_byte(number as u8),
        origin: TrustOrigin::Milestone,
        label: Some(format!("milestone-{number}")),
    };
    let (mut s, clock) = sched(config(100));
    assert!(s.status().trusted_head.is_none());
    anchored(&mut s, 99, Some(500), &[r(0, 149)]);
    assert!(s.observe_trusted_head(head(400)));
    clock.advance(Duration::from_secs(7));
    // Lower or equal heads are ignored (a lagging source); the first sighting keeps its time.
    assert!(!s.observe_trusted_head(head(300)));
    assert!(!s.observe_trusted_head(head(400)));
    let st = s.status().trusted_head.expect("a trusted head");
    assert_eq!(st.block, head(400));
    assert_eq!(st.age, Duration::from_secs(7));
    // 149 is the highest stored block.
    assert_eq!(st.distance, 400 - 149);
    assert!(s.observe_trusted_head(head(450)));
    let st = s.status().trusted_head.unwrap();
    assert_eq!((st.block.number, st.age), (450, Duration::ZERO));
    assert_eq!(s.trusted_head().map(|b| b.number), Some(450));
}

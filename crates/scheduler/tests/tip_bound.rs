//! The peers' tip is a claim: the scheduler cuts units only up to trusted information (anchor,
//! newest checkpoint, highest stored block) plus `tip_margin`, lets the bound rise as blocks
//! are stored, and never persists the claim.

use hypasis_gaps::{Range, RangeSet};
use hypasis_primitives::B256;
use hypasis_scheduler::{
    Anchor, CheckpointSpan, Direction, ManualClock, Scheduler, SchedulerConfig, UnitFilter,
};
use hypasis_storage_api::SchedulerSnapshot;
use proptest::prelude::*;
use std::sync::Arc;

const T0: u64 = 1_700_000_000_000;

fn r(start: u64, end: u64) -> Range {
    Range::new(start, end).unwrap()
}

fn sched(unit_size: u64, margin: u64) -> Scheduler {
    let cfg = SchedulerConfig {
        unit_size,
        tip_margin: margin,
        ..SchedulerConfig::default()
    };
    Scheduler::new(cfg, Arc::new(ManualClock::new(T0)), 1)
}

fn anchored(unit_size: u64, margin: u64, anchor: u64) -> Scheduler {
    let mut s = sched(unit_size, margin);
    s.set_anchor(Anchor {
        number: anchor,
        hash: Some(B256::repeat_byte(7)),
    });
    s.refresh_present(&RangeSet::from_ranges([r(0, anchor)]));
    s
}

fn forward(s: &Scheduler) -> Vec<Range> {
    s.active_units()
        .filter(|u| u.direction == Direction::Forward)
        .map(|u| u.range)
        .collect()
}

#[test]
fn an_absurd_tip_is_clamped_to_the_trusted_top_plus_the_margin() {
    let mut s = anchored(100, 500, 999);
    assert!(s.observe_tip(u64::MAX));
    assert_eq!(s.peer_tip(), Some(u64::MAX));
    assert_eq!(s.trusted_top(), 999);
    assert_eq!(s.tip_bound(), 1499);
    assert_eq!(s.tip(), Some(1499));
    assert_eq!(
        forward(&s),
        vec![
            r(1000, 1099),
            r(1100, 1199),
            r(1200, 1299),
            r(1300, 1399),
            r(1400, 1499)
        ]
    );
    // 2^60 or anything else above the bound changes nothing.
    assert!(!s.observe_tip(1 << 60));
    assert_eq!(s.units(UnitFilter::default()).count(), 5);
    let st = s.status();
    assert_eq!(
        (st.tip, st.peer_tip, st.tip_bound),
        (Some(1499), Some(u64::MAX), 1499)
    );
    s.check_invariants().unwrap();
}

#[test]
fn a_tip_within_the_bound_is_used_as_is() {
    let mut s = anchored(100, 500, 999);
    assert!(s.observe_tip(1200));
    assert_eq!(s.tip(), Some(1200));
    assert_eq!(forward(&s).last().copied(), Some(r(1200, 1200)));
}

#[test]
fn the_bound_rises_as_blocks_are_stored_so_forward_sync_proceeds_in_waves() {
    let mut s = anchored(100, 200, 999);
    s.observe_tip(100_000);
    assert_eq!(s.tip(), Some(1199));
    // Complete the forward units one by one: each completion moves the bound up by what it
    // stored, and the next blocks are cut.
    let mut waves = 0;
    while s.tip() < Some(100_000) {
        let a = s.acquire("f", 64, &[Direction::Forward]);
        assert!(!a.leases.is_empty(), "stalled at tip {:?}", s.tip());
        for l in a.leases {
            s.complete(&l.lease.lease_id, l.lease.token, Some(l.unit.range))
                .unwrap();
        }
        // Never more than margin / unit_size (+1 for a partial unit) forward units active.
        let active = s
            .units(UnitFilter {
                direction: Some(Direction::Forward),
                active_only: true,
                ..UnitFilter::default()
            })
            .count();
        assert!(active <= 3, "{active} forward units active");
        assert!(s.tip().unwrap() <= s.tip_bound());
        waves += 1;
        assert!(waves < 10_000);
    }
    assert_eq!(s.tip(), Some(100_000));
    s.check_invariants().unwrap();
}

#[test]
fn the_bound_follows_the_store_and_checkpoints() {
    let mut s = anchored(100, 100, 999);
    s.observe_tip(5000);
    assert_eq!(s.tip(), Some(1099));
    // Someone else stored up to 2000: the bound moves with the store's highest block.
    s.refresh_present(&RangeSet::from_ranges([r(0, 2000)]));
    assert_eq!(s.trusted_top(), 2000);
    assert_eq!(s.tip(), Some(2100));
    // A checkpoint ending at 3000 is trusted information too.
    s.add_checkpoints([CheckpointSpan {
        id: 1,
        range: r(2900, 3000),
        end_hash: None,
    }]);
    assert_eq!(s.trusted_top(), 3000);
    assert_eq!(s.tip(), Some(3100));
    s.check_invariants().unwrap();
}

#[test]
fn the_claimed_tip_is_not_persisted_and_old_state_still_loads() {
    let mut s = anchored(100, 500, 999);
    s.observe_tip(1300);
    let records = s.records();
    let snapshot = SchedulerSnapshot {
        term: 1,
        records: records.clone(),
    };
    let mut restored = Scheduler::restore(
        s.config().clone(),
        Arc::new(ManualClock::new(T0)),
        2,
        &snapshot,
    )
    .unwrap();
    // The units cut stay (the span reaches them); the claim itself is gone until a peer
    // states it again.
    assert_eq!(restored.peer_tip(), None);
    assert_eq!(restored.tip(), Some(1300));
    restored.refresh_present(&RangeSet::from_ranges([r(0, 999)]));
    assert_eq!(restored.tip(), Some(1300));
    restored.check_invariants().unwrap();

    // A meta record written by an older version, with a (peer-derived) tip far above the
    // units: it loads, and the stored tip is not used.
    let mut old = records;
    let meta = old.get_mut(&u64::MAX).unwrap();
    let mut m = <hypasis_scheduler::persist::MetaRecord as prost::Message>::decode(meta.as_slice())
        .unwrap();
    assert_eq!(m.tip, None, "the tip is not written");
    m.tip = Some(1 << 60);
    *meta = prost::Message::encode_to_vec(&m);
    let mut restored = Scheduler::restore(
        s.config().clone(),
        Arc::new(ManualClock::new(T0)),
        2,
        &SchedulerSnapshot {
            term: 1,
            records: old,
        },
    )
    .unwrap();
    assert_eq!(restored.tip(), Some(1300));
    assert_eq!(restored.peer_tip(), None);
    restored.refresh_present(&RangeSet::from_ranges([r(0, 999)]));
    assert_eq!(restored.tip(), Some(1300));
    restored.check_invariants().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the claims, units never reach past the bound at the time they were cut, and
    /// the number of units stays within what the trusted range and the margin allow.
    #[test]
    fn units_stay_within_the_bound(
        anchor in 0u64..5_000,
        margin in 0u64..3_000,
        unit in 1u64..500,
        claims in proptest::collection::vec(any::<u64>(), 1..8),
    ) {
        let mut s = anchored(unit, margin, anchor);
        for c in claims {
            s.observe_tip(c);
            let bound = s.tip_bound();
            prop_assert!(s.tip().unwrap_or(0) <= bound);
            for u in s.active_units() {
                prop_assert!(u.range.end <= bound);
            }
            let most = (bound - anchor) / unit + 2;
            prop_assert!(s.units(UnitFilter::default()).count() as u64 <= most);
            s.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}

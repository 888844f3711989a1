//! Gap tracking: a set of present block numbers stored as disjoint, non-adjacent inclusive ranges.
//!
//! The set is the source of truth for "which blocks does the store hold". Storage backends persist
//! it in the same atomic commit as the blocks it describes (see `hypasis-storage-api`), so the set
//! never claims a block that is not stored.
//!
//! All ranges are **inclusive** on both ends: `Range { start: 5, end: 7 }` holds 5, 6 and 7.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An inclusive range of block numbers, `start..=end`, with `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Range {
    /// First block number in the range.
    pub start: u64,
    /// Last block number in the range (inclusive).
    pub end: u64,
}

/// A range whose start is greater than its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid block range {start}..={end}: start is greater than end")]
pub struct InvalidRange {
    /// Requested start.
    pub start: u64,
    /// Requested end.
    pub end: u64,
}

/// Splits ascending block numbers into maximal runs of consecutive numbers.
pub fn runs(numbers: &[u64]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some(last) if last.end.checked_add(1) == Some(n) => last.end = n,
            _ => out.push(Range::single(n)),
        }
    }
    out
}

impl Range {
    /// Creates `start..=end`, refusing `start > end`.
    pub fn new(start: u64, end: u64) -> Result<Self, InvalidRange> {
        if start > end {
            return Err(InvalidRange { start, end });
        }
        Ok(Self { start, end })
    }

    /// A range holding exactly one block.
    pub fn single(n: u64) -> Self {
        Self { start: n, end: n }
    }

    /// Number of blocks in the range (saturates at `u64::MAX` for the full domain).
    pub fn len(&self) -> u64 {
        (self.end - self.start).saturating_add(1)
    }

    /// Always false: a valid range holds at least one block.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `n` lies inside the range.
    pub fn contains(&self, n: u64) -> bool {
        self.start <= n && n <= self.end
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &Range) -> Option<Range> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start <= end).then_some(Range { start, end })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.start, self.end)
    }
}

/// A set of block numbers kept as sorted, disjoint, non-adjacent inclusive ranges.
///
/// Invariant: for consecutive ranges `a`, `b` in the map, `a.end + 1 < b.start`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSet {
    /// start -> end (inclusive).
    ranges: BTreeMap<u64, u64>,
}

/// What an insert or remove changed, so a persistent backend can apply the same edit to its
/// per-range keys inside one transaction: delete the ranges starting at `removed`, write `added`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSetDiff {
    /// Start keys of ranges that no longer exist in their old form.
    pub removed: Vec<u64>,
    /// Ranges that are new or changed.
    pub added: Vec<Range>,
}

impl RangeSetDiff {
    /// Whether the edit changed nothing.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

impl RangeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from arbitrary (possibly overlapping) ranges.
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range>) -> Self {
        let mut set = Self::new();
        for r in ranges {
            set.insert(r);
        }
        set
    }

    /// Whether the set holds no block.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of disjoint ranges.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// Number of block numbers in the set.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(s, e)| (e - s).saturating_add(1))
            .fold(0u64, u64::saturating_add)
    }

    /// Number of block numbers of the set that lie inside `within`.
    pub fn count_within(&self, within: Range) -> u64 {
        self.iter_within(within).map(|r| r.len()).sum()
    }

    /// Iterates the disjoint ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range> + '_ {
        self.ranges
            .iter()
            .map(|(&start, &end)| Range { start, end })
    }

    /// The ranges clipped to `within`, ascending.
    pub fn iter_within(&self, within: Range) -> impl Iterator<Item = Range> + '_ {
        // The first candidate is the range starting at or before `within.start`.
        let first = self
            .ranges
            .range(..=within.start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(within.start);
        self.ranges
            .range(first..=within.end)
            .filter_map(move |(&start, &end)| Range { start, end }.intersect(&within))
    }

    /// Lowest block number in the set.
    pub fn first(&self) -> Option<u64> {
        self.ranges.keys().next().copied()
    }

    /// Highest block number in the set.
    pub fn last(&self) -> Option<u64> {
        self.ranges.values().next_back().copied()
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u64) -> bool {
        self.ranges
            .range(..=n)
            .next_back()
            .is_some_and(|(_, &end)| n <= end)
    }

    /// Whether every block of `range` is in the set.
    pub fn contains_range(&self, range: Range) -> bool {
        self.ranges
            .range(..=range.start)
            .next_back()
            .is_some_and(|(_, &end)| range.end <= end)
    }

    /// The stored range that contains `n`, if any.
    pub fn range_containing(&self, n: u64) -> Option<Range> {
        self.ranges
            .range(..=n)
            .next_back()
            .filter(|(_, end)| n <= **end)
            .map(|(&start, &end)| Range { start, end })
    }

    /// Adds every block of `range`, merging with overlapping and adjacent ranges.
    pub fn insert(&mut self, range: Range) -> RangeSetDiff {
        let mut start = range.start;
        let mut end = range.end;
        let mut removed = Vec::new();

        // A range that starts before us and reaches us (or is adjacent) absorbs us.
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e.saturating_add(1) >= start
        {
            if e >= end {
                return RangeSetDiff::default(); // already fully present
            }
            start = s;
            end = end.max(e);
            removed.push(s);
        }
        // Ranges starting inside us or right after us are merged in.
        let upper = end.saturating_add(1);
        let absorbed: Vec<(u64, u64)> = self
            .ranges
            .range(range.start..=upper)
            .map(|(&s, &e)| (s, e))
            .filter(|(s, _)| !removed.contains(s))
            .collect();
        for (s, e) in absorbed {
            end = end.max(e);
            removed.push(s);
        }
        for s in &removed {
            self.ranges.remove(s);
        }
        self.ranges.insert(start, end);
        let added = vec![Range { start, end }];
        // A key that is removed and written again is reported in both lists; drop it from
        // `removed` so a backend does not delete what it just wrote.
        removed.retain(|s| *s != start);
        RangeSetDiff { removed, added }
    }

    /// Removes every block of `range`, splitting ranges as needed.
    pub fn remove(&mut self, range: Range) -> RangeSetDiff {
        let mut diff = RangeSetDiff::default();
        let first = self
            .ranges
            .range(..=range.start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(range.start);
        let touched: Vec<(u64, u64)> = self
            .ranges
            .range(first..=range.end)
            .map(|(&s, &e)| (s, e))
            .filter(|&(s, e)| Range { start: s, end: e }.intersect(&range).is_some())
            .collect();
        for (s, e) in touched {
            self.ranges.remove(&s);
            let mut rewrote_start = false;
            if s < range.start {
                self.ranges.insert(s, range.start - 1);
                diff.added.push(Range {
                    start: s,
                    end: range.start - 1,
                });
                rewrote_start = true;
            }
            if e > range.end {
                self.ranges.insert(range.end + 1, e);
                diff.added.push(Range {
                    start: range.end + 1,
                    end: e,
                });
            }
            if !rewrote_start {
                diff.removed.push(s);
            }
        }
        diff
    }

    /// The missing sub-ranges of `within`, ascending.
    pub fn gaps(&self, within: Range) -> Vec<Range> {
        let mut gaps = Vec::new();
        let mut cursor = Some(within.start); // next number not yet accounted for
        for present in self.iter_within(within) {
            let Some(c) = cursor else { break };
            if present.start > c {
                gaps.push(Range {
                    start: c,
                    end: present.start - 1,
                });
            }
            cursor = present.end.checked_add(1);
        }
        if let Some(c) = cursor
            && c <= within.end
        {
            gaps.push(Range {
                start: c,
                end: within.end,
            });
        }
        gaps
    }

    /// Number of missing block numbers inside `within`.
    pub fn missing_within(&self, within: Range) -> u64 {
        within.len() - self.count_within(within)
    }
}

impl FromIterator<Range> for RangeSet {
    fn from_iter<T: IntoIterator<Item = Range>>(iter: T) -> Self {
        Self::from_ranges(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn runs_split_at_holes() {
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(
            runs(&[3, 4, 5, 7, 9, 10]),
            vec![
                Range { start: 3, end: 5 },
                Range::single(7),
                Range { start: 9, end: 10 }
            ]
        );
        assert_eq!(
            runs(&[u64::MAX - 1, u64::MAX]),
            vec![Range {
                start: u64::MAX - 1,
                end: u64::MAX
            }]
        );
    }

    fn r(s: u64, e: u64) -> Range {
        Range::new(s, e).unwrap()
    }

    #[test]
    fn insert_merges_neighbours() {
        let mut set = RangeSet::new();
        set.insert(r(10, 20));
        set.insert(r(30, 40));
        assert_eq!(set.range_count(), 2);
        let diff = set.insert(r(21, 29));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![r(10, 40)]);
        assert_eq!(diff.added, vec![r(10, 40)]);
        assert_eq!(diff.removed, vec![30]);
        assert_eq!(set.count(), 31);
    }

    #[test]
    fn insert_inside_existing_is_noop() {
        let mut set = RangeSet::from_ranges([r(0, 100)]);
        assert!(set.insert(r(5, 6)).is_empty());
    }

    #[test]
    fn gaps_within_bounds() {
        let set = RangeSet::from_ranges([r(5, 9), r(20, 29)]);
        assert_eq!(set.gaps(r(0, 40)), vec![r(0, 4), r(10, 19), r(30, 40)]);
        assert_eq!(set.gaps(r(6, 8)), vec![]);
        assert_eq!(set.gaps(r(8, 21)), vec![r(10, 19)]);
        assert_eq!(RangeSet::new().gaps(r(3, 3)), vec![r(3, 3)]);
    }

    #[test]
    fn full_domain_does_not_overflow() {
        let mut set = RangeSet::new();
        set.insert(r(u64::MAX - 1, u64::MAX));
        set.insert(r(0, u64::MAX - 2));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![r(0, u64::MAX)]);
        assert_eq!(set.count(), u64::MAX);
        assert!(set.gaps(r(0, u64::MAX)).is_empty());
        set.remove(r(u64::MAX, u64::MAX));
        assert_eq!(set.gaps(r(0, u64::MAX)), vec![r(u64::MAX, u64::MAX)]);
    }

    #[test]
    fn invalid_range_refused() {
        assert_eq!(Range::new(5, 4), Err(InvalidRange { start: 5, end: 4 }));
    }

    /// The naive model: a bitmap over a small domain.
    const DOMAIN: u64 = 200;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        (0..DOMAIN, 0..40u64, any::<bool>()).prop_map(|(s, len, ins)| {
            let e = (s + len).min(DOMAIN - 1);
            if ins {
                Op::Insert(s, e)
            } else {
                Op::Remove(s, e)
            }
        })
    }

    fn model_ranges(bits: &[bool]) -> Vec<Range> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bits.len() {
            if bits[i] {
                let s = i;
                while i < bits.len() && bits[i] {
                    i += 1;
                }
                out.push(r(s as u64, i as u64 - 1));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Replays a diff onto a plain map, as a backend with one key per range would.
    fn apply(keys: &mut BTreeMap<u64, u64>, diff: &RangeSetDiff) {
        for s in &diff.removed {
            keys.remove(s);
        }
        for a in &diff.added {
            keys.insert(a.start, a.end);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn matches_bitmap_model(ops in proptest::collection::vec(op(), 0..60),
                                qs in 0..DOMAIN, qlen in 0..DOMAIN) {
            let mut set = RangeSet::new();
            let mut bits = vec![false; DOMAIN as usize];
            let mut keys = BTreeMap::new();
            for op in &ops {
                let diff = match *op {
                    Op::Insert(s, e) => {
                        for b in &mut bits[s as usize..=e as usize] { *b = true; }
                        set.insert(r(s, e))
                    }
                    Op::Remove(s, e) => {
                        for b in &mut bits[s as usize..=e as usize] { *b = false; }
                        set.remove(r(s, e))
                    }
                };
                apply(&mut keys, &diff);
            }
            // canonical form and per-key diff replay agree with the model
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), model_ranges(&bits));
            prop_assert_eq!(keys.into_iter().map(|(s, e)| r(s, e)).collect::<Vec<_>>(), model_ranges(&bits));
            prop_assert_eq!(set.count(), bits.iter().filter(|b| **b).count() as u64);
            for (n, b) in bits.iter().enumerate() {
                prop_assert_eq!(set.contains(n as u64), *b);
            }
            // gaps within an arbitrary window equal the model's holes in that window
            let within = r(qs, (qs + qlen).min(DOMAIN - 1));
            let holes: Vec<bool> = (0..DOMAIN).map(|n| within.contains(n) && !bits[n as usize]).collect();
            prop_assert_eq!(set.gaps(within), model_ranges(&holes));
            let present_in = (within.start..=within.end).filter(|n| bits[*n as usize]).count() as u64;
            prop_assert_eq!(set.count_within(within), present_in);
            prop_assert_eq!(set.missing_within(within), within.len() - present_in);
            prop_assert_eq!(set.contains_range(within), present_in == within.len());
        }
    }
}

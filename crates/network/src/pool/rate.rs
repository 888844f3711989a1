//! Per-peer throughput and round-trip estimates and the request capacity derived from them
//! (the idea of geth's `msgrate`: size each request so that it takes about the target RTT).

use std::time::Duration;

/// Kinds of requests the pool tracks separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `GetBlockHeaders`.
    Headers,
    /// `GetBlockBodies`.
    Bodies,
    /// `GetReceipts`.
    Receipts,
}

impl Kind {
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Headers => 0,
            Self::Bodies => 1,
            Self::Receipts => 2,
        }
    }
}

/// Weight of a new measurement in the moving averages.
const MEASUREMENT_IMPACT: f64 = 0.1;
/// Upper bound on items per request.
pub const MAX_CAPACITY: usize = 1024;

/// Throughput (items/s per kind) and RTT estimates of one peer.
#[derive(Debug, Clone)]
pub struct RateTracker {
    rates: [Option<f64>; 3],
    rtt: Duration,
    initial_capacity: [usize; 3],
}

impl RateTracker {
    /// A tracker with an initial RTT guess (e.g. the handshake time) and per-kind capacities
    /// used until the first measurement.
    pub fn new(initial_rtt: Duration, initial_capacity: [usize; 3]) -> Self {
        Self {
            rates: [None; 3],
            rtt: initial_rtt,
            initial_capacity,
        }
    }

    /// Records a response of `items` items to a `kind` request that took `elapsed`.
    pub fn update(&mut self, kind: Kind, elapsed: Duration, items: usize) {
        let secs = elapsed.as_secs_f64().max(1e-4);
        if items > 0 {
            let measured = items as f64 / secs;
            let slot = &mut self.rates[kind.index()];
            *slot = Some(match *slot {
                None => measured,
                Some(r) => r * (1.0 - MEASUREMENT_IMPACT) + measured * MEASUREMENT_IMPACT,
            });
        }
        let rtt = self.rtt.as_secs_f64() * (1.0 - MEASUREMENT_IMPACT) + secs * MEASUREMENT_IMPACT;
        self.rtt = Duration::from_secs_f64(rtt);
    }

    /// A request timed out after `after`: halve the rate estimate and raise the RTT estimate.
    pub fn timed_out(&mut self, kind: Kind, after: Duration) {
        if let Some(r) = &mut self.rates[kind.index()] {
            *r /= 2.0;
        }
        self.rtt = self.rtt.max(after);
    }

    /// Estimated items per second (`None` before the first measurement).
    pub fn rate(&self, kind: Kind) -> Option<f64> {
        self.rates[kind.index()]
    }

    /// Estimated round-trip time.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// Items to ask for so that a response takes about `target_rtt`: rate × target RTT,
    /// bounded to `1..=1024`.
    pub fn capacity(&self, kind: Kind, target_rtt: Duration) -> usize {
        match self.rates[kind.index()] {
            None => self.initial_capacity[kind.index()].clamp(1, MAX_CAPACITY),
            Some(rate) => {
                let c = rate * target_rtt.as_secs_f64();
                if c.is_finite() {
                    (c as usize).clamp(1, MAX_CAPACITY)
                } else {
                    MAX_CAPACITY
                }
            }
        }
    }

    /// Request timeout: 3 × RTT estimate, within `min..=max`.
    pub fn timeout(&self, min: Duration, max: Duration) -> Duration {
        (self.rtt * 3).clamp(min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_throughput() {
        let mut t = RateTracker::new(Duration::from_millis(100), [64, 32, 32]);
        assert_eq!(t.capacity(Kind::Headers, Duration::from_secs(1)), 64);
        // 1000 headers/s, target 0.5 s -> 500.
        t.update(Kind::Headers, Duration::from_millis(100), 100);
        assert_eq!(t.capacity(Kind::Headers, Duration::from_millis(500)), 500);
        // Very fast peers are capped.
        t.update(Kind::Headers, Duration::from_millis(1), 1000);
        assert_eq!(
            t.capacity(Kind::Headers, Duration::from_secs(1)),
            MAX_CAPACITY
        );
        // Slow peers get at least one item.
        let mut slow = RateTracker::new(Duration::from_secs(1), [64, 32, 32]);
        slow.update(Kind::Bodies, Duration::from_secs(10), 1);
        assert_eq!(slow.capacity(Kind::Bodies, Duration::from_millis(100)), 1);
        // Timeouts.
        let min = Duration::from_millis(200);
        let max = Duration::from_secs(10);
        assert_eq!(slow.timeout(min, max), slow.rtt() * 3);
        slow.timed_out(Kind::Bodies, Duration::from_secs(20));
        assert_eq!(slow.timeout(min, max), max);
        let fast = RateTracker::new(Duration::from_millis(1), [1, 1, 1]);
        assert_eq!(fast.timeout(min, max), min);
    }
}

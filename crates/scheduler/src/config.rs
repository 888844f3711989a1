//! Scheduler tuning.

use std::time::Duration;

/// Exponential backoff of failing units.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffConfig {
    /// Delay after the first failure (peer fault, local error); doubles per failed attempt.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Delay after the first "no peer serves this range" report; doubles per attempt. Slower
    /// than `base` on purpose: such ranges usually stay unavailable for a while.
    pub no_peer_base: Duration,
    /// Largest "no peer" delay.
    pub no_peer_max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
            no_peer_base: Duration::from_secs(30),
            no_peer_max: Duration::from_secs(1800),
        }
    }
}

/// The backward-direction throttle ("tranquilizer"): backward units only fill capacity that
/// forward does not use, and never faster than configured.
#[derive(Debug, Clone, PartialEq)]
pub struct BackwardThrottle {
    /// While forward work remains (forward units not yet done), backward units may be at most
    /// this share (0..=1) of all in-flight units. One backward unit is always allowed so the
    /// backward direction never starves completely (pause it to stop it). When forward is
    /// caught up with the tip, backward fills all capacity.
    pub max_in_flight_share: f64,
    /// Cap on backward blocks leased per second (token bucket; `None` = no cap). A lease of `n`
    /// blocks is granted while the bucket is positive and takes `n` tokens, so the long-run
    /// rate is bounded and bursts are paid back by waiting, tranquilizer-style.
    pub max_blocks_per_second: Option<f64>,
    /// Bucket size in blocks.
    pub burst_blocks: u64,
}

impl Default for BackwardThrottle {
    fn default() -> Self {
        Self {
            max_in_flight_share: 0.5,
            max_blocks_per_second: None,
            burst_blocks: 8192,
        }
    }
}

/// How the scheduler cuts and leases work.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Lowest block to sync (normally 0).
    pub genesis: u64,
    /// Unit size in blocks where no checkpoint applies; units are aligned to multiples of it.
    pub unit_size: u64,
    /// Polygon: cut units along checkpoint ranges (one checkpoint per unit, split on
    /// `checkpoint_unit_max` boundaries of the checkpoint when longer).
    pub checkpoint_aligned: bool,
    /// Largest checkpoint-aligned unit.
    pub checkpoint_unit_max: u64,
    /// How long a lease is valid without renewal.
    pub lease_ttl: Duration,
    /// Most units one acquire hands out.
    pub max_units_per_acquire: u32,
    /// Backoff of failing units.
    pub backoff: BackoffConfig,
    /// Backward throttle.
    pub throttle: BackwardThrottle,
    /// Sliding window of the blocks/s estimate.
    pub rate_window: Duration,
    /// Seed of the backoff jitter (deterministic per unit and attempt).
    pub jitter_seed: u64,
    /// Longest `retry_after` suggested to an idle fetcher.
    pub max_retry_after: Duration,
    /// How far past trusted information units are cut. The peers' head is only a claim: the
    /// tip units are cut to is `min(claimed tip, trusted top + tip_margin)`, where the trusted
    /// top is the highest of the anchor, the newest checkpoint's end and the highest stored
    /// block. As blocks are stored the bound moves up, so a long forward sync proceeds in
    /// waves of at most this many blocks beyond what is stored.
    pub tip_margin: u64,
}

/// Default [`SchedulerConfig::tip_margin`]: about 100 units of 1024 blocks (some 2.3 days of
/// Polygon blocks, two weeks of Ethereum's) ahead of what is trusted.
pub const DEFAULT_TIP_MARGIN: u64 = 100_000;

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            genesis: 0,
            unit_size: 1024,
            checkpoint_aligned: false,
            checkpoint_unit_max: 1024,
            lease_ttl: Duration::from_secs(60),
            max_units_per_acquire: 64,
            backoff: BackoffConfig::default(),
            throttle: BackwardThrottle::default(),
            rate_window: Duration::from_secs(60),
            jitter_seed: 0x5eed,
            max_retry_after: Duration::from_secs(5),
            tip_margin: DEFAULT_TIP_MARGIN,
        }
    }
}

impl SchedulerConfig {
    /// Defaults for a chain: checkpoint-aligned for Bor (Polygon) chains.
    pub fn for_chain(bor: bool) -> Self {
        Self {
            checkpoint_aligned: bor,
            ..Self::default()
        }
    }
}

//! Prometheus metrics of a fetcher.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// The fetcher's metrics.
#[derive(Debug, Clone)]
pub struct FetcherMetrics {
    /// Blocks by stage (`fetched`, `validated`, `stored`) and direction.
    pub blocks: IntCounterVec,
    /// Bytes of blocks held in flight (reserved from the budget).
    pub bytes_in_flight: IntGauge,
    /// Highest `bytes_in_flight` seen.
    pub bytes_in_flight_max: IntGauge,
    /// The budget.
    pub bytes_in_flight_limit: IntGauge,
    /// Connected peers.
    pub peers: IntGauge,
    /// Validation failures by rule.
    pub validation_failures: IntCounterVec,
    /// Units finished by outcome (`completed`, `peer_fault`, `no_peer`, `local`, `lost`).
    pub units: IntCounterVec,
}

impl FetcherMetrics {
    /// Creates the metrics and registers them in `registry` (registration errors, e.g. a
    /// second fetcher in the same registry, are ignored).
    pub fn new(registry: &Registry) -> Self {
        let m = Self::unregistered();
        let _ = registry.register(Box::new(m.blocks.clone()));
        let _ = registry.register(Box::new(m.bytes_in_flight.clone()));
        let _ = registry.register(Box::new(m.bytes_in_flight_max.clone()));
        let _ = registry.register(Box::new(m.bytes_in_flight_limit.clone()));
        let _ = registry.register(Box::new(m.peers.clone()));
        let _ = registry.register(Box::new(m.validation_failures.clone()));
        let _ = registry.register(Box::new(m.units.clone()));
        m
    }

    /// Metrics not registered anywhere.
    pub fn unregistered() -> Self {
        let cv = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let g = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        Self {
            blocks: cv(
                "hypasis_fetcher_blocks_total",
                "Blocks by stage (fetched, validated, stored) and direction",
                &["stage", "direction"],
            ),
            bytes_in_flight: g(
                "hypasis_fetcher_bytes_in_flight",
                "Bytes of blocks held in flight",
            ),
            bytes_in_flight_max: g(
                "hypasis_fetcher_bytes_in_flight_max",
                "Highest bytes in flight seen",
            ),
            bytes_in_flight_limit: g(
                "hypasis_fetcher_bytes_in_flight_limit",
                "Memory budget for blocks in flight",
            ),
            peers: g("hypasis_fetcher_peers", "Connected peers"),
            validation_failures: cv(
                "hypasis_fetcher_validation_failures_total",
                "Validation failures by rule",
                &["rule"],
            ),
            units: cv(
                "hypasis_fetcher_units_total",
                "Units finished by outcome",
                &["outcome"],
            ),
        }
    }
}

//! Prometheus metrics of the scheduler service.

use crate::scheduler::Status;
use crate::unit::Direction;
use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Scheduler metrics (all `hypasis_scheduler_*`).
#[derive(Debug, Clone)]
pub struct SchedulerMetrics {
    units: IntGaugeVec,
    leases: IntGaugeVec,
    done_blocks: IntGaugeVec,
    remaining_blocks: IntGaugeVec,
    in_flight_blocks: IntGaugeVec,
    blocks_per_second: GaugeVec,
    eta_seconds: GaugeVec,
    completed_blocks: IntCounterVec,
    pub(crate) lease_ops: IntCounterVec,
    leader: IntGauge,
    term: IntGauge,
    tip: IntGauge,
    fetchers: IntGauge,
    peers: Gauge,
}

impl SchedulerMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let dir = &["direction"];
        let m = Self {
            units: IntGaugeVec::new(
                Opts::new(
                    "hypasis_scheduler_units",
                    "Work units by direction and state",
                ),
                &["direction", "state"],
            )?,
            leases: IntGaugeVec::new(
                Opts::new("hypasis_scheduler_leases", "Valid leases by direction"),
                dir,
            )?,
            done_blocks: IntGaugeVec::new(
                Opts::new(
                    "hypasis_scheduler_done_blocks",
                    "Blocks of the direction's range that are stored",
                ),
                dir,
            )?,
            remaining_blocks: IntGaugeVec::new(
                Opts::new(
                    "hypasis_scheduler_remaining_blocks",
                    "Blocks of the direction's range still missing",
                ),
                dir,
            )?,
            in_flight_blocks: IntGaugeVec::new(
                Opts::new("hypasis_scheduler_in_flight_blocks", "Blocks under a lease"),
                dir,
            )?,
            blocks_per_second: GaugeVec::new(
                Opts::new(
                    "hypasis_scheduler_blocks_per_second",
                    "Completed blocks per second over the sliding window",
                ),
                dir,
            )?,
            eta_seconds: GaugeVec::new(
                Opts::new(
                    "hypasis_scheduler_eta_seconds",
                    "Estimated seconds until the direction is done (-1 = unknown)",
                ),
                dir,
            )?,
            completed_blocks: IntCounterVec::new(
                Opts::new(
                    "hypasis_scheduler_completed_blocks_total",
                    "Blocks completed through leases by this process",
                ),
                dir,
            )?,
            lease_ops: IntCounterVec::new(
                Opts::new(
                    "hypasis_scheduler_lease_operations_total",
                    "Lease operations by kind and outcome",
                ),
                &["op", "outcome"],
            )?,
            leader: IntGauge::new(
                "hypasis_scheduler_leader",
                "1 while this process is the scheduler leader",
            )?,
            term: IntGauge::new("hypasis_scheduler_term", "Leadership term held (0 = none)")?,
            tip: IntGauge::new(
                "hypasis_scheduler_tip",
                "Highest block announced by fetchers",
            )?,
            fetchers: IntGauge::new("hypasis_scheduler_fetchers", "Registered fetchers")?,
            peers: Gauge::new(
                "hypasis_scheduler_fetcher_peers",
                "Peers reported by registered fetchers",
            )?,
        };
        registry.register(Box::new(m.units.clone()))?;
        registry.register(Box::new(m.leases.clone()))?;
        registry.register(Box::new(m.done_blocks.clone()))?;
        registry.register(Box::new(m.remaining_blocks.clone()))?;
        registry.register(Box::new(m.in_flight_blocks.clone()))?;
        registry.register(Box::new(m.blocks_per_second.clone()))?;
        registry.register(Box::new(m.eta_seconds.clone()))?;
        registry.register(Box::new(m.completed_blocks.clone()))?;
        registry.register(Box::new(m.lease_ops.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.term.clone()))?;
        registry.register(Box::new(m.tip.clone()))?;
        registry.register(Box::new(m.fetchers.clone()))?;
        registry.register(Box::new(m.peers.clone()))?;
        Ok(m)
    }

    /// Metrics not attached to any registry (tests, embedding without metrics).
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("fresh registry")
    }

    pub(crate) fn set_leader(&self, term: Option<u64>) {
        self.leader.set(i64::from(term.is_some()));
        self.term.set(
            term.map(|t| i64::try_from(t).unwrap_or(i64::MAX))
                .unwrap_or(0),
        );
    }

    pub(crate) fn set_fleet(&self, fetchers: usize, peers: u64) {
        self.fetchers
            .set(i64::try_from(fetchers).unwrap_or(i64::MAX));
        self.peers.set(peers as f64);
    }

    pub(crate) fn completed(&self, d: Direction, blocks: u64) {
        self.completed_blocks
            .with_label_values(&[d.name()])
            .inc_by(blocks);
    }

    pub(crate) fn observe(&self, st: &Status) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.tip.set(st.tip.map(clamp).unwrap_or(0));
        for d in &st.directions {
            let n = d.direction.name();
            for (state, v) in [
                ("pending", d.units_pending),
                ("leased", d.units_leased),
                ("backoff", d.units_backoff),
                ("no_peer", d.units_no_peer),
                ("done", d.units_done),
            ] {
                self.units.with_label_values(&[n, state]).set(clamp(v));
            }
            self.leases
                .with_label_values(&[n])
                .set(clamp(d.units_leased));
            self.done_blocks
                .with_label_values(&[n])
                .set(clamp(d.done_blocks));
            self.remaining_blocks
                .with_label_values(&[n])
                .set(clamp(d.remaining_blocks));
            self.in_flight_blocks
                .with_label_values(&[n])
                .set(clamp(d.in_flight_blocks));
            self.blocks_per_second
                .with_label_values(&[n])
                .set(d.blocks_per_second);
            self.eta_seconds
                .with_label_values(&[n])
                .set(d.eta.map(|e| e.as_secs_f64()).unwrap_or(-1.0));
        }
    }
}

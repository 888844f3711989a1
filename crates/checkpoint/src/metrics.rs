//! Prometheus metrics of the checkpoint service.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Checkpoint metrics (register once per registry; cheap to clone).
#[derive(Clone, Debug)]
pub struct CheckpointMetrics {
    /// Cross-checks refused because sources disagreed.
    pub disagreements: IntCounter,
    /// 1 while sources are failing (the service keeps serving what it has).
    pub degraded: IntGauge,
    /// Checkpoints accepted and persisted.
    pub accepted: IntCounter,
    /// Checkpoints refused (by reason).
    pub refused: IntCounterVec,
    /// Id of the newest accepted checkpoint.
    pub latest_id: IntGauge,
    /// Number of the trusted head (0 before the first).
    pub trusted_head: IntGauge,
    /// Source failures by source kind and error kind.
    pub source_errors: IntCounterVec,
    /// 1 when the source's last request succeeded.
    pub source_up: IntGaugeVec,
}

impl CheckpointMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self::unregistered()?;
        registry.register(Box::new(m.disagreements.clone()))?;
        registry.register(Box::new(m.degraded.clone()))?;
        registry.register(Box::new(m.accepted.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        registry.register(Box::new(m.latest_id.clone()))?;
        registry.register(Box::new(m.trusted_head.clone()))?;
        registry.register(Box::new(m.source_errors.clone()))?;
        registry.register(Box::new(m.source_up.clone()))?;
        Ok(m)
    }

    /// The metrics without a registry (CLI, tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            disagreements: IntCounter::new(
                "hypasis_checkpoint_disagreements_total",
                "Cross-checks refused because checkpoint sources disagreed",
            )?,
            degraded: IntGauge::new(
                "hypasis_checkpoint_degraded",
                "1 while checkpoint sources are failing or disagreeing (the service keeps serving stored checkpoints)",
            )?,
            accepted: IntCounter::new(
                "hypasis_checkpoint_accepted_total",
                "Checkpoints accepted by the quorum and persisted",
            )?,
            refused: IntCounterVec::new(
                Opts::new(
                    "hypasis_checkpoint_refused_total",
                    "Checkpoints refused, by reason (disagreement, backwards, changed, not_contiguous, invalid)",
                ),
                &["reason"],
            )?,
            latest_id: IntGauge::new(
                "hypasis_checkpoint_latest_id",
                "Id of the newest accepted checkpoint",
            )?,
            trusted_head: IntGauge::new(
                "hypasis_checkpoint_trusted_head",
                "Number of the trusted head: the newest block the sources vouch for by hash (0 before the first)",
            )?,
            source_errors: IntCounterVec::new(
                Opts::new(
                    "hypasis_checkpoint_source_errors_total",
                    "Checkpoint source failures by source and kind",
                ),
                &["source", "kind"],
            )?,
            source_up: IntGaugeVec::new(
                Opts::new(
                    "hypasis_checkpoint_source_up",
                    "1 when the checkpoint source's last request succeeded",
                ),
                &["source"],
            )?,
        })
    }
}

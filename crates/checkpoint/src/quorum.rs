//! Cross-checking checkpoint sources with a configurable quorum.
//!
//! Every configured source is asked; sources that answer must all agree on id, range and root
//! (and on the end-block hash and proposer when both sides know them). Any disagreement is
//! refused, logged loudly and counted in `hypasis_checkpoint_disagreements_total`: it is never
//! resolved silently (no majority vote). At least `quorum` sources must answer and agree.
//!
//! Static checkpoints are fixed trusted points: a static source that has the asked checkpoint
//! must agree with the others, one that does not have it is ignored, it never holds the latest
//! checkpoint back, and it counts towards the quorum only when no live source is configured.

use crate::error::{ErrorKind, SourceError};
use crate::metrics::CheckpointMetrics;
use crate::source::CheckpointSource;
use hypasis_checkpoint_api::TrustedBlock;
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind, Fault, FaultClass};
use std::fmt;
use std::sync::Arc;

/// What one source answered.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// Source kind.
    pub kind: SourceKind,
    /// Source display name.
    pub name: String,
    /// Its answer.
    pub result: Result<Checkpoint, SourceError>,
}

/// A checkpoint the quorum agreed on.
#[derive(Clone, Debug)]
pub struct Agreement {
    /// The merged checkpoint (`verified_by` lists the agreeing sources).
    pub checkpoint: Checkpoint,
    /// Every source's answer.
    pub reports: Vec<SourceReport>,
}

/// Why a cross-check did not produce a checkpoint.
#[derive(Clone, Debug)]
pub enum CrossCheckError {
    /// Sources answered with different checkpoints. Refused.
    Disagreement {
        /// Checkpoint id asked about.
        id: Option<u64>,
        /// What differs, between which sources.
        details: String,
        /// Every source's answer.
        reports: Vec<SourceReport>,
    },
    /// A source answered with invalid data (malformed, failing verification). Refused even
    /// when other sources answered: a source serving garbage is not silently outvoted.
    InvalidData {
        /// Checkpoint id asked about.
        id: Option<u64>,
        /// The invalid answers.
        details: String,
        /// Every source's answer.
        reports: Vec<SourceReport>,
    },
    /// Fewer than `quorum` sources answered.
    NoQuorum {
        /// Sources that answered (and agreed).
        agreeing: usize,
        /// Required.
        quorum: usize,
        /// Every source's answer.
        reports: Vec<SourceReport>,
    },
}

impl CrossCheckError {
    /// Whether retrying soon may help (all failures were transient or not-found): the
    /// [`FaultClass::Local`] class.
    pub fn is_transient(&self) -> bool {
        self.fault() == FaultClass::Local
    }

    /// Every source's answer.
    pub fn reports(&self) -> &[SourceReport] {
        match self {
            Self::Disagreement { reports, .. }
            | Self::InvalidData { reports, .. }
            | Self::NoQuorum { reports, .. } => reports,
        }
    }
}

impl fmt::Display for CrossCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disagreement { id, details, .. } => match id {
                Some(id) => write!(
                    f,
                    "checkpoint sources disagree on checkpoint {id}: {details}"
                ),
                None => write!(f, "checkpoint sources disagree: {details}"),
            },
            Self::InvalidData { id, details, .. } => match id {
                Some(id) => write!(f, "invalid data for checkpoint {id}: {details}"),
                None => write!(f, "invalid checkpoint data: {details}"),
            },
            Self::NoQuorum {
                agreeing,
                quorum,
                reports,
            } => {
                write!(
                    f,
                    "no quorum: {agreeing} of the required {quorum} source(s) answered"
                )?;
                for r in reports {
                    if let Err(e) = &r.result {
                        write!(f, "; {e}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CrossCheckError {}

impl Fault for CrossCheckError {
    /// Disagreeing or invalid answers are the sources' (peer). No quorum is local when every
    /// failed source failed transiently (or did not have the checkpoint yet); otherwise it
    /// takes the gravest class among the failures (fatal over peer).
    fn fault(&self) -> FaultClass {
        match self {
            Self::Disagreement { .. } | Self::InvalidData { .. } => FaultClass::Peer,
            Self::NoQuorum { reports, .. } => reports
                .iter()
                .filter_map(|r| r.result.as_ref().err())
                .map(|e| e.kind.fault())
                .fold(FaultClass::Local, |acc, c| match (acc, c) {
                    (FaultClass::Fatal, _) | (_, FaultClass::Fatal) => FaultClass::Fatal,
                    (FaultClass::Peer, _) | (_, FaultClass::Peer) => FaultClass::Peer,
                    _ => FaultClass::Local,
                }),
        }
    }
}

/// Why the sources gave no trusted head this round.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TrustedHeadError {
    /// A source that vouches for blocks could not be read: the head stays where it was.
    #[error("reading the trusted head: {0}")]
    Source(#[from] SourceError),
    /// Two sources name different hashes for the same block. Refused, never outvoted.
    #[error("checkpoint sources disagree on the hash of trusted block {number}: {details}")]
    Disagreement {
        /// The block.
        number: u64,
        /// Which source said what.
        details: String,
    },
}

impl Fault for TrustedHeadError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Source(e) => e.kind.fault(),
            Self::Disagreement { .. } => FaultClass::Peer,
        }
    }
}

/// Differences between two answers for the same checkpoint, if any.
pub fn differences(a: &Checkpoint, b: &Checkpoint) -> Option<String> {
    let mut diffs = Vec::new();
    if a.id != b.id {
        diffs.push(format!("id {} vs {}", a.id, b.id));
    }
    if a.range != b.range {
        diffs.push(format!("range {} vs {}", a.range, b.range));
    }
    if a.root != b.root {
        diffs.push(format!("root {} vs {}", a.root, b.root));
    }
    if let (Some(x), Some(y)) = (a.end_block_hash, b.end_block_hash)
        && x != y
    {
        diffs.push(format!("end block hash {x} vs {y}"));
    }
    if let (Some(x), Some(y)) = (a.proposer, b.proposer)
        && x != y
    {
        diffs.push(format!("proposer {x} vs {y}"));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Asks several sources and requires agreement.
#[derive(Clone, Debug)]
pub struct CrossChecker {
    sources: Vec<Arc<dyn CheckpointSource>>,
    quorum: usize,
    metrics: Option<CheckpointMetrics>,
}

impl CrossChecker {
    /// A checker over `sources` (in priority order: the first answering source is the record's
    /// `source`) requiring `quorum` agreeing answers (clamped to `1..=sources.len()`).
    pub fn new(sources: Vec<Arc<dyn CheckpointSource>>, quorum: usize) -> Self {
        let quorum = quorum.clamp(1, sources.len().max(1));
        Self {
            sources,
            quorum,
            metrics: None,
        }
    }

    /// Records into `metrics`.
    pub fn with_metrics(mut self, metrics: CheckpointMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The sources.
    pub fn sources(&self) -> &[Arc<dyn CheckpointSource>] {
        &self.sources
    }

    /// The quorum.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    fn record(&self, reports: &[SourceReport]) {
        let Some(m) = &self.metrics else { return };
        for r in reports {
            let label = r.kind.to_string();
            match &r.result {
                Ok(_) => m.source_up.with_label_values(&[&label]).set(1),
                Err(e) => {
                    m.source_errors
                        .with_label_values(&[&label, e.kind.as_str()])
                        .inc();
                    if e.kind != ErrorKind::NotFound {
                        m.source_up.with_label_values(&[&label]).set(0);
                    }
                }
            }
        }
    }

    /// The newest checkpoint all answering sources agree on: the smallest of their latest ids
    /// (sources lag each other, e.g. L1 finality behind Heimdall), fetched from every source.
    pub async fn latest(&self) -> Result<Agreement, CrossCheckError> {
        let reports = self.ask(|s| async move { s.latest().await }).await;
        self.record(&reports);
        // Static anchors are fixed points checked against, not live sources: they do not hold
        // the latest back (unless only static sources answered).
        let live = |r: &&SourceReport| r.kind != SourceKind::Static;
        let answered_live = reports.iter().filter(live).any(|r| r.result.is_ok());
        let min = reports
            .iter()
            .filter(|r| !answered_live || live(r))
            .filter_map(|r| r.result.as_ref().ok().map(|c| c.id))
            .min();
        let Some(target) = min else {
            return self.conclude(None, reports);
        };
        // Re-ask the sources that are ahead for the common checkpoint.
        let mut futures = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            let ahead_or_static = match &r.result {
                Ok(c) => c.id != target,
                Err(e) => r.kind == SourceKind::Static && e.kind == ErrorKind::NotFound,
            };
            if ahead_or_static {
                let s = self.sources[i].clone();
                futures.push(async move { (i, s.by_id(target).await) });
            }
        }
        let mut reports = reports;
        for (i, result) in futures::future::join_all(futures).await {
            reports[i].result = result;
        }
        self.record(&reports);
        self.conclude(Some(target), reports)
    }

    /// The newest block every source that vouches for blocks (Heimdall: its latest milestone)
    /// agrees on by number and hash; `None` when no source has such a notion, or while they
    /// stand at different blocks (they lag each other by a milestone or two; the next round
    /// usually finds them level). Any such source failing, or two naming different hashes for
    /// one block, is an error: a trusted head needs all of them.
    pub async fn latest_trusted_block(&self) -> Result<Option<TrustedBlock>, TrustedHeadError> {
        let answers = futures::future::join_all(
            self.sources
                .iter()
                .map(|s| async move { (s.name(), s.latest_trusted_block().await) }),
        )
        .await;
        let mut agreed: Option<(String, TrustedBlock)> = None;
        let mut level = true;
        for (name, answer) in answers {
            let block = match answer {
                Ok(Some(b)) => b,
                // No such notion, or none yet (a Heimdall without milestones).
                Ok(None) => continue,
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            match &agreed {
                None => agreed = Some((name, block)),
                Some((first, a)) if a.number == block.number => {
                    if a.hash != block.hash {
                        let details =
                            format!("{first} says {}, {name} says {}", a.hash, block.hash);
                        if let Some(m) = &self.metrics {
                            m.disagreements.inc();
                        }
                        tracing::error!(number = block.number, %details, "TRUSTED HEAD DISAGREEMENT");
                        return Err(TrustedHeadError::Disagreement {
                            number: block.number,
                            details,
                        });
                    }
                }
                Some(_) => level = false,
            }
        }
        if !level {
            tracing::debug!("the sources stand at different trusted blocks; the head stays");
            return Ok(None);
        }
        Ok(agreed.map(|(_, b)| b))
    }

    /// Checkpoint `id`, cross-checked.
    pub async fn by_id(&self, id: u64) -> Result<Agreement, CrossCheckError> {
        let reports = self.ask(|s| async move { s.by_id(id).await }).await;
        self.record(&reports);
        self.conclude(Some(id), reports)
    }

    async fn ask<F, Fut>(&self, f: F) -> Vec<SourceReport>
    where
        F: Fn(Arc<dyn CheckpointSource>) -> Fut,
        Fut: std::future::Future<Output = Result<Checkpoint, SourceError>>,
    {
        let futs = self.sources.iter().map(|s| {
            let fut = f(s.clone());
            let kind = s.kind();
            let name = s.name();
            async move {
                SourceReport {
                    kind,
                    name,
                    result: fut.await,
                }
            }
        });
        futures::future::join_all(futs).await
    }

    fn conclude(
        &self,
        id: Option<u64>,
        reports: Vec<SourceReport>,
    ) -> Result<Agreement, CrossCheckError> {
        let answers: Vec<(usize, &Checkpoint)> = reports
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.result.as_ref().ok().map(|c| (i, c)))
            .collect();
        // Invalid data from any source is a refusal too: a source serving garbage is not
        // silently outvoted.
        for (i, a) in &answers {
            for (j, b) in &answers {
                if j <= i {
                    continue;
                }
                if let Some(d) = differences(a, b) {
                    let details = format!(
                        "{} says {} {} root {}; {} says {} {} root {} ({d})",
                        reports[*i].name,
                        a.id,
                        a.range,
                        a.root,
                        reports[*j].name,
                        b.id,
                        b.range,
                        b.root
                    );
                    tracing::error!(
                        checkpoint = ?id,
                        %details,
                        "CHECKPOINT SOURCES DISAGREE: refusing the checkpoint; investigate the sources before trusting either"
                    );
                    if let Some(m) = &self.metrics {
                        m.disagreements.inc();
                        m.refused.with_label_values(&["disagreement"]).inc();
                    }
                    return Err(CrossCheckError::Disagreement {
                        id,
                        details,
                        reports,
                    });
                }
            }
        }
        let invalid: Vec<&SourceReport> = reports
            .iter()
            .filter(|r| matches!(&r.result, Err(e) if e.kind == ErrorKind::Invalid))
            .collect();
        if !invalid.is_empty() {
            let details = invalid
                .iter()
                .map(|r| {
                    r.result
                        .as_ref()
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("; ");
            tracing::error!(checkpoint = ?id, %details, "CHECKPOINT SOURCE SERVED INVALID DATA: refusing");
            if let Some(m) = &self.metrics {
                m.refused.with_label_values(&["invalid"]).inc();
            }
            return Err(CrossCheckError::InvalidData {
                id,
                details,
                reports,
            });
        }
        // Static anchors count towards the quorum only when no live source is configured.
        let has_live = reports.iter().any(|r| r.kind != SourceKind::Static);
        let counted = answers
            .iter()
            .filter(|(i, _)| !has_live || reports[*i].kind != SourceKind::Static)
            .count();
        if counted < self.quorum {
            return Err(CrossCheckError::NoQuorum {
                agreeing: counted,
                quorum: self.quorum,
                reports,
            });
        }
        let (first, base) = answers[0];
        let mut merged = base.clone();
        merged.source = reports[first].kind;
        merged.verified_by = Vec::new();
        for (_, c) in &answers {
            for s in &c.verified_by {
                if !merged.verified_by.contains(s) {
                    merged.verified_by.push(*s);
                }
            }
            merged.end_block_hash = merged.end_block_hash.or(c.end_block_hash);
            merged.l1_tx_hash = merged.l1_tx_hash.or(c.l1_tx_hash);
            merged.l1_block = merged.l1_block.or(c.l1_block);
            merged.proposer = merged.proposer.or(c.proposer);
            // L1's createdAt is the submission block's time; prefer it.
            if c.source == SourceKind::L1RootChain && c.created_at.is_some() {
                merged.created_at = c.created_at;
            }
            merged.created_at = merged.created_at.or(c.created_at);
        }
        Ok(Agreement {
            checkpoint: merged,
            reports,
        })
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    fn report(result: Result<Checkpoint, SourceError>) -> SourceReport {
        SourceReport {
            kind: SourceKind::Heimdall,
            name: "h".into(),
            result,
        }
    }

    #[test]
    fn cross_check_errors_have_a_class() {
        let no_quorum = |errs: Vec<SourceError>| CrossCheckError::NoQuorum {
            agreeing: 0,
            quorum: 1,
            reports: errs.into_iter().map(|e| report(Err(e))).collect(),
        };
        let e = no_quorum(vec![
            SourceError::transient("a", "timeout"),
            SourceError::not_found("b", "not yet"),
        ]);
        assert_eq!(e.fault(), FaultClass::Local);
        assert!(e.is_transient());
        let e = no_quorum(vec![
            SourceError::transient("a", "timeout"),
            SourceError::invalid("b", "garbage"),
        ]);
        assert_eq!(e.fault(), FaultClass::Peer);
        assert!(!e.is_transient());
        let e = no_quorum(vec![
            SourceError::invalid("a", "garbage"),
            SourceError::config("b", "bad url"),
        ]);
        assert_eq!(e.fault(), FaultClass::Fatal);
        let e = CrossCheckError::Disagreement {
            id: Some(1),
            details: "root".into(),
            reports: vec![],
        };
        assert_eq!(e.fault(), FaultClass::Peer);
        assert_eq!(SourceError::config("a", "x").fault(), FaultClass::Fatal);
        assert_eq!(ErrorKind::NotFound.fault(), FaultClass::Local);
    }
}

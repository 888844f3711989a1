//! Both sides of the validation seam ([`LocalValidator`] in process, [`GrpcValidator`] over
//! gRPC) and the `hypasis.v1.Validator` service: `ValidateRange` checks a streamed range of blocks with
//! [`hypasis_validation`] and streams the verdicts back.
//!
//! Protocol (see `proto/hypasis/v1/validator.proto`):
//! 1. the client sends a `ValidateRangeStart` (chain, range, optional trusted parent / end hash,
//!    Polygon checkpoint, Bor signers), then the range's blocks in ascending order;
//! 2. when the client closes its side, the range is validated on all cores (rayon, off the
//!    async runtime) and the service answers with one `BlockVerdict` for the first block that
//!    failed (block number, rule, field, expected, found, peer fault) — if any — and a final
//!    `RangeVerdict`: `valid`, and the verification level the whole range reached
//!    (`VERIFICATION_LEVEL_UNSPECIFIED` when it passes the rules but no anchor covers all of it:
//!    such a range must not be stored).
//!
//! The service is stateless; replicas scale horizontally. Chains: the built-in ones by name (or
//! by chain id / genesis hash) and any extra specs given at construction (`--genesis`).
//!
//! gRPC statuses are for protocol errors only (what the *client* must fix), never for bad
//! block data (that is a verdict): `INVALID_ARGUMENT` for a missing or repeated start, an
//! unknown chain, blocks out of order or outside the range, a range larger than
//! [`MAX_RANGE_BLOCKS`], an incomplete range.

pub mod client;
pub mod local;

pub use client::GrpcValidator;
pub use local::LocalValidator;

use alloy_primitives::{Address, B256};
use hypasis_primitives::{ChainSpec, Fault, VerificationLevel};
use hypasis_proto::convert;
use hypasis_proto::v1;
use hypasis_validation::{
    Anchors, BlockData, CheckpointAnchor, HistoricalAccumulator, RangeReport, Rule,
    ValidationError, Validator,
};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// Largest range accepted in one `ValidateRange` call.
pub const MAX_RANGE_BLOCKS: u64 = 16_384;

/// Metrics of the validator service.
#[derive(Clone, Debug)]
pub struct ValidatorMetrics {
    ranges: IntCounterVec,
    blocks: IntCounterVec,
    failures: IntCounterVec,
    latency: Histogram,
}

impl ValidatorMetrics {
    /// Registers the validator metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            ranges: IntCounterVec::new(
                Opts::new(
                    "hypasis_validator_ranges_total",
                    "ValidateRange calls by outcome (valid, invalid, error)",
                ),
                &["outcome"],
            )?,
            blocks: IntCounterVec::new(
                Opts::new(
                    "hypasis_validator_blocks_total",
                    "Blocks validated, by the level their range reached",
                ),
                &["level"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "hypasis_validator_failures_total",
                    "Failed validations by rule",
                ),
                &["rule"],
            )?,
            latency: Histogram::with_opts(
                HistogramOpts::new(
                    "hypasis_validator_range_seconds",
                    "Time to validate a received range",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
            )?,
        };
        registry.register(Box::new(m.ranges.clone()))?;
        registry.register(Box::new(m.blocks.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        Ok(m)
    }
}

/// The validator service.
#[derive(Debug, Clone)]
pub struct ValidatorService {
    extra_specs: Arc<Vec<ChainSpec>>,
    metrics: ValidatorMetrics,
}

/// Stream of verdicts.
pub type VerdictStream =
    Pin<Box<dyn Stream<Item = Result<v1::ValidateRangeResponse, Status>> + Send>>;

/// The wire value of a validation rule (`hypasis_validation::Rule` and the proto's
/// `ValidationRule` share their numbers; a test holds them together).
pub fn rule_to_proto(rule: Rule) -> v1::ValidationRule {
    v1::ValidationRule::try_from(rule.code()).unwrap_or(v1::ValidationRule::Unspecified)
}

/// The validation rule of a wire value; `None` for UNSPECIFIED or a rule this build does not
/// know.
pub fn rule_from_proto(v: i32) -> Option<Rule> {
    Rule::from_code(v)
}

fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}

impl ValidatorService {
    /// A service for the built-in chains plus `extra_specs` (custom genesis chains).
    pub fn new(extra_specs: Vec<ChainSpec>, metrics: ValidatorMetrics) -> Self {
        Self {
            extra_specs: Arc::new(extra_specs),
            metrics,
        }
    }

    /// The tonic server for this service, accepting messages up to `max_message_bytes`.
    pub fn into_server(
        self,
        max_message_bytes: usize,
    ) -> v1::validator_server::ValidatorServer<Self> {
        v1::validator_server::ValidatorServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }

    /// Resolves the chain of a request: an extra spec or a built-in chain, by name, chain id or
    /// genesis hash; a genesis hash, when given, must match.
    pub fn resolve_chain(&self, chain: &v1::ChainId) -> Result<ChainSpec, Status> {
        let genesis = if chain.genesis_hash.is_empty() {
            None
        } else {
            Some(convert::b256("chain.genesis_hash", &chain.genesis_hash)?)
        };
        let candidates = self.extra_specs.iter().cloned().chain(
            ChainSpec::BUILTIN_NAMES
                .iter()
                .filter_map(|n| ChainSpec::by_name(n).ok()),
        );
        let mut found = None;
        for spec in candidates {
            let by_name =
                !chain.name.is_empty() && spec.name.eq_ignore_ascii_case(chain.name.trim());
            let by_genesis = genesis.is_some_and(|g| g == spec.genesis_hash);
            let by_id =
                chain.name.is_empty() && genesis.is_none() && chain.chain_id == spec.chain_id;
            if by_name || by_genesis || by_id {
                found = Some(spec);
                break;
            }
        }
        let spec = found.ok_or_else(|| {
            invalid(format!(
                "unknown chain (name `{}`, chain id {}); this validator knows {}",
                chain.name,
                chain.chain_id,
                ChainSpec::BUILTIN_NAMES
                    .iter()
                    .map(|s| s.to_string())
                    .chain(self.extra_specs.iter().map(|s| s.name.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if let Some(g) = genesis
            && g != spec.genesis_hash
        {
            return Err(invalid(format!(
                "chain `{}` has genesis {}, the request says {g}",
                spec.name, spec.genesis_hash
            )));
        }
        if chain.chain_id != 0 && chain.chain_id != spec.chain_id {
            return Err(invalid(format!(
                "chain `{}` has chain id {}, the request says {}",
                spec.name, spec.chain_id, chain.chain_id
            )));
        }
        Ok(spec)
    }
}

/// The validated anchors and range of a `ValidateRangeStart`.
struct Plan {
    spec: ChainSpec,
    start: u64,
    end: u64,
    anchors: Anchors,
}

fn block_ref(field: &'static str, r: &v1::BlockRef) -> Result<(u64, B256), Status> {
    Ok((r.number, convert::b256(field, &r.hash)?))
}

impl ValidatorService {
    fn plan(&self, start: v1::ValidateRangeStart) -> Result<Plan, Status> {
        let chain = start
            .chain
            .as_ref()
            .ok_or_else(|| invalid("start.chain is required"))?;
        let spec = self.resolve_chain(chain)?;
        let range = convert::range("start.range", start.range.as_ref())?;
        if range.len() > MAX_RANGE_BLOCKS {
            return Err(invalid(format!(
                "range {range} has {} blocks; at most {MAX_RANGE_BLOCKS} per call",
                range.len()
            )));
        }
        let mut anchors = Anchors::default();
        if let Some(p) = &start.parent {
            let (n, h) = block_ref("start.parent.hash", p)?;
            if n.checked_add(1) != Some(range.start) {
                return Err(invalid(format!(
                    "start.parent is block {n}, the range starts at {}",
                    range.start
                )));
            }
            anchors.trusted.push((n, h));
        }
        if let Some(e) = &start.trusted_end {
            let (n, h) = block_ref("start.trusted_end.hash", e)?;
            if n != range.end {
                return Err(invalid(format!(
                    "start.trusted_end is block {n}, the range ends at {}",
                    range.end
                )));
            }
            anchors.trusted.push((n, h));
        }
        if let Some(cp) = &start.checkpoint {
            let cr = convert::range("start.checkpoint.range", cp.range.as_ref())?;
            if cr.start < range.start || cr.end > range.end {
                return Err(invalid(format!(
                    "checkpoint {cr} is not inside the range {range}"
                )));
            }
            let root = convert::b256("start.checkpoint.root_hash", &cp.root_hash)?;
            anchors.checkpoints.push(CheckpointAnchor {
                start: cr.start,
                end: cr.end,
                root,
            });
            if let Some(h) = &cp.end_block_hash {
                anchors
                    .trusted
                    .push((cr.end, convert::b256("start.checkpoint.end_block_hash", h)?));
            }
        }
        if !start.signers.is_empty() {
            let signers = start
                .signers
                .iter()
                .map(|s| convert::address("start.signers", s))
                .collect::<Result<Vec<Address>, _>>()?;
            anchors.bor_validators.push((0, signers));
        }
        if spec.genesis_hash == ChainSpec::mainnet().genesis_hash {
            anchors.accumulator = Some(HistoricalAccumulator::mainnet());
        }
        anchors.trusted.push((0, spec.genesis_hash));
        Ok(Plan {
            spec,
            start: range.start,
            end: range.end,
            anchors,
        })
    }

    /// Reads the request stream: the start, then the blocks (in order, inside the range).
    async fn receive(
        &self,
        mut stream: impl Stream<Item = Result<v1::ValidateRangeRequest, Status>> + Unpin,
    ) -> Result<(Plan, Vec<BlockData>), Status> {
        let first = stream
            .next()
            .await
            .ok_or_else(|| invalid("empty request stream: send a ValidateRangeStart first"))??;
        let Some(v1::validate_range_request::Item::Start(start)) = first.item else {
            return Err(invalid("the first message must be a ValidateRangeStart"));
        };
        let plan = self.plan(start)?;
        let mut blocks: Vec<BlockData> = Vec::with_capacity((plan.end - plan.start + 1) as usize);
        while let Some(msg) = stream.next().await {
            let block = match msg?.item {
                Some(v1::validate_range_request::Item::Block(b)) => b,
                Some(v1::validate_range_request::Item::Start(_)) => {
                    return Err(invalid("a second ValidateRangeStart in one call"));
                }
                None => return Err(invalid("empty request message")),
            };
            let expected = plan.start + blocks.len() as u64;
            if block.number != expected || expected > plan.end {
                return Err(invalid(format!(
                    "block {} out of order: expected {expected} (range {}..={})",
                    block.number, plan.start, plan.end
                )));
            }
            let hash = convert::b256("block.hash", &block.hash)?;
            let opt = |b: Vec<u8>| (!b.is_empty()).then(|| b.into());
            blocks.push(BlockData {
                header: block.header.into(),
                body: opt(block.body),
                receipts: opt(block.receipts),
                total_difficulty: None,
                claimed: Some((block.number, hash)),
            });
        }
        let expected = plan.end - plan.start + 1;
        if blocks.len() as u64 != expected {
            return Err(invalid(format!(
                "the range {}..={} has {expected} blocks, {} were sent",
                plan.start,
                plan.end,
                blocks.len()
            )));
        }
        Ok((plan, blocks))
    }
}

/// The whole range's level: the weakest level of any of its blocks (`None` when a part of it
/// reached none).
pub fn range_level(report: &RangeReport) -> Option<VerificationLevel> {
    report.ranges.iter().map(|r| r.level).min().flatten()
}

/// The verdicts for a validation outcome.
pub fn verdicts(
    start: u64,
    end: u64,
    blocks: u64,
    outcome: &Result<RangeReport, ValidationError>,
) -> Vec<v1::ValidateRangeResponse> {
    use v1::validate_range_response::Item;
    let range = Some(v1::BlockRange { start, end });
    match outcome {
        Ok(report) => {
            let level = range_level(report).map_or(
                v1::VerificationLevel::Unspecified,
                v1::VerificationLevel::from,
            );
            vec![v1::ValidateRangeResponse {
                item: Some(Item::Done(v1::RangeVerdict {
                    range,
                    valid: true,
                    level: level as i32,
                    blocks,
                })),
            }]
        }
        Err(e) => {
            let d = e.details();
            vec![
                v1::ValidateRangeResponse {
                    item: Some(Item::Failure(v1::BlockVerdict {
                        number: e.block_number().unwrap_or(start),
                        rule: e.rule().to_string(),
                        field: d.field,
                        expected: d.expected,
                        found: d.found,
                        peer_fault: e.is_peer_fault(),
                        fault_class: v1::FaultClass::from(e.fault()) as i32,
                        rule_code: rule_to_proto(e.rule_code()) as i32,
                    })),
                },
                v1::ValidateRangeResponse {
                    item: Some(Item::Done(v1::RangeVerdict {
                        range,
                        valid: false,
                        level: v1::VerificationLevel::Unspecified as i32,
                        blocks,
                    })),
                },
            ]
        }
    }
}

fn level_label(level: Option<VerificationLevel>) -> &'static str {
    level.map_or("none", VerificationLevel::as_str)
}

#[tonic::async_trait]
impl v1::validator_server::Validator for ValidatorService {
    type ValidateRangeStream = VerdictStream;

    #[tracing::instrument(skip_all)]
    async fn validate_range(
        &self,
        request: Request<Streaming<v1::ValidateRangeRequest>>,
    ) -> Result<Response<Self::ValidateRangeStream>, Status> {
        let (plan, blocks) = match self.receive(request.into_inner()).await {
            Ok(x) => x,
            Err(status) => {
                self.metrics.ranges.with_label_values(&["error"]).inc();
                return Err(status);
            }
        };
        let Plan {
            spec,
            start,
            end,
            anchors,
        } = plan;
        let began = Instant::now();
        let count = blocks.len() as u64;
        let outcome = tokio::task::spawn_blocking(move || {
            Validator::new(spec).validate_range(&blocks, &anchors)
        })
        .await
        .map_err(|e| Status::internal(format!("validation task failed: {e}")))?;
        self.metrics.latency.observe(began.elapsed().as_secs_f64());
        match &outcome {
            Ok(report) => {
                self.metrics.ranges.with_label_values(&["valid"]).inc();
                for r in &report.ranges {
                    self.metrics
                        .blocks
                        .with_label_values(&[level_label(r.level)])
                        .inc_by(r.range.len());
                }
                tracing::info!(start, end, ranges = ?report.ranges, "range valid");
            }
            Err(e) => {
                self.metrics.ranges.with_label_values(&["invalid"]).inc();
                self.metrics.failures.with_label_values(&[e.rule()]).inc();
                tracing::warn!(start, end, error = %e, peer_fault = e.is_peer_fault(), "range invalid");
            }
        }
        let out = verdicts(start, end, count, &outcome);
        Ok(Response::new(Box::pin(tokio_stream::iter(
            out.into_iter().map(Ok),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> ValidatorService {
        let registry = Registry::new();
        ValidatorService::new(vec![], ValidatorMetrics::register(&registry).unwrap())
    }

    #[test]
    fn chains_resolve_by_name_id_or_genesis() {
        let s = service();
        let by_name = v1::ChainId {
            chain_id: 0,
            name: "Polygon".into(),
            genesis_hash: vec![],
        };
        assert_eq!(s.resolve_chain(&by_name).unwrap().chain_id, 137);
        let by_id = v1::ChainId {
            chain_id: 11_155_111,
            name: String::new(),
            genesis_hash: vec![],
        };
        assert_eq!(s.resolve_chain(&by_id).unwrap().name, "sepolia");
        let mainnet = ChainSpec::mainnet();
        let by_genesis = v1::ChainId {
            chain_id: 0,
            name: String::new(),
            genesis_hash: mainnet.genesis_hash.to_vec(),
        };
        assert_eq!(s.resolve_chain(&by_genesis).unwrap().name, "mainnet");
        let wrong = v1::ChainId {
            chain_id: 0,
            name: "mainnet".into(),
            genesis_hash: ChainSpec::polygon().genesis_hash.to_vec(),
        };
        assert_eq!(
            s.resolve_chain(&wrong).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let unknown = v1::ChainId {
            chain_id: 0,
            name: "goerli".into(),
            genesis_hash: vec![],
        };
        assert_eq!(
            s.resolve_chain(&unknown).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn failure_verdicts_name_block_rule_expected_found() {
        let e = ValidationError::BaseFee {
            number: 7,
            expected: 10,
            found: 11,
        };
        let out = verdicts(5, 9, 5, &Err(e));
        let Some(v1::validate_range_response::Item::Failure(f)) = &out[0].item else {
            panic!()
        };
        assert_eq!(
            (
                f.number,
                f.rule.as_str(),
                f.field.as_str(),
                f.expected.as_str(),
                f.found.as_str(),
                f.peer_fault
            ),
            (7, "base-fee", "baseFeePerGas", "10", "11", true)
        );
        let Some(v1::validate_range_response::Item::Done(d)) = &out[1].item else {
            panic!()
        };
        assert!(!d.valid);
    }

    #[test]
    fn plan_checks_anchor_positions() {
        let s = service();
        let mut start = v1::ValidateRangeStart {
            chain: Some(v1::ChainId {
                chain_id: 0,
                name: "mainnet".into(),
                genesis_hash: vec![],
            }),
            range: Some(v1::BlockRange { start: 10, end: 20 }),
            ..Default::default()
        };
        assert!(s.plan(start.clone()).is_ok());
        start.parent = Some(v1::BlockRef {
            number: 5,
            hash: vec![0; 32],
        });
        assert!(s.plan(start.clone()).is_err());
        start.parent = None;
        start.range = Some(v1::BlockRange {
            start: 0,
            end: MAX_RANGE_BLOCKS,
        });
        assert!(s.plan(start).is_err());
    }
}

#[cfg(test)]
mod rule_code_tests {
    use super::*;

    #[test]
    fn proto_rules_match_the_validation_rules() {
        for r in Rule::ALL {
            let wire = rule_to_proto(r);
            let name = format!(
                "VALIDATION_RULE_{}",
                r.as_str().to_uppercase().replace('-', "_")
            );
            assert_eq!(wire.as_str_name(), name, "{r}");
            assert_eq!(rule_from_proto(wire as i32), Some(r));
        }
        // No wire value without a rule, none missing.
        for code in 0..(Rule::ALL.len() as i32 + 10) {
            assert_eq!(
                v1::ValidationRule::try_from(code).is_ok() && code != 0,
                Rule::from_code(code).is_some(),
                "code {code}"
            );
        }
        assert_eq!(rule_from_proto(0), None);
    }
}

//! Validation of a downloaded unit against what it links to and the known checkpoints — by
//! the validation library in process or by the validator service — and blame for what fails.

use super::download::{Part, Tags};
use super::links::Parked;
use super::unit::Outcome;
use super::{Fetcher, UnitError};
use crate::lease::LeasedUnit;
use alloy_primitives::B256;
use hypasis_network::pool::Fault;
use hypasis_primitives::{Checkpoint, RawBlock, VerificationLevel};
use hypasis_validation::{Anchors, BlockData, CheckpointAnchor, SealedHeader, ValidationError};
use std::time::Instant;
use tracing::warn;

impl Fetcher {
    pub(super) async fn validate(
        &self,
        lease: &LeasedUnit,
        blocks: &[RawBlock],
        tags: &Tags,
        deadline: Instant,
    ) -> Result<VerificationLevel, Outcome> {
        let fault = |number: u64, rule: &str, msg: String, part: Part| {
            self.shared
                .metrics
                .validation_failures
                .with_label_values(&[rule])
                .inc();
            if let Some(peer) = tags.peer_for(number, part, blocks) {
                warn!(%peer, number, rule, "reporting invalid data");
                self.shared.pool.report(peer, Fault::Invalid);
            }
            Outcome::Failed(UnitError::Invalid {
                number,
                rule: rule.to_string(),
                message: msg,
            })
        };
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Err(Outcome::Failed(UnitError::NoBlocks));
        };
        if first.number != lease.start
            || last.number != lease.end
            || blocks.len() as u64 != lease.blocks()
        {
            return Err(Outcome::Failed(UnitError::RangeMismatch));
        }
        let mut anchors = Anchors::default();
        let mut linked = false;
        // While it waits for its link, the unit leaves its slot to others (the unit it needs
        // may have to be leased again, e.g. after its fetcher died).
        let mut parked: Option<Parked<'_>> = None;
        loop {
            let (parent, end_hash) = match self.resolve_links(lease).await {
                Ok(x) => x,
                Err(e) => return Err(Outcome::Failed(e)),
            };
            // Forward linkage: the first block's parent is the trusted parent.
            if let Some((parent_hash, header)) = parent {
                let got = SealedHeader::decode(&first.header).map(|h| h.header.parent_hash);
                match got {
                    Ok(p) if p == parent_hash => {
                        linked = true;
                        anchors.parent = header.map(|h| (h, None));
                    }
                    Ok(p) => {
                        return Err(fault(
                            first.number,
                            "parent-hash",
                            format!(
                                "block {} has parent {p}, the trusted parent is {parent_hash}",
                                first.number
                            ),
                            Part::Header,
                        ));
                    }
                    Err(e) => {
                        return Err(fault(
                            first.number,
                            "header-rlp",
                            e.to_string(),
                            Part::Header,
                        ));
                    }
                }
            }
            // Backward linkage: the last block is the trusted end.
            if let Some(h) = end_hash {
                anchors.trusted.push((lease.end, h));
                linked = true;
            }
            if linked {
                break;
            }
            // Give the memory back rather than hold it while others wait for room (the
            // neighbour we wait for may be one of them).
            if self.shared.budget.waiting() > 0 {
                return Err(Outcome::Release);
            }
            if Instant::now() >= deadline {
                return Err(Outcome::Failed(UnitError::NoLink));
            }
            parked.get_or_insert_with(|| Parked::new(&self.shared.link_waiting));
            self.link_changed().await;
        }
        drop(parked);
        // Every accepted checkpoint inside the unit (the unit's own, and any others when the
        // unit was cut before they were known), as the scheduler sent them with the lease.
        let inside: Vec<&Checkpoint> = lease
            .checkpoints
            .iter()
            .filter(|c| c.range.start >= lease.start && c.range.end <= lease.end)
            .collect();
        anchors
            .checkpoints
            .extend(inside.iter().copied().filter_map(checkpoint_anchor));
        if let Some((channel, chain)) = self.shared.config.validator_service.clone() {
            let parent = anchors.parent.as_ref().map(|(h, _)| h.hash).or(
                // A trusted parent hash without its header (from the lease).
                lease.parent_hash,
            );
            let end = anchors
                .trusted
                .iter()
                .find(|(n, _)| *n == lease.end)
                .map(|t| t.1);
            let exact = inside
                .iter()
                .copied()
                .find(|c| c.range.start == lease.start && c.range.end == lease.end);
            return match remote_validate(channel, chain, lease, blocks, parent, end, exact).await {
                Ok(Some(l)) => Ok(l),
                Ok(None) if linked => Ok(VerificationLevel::Linked),
                Ok(None) => Err(Outcome::Failed(UnitError::NoAnchor {
                    start: lease.start,
                    end: lease.end,
                })),
                Err(RemoteVerdict::Invalid {
                    number,
                    rule,
                    message,
                }) => Err(fault(number, &rule, message, Part::of(&rule))),
                Err(RemoteVerdict::Local(m)) => {
                    Err(Outcome::Failed(UnitError::ValidatorService(m)))
                }
            };
        }
        let validator = self.shared.validator.clone();
        let data: Vec<BlockData> = blocks.iter().map(BlockData::from).collect();
        let result =
            tokio::task::spawn_blocking(move || validator.validate_range(&data, &anchors)).await;
        let report = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let number = error_number(&e).unwrap_or(lease.start);
                if e.is_peer_fault() {
                    return Err(fault(number, e.rule(), e.to_string(), Part::of(e.rule())));
                }
                self.shared
                    .metrics
                    .validation_failures
                    .with_label_values(&[e.rule()])
                    .inc();
                return Err(Outcome::Failed(UnitError::Validation(e)));
            }
            Err(source) => {
                return Err(Outcome::Failed(UnitError::Task {
                    what: "validation",
                    source,
                }));
            }
        };
        let mut level: Option<VerificationLevel> = None;
        for r in &report.ranges {
            let l = match r.level {
                Some(l) => l,
                None if linked => VerificationLevel::Linked,
                None => {
                    return Err(Outcome::Failed(UnitError::NoAnchor {
                        start: r.range.start,
                        end: r.range.end,
                    }));
                }
            };
            level = Some(level.map_or(l, |x| x.min(l)));
        }
        level.ok_or(Outcome::Failed(UnitError::EmptyReport))
    }
}

/// What the validator service said against a range.
enum RemoteVerdict {
    /// The data is wrong (peer fault).
    Invalid {
        number: u64,
        rule: String,
        message: String,
    },
    /// The service failed or refused for a local reason.
    Local(String),
}

/// Streams the unit to the validator service; returns the level it reached (`None`: valid but
/// no anchor raised it).
async fn remote_validate(
    channel: tonic::transport::Channel,
    chain: hypasis_proto::v1::ChainId,
    lease: &LeasedUnit,
    blocks: &[RawBlock],
    parent: Option<B256>,
    end: Option<B256>,
    checkpoint: Option<&Checkpoint>,
) -> Result<Option<VerificationLevel>, RemoteVerdict> {
    use hypasis_proto::v1;
    let start = v1::ValidateRangeStart {
        chain: Some(chain),
        range: Some(v1::BlockRange {
            start: lease.start,
            end: lease.end,
        }),
        parent: parent.map(|h| v1::BlockRef {
            number: lease.start.saturating_sub(1),
            hash: h.to_vec(),
        }),
        trusted_end: end.map(|h| v1::BlockRef {
            number: lease.end,
            hash: h.to_vec(),
        }),
        checkpoint: checkpoint.map(v1::Checkpoint::from),
        signers: Vec::new(),
    };
    let mut items = Vec::with_capacity(blocks.len() + 1);
    items.push(v1::ValidateRangeRequest {
        item: Some(v1::validate_range_request::Item::Start(start)),
    });
    items.extend(blocks.iter().map(|b| v1::ValidateRangeRequest {
        item: Some(v1::validate_range_request::Item::Block(v1::Block::from(b))),
    }));
    let mut client = v1::validator_client::ValidatorClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let mut stream = client
        .validate_range(futures::stream::iter(items))
        .await
        .map_err(|e| RemoteVerdict::Local(e.to_string()))?
        .into_inner();
    loop {
        let msg = stream
            .message()
            .await
            .map_err(|e| RemoteVerdict::Local(e.to_string()))?;
        let Some(msg) = msg else {
            return Err(RemoteVerdict::Local(
                "stream ended without a verdict".into(),
            ));
        };
        match msg.item {
            Some(v1::validate_range_response::Item::Failure(f)) => {
                let message = format!(
                    "block {}: {} ({}): expected {}, found {}",
                    f.number, f.rule, f.field, f.expected, f.found
                );
                return Err(if f.peer_fault {
                    RemoteVerdict::Invalid {
                        number: f.number,
                        rule: f.rule,
                        message,
                    }
                } else {
                    RemoteVerdict::Local(message)
                });
            }
            Some(v1::validate_range_response::Item::Done(d)) => {
                if !d.valid {
                    return Err(RemoteVerdict::Local(
                        "range invalid without a block verdict".into(),
                    ));
                }
                // Unspecified: valid, but no anchor raised the range.
                return Ok(hypasis_proto::convert::verification_level("level", d.level).ok());
            }
            None => {}
        }
    }
}

fn checkpoint_anchor(cp: &Checkpoint) -> Option<CheckpointAnchor> {
    Some(CheckpointAnchor {
        start: cp.range.start,
        end: cp.range.end,
        root: cp.root,
    })
}

fn error_number(e: &ValidationError) -> Option<u64> {
    e.block_number()
}

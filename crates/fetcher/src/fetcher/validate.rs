//! Validation of a downloaded unit against what it links to and the known checkpoints — by
//! the validation seam (the library in process, or the validator service) — and blame for
//! what fails.

use super::download::{Part, Tags};
use super::links::Parked;
use super::unit::Outcome;
use super::{Fetcher, UnitError};
use crate::lease::LeasedUnit;
use alloy_primitives::B256;
use hypasis_network::pool::Fault;
use hypasis_primitives::{Checkpoint, FaultClass, RawBlock, VerificationLevel};
use hypasis_validator_api::{RangeRequest, Rule, SealedHeader, TrustedParent, ValidateError};
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
        let fault = |number: u64, rule: Rule, msg: String, part: Part| {
            self.shared
                .metrics
                .validation_failures
                .with_label_values(&[rule.as_str()])
                .inc();
            if let Some(peer) = tags.peer_for(number, part, blocks) {
                warn!(%peer, number, rule = rule.as_str(), "reporting invalid data");
                self.shared.pool.report(peer, Fault::Invalid);
            }
            Outcome::Failed(UnitError::Invalid {
                number,
                rule,
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
        let mut trusted_parent: Option<TrustedParent> = None;
        let mut trusted_end: Option<B256> = None;
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
                        trusted_parent = Some(TrustedParent {
                            hash: parent_hash,
                            header,
                        });
                    }
                    Ok(p) => {
                        return Err(fault(
                            first.number,
                            Rule::ParentHash,
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
                            Rule::MalformedHeader,
                            e.to_string(),
                            Part::Header,
                        ));
                    }
                }
            }
            // Backward linkage: the last block is the trusted end.
            if let Some(h) = end_hash {
                trusted_end = Some(h);
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
        let inside: Vec<Checkpoint> = lease
            .checkpoints
            .iter()
            .filter(|c| c.range.start >= lease.start && c.range.end <= lease.end)
            .cloned()
            .collect();
        let request = RangeRequest {
            blocks,
            parent: trusted_parent.as_ref(),
            trusted_end,
            checkpoints: &inside,
        };
        match self.shared.validator.validate(request).await {
            Ok(Some(level)) => Ok(level),
            Ok(None) if linked => Ok(VerificationLevel::Linked),
            Ok(None) => Err(Outcome::Failed(UnitError::NoAnchor {
                start: lease.start,
                end: lease.end,
            })),
            Err(ValidateError::Broken {
                number,
                rule,
                message,
                class: FaultClass::Peer,
            }) => Err(fault(number, rule, message, Part::of(rule.as_str()))),
            Err(e) => {
                if let ValidateError::Broken { rule, .. } = &e {
                    self.shared
                        .metrics
                        .validation_failures
                        .with_label_values(&[rule.as_str()])
                        .inc();
                }
                Err(Outcome::Failed(UnitError::Validator(e)))
            }
        }
    }
}

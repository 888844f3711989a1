//! Validating a contiguous range of blocks and the verification level each part reaches.
//!
//! [`Validator::validate_range`] runs, for an ascending contiguous run of blocks:
//! 1. per block, in parallel (rayon, in the caller's thread pool): header decoding and hashing,
//!    the standalone header rules (Bor: seal recovery), the body and receipt rules;
//! 2. in block order: parent linkage and the rules against the parent (the first block against
//!    [`Anchors::parent`] when given), total difficulty continuity, Bor signers against the
//!    validator set;
//! 3. the anchors, which decide the [`VerificationLevel`] of each block:
//!    - [`VerificationLevel::Linked`]: the range is hash-linked to a trusted hash — backward
//!      (a trusted hash at or after a block: its ancestors are fixed by the hash chain) or
//!      forward from a verified parent ([`Anchors::parent`], or a trusted hash at `first − 1`);
//!    - [`VerificationLevel::CheckpointRoot`]: a Polygon checkpoint's `[start, end]` lies in
//!      the range, its root recomputes, *and* the range is linked as above. The root commits to
//!      every block's number, time, transactions root and receipts root but not to parent
//!      hashes (nor to the other header fields), so a matching root alone does not fix the
//!      headers: with the hash linkage to a trusted block (e.g. the checkpoint's end block hash
//!      from a milestone, or the verified end of the previous checkpoint as parent) it does.
//!      A matching root on an unlinked range is reported in [`RangeReport::notes`];
//!    - [`VerificationLevel::Accumulator`]: the block is pre-merge and its epoch root — from
//!      `(hash, total difficulty)` of the whole epoch, or a verified epoch record — matches the
//!      historical accumulator (which commits to every pre-merge block hash).
//!
//!    Blocks no anchor covers pass the rules but have no level (`None`): they must not be
//!    stored as verified.
//!
//! The first failure in block order is returned.

use crate::accumulator::{EPOCH_SIZE, EpochRecord, HistoricalAccumulator, epoch_root};
use crate::bor::BorHeaderInfo;
use crate::checkpoint::{CheckpointAnchor, checkpoint_root};
use crate::error::ValidationError;
use crate::header::{SealedHeader, validate_header_against_parent, validate_header_standalone};
use crate::{body, receipts};
use alloy_primitives::{Address, B256, Bytes, U256};
use hypasis_primitives::{BlockRange, ChainSpec, Hardfork, RawBlock, VerificationLevel};
use rayon::prelude::*;

/// One block to validate: its encodings and what came with them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockData {
    /// Canonical header RLP.
    pub header: Bytes,
    /// Canonical body RLP `rlp([txs, ommers(, withdrawals)])`, when available.
    pub body: Option<Bytes>,
    /// Receipt list RLP (consensus or eth/69 slim receipts), when available.
    pub receipts: Option<Bytes>,
    /// Total difficulty up to and including this block, when known (era1).
    pub total_difficulty: Option<U256>,
    /// The number and hash the block was delivered under, checked against the header.
    pub claimed: Option<(u64, B256)>,
}

impl BlockData {
    /// A header-only block.
    pub fn header_only(header: impl Into<Bytes>) -> Self {
        Self {
            header: header.into(),
            ..Default::default()
        }
    }
}

impl From<&RawBlock> for BlockData {
    fn from(b: &RawBlock) -> Self {
        Self {
            header: b.header.clone(),
            body: Some(b.body.clone()),
            receipts: Some(b.receipts.clone()),
            total_difficulty: None,
            claimed: Some((b.number, b.hash)),
        }
    }
}

/// The trusted anchors a range is checked against.
#[derive(Clone, Debug, Default)]
pub struct Anchors {
    /// Trusted `(number, hash)` pairs (checkpoint end blocks, milestones, finalized blocks).
    pub trusted: Vec<(u64, B256)>,
    /// An already verified parent of the first block (forward linkage), with its total
    /// difficulty when known.
    pub parent: Option<(SealedHeader, Option<U256>)>,
    /// Polygon checkpoints.
    pub checkpoints: Vec<CheckpointAnchor>,
    /// The historical accumulator to check pre-merge epochs against (mainnet:
    /// [`HistoricalAccumulator::mainnet`]).
    pub accumulator: Option<&'static HistoricalAccumulator>,
    /// Epoch records (Portal `epoch-record-*.ssz`) for partially covered epochs.
    pub epoch_records: Vec<EpochRecord>,
    /// Accumulator records found in era1 files, `(epoch, root)`, checked against the
    /// recomputed epoch roots.
    pub era_accumulators: Vec<(u64, B256)>,
    /// Bor validator sets, `(from block, signers)`: a block's signer must be in the set with
    /// the largest `from block <= number`.
    pub bor_validators: Vec<(u64, Vec<Address>)>,
}

/// A run of blocks at the same verification level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelRange {
    /// The blocks.
    pub range: BlockRange,
    /// The level reached, `None` when no anchor covers them.
    pub level: Option<VerificationLevel>,
}

/// The outcome of a successful range validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeReport {
    /// Consecutive runs by level, in block order.
    pub ranges: Vec<LevelRange>,
    /// The last header (a verified parent for the next range).
    pub last: SealedHeader,
    /// Total difficulty of the last block, when known.
    pub last_total_difficulty: Option<U256>,
    /// Trusted anchors (by number) that applied to this range.
    pub used_trusted: Vec<u64>,
    /// Checkpoints that applied to this range.
    pub used_checkpoints: Vec<CheckpointAnchor>,
    /// Epochs checked against the accumulator.
    pub accumulator_epochs: Vec<u64>,
    /// Anchors that overlapped the range but could not be applied, and why.
    pub notes: Vec<String>,
}

impl RangeReport {
    /// The level of one block.
    pub fn level_of(&self, number: u64) -> Option<VerificationLevel> {
        self.ranges
            .iter()
            .find(|r| r.range.contains(number))
            .and_then(|r| r.level)
    }
}

/// A block that passed the standalone rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedBlock {
    /// The decoded header and its hash.
    pub header: SealedHeader,
    /// Bor signer and announced validators.
    pub bor: Option<BorHeaderInfo>,
}

impl CheckedBlock {
    /// The signer addresses a Bor sprint-end header announces for the next sprint (`None`
    /// on other blocks and chains).
    pub fn announced_signers(&self) -> Option<Vec<Address>> {
        let list = self.bor.as_ref()?.announced_validators.as_ref()?;
        Some(list.iter().map(|v| v.address).collect())
    }
}

/// Validates blocks of one chain.
#[derive(Clone, Debug)]
pub struct Validator {
    spec: ChainSpec,
    derive_bor_validators: bool,
}

impl Validator {
    /// A validator for `spec`. On Bor chains, validator sets announced in sprint-end headers
    /// of a range are used to check the signers of the following sprints (before Rio, when
    /// producers come from Heimdall spans instead); see [`Validator::derive_bor_validators`].
    pub fn new(spec: ChainSpec) -> Self {
        Self {
            spec,
            derive_bor_validators: true,
        }
    }

    /// Enables or disables checking Bor signers against the validator sets announced inside
    /// the range.
    pub fn derive_bor_validators(mut self, enabled: bool) -> Self {
        self.derive_bor_validators = enabled;
        self
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// Standalone validation of one block: header encoding and rules, then the body and the
    /// receipts when present. `position` is used as the block number in errors when the header
    /// does not decode and no number was claimed.
    pub fn check_block(
        &self,
        block: &BlockData,
        position: u64,
    ) -> Result<CheckedBlock, ValidationError> {
        let fallback = block.claimed.map_or(position, |(n, _)| n);
        let header =
            SealedHeader::decode(&block.header).map_err(|e| ValidationError::MalformedHeader {
                number: fallback,
                reason: e.to_string(),
            })?;
        let number = header.number();
        if let Some((claimed_number, claimed_hash)) = block.claimed {
            if claimed_number != number {
                return Err(ValidationError::NumberMismatch {
                    number: claimed_number,
                    found: number,
                });
            }
            if claimed_hash != header.hash {
                return Err(ValidationError::HashMismatch {
                    number,
                    expected: claimed_hash,
                    found: header.hash,
                });
            }
        }
        let info = validate_header_standalone(&self.spec, &header)?;
        let tx_types = match &block.body {
            Some(b) => {
                Some(body::validate_body(&self.spec, &header, block.header.len(), b)?.tx_types)
            }
            None => None,
        };
        if let Some(r) = &block.receipts {
            receipts::validate_receipts(&self.spec, &header, r, tx_types.as_deref())?;
        }
        Ok(CheckedBlock {
            header,
            bor: info.bor,
        })
    }

    /// Validates a single block against an optional verified parent (no anchors).
    pub fn validate_block(
        &self,
        block: &BlockData,
        parent: Option<&SealedHeader>,
    ) -> Result<CheckedBlock, ValidationError> {
        let checked = self.check_block(block, parent.map_or(0, |p| p.number() + 1))?;
        if let Some(p) = parent {
            validate_header_against_parent(&self.spec, &checked.header, p)?;
        }
        Ok(checked)
    }

    /// [`Validator::validate_range`] over [`RawBlock`]s (number and hash claimed, body and
    /// receipts present).
    pub fn validate_raw_blocks(
        &self,
        blocks: &[RawBlock],
        anchors: &Anchors,
    ) -> Result<RangeReport, ValidationError> {
        let data: Vec<BlockData> = blocks.iter().map(BlockData::from).collect();
        self.validate_range(&data, anchors)
    }

    /// Validates an ascending, contiguous run of blocks and reports the level each part
    /// reaches. Returns the first failure in block order.
    pub fn validate_range(
        &self,
        blocks: &[BlockData],
        anchors: &Anchors,
    ) -> Result<RangeReport, ValidationError> {
        let Some(first) = blocks.first() else {
            return Err(ValidationError::AnchorNotApplicable {
                what: "range".into(),
                reason: "no blocks".into(),
            });
        };
        let start_hint = first
            .claimed
            .map(|(n, _)| n)
            .or_else(|| SealedHeader::decode(&first.header).ok().map(|h| h.number()))
            .or_else(|| anchors.parent.as_ref().map(|(p, _)| p.number() + 1))
            .unwrap_or(0);

        // 1. Standalone rules, in parallel.
        let checked: Vec<Result<CheckedBlock, ValidationError>> = blocks
            .par_iter()
            .enumerate()
            .map(|(i, b)| self.check_block(b, start_hint.saturating_add(i as u64)))
            .collect();

        // 2. Block order: standalone failure, then parent rules, TD, Bor signers.
        let mut headers: Vec<SealedHeader> = Vec::with_capacity(blocks.len());
        let mut tds: Vec<Option<U256>> = Vec::with_capacity(blocks.len());
        let mut running_td: Option<U256> = anchors.parent.as_ref().and_then(|(_, td)| *td);
        let mut derived_set: Option<Vec<Address>> = None;
        for (i, result) in checked.into_iter().enumerate() {
            let block = result?;
            let h = &block.header;
            let number = h.number();
            let parent = match headers.last() {
                Some(p) => Some(p),
                None => anchors.parent.as_ref().map(|(p, _)| p),
            };
            if let Some(p) = parent {
                validate_header_against_parent(&self.spec, h, p)?;
            }
            // Total difficulty.
            if number == 0 {
                running_td = Some(U256::ZERO);
            } else if parent.is_none() {
                running_td = None;
            }
            let computed = running_td.map(|td| td.saturating_add(h.header.difficulty));
            let td = match (blocks[i].total_difficulty, computed) {
                (Some(given), Some(expected)) if given != expected => {
                    return Err(ValidationError::TotalDifficulty {
                        number,
                        expected,
                        found: given,
                    });
                }
                (Some(given), _) => Some(given),
                (None, c) => c,
            };
            running_td = td;
            tds.push(td);
            // Bor signers.
            if let Some(info) = &block.bor {
                let supplied = anchors
                    .bor_validators
                    .iter()
                    .filter(|(from, _)| *from <= number)
                    .max_by_key(|(from, _)| *from)
                    .map(|(_, set)| set);
                let rio = self
                    .spec
                    .is_active(Hardfork::Rio, number, h.header.timestamp);
                let set = supplied.or(derived_set.as_ref().filter(|_| !rio));
                if let Some(set) = set
                    && !set.contains(&info.signer)
                {
                    return Err(ValidationError::BorSignerNotValidator {
                        number,
                        expected: set.clone(),
                        found: info.signer,
                    });
                }
                if self.derive_bor_validators
                    && let Some(announced) = &info.announced_validators
                    && !announced.is_empty()
                {
                    derived_set = Some(announced.iter().map(|v| v.address).collect());
                }
            }
            headers.push(block.header);
        }
        let n0 = headers[0].number();
        let n1 = headers[headers.len() - 1].number();
        let len = headers.len();
        let mut levels: Vec<Option<VerificationLevel>> = vec![None; len];
        let raise = |from: u64,
                     to: u64,
                     level: VerificationLevel,
                     levels: &mut Vec<Option<VerificationLevel>>| {
            for slot in &mut levels[(from - n0) as usize..=(to - n0) as usize] {
                if slot.is_none_or(|l| l < level) {
                    *slot = Some(level);
                }
            }
        };
        let mut notes = Vec::new();

        // 3a. Hash linkage to trusted hashes.
        let mut linked = anchors.parent.is_some();
        let mut used_trusted = Vec::new();
        for &(n, hash) in &anchors.trusted {
            if n.checked_add(1) == Some(n0) {
                if headers[0].header.parent_hash != hash {
                    return Err(ValidationError::TrustedHash {
                        number: n,
                        expected: hash,
                        found: headers[0].header.parent_hash,
                    });
                }
            } else if (n0..=n1).contains(&n) {
                let found = headers[(n - n0) as usize].hash;
                if found != hash {
                    return Err(ValidationError::TrustedHash {
                        number: n,
                        expected: hash,
                        found,
                    });
                }
            } else {
                continue;
            }
            linked = true;
            used_trusted.push(n);
        }
        if linked {
            raise(n0, n1, VerificationLevel::Linked, &mut levels);
        }

        // 3b. Polygon checkpoints.
        let mut used_checkpoints = Vec::new();
        for cp in &anchors.checkpoints {
            if cp.start > cp.end {
                notes.push(format!(
                    "checkpoint {}..={}: start after end",
                    cp.start, cp.end
                ));
                continue;
            }
            if cp.start >= n0 && cp.end <= n1 {
                let slice = &headers[(cp.start - n0) as usize..=(cp.end - n0) as usize];
                let found = checkpoint_root(slice.par_iter().map(|h| &h.header));
                if found != cp.root {
                    return Err(ValidationError::CheckpointRoot {
                        start: cp.start,
                        end: cp.end,
                        expected: cp.root,
                        found,
                    });
                }
                used_checkpoints.push(*cp);
                if linked {
                    raise(
                        cp.start,
                        cp.end,
                        VerificationLevel::CheckpointRoot,
                        &mut levels,
                    );
                } else {
                    notes.push(format!(
                        "checkpoint {}..={}: the root matches, but the range is not hash-linked \
                         to a trusted block (give the end block's hash or a verified parent), so \
                         it is not raised to checkpoint-root",
                        cp.start, cp.end
                    ));
                }
            } else if cp.start <= n1 && cp.end >= n0 {
                notes.push(format!(
                    "checkpoint {}..={} is only partly inside blocks {n0}..={n1}; not applied",
                    cp.start, cp.end
                ));
            }
        }

        // 3c. The pre-merge accumulator.
        let mut accumulator_epochs = Vec::new();
        if let Some(acc) = anchors.accumulator {
            let last_pow = acc.last_block();
            if n0 <= last_pow {
                let top = n1.min(last_pow);
                for epoch in n0 / EPOCH_SIZE..=top / EPOCH_SIZE {
                    let e_start = epoch * EPOCH_SIZE;
                    let e_end = (e_start + EPOCH_SIZE - 1).min(last_pow);
                    let (c_start, c_end) = (e_start.max(n0), e_end.min(n1));
                    let covered = c_start..=c_end;
                    let idx = |n: u64| (n - n0) as usize;
                    let full = c_start == e_start && c_end == e_end;
                    if full && covered.clone().all(|n| tds[idx(n)].is_some()) {
                        let records: Vec<(B256, U256)> = covered
                            .clone()
                            .map(|n| (headers[idx(n)].hash, tds[idx(n)].unwrap_or_default()))
                            .collect();
                        let computed = epoch_root(&records);
                        for &(_, root) in
                            anchors.era_accumulators.iter().filter(|(e, _)| *e == epoch)
                        {
                            if root != computed {
                                return Err(ValidationError::EraAccumulatorRecord {
                                    epoch,
                                    expected: computed,
                                    found: root,
                                });
                            }
                        }
                        acc.check_epoch(epoch, computed)?;
                    } else if let Some(record) =
                        anchors.epoch_records.iter().find(|r| r.epoch == epoch)
                    {
                        acc.check_epoch(epoch, record.root())?;
                        for n in covered.clone() {
                            let Some(&(hash, td)) = record.records.get((n - e_start) as usize)
                            else {
                                return Err(ValidationError::AnchorNotApplicable {
                                    what: format!("epoch record {epoch}"),
                                    reason: format!("has no entry for block {n}"),
                                });
                            };
                            let found = headers[idx(n)].hash;
                            if found != hash {
                                return Err(ValidationError::EpochRecordHash {
                                    number: n,
                                    expected: hash,
                                    found,
                                });
                            }
                            if let Some(given) = tds[idx(n)]
                                && given != td
                            {
                                return Err(ValidationError::TotalDifficulty {
                                    number: n,
                                    expected: td,
                                    found: given,
                                });
                            }
                        }
                    } else {
                        notes.push(format!(
                            "epoch {epoch}: blocks {c_start}..={c_end} not checked against the \
                             accumulator (needs the whole epoch {e_start}..={e_end} with total \
                             difficulties, or its epoch record)"
                        ));
                        continue;
                    }
                    raise(c_start, c_end, VerificationLevel::Accumulator, &mut levels);
                    accumulator_epochs.push(epoch);
                }
            }
        }

        let mut ranges: Vec<LevelRange> = Vec::new();
        for (i, level) in levels.iter().enumerate() {
            let n = n0 + i as u64;
            match ranges.last_mut() {
                Some(last) if last.level == *level && last.range.end + 1 == n => last.range.end = n,
                _ => ranges.push(LevelRange {
                    range: BlockRange::single(n),
                    level: *level,
                }),
            }
        }
        Ok(RangeReport {
            ranges,
            last: headers.pop().expect("non-empty"),
            last_total_difficulty: tds.last().copied().flatten(),
            used_trusted,
            used_checkpoints,
            accumulator_epochs,
            notes,
        })
    }
}

//! Header rules: standalone (one header and the fork schedule) and against the parent.
//!
//! Ethereum, per fork (facts from the yellow paper, the EIPs and geth's
//! `consensus/{ethash,beacon,misc}`):
//! - always: extra-data ≤ 32 bytes; gas limit in `[5000, 2^63 − 1]`; gas used ≤ gas limit;
//!   number = parent + 1; parent hash = parent's hash; timestamp > parent's; gas limit within
//!   parent/1024 of the parent's (parent doubled at the London block);
//! - DAO (mainnet): the 10 blocks from 1,920,000 carry `dao-hard-fork` as extra-data;
//! - London: base fee present and equal to the EIP-1559 value (1 gwei at the fork block);
//! - proof of work (before the merge): difficulty ≠ 0. The PoW seal (ethash) itself is *not*
//!   re-verified: pre-merge history is anchored by hash linkage to trusted hashes and by the
//!   historical accumulator, which commits to every pre-merge block hash, so a forged header
//!   cannot get in even with a valid-looking seal, and checking ethash would need the
//!   multi-GB DAG for no added security;
//! - Paris (the merge): difficulty 0, nonce 0, empty ommers;
//! - Shanghai: withdrawals root present; Cancun: blob gas used / excess blob gas (computed from
//!   the parent under the fork's blob schedule) and parent beacon root present; Prague:
//!   requests hash present. Each field is absent before its fork.
//!
//! Bor (Polygon PoS, facts from Bor's `consensus/bor`): extra-data layout and seal (see
//! [`crate::bor`]), zero mix digest, empty ommers, no withdrawals root, no requests hash, base
//! fee with Bor's parameters, timestamp ≥ parent's + the block period. The base fee, per fork
//! of the header (Bor `consensus/misc/eip1559/eip1559.go`, PIP-79, PIP-84):
//! - before Lisovo: exactly the value computed from the parent ([`expected_base_fee`]);
//! - from Lisovo: within 5 % (at least 1 wei) of the parent's base fee
//!   ([`ValidationError::BaseFeeChange`]);
//! - from Giugliano, in addition: the extra-data declares `GasTarget` and
//!   `BaseFeeChangeDenominator` (Bor refuses a header without them), and the base fee must be
//!   the one those declared values give from the parent, capped at 5 %
//!   ([`ValidationError::BorGiuglianoBaseFee`]). Bor's `verifyHeader` only checks that the two
//!   fields are present, but its producer writes them from the same parent values its
//!   `CalcBaseFee` uses for the header's base fee, so every header Bor produces satisfies the
//!   rule (until the unscheduled reserved-blockspace fork, which nets reserved gas out of the
//!   computation).

use crate::bor::{self, BorHeaderInfo};
use crate::error::{HeaderField, ValidationError};
use crate::gas::{self, BaseFeeParams, BlobParams};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use hypasis_primitives::chain::{BorConfig, ConsensusKind, ForkCondition};
use hypasis_primitives::{ChainSpec, Hardfork};

/// Largest extra-data on Ethereum.
pub const MAX_EXTRA_DATA: usize = 32;
/// Extra-data of the DAO fork blocks.
pub const DAO_EXTRA_DATA: &[u8] = b"dao-hard-fork";
/// Number of blocks from the DAO fork block that must carry [`DAO_EXTRA_DATA`].
pub const DAO_EXTRA_RANGE: u64 = 10;

/// A decoded header with the hash of its canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedHeader {
    /// The header.
    pub header: Header,
    /// `keccak256` of the header RLP it was decoded from.
    pub hash: B256,
}

impl SealedHeader {
    /// Decodes canonical header RLP (exactly one item) and hashes it.
    pub fn decode(raw: &[u8]) -> Result<Self, crate::error::DecodeError> {
        let mut buf = raw;
        let header = Header::decode(&mut buf).map_err(|e| e.to_string())?;
        if !buf.is_empty() {
            return Err(format!("{} trailing bytes", buf.len()).into());
        }
        Ok(Self {
            header,
            hash: keccak256(raw),
        })
    }

    /// Seals a header by encoding and hashing it.
    pub fn seal_slow(header: Header) -> Self {
        let hash = header.hash_slow();
        Self { header, hash }
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }
}

fn active(spec: &ChainSpec, fork: Hardfork, h: &Header) -> bool {
    spec.is_active(fork, h.number, h.timestamp)
}

/// Whether a header is proof-of-stake (after the merge) on an Ethereum chain.
///
/// With a known merge block this is by number; when the chain's merge block is not known
/// (custom genesis with a terminal total difficulty only), a header with zero difficulty — or
/// after Shanghai — counts as proof-of-stake.
pub fn is_post_merge(spec: &ChainSpec, h: &Header) -> bool {
    match spec.fork_condition(Hardfork::Paris) {
        ForkCondition::Ttd {
            activation_block: Some(b),
            ..
        } => h.number >= b,
        ForkCondition::Ttd {
            activation_block: None,
            fork_id_block,
            ..
        } => {
            h.difficulty.is_zero()
                || fork_id_block.is_some_and(|b| h.number >= b)
                || active(spec, Hardfork::Shanghai, h)
        }
        c => c.is_active_at(h.number, h.timestamp),
    }
}

/// The blob schedule for a header, `None` before Cancun (and on Bor).
pub fn blob_params(spec: &ChainSpec, h: &Header) -> Result<Option<BlobParams>, ValidationError> {
    if spec.is_bor() || !active(spec, Hardfork::Cancun, h) {
        return Ok(None);
    }
    for fork in [
        Hardfork::Amsterdam,
        Hardfork::Bpo5,
        Hardfork::Bpo4,
        Hardfork::Bpo3,
    ] {
        if active(spec, fork, h) {
            return Err(ValidationError::UnsupportedFork {
                number: h.number,
                fork,
            });
        }
    }
    Ok(Some(if active(spec, Hardfork::Bpo2, h) {
        BlobParams::BPO2
    } else if active(spec, Hardfork::Bpo1, h) {
        BlobParams::BPO1
    } else if active(spec, Hardfork::Osaka, h) {
        BlobParams::OSAKA
    } else if active(spec, Hardfork::Prague, h) {
        BlobParams::PRAGUE
    } else {
        BlobParams::CANCUN
    }))
}

fn presence<T>(
    number: u64,
    value: &Option<T>,
    field: HeaderField,
    fork: Hardfork,
    required: bool,
) -> Result<(), ValidationError> {
    match (value.is_some(), required) {
        (false, true) => Err(ValidationError::MissingField {
            number,
            field,
            fork,
        }),
        (true, false) => Err(ValidationError::UnexpectedField {
            number,
            field,
            fork: Some(fork),
        }),
        _ => Ok(()),
    }
}

fn absent<T>(number: u64, value: &Option<T>, field: HeaderField) -> Result<(), ValidationError> {
    if value.is_some() {
        return Err(ValidationError::UnexpectedField {
            number,
            field,
            fork: None,
        });
    }
    Ok(())
}

/// What standalone validation learned about a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Bor: signer and announced validators.
    pub bor: Option<BorHeaderInfo>,
}

fn check_gas_fields(h: &Header) -> Result<(), ValidationError> {
    let number = h.number;
    if h.gas_limit > gas::MAX_GAS_LIMIT {
        return Err(ValidationError::GasLimitTooHigh {
            number,
            max: gas::MAX_GAS_LIMIT,
            found: h.gas_limit,
        });
    }
    if h.gas_limit < gas::MIN_GAS_LIMIT && number > 0 {
        return Err(ValidationError::GasLimitTooLow {
            number,
            min: gas::MIN_GAS_LIMIT,
            found: h.gas_limit,
        });
    }
    if h.gas_used > h.gas_limit {
        return Err(ValidationError::GasUsedExceedsLimit {
            number,
            limit: h.gas_limit,
            found: h.gas_used,
        });
    }
    Ok(())
}

/// Rules that need only the header and the chain spec.
pub fn validate_header_standalone(
    spec: &ChainSpec,
    sealed: &SealedHeader,
) -> Result<HeaderInfo, ValidationError> {
    let h = &sealed.header;
    let number = h.number;
    check_gas_fields(h)?;
    let london = active(spec, Hardfork::London, h);
    presence(
        number,
        &h.base_fee_per_gas,
        HeaderField::BaseFee,
        Hardfork::London,
        london,
    )?;

    if let ConsensusKind::Bor(bor_cfg) = &spec.consensus {
        if h.ommers_hash != EMPTY_OMMER_ROOT_HASH {
            return Err(ValidationError::OmmersNotEmpty {
                number,
                expected: EMPTY_OMMER_ROOT_HASH,
                found: h.ommers_hash,
            });
        }
        absent(number, &h.withdrawals_root, HeaderField::WithdrawalsRoot)?;
        absent(number, &h.requests_hash, HeaderField::RequestsHash)?;
        let info = bor::check_header(spec, bor_cfg, h)?;
        return Ok(HeaderInfo { bor: Some(info) });
    }

    if !matches!(spec.consensus, ConsensusKind::Clique { .. })
        && h.extra_data.len() > MAX_EXTRA_DATA
    {
        return Err(ValidationError::ExtraDataTooLong {
            number,
            max: MAX_EXTRA_DATA,
            found: h.extra_data.len(),
        });
    }
    if spec.forks.dao_fork_support
        && let Some(dao) = spec.fork_condition(Hardfork::Dao).block()
        && number >= dao
        && number - dao < DAO_EXTRA_RANGE
        && h.extra_data.as_ref() != DAO_EXTRA_DATA
    {
        return Err(ValidationError::DaoExtraData {
            number,
            expected: DAO_EXTRA_DATA.to_vec(),
            found: h.extra_data.to_vec(),
        });
    }
    if is_post_merge(spec, h) {
        if !h.difficulty.is_zero() {
            return Err(ValidationError::PostMergeDifficulty {
                number,
                found: h.difficulty,
            });
        }
        if !h.nonce.is_zero() {
            return Err(ValidationError::PostMergeNonce {
                number,
                found: u64::from_be_bytes(h.nonce.0),
            });
        }
        if h.ommers_hash != EMPTY_OMMER_ROOT_HASH {
            return Err(ValidationError::OmmersNotEmpty {
                number,
                expected: EMPTY_OMMER_ROOT_HASH,
                found: h.ommers_hash,
            });
        }
    } else if h.difficulty.is_zero()
        && number > 0
        && matches!(spec.consensus, ConsensusKind::Ethash { .. })
    {
        return Err(ValidationError::PowDifficultyZero { number });
    }
    let shanghai = active(spec, Hardfork::Shanghai, h);
    presence(
        number,
        &h.withdrawals_root,
        HeaderField::WithdrawalsRoot,
        Hardfork::Shanghai,
        shanghai,
    )?;
    let blob = blob_params(spec, h)?;
    let cancun = blob.is_some();
    presence(
        number,
        &h.blob_gas_used,
        HeaderField::BlobGasUsed,
        Hardfork::Cancun,
        cancun,
    )?;
    presence(
        number,
        &h.excess_blob_gas,
        HeaderField::ExcessBlobGas,
        Hardfork::Cancun,
        cancun,
    )?;
    presence(
        number,
        &h.parent_beacon_block_root,
        HeaderField::ParentBeaconBlockRoot,
        Hardfork::Cancun,
        cancun,
    )?;
    let prague = active(spec, Hardfork::Prague, h);
    presence(
        number,
        &h.requests_hash,
        HeaderField::RequestsHash,
        Hardfork::Prague,
        prague,
    )?;
    if let (Some(params), Some(used)) = (blob, h.blob_gas_used) {
        if used > params.max_blob_gas() {
            return Err(ValidationError::BlobGasUsedTooHigh {
                number,
                max: params.max_blob_gas(),
                found: used,
            });
        }
        if !used.is_multiple_of(gas::GAS_PER_BLOB) {
            return Err(ValidationError::BlobGasUsedNotMultiple {
                number,
                per_blob: gas::GAS_PER_BLOB,
                found: used,
            });
        }
    }
    Ok(HeaderInfo { bor: None })
}

/// Bor's base fee parameters for a child of `parent`.
pub fn bor_base_fee_params(spec: &ChainSpec, parent: &Header) -> BaseFeeParams {
    let at = |fork| active(spec, fork, parent);
    let denominator = if at(Hardfork::Bhilai) {
        gas::BOR_DENOMINATOR_BHILAI
    } else if at(Hardfork::Delhi) {
        gas::BOR_DENOMINATOR_DELHI
    } else {
        gas::BASE_FEE_CHANGE_DENOMINATOR
    };
    let target_percent = at(Hardfork::Dandeli).then_some(gas::BOR_TARGET_PERCENT_DANDELI);
    BaseFeeParams {
        denominator,
        target_percent,
    }
}

/// The base fee a London header with this parent must have (`None` when only a bound applies:
/// Bor from Lisovo).
pub fn expected_base_fee(spec: &ChainSpec, parent: &Header, child: &Header) -> Option<u128> {
    if spec.is_bor() && active(spec, Hardfork::Lisovo, child) {
        return None;
    }
    let Some(parent_base_fee) = parent
        .base_fee_per_gas
        .filter(|_| active(spec, Hardfork::London, parent))
    else {
        return Some(u128::from(gas::INITIAL_BASE_FEE));
    };
    let params = if spec.is_bor() {
        bor_base_fee_params(spec, parent)
    } else {
        BaseFeeParams::ETHEREUM
    };
    Some(gas::next_base_fee(
        params,
        parent_base_fee,
        parent.gas_used,
        parent.gas_limit,
    ))
}

fn bor_period(bor: &BorConfig, number: u64) -> u64 {
    bor.period_at(number).unwrap_or(0)
}

/// Rules that relate a header to its parent.
pub fn validate_header_against_parent(
    spec: &ChainSpec,
    sealed: &SealedHeader,
    parent: &SealedHeader,
) -> Result<(), ValidationError> {
    let h = &sealed.header;
    let p = &parent.header;
    let number = h.number;
    if h.parent_hash != parent.hash {
        return Err(ValidationError::ParentHash {
            number,
            expected: parent.hash,
            found: h.parent_hash,
        });
    }
    if p.number.checked_add(1) != Some(number) {
        return Err(ValidationError::NumberContinuity {
            number,
            expected: p.number.saturating_add(1),
        });
    }
    let min_time = match &spec.consensus {
        ConsensusKind::Bor(bor) => p.timestamp.saturating_add(bor_period(bor, number)),
        ConsensusKind::Clique { period, .. } => p.timestamp.saturating_add(*period),
        ConsensusKind::Ethash { .. } => p.timestamp.saturating_add(1),
    };
    if h.timestamp < min_time {
        return Err(ValidationError::Timestamp {
            number,
            min: min_time,
            found: h.timestamp,
        });
    }
    let london = active(spec, Hardfork::London, h);
    let parent_limit = if london && !active(spec, Hardfork::London, p) {
        p.gas_limit.saturating_mul(gas::ELASTICITY_MULTIPLIER)
    } else {
        p.gas_limit
    };
    if let Err(bound) = gas::gas_limit_within_bound(parent_limit, h.gas_limit) {
        return Err(ValidationError::GasLimitChange {
            number,
            parent: parent_limit,
            bound,
            found: h.gas_limit,
        });
    }
    if london && let Some(found) = h.base_fee_per_gas {
        match expected_base_fee(spec, p, h) {
            Some(expected) => {
                if u128::from(found) != expected {
                    return Err(ValidationError::BaseFee {
                        number,
                        expected: u64::try_from(expected).unwrap_or(u64::MAX),
                        found,
                    });
                }
            }
            None => {
                let parent_fee = p.base_fee_per_gas.unwrap_or(gas::INITIAL_BASE_FEE);
                let max_change = gas::bor_max_base_fee_change(parent_fee);
                if found.abs_diff(parent_fee) > max_change {
                    return Err(ValidationError::BaseFeeChange {
                        number,
                        parent: parent_fee,
                        max_change,
                        found,
                    });
                }
                if let Some(params) = bor::giugliano_params(spec, h)? {
                    let expected = gas::bor_base_fee_declared(
                        parent_fee,
                        p.gas_used,
                        params.gas_target,
                        params.denominator,
                        active(spec, Hardfork::Lisovo, p),
                    );
                    if u128::from(found) != expected {
                        return Err(ValidationError::BorGiuglianoBaseFee {
                            number,
                            gas_target: params.gas_target,
                            denominator: params.denominator,
                            expected: u64::try_from(expected).unwrap_or(u64::MAX),
                            found,
                        });
                    }
                }
            }
        }
    }
    if let (Some(params), Some(found)) = (blob_params(spec, h)?, h.excess_blob_gas) {
        let expected = params.next_excess_blob_gas(
            p.excess_blob_gas.unwrap_or(0),
            p.blob_gas_used.unwrap_or(0),
            p.base_fee_per_gas.unwrap_or(0),
        );
        if found != expected {
            return Err(ValidationError::ExcessBlobGas {
                number,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// Helper for tests and tools: re-encodes a header.
pub fn encode_header(header: &Header) -> Bytes {
    let mut buf = Vec::new();
    alloy_rlp::Encodable::encode(header, &mut buf);
    buf.into()
}

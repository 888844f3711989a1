//! Bor (Polygon PoS) header layout and seal.
//!
//! Facts (not code) from Bor `consensus/bor/bor.go` and `core/types/block.go`:
//! - extra-data = 32-byte vanity ‖ middle ‖ 65-byte seal (`r ‖ s ‖ v`);
//! - before Cancun (Napoli on Polygon) the middle *is* the validator bytes; from Cancun it is
//!   `rlp(BlockExtraData { ValidatorBytes, TxDependency, GasTarget?, BaseFeeChangeDenominator? })`
//!   and a middle that does not decode counts as no validator bytes (Bor's behaviour);
//! - validator bytes are `address(20) ‖ power(20)` entries, present exactly at sprint ends
//!   (`(n + 1) % sprint(n) == 0`);
//! - the seal signs `keccak256(rlp([parentHash, ommersHash, coinbase, stateRoot, txRoot,
//!   receiptsRoot, bloom, difficulty, number, gasLimit, gasUsed, time, extra[..len-65],
//!   mixDigest, nonce (, baseFee from Jaipur when present)]))`; later header fields are not
//!   signed; the signature must be canonical (`v ∈ {0,1}`, `0 < r < n`, `0 < s <= n/2`).

use crate::error::ValidationError;
use crate::rlp::{Item, RlpError, next_item, single_item};
use alloy_consensus::Header;
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use hypasis_primitives::{ChainSpec, Hardfork, chain::BorConfig};
use secp256k1::Message;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};

/// Vanity prefix length.
pub const EXTRA_VANITY: usize = 32;
/// Seal suffix length.
pub const EXTRA_SEAL: usize = 65;
/// Bytes per validator entry (address + power).
pub const VALIDATOR_BYTES: usize = 40;

/// secp256k1 group order n.
const SECP256K1_N: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// One entry of a validator set announced in a sprint-end header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BorValidator {
    /// Signer address.
    pub address: Address,
    /// Voting power (20-byte big-endian in the header).
    pub power: U256,
}

/// Whether `number` ends a sprint (Bor's `IsSprintStart(number + 1, sprint(number))`).
pub fn is_sprint_end(bor: &BorConfig, number: u64) -> bool {
    match (bor.sprint_at(number), number.checked_add(1)) {
        (Some(sprint), Some(next)) if sprint != 0 => next.is_multiple_of(sprint),
        _ => false,
    }
}

/// The middle part of the extra-data (between vanity and seal); `None` if too short.
fn middle(extra: &[u8]) -> Option<&[u8]> {
    if extra.len() < EXTRA_VANITY + EXTRA_SEAL {
        return None;
    }
    Some(&extra[EXTRA_VANITY..extra.len() - EXTRA_SEAL])
}

/// Why an extra-data middle is not a valid `BlockExtraData` (Bor `core/types/block.go`:
/// `{ValidatorBytes []byte, TxDependency [][]uint64, GasTarget *uint64 (optional),
/// BaseFeeChangeDenominator *uint64 (optional)}`, decoded by Bor's strict RLP decoder).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockExtraError {
    /// The middle is not exactly one RLP list.
    #[error("not one RLP list: {0}")]
    NotAList(String),
    /// Fewer than the two mandatory or more than the four known fields.
    #[error(
        "{0} fields, expected 2 to 4 (validator bytes, tx dependency, gas target, base fee \
         change denominator)"
    )]
    FieldCount(usize),
    /// `ValidatorBytes` is not an RLP string.
    #[error("validator bytes: {0}")]
    ValidatorBytes(String),
    /// `TxDependency` is not a list of lists of canonical integers.
    #[error("tx dependency: {0}")]
    TxDependency(String),
    /// `GasTarget` is not a canonical `uint64`.
    #[error("gas target: {0}")]
    GasTarget(String),
    /// `BaseFeeChangeDenominator` is not a canonical `uint64`.
    #[error("base fee change denominator: {0}")]
    BaseFeeChangeDenominator(String),
    /// A declared `GasTarget` of 0 (no base fee follows from it; Bor's producer never writes
    /// one: it is a percentage of a gas limit of at least 5000).
    #[error("gas target 0")]
    ZeroGasTarget,
    /// A declared `BaseFeeChangeDenominator` of 0 (Bor's producer never writes one).
    #[error("base fee change denominator 0")]
    ZeroDenominator,
}

impl hypasis_primitives::Fault for BlockExtraError {
    /// A malformed `BlockExtraData` was sealed into the header by its producer: the sender's
    /// fault (refetch elsewhere).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        hypasis_primitives::FaultClass::Peer
    }
}

/// A decoded `BlockExtraData` (borrowing the extra-data; nothing is allocated per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockExtra<'a> {
    /// `ValidatorBytes` (40 bytes per validator at sprint ends before Rio, else empty).
    pub validator_bytes: &'a [u8],
    /// Number of `TxDependency` entries (one per transaction when present).
    pub tx_dependencies: usize,
    /// Giugliano: the gas target the producer used for this block's base fee.
    pub gas_target: Option<u64>,
    /// Giugliano: the base fee change denominator the producer used.
    pub base_fee_change_denominator: Option<u64>,
}

/// Why a `TxDependency` entry does not decode (the Display text is the
/// [`BlockExtraError::TxDependency`] message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DependencyError {
    /// An item header or index integer does not decode.
    #[error(transparent)]
    Rlp(#[from] RlpError),
    /// An entry is a string, not a list of indices.
    #[error("a string")]
    NotAList,
    /// The item at `index` of the list being walked.
    #[error("item {index}: {source}")]
    Item {
        /// Position in the list.
        index: usize,
        /// What is wrong with it.
        source: Box<DependencyError>,
    },
}

/// Walks the items of a list payload without collecting them.
fn for_each_item<'a>(
    mut payload: &'a [u8],
    mut f: impl FnMut(Item<'a>) -> Result<(), DependencyError>,
) -> Result<usize, DependencyError> {
    let mut count = 0usize;
    while !payload.is_empty() {
        let at = |e: DependencyError| DependencyError::Item {
            index: count,
            source: Box::new(e),
        };
        let item = next_item(&mut payload).map_err(|e| at(RlpError::from(e).into()))?;
        f(item).map_err(at)?;
        count += 1;
    }
    Ok(count)
}

/// Decodes an extra-data middle as `BlockExtraData` the way Bor's RLP decoder does: strict
/// canonical form, exactly consumed, two mandatory and two optional fields. The work and
/// memory are bounded by the input length (the dependency lists are walked, not collected).
pub fn decode_block_extra(middle: &[u8]) -> Result<BlockExtra<'_>, BlockExtraError> {
    let outer = single_item(middle).map_err(|e| BlockExtraError::NotAList(e.to_string()))?;
    if !outer.is_list {
        return Err(BlockExtraError::NotAList("a string".into()));
    }
    let mut fields: [Option<Item<'_>>; 4] = [None; 4];
    let mut payload = outer.payload;
    let mut count = 0usize;
    while !payload.is_empty() {
        let item = next_item(&mut payload).map_err(|e| BlockExtraError::NotAList(e.to_string()))?;
        if count < fields.len() {
            fields[count] = Some(item);
        }
        count += 1;
    }
    let [Some(validators), Some(deps), gas_target, denominator] = fields else {
        return Err(BlockExtraError::FieldCount(count));
    };
    if count > 4 {
        return Err(BlockExtraError::FieldCount(count));
    }
    let validator_bytes = validators
        .bytes()
        .map_err(|e| BlockExtraError::ValidatorBytes(e.to_string()))?;
    if !deps.is_list {
        return Err(BlockExtraError::TxDependency("a string".into()));
    }
    let tx_dependencies = for_each_item(deps.payload, |dep| {
        if !dep.is_list {
            return Err(DependencyError::NotAList);
        }
        for_each_item(dep.payload, |index| Ok(index.uint().map(drop)?)).map(drop)
    })
    .map_err(|e| BlockExtraError::TxDependency(e.to_string()))?;
    let gas_target = gas_target
        .map(|i| i.uint())
        .transpose()
        .map_err(|e| BlockExtraError::GasTarget(e.to_string()))?;
    let base_fee_change_denominator = denominator
        .map(|i| i.uint())
        .transpose()
        .map_err(|e| BlockExtraError::BaseFeeChangeDenominator(e.to_string()))?;
    Ok(BlockExtra {
        validator_bytes,
        tx_dependencies,
        gas_target,
        base_fee_change_denominator,
    })
}

/// The validator bytes of a Bor header (empty when there are none, or when the post-Cancun
/// middle does not decode, as in Bor). `None` if the extra-data is too short.
pub fn validator_bytes<'a>(spec: &ChainSpec, header: &'a Header) -> Option<&'a [u8]> {
    let middle = middle(&header.extra_data)?;
    if spec.is_active(Hardfork::Cancun, header.number, header.timestamp) {
        Some(
            decode_block_extra(middle)
                .map(|e| e.validator_bytes)
                .unwrap_or(&[]),
        )
    } else {
        Some(middle)
    }
}

/// The EIP-1559 parameters a Giugliano header declares for its own base fee (PIP-84; Bor's
/// `Prepare` writes `GasTarget = CalcGasTarget(parent)` and `BaseFeeChangeDenominator(parent)`,
/// the values its `CalcBaseFee(parent)` uses for the header's base fee).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GiuglianoParams {
    /// Gas target of the parent, in gas.
    pub gas_target: u64,
    /// Base fee change denominator.
    pub denominator: u64,
}

/// From Giugliano: the header's declared base fee parameters, strictly decoded (Bor refuses a
/// Giugliano header whose extra-data lacks either field: `errMissingGiuglianoFields`).
/// `Ok(None)` before Giugliano.
pub fn giugliano_params(
    spec: &ChainSpec,
    header: &Header,
) -> Result<Option<GiuglianoParams>, ValidationError> {
    let number = header.number;
    if !spec.is_active(Hardfork::Giugliano, number, header.timestamp) {
        return Ok(None);
    }
    let Some(middle) = middle(&header.extra_data) else {
        return Err(ValidationError::BorExtraDataTooShort {
            number,
            min: EXTRA_VANITY + EXTRA_SEAL,
            found: header.extra_data.len(),
        });
    };
    let extra = decode_block_extra(middle)
        .map_err(|reason| ValidationError::BorBlockExtraData { number, reason })?;
    let (Some(gas_target), Some(denominator)) =
        (extra.gas_target, extra.base_fee_change_denominator)
    else {
        return Err(ValidationError::BorMissingGiuglianoFields {
            number,
            gas_target: extra.gas_target.is_some(),
            denominator: extra.base_fee_change_denominator.is_some(),
        });
    };
    let zero = |reason| ValidationError::BorBlockExtraData { number, reason };
    if gas_target == 0 {
        return Err(zero(BlockExtraError::ZeroGasTarget));
    }
    if denominator == 0 {
        return Err(zero(BlockExtraError::ZeroDenominator));
    }
    Ok(Some(GiuglianoParams {
        gas_target,
        denominator,
    }))
}

/// Parses validator bytes (a multiple of 40) into entries.
pub fn parse_validators(bytes: &[u8]) -> Option<Vec<BorValidator>> {
    if !bytes.len().is_multiple_of(VALIDATOR_BYTES) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(VALIDATOR_BYTES)
            .map(|c| BorValidator {
                address: Address::from_slice(&c[..20]),
                power: U256::from_be_slice(&c[20..]),
            })
            .collect(),
    )
}

/// The seal hash: the header hash without the seal (see the module docs).
pub fn seal_hash(spec: &ChainSpec, header: &Header) -> Option<B256> {
    let extra = &header.extra_data;
    if extra.len() < EXTRA_SEAL {
        return None;
    }
    let jaipur = spec.is_active(Hardfork::Jaipur, header.number, header.timestamp);
    let signed = Header {
        extra_data: extra.slice(..extra.len() - EXTRA_SEAL),
        base_fee_per_gas: header.base_fee_per_gas.filter(|_| jaipur),
        withdrawals_root: None,
        blob_gas_used: None,
        excess_blob_gas: None,
        parent_beacon_block_root: None,
        requests_hash: None,
        ..header.clone()
    };
    let mut buf = Vec::with_capacity(header.length());
    signed.encode(&mut buf);
    Some(keccak256(&buf))
}

/// Seals `header` with `key` (the inverse of [`recover_signer`]): the extra-data's last 65
/// bytes become the signature of [`seal_hash`]. `None` when the extra-data has no room for a
/// seal. The devnet seals its blocks with it; tests forge seals with it.
pub fn seal(spec: &ChainSpec, header: &mut Header, key: &secp256k1::SecretKey) -> Option<()> {
    let digest = seal_hash(spec, header)?;
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(digest.0),
        key,
    );
    let (recid, rs) = sig.serialize_compact();
    let mut extra = header.extra_data.to_vec();
    let at = extra.len() - EXTRA_SEAL;
    extra[at..at + 64].copy_from_slice(&rs);
    extra[at + 64] = u8::from(recid);
    header.extra_data = extra.into();
    Some(())
}

/// Recovers the signer of a Bor header from its seal.
pub fn recover_signer(spec: &ChainSpec, header: &Header) -> Result<Address, ValidationError> {
    let number = header.number;
    let bad = |reason: String| ValidationError::BorSeal { number, reason };
    let extra = &header.extra_data;
    if extra.len() < EXTRA_SEAL {
        return Err(bad(format!(
            "extra-data of {} bytes has no 65-byte seal",
            extra.len()
        )));
    }
    let sig = &extra[extra.len() - EXTRA_SEAL..];
    let r = U256::from_be_slice(&sig[..32]);
    let s = U256::from_be_slice(&sig[32..64]);
    let v = sig[64];
    if v > 1 {
        return Err(bad(format!("recovery id {v}, expected 0 or 1")));
    }
    if r.is_zero() || r >= SECP256K1_N || s.is_zero() || s > SECP256K1_N >> 1 {
        return Err(bad("r/s out of range or s not canonical (high-s)".into()));
    }
    let hash = seal_hash(spec, header).ok_or_else(|| bad("extra-data too short".into()))?;
    let recid = RecoveryId::try_from(i32::from(v)).map_err(|e| bad(e.to_string()))?;
    let signature = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|e| bad(format!("invalid signature: {e}")))?;
    let key = signature
        .recover(Message::from_digest(hash.0))
        .map_err(|e| bad(format!("public key does not recover: {e}")))?;
    let uncompressed = key.serialize_uncompressed();
    Ok(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
}

/// What the standalone Bor checks learned about a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BorHeaderInfo {
    /// The recovered signer.
    pub signer: Address,
    /// The validator set announced by a sprint-end header (applies from the next block).
    pub announced_validators: Option<Vec<BorValidator>>,
    /// From Giugliano: the base fee parameters the header declares.
    pub giugliano: Option<GiuglianoParams>,
}

/// Bor's standalone extra-data and seal rules.
pub(crate) fn check_header(
    spec: &ChainSpec,
    bor: &BorConfig,
    header: &Header,
) -> Result<BorHeaderInfo, ValidationError> {
    let number = header.number;
    let min = EXTRA_VANITY + EXTRA_SEAL;
    // From Giugliano the extra-data must decode and carry both base fee fields.
    let giugliano = giugliano_params(spec, header)?;
    let Some(validators) = validator_bytes(spec, header) else {
        return Err(ValidationError::BorExtraDataTooShort {
            number,
            min,
            found: header.extra_data.len(),
        });
    };
    let sprint_end = is_sprint_end(bor, number);
    if !sprint_end && !validators.is_empty() {
        return Err(ValidationError::BorUnexpectedValidators {
            number,
            found: validators.len(),
        });
    }
    let announced_validators = if sprint_end {
        Some(
            parse_validators(validators).ok_or(ValidationError::BorValidatorBytesLength {
                number,
                found: validators.len(),
            })?,
        )
    } else {
        None
    };
    if header.mix_hash != B256::ZERO {
        return Err(ValidationError::BorMixDigest {
            number,
            found: header.mix_hash,
        });
    }
    let signer = recover_signer(spec, header)?;
    Ok(BorHeaderInfo {
        signer,
        announced_validators,
        giugliano,
    })
}

/// Kept for the decoder fuzz tests: the `BlockExtraData` decoder on arbitrary bytes.
#[doc(hidden)]
pub fn fuzz_block_extra(bytes: &[u8]) -> Option<usize> {
    decode_block_extra(bytes)
        .ok()
        .map(|e| e.validator_bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_extra_data_decoding() {
        // rlp([0x01 * 40, [[0], [0, 1]]])
        let mut payload = Vec::new();
        alloy_rlp::Header {
            list: false,
            payload_length: 40,
        }
        .encode(&mut payload);
        payload.extend_from_slice(&[1u8; 40]);
        let deps = [0xc5u8, 0xc1, 0x80, 0xc2, 0x80, 0x01];
        payload.extend_from_slice(&deps);
        let mut encoded = Vec::new();
        crate::rlp::list_header(payload.len(), &mut encoded);
        encoded.extend_from_slice(&payload);
        assert_eq!(fuzz_block_extra(&encoded), Some(40));
        // Trailing bytes or a non-canonical integer: not decodable, so no validator bytes.
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert_eq!(fuzz_block_extra(&trailing), None);
        assert_eq!(fuzz_block_extra(&[0xc3, 0x80, 0xc1, 0x00]), None);
        assert_eq!(fuzz_block_extra(&[0xc2, 0x80, 0xc0]), Some(0));
        assert_eq!(fuzz_block_extra(&[0xc1, 0x80]), None);
    }

    #[test]
    fn validator_parsing() {
        let mut bytes = vec![0u8; 80];
        bytes[19] = 1;
        bytes[39] = 5;
        let v = parse_validators(&bytes).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].address, Address::with_last_byte(1));
        assert_eq!(v[0].power, U256::from(5));
        assert!(parse_validators(&bytes[..41]).is_none());
    }

    #[test]
    fn tx_dependency_messages() {
        let msg = |bytes: &[u8]| decode_block_extra(bytes).unwrap_err().to_string();
        // [0x, [[0x0001]]]: a non-canonical index.
        assert_eq!(
            msg(&[0xc6, 0x80, 0xc4, 0xc3, 0x82, 0x00, 0x01]),
            "tx dependency: item 0: item 0: integer with a leading zero"
        );
        // [0x, [0x]]: an entry that is not a list.
        assert_eq!(
            msg(&[0xc3, 0x80, 0xc1, 0x80]),
            "tx dependency: item 0: a string"
        );
    }
}

//! The pre-merge historical hashes accumulator (EIP-7643) and era1 epoch accumulators.
//!
//! Definitions (facts from EIP-7643 and the Portal history-network spec):
//! ```text
//! EPOCH_SIZE    = 8192
//! HeaderRecord  = Container[block_hash: Bytes32, total_difficulty: uint256]
//! EpochRecord   = List[HeaderRecord, 8192]
//! HistoricalHashesAccumulator = Container[
//!     historical_epochs: List[Bytes32, 2048],   # hash_tree_root of each EpochRecord
//!     current_epoch: EpochRecord]               # empty after the merge
//! ```
//! Mainnet's accumulator (1897 epochs, the last one partial, ending at block 15537393) is
//! embedded; its `hash_tree_root` is checked against the EIP-7643 value
//! `0xec8e040f…e701` before first use.

use crate::error::ValidationError;
use alloy_primitives::{B256, U256, b256};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Blocks per epoch.
pub const EPOCH_SIZE: u64 = 8192;
/// `MAX_HISTORICAL_EPOCHS` of EIP-7643.
pub const MAX_HISTORICAL_EPOCHS: usize = 2048;
/// EIP-7643 root of mainnet's historical hashes accumulator.
pub const MAINNET_ACCUMULATOR_ROOT: B256 =
    b256!("ec8e040fd6c557b41ca8ddd38f7e9d58a9281918dc92bdb72342a38fb085e701");
/// Last pre-merge mainnet block (the last record of the last epoch).
pub const MAINNET_LAST_POW_BLOCK: u64 = 15_537_393;

/// The embedded mainnet accumulator (SSZ), from ethereum/portal-spec-tests (see
/// `tests/fixtures/validation/PROVENANCE.md`).
const MAINNET_ACCUMULATOR_SSZ: &[u8] =
    include_bytes!("../assets/historical_hashes_accumulator.ssz");

fn sha256_pair(a: &[u8; 32], b: &[u8; 32]) -> B256 {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    B256::from_slice(&h.finalize())
}

fn zero_hashes() -> &'static [B256; 64] {
    static Z: OnceLock<[B256; 64]> = OnceLock::new();
    Z.get_or_init(|| {
        let mut z = [B256::ZERO; 64];
        for i in 1..64 {
            z[i] = sha256_pair(&z[i - 1].0, &z[i - 1].0);
        }
        z
    })
}

/// SSZ `merkleize(chunks, limit = 2^depth)` (chunks beyond `chunks.len()` are zero).
pub fn merkleize(chunks: &[B256], depth: usize) -> B256 {
    let zeros = zero_hashes();
    if chunks.is_empty() {
        return zeros[depth];
    }
    let mut level: Vec<B256> = chunks.to_vec();
    for zero in zeros.iter().take(depth) {
        if level.len() % 2 == 1 {
            level.push(*zero);
        }
        level = level
            .chunks_exact(2)
            .map(|p| sha256_pair(&p[0].0, &p[1].0))
            .collect();
    }
    level[0]
}

/// SSZ `mix_in_length`.
pub fn mix_in_length(root: B256, len: usize) -> B256 {
    let mut l = [0u8; 32];
    l[..8].copy_from_slice(&(len as u64).to_le_bytes());
    sha256_pair(&root.0, &l)
}

/// `hash_tree_root(HeaderRecord)`.
pub fn header_record_root(hash: B256, total_difficulty: U256) -> B256 {
    sha256_pair(&hash.0, &total_difficulty.to_le_bytes::<32>())
}

/// `hash_tree_root(EpochRecord)` of `(block hash, total difficulty)` records (at most 8192).
pub fn epoch_root(records: &[(B256, U256)]) -> B256 {
    let leaves: Vec<B256> = records
        .iter()
        .map(|(h, td)| header_record_root(*h, *td))
        .collect();
    mix_in_length(merkleize(&leaves, 13), records.len())
}

/// An SSZ `EpochRecord` (Portal `epoch-record-*.ssz`): 64-byte `(hash, td LE)` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochRecord {
    /// The epoch number.
    pub epoch: u64,
    /// `(block hash, total difficulty)` per block of the epoch.
    pub records: Vec<(B256, U256)>,
}

impl EpochRecord {
    /// Parses the SSZ encoding of an epoch record for epoch `epoch`.
    pub fn from_ssz(epoch: u64, bytes: &[u8]) -> Result<Self, crate::error::DecodeError> {
        if !bytes.len().is_multiple_of(64) || bytes.len() / 64 > EPOCH_SIZE as usize {
            return Err(format!(
                "{} bytes is not a list of at most 8192 64-byte records",
                bytes.len()
            )
            .into());
        }
        let records = bytes
            .chunks_exact(64)
            .map(|c| (B256::from_slice(&c[..32]), U256::from_le_slice(&c[32..])))
            .collect();
        Ok(Self { epoch, records })
    }

    /// `hash_tree_root` of the record.
    pub fn root(&self) -> B256 {
        epoch_root(&self.records)
    }

    /// First block number of the epoch.
    pub fn first_block(&self) -> u64 {
        self.epoch * EPOCH_SIZE
    }
}

/// The historical hashes accumulator: one root per pre-merge epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoricalAccumulator {
    epochs: Vec<B256>,
}

impl HistoricalAccumulator {
    /// Parses the SSZ container (`historical_epochs` with an empty `current_epoch`).
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, crate::error::DecodeError> {
        if bytes.len() < 8 {
            return Err("shorter than the two offsets".into());
        }
        let off = |i: usize| {
            u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize
        };
        let (first, second) = (off(0), off(4));
        if first != 8 || second < first || second > bytes.len() {
            return Err(format!("bad offsets {first}, {second}").into());
        }
        let epochs_bytes = &bytes[first..second];
        if !epochs_bytes.len().is_multiple_of(32) || epochs_bytes.len() / 32 > MAX_HISTORICAL_EPOCHS
        {
            return Err(format!("historical_epochs of {} bytes", epochs_bytes.len()).into());
        }
        if second != bytes.len() {
            return Err("current_epoch is not empty".into());
        }
        Ok(Self {
            epochs: epochs_bytes
                .chunks_exact(32)
                .map(B256::from_slice)
                .collect(),
        })
    }

    /// Mainnet's accumulator (embedded; verified against [`MAINNET_ACCUMULATOR_ROOT`]).
    pub fn mainnet() -> &'static Self {
        static ACC: OnceLock<HistoricalAccumulator> = OnceLock::new();
        ACC.get_or_init(|| {
            let acc = Self::from_ssz(MAINNET_ACCUMULATOR_SSZ).expect("embedded accumulator parses");
            assert_eq!(
                acc.root(),
                MAINNET_ACCUMULATOR_ROOT,
                "embedded accumulator does not match the EIP-7643 root"
            );
            acc
        })
    }

    /// The EIP-7643 `hash_tree_root` (container of the epochs list and an empty current epoch).
    pub fn root(&self) -> B256 {
        let epochs = mix_in_length(merkleize(&self.epochs, 11), self.epochs.len());
        let current = mix_in_length(merkleize(&[], 13), 0);
        sha256_pair(&epochs.0, &current.0)
    }

    /// The root of epoch `epoch`.
    pub fn epoch_root(&self, epoch: u64) -> Option<B256> {
        self.epochs.get(usize::try_from(epoch).ok()?).copied()
    }

    /// Number of epochs.
    pub fn epoch_count(&self) -> usize {
        self.epochs.len()
    }

    /// The last block the accumulator covers.
    pub fn last_block(&self) -> u64 {
        // All epochs are full except the last, which ends at the merge; only mainnet's is
        // embedded, so its known last block is returned for it.
        if self.epochs.len() == 1897 {
            MAINNET_LAST_POW_BLOCK
        } else {
            (self.epochs.len() as u64 * EPOCH_SIZE).saturating_sub(1)
        }
    }

    /// Checks an epoch's recomputed root against the accumulator.
    pub fn check_epoch(&self, epoch: u64, computed: B256) -> Result<(), ValidationError> {
        let expected =
            self.epoch_root(epoch)
                .ok_or_else(|| ValidationError::AnchorNotApplicable {
                    what: format!("epoch {epoch}"),
                    reason: format!("the accumulator has {} epochs", self.epochs.len()),
                })?;
        if expected != computed {
            return Err(ValidationError::EpochAccumulator {
                epoch,
                expected,
                found: computed,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_mainnet_accumulator() {
        let acc = HistoricalAccumulator::mainnet();
        assert_eq!(acc.epoch_count(), 1897);
        assert_eq!(acc.root(), MAINNET_ACCUMULATOR_ROOT);
        // trin's DEFAULT_PRE_MERGE_ACC_HASH: the list root with limit 2^17.
        assert_eq!(
            mix_in_length(merkleize(&acc.epochs, 17), acc.epochs.len()),
            b256!("8eac399e24480dce3cfe06f4bdecba51c6e5d0c46200e3e8611a0b44a3a69ff9")
        );
        assert_eq!(
            acc.epoch_root(0),
            Some(b256!(
                "5ec1ffb8c3b146f42606c74ced973dc16ec5a107c0345858c343fc94780b4218"
            ))
        );
        assert_eq!(
            acc.epoch_root(1896),
            Some(b256!(
                "e6ebe562c89bc8ecb94dc9b2889a27a816ec05d3d6bd1625acad72227071e721"
            ))
        );
    }

    #[test]
    fn malformed_ssz_is_an_error() {
        assert!(HistoricalAccumulator::from_ssz(&[]).is_err());
        assert!(HistoricalAccumulator::from_ssz(&[8, 0, 0, 0, 9, 0, 0, 0, 1]).is_err());
        assert!(HistoricalAccumulator::from_ssz(&[8, 0, 0, 0, 7, 0, 0, 0]).is_err());
        assert!(EpochRecord::from_ssz(0, &[0; 65]).is_err());
    }
}

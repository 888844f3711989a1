//! Gas limit bounds, the EIP-1559 base fee (Ethereum and Bor parameters) and the EIP-4844
//! excess blob gas (Cancun, Prague, Osaka/EIP-7918 and the blob-parameter-only forks).
//!
//! Facts (not code) from the EIPs, geth `consensus/misc/{eip1559,eip4844}` and Bor
//! `consensus/misc/eip1559`, `params/protocol_params.go`:
//! - gas limit: `|limit - parent| < parent / 1024`, `limit >= 5000`, `limit <= 2^63 - 1`; at
//!   the London block the parent limit is doubled (elasticity multiplier 2);
//! - base fee: `INITIAL_BASE_FEE` (1 gwei) at the London block; then
//!   `parent ± parent * |used - target| / target / denominator` (increase at least 1);
//!   Ethereum: target = limit / 2, denominator 8;
//!   Bor: denominator 8, 16 from Delhi, 64 from Bhilai (by the *parent's* number); target =
//!   limit / 2, or 65 % of the limit from Dandeli (parent's number); from Lisovo the producer
//!   may tune the parameters, and a header is only required to stay within 5 % (at least 1 wei)
//!   of its parent's base fee (Bor `consensus/misc/eip1559/eip1559.go`,
//!   `verifyBaseFeeWithinBoundaries`, `MaxBaseFeeChangePercent = 5`); Bor's own producer caps
//!   the computed change at that bound when Lisovo is active at the parent;
//!   from Giugliano the header declares the gas target (in gas) and denominator its producer
//!   used ([`bor_base_fee_declared`]).

use alloy_primitives::U256;

/// `GasLimitBoundDivisor`.
pub const GAS_LIMIT_BOUND_DIVISOR: u64 = 1024;
/// Smallest gas limit.
pub const MIN_GAS_LIMIT: u64 = 5000;
/// Largest gas limit (2^63 − 1).
pub const MAX_GAS_LIMIT: u64 = 0x7fff_ffff_ffff_ffff;
/// Base fee of the first EIP-1559 block.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// EIP-1559 elasticity multiplier.
pub const ELASTICITY_MULTIPLIER: u64 = 2;
/// Ethereum's base fee change denominator.
pub const BASE_FEE_CHANGE_DENOMINATOR: u64 = 8;
/// Bor's denominator from Delhi.
pub const BOR_DENOMINATOR_DELHI: u64 = 16;
/// Bor's denominator from Bhilai.
pub const BOR_DENOMINATOR_BHILAI: u64 = 64;
/// Bor's gas target in percent of the gas limit from Dandeli.
pub const BOR_TARGET_PERCENT_DANDELI: u64 = 65;
/// Bor after Lisovo: largest base fee change per block, in percent.
pub const BOR_MAX_BASE_FEE_CHANGE_PERCENT: u64 = 5;

/// Checks the gas limit against its parent's: `|limit - parent| < parent / 1024` and
/// `limit >= 5000`. Returns the bound on failure.
pub fn gas_limit_within_bound(parent_gas_limit: u64, gas_limit: u64) -> Result<(), u64> {
    let bound = parent_gas_limit / GAS_LIMIT_BOUND_DIVISOR;
    if parent_gas_limit.abs_diff(gas_limit) >= bound {
        return Err(bound);
    }
    Ok(())
}

/// How the base fee follows from the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseFeeParams {
    /// Base fee change denominator.
    pub denominator: u64,
    /// Gas target as a percentage of the gas limit, or `None` for `limit / 2`.
    pub target_percent: Option<u64>,
}

impl BaseFeeParams {
    /// Ethereum mainnet parameters.
    pub const ETHEREUM: Self = Self {
        denominator: BASE_FEE_CHANGE_DENOMINATOR,
        target_percent: None,
    };

    /// The parent's gas target.
    pub fn gas_target(&self, parent_gas_limit: u64) -> u64 {
        match self.target_percent {
            Some(p) => ((u128::from(parent_gas_limit) * u128::from(p)) / 100) as u64,
            None => parent_gas_limit / ELASTICITY_MULTIPLIER,
        }
    }
}

/// The EIP-1559 base fee of a child of a London block with these values (`u128`: the result
/// can exceed `u64` for absurd parents, which then no header can match).
pub fn next_base_fee(
    params: BaseFeeParams,
    parent_base_fee: u64,
    parent_gas_used: u64,
    parent_gas_limit: u64,
) -> u128 {
    let target = params.gas_target(parent_gas_limit);
    base_fee_step(
        parent_base_fee,
        parent_gas_used,
        target,
        params.denominator,
        None,
    )
}

/// One EIP-1559 step: `parent ± parent * |used - target| / target / denominator`, the change
/// capped at `max_change` when given, an increase of at least 1 wei, a decrease floored at 0.
/// A zero target or denominator leaves the parent's base fee.
fn base_fee_step(
    parent_base_fee: u64,
    parent_gas_used: u64,
    gas_target: u64,
    denominator: u64,
    max_change: Option<u128>,
) -> u128 {
    let base = u128::from(parent_base_fee);
    if parent_gas_used == gas_target || gas_target == 0 || denominator == 0 {
        return base;
    }
    let cap = |change: u128| max_change.map_or(change, |m| change.min(m));
    let (target, denominator) = (u128::from(gas_target), u128::from(denominator));
    if parent_gas_used > gas_target {
        let delta = u128::from(parent_gas_used - gas_target);
        base + cap(base * delta / target / denominator).max(1)
    } else {
        let delta = u128::from(gas_target - parent_gas_used);
        base.saturating_sub(cap(base * delta / target / denominator))
    }
}

/// Bor after Lisovo: the largest change from the parent's base fee (5 %, at least 1 wei).
pub fn bor_max_base_fee_change(parent_base_fee: u64) -> u64 {
    ((u128::from(parent_base_fee) * u128::from(BOR_MAX_BASE_FEE_CHANGE_PERCENT) / 100) as u64)
        .max(1)
}

/// Bor's `CalcBaseFee` with an absolute gas target and denominator (the values a Giugliano
/// header declares): `parent ± parent * |used - target| / target / denominator`, the change
/// capped at [`bor_max_base_fee_change`] when `capped` (Lisovo at the parent), an increase of
/// at least 1 wei, a decrease floored at 0. A zero target or denominator leaves the parent's
/// base fee (never declared by Bor; refused before this is called).
pub fn bor_base_fee_declared(
    parent_base_fee: u64,
    parent_gas_used: u64,
    gas_target: u64,
    denominator: u64,
    capped: bool,
) -> u128 {
    let max_change = capped.then(|| u128::from(bor_max_base_fee_change(parent_base_fee)));
    base_fee_step(
        parent_base_fee,
        parent_gas_used,
        gas_target,
        denominator,
        max_change,
    )
}

/// Gas consumed by one blob.
pub const GAS_PER_BLOB: u64 = 1 << 17;
/// EIP-7918 `BLOB_BASE_COST`.
pub const BLOB_BASE_COST: u64 = 1 << 13;

/// Blob schedule of a fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobParams {
    /// Target blobs per block.
    pub target: u64,
    /// Maximum blobs per block.
    pub max: u64,
    /// Blob base fee update fraction.
    pub update_fraction: u64,
    /// Whether the EIP-7918 reserve price applies (Osaka on).
    pub reserve_price: bool,
}

impl BlobParams {
    /// Cancun (EIP-4844): 3 / 6.
    pub const CANCUN: Self = Self {
        target: 3,
        max: 6,
        update_fraction: 3_338_477,
        reserve_price: false,
    };
    /// Prague (EIP-7691): 6 / 9.
    pub const PRAGUE: Self = Self {
        target: 6,
        max: 9,
        update_fraction: 5_007_716,
        reserve_price: false,
    };
    /// Osaka: Prague's schedule plus the EIP-7918 reserve price.
    pub const OSAKA: Self = Self {
        reserve_price: true,
        ..Self::PRAGUE
    };
    /// BPO1 (EIP-7892, mainnet): 10 / 15.
    pub const BPO1: Self = Self {
        target: 10,
        max: 15,
        update_fraction: 8_346_193,
        reserve_price: true,
    };
    /// BPO2 (mainnet): 14 / 21.
    pub const BPO2: Self = Self {
        target: 14,
        max: 21,
        update_fraction: 11_684_671,
        reserve_price: true,
    };

    /// Maximum blob gas per block.
    pub const fn max_blob_gas(&self) -> u64 {
        self.max * GAS_PER_BLOB
    }

    /// Target blob gas per block.
    pub const fn target_blob_gas(&self) -> u64 {
        self.target * GAS_PER_BLOB
    }

    /// Blob base fee for an excess (`fake_exponential(1, excess, fraction)`), saturating.
    pub fn blob_base_fee(&self, excess_blob_gas: u64) -> U256 {
        fake_exponential(
            U256::from(1),
            U256::from(excess_blob_gas),
            U256::from(self.update_fraction),
        )
    }

    /// The excess blob gas of a child block under these (the child's) parameters.
    pub fn next_excess_blob_gas(
        &self,
        parent_excess: u64,
        parent_blob_gas_used: u64,
        parent_base_fee: u64,
    ) -> u64 {
        let sum = parent_excess.saturating_add(parent_blob_gas_used);
        let target = self.target_blob_gas();
        if sum < target {
            return 0;
        }
        if self.reserve_price && self.max > 0 {
            let reserve = U256::from(BLOB_BASE_COST) * U256::from(parent_base_fee);
            let blob_price =
                U256::from(GAS_PER_BLOB).saturating_mul(self.blob_base_fee(parent_excess));
            if reserve > blob_price {
                let scaled = (u128::from(parent_blob_gas_used)
                    * u128::from(self.max - self.target.min(self.max))
                    / u128::from(self.max)) as u64;
                return parent_excess.saturating_add(scaled);
            }
        }
        sum - target
    }
}

/// EIP-4844 `fake_exponential`, saturating at `U256::MAX`.
pub fn fake_exponential(factor: U256, numerator: U256, denominator: U256) -> U256 {
    if denominator.is_zero() {
        return U256::MAX;
    }
    let mut output = U256::ZERO;
    let mut accum = factor.saturating_mul(denominator);
    let mut i = U256::from(1);
    while !accum.is_zero() {
        output = output.saturating_add(accum);
        let Some(next) = accum.checked_mul(numerator) else {
            return U256::MAX;
        };
        accum = next / denominator.saturating_mul(i);
        i += U256::from(1);
    }
    output / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_examples() {
        let p = BaseFeeParams::ETHEREUM;
        // At target: unchanged.
        assert_eq!(
            next_base_fee(p, 1_000_000_000, 15_000_000, 30_000_000),
            1_000_000_000
        );
        // Full block: +12.5 %.
        assert_eq!(
            next_base_fee(p, 1_000_000_000, 30_000_000, 30_000_000),
            1_125_000_000
        );
        // Empty block: −12.5 %.
        assert_eq!(next_base_fee(p, 1_000_000_000, 0, 30_000_000), 875_000_000);
        // Tiny base fee still increases by 1.
        assert_eq!(next_base_fee(p, 7, 15_000_001, 30_000_000), 8);
        let bor = BaseFeeParams {
            denominator: 64,
            target_percent: Some(65),
        };
        assert_eq!(bor.gas_target(30_000_000), 19_500_000);
    }

    #[test]
    fn bor_declared_base_fee() {
        // Uncapped it is the EIP-1559 formula with the given target.
        assert_eq!(
            bor_base_fee_declared(1_000_000_000, 30_000_000, 15_000_000, 8, false),
            1_125_000_000
        );
        // Capped at 5 % (Lisovo): the same full block moves the fee by 50_000_000 only.
        assert_eq!(
            bor_base_fee_declared(1_000_000_000, 30_000_000, 15_000_000, 8, true),
            1_050_000_000
        );
        assert_eq!(
            bor_base_fee_declared(1_000_000_000, 0, 15_000_000, 8, true),
            950_000_000
        );
        // Small changes are not affected by the cap; an increase is at least 1 wei.
        assert_eq!(
            bor_base_fee_declared(100, 112_000_001, 112_000_000, 64, true),
            101
        );
        assert_eq!(
            bor_base_fee_declared(1_000_000_000, 112_000_000, 112_000_000, 64, true),
            1_000_000_000
        );
        // 70 % target of a 160 M limit, denominator 64 (as declared by block 89,174,945).
        assert_eq!(
            bor_base_fee_declared(252_641_816_645, 34_816_431, 112_000_000, 64, true),
            252_641_816_645 - 252_641_816_645u128 * (112_000_000 - 34_816_431) / 112_000_000 / 64
        );
    }

    #[test]
    fn gas_limit_bound() {
        assert!(gas_limit_within_bound(1024 * 1000, 1024 * 1000 + 999).is_ok());
        assert_eq!(
            gas_limit_within_bound(1024 * 1000, 1024 * 1000 + 1000),
            Err(1000)
        );
        assert_eq!(
            gas_limit_within_bound(1024 * 1000, 1024 * 1000 - 1000),
            Err(1000)
        );
    }

    #[test]
    fn fake_exponential_vectors() {
        // EIP-4844 test vectors (factor, numerator, denominator, expected).
        for (f, n, d, e) in [
            (1u64, 0u64, 1u64, 1u64),
            (38493, 0, 1000, 38493),
            (0, 1234, 2345, 0),
            (1, 2, 1, 6),
            (1, 4, 2, 6),
            (1, 3, 1, 16),
            (1, 6, 2, 18),
            (1, 4, 1, 49),
            (1, 8, 2, 50),
            (10, 8, 2, 542),
            (11, 8, 2, 596),
            (1, 5, 1, 136),
            (1, 5, 2, 11),
            (2, 5, 2, 23),
        ] {
            assert_eq!(
                fake_exponential(U256::from(f), U256::from(n), U256::from(d)),
                U256::from(e),
                "{f} {n} {d}"
            );
        }
        assert_eq!(
            fake_exponential(U256::from(1), U256::from(u64::MAX), U256::from(1)),
            U256::MAX
        );
    }

    #[test]
    fn excess_blob_gas() {
        let c = BlobParams::CANCUN;
        assert_eq!(
            c.next_excess_blob_gas(0, 6 * GAS_PER_BLOB, 7),
            3 * GAS_PER_BLOB
        );
        assert_eq!(c.next_excess_blob_gas(0, 2 * GAS_PER_BLOB, 7), 0);
        // Osaka reserve price: a high execution base fee makes the excess grow by the scaled
        // usage instead of usage minus target.
        let o = BlobParams::OSAKA;
        let high_base_fee = 1_000_000_000_000;
        assert_eq!(
            o.next_excess_blob_gas(6 * GAS_PER_BLOB, 9 * GAS_PER_BLOB, high_base_fee),
            6 * GAS_PER_BLOB + 9 * GAS_PER_BLOB * 3 / 9
        );
        assert_eq!(
            o.next_excess_blob_gas(6 * GAS_PER_BLOB, 9 * GAS_PER_BLOB, 1),
            9 * GAS_PER_BLOB
        );
    }
}

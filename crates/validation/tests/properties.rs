//! Property tests: the base fee and gas limit rules against an independent formulation, and
//! no-panic properties for every decoder (bodies, receipts, blocks, headers, Bor extra-data,
//! SSZ accumulators, input files) on arbitrary bytes, random RLP trees and corrupted real data.

mod common;

use alloy_primitives::{Bytes, U256};
use common::*;
use hypasis_primitives::ChainSpec;
use hypasis_validation::gas::{self, BaseFeeParams, BlobParams, GAS_PER_BLOB};
use hypasis_validation::{
    Anchors, BlockData, EpochRecord, HistoricalAccumulator, SealedHeader, Validator, body, bor,
    input, receipts, split_concatenated,
};
use proptest::prelude::*;

/// EIP-1559 as written in the EIP, in 256-bit arithmetic.
fn reference_base_fee(denominator: u64, target: u64, parent_fee: u64, used: u64) -> U256 {
    let fee = U256::from(parent_fee);
    if used == target {
        return fee;
    }
    let (t, d) = (U256::from(target), U256::from(denominator));
    if used > target {
        let delta = fee * U256::from(used - target) / t / d;
        fee + delta.max(U256::from(1))
    } else {
        let delta = fee * U256::from(target - used) / t / d;
        fee.saturating_sub(delta)
    }
}

fn rlp_tree() -> impl Strategy<Value = Rlp> {
    let leaf = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Rlp::Bytes),
        (0u64..100_000).prop_map(uint),
        Just(Rlp::Bytes(vec![0u8; 256])),
        Just(Rlp::Bytes(vec![1u8; 32])),
        Just(Rlp::Bytes(vec![2u8; 20])),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Rlp::List),
            // typed envelopes: type byte ‖ rlp(list)
            (0u8..5, proptest::collection::vec(inner, 0..6))
                .prop_map(|(t, items)| Rlp::Bytes([vec![t], Rlp::List(items).encode()].concat())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn base_fee_matches_the_eip(
        parent_fee in 0u64..=u64::MAX / 2,
        limit in 5000u64..=100_000_000,
        used_frac in 0u64..=1000,
        denominator in prop_oneof![Just(8u64), Just(16), Just(64)],
        percent in prop_oneof![Just(None), Just(Some(65u64))],
    ) {
        let used = limit / 1000 * used_frac;
        let params = BaseFeeParams { denominator, target_percent: percent };
        let target = params.gas_target(limit);
        let got = gas::next_base_fee(params, parent_fee, used, limit);
        prop_assert_eq!(U256::from(got), reference_base_fee(denominator, target, parent_fee, used));
        // Direction and size of the change.
        if used > target { prop_assert!(got > u128::from(parent_fee)); }
        if used < target { prop_assert!(got <= u128::from(parent_fee)); }
        let change = got.abs_diff(u128::from(parent_fee));
        // used <= limit <= 2 * target, so the change is at most parent / denominator (or 1).
        let max = (u128::from(parent_fee) / u128::from(denominator)).max(1);
        prop_assert!(change <= max, "change {} > {}", change, max);
    }

    #[test]
    fn base_fee_is_monotonic_in_gas_used(parent_fee in 0u64..1u64 << 50, limit in 10_000u64..60_000_000, a in 0u64..=1000, b in 0u64..=1000) {
        let (lo, hi) = (a.min(b) * (limit / 1000), a.max(b) * (limit / 1000));
        let p = BaseFeeParams::ETHEREUM;
        prop_assert!(gas::next_base_fee(p, parent_fee, lo, limit) <= gas::next_base_fee(p, parent_fee, hi, limit));
    }

    #[test]
    fn gas_limit_bound_is_exact(parent in 5000u64..=u64::MAX / 4, delta in 0u64..1u64 << 40, up in any::<bool>()) {
        let bound = parent / 1024;
        let child = if up { parent.saturating_add(delta) } else { parent.saturating_sub(delta) };
        let ok = gas::gas_limit_within_bound(parent, child).is_ok();
        prop_assert_eq!(ok, parent.abs_diff(child) < bound);
        if bound > 0 {
            prop_assert!(gas::gas_limit_within_bound(parent, parent + bound - 1).is_ok());
            prop_assert!(gas::gas_limit_within_bound(parent, parent - (bound - 1)).is_ok());
            prop_assert!(gas::gas_limit_within_bound(parent, parent + bound).is_err());
            prop_assert!(gas::gas_limit_within_bound(parent, parent - bound).is_err());
        }
    }

    #[test]
    fn excess_blob_gas_bounds(excess in 0u64..1u64 << 40, blobs in 0u64..=21, base_fee in 0u64..1u64 << 45) {
        for params in [BlobParams::CANCUN, BlobParams::PRAGUE, BlobParams::OSAKA, BlobParams::BPO1, BlobParams::BPO2] {
            let used = blobs.min(params.max) * GAS_PER_BLOB;
            let next = params.next_excess_blob_gas(excess, used, base_fee);
            prop_assert!(next <= excess + used);
            if excess + used < params.target_blob_gas() {
                prop_assert_eq!(next, 0);
            } else if !params.reserve_price {
                prop_assert_eq!(next, excess + used - params.target_blob_gas());
            } else {
                prop_assert!(next >= excess + used - params.target_blob_gas());
            }
        }
    }

    #[test]
    fn decoders_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = body::decode_body(&bytes);
        let _ = receipts::decode_receipts(&bytes);
        let _ = input::split_block(&bytes);
        let _ = split_concatenated(&bytes);
        let _ = SealedHeader::decode(&bytes);
        let _ = bor::fuzz_block_extra(&bytes);
        let _ = HistoricalAccumulator::from_ssz(&bytes);
        let _ = EpochRecord::from_ssz(0, &bytes);
        let _ = input::blocks_from_chain_rlp(&bytes, Some(&bytes));
        let _ = input::blocks_from_headers_rlp(&bytes);
        let _ = bor::parse_validators(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_rlp_trees(tree in rlp_tree()) {
        let bytes = tree.encode();
        let _ = body::decode_body(&bytes);
        let _ = receipts::decode_receipts(&bytes);
        let _ = input::split_block(&bytes);
        let _ = bor::fuzz_block_extra(&bytes);
        let _ = input::blocks_from_chain_rlp(&bytes, None);
    }

    #[test]
    fn validation_never_panics_on_trees(header in rlp_tree(), body_tree in rlp_tree(), receipts_tree in rlp_tree()) {
        let block = BlockData {
            header: header.encode().into(),
            body: Some(body_tree.encode().into()),
            receipts: Some(receipts_tree.encode().into()),
            total_difficulty: None,
            claimed: None,
        };
        for spec in [ChainSpec::mainnet(), ChainSpec::polygon()] {
            let v = Validator::new(spec);
            let _ = v.check_block(&block, 1);
            let _ = v.validate_range(std::slice::from_ref(&block), &Anchors::default());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Corrupting one byte of a real block's header, body or receipts never panics.
    #[test]
    fn corrupted_real_blocks_never_panic(which in 0usize..13, part in 0u8..3, pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (number, _) = BLOCK_DATA[which];
        let mut block = block_data(number);
        let target = match part { 0 => &mut block.header, 1 => block.body.as_mut().unwrap(), _ => block.receipts.as_mut().unwrap() };
        let mut bytes = target.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= xor;
        *target = Bytes::from(bytes);
        let v = Validator::new(ChainSpec::mainnet());
        let _ = v.check_block(&block, number);
    }

    #[test]
    fn corrupted_polygon_headers_never_pass(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut blocks = polygon_checkpoint_headers();
        blocks.truncate(64);
        let mut bytes = blocks[40].header.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= xor;
        blocks[40].header = bytes.into();
        let v = Validator::new(ChainSpec::polygon());
        // Any change to a header breaks its hash, hence the child's parent hash.
        prop_assert!(v.validate_range(&blocks, &Anchors::default()).is_err());
    }
}

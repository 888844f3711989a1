//! Mutation tests: a copy of a real block with one header field, body component or receipt
//! component changed is rejected with the error of that specific rule.

mod common;

use alloy_consensus::Header;
use alloy_primitives::{B256, Bloom, Bytes, U256};
use common::*;
use hypasis_primitives::ChainSpec;
use hypasis_validation::header::{encode_header, validate_header_against_parent};
use hypasis_validation::{
    Anchors, BlockData, CheckpointAnchor, EpochRecord, HeaderField, HistoricalAccumulator,
    SealedHeader, ValidationError as E, Validator,
};

/// Block 22431084 (first Prague block: withdrawals, blobs, requests hash, slim receipts)
/// validated standalone and against its parent 22431083, after `f` changed its header.
fn prague_with(f: impl FnOnce(&mut Header)) -> Result<(), E> {
    let spec = ChainSpec::mainnet();
    let v = Validator::new(spec.clone());
    let mut block = block_data(22_431_084);
    let mut header = sealed(&block).header;
    f(&mut header);
    block.header = encode_header(&header);
    let checked = v.check_block(&block, 22_431_084)?;
    let parent = sealed(&block_data(22_431_083));
    validate_header_against_parent(&spec, &checked.header, &parent)
}

fn prague_body_with(f: impl FnOnce(&mut Rlp)) -> Result<(), E> {
    let v = Validator::new(ChainSpec::mainnet());
    let mut block = block_data(22_431_084);
    block.body = Some(mutate_rlp(block.body.as_ref().unwrap(), f));
    v.check_block(&block, 22_431_084).map(|_| ())
}

fn prague_receipts_with(f: impl FnOnce(&mut Rlp)) -> Result<(), E> {
    let v = Validator::new(ChainSpec::mainnet());
    let mut block = block_data(22_431_084);
    block.receipts = Some(mutate_rlp(block.receipts.as_ref().unwrap(), f));
    v.check_block(&block, 22_431_084).map(|_| ())
}

#[test]
fn unmutated_block_passes() {
    prague_with(|_| {}).unwrap();
}

#[test]
fn header_field_mutations() {
    let check = |name: &str, r: Result<(), E>, ok: fn(&E) -> bool| {
        let err = r.expect_err(name);
        assert!(ok(&err), "{name}: unexpected error {err:?}");
        assert!(err.is_peer_fault(), "{name}");
        assert!(err.block_number().is_some(), "{name}");
    };
    check(
        "parent_hash",
        prague_with(|h| h.parent_hash = B256::repeat_byte(1)),
        |e| {
            matches!(
                e,
                E::ParentHash {
                    number: 22_431_084,
                    ..
                }
            )
        },
    );
    check(
        "ommers_hash",
        prague_with(|h| h.ommers_hash = B256::repeat_byte(1)),
        |e| matches!(e, E::OmmersNotEmpty { .. }),
    );
    check(
        "transactions_root",
        prague_with(|h| h.transactions_root = B256::repeat_byte(1)),
        |e| matches!(e, E::TransactionsRoot { .. }),
    );
    check(
        "receipts_root",
        prague_with(|h| h.receipts_root = B256::repeat_byte(1)),
        |e| matches!(e, E::ReceiptsRoot { .. }),
    );
    check(
        "logs_bloom",
        prague_with(|h| h.logs_bloom = Bloom::repeat_byte(0xff)),
        |e| matches!(e, E::LogsBloom { .. }),
    );
    check(
        "difficulty",
        prague_with(|h| h.difficulty = U256::from(1)),
        |e| matches!(e, E::PostMergeDifficulty { .. }),
    );
    check("number", prague_with(|h| h.number += 1), |e| {
        matches!(
            e,
            E::NumberContinuity {
                expected: 22_431_084,
                ..
            }
        )
    });
    check(
        "gas_limit change",
        prague_with(|h| h.gas_limit += h.gas_limit / 1000),
        |e| matches!(e, E::GasLimitChange { .. }),
    );
    check(
        "gas_limit below used",
        prague_with(|h| h.gas_limit = h.gas_used - 1),
        |e| matches!(e, E::GasUsedExceedsLimit { .. }),
    );
    check(
        "gas_limit max",
        prague_with(|h| h.gas_limit = u64::MAX),
        |e| matches!(e, E::GasLimitTooHigh { .. }),
    );
    check(
        "gas_limit min",
        prague_with(|h| {
            h.gas_limit = 4999;
            h.gas_used = 0
        }),
        |e| matches!(e, E::GasLimitTooLow { .. }),
    );
    check("gas_used", prague_with(|h| h.gas_used -= 1), |e| {
        matches!(e, E::GasUsed { .. })
    });
    // (22431084 is the first Prague block, so an earlier timestamp would be pre-Prague; the
    // timestamp rule is checked on its successor.)
    let v = Validator::new(ChainSpec::mainnet());
    let mut blocks = mainnet_22431080();
    let parent_time = sealed(&blocks[5]).header.timestamp;
    let mut h = sealed(&blocks[6]).header;
    h.timestamp = parent_time;
    blocks[6].header = encode_header(&h);
    check(
        "timestamp",
        v.validate_range(&blocks, &Anchors::default()).map(|_| ()),
        |e| {
            matches!(
                e,
                E::Timestamp {
                    number: 22_431_086,
                    ..
                }
            )
        },
    );
    check(
        "extra_data",
        prague_with(|h| h.extra_data = Bytes::from(vec![0u8; 33])),
        |e| {
            matches!(
                e,
                E::ExtraDataTooLong {
                    max: 32,
                    found: 33,
                    ..
                }
            )
        },
    );
    check("nonce", prague_with(|h| h.nonce = 1u64.into()), |e| {
        matches!(e, E::PostMergeNonce { found: 1, .. })
    });
    check(
        "base_fee",
        prague_with(|h| h.base_fee_per_gas = h.base_fee_per_gas.map(|b| b + 1)),
        |e| matches!(e, E::BaseFee { .. }),
    );
    check(
        "withdrawals_root",
        prague_with(|h| h.withdrawals_root = Some(B256::repeat_byte(1))),
        |e| matches!(e, E::WithdrawalsRoot { .. }),
    );
    check(
        "blob_gas_used multiple",
        prague_with(|h| h.blob_gas_used = h.blob_gas_used.map(|b| b - 1)),
        |e| matches!(e, E::BlobGasUsedNotMultiple { .. }),
    );
    check(
        "blob_gas_used count",
        prague_with(|h| h.blob_gas_used = h.blob_gas_used.map(|b| b - (1 << 17))),
        |e| matches!(e, E::BlobGasUsedMismatch { .. }),
    );
    check(
        "blob_gas_used max",
        prague_with(|h| h.blob_gas_used = Some(10 << 17)),
        |e| matches!(e, E::BlobGasUsedTooHigh { .. }),
    );
    check(
        "excess_blob_gas",
        prague_with(|h| h.excess_blob_gas = h.excess_blob_gas.map(|b| b + 1)),
        |e| matches!(e, E::ExcessBlobGas { .. }),
    );
    // The optional fields stand at the end of the header in fork order, so dropping one drops
    // every newer one too; the oldest dropped field is the one reported missing.
    type DropField = fn(&mut Header);
    let newest_first: [(&str, HeaderField, DropField); 5] = [
        ("requests_hash", HeaderField::RequestsHash, |h| {
            h.requests_hash = None
        }),
        (
            "parent_beacon_block_root",
            HeaderField::ParentBeaconBlockRoot,
            |h| h.parent_beacon_block_root = None,
        ),
        ("blob fields", HeaderField::BlobGasUsed, |h| {
            h.blob_gas_used = None;
            h.excess_blob_gas = None
        }),
        ("withdrawals_root", HeaderField::WithdrawalsRoot, |h| {
            h.withdrawals_root = None
        }),
        ("base_fee", HeaderField::BaseFee, |h| {
            h.base_fee_per_gas = None
        }),
    ];
    for depth in 0..newest_first.len() {
        let (name, missing, _) = newest_first[depth];
        let name = format!("{name} absent");
        let r = prague_with(|h| {
            for (_, _, drop) in &newest_first[..=depth] {
                drop(h);
            }
        });
        if let Err(E::MissingField { field, .. }) = &r {
            assert_eq!(*field, missing, "{name}");
        }
        check(&name, r, |e| matches!(e, E::MissingField { .. }));
    }
}

#[test]
fn fields_before_their_fork_are_rejected() {
    let v = Validator::new(ChainSpec::mainnet());
    // 22431083 is Cancun: a requests hash is not allowed yet.
    let mut block = block_data(22_431_083);
    let mut h = sealed(&block).header;
    h.requests_hash = Some(B256::ZERO);
    block.header = encode_header(&h);
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::UnexpectedField {
            field: HeaderField::RequestsHash,
            ..
        })
    ));
    // 17034869 is pre-Shanghai: no withdrawals root, and no withdrawals in the body.
    let mut block = block_data(17_034_869);
    let mut h = sealed(&block).header;
    h.withdrawals_root = Some(B256::ZERO);
    block.header = encode_header(&h);
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::UnexpectedField {
            field: HeaderField::WithdrawalsRoot,
            ..
        })
    ));
    let mut block = block_data(17_034_869);
    block.body = Some(mutate_rlp(block.body.as_ref().unwrap(), |b| {
        b.list().push(Rlp::List(vec![]))
    }));
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::UnexpectedField {
            field: HeaderField::BodyWithdrawals,
            ..
        })
    ));
    // A PoW block: proof-of-work blocks need a difficulty.
    let mut block = block_data(14_764_013);
    let mut h = sealed(&block).header;
    h.difficulty = U256::ZERO;
    block.header = encode_header(&h);
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::PowDifficultyZero { number: 14_764_013 })
    ));
    // London's first block takes the initial base fee and a doubled parent gas limit.
    let spec = ChainSpec::mainnet();
    let parent = SealedHeader::seal_slow(Header {
        number: 12_964_999,
        gas_limit: 15_000_000,
        gas_used: 15_000_000,
        timestamp: 100,
        difficulty: U256::from(1),
        ..Default::default()
    });
    let child = |base_fee, gas_limit| {
        SealedHeader::seal_slow(Header {
            parent_hash: parent.hash,
            number: 12_965_000,
            gas_limit,
            timestamp: 101,
            base_fee_per_gas: Some(base_fee),
            ..Default::default()
        })
    };
    validate_header_against_parent(&spec, &child(1_000_000_000, 30_000_000), &parent).unwrap();
    assert!(matches!(
        validate_header_against_parent(&spec, &child(1_000_000_001, 30_000_000), &parent),
        Err(E::BaseFee {
            expected: 1_000_000_000,
            ..
        })
    ));
    assert!(matches!(
        validate_header_against_parent(&spec, &child(1_000_000_000, 30_029_297), &parent),
        Err(E::GasLimitChange {
            parent: 30_000_000,
            ..
        })
    ));
}

#[test]
fn dao_extra_data() {
    let spec = ChainSpec::mainnet();
    let header = SealedHeader::seal_slow(Header {
        number: 1_920_005,
        gas_limit: 5000,
        difficulty: U256::from(1),
        extra_data: Bytes::from_static(b"not the dao"),
        ..Default::default()
    });
    assert!(matches!(
        hypasis_validation::header::validate_header_standalone(&spec, &header),
        Err(E::DaoExtraData {
            number: 1_920_005,
            ..
        })
    ));
}

#[test]
fn body_component_mutations() {
    let tx_root = |r: Result<(), E>| matches!(r, Err(E::TransactionsRoot { .. }));
    assert!(tx_root(prague_body_with(|b| b.list()[0].list().swap(0, 1))));
    assert!(tx_root(prague_body_with(|b| {
        b.list()[0].list().pop();
    })));
    assert!(matches!(
        prague_body_with(|b| b.list()[1].list().push(Rlp::List(vec![]))),
        Err(E::OmmersHash { .. })
    ));
    assert!(matches!(
        prague_body_with(|b| {
            b.list()[2].list().pop();
        }),
        Err(E::WithdrawalsRoot { .. })
    ));
    assert!(matches!(
        prague_body_with(|b| {
            b.list().pop();
        }),
        Err(E::MissingField {
            field: HeaderField::BodyWithdrawals,
            ..
        })
    ));
    // A typed transaction whose type byte is unknown.
    assert!(matches!(
        prague_body_with(|b| {
            let tx = b.list()[0]
                .list()
                .iter_mut()
                .find(|t| matches!(t, Rlp::Bytes(_)))
                .unwrap();
            tx.bytes()[0] = 0x05;
        }),
        Err(E::InvalidTransaction { .. })
    ));
    // Not RLP of a body at all.
    let v = Validator::new(ChainSpec::mainnet());
    let mut block = block_data(22_431_084);
    let body = block.body.clone().unwrap();
    block.body = Some(body.slice(..body.len() - 1));
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::MalformedBody { .. })
    ));
    // Pre-merge ommer rules on the PoW block with one uncle (14764013).
    let mut block = block_data(14_764_013);
    let body = block.body.clone().unwrap();
    block.body = Some(mutate_rlp(&body, |b| {
        let uncle = b.list()[1].list()[0].clone();
        b.list()[1].list().push(uncle);
    }));
    let mut h = sealed(&block).header;
    let ommers = Rlp::decode(block.body.as_ref().unwrap()).list()[1].encode();
    h.ommers_hash = alloy_primitives::keccak256(&ommers);
    block.header = encode_header(&h);
    assert!(matches!(
        v.check_block(&block, 0),
        Err(E::InvalidOmmer { index: 1, .. })
    ));
}

#[test]
fn receipt_component_mutations() {
    assert!(matches!(
        prague_receipts_with(|r| {
            r.list().pop();
        }),
        Err(E::ReceiptCount { .. })
    ));
    // Flip a successful receipt to failed: still a valid status, but the root changes.
    assert!(matches!(
        prague_receipts_with(|r| {
            let rc = r
                .list()
                .iter_mut()
                .find(|x| x.items()[1] == Rlp::Bytes(vec![1]))
                .unwrap();
            rc.list()[1] = Rlp::Bytes(vec![]);
        }),
        Err(E::ReceiptsRoot { .. })
    ));
    assert!(matches!(
        prague_receipts_with(|r| r.list()[0].list()[1] = Rlp::Bytes(vec![2])),
        Err(E::ReceiptStatus { index: 0, .. })
    ));
    assert!(matches!(
        prague_receipts_with(|r| {
            let last = r.list().len() - 1;
            r.list()[last].list()[2] = uint(1);
        }),
        Err(E::CumulativeGas { .. })
    ));
    assert!(matches!(
        prague_receipts_with(|r| {
            let last = r.list().len() - 1;
            let Rlp::Bytes(b) = &r.list()[last].list()[2] else {
                panic!()
            };
            let gas = b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x));
            r.list()[last].list()[2] = uint(gas + 1);
        }),
        Err(E::GasUsed { .. })
    ));
    assert!(matches!(
        prague_receipts_with(|r| {
            let rc = &mut r.list()[0];
            let t = if rc.items()[0] == Rlp::Bytes(vec![2]) {
                1
            } else {
                2
            };
            rc.list()[0] = uint(t);
        }),
        Err(E::ReceiptType { index: 0, .. })
    ));
    // An extra log in a slim receipt: its bloom is rebuilt, so the header bloom no longer
    // covers it.
    assert!(matches!(
        prague_receipts_with(|r| {
            r.list()[0].list()[3].list().push(Rlp::List(vec![
                Rlp::Bytes(vec![0xab; 20]),
                Rlp::List(vec![Rlp::Bytes(vec![0xcd; 32])]),
                Rlp::Bytes(vec![]),
            ]));
        }),
        Err(E::LogsBloom { .. })
    ));
    assert!(matches!(
        prague_receipts_with(|r| r.list()[0] = Rlp::Bytes(vec![0xff])),
        Err(E::MalformedReceipts { .. })
    ));
}

#[test]
fn consensus_receipt_mutations_pre_byzantium() {
    let v = Validator::new(ChainSpec::mainnet());
    let blocks = mainnet_1000000();
    // A block with receipts.
    let i = blocks
        .iter()
        .position(|b| Rlp::decode(b.receipts.as_ref().unwrap()) != Rlp::List(vec![]))
        .unwrap();
    let base = blocks[i].clone();
    // Bloom of a receipt that does not match its logs.
    let mut b = base.clone();
    b.receipts = Some(mutate_rlp(b.receipts.as_ref().unwrap(), |r| {
        r.list()[0].list()[2].bytes()[0] ^= 0x80;
    }));
    assert!(matches!(
        v.check_block(&b, 0),
        Err(E::ReceiptBloom { index: 0, .. })
    ));
    // Byzantium-style status before Byzantium.
    let mut b = base.clone();
    b.receipts = Some(mutate_rlp(b.receipts.as_ref().unwrap(), |r| {
        r.list()[0].list()[0] = Rlp::Bytes(vec![1]);
    }));
    assert!(matches!(
        v.check_block(&b, 0),
        Err(E::ReceiptStatus { index: 0, .. })
    ));
    // A different post-state root.
    let mut b = base;
    b.receipts = Some(mutate_rlp(b.receipts.as_ref().unwrap(), |r| {
        r.list()[0].list()[0].bytes()[0] ^= 1;
    }));
    assert!(matches!(v.check_block(&b, 0), Err(E::ReceiptsRoot { .. })));
}

#[test]
fn range_linkage_and_anchor_mutations() {
    let v = Validator::new(ChainSpec::mainnet());
    let blocks = mainnet_1000000();
    // Blocks out of order / missing.
    let mut gap = blocks.clone();
    gap.remove(5);
    assert!(matches!(
        v.validate_range(&gap, &Anchors::default()),
        Err(E::ParentHash {
            number: 1_000_006,
            ..
        })
    ));
    // A claimed hash that is not the header's.
    let mut claimed = blocks.clone();
    claimed[3].claimed = Some((1_000_003, B256::repeat_byte(9)));
    assert!(matches!(
        v.validate_range(&claimed, &Anchors::default()),
        Err(E::HashMismatch {
            number: 1_000_003,
            ..
        })
    ));
    // A wrong trusted hash.
    let anchors = Anchors {
        trusted: vec![(1_000_010, B256::repeat_byte(1))],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&blocks, &anchors),
        Err(E::TrustedHash {
            number: 1_000_010,
            ..
        })
    ));
    // A wrong trusted parent hash (forward linkage).
    let anchors = Anchors {
        trusted: vec![(999_999, B256::repeat_byte(1))],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&blocks, &anchors),
        Err(E::TrustedHash {
            number: 999_999,
            ..
        })
    ));
    // An epoch record with one hash changed no longer matches the accumulator.
    let mut record = EpochRecord::from_ssz(122, &read("premerge/epoch-record-00122.ssz")).unwrap();
    record.records[700].0 = B256::repeat_byte(3);
    let anchors = Anchors {
        accumulator: Some(HistoricalAccumulator::mainnet()),
        epoch_records: vec![record],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&blocks, &anchors),
        Err(E::EpochAccumulator { epoch: 122, .. })
    ));
}

#[test]
fn era1_total_difficulty_and_accumulator_mutations() {
    let v = Validator::new(ChainSpec::mainnet());
    let bytes = read("era1/mainnet-00000-5ec1ffb8.era1");
    let era = hypasis_era::Era1::parse(&bytes).unwrap();
    let blocks = hypasis_validation::input::blocks_from_era1(&era).unwrap();
    let anchors = Anchors {
        accumulator: Some(HistoricalAccumulator::mainnet()),
        era_accumulators: vec![(0, B256::repeat_byte(1))],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&blocks, &anchors),
        Err(E::EraAccumulatorRecord { epoch: 0, .. })
    ));
    let mut td = blocks.clone();
    td[100].total_difficulty = td[100].total_difficulty.map(|t| t + U256::from(1));
    assert!(matches!(
        v.validate_range(&td, &Anchors::default()),
        Err(E::TotalDifficulty { number: 100, .. })
    ));
}

/// Re-encodes header `i` of the checkpoint range with `f` applied.
fn polygon_with(i: usize, f: impl FnOnce(&mut Header)) -> Vec<BlockData> {
    let mut blocks = polygon_checkpoint_headers();
    let mut h = sealed(&blocks[i]).header;
    f(&mut h);
    blocks[i].header = encode_header(&h);
    blocks
}

#[test]
fn bor_mutations() {
    let v = Validator::new(ChainSpec::polygon());
    let anchors = Anchors::default();
    let run = |blocks: Vec<BlockData>| v.validate_range(&blocks, &anchors);
    // Block index 36 = 9825984, the first block after the sprint end 9825983 (index 35).
    assert_eq!(
        sealed(&polygon_checkpoint_headers()[35]).number(),
        9_825_983
    );
    assert!(matches!(
        run(polygon_with(40, |h| h.extra_data = h.extra_data.slice(..96))),
        Err(E::BorExtraDataTooShort {
            number: 9_825_988,
            min: 97,
            found: 96
        })
    ));
    assert!(matches!(
        run(polygon_with(40, |h| {
            let mut e = h.extra_data.to_vec();
            e.splice(32..32, [7u8; 40]);
            h.extra_data = e.into();
        })),
        Err(E::BorUnexpectedValidators {
            number: 9_825_988,
            found: 40
        })
    ));
    assert!(matches!(
        run(polygon_with(35, |h| {
            let mut e = h.extra_data.to_vec();
            e.remove(40);
            h.extra_data = e.into();
        })),
        Err(E::BorValidatorBytesLength {
            number: 9_825_983,
            found: 319
        })
    ));
    assert!(matches!(
        run(polygon_with(40, |h| h.mix_hash = B256::repeat_byte(1))),
        Err(E::BorMixDigest { .. })
    ));
    assert!(matches!(
        run(polygon_with(40, |h| h.ommers_hash = B256::repeat_byte(1))),
        Err(E::OmmersNotEmpty { .. })
    ));
    // A changed signed field recovers to a different signer, which is not in the validator set
    // announced at the sprint end 9825983.
    assert!(matches!(
        run(polygon_with(40, |h| h.state_root = B256::repeat_byte(1))),
        Err(E::BorSignerNotValidator {
            number: 9_825_988,
            ..
        })
    ));
    // High-s seal (the same signature with s' = n - s, v flipped): rejected as non-canonical.
    assert!(matches!(
        run(polygon_with(40, |h| {
            let mut e = h.extra_data.to_vec();
            let n = U256::from_be_bytes(hex_literal_n());
            let at = e.len() - 65;
            let s = U256::from_be_slice(&e[at + 32..at + 64]);
            e[at + 32..at + 64].copy_from_slice(&(n - s).to_be_bytes::<32>());
            e[at + 64] ^= 1;
            h.extra_data = e.into();
        })),
        Err(E::BorSeal { .. })
    ));
    assert!(matches!(
        run(polygon_with(40, |h| {
            let mut e = h.extra_data.to_vec();
            let last = e.len() - 1;
            e[last] = 27;
            h.extra_data = e.into();
        })),
        Err(E::BorSeal { .. })
    ));
    // Bor's minimum block period: the timestamp must be at least parent + 2.
    assert!(matches!(
        run(polygon_with(40, |h| h.timestamp -= 1)),
        Err(E::Timestamp {
            number: 9_825_988,
            ..
        })
    ));
    // Base fee before Jaipur/London is not allowed.
    assert!(matches!(
        run(polygon_with(40, |h| h.base_fee_per_gas = Some(7))),
        Err(E::UnexpectedField {
            field: HeaderField::BaseFee,
            ..
        })
    ));
    // A supplied validator set without the signer.
    let anchors = Anchors {
        bor_validators: vec![(0, vec![alloy_primitives::Address::repeat_byte(1)])],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&polygon_checkpoint_headers(), &anchors),
        Err(E::BorSignerNotValidator {
            number: 9_825_948,
            ..
        })
    ));
    // A wrong checkpoint root.
    let anchors = Anchors {
        checkpoints: vec![CheckpointAnchor {
            start: 9_825_948,
            end: 9_827_227,
            root: B256::repeat_byte(1),
        }],
        ..Default::default()
    };
    assert!(matches!(
        v.validate_range(&polygon_checkpoint_headers(), &anchors),
        Err(E::CheckpointRoot {
            start: 9_825_948,
            end: 9_827_227,
            ..
        })
    ));
}

fn hex_literal_n() -> [u8; 32] {
    let mut n = [0u8; 32];
    n.copy_from_slice(&unhex(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    ));
    n
}

#[test]
fn bor_lisovo_bounds_the_base_fee_change() {
    // Polygon mainnet between Lisovo (83,756,500) and Giugliano (85,268,500).
    let spec = ChainSpec::polygon();
    let parent = SealedHeader::seal_slow(Header {
        number: 84_000_000,
        gas_limit: 30_000_000,
        gas_used: 0,
        timestamp: 100,
        base_fee_per_gas: Some(1_000_000_000),
        ..Default::default()
    });
    let child = |fee| {
        SealedHeader::seal_slow(Header {
            parent_hash: parent.hash,
            number: 84_000_001,
            gas_limit: 30_000_000,
            timestamp: 101,
            base_fee_per_gas: Some(fee),
            ..Default::default()
        })
    };
    // Within 5 %: accepted whatever the producer's parameters were.
    validate_header_against_parent(&spec, &child(1_050_000_000), &parent).unwrap();
    validate_header_against_parent(&spec, &child(950_000_000), &parent).unwrap();
    assert!(matches!(
        validate_header_against_parent(&spec, &child(1_050_000_001), &parent),
        Err(E::BaseFeeChange {
            max_change: 50_000_000,
            ..
        })
    ));
}

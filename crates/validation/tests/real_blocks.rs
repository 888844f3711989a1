//! Every real block in the fixtures validates at its fork, and the anchors (hash linkage,
//! Polygon checkpoint root, pre-merge accumulator) verify on real data.

mod common;

use common::*;
use hypasis_era::Era1;
use hypasis_primitives::ChainSpec;
use hypasis_validation::accumulator::{EpochRecord, HistoricalAccumulator, epoch_root};
use hypasis_validation::header::validate_header_against_parent;
use hypasis_validation::input::blocks_from_era1;
use hypasis_validation::{Anchors, CheckpointAnchor, Validator, VerificationLevel};

#[test]
fn fork_boundary_blocks_validate_with_slim_receipts() {
    let v = Validator::new(ChainSpec::mainnet());
    for (number, h) in BLOCK_DATA {
        let block = block_data(number);
        let checked = v
            .check_block(&block, number)
            .unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(checked.header.number(), number);
        assert_eq!(checked.header.hash, hash(h), "{number}");
    }
}

#[test]
fn fork_boundaries_link_to_their_parents() {
    let spec = ChainSpec::mainnet();
    for (parent, child) in [
        (15537393, 15537394),
        (17034869, 17034870),
        (19426586, 19426587),
        (22431083, 22431084),
    ] {
        let p = sealed(&block_data(parent));
        let c = sealed(&block_data(child));
        validate_header_against_parent(&spec, &c, &p).unwrap_or_else(|e| panic!("{child}: {e}"));
    }
}

#[test]
fn pre_byzantium_range_with_receipts_links_and_hits_the_accumulator() {
    let v = Validator::new(ChainSpec::mainnet());
    let blocks = mainnet_1000000();
    // Rules only: no level.
    let report = v.validate_range(&blocks, &Anchors::default()).unwrap();
    assert_eq!(report.ranges.len(), 1);
    assert_eq!(report.ranges[0].level, None);
    assert_eq!(
        (report.ranges[0].range.start, report.ranges[0].range.end),
        (1_000_000, 1_000_030)
    );
    // Backward linkage from the last block's hash.
    let last = hash("37bf824db199eac4ffa85f498babbf6bd9d6e3f9f8c6cb5e1a18f645c95c1e65");
    let anchors = Anchors {
        trusted: vec![(1_000_030, last)],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.level_of(1_000_000), Some(VerificationLevel::Linked));
    assert_eq!(report.used_trusted, vec![1_000_030]);
    // The accumulator through the epoch-122 record (the range is mid-epoch).
    let record = EpochRecord::from_ssz(122, &read("premerge/epoch-record-00122.ssz")).unwrap();
    let anchors = Anchors {
        accumulator: Some(HistoricalAccumulator::mainnet()),
        epoch_records: vec![record],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges.len(), 1);
    assert_eq!(report.ranges[0].level, Some(VerificationLevel::Accumulator));
    assert_eq!(report.accumulator_epochs, vec![122]);
    // Without a record or total difficulties, the accumulator cannot apply: a note, no level.
    let anchors = Anchors {
        accumulator: Some(HistoricalAccumulator::mainnet()),
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges[0].level, None);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
}

#[test]
fn prague_transition_range_validates() {
    let v = Validator::new(ChainSpec::mainnet());
    let blocks = mainnet_22431080();
    let last = hash("2217f636470f708c88b1b9b4d8688694617566402eafd9318aba37486535ba34");
    let anchors = Anchors {
        trusted: vec![(22_431_090, last)],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges.len(), 1);
    assert_eq!(report.ranges[0].level, Some(VerificationLevel::Linked));
    // Forward linkage from the verified parent 22431083's block-data copy.
    let parent = sealed(&block_data(22_431_083));
    let anchors = Anchors {
        parent: Some((parent, None)),
        ..Default::default()
    };
    let report = v.validate_range(&blocks[4..], &anchors).unwrap();
    assert_eq!(report.level_of(22_431_084), Some(VerificationLevel::Linked));
}

#[test]
fn final_epoch_record_matches_the_accumulator_and_the_last_pow_block() {
    let acc = HistoricalAccumulator::mainnet();
    let record = EpochRecord::from_ssz(1896, &read("premerge/epoch-record-01896.ssz")).unwrap();
    assert_eq!(record.records.len(), 5362);
    assert_eq!(Some(record.root()), acc.epoch_root(1896));
    let last = record.records.last().unwrap();
    assert_eq!(last.0, hash(BLOCK_DATA[1].1), "block 15537393");
    assert_eq!(
        last.1,
        "58750003716598352816469"
            .parse::<alloy_primitives::U256>()
            .unwrap()
    );
    let record122 = EpochRecord::from_ssz(122, &read("premerge/epoch-record-00122.ssz")).unwrap();
    assert_eq!(
        record122.root(),
        hash("cddbda3fd6f764602c06803ff083dbfc73f2bb396df17a31e5457329b9a0f38d")
    );
    assert_eq!(Some(record122.root()), acc.epoch_root(122));
}

#[test]
fn mainnet_era1_files_validate_against_the_accumulator() {
    let v = Validator::new(ChainSpec::mainnet());
    let acc = HistoricalAccumulator::mainnet();
    let mut parent = None;
    for (file, epoch) in [
        ("era1/mainnet-00000-5ec1ffb8.era1", 0u64),
        ("era1/mainnet-00001-a5364e9a.era1", 1),
    ] {
        let bytes = read(file);
        let era = Era1::parse(&bytes).unwrap();
        let blocks = blocks_from_era1(&era).unwrap();
        let anchors = Anchors {
            accumulator: Some(acc),
            era_accumulators: vec![(epoch, era.accumulator)],
            parent: parent.take(),
            ..Default::default()
        };
        let report = v
            .validate_range(&blocks, &anchors)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(report.ranges.len(), 1, "{file}: {:?}", report.ranges);
        assert_eq!(report.ranges[0].level, Some(VerificationLevel::Accumulator));
        assert_eq!(report.accumulator_epochs, vec![epoch]);
        parent = Some((report.last.clone(), report.last_total_difficulty));
    }
    let (last, td) = parent.unwrap();
    assert_eq!(
        last.hash,
        hash("05c64fc4842734317f8f1dfe29a7e16f676575ad82a7dae37cef1379cf8500b5")
    );
    assert_eq!(td, Some("7219217828323986".parse().unwrap()));
}

#[test]
fn sepolia_era1_with_transactions_and_receipts_validates() {
    let v = Validator::new(ChainSpec::sepolia());
    let bytes = read("era1/sepolia-00021-b8814b14.era1");
    let era = Era1::parse(&bytes).unwrap();
    let blocks = blocks_from_era1(&era).unwrap();
    let last = hash("af105ff107f4d9b48bc205c3001ee33938b1b6f3b2ef04da0064ae63ecb1d80a");
    let anchors = Anchors {
        trusted: vec![(180_223, last)],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges[0].level, Some(VerificationLevel::Linked));
    assert_eq!(report.ranges.len(), 1);
    // The file's accumulator record is the epoch root of its (hash, TD) records.
    let mut records = Vec::new();
    for (b, d) in blocks.iter().zip(&era.blocks) {
        records.push((sealed(b).hash, d.total_difficulty));
    }
    assert_eq!(epoch_root(&records), era.accumulator);
    assert_eq!(
        era.accumulator,
        hash("b8814b146889489efd392d80c7ca4e418d39302e25323a55882ca8cc0ef013e3")
    );
}

#[test]
fn polygon_checkpoint_9693_recomputes_and_every_seal_recovers() {
    let v = Validator::new(ChainSpec::polygon());
    let blocks = polygon_checkpoint_headers();
    assert_eq!(blocks.len(), 1280);
    let cp = CheckpointAnchor {
        start: 9_825_948,
        end: 9_827_227,
        root: hash(CHECKPOINT_9693_ROOT),
    };
    // The root alone matches but does not raise the level: the range is not linked yet.
    let anchors = Anchors {
        checkpoints: vec![cp],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges[0].level, None);
    assert_eq!(report.used_checkpoints, vec![cp]);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    // With the end block's hash (backward linkage): checkpoint-root for the whole range.
    let end = hash("3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5");
    let anchors = Anchors {
        checkpoints: vec![cp],
        trusted: vec![(9_827_227, end)],
        ..Default::default()
    };
    let report = v.validate_range(&blocks, &anchors).unwrap();
    assert_eq!(report.ranges.len(), 1);
    assert_eq!(
        report.ranges[0].level,
        Some(VerificationLevel::CheckpointRoot)
    );
    assert_eq!(report.used_checkpoints, vec![cp]);
    assert!(report.notes.is_empty());
    assert_eq!(
        report.last.hash,
        hash("3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5")
    );
    // The first 100 blocks after a verified parent: linked; the checkpoint is not inside.
    let part = v
        .validate_range(
            &blocks[1..101],
            &Anchors {
                parent: Some((sealed(&blocks[0]), None)),
                checkpoints: vec![cp],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(part.ranges[0].level, Some(VerificationLevel::Linked));
    assert!(part.used_checkpoints.is_empty());
    assert_eq!(
        report.last.hash,
        hash("3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5")
    );

    // Seal hashes and signers equal the computed reference list.
    let list: serde_json::Value = serde_json::from_slice(&read(
        "polygon/checkpoint-9693/seal_hashes_and_signers.json",
    ))
    .unwrap();
    let spec = ChainSpec::polygon();
    for (b, entry) in blocks.iter().zip(list.as_array().unwrap()) {
        let h = sealed(b);
        assert_eq!(h.hash, hash(entry["hash"].as_str().unwrap()));
        let seal = hypasis_validation::bor::seal_hash(&spec, &h.header).unwrap();
        assert_eq!(
            seal,
            hash(entry["seal_hash"].as_str().unwrap()),
            "{}",
            h.number()
        );
        let signer = hypasis_validation::bor::recover_signer(&spec, &h.header).unwrap();
        assert_eq!(
            signer,
            entry["signer"]
                .as_str()
                .unwrap()
                .parse::<alloy_primitives::Address>()
                .unwrap()
        );
    }
}

#[test]
fn polygon_seal_vectors() {
    let spec = ChainSpec::polygon();
    let vectors: serde_json::Value =
        serde_json::from_slice(&read("polygon/seal-vectors/seal_vectors.json")).unwrap();
    let v = Validator::new(spec.clone());
    for vector in vectors.as_array().unwrap() {
        let raw = unhex(vector["header_rlp"].as_str().unwrap());
        let h = hypasis_validation::SealedHeader::decode(&raw).unwrap();
        assert_eq!(h.hash, hash(vector["hash"].as_str().unwrap()));
        assert_eq!(h.number(), vector["number"].as_u64().unwrap());
        let seal = hypasis_validation::bor::seal_hash(&spec, &h.header).unwrap();
        assert_eq!(
            seal,
            hash(vector["seal_hash"].as_str().unwrap()),
            "{}",
            h.number()
        );
        let signer = hypasis_validation::bor::recover_signer(&spec, &h.header).unwrap();
        let expected: alloy_primitives::Address = vector["recovered_signer"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(signer, expected, "{}", h.number());
        // The whole standalone header rule set passes at its fork (post-Jaipur for two).
        v.check_block(&hypasis_validation::BlockData::header_only(raw), 0)
            .unwrap_or_else(|e| panic!("{}: {e}", h.number()));
    }
}

/// Builds consensus receipt RLP from `eth_getTransactionReceipt` JSON (legacy receipts).
fn receipts_from_json(json: &serde_json::Value) -> Vec<u8> {
    let hexnum = |v: &serde_json::Value| -> u64 {
        match v {
            serde_json::Value::Number(n) => n.as_u64().unwrap(),
            serde_json::Value::String(s) => {
                u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
            }
            _ => panic!("number"),
        }
    };
    let receipts: Vec<Rlp> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let logs = r["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    Rlp::List(vec![
                        Rlp::Bytes(unhex(l["address"].as_str().unwrap())),
                        Rlp::List(
                            l["topics"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|t| Rlp::Bytes(unhex(t.as_str().unwrap())))
                                .collect(),
                        ),
                        Rlp::Bytes(unhex(l["data"].as_str().unwrap())),
                    ])
                })
                .collect();
            Rlp::List(vec![
                uint(hexnum(&r["status"])),
                uint(hexnum(&r["cumulativeGasUsed"])),
                Rlp::Bytes(unhex(r["logsBloom"].as_str().unwrap())),
                Rlp::List(logs),
            ])
        })
        .collect();
    Rlp::List(receipts).encode()
}

#[test]
fn polygon_block_9826737_receipts_root_rebuilds() {
    let blocks = polygon_checkpoint_headers();
    let index = (9_826_737 - 9_825_948) as usize;
    let json: serde_json::Value =
        serde_json::from_slice(&read("polygon/checkpoint-9693/receipts.json")).unwrap();
    let mut block = blocks[index].clone();
    assert_eq!(
        sealed(&block).hash,
        hash("fa78cb42d703195cf0d29cada217e395b7554e1892a3724da7396485b69988d0")
    );
    block.receipts = Some(receipts_from_json(&json).into());
    let v = Validator::new(ChainSpec::polygon());
    v.check_block(&block, 9_826_737).unwrap();
    // One receipt fewer: the root (and gas used) no longer match.
    let mut short = block.clone();
    short.receipts = Some(mutate_rlp(short.receipts.as_ref().unwrap(), |r| {
        r.list().pop();
    }));
    assert!(v.check_block(&short, 9_826_737).is_err());
}

#[test]
fn bor_base_fee_parameters_follow_the_fork_schedule() {
    use alloy_consensus::Header;
    use hypasis_validation::header::{bor_base_fee_params, expected_base_fee};
    let spec = ChainSpec::polygon();
    let at = |number: u64| Header {
        number,
        gas_limit: 30_000_000,
        gas_used: 30_000_000,
        base_fee_per_gas: Some(1_000_000_000),
        ..Default::default()
    };
    // Denominator by the parent's number: 8 before Delhi, 16 from Delhi, 64 from Bhilai;
    // target 65 % from Dandeli.
    assert_eq!(bor_base_fee_params(&spec, &at(38_189_055)).denominator, 8);
    assert_eq!(bor_base_fee_params(&spec, &at(38_189_056)).denominator, 16);
    assert_eq!(bor_base_fee_params(&spec, &at(73_440_255)).denominator, 16);
    assert_eq!(bor_base_fee_params(&spec, &at(73_440_256)).denominator, 64);
    assert_eq!(
        bor_base_fee_params(&spec, &at(81_423_999)).target_percent,
        None
    );
    assert_eq!(
        bor_base_fee_params(&spec, &at(81_424_000)).target_percent,
        Some(65)
    );
    // A full parent: +1/8, +1/16, +1/64 of the base fee; after Dandeli the full block is
    // (100 - 65) / 65 above target.
    let child = |n: u64| Header {
        number: n + 1,
        ..Default::default()
    };
    assert_eq!(
        expected_base_fee(&spec, &at(30_000_000), &child(30_000_000)),
        Some(1_125_000_000)
    );
    assert_eq!(
        expected_base_fee(&spec, &at(40_000_000), &child(40_000_000)),
        Some(1_062_500_000)
    );
    assert_eq!(
        expected_base_fee(&spec, &at(75_000_000), &child(75_000_000)),
        Some(1_015_625_000)
    );
    assert_eq!(
        expected_base_fee(&spec, &at(81_500_000), &child(81_500_000)),
        Some(1_000_000_000 + 1_000_000_000u128 * 10_500_000 / 19_500_000 / 64)
    );
    // The Jaipur block itself starts at the initial base fee.
    let pre = Header {
        number: 23_849_999,
        ..at(0)
    };
    let pre = Header {
        base_fee_per_gas: None,
        ..pre
    };
    assert_eq!(
        expected_base_fee(&spec, &pre, &child(23_849_999)),
        Some(1_000_000_000)
    );
}

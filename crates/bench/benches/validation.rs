//! Validation throughput (blocks/s) on real blocks, single-threaded and on all cores.
//!
//! `cargo bench -p hypasis-bench --bench validation`
//!
//! Inputs (`tests/fixtures/validation/`, see its PROVENANCE.md):
//! - headers only: the 1280 Polygon headers of checkpoint 9693 (Bor rules, seal ecrecover,
//!   checkpoint root) and the 8192 headers of mainnet era1 epoch 0 (PoW-era rules,
//!   accumulator);
//! - headers + bodies + receipts: the 8192 Sepolia blocks of era1 epoch 21 (mostly empty PoW
//!   blocks with ommers, 93 transactions) and the 13 mainnet fork-boundary blocks 2022–2025
//!   (19–301 transactions each; eth/69 slim receipts whose blooms are rebuilt).
//!
//! Each measurement validates the whole input once (`Throughput::Elements` = blocks), inside a
//! rayon pool of 1 thread, then of all cores.

use alloy_primitives::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hypasis_era::Era1;
use hypasis_primitives::ChainSpec;
use hypasis_validation::input::blocks_from_era1;
use hypasis_validation::{
    Anchors, BlockData, CheckpointAnchor, HistoricalAccumulator, Validator, split_concatenated,
};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/validation")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim().trim_start_matches("0x");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn block_data_blocks() -> Vec<BlockData> {
    [
        14764013u64,
        15537393,
        15537394,
        15547621,
        17034869,
        17034870,
        17062257,
        19426586,
        19426587,
        22162263,
        22431083,
        22431084,
        22869878,
    ]
    .iter()
    .map(|n| {
        let text = String::from_utf8(fixture(&format!(
            "eth-mainnet/block-data/block-data-{n}.yaml"
        )))
        .unwrap();
        let field = |key: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{key}:")))
                .unwrap();
            Bytes::from(unhex(line.split_once(':').unwrap().1))
        };
        BlockData {
            header: field("header"),
            body: Some(field("body")),
            receipts: Some(field("receipts")),
            ..Default::default()
        }
    })
    .collect()
}

fn pools() -> Vec<(String, rayon::ThreadPool)> {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    [1, all]
        .into_iter()
        .map(|n| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            (format!("{n}-threads"), pool)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let polygon = Validator::new(ChainSpec::polygon());
    let mainnet = Validator::new(ChainSpec::mainnet());
    let sepolia = Validator::new(ChainSpec::sepolia());

    let polygon_headers: Vec<BlockData> = split_concatenated(&fixture(
        "polygon/checkpoint-9693/headers_9825948_9827227.rlp",
    ))
    .unwrap()
    .into_iter()
    .map(|h| BlockData::header_only(Bytes::copy_from_slice(h)))
    .collect();
    let checkpoint = Anchors {
        checkpoints: vec![CheckpointAnchor {
            start: 9_825_948,
            end: 9_827_227,
            root: "0xe459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174"
                .parse()
                .unwrap(),
        }],
        trusted: vec![(
            9_827_227,
            "0x3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5"
                .parse()
                .unwrap(),
        )],
        ..Default::default()
    };
    let era0 = fixture("era1/mainnet-00000-5ec1ffb8.era1");
    let era0 = Era1::parse(&era0).unwrap();
    let era0_full = blocks_from_era1(&era0).unwrap();
    let era0_headers: Vec<BlockData> = era0_full
        .iter()
        .map(|b| BlockData {
            header: b.header.clone(),
            total_difficulty: b.total_difficulty,
            ..Default::default()
        })
        .collect();
    let accumulator = Anchors {
        accumulator: Some(HistoricalAccumulator::mainnet()),
        era_accumulators: vec![(0, era0.accumulator)],
        ..Default::default()
    };
    let sep = fixture("era1/sepolia-00021-b8814b14.era1");
    let sep = Era1::parse(&sep).unwrap();
    let sepolia_full = blocks_from_era1(&sep).unwrap();
    let forks = block_data_blocks();

    let mut group = c.benchmark_group("validation");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (threads, pool) in pools() {
        group.throughput(Throughput::Elements(polygon_headers.len() as u64));
        group.bench_function(
            BenchmarkId::new("headers/polygon-bor-checkpoint", &threads),
            |b| {
                b.iter(|| {
                    pool.install(|| polygon.validate_range(&polygon_headers, &checkpoint))
                        .unwrap()
                })
            },
        );
        group.throughput(Throughput::Elements(era0_headers.len() as u64));
        group.bench_function(
            BenchmarkId::new("headers/mainnet-era0-accumulator", &threads),
            |b| {
                b.iter(|| {
                    pool.install(|| mainnet.validate_range(&era0_headers, &accumulator))
                        .unwrap()
                })
            },
        );
        group.throughput(Throughput::Elements(sepolia_full.len() as u64));
        group.bench_function(BenchmarkId::new("full/sepolia-era21", &threads), |b| {
            b.iter(|| {
                pool.install(|| sepolia.validate_range(&sepolia_full, &Anchors::default()))
                    .unwrap()
            })
        });
        group.throughput(Throughput::Elements(forks.len() as u64));
        group.bench_function(
            BenchmarkId::new("full/mainnet-fork-blocks-19-301-txs", &threads),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        forks
                            .par_iter()
                            .map(|blk| mainnet.check_block(blk, 0).map(|_| ()))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Batch-write throughput of the embedded storage backend, and raw redb vs raw fjall.
//!
//! Blocks come from the contract suite's generator: 150 transactions per block (~110 kB of
//! header + body + receipts, a busy Polygon block), hash-linked, written as contiguous batches of
//! 64 and 256 blocks that continue the chain. Every commit is durable (fsync) before it returns.
//! Block generation happens outside the timed region.
//!
//! Groups:
//! - `backend_blocks` / `backend_bytes`: `RedbStorage::put_batch` (checks, hash index, ranges,
//!   stats in one transaction), quick-repair on (the default) and off; throughput in blocks/s
//!   and bytes/s.
//! - `engine_bytes`: the bare engines writing the same blocks (value = header ‖ body ‖ receipts
//!   under the number, plus a hash → number index) in one atomic, fsynced commit: redb (one
//!   write transaction, `Durability::Immediate`), fjall (one `WriteBatch` with
//!   `PersistMode::SyncAll`), and fjall with key-value separation.
//!
//! Run: `cargo bench -p hypasis-bench --bench storage`.

use alloy_primitives::B256;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hypasis_primitives::{RawBlock, VerificationLevel};
use hypasis_storage_api::contract::test_chain;
use hypasis_storage_api::{BlockBatch, BlockStorage};
use hypasis_storage_redb::{RedbOptions, RedbStorage};
use std::time::{Duration, Instant};

const TXS_PER_BLOCK: usize = 150;
const BATCH_SIZES: [u64; 2] = [64, 256];

/// Hands out consecutive, hash-linked batches of a test chain.
struct Chain {
    next: u64,
    parent: B256,
}

impl Chain {
    fn new() -> Self {
        Self {
            next: 1,
            parent: B256::repeat_byte(0x11),
        }
    }

    fn batch(&mut self, n: u64) -> Vec<RawBlock> {
        let blocks = test_chain(self.next, n, TXS_PER_BLOCK, self.parent);
        self.next += n;
        self.parent = blocks.last().map(|b| b.hash).unwrap_or(self.parent);
        blocks
    }
}

/// Average encoded bytes of a batch of `n` blocks (the generator's sizes vary a little).
fn batch_bytes(n: u64) -> u64 {
    let sample = Chain::new().batch(n);
    sample.iter().map(|b| b.encoded_len() as u64).sum()
}

/// Times `write` on fresh batches, `iters` times; generation is not timed.
fn timed(iters: u64, n: u64, chain: &mut Chain, mut write: impl FnMut(Vec<RawBlock>)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let blocks = chain.batch(n);
        let start = Instant::now();
        write(blocks);
        total += start.elapsed();
    }
    total
}

fn backend_group(c: &mut Criterion, name: &str, bytes: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    for n in BATCH_SIZES {
        group.throughput(if bytes {
            Throughput::Bytes(batch_bytes(n))
        } else {
            Throughput::Elements(n)
        });
        for quick_repair in [true, false] {
            let id = if quick_repair {
                "redb_backend_quick_repair"
            } else {
                "redb_backend"
            };
            group.bench_with_input(BenchmarkId::new(id, n), &n, |b, &n| {
                let dir = tempfile::tempdir().unwrap();
                let options = RedbOptions {
                    quick_repair,
                    ..RedbOptions::default()
                };
                let store = RedbStorage::open_with(dir.path().join("bench.redb"), options).unwrap();
                let mut chain = Chain::new();
                b.iter_custom(|iters| {
                    timed(iters, n, &mut chain, |blocks| {
                        let batch = BlockBatch {
                            blocks,
                            level: VerificationLevel::Linked,
                        };
                        let out = rt.block_on(store.put_batch(&batch)).unwrap();
                        assert_eq!(out.written, n);
                    })
                });
            });
        }
    }
    group.finish();
}

fn backend_blocks(c: &mut Criterion) {
    backend_group(c, "backend_blocks", false);
}

fn backend_bytes(c: &mut Criterion) {
    backend_group(c, "backend_bytes", true);
}

fn block_value(block: &RawBlock) -> Vec<u8> {
    let mut v = Vec::with_capacity(block.encoded_len());
    v.extend_from_slice(&block.header);
    v.extend_from_slice(&block.body);
    v.extend_from_slice(&block.receipts);
    v
}

const REDB_BLOCKS: redb::TableDefinition<'static, u64, &[u8]> =
    redb::TableDefinition::new("blocks");
const REDB_HASHES: redb::TableDefinition<'static, &[u8; 32], u64> =
    redb::TableDefinition::new("hashes");

fn engines(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_bytes");
    group.sampling_mode(SamplingMode::Flat);
    for n in BATCH_SIZES {
        group.throughput(Throughput::Bytes(batch_bytes(n)));

        group.bench_with_input(BenchmarkId::new("redb", n), &n, |b, &n| {
            let dir = tempfile::tempdir().unwrap();
            let db = redb::Database::create(dir.path().join("raw.redb")).unwrap();
            let mut chain = Chain::new();
            b.iter_custom(|iters| {
                timed(iters, n, &mut chain, |blocks| {
                    let txn = db.begin_write().unwrap(); // Durability::Immediate: fsync on commit
                    {
                        let mut table = txn.open_table(REDB_BLOCKS).unwrap();
                        let mut hashes = txn.open_table(REDB_HASHES).unwrap();
                        for block in &blocks {
                            table
                                .insert(block.number, block_value(block).as_slice())
                                .unwrap();
                            hashes.insert(&block.hash.0, block.number).unwrap();
                        }
                    }
                    txn.commit().unwrap();
                })
            });
        });

        for kv_separation in [false, true] {
            let id = if kv_separation {
                "fjall_kv_separation"
            } else {
                "fjall"
            };
            group.bench_with_input(BenchmarkId::new(id, n), &n, |b, &n| {
                let dir = tempfile::tempdir().unwrap();
                let db = fjall::Database::builder(dir.path().join("raw.fjall"))
                    .open()
                    .unwrap();
                let options = move || {
                    let o = fjall::KeyspaceCreateOptions::default();
                    if kv_separation {
                        o.with_kv_separation(Some(fjall::KvSeparationOptions::default()))
                    } else {
                        o
                    }
                };
                let blocks_ks = db.keyspace("blocks", options).unwrap();
                let hashes_ks = db
                    .keyspace("hashes", fjall::KeyspaceCreateOptions::default)
                    .unwrap();
                let mut chain = Chain::new();
                b.iter_custom(|iters| {
                    timed(iters, n, &mut chain, |blocks| {
                        let mut batch = db.batch().durability(Some(fjall::PersistMode::SyncAll));
                        for block in &blocks {
                            let key = block.number.to_be_bytes();
                            batch.insert(&blocks_ks, &key[..], block_value(block));
                            batch.insert(&hashes_ks, block.hash.as_slice(), &key[..]);
                        }
                        batch.commit().unwrap();
                    })
                });
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = storage;
    config = config();
    targets = backend_blocks, backend_bytes, engines
}
criterion_main!(storage);

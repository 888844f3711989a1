//! A synthetic chain generator for tests and benchmarks: linked headers whose transactions
//! roots, ommers hashes, withdrawals roots and receipts roots match their bodies and receipts.
//!
//! Transactions are well-formed RLP shaped like real ones (legacy lists and EIP-2718 typed
//! byte strings) but are not signed: only the roots matter to the downloader.

use std::time::Duration;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{Address, B256, Bloom, Bytes, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::root::ordered_trie_root_encoded;

use hypasis_primitives::rlp::{put_string_header, wrap_list};

use crate::pool::PoolConfig;
use crate::session::{LocalStatus, SessionConfig};
use crate::source::{BlockSource, MemoryBlockSource};
use hypasis_eth_wire::eth::{ForkHash, ForkId};
use hypasis_rlpx::Enode;

/// A generated block.
#[derive(Debug, Clone)]
pub struct TestBlock {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Header RLP.
    pub header: Bytes,
    /// Body RLP.
    pub body: Bytes,
    /// Consensus receipts.
    pub receipts: Vec<Bytes>,
}

fn tx(seed: u64, i: usize) -> Vec<u8> {
    // Legacy-looking: [nonce, gasPrice, gas, to, value, data, v, r, s].
    let mut p = Vec::with_capacity(200);
    (seed + i as u64).encode(&mut p);
    1_000_000_000u64.encode(&mut p);
    21_000u64.encode(&mut p);
    Address::with_last_byte((seed % 251) as u8).encode(&mut p);
    U256::from(seed * 7 + i as u64).encode(&mut p);
    Bytes::from(vec![(seed as u8) ^ (i as u8); 16 + (i % 4) * 16]).encode(&mut p);
    37u64.encode(&mut p);
    keccak256(seed.to_be_bytes()).encode(&mut p);
    keccak256((seed + 1).to_be_bytes()).encode(&mut p);
    let list = wrap_list(&p);
    if i.is_multiple_of(2) {
        list
    } else {
        // Typed (type 2) transaction: type byte followed by the payload.
        let mut typed = vec![0x02];
        typed.extend_from_slice(&list);
        typed
    }
}

fn receipt(typed: bool, cumulative_gas: u64, seed: u64) -> Vec<u8> {
    receipt_with_log(
        if typed { 0x02 } else { 0 },
        cumulative_gas,
        Address::with_last_byte(seed as u8),
        keccak256(seed.to_le_bytes()),
        &[seed as u8; 32],
    )
}

/// A successful receipt in consensus encoding (EIP-2718 typed unless `tx_type` is 0) with one
/// log from `address` with one `topic` and `data`, and the matching bloom.
pub fn receipt_with_log(
    tx_type: u8,
    cumulative_gas: u64,
    address: Address,
    topic: B256,
    data: &[u8],
) -> Vec<u8> {
    let mut bloom = Bloom::ZERO;
    bloom.accrue_raw_log(address, &[topic]);
    let mut log_full = Vec::new();
    address.encode(&mut log_full);
    let mut topics = Vec::new();
    topic.encode(&mut topics);
    log_full.extend_from_slice(&wrap_list(&topics));
    data.encode(&mut log_full);
    let logs = wrap_list(&wrap_list(&log_full));
    let mut p = Vec::new();
    1u8.encode(&mut p);
    cumulative_gas.encode(&mut p);
    bloom.encode(&mut p);
    p.extend_from_slice(&logs);
    let mut out = Vec::new();
    if tx_type != 0 {
        out.push(tx_type);
    }
    out.extend_from_slice(&wrap_list(&p));
    out
}

/// Generates blocks `0..count` with `txs_per_block` transactions each (every 10th block is
/// empty). Blocks from `withdrawals_from` on carry one withdrawal.
pub fn generate(count: u64, txs_per_block: usize, withdrawals_from: Option<u64>) -> Vec<TestBlock> {
    generate_after(B256::ZERO, 0, count, txs_per_block, withdrawals_from)
}

/// Like [`generate`], but the blocks are `first..first + count` and block `first`'s parent
/// hash is `parent` (e.g. a chain spec's genesis hash with `first = 1`).
pub fn generate_after(
    parent: B256,
    first: u64,
    count: u64,
    txs_per_block: usize,
    withdrawals_from: Option<u64>,
) -> Vec<TestBlock> {
    let mut out: Vec<TestBlock> = Vec::with_capacity(count as usize);
    let mut parent = parent;
    for n in first..first + count {
        let ntx = if n % 10 == 9 || n == 0 {
            0
        } else {
            txs_per_block
        };
        let txs: Vec<Vec<u8>> = (0..ntx).map(|i| tx(n, i)).collect();
        let receipts: Vec<Vec<u8>> = (0..ntx)
            .map(|i| receipt(i % 2 == 1, 21_000 * (i as u64 + 1), n * 1000 + i as u64))
            .collect();
        let mut txs_wire = Vec::new();
        for t in &txs {
            if t[0] >= 0xc0 {
                txs_wire.extend_from_slice(t);
            } else {
                put_string_header(&mut txs_wire, t.len());
                txs_wire.extend_from_slice(t);
            }
        }
        let mut body = wrap_list(&txs_wire);
        body.push(0xc0);
        let withdrawals = withdrawals_from.is_some_and(|w| n >= w);
        let mut withdrawals_root = None;
        if withdrawals {
            let mut w = Vec::new();
            n.encode(&mut w);
            (n % 100).encode(&mut w);
            Address::with_last_byte(7).encode(&mut w);
            1_000_000u64.encode(&mut w);
            let item = wrap_list(&w);
            withdrawals_root = Some(ordered_trie_root_encoded(&[&item]));
            body.extend_from_slice(&wrap_list(&item));
        }
        let body = wrap_list(&body);
        let header = Header {
            parent_hash: parent,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::with_last_byte(0xbe),
            state_root: keccak256(n.to_be_bytes()),
            transactions_root: ordered_trie_root_encoded(&txs),
            receipts_root: ordered_trie_root_encoded(&receipts),
            difficulty: U256::from(1),
            number: n,
            gas_limit: 30_000_000,
            gas_used: 21_000 * ntx as u64,
            timestamp: 1_700_000_000 + n * 2,
            extra_data: Bytes::from(vec![0u8; 32]),
            base_fee_per_gas: Some(7),
            withdrawals_root,
            ..Default::default()
        };
        let mut h = Vec::new();
        header.encode(&mut h);
        let hash = keccak256(&h);
        parent = hash;
        out.push(TestBlock {
            number: n,
            hash,
            header: h.into(),
            body: body.into(),
            receipts: receipts.into_iter().map(Bytes::from).collect(),
        });
    }
    out
}

/// The blocks in geth export format and the matching receipts file.
pub fn export(blocks: &[TestBlock]) -> (Vec<u8>, Vec<u8>) {
    let mut chain = Vec::new();
    let mut receipts = Vec::new();
    for b in blocks {
        chain.extend_from_slice(
            &hypasis_storage_api::blockfile::block_rlp(&b.header, &b.body)
                .expect("generated body is a list"),
        );
        receipts.extend_from_slice(&hypasis_storage_api::blockfile::receipts_file_item(
            &b.receipts,
        ));
    }
    (chain, receipts)
}

/// Puts generated blocks into a [`MemoryBlockSource`].
pub fn source(blocks: &[TestBlock]) -> MemoryBlockSource {
    let mut s = MemoryBlockSource::new();
    for b in blocks {
        s.insert(
            b.number,
            b.header.clone(),
            b.body.clone(),
            b.receipts.clone(),
        );
    }
    s
}

/// The status of a test peer on the synthetic network (id 4242) with `genesis` and its head at
/// `latest`.
pub fn test_status(genesis: B256, latest: u64) -> LocalStatus {
    LocalStatus {
        network_id: 4242,
        genesis,
        fork_id: ForkId {
            hash: ForkHash([9, 9, 9, 9]),
            next: 0,
        },
        total_difficulty: U256::from(1),
        head_hash: B256::repeat_byte(1),
        earliest_block: 0,
        latest_block: latest,
    }
}

/// The configuration of a pool on the synthetic network (see [`test_status`]) that dials
/// `static_peers`, with a handshake timeout generous enough for a loaded machine (5 s).
pub fn test_pool_config(genesis: B256, latest: u64, static_peers: Vec<Enode>) -> PoolConfig {
    let mut session = SessionConfig::new(test_status(genesis, latest));
    session.handshake_timeout = Duration::from_secs(5);
    let mut config = PoolConfig::new(session);
    config.static_peers = static_peers;
    config
}

/// What a test peer changes in an honest source's answers; every hook passes the honest answer
/// through unless overridden.
pub trait Tamper: Send + Sync {
    /// A header, as served by number or by hash.
    fn header(&self, honest: Bytes) -> Bytes {
        honest
    }
    /// A block body.
    fn body(&self, honest: Bytes) -> Bytes {
        honest
    }
    /// A block's receipts.
    fn receipts(&self, honest: Vec<Bytes>) -> Vec<Bytes> {
        honest
    }
}

/// An honest source whose answers go through a [`Tamper`]: the lying (or watching) peers of
/// tests.
#[derive(Debug)]
pub struct Tampered<T> {
    /// What an honest peer would serve.
    pub honest: MemoryBlockSource,
    /// What this peer changes.
    pub tamper: T,
}

impl<T: Tamper> BlockSource for Tampered<T> {
    fn header_by_number(&self, number: u64) -> Option<Bytes> {
        let h = self.honest.header_by_number(number)?;
        Some(self.tamper.header(h))
    }
    fn header_by_hash(&self, hash: &B256) -> Option<(u64, Bytes)> {
        let (n, h) = self.honest.header_by_hash(hash)?;
        Some((n, self.tamper.header(h)))
    }
    fn body_by_hash(&self, hash: &B256) -> Option<Bytes> {
        let b = self.honest.body_by_hash(hash)?;
        Some(self.tamper.body(b))
    }
    fn receipts_by_hash(&self, hash: &B256) -> Option<Vec<Bytes>> {
        let r = self.honest.receipts_by_hash(hash)?;
        Some(self.tamper.receipts(r))
    }
}

/// Sets every block's header logs bloom from its receipts (the generator leaves it empty) and
/// re-links the chain on `parent` (the hash below the first block), so that the full
/// validation rules pass. Block 0, if present, is left as it is.
pub fn with_receipt_blooms(blocks: &mut [TestBlock], mut parent: B256) {
    use alloy_eips::eip2718::Decodable2718;
    for b in blocks {
        if b.number == 0 {
            parent = b.hash;
            continue;
        }
        let mut h =
            <Header as alloy_rlp::Decodable>::decode(&mut &b.header[..]).expect("generated header");
        let mut bloom = Bloom::ZERO;
        for r in &b.receipts {
            let env =
                alloy_consensus::ReceiptEnvelope::<alloy_primitives::Log>::decode_2718(&mut &r[..])
                    .expect("generated receipt");
            bloom |= *env.logs_bloom();
        }
        h.logs_bloom = bloom;
        h.parent_hash = parent;
        let mut enc = Vec::new();
        h.encode(&mut enc);
        b.hash = keccak256(&enc);
        b.header = enc.into();
        parent = b.hash;
    }
}

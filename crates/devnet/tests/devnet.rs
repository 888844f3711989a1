//! The generated devnet chain passes the validator (token transfers carry logs, so receipt
//! and header blooms are non-trivial); the Heimdall endpoint reads back through the Heimdall
//! source.

use std::time::{Duration, Instant};

use alloy_primitives::Address;
use hypasis_checkpoint::{CheckpointSource as _, HeimdallSource};
use hypasis_devnet::{CheckpointFeed, DEV_ACCOUNT_KEYS, DevnetParams, generate, serve_heimdall};
use hypasis_primitives::{ChainSpec, VerificationLevel};
use hypasis_validation::{Anchors, CheckpointAnchor, Validator};

fn small(blocks: u64) -> hypasis_devnet::Devnet {
    generate(
        &ChainSpec::devnet(),
        DevnetParams {
            blocks,
            txs_per_block: 5,
            validators: 3,
            checkpoint_len: 64,
            seed: 7,
        },
    )
    .unwrap()
}

fn anchors(net: &hypasis_devnet::Devnet) -> Anchors {
    let last = net.checkpoints.last().unwrap();
    Anchors {
        trusted: vec![(last.range.end, last.end_block_hash.unwrap())],
        checkpoints: net.checkpoints.iter().map(CheckpointAnchor::from).collect(),
        bor_validators: vec![(0, net.validator_addresses())],
        ..Default::default()
    }
}

#[test]
fn dev_keys_are_the_funded_genesis_accounts() {
    let json = ChainSpec::DEVNET_GENESIS_JSON;
    for key in DEV_ACCOUNT_KEYS {
        let sk = secp256k1::SecretKey::from_secret_bytes(key).unwrap();
        let public = sk.public_key().serialize_uncompressed();
        let addr = Address::from_slice(&alloy_primitives::keccak256(&public[1..])[12..]);
        assert!(
            json.to_lowercase().contains(&format!("{addr:#x}")),
            "{addr} is not in the devnet alloc"
        );
    }
}

#[test]
fn generated_chain_validates_to_checkpoint_root() {
    let net = small(640);
    assert_eq!(net.blocks.len(), 640);
    assert_eq!(net.checkpoints.len(), 10);
    let blocks = net.raw_blocks();
    let validator = Validator::new(net.spec.clone());
    // From genesis as verified parent, and anchored at the last checkpoint's end hash.
    let mut a = anchors(&net);
    let genesis = hypasis_validation::SealedHeader::seal_slow(net.spec.genesis_header.clone());
    a.parent = Some((genesis, None));
    let report = validator.validate_raw_blocks(&blocks, &a).unwrap();
    assert_eq!(report.used_checkpoints.len(), 10);
    for b in &blocks {
        assert_eq!(
            report.level_of(b.number),
            Some(VerificationLevel::CheckpointRoot),
            "block {}",
            b.number
        );
    }
    // Without a parent: a middle slice anchored at a checkpoint end hash only.
    let cp = &net.checkpoints[4];
    let slice = &blocks[(cp.range.start - 1) as usize..cp.range.end as usize];
    let mut a = anchors(&net);
    a.trusted = vec![(cp.range.end, cp.end_block_hash.unwrap())];
    let report = validator.validate_raw_blocks(slice, &a).unwrap();
    assert!(
        slice
            .iter()
            .all(|b| report.level_of(b.number) == Some(VerificationLevel::CheckpointRoot))
    );
}

#[test]
fn tampered_block_fails() {
    let net = small(128);
    let validator = Validator::new(net.spec.clone());
    let a = anchors(&net);
    // A different body (transactions root no longer matches).
    let mut blocks = net.raw_blocks();
    let other = blocks[11].body.clone();
    blocks[10].body = other;
    assert!(validator.validate_raw_blocks(&blocks, &a).is_err());
    // A block signed by a key outside the validator set.
    let rogue = generate(
        &net.spec,
        DevnetParams {
            seed: 99,
            ..net.params
        },
    )
    .unwrap();
    let mut blocks = net.raw_blocks();
    blocks[20] = rogue.blocks[20].raw.clone();
    assert!(validator.validate_raw_blocks(&blocks, &a).is_err());
    // A wrong checkpoint root.
    let mut a = anchors(&net);
    a.checkpoints[0].root = alloy_primitives::B256::repeat_byte(1);
    assert!(
        validator
            .validate_raw_blocks(&net.raw_blocks(), &a)
            .is_err()
    );
}

#[test]
fn generates_50k_blocks_quickly() {
    let start = Instant::now();
    let net = generate(
        &ChainSpec::devnet(),
        DevnetParams {
            blocks: 50_000,
            txs_per_block: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let took = start.elapsed();
    eprintln!("generated 50,000 blocks in {took:?}");
    assert_eq!(net.blocks.len(), 50_000);
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn token_transfers_carry_transfer_logs_and_blooms() {
    use alloy_consensus::{ReceiptEnvelope, TxReceipt};
    use alloy_eips::eip2718::Decodable2718;
    use alloy_primitives::{BloomInput, keccak256};
    use hypasis_devnet::chain::{DEV_TOKEN, TRANSFER_EVENT};

    assert_eq!(
        keccak256("Transfer(address,address,uint256)"),
        TRANSFER_EVENT
    );
    let net = small(20);
    for b in &net.blocks {
        let receipts: Vec<ReceiptEnvelope> = b
            .receipts
            .iter()
            .map(|r| ReceiptEnvelope::decode_2718(&mut &r[..]).unwrap())
            .collect();
        assert_eq!(receipts.len(), 5);
        // Transactions 2 (EIP-1559) and 5 (legacy) of 0..5 are token transfers: index 2.
        for (i, r) in receipts.iter().enumerate() {
            let logs = r.logs();
            if i % 3 == 2 {
                assert_eq!(logs.len(), 1, "block {} receipt {i}", b.raw.number);
                assert_eq!(logs[0].address, DEV_TOKEN);
                assert_eq!(logs[0].topics()[0], TRANSFER_EVENT);
                assert_eq!(logs[0].topics().len(), 3);
                assert_eq!(logs[0].data.data.len(), 32);
            } else {
                assert!(logs.is_empty());
            }
            assert_eq!(
                r.bloom(),
                r.as_receipt_with_bloom().unwrap().receipt.bloom_slow()
            );
        }
        assert!(
            b.header
                .logs_bloom
                .contains_input(BloomInput::Raw(DEV_TOKEN.as_slice()))
        );
        assert!(
            b.header
                .logs_bloom
                .contains_input(BloomInput::Raw(TRANSFER_EVENT.as_slice()))
        );
        assert_eq!(
            b.header.gas_used,
            receipts.last().unwrap().cumulative_gas_used()
        );
    }
}

#[test]
fn growing_chain_links() {
    let mut net = small(100);
    let added = net.extend(100);
    assert_eq!(added, 2);
    let validator = Validator::new(net.spec.clone());
    let genesis = hypasis_validation::SealedHeader::seal_slow(net.spec.genesis_header.clone());
    let mut a = anchors(&net);
    a.parent = Some((genesis, None));
    validator
        .validate_raw_blocks(&net.raw_blocks(), &a)
        .unwrap();
}

#[tokio::test]
async fn heimdall_endpoint_reads_through_the_source() {
    let net = small(256);
    let feed = CheckpointFeed::new(net.spec.chain_id, net.checkpoints.clone());
    feed.set_milestone(256, net.head_hash(), net.head().timestamp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = serve_heimdall(listener, feed.clone());
    let source = HeimdallSource::new(&url, Duration::from_secs(5)).unwrap();
    let latest = source.latest().await.unwrap();
    let want = net.checkpoints.last().unwrap();
    assert_eq!(latest.id, want.id);
    assert_eq!(latest.range, want.range);
    assert_eq!(latest.root, want.root);
    assert_eq!(latest.proposer, want.proposer);
    let second = source.by_id(2).await.unwrap();
    assert_eq!(second.root, net.checkpoints[1].root);
    assert!(source.by_id(99).await.is_err());
    assert_eq!(source.count().await.unwrap(), 4);
    let m = source.latest_milestone().await.unwrap();
    assert_eq!((m.end_block, m.hash), (256, net.head_hash()));
    task.abort();
}

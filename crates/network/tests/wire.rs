//! The wire per chain over 127.0.0.1: Bor's eth/69 dialect between our client and our server
//! (and a clean refusal across dialects), and eth/70 partial receipts reassembled across
//! responses.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy_primitives::{B256, Bytes, U256};
use hypasis_downloader::fetch::{FetchConfig, FetchedBlock, fetch_range};
use hypasis_eth_wire::{Dialect, EthVersion, Status};
use hypasis_network::{
    Blame, LocalStatus, ServeLimits, SessionConfig, SessionError, connect,
    server::Server,
    testchain::{self, Tamper, Tampered, TestBlock},
};
use hypasis_primitives::ChainSpec;
use hypasis_rlpx::{identity::generate_secret_key, p2p::MessageError};
use tokio::net::TcpListener;

fn status(genesis: B256, latest: u64) -> LocalStatus {
    LocalStatus {
        total_difficulty: U256::from(123_456),
        ..testchain::test_status(genesis, latest)
    }
}

/// Counts receipt lookups, to see how many requests the server answered.
struct Counting {
    receipt_lookups: AtomicUsize,
}

impl Tamper for Counting {
    fn receipts(&self, honest: Vec<Bytes>) -> Vec<Bytes> {
        self.receipt_lookups.fetch_add(1, Ordering::Relaxed);
        honest
    }
}

async fn serve(config: SessionConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::spawn(listener, generate_secret_key(), config, 4).unwrap()
}

fn timeouts(mut c: SessionConfig) -> SessionConfig {
    c.handshake_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(5);
    c
}

async fn download(server: &Server, client: SessionConfig, to: u64) -> Vec<FetchedBlock> {
    let session = connect(&generate_secret_key(), server.enode(), client)
        .await
        .expect("handshake");
    let mut got = Vec::new();
    let config = FetchConfig {
        receipts_per_request: 16,
        ..FetchConfig::default()
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        fetch_range(
            &session.handle(),
            0,
            to,
            config,
            |b| {
                got.extend(b);
                Ok(())
            },
            |_| {},
        ),
    )
    .await
    .expect("download in time")
    .expect("download");
    got
}

fn assert_chain(got: &[FetchedBlock], blocks: &[TestBlock]) {
    assert_eq!(got.len(), blocks.len());
    for (g, b) in got.iter().zip(blocks) {
        assert_eq!((g.hash, &g.header, &g.body), (b.hash, &b.header, &b.body));
        assert_eq!(g.receipts, b.receipts, "block {}", b.number);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bor_dialect_client_and_server_fetch() {
    let blocks = testchain::generate(40, 3, None);
    let genesis = blocks[0].hash;
    let bor = ChainSpec::devnet();
    let mut server_cfg = timeouts(SessionConfig::for_chain(&bor, status(genesis, 39)));
    server_cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
    assert_eq!(server_cfg.dialect, Dialect::Bor);
    let server = serve(server_cfg).await;

    let client = timeouts(SessionConfig::for_chain(&bor, status(genesis, 0)));
    let session = connect(&generate_secret_key(), server.enode(), client.clone())
        .await
        .expect("Bor handshake");
    let info = session.info();
    assert_eq!(info.eth_version, EthVersion::Eth69);
    assert_eq!(info.dialect, Dialect::Bor);
    match &info.remote_status {
        Status::Eth69(s) => {
            assert_eq!(s.total_difficulty, Some(U256::from(123_456)));
            assert_eq!(s.latest_block, 39);
        }
        other => panic!("unexpected status {other:?}"),
    }
    drop(session);
    assert_chain(&download(&server, client, 39).await, &blocks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialect_mismatch_fails_cleanly() {
    let genesis = B256::repeat_byte(7);
    // A standard (Ethereum) server, offering eth/69 only so both sides use a dialect-specific
    // Status.
    let mut server_cfg = timeouts(SessionConfig::for_chain(
        &ChainSpec::mainnet(),
        status(genesis, 5),
    ));
    server_cfg.eth_versions = vec![EthVersion::Eth69];
    let server = serve(server_cfg).await;

    let bor_client = timeouts(SessionConfig::for_chain(
        &ChainSpec::devnet(),
        status(genesis, 0),
    ));
    let err = connect(&generate_secret_key(), server.enode(), bor_client)
        .await
        .expect_err("dialects differ");
    assert!(
        matches!(
            err,
            SessionError::Message(MessageError::StatusDialect {
                expected: Dialect::Bor,
                found: Dialect::Standard
            })
        ),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::Incompatible);
    assert!(err.to_string().contains("dialect mismatch"), "{err}");

    // On eth/68 the Status is the same in both dialects: a Bor client and a standard server
    // still talk.
    let mut bor68 = timeouts(SessionConfig::for_chain(
        &ChainSpec::devnet(),
        status(genesis, 0),
    ));
    bor68.eth_versions = vec![EthVersion::Eth68];
    let mut server_cfg = timeouts(SessionConfig::for_chain(
        &ChainSpec::mainnet(),
        status(genesis, 5),
    ));
    server_cfg.eth_versions = vec![EthVersion::Eth68];
    let server68 = serve(server_cfg).await;
    connect(&generate_secret_key(), server68.enode(), bor68)
        .await
        .expect("eth/68 is dialect-free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth70_receipts_split_across_responses_are_reassembled() {
    let blocks = testchain::generate(60, 4, Some(30));
    let genesis = blocks[0].hash;
    let with_receipts = blocks.iter().filter(|b| !b.receipts.is_empty()).count();
    let one_receipt = blocks[1].receipts[0].len();

    // Unsplit reference: eth/69.
    let mut plain = timeouts(SessionConfig::new(status(genesis, 59)));
    plain.block_source = Some(Arc::new(testchain::source(&blocks)));
    let plain_server = serve(plain).await;
    let mut client69 = timeouts(SessionConfig::new(status(genesis, 0)));
    client69.eth_versions = vec![EthVersion::Eth69];
    let unsplit = download(&plain_server, client69, 59).await;
    assert_chain(&unsplit, &blocks);

    // eth/70 with a response limit of about two receipts: every block's list is cut.
    let counting = Arc::new(Tampered {
        honest: testchain::source(&blocks),
        tamper: Counting {
            receipt_lookups: AtomicUsize::new(0),
        },
    });
    let mut split = timeouts(SessionConfig::new(status(genesis, 59)));
    split.block_source = Some(counting.clone());
    split.serve_limits = ServeLimits {
        receipts_response_bytes: 2 * one_receipt + 40,
        ..ServeLimits::default()
    };
    let split_server = serve(split).await;
    let client70 = timeouts(SessionConfig::new(status(genesis, 0)));
    assert_eq!(client70.eth_versions[0], EthVersion::Eth70);
    let session = connect(
        &generate_secret_key(),
        split_server.enode(),
        client70.clone(),
    )
    .await
    .unwrap();
    assert_eq!(session.info().eth_version, EthVersion::Eth70);
    drop(session);
    let reassembled = download(&split_server, client70, 59).await;
    assert_chain(&reassembled, &blocks);
    assert_eq!(
        reassembled, unsplit,
        "byte-identical to the unsplit download"
    );
    // Each 4-receipt list took at least two responses.
    assert!(
        counting.tamper.receipt_lookups.load(Ordering::Relaxed) >= 2 * with_receipts,
        "lists were not split: {} lookups for {with_receipts} lists",
        counting.tamper.receipt_lookups.load(Ordering::Relaxed)
    );
}

//! The peer pool over loopback with many of our own servers, some of which lie: honest data
//! is fully downloaded and the liars end up banned.

use std::{sync::Arc, time::Duration};

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};
use alloy_rlp::{Decodable, Encodable};
use hypasis_downloader::fetch::{FetchConfig, FetchedBlock, fetch_range};
use hypasis_network::{
    BlockSource, LocalStatus, SessionConfig,
    pool::{Pool, PoolConfig},
    server::Server,
    session::accept,
    testchain::{self, Tamper, Tampered, TestBlock},
};
use hypasis_rlpx::{
    identity::{generate_secret_key, node_id},
    p2p::DisconnectReason,
};
use tokio::net::TcpListener;

/// The head every peer of these tests claims.
const LATEST: u64 = 1999;

fn status(genesis: B256) -> LocalStatus {
    testchain::test_status(genesis, LATEST)
}

/// Lies about headers: every header's timestamp is off by one (so hashes and links break).
struct WrongHeaders;

impl Tamper for WrongHeaders {
    fn header(&self, raw: Bytes) -> Bytes {
        let mut h = Header::decode(&mut &raw[..]).unwrap();
        h.timestamp += 1;
        let mut out = Vec::new();
        h.encode(&mut out);
        out.into()
    }
}

/// Honest headers, garbage bodies and reordered receipts.
struct GarbageBodies;

impl Tamper for GarbageBodies {
    fn body(&self, _honest: Bytes) -> Bytes {
        Bytes::from_static(&[0xc5, 0xc3, 0xc2, 0x01, 0x02, 0xc0])
    }
    fn receipts(&self, mut r: Vec<Bytes>) -> Vec<Bytes> {
        r.reverse();
        if r.len() == 1 {
            r.push(r[0].clone());
        }
        r
    }
}

/// A source serving `blocks` through `tamper`.
fn tampered(blocks: &[TestBlock], tamper: impl Tamper + 'static) -> Arc<dyn BlockSource> {
    Arc::new(Tampered {
        honest: testchain::source(blocks),
        tamper,
    })
}

async fn serve(source: Arc<dyn BlockSource>, genesis: B256, delay: Duration) -> Server {
    let mut cfg = SessionConfig::new(status(genesis));
    cfg.block_source = Some(source);
    cfg.response_delay = delay;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::spawn(listener, generate_secret_key(), cfg, 16).unwrap()
}

/// A server that accepts, serves briefly, then drops every session mid-request.
async fn disconnector(
    source: Arc<dyn BlockSource>,
    genesis: B256,
) -> (hypasis_rlpx::Enode, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let secret = generate_secret_key();
    let enode = hypasis_rlpx::Enode::new(&secret.public_key(), addr.ip(), addr.port(), addr.port());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let mut cfg = SessionConfig::new(status(genesis));
            cfg.block_source = Some(source.clone());
            cfg.response_delay = Duration::from_millis(40);
            let secret = secret;
            tokio::spawn(async move {
                if let Ok(session) = accept(stream, &secret, cfg).await {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    session.disconnect(DisconnectReason::Requested).await;
                }
            });
        }
    });
    (enode, task)
}

/// Downloads blocks `from..=to` from the pool with `fetch`, failing the test unless that
/// succeeds `within` the given time.
async fn download(
    pool: &Pool,
    from: u64,
    to: u64,
    fetch: FetchConfig,
    within: Duration,
) -> Vec<FetchedBlock> {
    let mut got = Vec::new();
    tokio::time::timeout(
        within,
        fetch_range(
            pool,
            from,
            to,
            fetch,
            |b| {
                got.extend(b);
                Ok(())
            },
            |_| {},
        ),
    )
    .await
    .expect("download finished in time")
    .expect("download succeeded");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_data_downloaded_and_liars_banned() {
    let blocks = testchain::generate(2000, 4, Some(1500));
    let genesis = blocks[0].hash;
    let honest = Arc::new(testchain::source(&blocks));

    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(serve(honest.clone(), genesis, Duration::ZERO).await);
    }
    let wrong_headers = serve(tampered(&blocks, WrongHeaders), genesis, Duration::ZERO).await;
    let garbage = serve(tampered(&blocks, GarbageBodies), genesis, Duration::ZERO).await;
    let staller = serve(honest.clone(), genesis, Duration::from_secs(3600)).await;
    let other_chain = serve(honest.clone(), B256::repeat_byte(0xee), Duration::ZERO).await;
    let (flaky, _flaky_task) = disconnector(honest.clone(), genesis).await;

    let liars = [
        wrong_headers.enode().id,
        garbage.enode().id,
        staller.enode().id,
    ];
    let mut static_peers: Vec<_> = servers.iter().map(|s| s.enode().clone()).collect();
    static_peers.extend([
        wrong_headers.enode().clone(),
        garbage.enode().clone(),
        staller.enode().clone(),
        other_chain.enode().clone(),
        flaky.clone(),
    ]);

    let mut config = testchain::test_pool_config(genesis, LATEST, static_peers);
    config.max_peers = 20;
    config.min_timeout = Duration::from_millis(300);
    config.max_timeout = Duration::from_secs(2);
    config.target_rtt = Duration::from_millis(200);
    config.redial_interval = Duration::from_millis(200);
    config.acquire_timeout = Duration::from_secs(20);
    config.max_attempts = 30;
    config.initial_capacity = [128, 32, 32];
    let me = generate_secret_key();
    let pool = Pool::start(config, me, None);
    assert!(pool.wait_for_peers(6, Duration::from_secs(10)).await);

    let fetch = FetchConfig {
        in_flight: 8,
        headers_per_request: 256,
        bodies_per_request: 64,
        receipts_per_request: 64,
        window: 1000,
        max_attempts: 20,
        ..FetchConfig::default()
    };
    let got = download(&pool, 0, 1999, fetch, Duration::from_secs(120)).await;

    assert_eq!(got.len(), 2000);
    for (g, b) in got.iter().zip(&blocks) {
        assert_eq!(g.hash, b.hash);
        assert_eq!(g.header, b.header);
        assert_eq!(g.body, b.body);
        assert_eq!(g.receipts, b.receipts);
    }

    let banned = pool.banned();
    for liar in liars {
        assert!(
            banned.contains(&liar),
            "liar {liar} not banned; stats: {:#?}",
            pool.stats()
        );
    }
    for s in &servers {
        assert!(!banned.contains(&s.enode().id), "honest peer banned");
    }
    let stats = pool.stats();
    assert!(
        stats.iter().all(|s| s.node_id != other_chain.enode().id),
        "peer on another chain admitted"
    );
    let honest_ids: Vec<_> = servers.iter().map(|s| s.enode().id).collect();
    let honest_stats: Vec<_> = stats
        .iter()
        .filter(|s| honest_ids.contains(&s.node_id))
        .collect();
    assert_eq!(honest_stats.len(), 3, "{stats:#?}");
    assert!(
        honest_stats
            .iter()
            .any(|s| s.requests > 0 && s.rates[0] > 0.0)
    );
    assert!(
        honest_stats
            .iter()
            .all(|s| s.score > -100 && !s.inbound && s.eth_version == 70)
    );
    assert_ne!(node_id(&generate_secret_key()), honest_ids[0]);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_peers_and_max_peers() {
    let blocks = testchain::generate(50, 2, None);
    let genesis = blocks[0].hash;
    let mut session = SessionConfig::new(status(genesis));
    session.block_source = Some(Arc::new(testchain::source(&blocks)));
    let mut config = PoolConfig::new(session.clone());
    config.max_peers = 2;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool_key = generate_secret_key();
    let pool_enode =
        hypasis_rlpx::Enode::new(&pool_key.public_key(), addr.ip(), addr.port(), addr.port());
    let pool = Pool::start(config, pool_key, Some(listener));

    // Three clients dial the pool; only two fit.
    let mut sessions = Vec::new();
    let mut refused = 0;
    for _ in 0..3 {
        match hypasis_network::connect(&generate_secret_key(), &pool_enode, session.clone()).await {
            Ok(s) => sessions.push(s),
            Err(_) => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pool.wait_for_peers(2, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = pool.stats();
    assert_eq!(stats.len(), 2, "{stats:#?}");
    assert!(stats.iter().all(|s| s.inbound));
    // The third was refused during or right after the handshake.
    let closed = sessions.iter().filter(|s| s.is_closed()).count();
    assert_eq!(refused + closed, 1, "refused {refused}, closed {closed}");

    // The pool serves its inbound peers and can request from them.
    let r = pool.request_headers(0, 10).await.unwrap();
    assert_eq!(r.data.len(), 10);
    pool.shutdown().await;
}

/// A peer that answers nothing it was asked and pushes a `BlockHeaders` response for a request
/// id we never issued is banned for unrequested data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrequested_responses_ban_the_peer() {
    let blocks = testchain::generate(10, 1, None);
    let genesis = blocks[0].hash;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let secret = generate_secret_key();
    let enode = hypasis_rlpx::Enode::new(&secret.public_key(), addr.ip(), addr.port(), addr.port());
    let header = blocks[1].header.clone();
    let liar = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let session = accept(stream, &secret, SessionConfig::new(status(genesis)))
            .await
            .unwrap();
        // Request ids issued by the pool's session start at a random u32; u64::MAX is never one.
        let _ = session
            .handle()
            .send(hypasis_eth_wire::eth::EthMessage::BlockHeaders {
                request_id: u64::MAX,
                headers: vec![header],
            })
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });

    let mut config = PoolConfig::new(SessionConfig::new(status(genesis)));
    config.static_peers = vec![enode.clone()];
    config.redial_interval = Duration::from_secs(60);
    let pool = Pool::start(config, generate_secret_key(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pool.banned().contains(&enode.id) {
        assert!(
            std::time::Instant::now() < deadline,
            "peer sending unrequested data was not banned: {:#?}",
            pool.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.shutdown().await;
    liar.abort();
}

/// With discovery the pool finds and connects the serving peers through a bootnode; in static
/// mode (`--no-discovery`: no `discover_from`) the same pool with no static peers connects to
/// nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_feeds_the_pool_and_static_mode_does_not() {
    use hypasis_discv4::{Discv4, Discv4Config};
    let blocks = testchain::generate(10, 1, None);
    let genesis = blocks[0].hash;
    let source: Arc<dyn BlockSource> = Arc::new(testchain::source(&blocks));
    let dconf = Discv4Config::loopback();
    let boot = Discv4::bind(
        "127.0.0.1:0".parse().unwrap(),
        generate_secret_key(),
        dconf.clone(),
    )
    .await
    .unwrap();
    // Three serving peers, each announcing its RLPx port through discv4 under the same key.
    let mut servers = Vec::new();
    let mut discs = Vec::new();
    for _ in 0..3 {
        let secret = generate_secret_key();
        let mut cfg = SessionConfig::new(status(genesis));
        cfg.block_source = Some(source.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        servers.push(Server::spawn(listener, secret, cfg, 16).unwrap());
        let d = Discv4Config {
            bootnodes: vec![boot.local_enode()],
            tcp_port: port,
            ..dconf.clone()
        };
        discs.push(
            Discv4::bind("127.0.0.1:0".parse().unwrap(), secret, d)
                .await
                .unwrap(),
        );
    }
    let mut config = PoolConfig::new(SessionConfig::new(status(genesis)));
    config.redial_interval = Duration::from_millis(200);

    // Static mode: nothing to dial.
    let static_pool = Pool::start(config.clone(), generate_secret_key(), None);
    assert!(
        !static_pool
            .wait_for_peers(1, Duration::from_millis(1500))
            .await,
        "a pool without discovery and without static peers must stay empty"
    );
    static_pool.shutdown().await;

    // Discovery mode: the pool's own discv4 bootstraps from the bootnode and feeds the pool.
    let me = generate_secret_key();
    let mine = Arc::new(
        Discv4::bind(
            "127.0.0.1:0".parse().unwrap(),
            me,
            Discv4Config {
                bootnodes: vec![boot.local_enode()],
                ..dconf.clone()
            },
        )
        .await
        .unwrap(),
    );
    let pool = Pool::start(config, me, None);
    pool.discover_from(mine);
    assert!(
        pool.wait_for_peers(3, Duration::from_secs(20)).await,
        "discovery did not find the serving peers: {:#?}",
        pool.stats()
    );
    let ids: Vec<_> = servers.iter().map(|s| s.enode().id).collect();
    let stats = pool.stats();
    assert!(ids.iter().all(|id| stats.iter().any(|s| &s.node_id == id)));
    pool.shutdown().await;
}

/// Serves honest headers and bodies but pads every receipt list: with `extra` copies of the
/// last receipt (one too many, or an endless tail that never completes).
struct PaddedReceipts {
    extra: usize,
}

impl Tamper for PaddedReceipts {
    fn receipts(&self, mut r: Vec<Bytes>) -> Vec<Bytes> {
        if let Some(last) = r.last().cloned() {
            r.extend(std::iter::repeat_n(last, self.extra));
        }
        r
    }
}

/// eth/70 (EIP-7975) with receipt lists cut across responses: a peer that keeps a block
/// incomplete (an endless tail) and one that sends one receipt too many are scored (banned
/// for invalid data) and the download completes, byte for byte, from the honest peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth70_partial_receipt_liars_are_scored() {
    let blocks = testchain::generate(300, 4, Some(100));
    let genesis = blocks[0].hash;
    let one_receipt = blocks[1].receipts[0].len();
    // Every server cuts lists after about two receipts.
    let limits = hypasis_network::ServeLimits {
        receipts_response_bytes: 2 * one_receipt + 40,
        ..hypasis_network::ServeLimits::default()
    };
    let spawn = |source: Arc<dyn BlockSource>| async move {
        let mut cfg = SessionConfig::new(status(genesis));
        cfg.block_source = Some(source);
        cfg.serve_limits = limits;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::spawn(listener, generate_secret_key(), cfg, 4).unwrap()
    };
    let honest = spawn(Arc::new(testchain::source(&blocks))).await;
    let endless = spawn(tampered(&blocks, PaddedReceipts { extra: 1000 })).await;
    let one_too_many = spawn(tampered(&blocks, PaddedReceipts { extra: 1 })).await;
    let liars = [endless.enode().id, one_too_many.enode().id];

    let mut config = testchain::test_pool_config(
        genesis,
        LATEST,
        vec![
            honest.enode().clone(),
            endless.enode().clone(),
            one_too_many.enode().clone(),
        ],
    );
    config.redial_interval = Duration::from_secs(60);
    config.max_attempts = 20;
    let pool = Pool::start(config, generate_secret_key(), None);
    assert!(pool.wait_for_peers(3, Duration::from_secs(10)).await);
    assert!(pool.stats().iter().all(|s| s.eth_version == 70));

    let fetch = FetchConfig {
        in_flight: 4,
        receipts_per_request: 16,
        ..FetchConfig::default()
    };
    let got = download(&pool, 0, 299, fetch, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 300);
    for (g, b) in got.iter().zip(&blocks) {
        assert_eq!(g.hash, b.hash);
        assert_eq!(g.receipts, b.receipts, "block {}", b.number);
    }
    let banned = pool.banned();
    for liar in liars {
        assert!(
            banned.contains(&liar),
            "liar {liar} not scored; stats: {:#?}",
            pool.stats()
        );
    }
    assert!(!banned.contains(&honest.enode().id), "honest peer banned");
    pool.shutdown().await;
}

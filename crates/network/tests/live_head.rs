//! A server whose head moves ([`SessionConfig::live_status`]): new sessions get the new head
//! in `Status`, established eth/69 sessions get `BlockRangeUpdate` (rate-limited), eth/68
//! sessions get `NewBlockHashes` when enabled, and a client [`Pool`] sees the head advance in
//! [`Pool::stats`].

use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use hypasis_eth_wire::{
    EthVersion,
    eth::{ForkHash, ForkId},
};
use hypasis_network::{
    LocalStatus, SessionConfig, SessionEvent,
    pool::{Pool, PoolConfig},
    server::Server,
};
use hypasis_rlpx::identity::generate_secret_key;
use tokio::{net::TcpListener, sync::watch};

fn status(latest: u64) -> LocalStatus {
    LocalStatus {
        network_id: 4243,
        genesis: B256::repeat_byte(0x42),
        fork_id: ForkId {
            hash: ForkHash([1, 2, 3, 4]),
            next: 0,
        },
        total_difficulty: U256::from(latest + 1),
        head_hash: B256::from(U256::from(latest + 1_000_000)),
        earliest_block: 0,
        latest_block: latest,
    }
}

/// A server configuration whose head starts at `latest` and then follows the returned sender,
/// announcing a move of `head_update_blocks` or more at once.
fn live_config(
    latest: u64,
    head_update_blocks: u64,
) -> (watch::Sender<LocalStatus>, SessionConfig) {
    let (tx, rx) = watch::channel(status(latest));
    let mut config = SessionConfig::new(status(latest)).with_live_status(rx);
    config.head_update_blocks = head_update_blocks;
    (tx, config)
}

async fn server(config: SessionConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::spawn(listener, generate_secret_key(), config, 8).unwrap()
}

/// A pool offering only `version`, connected to `server`.
async fn pool(server: &Server, version: EthVersion) -> Pool {
    let mut session = SessionConfig::new(status(0));
    session.eth_versions = vec![version];
    let mut config = PoolConfig::new(session);
    config.static_peers = vec![server.enode().clone()];
    let pool = Pool::start(config, generate_secret_key(), None);
    pool.add_peer(server.enode().clone());
    assert!(pool.wait_for_peers(1, Duration::from_secs(5)).await);
    pool
}

/// Waits until the pool's only peer reports `head`; returns how long that took.
async fn wait_head(pool: &Pool, head: u64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if pool.stats().first().and_then(|p| p.head_number) == Some(head) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth69_pool_sees_head_advance_via_block_range_update() {
    let (tx, mut config) = live_config(100, 32);
    config.head_update_interval = Duration::from_millis(400);
    let server = server(config).await;

    // The handshake already carries a head that moved before the session started.
    tx.send(status(110)).unwrap();
    let pool = pool(&server, EthVersion::Eth69).await;
    let peer = &pool.stats()[0];
    assert_eq!(peer.eth_version, 69);
    assert_eq!(peer.head_number, Some(110));
    assert_eq!(peer.served_range, Some((0, 110)));

    // 32 blocks or more: announced at once.
    tx.send(status(142)).unwrap();
    let took = wait_head(&pool, 142, Duration::from_secs(2)).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_millis(300)),
        "{took:?}"
    );
    let peer = &pool.stats()[0];
    assert_eq!(peer.served_range, Some((0, 142)));
    assert_eq!(peer.head_hash, status(142).head_hash);

    // A smaller step waits for the interval (rate limit), then is announced.
    tx.send(status(143)).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        pool.stats()[0].head_number,
        Some(142),
        "announced too early"
    );
    let took = wait_head(&pool, 143, Duration::from_secs(3)).await;
    assert!(took.is_some(), "{:#?}", pool.stats());

    // Several small steps within one interval are coalesced into the newest head.
    for n in 144..=150 {
        tx.send(status(n)).unwrap();
    }
    assert!(
        wait_head(&pool, 150, Duration::from_secs(3))
            .await
            .is_some()
    );

    // Moving back (reorg / set-head) is announced at once.
    tx.send(status(120)).unwrap();
    let took = wait_head(&pool, 120, Duration::from_secs(2)).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_millis(300)),
        "{took:?}"
    );

    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth68_pool_sees_head_advance_via_new_block_hashes() {
    let (tx, mut config) = live_config(100, 1);
    config.announce_block_hashes = true;
    let server = server(config).await;

    let pool = pool(&server, EthVersion::Eth68).await;
    let peer = &pool.stats()[0];
    assert_eq!(peer.eth_version, 68);
    // eth/68 `Status` has no number.
    assert_eq!(peer.head_number, None);
    assert_eq!(peer.head_hash, status(100).head_hash);

    tx.send(status(101)).unwrap();
    assert!(
        wait_head(&pool, 101, Duration::from_secs(2))
            .await
            .is_some(),
        "{:#?}",
        pool.stats()
    );
    let peer = &pool.stats()[0];
    assert_eq!(peer.head_hash, status(101).head_hash);
    assert_eq!(peer.served_range, None);
    tx.send(status(105)).unwrap();
    assert!(
        wait_head(&pool, 105, Duration::from_secs(2))
            .await
            .is_some()
    );
    pool.shutdown().await;
}

/// Without `announce_block_hashes`, eth/68 sessions get no announcements; eth/69 sessions
/// still get `BlockRangeUpdate` carrying the earliest block too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_events_follow_the_live_status() {
    let (tx, config) = live_config(10, 1);
    let server = server(config).await;

    let mut client = SessionConfig::new(status(0));
    client.eth_versions = vec![EthVersion::Eth68];
    let mut s68 = hypasis_network::connect(&generate_secret_key(), server.enode(), client.clone())
        .await
        .unwrap();
    client.eth_versions = vec![EthVersion::Eth69];
    let mut s69 = hypasis_network::connect(&generate_secret_key(), server.enode(), client)
        .await
        .unwrap();

    let mut moved = status(20);
    moved.earliest_block = 5;
    tx.send(moved.clone()).unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(2), s69.next_event())
        .await
        .expect("BlockRangeUpdate")
        .unwrap();
    match ev {
        SessionEvent::BlockRangeUpdate(r) => {
            assert_eq!(
                (r.earliest, r.latest, r.latest_hash),
                (5, 20, moved.head_hash)
            );
        }
        other => panic!("{other:?}"),
    }
    let none = tokio::time::timeout(Duration::from_millis(300), s68.next_event()).await;
    assert!(none.is_err(), "eth/68 got {none:?}");
}

//! Head tracking: the eth/68 head probe and the plausibility bound, against our own servers
//! on 127.0.0.1.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{B256, Bytes, U256};
use tokio::{net::TcpListener, sync::watch};

use super::*;
use crate::{
    LocalStatus,
    eth::EthVersion,
    eth::{ForkHash, ForkId},
    identity::generate_secret_key,
    server::Server,
    testchain,
};

fn status(genesis: B256, head_hash: B256, latest: u64) -> LocalStatus {
    LocalStatus {
        network_id: 4244,
        genesis,
        fork_id: ForkId {
            hash: ForkHash([5, 6, 7, 8]),
            next: 0,
        },
        total_difficulty: U256::from(1),
        head_hash,
        earliest_block: 0,
        latest_block: latest,
    }
}

#[test]
fn head_bound_is_blocks_since_genesis_at_a_fast_rate_plus_a_margin() {
    let b = HeadBound {
        genesis_timestamp: 1_000,
        max_blocks_per_second: 10,
        margin: 50,
    };
    assert_eq!(b.limit_at(1_000), 50);
    assert_eq!(b.limit_at(1_100), 1_050);
    // A clock behind the genesis time still allows the margin.
    assert_eq!(b.limit_at(0), 50);
    assert_eq!(
        HeadBound {
            genesis_timestamp: 0,
            max_blocks_per_second: u64::MAX,
            margin: u64::MAX,
        }
        .limit_at(u64::MAX),
        u64::MAX
    );
    // Today: real chains are far inside it, the absurd claims far outside.
    // Polygon PoS mainnet genesis: 2020-05-30 (timestamp 1590824836).
    let polygon = HeadBound::for_genesis(1_590_824_836);
    assert!(polygon.plausible(85_000_000));
    assert!(!polygon.plausible(u64::MAX));
    assert!(!polygon.plausible(1 << 60));
    assert!(!HeadBound::default().plausible(1 << 60));
}

#[test]
fn the_head_probe_needs_exactly_the_claimed_header() {
    let blocks = testchain::generate(3, 1, None);
    let head = &blocks[2];
    assert_eq!(
        check_head(std::slice::from_ref(&head.header), head.hash),
        Ok(2)
    );
    assert_eq!(check_head(&[], head.hash), Err(Fault::UnknownHead));
    assert_eq!(
        check_head(std::slice::from_ref(&blocks[1].header), head.hash),
        Err(Fault::UnknownHead)
    );
    assert_eq!(
        check_head(&[blocks[1].header.clone(), head.header.clone()], head.hash),
        Err(Fault::UnknownHead)
    );
    assert_eq!(
        check_head(&[Bytes::from_static(&[0xc1, 0x80])], head.hash),
        Err(Fault::Invalid)
    );
}

async fn serve(config: SessionConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::spawn(listener, generate_secret_key(), config, 8).unwrap()
}

/// A pool offering `version`, connected to `server`.
async fn pool(server: &Server, genesis: B256, version: EthVersion) -> Pool {
    let mut session = SessionConfig::new(status(genesis, genesis, 0));
    session.eth_versions = vec![version];
    let mut config = PoolConfig::new(session);
    config.static_peers = vec![server.enode().clone()];
    config.head_probe_timeout = Duration::from_secs(3);
    let pool = Pool::start(config, generate_secret_key(), None);
    assert!(pool.wait_for_peers(1, Duration::from_secs(5)).await);
    pool
}

/// Waits (bounded) until `done` holds for the pool's only peer.
async fn wait_peer(pool: &Pool, done: impl Fn(&PeerStats) -> bool) -> PeerStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(p) = pool.stats().into_iter().next()
            && done(&p)
        {
            return p;
        }
        assert!(Instant::now() < deadline, "{:#?}", pool.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth68_head_is_learned_from_the_status_head_header() {
    let blocks = testchain::generate(50, 1, None);
    let genesis = blocks[0].hash;
    let mut cfg = SessionConfig::new(status(genesis, blocks[49].hash, 49));
    cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
    let server = serve(cfg).await;
    let pool = pool(&server, genesis, EthVersion::Eth68).await;
    let p = wait_peer(&pool, |p| p.head_number.is_some()).await;
    assert_eq!(p.eth_version, 68);
    assert_eq!(p.head_number, Some(49));
    assert_eq!(p.head_hash, blocks[49].hash);
    assert_eq!(p.score, 0);
    assert_eq!(p.faults, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth68_peer_that_cannot_produce_its_head_is_scored_down() {
    let blocks = testchain::generate(50, 1, None);
    let genesis = blocks[0].hash;
    // Claims a head it does not have.
    let mut cfg = SessionConfig::new(status(genesis, B256::repeat_byte(0xee), 49));
    cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
    let server = serve(cfg).await;
    let pool = pool(&server, genesis, EthVersion::Eth68).await;
    let p = wait_peer(&pool, |p| p.faults > 0).await;
    assert_eq!(p.head_number, None);
    assert_eq!(p.score, Fault::UnknownHead.penalty().unwrap());
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth69_status_head_at_u64_max_is_ignored_and_scored() {
    let blocks = testchain::generate(5, 1, None);
    let genesis = blocks[0].hash;
    let mut cfg = SessionConfig::new(status(genesis, blocks[4].hash, u64::MAX));
    cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
    let server = serve(cfg).await;
    let pool = pool(&server, genesis, EthVersion::Eth69).await;
    let p = wait_peer(&pool, |p| p.faults > 0).await;
    assert_eq!(p.head_number, None);
    assert_eq!(p.served_range, None);
    assert_eq!(p.score, Fault::ImplausibleHead.penalty().unwrap());
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_beyond_the_bound_are_ignored_and_scored() {
    for version in [EthVersion::Eth68, EthVersion::Eth69] {
        let blocks = testchain::generate(20, 1, None);
        let genesis = blocks[0].hash;
        let honest = status(genesis, blocks[19].hash, 19);
        let (tx, rx) = watch::channel(honest.clone());
        let mut cfg = SessionConfig::new(honest.clone()).with_live_status(rx);
        cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
        cfg.announce_block_hashes = true;
        cfg.head_update_blocks = 1;
        let server = serve(cfg).await;
        let pool = pool(&server, genesis, version).await;
        wait_peer(&pool, |p| p.head_number == Some(19)).await;
        // NewBlockHashes (eth/68) or BlockRangeUpdate (eth/69) at 2^60.
        tx.send(LocalStatus {
            latest_block: 1 << 60,
            head_hash: B256::repeat_byte(0xab),
            ..honest.clone()
        })
        .unwrap();
        let p = wait_peer(&pool, |p| p.faults > 0).await;
        assert_eq!(p.head_number, Some(19), "{version:?}");
        assert_eq!(p.head_hash, blocks[19].hash, "{version:?}");
        assert_eq!(p.score, Fault::ImplausibleHead.penalty().unwrap());
        // A plausible announcement afterwards still raises the head.
        tx.send(LocalStatus {
            latest_block: 25,
            head_hash: B256::repeat_byte(0xcd),
            ..honest
        })
        .unwrap();
        wait_peer(&pool, |p| p.head_number == Some(25)).await;
        pool.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_peers_cool_down_and_liars_stay_banned() {
    let blocks = testchain::generate(10, 1, None);
    let genesis = blocks[0].hash;
    let mut cfg = SessionConfig::new(status(genesis, blocks[9].hash, 9));
    cfg.block_source = Some(Arc::new(testchain::source(&blocks)));
    let server = serve(cfg).await;
    let mut session = SessionConfig::new(status(genesis, genesis, 0));
    session.eth_versions = vec![EthVersion::Eth69];
    let mut config = PoolConfig::new(session);
    config.static_peers = vec![server.enode().clone()];
    config.redial_interval = Duration::from_millis(50);
    config.cooldown = Duration::from_millis(300);
    let pool = Pool::start(config, generate_secret_key(), None);
    assert!(pool.wait_for_peers(1, Duration::from_secs(5)).await);
    let peer = server.enode().id;
    // Four timeouts run the score out: dropped, but only for the cooldown, then redialed.
    for _ in 0..4 {
        pool.report(peer, Fault::Timeout);
    }
    assert!(pool.is_banned(&peer));
    assert_eq!(pool.peer_count(), 0);
    assert!(
        pool.wait_for_peers(1, Duration::from_secs(5)).await,
        "a slow peer comes back after the cooldown"
    );
    assert!(!pool.is_banned(&peer));
    // Invalid data: banned for the ban's length, long past the cooldown.
    pool.report(peer, Fault::Invalid);
    assert!(pool.is_banned(&peer));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(pool.is_banned(&peer), "a liar stays banned");
    assert_eq!(pool.peer_count(), 0);
    // A ban of any length neither panics nor poisons the pool's lock (it is cut to MAX_BAN).
    let other = generate_secret_key();
    let other = hypasis_rlpx::identity::node_id(&other);
    pool.ban_for(other, Duration::MAX);
    pool.ban_for(other, Duration::from_secs(u64::MAX));
    assert!(pool.is_banned(&other));
    assert!(pool.banned().contains(&other));
    assert!(pool.is_banned(&peer), "the pool still answers");
    assert!(Fault::Invalid.is_misbehaviour() && Fault::UnknownHead.is_misbehaviour());
    assert!(!Fault::Timeout.is_misbehaviour() && !Fault::Slow.is_misbehaviour());
    pool.shutdown().await;
}

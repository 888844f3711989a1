//! End to end: `hypasis-store`, `hypasis-scheduler` and `hypasis-fetcher` as separate processes
//! over mTLS, with devp2p peers serving a small custom chain; the fetcher syncs forward and
//! backward from the scheduler's anchor and every stored block is byte-identical to the source.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use hypasis_integration_tests::{ChildGuard, bin, free_addr, generate_certs};
use hypasis_network::chain::{Head, session_config};
use hypasis_network::server::Server;
use hypasis_network::testchain::{self, TestBlock};
use hypasis_primitives::ChainSpec;
use hypasis_proto::v1;
use hypasis_proto::v1::fetcher_client::FetcherClient;
use hypasis_proto::v1::store_client::StoreClient;
use hypasis_rlpx::identity::generate_secret_key;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const GENESIS_JSON: &str = r#"{
  "config": {"chainId": 4243, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
             "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
             "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0},
  "difficulty": "0x1", "gasLimit": "0x1c9c380", "alloc": {}
}"#;

/// Blocks `1..=count` on top of the spec's genesis, with header blooms matching the receipts.
fn chain(spec: &ChainSpec, count: u64) -> Vec<TestBlock> {
    let mut out = testchain::generate_after(spec.genesis_hash, 1, count, 4, None);
    testchain::with_receipt_blooms(&mut out, spec.genesis_hash);
    out
}

async fn channel(url: &str, tls: &std::path::Path, domain: &str) -> Channel {
    let ca = Certificate::from_pem(std::fs::read(tls.join("ca.pem")).unwrap());
    let id = Identity::from_pem(
        std::fs::read(tls.join("admin.pem")).unwrap(),
        std::fs::read(tls.join("admin.key")).unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ep = Channel::from_shared(url.to_string())
            .unwrap()
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(ca.clone())
                    .identity(id.clone())
                    .domain_name(domain),
            )
            .unwrap();
        match ep.connect().await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "store not reachable: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_cluster_syncs_chain_byte_identical() {
    let _fleet = hypasis_integration_tests::FLEET.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    generate_certs(&tls);
    let genesis_file = dir.path().join("genesis.json");
    std::fs::write(&genesis_file, GENESIS_JSON).unwrap();
    let spec = ChainSpec::from_genesis_json(GENESIS_JSON).unwrap();
    let count = 600u64;
    let blocks = chain(&spec, count);
    let last = blocks.last().unwrap();
    let head = Head {
        number: last.number,
        timestamp: 1_700_000_000 + last.number * 2,
        hash: last.hash,
        ..Head::genesis(&spec)
    };
    let source = Arc::new(testchain::source(&blocks));
    let mut peers = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = session_config(&spec, &head);
        cfg.block_source = Some(source.clone());
        peers.push(Server::spawn(listener, generate_secret_key(), cfg, 16).unwrap());
    }

    let store_addr = free_addr();
    let sched_addr = free_addr();
    let fetcher_addr = free_addr();
    let common = |cmd: &mut Command, addr: std::net::SocketAddr| {
        cmd.arg("--listen")
            .arg(addr.to_string())
            .arg("--metrics-listen")
            .arg(free_addr().to_string())
            .arg("--tls-dir")
            .arg(&tls);
    };
    let mut store = Command::new(bin("hypasis-store"));
    common(&mut store, store_addr);
    store.arg("--data-dir").arg(dir.path().join("data"));
    let _store = ChildGuard::spawn(store, &dir.path().join("store.log"));

    let store_url = format!("https://{store_addr}");
    let anchor = &blocks[299];
    let mut sched = Command::new(bin("hypasis-scheduler"));
    common(&mut sched, sched_addr);
    sched
        .args(["--store", &store_url])
        .args(["--anchor", &format!("{}:{}", anchor.number, anchor.hash)])
        .args(["--tip", &count.to_string()])
        .args([
            "--genesis",
            "1",
            "--unit-size",
            "100",
            "--lease-ttl-secs",
            "10",
        ]);
    let _sched = ChildGuard::spawn(sched, &dir.path().join("scheduler.log"));

    let mut fetcher = Command::new(bin("hypasis-fetcher"));
    common(&mut fetcher, fetcher_addr);
    fetcher
        .args(["--scheduler", &format!("https://{sched_addr}")])
        .args(["--store", &store_url])
        .arg("--genesis")
        .arg(&genesis_file)
        .arg("--no-discovery")
        .args(["--memory-budget-mb", "16"]);
    for p in &peers {
        fetcher.args(["--peer", &p.enode().to_string()]);
    }
    let mut fetcher = ChildGuard::spawn(fetcher, &dir.path().join("fetcher.log"));

    let mut client = StoreClient::new(channel(&store_url, &tls, "store").await)
        .max_decoding_message_size(64 << 20);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let stats = client.get_stats(v1::GetStatsRequest {}).await;
        if let Ok(s) = stats
            && s.get_ref().blocks >= count
        {
            break;
        }
        if Instant::now() > deadline || fetcher.wait_timeout(Duration::ZERO).is_some() {
            panic!(
                "not synced; fetcher log:\n{}",
                std::fs::read_to_string(dir.path().join("fetcher.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut stream = client
        .get_blocks(v1::GetBlocksRequest {
            range: Some(v1::BlockRange {
                start: 1,
                end: count,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0u64;
    while let Some(b) = stream.message().await.unwrap() {
        let src = &blocks[(b.number - 1) as usize];
        assert_eq!(B256::from_slice(&b.hash), src.hash, "block {}", b.number);
        assert_eq!(b.header, src.header.to_vec(), "block {}", b.number);
        assert_eq!(b.body, src.body.to_vec(), "block {}", b.number);
        assert_eq!(
            b.receipts,
            hypasis_storage_api::blockfile::receipts_file_item(&src.receipts),
            "block {}",
            b.number
        );
        n += 1;
    }
    assert_eq!(n, count);

    // The fetcher's API: status, peers, ban.
    let mut f =
        FetcherClient::new(channel(&format!("https://{fetcher_addr}"), &tls, "fetcher").await);
    let st = f
        .get_status(v1::GetFetcherStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!st.fetcher_id.is_empty());
    assert_eq!(st.bytes_in_flight_limit, 16 << 20);
    assert_eq!(st.chain.unwrap().genesis_hash, spec.genesis_hash.to_vec());
    let listed = connected(&mut f).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let victim = listed[0].node_id.clone();
    let r = f
        .ban_peer(v1::BanPeerRequest {
            peer: victim.clone(),
            duration: None,
            reason: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.was_connected);
    let after = connected(&mut f).await;
    assert!(after.iter().all(|p| p.node_id != victim), "{after:?}");

    // A ban with a duration ends: the other peer, banned for one second, is dialed again.
    let other = after[0].node_id.clone();
    ban(&mut f, &other, 1, 0, "short").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers = connected(&mut f).await;
        if peers.iter().any(|p| p.node_id == other) {
            assert!(
                peers.iter().all(|p| p.node_id != victim),
                "the first ban (the default 10 min) ended early: {peers:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "peer banned for 1 s not back: {peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A negative duration is refused.
    let err = ban(&mut f, &other, -5, 0, "bad").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    // Out-of-range nanos are refused too.
    let err = ban(&mut f, &other, 5, 2_000_000_000, "bad")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    // A ban for i64::MAX seconds is a (very long) ban, not a panic that poisons the pool:
    // the fetcher goes on answering and listing its peers.
    ban(&mut f, &other, i64::MAX, 999_999_999, "forever")
        .await
        .unwrap();
    let peers = connected(&mut f).await;
    assert!(peers.iter().all(|p| p.node_id != other), "{peers:?}");
}

/// The fetcher's connected peers (`ListPeers`).
async fn connected(f: &mut FetcherClient<Channel>) -> Vec<v1::PeerInfo> {
    f.list_peers(v1::ListPeersRequest {})
        .await
        .expect("list peers")
        .into_inner()
        .peers
}

/// `BanPeer` of `peer` for `seconds` + `nanos` (a raw wire duration, refusals included).
async fn ban(
    f: &mut FetcherClient<Channel>,
    peer: &str,
    seconds: i64,
    nanos: i32,
    reason: &str,
) -> Result<tonic::Response<v1::BanPeerResponse>, tonic::Status> {
    f.ban_peer(v1::BanPeerRequest {
        peer: peer.to_string(),
        duration: Some(prost_types::Duration { seconds, nanos }),
        reason: reason.into(),
    })
    .await
}

/// Starts `hypasis-fetcher` (its store and scheduler are not there: it retries, after it has
/// logged its devp2p identity) and returns the enode it logs.
fn fetcher_enode(dir: &std::path::Path, run: usize, extra: &[&std::ffi::OsStr]) -> String {
    let store = free_addr();
    let mut cmd = Command::new(bin("hypasis-fetcher"));
    cmd.arg("--insecure")
        .arg(format!("--listen={}", free_addr()))
        .arg(format!("--metrics-listen={}", free_addr()))
        .arg(format!("--store=http://{store}"))
        .arg(format!("--scheduler=http://{store}"))
        .args(["--chain", "mainnet", "--no-discovery"])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let guard = ChildGuard::spawn(cmd, &dir.join(format!("fetcher-{run}.log")));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = guard.log_text();
        if let Some(line) = text.lines().find(|l| l.contains("devp2p identity"))
            && let Some(at) = line.find("enode://")
        {
            return line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/:@.".contains(*c))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no devp2p identity logged; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fetcher's devp2p node key is kept in `--data-dir` (`nodekey`), so two starts have the
/// same enode; `--nodekey FILE` overrides it.
#[test]
fn fetcher_enode_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = fetcher_enode(dir.path(), 1, &["--data-dir".as_ref(), data.as_os_str()]);
    let second = fetcher_enode(dir.path(), 2, &["--data-dir".as_ref(), data.as_os_str()]);
    assert!(first.starts_with("enode://"), "{first}");
    assert_eq!(first, second, "the enode changed across restarts");
    assert!(data.join("nodekey").exists());

    let key = dir.path().join("other.key");
    let with_key = fetcher_enode(
        dir.path(),
        3,
        &[
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--nodekey".as_ref(),
            key.as_os_str(),
        ],
    );
    assert_ne!(with_key, first, "--nodekey must override DATA_DIR/nodekey");
    let again = fetcher_enode(dir.path(), 4, &["--nodekey".as_ref(), key.as_os_str()]);
    assert_eq!(with_key, again);
    // Without either, a fresh key each start (the old behaviour, logged as a warning).
    let a = fetcher_enode(dir.path(), 5, &[]);
    let b = fetcher_enode(dir.path(), 6, &[]);
    assert_ne!(a, b);
}

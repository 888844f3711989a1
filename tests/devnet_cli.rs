//! `hypasis devnet`: peers and the Heimdall endpoint come up, a range fetched from one peer
//! verifies to `checkpoint-root` against the devnet's own checkpoint, and `checkpoint show`
//! reads the latest checkpoint from the endpoint. A growing devnet's peers announce their new
//! head to connected pools (eth/69 `BlockRangeUpdate`, eth/68 `NewBlockHashes`).

use std::{
    process::Command,
    time::{Duration, Instant},
};

use hypasis_eth_wire::EthVersion;
use hypasis_integration_tests::{Devnet, bin, devnet_command, p2p_fetch, start_devnet};
use hypasis_network::{
    chain::{Head, session_config},
    pool::{Pool, PoolConfig},
};
use hypasis_primitives::chain::ChainSpec;
use hypasis_rlpx::identity::generate_secret_key;

const BLOCKS: u64 = 2000;
const CHECKPOINT_LEN: u64 = 256;
const PEERS: usize = 3;

#[test]
fn devnet_serves_peers_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("devnet");
    let mut cmd = devnet_command(BLOCKS, PEERS);
    cmd.args(["--txs-per-block", "3"])
        .args(["--checkpoint-len", &CHECKPOINT_LEN.to_string()])
        .arg("--out")
        .arg(&out_dir);
    let Devnet {
        guard: devnet,
        enodes: lines,
        heimdall,
    } = start_devnet(cmd, PEERS, &tmp.path().join("devnet.log"));

    // The devnet's checkpoints (written with --out).
    let checkpoints: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("checkpoints.json")).unwrap())
            .unwrap();
    let checkpoints = checkpoints.as_array().unwrap();
    assert_eq!(checkpoints.len() as u64, BLOCKS / CHECKPOINT_LEN);
    // Checkpoint 3 covers 513..=768: fetch it from the second peer.
    let cp = &checkpoints[2];
    let start = cp["range"]["start"].as_u64().unwrap();
    let end = cp["range"]["end"].as_u64().unwrap();
    let root = cp["root"].as_str().unwrap();
    let end_hash = cp["end_block_hash"].as_str().unwrap();
    assert_eq!((start, end), (513, 768));

    let fetched = tmp.path().join("fetched");
    let out = p2p_fetch("devnet", &lines[1], start, end, &fetched, &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        devnet.log_text()
    );

    let out = Command::new(bin("hypasis"))
        .args(["verify", "--chain", "devnet", "--blocks"])
        .arg(fetched.join("chain.rlp"))
        .arg("--receipts")
        .arg(fetched.join("receipts.rlp"))
        .args(["--checkpoint", &format!("{start}:{end}:{root}")])
        .args(["--trusted", &format!("{end}:{end_hash}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{start}..={end}")) && stdout.contains("checkpoint-root"),
        "{stdout}"
    );

    // The Heimdall endpoint serves the latest checkpoint.
    let out = Command::new(bin("hypasis"))
        .args(["checkpoint", "show", "--heimdall", &heimdall])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = checkpoints.last().unwrap();
    let last_root = last["root"].as_str().unwrap();
    assert!(
        stdout.contains(last_root) && stdout.contains(&last["id"].to_string()),
        "{stdout}"
    );

    // Its Bor spans name who seals: every fetched block's signer is a producer of span 0
    // (6,400 blocks), and the latest span holds the milestone.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = hypasis_checkpoint::HeimdallSource::new(&heimdall, Duration::from_secs(10))
        .unwrap()
        .with_bor_chain_id(ChainSpec::devnet().chain_id.to_string());
    let (span0, latest, milestone) = rt.block_on(async {
        (
            source.span(0).await.unwrap(),
            source.latest_span().await.unwrap(),
            source.latest_milestone().await.unwrap(),
        )
    });
    assert_eq!((span0.start_block, span0.end_block), (0, 6399));
    assert!(latest.start_block <= milestone.end_block && milestone.end_block <= latest.end_block);
    let spec = ChainSpec::devnet();
    let chain = std::fs::read(fetched.join("chain.rlp")).unwrap();
    let blocks = hypasis_validation::split_concatenated(&chain).unwrap();
    assert_eq!(blocks.len() as u64, end - start + 1);
    for raw in blocks {
        let (header, _) = hypasis_storage_api::blockfile::split_block(raw).unwrap();
        let header = hypasis_validation::SealedHeader::decode(&header)
            .unwrap()
            .header;
        let signer = hypasis_validation::bor::recover_signer(&spec, &header).unwrap();
        assert!(
            span0.producers.contains(&signer),
            "{signer} seals block {}",
            header.number
        );
    }
    assert!(
        rt.block_on(source.span(u64::MAX)).is_err(),
        "a span past the end of blocks"
    );
    drop(devnet);
}

/// Runs `hypasis checkpoint show --heimdall URL [--id N]` and returns its JSON.
fn show(heimdall: &str, id: Option<u64>) -> serde_json::Value {
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["checkpoint", "show", "--heimdall", heimdall]);
    if let Some(id) = id {
        cmd.args(["--id", &id.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn growing_devnet_publishes_new_blocks_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = devnet_command(300, 2);
    cmd.args(["--checkpoint-len", "64", "--grow-every-ms", "20"]);
    let Devnet {
        guard: devnet,
        enodes,
        heimdall,
    } = start_devnet(cmd, 2, &tmp.path().join("devnet.log"));
    let enode = enodes[0].clone();
    assert_eq!(show(&heimdall, None)["id"], 4, "300 blocks: 4 checkpoints");

    // Pools connected now (one eth/69, one eth/68) follow the growing head.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peer: hypasis_rlpx::Enode = enode.parse().unwrap();
    let pools: Vec<Pool> = [EthVersion::Eth69, EthVersion::Eth68]
        .into_iter()
        .map(|version| {
            let spec = ChainSpec::devnet();
            let mut session = session_config(&spec, &Head::genesis(&spec));
            session.eth_versions = vec![version];
            let mut config = PoolConfig::new(session);
            config.static_peers = vec![peer.clone()];
            let _guard = rt.enter();
            let pool = Pool::start(config, generate_secret_key(), None);
            assert!(rt.block_on(pool.wait_for_peers(1, Duration::from_secs(10))));
            pool
        })
        .collect();
    let head_of = |pool: &Pool| pool.stats().first().and_then(|p| p.head_number);
    let start_head = head_of(&pools[0]).expect("eth/69 status carries the head");
    assert!(start_head >= 300, "{start_head}");
    // Wait until checkpoint 6 (321..=384, past the generated 300 blocks) is published.
    let deadline = Instant::now() + Duration::from_secs(60);
    while show(&heimdall, None)["id"].as_u64().unwrap() < 6 {
        assert!(Instant::now() < deadline, "{}", devnet.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let cp = show(&heimdall, Some(6));
    assert_eq!(
        (cp["start"].as_u64(), cp["end"].as_u64()),
        (Some(321), Some(384))
    );
    let root = cp["root"].as_str().unwrap().to_string();

    // Both pools learned a head at or past block 384 from announcements on the sessions
    // they opened when the head was around 300.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let heads: Vec<Option<u64>> = pools.iter().map(head_of).collect();
        if heads.iter().all(|h| h.is_some_and(|h| h >= 384)) {
            let stats = pools[0].stats();
            let range = stats[0].served_range.unwrap();
            assert!(range.0 == 0 && range.1 >= 384, "{range:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pool heads {heads:?} (started at {start_head})\n{}",
            devnet.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for pool in &pools {
        rt.block_on(pool.shutdown());
    }
    // A new session gets the grown head in its Status.
    let out = Command::new(bin("hypasis"))
        .args(["p2p", "ping", "--chain", "devnet", "--eth", "69", &enode])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let latest: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("block range:"))
        .and_then(|r| r.trim().split("..=").nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(latest >= 384, "{stdout}");

    let fetched = tmp.path().join("fetched");
    let out = p2p_fetch("devnet", &enode, 1, 384, &fetched, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin("hypasis"))
        .args(["verify", "--chain", "devnet", "--blocks"])
        .arg(fetched.join("chain.rlp"))
        .arg("--receipts")
        .arg(fetched.join("receipts.rlp"))
        .args(["--checkpoint", &format!("321:384:{root}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("321..=384") && stdout.contains("checkpoint-root"),
        "{stdout}"
    );
    drop(devnet);
}

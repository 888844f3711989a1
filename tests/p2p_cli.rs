//! `hypasis p2p serve` / `fetch` / `ping` against each other over loopback (eth/68, eth/69
//! and eth/70; the devnet is a Bor chain, so in Bor's dialect), the bandwidth cap, and typed
//! errors with non-zero exits.

use std::{path::Path, process::Command, time::Duration, time::Instant};

use hypasis_integration_tests::{ChildGuard, bin, p2p_fetch, spawn_first_line};
use hypasis_network::testchain::{export, generate_after};
use hypasis_primitives::chain::ChainSpec;

const BLOCKS: u64 = 600;

/// `hypasis p2p serve` of the chain in `dir` (`chain.rlp`, `receipts.rlp`) on a loopback port,
/// plus `extra`; the process and its enode.
fn serve(dir: &Path, extra: &[&str], log: &str) -> (ChildGuard, String) {
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args([
        "p2p",
        "serve",
        "--chain",
        "devnet",
        "--listen",
        "127.0.0.1:0",
    ])
    .args(extra)
    .arg("--blocks")
    .arg(dir.join("chain.rlp"))
    .arg("--receipts")
    .arg(dir.join("receipts.rlp"));
    let (server, enode) = spawn_first_line(cmd, &dir.join(log), Duration::from_secs(30));
    assert!(enode.starts_with("enode://"), "{enode}");
    (server, enode)
}

#[test]
fn serve_fetch_ping_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = ChainSpec::devnet();
    let blocks = generate_after(spec.genesis_hash, 1, BLOCKS, 6, Some(300));
    let (chain, receipts) = export(&blocks);
    std::fs::write(tmp.path().join("chain.rlp"), &chain).unwrap();
    std::fs::write(tmp.path().join("receipts.rlp"), &receipts).unwrap();

    let (server, enode) = serve(tmp.path(), &[], "serve.log");
    // A second server offering only eth/70 (`--eth` accepts 70).
    let (server70, enode70) = serve(tmp.path(), &["--eth", "70"], "serve70.log");

    for (eth, enode) in [("68", &enode), ("69", &enode), ("70", &enode70)] {
        let server = if eth == "70" { &server70 } else { &server };
        let enode = enode.as_str();
        let out_dir = tmp.path().join(format!("eth{eth}"));
        let out = p2p_fetch("devnet", enode, 1, BLOCKS, &out_dir, &["--eth", eth]);
        assert!(
            out.status.success(),
            "eth/{eth}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log_text()
        );
        assert_eq!(std::fs::read(out_dir.join("chain.rlp")).unwrap(), chain);
        assert_eq!(
            std::fs::read(out_dir.join("receipts.rlp")).unwrap(),
            receipts
        );
        let out = Command::new(bin("hypasis"))
            .args(["p2p", "ping", enode, "--chain", "devnet", "--eth", eth])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("eth version:   {eth}")), "{text}");
        assert!(text.contains("dialect:       bor"), "{text}");
        assert!(text.contains("hypasis/"), "{text}");
    }

    // Wrong chain: the peer is rejected at Status with a typed error.
    let out = p2p_fetch("amoy", &enode, 1, 2, &tmp.path().join("wrong"), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("status mismatch"), "{err}");

    // Beyond the served range: the peer has no data, the download fails.
    let out = p2p_fetch("devnet", &enode, 590, 700, &tmp.path().join("beyond"), &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no peer returned headers"));

    // Bad arguments.
    for args in [
        vec!["--peer", "enode://nope", "--from", "1", "--to", "2"],
        vec!["--peer", enode.as_str(), "--from", "5", "--to", "2"],
    ] {
        let out = Command::new(bin("hypasis"))
            .args(["p2p", "fetch", "--quiet", "--chain", "devnet"])
            .args(&args)
            .arg("--out")
            .arg(tmp.path().join("bad"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"));
    }
}

#[test]
fn peer_rate_cap_limits_throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = ChainSpec::devnet();
    let blocks = generate_after(spec.genesis_hash, 1, 400, 8, None);
    let (chain, receipts) = export(&blocks);
    std::fs::write(tmp.path().join("chain.rlp"), &chain).unwrap();
    std::fs::write(tmp.path().join("receipts.rlp"), &receipts).unwrap();
    // 1 Mbit/s = 125 kB/s. The wire bytes (snappy-compressed, eth/69 receipts without
    // blooms) are at least a third of the compressed files here.
    let bytes =
        hypasis_rlpx::p2p::compress(&chain).len() + hypasis_rlpx::p2p::compress(&receipts).len();
    let (_server, enode) = serve(tmp.path(), &["--peer-rate-mbps", "1"], "serve.log");
    let started = Instant::now();
    let out = p2p_fetch("devnet", &enode, 1, 400, &tmp.path().join("out"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elapsed = started.elapsed().as_secs_f64();
    let min = (bytes as f64 / 3.0 - 65536.0) / 125_000.0;
    assert!(
        elapsed >= min,
        "{bytes} bytes took {elapsed:.2}s, expected at least {min:.2}s"
    );
}

/// `hypasis p2p discover`: a second node bootstraps from the first over discv4 on loopback and
/// lists it; a bad bootnode URL is a clear error.
#[test]
fn discover_finds_the_bootnode_and_refuses_bad_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let mut boot = Command::new(bin("hypasis"));
    boot.args([
        "p2p",
        "discover",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "20",
    ]);
    let (_boot, boot_enode) =
        spawn_first_line(boot, &tmp.path().join("boot.log"), Duration::from_secs(20));
    assert!(boot_enode.starts_with("enode://"), "{boot_enode}");

    let out = Command::new(bin("hypasis"))
        .args([
            "p2p",
            "discover",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "3",
            "--bootnode",
            &boot_enode,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let boot_id = boot_enode
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap();
    assert!(
        stdout.lines().skip(1).any(|l| l.contains(boot_id)),
        "the bootnode was not found:\n{stdout}"
    );

    let bad = Command::new(bin("hypasis"))
        .args([
            "p2p",
            "discover",
            "--bootnode",
            "enode://nope",
            "--duration",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid enode URL"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

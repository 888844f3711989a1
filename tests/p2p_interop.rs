//! Interop against EthereumJS (`tests/interop/`, an independent devp2p implementation).
//!
//! 1. An EthereumJS node builds a chain of signed transactions with its VM block builder,
//!    exports it, and serves it over RLPx/eth/68; `hypasis p2p fetch` downloads every header,
//!    body and receipt (checking hashes, links, transactions/ommers/receipts roots) and must
//!    write byte-identical `chain.rlp` / `receipts.rlp`.
//! 2. Reverse: `hypasis p2p serve` serves the exported files; an EthereumJS client fetches all
//!    headers, bodies and receipts and checks them with EthereumJS's own block validation.
//! 3. `hypasis standalone` against three quiet EthereumJS eth/68 peers (they name their head
//!    only by hash in `Status` and never announce a block), anchored mid-chain with
//!    `--trusted`: the peers' head is learned from the header of their `Status` head hash, the
//!    sync runs forward (in waves of `--tip-margin`) and backward and exits on its own, and
//!    `hypasis export` gives back the peers' files byte for byte.
//!
//! Needs `node` (≥ 20) and `npm ci` in `tests/interop` (CI does this; see the Makefile).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use hypasis_downloader::verify::{check_body, check_header_chain, check_receipts};
use hypasis_integration_tests::{
    ChildGuard, assert_same_export, bin, export_blocks, free_addr, repo_root, spawn_first_line,
};
use hypasis_storage_api::blockfile::{parse_chain, parse_receipts};

const BLOCKS: u64 = 2000;

fn interop_dir() -> PathBuf {
    repo_root().join("tests/interop")
}

fn require_node() {
    let dir = interop_dir();
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`node` (>= 20) is required for the EthereumJS interop test"
    );
    assert!(
        dir.join("node_modules/@ethereumjs/devp2p").exists(),
        "EthereumJS packages missing: run `npm ci --prefix {}`",
        dir.display()
    );
}

fn genesis() -> PathBuf {
    interop_dir().join("genesis.json")
}

/// Independent re-check of exported files with the library verifiers.
fn check_files(dir: &Path) -> usize {
    let blocks = parse_chain(&std::fs::read(dir.join("chain.rlp")).unwrap()).unwrap();
    let receipts = parse_receipts(&std::fs::read(dir.join("receipts.rlp")).unwrap()).unwrap();
    assert_eq!(blocks.len(), receipts.len());
    let headers: Vec<_> = blocks.iter().map(|b| b.header.clone()).collect();
    let checked = check_header_chain(0, None, &headers).unwrap();
    let mut txs = 0;
    for ((b, h), r) in blocks.iter().zip(&checked).zip(&receipts) {
        txs += check_body(&h.header, &b.body).unwrap();
        check_receipts(&h.header, r).unwrap();
    }
    txs
}

#[test]
fn ethereumjs_interop_both_directions() {
    require_node();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();

    // EthereumJS server.
    let mut cmd = Command::new("node");
    cmd.current_dir(interop_dir())
        .arg("interop.mjs")
        .args(["serve", "--blocks", &BLOCKS.to_string(), "--export"])
        .arg(&reference);
    let (js_server, enode) = spawn_first_line(
        cmd,
        &tmp.path().join("ethereumjs-server.log"),
        Duration::from_secs(300),
    );
    assert!(enode.starts_with("enode://"), "first line: {enode}");

    // Our client: every block, checked, written out.
    let ours = tmp.path().join("ours");
    let out = Command::new(bin("hypasis"))
        .args(["p2p", "fetch", "--quiet", "--peer", &enode, "--genesis"])
        .arg(genesis())
        .args(["--from", "0", "--to", &BLOCKS.to_string(), "--out"])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fetch failed: {}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        js_server.log_text()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("blocks/s"), "{stdout}");
    for file in ["chain.rlp", "receipts.rlp"] {
        let a = std::fs::read(reference.join(file)).unwrap();
        let b = std::fs::read(ours.join(file)).unwrap();
        assert!(a == b, "{file} differs from EthereumJS's export");
    }
    let txs = check_files(&ours);
    assert!(txs > 2 * BLOCKS as usize, "only {txs} transactions");

    // `ping` prints the EthereumJS Hello and Status.
    let out = Command::new(bin("hypasis"))
        .args(["p2p", "ping", &enode, "--genesis"])
        .arg(genesis())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ethereumjs-interop-server"), "{text}");
    assert!(text.contains("eth version:   68"), "{text}");

    // EthereumJS speaks eth/68 only: insisting on eth/69 fails cleanly with a non-zero exit.
    let out = Command::new(bin("hypasis"))
        .args([
            "p2p",
            "fetch",
            "--quiet",
            "--eth",
            "69",
            "--peer",
            &enode,
            "--genesis",
        ])
        .arg(genesis())
        .args(["--from", "0", "--to", "5", "--out"])
        .arg(tmp.path().join("eth69"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(js_server);

    // Reverse direction: our server, EthereumJS client.
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["p2p", "serve", "--listen", "127.0.0.1:0", "--genesis"])
        .arg(genesis())
        .arg("--blocks")
        .arg(reference.join("chain.rlp"))
        .arg("--receipts")
        .arg(reference.join("receipts.rlp"));
    let (server, enode) = spawn_first_line(
        cmd,
        &tmp.path().join("hypasis-serve.log"),
        Duration::from_secs(30),
    );
    assert!(enode.starts_with("enode://"), "first line: {enode}");
    let out = Command::new("node")
        .current_dir(interop_dir())
        .args(["interop.mjs", "fetch", "--peer", &enode, "--expect"])
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "EthereumJS client failed: {}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("checked 2001 headers"));
}

#[test]
fn standalone_syncs_from_three_quiet_ethereumjs_peers_and_exports_their_chain() {
    const QUIET_BLOCKS: u64 = 400;
    require_node();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();

    // One EthereumJS peer builds and exports the chain; two more serve the exported files, so
    // all three serve identical blocks. None of them ever announces a block.
    let mut peers = Vec::new();
    let mut enodes = Vec::new();
    for i in 0..3 {
        let mut cmd = Command::new("node");
        cmd.current_dir(interop_dir())
            .args(["interop.mjs", "serve"]);
        if i == 0 {
            cmd.args(["--blocks", &QUIET_BLOCKS.to_string(), "--export"])
                .arg(&reference);
        } else {
            cmd.arg("--load").arg(&reference);
        }
        let (peer, enode) = spawn_first_line(
            cmd,
            &tmp.path().join(format!("ethereumjs-{i}.log")),
            Duration::from_secs(300),
        );
        assert!(enode.starts_with("enode://"), "first line: {enode}");
        peers.push(peer);
        enodes.push(enode);
    }

    let blocks = parse_chain(&std::fs::read(reference.join("chain.rlp")).unwrap()).unwrap();
    assert_eq!(blocks.len() as u64, QUIET_BLOCKS + 1);
    let mid = QUIET_BLOCKS / 2;
    let anchor = format!("{mid}:{:#x}", blocks[mid as usize].hash);

    let data = tmp.path().join("data");
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["standalone", "--genesis"])
        .arg(genesis())
        .arg("--data-dir")
        .arg(&data)
        .args(["--no-discovery", "--no-progress", "--insecure"])
        .args(["--trusted", &anchor])
        .args(["--listen", &free_addr().to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        // Small units and a small margin: the forward half is cut in several waves.
        .args(["--unit-size", "50", "--tip-margin", "60"])
        .args(["--exit-when-synced", "--timeout-secs", "150"]);
    for e in &enodes {
        cmd.args(["--peer", e]);
    }
    let log = tmp.path().join("standalone.log");
    let mut node = ChildGuard::spawn(cmd, &log);
    let status = node.wait_timeout(Duration::from_secs(200));
    let peer_logs = || {
        peers
            .iter()
            .map(|p| p.log_text())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let status = status.unwrap_or_else(|| {
        panic!(
            "standalone did not finish; log:\n{}\npeers:\n{}",
            node.log_text(),
            peer_logs()
        )
    });
    let summary = node.log_text();
    assert!(
        status.success(),
        "exit {status}; log:\n{summary}\npeers:\n{}",
        peer_logs()
    );
    assert!(
        summary.contains(&format!("range:    0..={QUIET_BLOCKS}")),
        "{summary}"
    );
    assert!(summary.contains("gaps:     none"), "{summary}");
    assert!(!summary.contains("tip -"), "{summary}");

    let out = tmp.path().join("export");
    export_blocks(&data, 0, QUIET_BLOCKS, &out);
    assert_same_export(&out, &reference, "the EthereumJS peers'");
}

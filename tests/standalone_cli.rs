//! `hypasis standalone` end to end: a growing devnet (peers + Heimdall endpoint) is synced by
//! one standalone process from Heimdall's milestone in the middle, forward to the tip and
//! backward to genesis; `hypasis status` reads it over mTLS while it runs; with
//! `--exit-when-synced` it exits 0 with a summary (no gaps); `hypasis export` then writes the
//! blocks, which are byte-identical to the devnet's own `chain.rlp`/`receipts.rlp` and pass
//! `hypasis verify`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hypasis_integration_tests::{
    ChildGuard, assert_same_export, bin, devnet_command, export_blocks, free_addr, start_devnet,
};

const BLOCKS: u64 = 3000;
const PEERS: usize = 2;

/// Starts a growing devnet; returns it with its enodes and Heimdall URL.
fn devnet(dir: &Path) -> (ChildGuard, Vec<String>, String) {
    let mut cmd = devnet_command(BLOCKS, PEERS);
    cmd.args(["--txs-per-block", "3", "--checkpoint-len", "256"])
        .args(["--checkpoint-lag", &(BLOCKS / 2).to_string()])
        .args(["--grow-every-ms", "100"])
        .arg("--out")
        .arg(dir.join("devnet"));
    let d = start_devnet(cmd, PEERS, &dir.join("devnet.log"));
    (d.guard, d.enodes, d.heimdall)
}

fn standalone_cmd(data: &Path, enodes: &[String], heimdall: &str) -> (Command, String) {
    let listen = free_addr().to_string();
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["standalone", "--chain", "devnet", "--data-dir"])
        .arg(data)
        .args(["--no-discovery", "--no-progress", "--heimdall", heimdall])
        .args(["--checkpoints-from", "1", "--checkpoint-poll-ms", "200"])
        .args(["--listen", &listen])
        .args(["--metrics-listen", &free_addr().to_string()])
        .args(["--lease-ttl-secs", "5", "--unit-size", "256"]);
    for e in enodes {
        cmd.args(["--peer", e]);
    }
    (cmd, listen)
}

fn status_json(listen: &str, tls: &Path) -> Option<serde_json::Value> {
    let out = Command::new(bin("hypasis"))
        .args(["status", "--scheduler", listen, "--json", "--tls-dir"])
        .arg(tls)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn standalone_syncs_growing_devnet_forward_then_backward_and_exports_identical_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let (_devnet, enodes, heimdall) = devnet(tmp.path());
    let data = tmp.path().join("data");
    let (mut cmd, listen) = standalone_cmd(&data, &enodes, &heimdall);
    cmd.args(["--exit-when-synced", "--timeout-secs", "240"]);
    let log = tmp.path().join("standalone.log");
    let mut node = ChildGuard::spawn(cmd, &log);

    // While it runs, `hypasis status` reads the scheduler over mTLS (the generated certs).
    let tls = data.join("certs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_status = false;
    let mut seen_trusted_head = false;
    while Instant::now() < deadline {
        if let Some(st) = status_json(&listen, &tls) {
            let text = st.to_string();
            assert!(
                text.contains("forward") && text.contains("backward"),
                "{text}"
            );
            seen_status = true;
            // The trusted head (Heimdall's milestone, through the checkpoint follower) is read
            // at the scheduler's next refresh.
            if let Some(h) = st.get("trusted_head").filter(|h| !h.is_null()) {
                assert_eq!(h["origin"], "TRUST_ORIGIN_MILESTONE", "{text}");
                assert!(h["number"].as_u64().unwrap() >= BLOCKS / 2, "{text}");
                assert!(h["age_seconds"].is_u64(), "{text}");
                seen_trusted_head = true;
                break;
            }
        }
        if node.wait_timeout(Duration::from_millis(200)).is_some() {
            break;
        }
    }

    let status = node
        .wait_timeout(Duration::from_secs(300))
        .unwrap_or_else(|| panic!("standalone did not finish; log:\n{}", node.log_text()));
    let summary = node.log_text();
    assert!(status.success(), "exit {status}; log:\n{summary}");
    assert!(
        seen_status,
        "hypasis status never answered; log:\n{summary}"
    );
    assert!(
        seen_trusted_head,
        "hypasis status never showed the trusted head; log:\n{summary}"
    );
    assert!(summary.contains("gaps:     none"), "{summary}");
    // Anchored mid-chain on the milestone (the head minus the lag), synced past the start tip.
    let anchor: u64 = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("anchor:   block "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        (BLOCKS / 2..BLOCKS).contains(&anchor),
        "anchor {anchor}: {summary}"
    );
    let range_end: u64 = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("range:    0..="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(range_end >= BLOCKS, "{summary}");
    assert!(summary.contains("linked"), "{summary}");
    assert!(summary.contains("checkpoint-root"), "{summary}");

    // Export the devnet's initial blocks and compare with its own files, then verify them.
    let out = tmp.path().join("export");
    export_blocks(&data, 1, BLOCKS, &out);
    assert_same_export(&out, &tmp.path().join("devnet"), "the devnet's");
    let chain = Command::new(bin("hypasis"))
        .args(["chains", "show", "--chain", "devnet"])
        .output()
        .unwrap();
    let chain = String::from_utf8_lossy(&chain.stdout).to_string();
    let genesis = chain
        .lines()
        .find_map(|l| l.strip_prefix("genesis hash:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{chain}"))
        .to_string();
    let verify = Command::new(bin("hypasis"))
        .args(["verify", "--chain", "devnet", "--blocks"])
        .arg(out.join("chain.rlp"))
        .arg("--receipts")
        .arg(out.join("receipts.rlp"))
        .args(["--trusted", &format!("0:{genesis}")])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// An enode whose id is the secp256k1 generator point (a valid key nobody listens for).
const G_ENODE: &str = "enode://79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8@127.0.0.1:1";

#[test]
fn standalone_refuses_bad_configuration_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    // No anchor and no checkpoint source.
    let out = Command::new(bin("hypasis"))
        .args(["standalone", "--chain", "devnet", "--data-dir"])
        .arg(tmp.path().join("d"))
        .args(["--no-discovery", "--peer"])
        .arg(G_ENODE)
        .args(["--listen", &free_addr().to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no anchor"), "{err}");
    // A malformed trusted block.
    let out = Command::new(bin("hypasis"))
        .args(["standalone", "--chain", "devnet", "--data-dir"])
        .arg(tmp.path().join("d"))
        .args(["--no-discovery", "--trusted", "12:0xzz", "--peer"])
        .arg(G_ENODE)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--trusted"), "{err}");
    // No peers at all.
    let out = Command::new(bin("hypasis"))
        .args(["standalone", "--chain", "devnet", "--data-dir"])
        .arg(tmp.path().join("d"))
        .args(["--no-discovery", "--trusted"])
        .arg(format!("5:0x{}", "11".repeat(32)))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no peers"), "{err}");
}

/// `(number, hash)` of every block in a `chain.rlp` (concatenated `[header, txs, ommers]`).
fn block_hashes(chain_rlp: &[u8]) -> Vec<(u64, String)> {
    use alloy_rlp::Decodable;
    let mut buf = chain_rlp;
    let mut out = Vec::new();
    while !buf.is_empty() {
        let outer = alloy_rlp::Header::decode(&mut buf).unwrap();
        let (mut block, rest) = buf.split_at(outer.payload_length);
        buf = rest;
        let header = alloy_consensus::Header::decode(&mut block).unwrap();
        out.push((header.number, format!("{:#x}", header.hash_slow())));
    }
    out
}

#[test]
fn standalone_syncs_a_custom_genesis_chain_from_a_trusted_block() {
    let tmp = tempfile::tempdir().unwrap();
    let (_devnet, enodes, _heimdall) = devnet(tmp.path());
    let hashes = block_hashes(&std::fs::read(tmp.path().join("devnet/chain.rlp")).unwrap());
    assert_eq!(hashes.len() as u64, BLOCKS);
    let (number, hash) = hashes[(BLOCKS / 3) as usize].clone();
    let genesis =
        hypasis_integration_tests::repo_root().join("crates/primitives/src/chain/devnet.json");
    let data = tmp.path().join("data");
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["standalone", "--genesis"])
        .arg(&genesis)
        .arg("--data-dir")
        .arg(&data)
        .args(["--no-discovery", "--no-progress", "--insecure"])
        .args(["--trusted", &format!("{number}:{hash}")])
        .args(["--listen", &free_addr().to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        .args([
            "--unit-size",
            "200",
            "--exit-when-synced",
            "--timeout-secs",
            "240",
        ]);
    for e in &enodes {
        cmd.args(["--peer", e]);
    }
    let log = tmp.path().join("standalone.log");
    let mut node = ChildGuard::spawn(cmd, &log);
    let status = node
        .wait_timeout(Duration::from_secs(300))
        .unwrap_or_else(|| panic!("standalone did not finish; log:\n{}", node.log_text()));
    let summary = node.log_text();
    assert!(status.success(), "exit {status}; log:\n{summary}");
    assert!(summary.contains("gaps:     none"), "{summary}");
    assert!(
        summary.contains(&format!("anchor:   block {number} ({hash})")),
        "{summary}"
    );
    // No checkpoint source: everything is hash-linked to the trusted block.
    assert!(summary.contains("verified: linked"), "{summary}");
    assert!(!summary.contains("checkpoint-root"), "{summary}");
}

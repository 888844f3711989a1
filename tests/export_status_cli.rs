//! `hypasis export` and `hypasis status` against real `hypasis-store` / `hypasis-scheduler`
//! processes over mTLS.
//!
//! Data: the 31 real mainnet blocks 1000000..=1000030 with receipts of
//! `tests/fixtures/validation/eth-mainnet/blocks-1000000-1000030/` (see its PROVENANCE.md),
//! written into a real store through its gRPC `PutBatch`.

use alloy_primitives::{Bytes, keccak256};
use alloy_rlp::Decodable;
use hypasis_integration_tests::{
    ChildGuard, bin, client_tls, free_addr, generate_certs, repo_root, service_command, stderr,
    stdout, wait_serving,
};
use hypasis_primitives::RawBlock;
use hypasis_proto::v1::{self, scheduler_client::SchedulerClient, store_client::StoreClient};
use hypasis_validation::split_concatenated;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

const FIRST: u64 = 1_000_000;
const LAST: u64 = 1_000_030;
const LAST_HASH: &str = "0x37bf824db199eac4ffa85f498babbf6bd9d6e3f9f8c6cb5e1a18f645c95c1e65";

fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures/validation/eth-mainnet/blocks-1000000-1000030")
        .join(name)
}

/// The fixture blocks as the store keeps them.
fn fixture_blocks() -> Vec<RawBlock> {
    let headers = std::fs::read(fixture("headers.rlp")).unwrap();
    let bodies = std::fs::read(fixture("bodies.rlp")).unwrap();
    let receipts = std::fs::read(fixture("receipts.rlp")).unwrap();
    let h = split_concatenated(&headers).unwrap();
    let b = split_concatenated(&bodies).unwrap();
    let r = split_concatenated(&receipts).unwrap();
    assert_eq!((h.len(), b.len(), r.len()), (31, 31, 31));
    h.iter()
        .zip(&b)
        .zip(&r)
        .map(|((h, b), r)| {
            let header = alloy_consensus::Header::decode(&mut &h[..]).unwrap();
            RawBlock {
                number: header.number,
                hash: keccak256(h),
                header: Bytes::copy_from_slice(h),
                body: Bytes::copy_from_slice(b),
                receipts: Bytes::copy_from_slice(r),
            }
        })
        .collect()
}

/// `rlp([header, txs, ommers])` per block, encoded here independently of the CLI's writer.
fn expected_chain_rlp(blocks: &[RawBlock]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in blocks {
        let mut body = &b.body[..];
        let h = alloy_rlp::Header::decode(&mut body).unwrap();
        assert!(h.list && h.payload_length == body.len());
        let mut payload = b.header.to_vec();
        payload.extend_from_slice(body);
        alloy_rlp::Header {
            list: true,
            payload_length: payload.len(),
        }
        .encode(&mut out);
        out.extend_from_slice(&payload);
    }
    out
}

async fn channel(addr: SocketAddr, certs: &Path) -> Option<Channel> {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .tls_config(client_tls(certs, Some("admin"), "localhost"))
        .unwrap()
        .connect()
        .await
        .ok()
}

/// Starts `hypasis-store` on `data_dir` and waits until it serves.
async fn start_store(data_dir: &Path, certs: &Path, log: &Path) -> (ChildGuard, SocketAddr) {
    let addr = free_addr();
    let mut cmd = service_command("hypasis-store", addr, free_addr(), certs);
    cmd.arg("--data-dir").arg(data_dir);
    let mut proc = ChildGuard::spawn(cmd, log);
    wait_serving(&mut proc, addr, certs, "hypasis.v1.Store").await;
    (proc, addr)
}

/// SIGTERM and wait: the store closes its database (export needs the file lock).
fn stop(mut proc: ChildGuard) {
    proc.signal("TERM");
    assert!(
        proc.wait_timeout(Duration::from_secs(20)).is_some(),
        "process did not stop:\n{}",
        proc.log_text()
    );
}

async fn put(store: SocketAddr, certs: &Path, blocks: &[RawBlock]) {
    let mut client = StoreClient::new(channel(store, certs).await.expect("store channel"));
    client
        .put_batch(v1::PutBatchRequest {
            blocks: blocks.iter().map(v1::Block::from).collect(),
            level: v1::VerificationLevel::Linked as i32,
            lease_id: String::new(),
        })
        .await
        .expect("put_batch");
}

fn hypasis(args: &[&str]) -> Output {
    let out = Command::new(bin("hypasis"))
        .args(args)
        .env_remove("HYPASIS_TLS_DIR")
        .output()
        .expect("run hypasis");
    eprintln!(
        "$ hypasis {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn idx(n: u64) -> usize {
    (n - FIRST) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_verifiable_files_and_refuses_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let data = tmp.path().join("store");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let chain_out = out_dir.join("chain.rlp");
    let receipts_out = out_dir.join("receipts.rlp");
    let blocks = fixture_blocks();
    assert_eq!(blocks[0].number, FIRST);
    assert_eq!(format!("{}", blocks[idx(LAST)].hash), LAST_HASH);

    // Everything but 1000020..=1000022.
    let (store, addr) = start_store(&data, &certs, &tmp.path().join("store-1.log")).await;
    put(addr, &certs, &blocks[..idx(1_000_020)]).await;
    put(addr, &certs, &blocks[idx(1_000_023)..]).await;
    stop(store);

    let export = |from: u64, to: u64, receipts: bool| {
        let (from, to) = (from.to_string(), to.to_string());
        let mut args = vec![
            "export",
            "--data-dir",
            s(&data),
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            s(&chain_out),
        ];
        if receipts {
            args.extend(["--receipts", s(&receipts_out)]);
        }
        hypasis(&args)
    };

    // A range with a gap is refused, naming the missing blocks; nothing is left behind.
    let out = export(FIRST, LAST, true);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("blocks 1000020..=1000022 are missing"), "{e}");
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "a failed export left files in {}",
        out_dir.display()
    );

    // A stored sub-range exports.
    let out = export(1_000_023, LAST, false);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(&chain_out).unwrap(),
        expected_chain_rlp(&blocks[idx(1_000_023)..])
    );
    assert!(!receipts_out.exists());
    std::fs::remove_file(&chain_out).unwrap();

    // Fill the gap. While the store runs, the database is locked: a clear error.
    let (store, addr) = start_store(&data, &certs, &tmp.path().join("store-2.log")).await;
    put(addr, &certs, &blocks[idx(1_000_020)..idx(1_000_023)]).await;
    let out = export(FIRST, LAST, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("stop it first"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
    stop(store);

    let out = export(FIRST, LAST, true);
    assert!(out.status.success());
    let o = stdout(&out);
    assert!(o.contains("exported 31 blocks (1000000..=1000030)"), "{o}");
    assert!(
        o.contains(s(&chain_out)) && o.contains(s(&receipts_out)),
        "{o}"
    );
    let chain_bytes = std::fs::read(&chain_out).unwrap();
    assert_eq!(chain_bytes, expected_chain_rlp(&blocks));
    assert!(o.contains(&format!("({} bytes)", chain_bytes.len())), "{o}");
    // Receipts are the fixture's receipts file, byte for byte.
    assert_eq!(
        std::fs::read(&receipts_out).unwrap(),
        std::fs::read(fixture("receipts.rlp")).unwrap()
    );
    // Only the two outputs: no temporary files left.
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 2);

    // The export re-verifies: rules, receipts roots, hash linkage to the trusted last block.
    let out = hypasis(&[
        "verify",
        "--chain",
        "mainnet",
        "--blocks",
        s(&chain_out),
        "--receipts",
        s(&receipts_out),
        "--trusted",
        &format!("{LAST}:{LAST_HASH}"),
    ]);
    assert!(out.status.success());
    let o = stdout(&out);
    assert!(
        o.contains("1000000..=1000030") && o.contains("linked"),
        "{o}"
    );
    assert!(o.contains("ok: 31 blocks pass"), "{o}");

    // A data directory without a store is an error, not a new empty database.
    let empty = tmp.path().join("empty");
    let out = hypasis(&[
        "export",
        "--data-dir",
        s(&empty),
        "--from",
        "0",
        "--to",
        "1",
        "--out",
        s(&out_dir.join("x.rlp")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no store database"),
        "{}",
        stderr(&out)
    );
    assert!(!empty.exists());
}

fn start_scheduler(
    tmp: &Path,
    certs: &Path,
    store: SocketAddr,
    trusted_head: &str,
) -> (ChildGuard, SocketAddr) {
    let addr = free_addr();
    let mut cmd = Command::new(bin("hypasis-scheduler"));
    cmd.args(["--trusted-head", trusted_head]);
    cmd.args(["--listen", &addr.to_string()])
        .args(["--metrics-listen", &free_addr().to_string()])
        .arg("--tls-dir")
        .arg(certs)
        .args(["--store", &format!("https://{store}")])
        .args(["--chain", "mainnet"])
        .args(["--genesis", &FIRST.to_string()])
        .args(["--anchor", "1000010"])
        .args(["--tip", &LAST.to_string()])
        .args(["--unit-size", "5"])
        .args(["--refresh-ms", "200"])
        .env("RUST_LOG", "info");
    (ChildGuard::spawn(cmd, &tmp.join("scheduler.log")), addr)
}

fn direction_line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_scheduler_and_store_state() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let (store, store_addr) = start_store(
        &tmp.path().join("store"),
        &certs,
        &tmp.path().join("store.log"),
    )
    .await;
    // Blocks below the anchor are stored.
    let blocks = fixture_blocks();
    put(store_addr, &certs, &blocks[..idx(1_000_010)]).await;
    // The operator's trusted head: the last fixture block.
    let head = &blocks[idx(LAST)];
    let trusted_head = format!("{LAST}:{}", head.hash);
    let (mut sched, sched_addr) = start_scheduler(tmp.path(), &certs, store_addr, &trusted_head);
    wait_serving(&mut sched, sched_addr, &certs, "hypasis.v1.Scheduler").await;

    // The backward direction is paused through the admin API; status shows it.
    let mut client = SchedulerClient::new(channel(sched_addr, &certs).await.unwrap());
    client
        .pause(v1::PauseRequest {
            direction: v1::Direction::Backward as i32,
        })
        .await
        .unwrap();

    let (sa, st) = (sched_addr.to_string(), store_addr.to_string());
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--scheduler", &sa, "--tls-dir", s(&certs)];
        args.extend_from_slice(extra);
        hypasis(&args)
    };
    // The trusted head is read at the leader's refresh (every 200 ms here).
    let deadline = Instant::now() + Duration::from_secs(10);
    let o = loop {
        let out = status(&["--store", &st]);
        assert!(out.status.success(), "{}", sched.log_text());
        let o = stdout(&out);
        if o.contains("block-anchor") || Instant::now() > deadline {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(o.contains("leader, term"), "{o}");
    // Without the checkpoint service, the operator's --trusted-head is the trusted head.
    let line = o
        .lines()
        .find(|l| l.starts_with("trusted:"))
        .unwrap_or_else(|| panic!("{o}"));
    assert!(
        line.contains(&format!(
            "block-anchor {LAST} (--trusted-head) = {}",
            head.hash
        )),
        "{line}"
    );
    assert!(o.contains("chain mainnet (chain id 1)"), "{o}");
    assert!(o.contains("anchor:    block 1000010"), "{o}");
    assert!(o.contains("tip:       1000030"), "{o}");
    let header = direction_line(&o, "direction");
    for col in [
        "done",
        "in flight",
        "remaining",
        "blocks/s",
        "eta",
        "paused",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let fwd: Vec<&str> = direction_line(&o, "forward").split_whitespace().collect();
    let bwd: Vec<&str> = direction_line(&o, "backward").split_whitespace().collect();
    assert_eq!(fwd.len(), 9, "{o}");
    assert_eq!(fwd[6], "no", "{o}");
    assert_eq!(bwd[6], "PAUSED", "{o}");
    assert!(
        o.contains("gaps:      1 (21 blocks): 1000010..=1000030"),
        "{o}"
    );
    assert!(
        o.contains(&format!(
            "store https://{store_addr}: 10 blocks present, 1000000 missing within 0..=1000009"
        )),
        "{o}"
    );
    assert!(o.contains("present: 1000000..=1000009"), "{o}");

    // The same as JSON, with numbers that add up.
    let out = status(&["--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["leader"], true);
    assert_eq!(j["tip"], LAST);
    assert_eq!(j["anchor"]["range"]["end"], 1_000_010);
    assert_eq!(j["gaps"][0]["start"], 1_000_010);
    assert_eq!(j["gaps"][0]["end"], LAST);
    assert!(j.get("store").is_none());
    let dirs = j["directions"].as_array().unwrap();
    let dir = |name: &str| {
        dirs.iter()
            .find(|d| d["direction"] == name)
            .unwrap_or_else(|| panic!("no {name} in {j}"))
    };
    let (f, b) = (dir("forward"), dir("backward"));
    assert_eq!(f["paused"], false);
    assert_eq!(b["paused"], true);
    // Backward: the 10 stored blocks below the anchor are done, the anchor block remains.
    assert_eq!(b["done_blocks"], 10, "{j}");
    assert_eq!(b["remaining_blocks"], 1, "{j}");
    let f_total = f["done_blocks"].as_u64().unwrap()
        + f["in_flight_blocks"].as_u64().unwrap()
        + f["remaining_blocks"].as_u64().unwrap();
    assert_eq!(f_total, 20, "forward covers 1000011..=1000030: {j}");
    assert_eq!(fwd[1], f["done_blocks"].to_string());
    assert_eq!(fwd[3], f["remaining_blocks"].to_string());

    // Certificates of another cluster: refused, with a clear error.
    let other = tmp.path().join("other-certs");
    generate_certs(&other);
    let out = hypasis(&["status", "--scheduler", &sa, "--tls-dir", s(&other)]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains(&format!(
            "cannot connect to the scheduler at https://{sched_addr}"
        )),
        "{e}"
    );
    assert!(e.contains("check --tls-dir"), "{e}");
    // The cluster's CA but a client certificate of another CA: the scheduler refuses it.
    let mixed = tmp.path().join("mixed-certs");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(certs.join("ca.pem"), mixed.join("ca.pem")).unwrap();
    for f in ["admin.pem", "admin.key"] {
        std::fs::copy(other.join(f), mixed.join(f)).unwrap();
    }
    let out = hypasis(&["status", "--scheduler", &sa, "--tls-dir", s(&mixed)]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("scheduler") && e.contains("check --tls-dir"),
        "{e}"
    );
    // Plaintext against an mTLS scheduler fails too.
    let out = hypasis(&["status", "--scheduler", &sa, "--insecure"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("scheduler") && stderr(&out).contains("pass --tls-dir"),
        "{}",
        stderr(&out)
    );
    // Neither --tls-dir nor --insecure: a usage error.
    let out = hypasis(&["status", "--scheduler", &sa]);
    assert_eq!(out.status.code(), Some(2));

    drop(sched);
    drop(store);
}

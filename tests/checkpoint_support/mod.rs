//! Shared helpers of the checkpoint tests: a small scriptable HTTP server that replays
//! response bodies (Heimdall, beacon API), the Hardhat L1 node from `tests/l1`, fixture paths.

#![allow(dead_code)]

use hypasis_integration_tests::{ChildGuard, free_addr, repo_root};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A file under `tests/fixtures/checkpoint/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures/checkpoint").join(rel)
}

/// Its bytes.
pub fn fixture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// What the mock server answers for one path.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Close the connection without any response.
    pub hang_up: bool,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::status(200, body)
    }
    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            hang_up: false,
        }
    }
    /// 200 with `value` as JSON.
    pub fn json(value: &serde_json::Value) -> Self {
        Self::ok(serde_json::to_vec(value).unwrap())
    }
}

/// A scriptable HTTP/1.1 server (one request per connection).
#[derive(Clone, Debug)]
pub struct MockHttp {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

impl MockHttp {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, h) = (r.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf);
                    let path = text
                        .lines()
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("/")
                        .to_string();
                    h.lock().unwrap().push(path.clone());
                    let reply = r.lock().unwrap().get(&path).cloned().unwrap_or_else(|| {
                        Reply::status(404, format!("{{\"error\":\"no route {path}\"}}"))
                    });
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    if reply.hang_up {
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&reply.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { addr, routes, hits }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the reply for `path`.
    pub fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    /// Removes every route (everything 404s).
    pub fn clear(&self) {
        self.routes.lock().unwrap().clear();
    }

    /// Requests served so far for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

/// A heimdall-v2 checkpoint body.
pub fn heimdall_v2(
    id: u64,
    start: u64,
    end: u64,
    root: [u8; 32],
    proposer: &str,
) -> serde_json::Value {
    use base64::Engine;
    serde_json::json!({"checkpoint": {
        "id": id.to_string(),
        "proposer": proposer,
        "start_block": start.to_string(),
        "end_block": end.to_string(),
        "root_hash": base64::engine::general_purpose::STANDARD.encode(root),
        "bor_chain_id": "137",
        "timestamp": "1611142592"
    }})
}

/// The Hardhat L1 node from `tests/l1` (HTTP and WebSocket JSON-RPC on one port).
pub struct L1Node {
    pub proc: ChildGuard,
    pub addr: SocketAddr,
    pub _tmp: tempfile::TempDir,
}

/// `tests/l1`, checked to have its npm packages installed.
pub fn l1_dir() -> PathBuf {
    let dir = repo_root().join("tests/l1");
    assert!(
        dir.join("node_modules/.bin/hardhat").exists() && dir.join("node_modules/solc").exists(),
        "the L1 test node is not installed: run `npm ci --prefix tests/l1` (CI's .ci/run does)"
    );
    dir
}

impl L1Node {
    /// Starts `hardhat node` and waits until it answers JSON-RPC.
    pub async fn start() -> Self {
        let dir = l1_dir();
        let tmp = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let mut cmd = Command::new(dir.join("node_modules/.bin/hardhat"));
        cmd.current_dir(&dir)
            .args(["node", "--hostname", "127.0.0.1", "--port"])
            .arg(addr.port().to_string())
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .env("DO_NOT_TRACK", "1");
        let mut proc = ChildGuard::spawn(cmd, &tmp.path().join("hardhat.log"));
        let deadline = Instant::now() + Duration::from_secs(60);
        hypasis_checkpoint::http::ensure_crypto_provider();
        let client = reqwest::Client::new();
        loop {
            if let Some(s) = proc.child.try_wait().unwrap() {
                panic!("hardhat node exited with {s}:\n{}", proc.log_text());
            }
            let r = client
                .post(format!("http://{addr}"))
                .header("content-type", "application/json")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "hardhat node did not start:\n{}",
                proc.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self {
            proc,
            addr,
            _tmp: tmp,
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

/// Compiles `tests/l1/contracts/TestRootChain.sol` with the pinned solc-js; returns the creation
/// bytecode.
pub fn compile_root_chain(out_dir: &Path) -> Vec<u8> {
    let dir = l1_dir();
    let out = out_dir.join("TestRootChain.json");
    let status = Command::new("node")
        .arg(dir.join("compile.cjs"))
        .arg(&out)
        .status()
        .expect("run node (is Node.js installed?)");
    assert!(status.success(), "solc compilation failed");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let hex = v["bytecode"].as_str().unwrap().trim_start_matches("0x");
    hex::decode(hex).unwrap()
}

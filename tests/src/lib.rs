//! Helpers for integration tests that run the real binaries as child processes.
//!
//! The binaries are taken from the cargo target directory of the test executable
//! (`target/<profile>/`); `make test` builds them first (`cargo build --workspace --bins`).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::health_check_response::ServingStatus;

/// Held by the tests that start a fleet of processes (the whole cluster, the scheduler failover,
/// the fetcher cluster): all suites share one test binary, and two fleets at once on CI's two
/// cores would make their time-bounded waits compete.
pub static FLEET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// mTLS client settings over the certificates in `certs` (from `generate_certs`): trust its
/// `ca.pem`, present `<client>.pem` / `<client>.key` (none: no client certificate), and expect
/// the server name `server`.
pub fn client_tls(certs: &Path, client: Option<&str>, server: &str) -> ClientTlsConfig {
    let ca = Certificate::from_pem(std::fs::read(certs.join("ca.pem")).expect("ca.pem"));
    let cfg = ClientTlsConfig::new()
        .ca_certificate(ca)
        .domain_name(server);
    match client {
        Some(name) => cfg.identity(Identity::from_pem(
            std::fs::read(certs.join(format!("{name}.pem"))).expect("client certificate"),
            std::fs::read(certs.join(format!("{name}.key"))).expect("client key"),
        )),
        None => cfg,
    }
}

/// An mTLS channel to `addr` as `client` (server name `localhost`), with a `timeout` on each
/// request; `None` when it does not connect within a second.
pub async fn mtls_channel(
    addr: SocketAddr,
    certs: &Path,
    client: &str,
    timeout: Duration,
) -> Option<Channel> {
    Endpoint::from_shared(format!("https://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .tls_config(client_tls(certs, Some(client), "localhost"))
        .ok()?
        .connect()
        .await
        .ok()
}

/// The gRPC health status of `service` on `ch` (`None`: no answer).
pub async fn health_status(ch: &Channel, service: &str) -> Option<ServingStatus> {
    tonic_health::pb::health_client::HealthClient::new(ch.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .ok()
        .and_then(|r| ServingStatus::try_from(r.into_inner().status).ok())
}

/// Whether `service` at `addr` reports `SERVING` on the gRPC health service, asked as
/// `client`; `false` when it cannot be reached.
pub async fn serving(addr: SocketAddr, certs: &Path, client: &str, service: &str) -> bool {
    let Some(ch) = mtls_channel(addr, certs, client, Duration::from_secs(5)).await else {
        return false;
    };
    health_status(&ch, service).await == Some(ServingStatus::Serving)
}

/// Waits (at most 30 s) until `service` of the process `proc` at `addr` reports `SERVING` to
/// the `admin` client, and returns that client's channel (no request timeout). Panics with the
/// process's log when it exits first or the time runs out.
pub async fn wait_serving(
    proc: &mut ChildGuard,
    addr: SocketAddr,
    certs: &Path,
    service: &str,
) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = proc.child.try_wait().expect("try_wait") {
            panic!("{service} exited early with {status}:\n{}", proc.log_text());
        }
        let ch = Endpoint::from_shared(format!("https://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(2))
            .tls_config(client_tls(certs, Some("admin"), "localhost"))
            .expect("tls config")
            .connect()
            .await;
        if let Ok(ch) = ch
            && health_status(&ch, service).await == Some(ServingStatus::Serving)
        {
            return ch;
        }
        assert!(
            Instant::now() < deadline,
            "{service} not ready:\n{}",
            proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `hypasis p2p fetch --quiet` of blocks `from..=to` of `chain` from `peer` into `out`, plus
/// `extra` arguments; the finished process's output.
pub fn p2p_fetch(
    chain: &str,
    peer: &str,
    from: u64,
    to: u64,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(bin("hypasis"))
        .args(["p2p", "fetch", "--quiet", "--chain", chain, "--peer", peer])
        .args(["--from", &from.to_string(), "--to", &to.to_string()])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run hypasis p2p fetch")
}

/// A process's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `hypasis export` of blocks `from..=to` in the data dir `data` into `out/chain.rlp` and
/// `out/receipts.rlp` (creating `out`), asserting it succeeds.
pub fn export_blocks(data: &Path, from: u64, to: u64, out: &Path) {
    std::fs::create_dir_all(out).expect("export dir");
    let run = Command::new(bin("hypasis"))
        .args(["export", "--data-dir"])
        .arg(data)
        .args([
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--out",
        ])
        .arg(out.join("chain.rlp"))
        .arg("--receipts")
        .arg(out.join("receipts.rlp"))
        .output()
        .expect("run hypasis export");
    assert!(
        run.status.success(),
        "hypasis export failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Asserts that `chain.rlp` and `receipts.rlp` in `got` equal those in `want` byte for byte.
pub fn assert_same_export(got: &Path, want: &Path, whose: &str) {
    for file in ["chain.rlp", "receipts.rlp"] {
        let a = std::fs::read(got.join(file)).expect("exported file");
        let b = std::fs::read(want.join(file)).expect("reference file");
        assert!(a == b, "exported {file} differs from {whose}");
    }
}

/// Path of a workspace binary next to the running test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build the binaries first (`cargo build --workspace --bins`, which `make test` does)",
        path.display()
    );
    path
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    /// The process.
    pub child: Child,
    /// Where its stderr/stdout go.
    pub log: PathBuf,
}

impl ChildGuard {
    /// Spawns `cmd` with output to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Self {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Sends a signal by name (`KILL`, `TERM`) with the system `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hypasis certs generate --out dir`.
pub fn generate_certs(dir: &Path) {
    let status = Command::new(bin("hypasis"))
        .args(["certs", "generate", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .expect("run hypasis certs generate");
    assert!(status.success(), "hypasis certs generate failed");
}

/// A service binary (`hypasis-store`, `hypasis-validator`, …) serving gRPC on `grpc` and
/// metrics on `metrics`, over mTLS with the certificates in `certs`, logging at `info`.
pub fn service_command(name: &str, grpc: SocketAddr, metrics: SocketAddr, certs: &Path) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.args(["--listen", &grpc.to_string()])
        .args(["--metrics-listen", &metrics.to_string()])
        .arg("--tls-dir")
        .arg(certs)
        .env("RUST_LOG", "info");
    cmd
}

/// A plain HTTP/1.1 GET (metrics and health endpoints): the whole response, headers included.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The services a server lists over gRPC reflection (what `grpcurl list` / `buf curl` does).
pub async fn reflection_services(ch: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let resp = ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .expect("one reflection response");
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

/// `hypasis devnet --blocks BLOCKS --peers PEERS` with its peers and Heimdall endpoint on
/// loopback ports chosen by the system; callers add the rest (`--out`, growth, checkpoints).
pub fn devnet_command(blocks: u64, peers: usize) -> Command {
    let mut cmd = Command::new(bin("hypasis"));
    cmd.args(["devnet", "--blocks", &blocks.to_string()])
        .args(["--peers", &peers.to_string()])
        .args(["--listen-base", "127.0.0.1:0"])
        .args(["--heimdall-listen", "127.0.0.1:0"]);
    cmd
}

/// A running `hypasis devnet`: the process, its peers' enodes and its Heimdall URL.
#[derive(Debug)]
pub struct Devnet {
    /// The process (killed on drop).
    pub guard: ChildGuard,
    /// One `enode://` URL per peer.
    pub enodes: Vec<String>,
    /// The Heimdall-format endpoint (`http://…`).
    pub heimdall: String,
}

/// Starts a devnet command (from [`devnet_command`]) of `peers` peers, logging to `log`, and
/// waits for what it prints: one enode line per peer, then `heimdall URL`.
pub fn start_devnet(cmd: Command, peers: usize, log: &Path) -> Devnet {
    let (guard, first) = spawn_first_line(cmd, log, Duration::from_secs(120));
    assert!(first.starts_with("enode://"), "{first}");
    let stdout = log.with_extension("stdout");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > peers {
            for l in &lines[..peers] {
                assert!(l.starts_with("enode://"), "{l}");
            }
            let heimdall = lines[peers]
                .strip_prefix("heimdall ")
                .unwrap_or_else(|| panic!("no Heimdall line: {text}"))
                .to_string();
            let enodes = lines[..peers].iter().map(|s| s.to_string()).collect();
            return Devnet {
                guard,
                enodes,
                heimdall,
            };
        }
        assert!(Instant::now() < deadline, "{text}\n{}", guard.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns `cmd` with stdout to `<log>.stdout` and stderr to `log`, and waits (at most
/// `timeout`) for the first complete stdout line, which it returns (e.g. an `enode://` URL).
pub fn spawn_first_line(mut cmd: Command, log: &Path, timeout: Duration) -> (ChildGuard, String) {
    let out_path = log.with_extension("stdout");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(log).expect("log file");
    cmd.stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .stdin(Stdio::null());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut guard = ChildGuard {
        child,
        log: log.to_path_buf(),
    };
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some((line, _)) = text.split_once('\n') {
            return (guard, line.trim().to_string());
        }
        if let Some(status) = guard.child.try_wait().expect("try_wait") {
            panic!(
                "{cmd:?} exited with {status} before printing a line; log:\n{}",
                guard.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} printed no line within {timeout:?}; log:\n{}",
            guard.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

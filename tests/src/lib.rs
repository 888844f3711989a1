//! Helpers for integration tests that run the real binaries as child processes.
//!
//! The binaries are taken from the cargo target directory of the test executable
//! (`target/<profile>/`); `make test` builds them first (`cargo build --workspace --bins`).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

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

/// Whether `service` at `addr` reports `SERVING` on the gRPC health service, asked as
/// `client`; `false` when it cannot be reached.
pub async fn serving(addr: SocketAddr, certs: &Path, client: &str, service: &str) -> bool {
    let Some(ch) = mtls_channel(addr, certs, client, Duration::from_secs(5)).await else {
        return false;
    };
    tonic_health::pb::health_client::HealthClient::new(ch)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .is_ok_and(|r| {
            r.into_inner().status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        })
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

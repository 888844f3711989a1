//! Test support: a throw-away single-node etcd server (the `etcd` binary, e.g. Debian's
//! `etcd-server`), listening on random 127.0.0.1 ports with its data in a given directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running etcd process; killed when dropped.
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    /// Client URL (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// Its log file.
    pub log: PathBuf,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdServer {
    /// The etcd binary: `$ETCD_BIN`, else `etcd` on the `PATH`.
    pub fn binary() -> PathBuf {
        std::env::var_os("ETCD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("etcd"))
    }

    /// Starts etcd with its data under `dir` and waits (at most 20 s) until it accepts client
    /// connections.
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        let client = free_port()?;
        let peer = free_port()?;
        let data = dir.join("etcd-data");
        let log = dir.join("etcd.log");
        let out = std::fs::File::create(&log)?;
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(Self::binary())
            .arg("--name")
            .arg("hypasis-test")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("hypasis-test={peer_url}")])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start `{}` ({e}); install etcd (Debian: apt-get install etcd-server) or set ETCD_BIN",
                        Self::binary().display()
                    ),
                )
            })?;
        let mut server = Self {
            child,
            endpoint,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "etcd exited with {status}:\n{}",
                    server.log_text()
                )));
            }
            let log = server.log_text();
            if std::net::TcpStream::connect(("127.0.0.1", client)).is_ok()
                && log.contains("ready to serve client requests")
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "etcd not ready within 20 s:\n{log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

//! The store service driven by the operator tools users have: a grpcurl-compatible client
//! (`buf curl`, same reflection protocol) with the admin certificate, and an OTLP trace receiver
//! standing in for Jaeger.

use hypasis_integration_tests::{
    ChildGuard, free_addr, generate_certs, repo_root, service_command,
};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn buf() -> PathBuf {
    let path = repo_root().join("tests/tools/node_modules/.bin/buf");
    assert!(
        path.exists(),
        "{} missing: run `npm ci --prefix tests/tools` (make test and .ci/run do)",
        path.display()
    );
    path
}

fn buf_curl(certs: &Path, with_client_cert: bool, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(buf());
    cmd.args(["curl", "--protocol", "grpc", "--cacert"])
        .arg(certs.join("ca.pem"));
    if with_client_cert {
        cmd.arg("--cert")
            .arg(certs.join("admin.pem"))
            .arg("--key")
            .arg(certs.join("admin.key"));
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run buf curl")
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn grpcurl_compatible_client_lists_and_calls_with_admin_cert_only() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let (grpc, metrics) = (free_addr(), free_addr());
    let mut cmd = service_command("hypasis-store", grpc, metrics, &certs);
    cmd.arg("--data-dir").arg(tmp.path().join("d"));
    let _store = ChildGuard::spawn(cmd, &tmp.path().join("store.log"));
    let url = format!("https://{grpc}");

    let mut listed = String::new();
    wait_for(
        || {
            let out = buf_curl(&certs, true, &["--list-services", &url]);
            listed = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success()
        },
        "the store to answer reflection",
    );
    assert!(
        listed.lines().any(|l| l.trim() == "hypasis.v1.Store"),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.trim() == "grpc.health.v1.Health"),
        "{listed}"
    );

    let methods = buf_curl(&certs, true, &["--list-methods", &url]);
    let methods = String::from_utf8_lossy(&methods.stdout);
    for m in ["PutBatch", "GetBlocks", "GetRanges", "GetStats"] {
        assert!(
            methods.contains(&format!("hypasis.v1.Store/{m}")),
            "{methods}"
        );
    }

    let stats = buf_curl(
        &certs,
        true,
        &["-d", "{}", &format!("{url}/hypasis.v1.Store/GetStats")],
    );
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    assert!(String::from_utf8_lossy(&stats.stdout).contains("\"backend\": \"redb\""));

    let refused = buf_curl(&certs, false, &["--list-services", &url]);
    assert!(
        !refused.status.success(),
        "a client without certificate must be refused"
    );
}

#[test]
fn request_spans_are_exported_over_otlp() {
    let receiver_script = repo_root().join("tests/tools/otlp_receiver.py");
    let probe = Command::new("python3")
        .args([
            "-c",
            "import grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc",
        ])
        .status()
        .expect("python3");
    assert!(
        probe.success(),
        "python packages missing: pip install -r tests/tools/requirements.txt (.ci/run does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let spans_file = tmp.path().join("spans.jsonl");
    let mut receiver = Command::new("python3")
        .arg(&receiver_script)
        .arg("--out")
        .arg(&spans_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start OTLP receiver");
    let mut first = String::new();
    std::io::BufReader::new(receiver.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let endpoint = first
        .trim()
        .strip_prefix("listening on ")
        .expect("receiver banner")
        .to_string();
    let _receiver = ChildGuard {
        child: receiver,
        log: tmp.path().join("none"),
    };

    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let (grpc, metrics) = (free_addr(), free_addr());
    let mut cmd = service_command("hypasis-store", grpc, metrics, &certs);
    cmd.arg("--data-dir")
        .arg(tmp.path().join("d"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{endpoint}"));
    let mut store = ChildGuard::spawn(cmd, &tmp.path().join("store.log"));
    let url = format!("https://{grpc}");
    wait_for(
        || {
            buf_curl(
                &certs,
                true,
                &["-d", "{}", &format!("{url}/hypasis.v1.Store/GetStats")],
            )
            .status
            .success()
        },
        "the store to answer GetStats",
    );
    // Graceful shutdown flushes the batch span processor.
    store.signal("TERM");
    assert!(
        store
            .wait_timeout(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "{}",
        store.log_text()
    );
    wait_for(
        || {
            std::fs::read_to_string(&spans_file)
                .is_ok_and(|s| s.contains("hypasis.v1.Store/GetStats"))
        },
        "the GetStats span at the OTLP receiver",
    );
    let spans = std::fs::read_to_string(&spans_file).unwrap();
    let span = spans
        .lines()
        .find(|l| l.contains("hypasis.v1.Store/GetStats"))
        .unwrap();
    assert!(span.contains("\"service\": \"hypasis-store\""), "{span}");
    assert!(span.contains("\"rpc.method\": \"GetStats\""), "{span}");
}

//! The checkpoint service and `hypasis checkpoint show` as real processes: sources served by a
//! local Heimdall-format HTTP server (plus a static checkpoint file), persistence (embedded and
//! through the store service), Latest/Get/List/Watch over mTLS, reflection, health, metrics, an
//! outage that leaves the service serving and degraded, restart, refusals.

use crate::checkpoint_support as support;

use hypasis_integration_tests::{
    ChildGuard, bin, free_addr, generate_certs, health_status, reflection_services,
    service_command, wait_serving,
};
use hypasis_proto::v1::{self, checkpoint_service_client::CheckpointServiceClient};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{MockHttp, Reply, heimdall_v2};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

const PROPOSER: &str = "0x7fcd58c2d53d980b247f1612fdba93e9a76193e6";

fn root(id: u64) -> [u8; 32] {
    [id as u8; 32]
}

/// Heimdall serving checkpoints 1..=n (100 blocks each) with `latest` = n.
fn serve_chain(http: &MockHttp, n: u64) {
    for id in 1..=n {
        let body = heimdall_v2(id, (id - 1) * 100, id * 100 - 1, root(id), PROPOSER);
        http.set(&format!("/checkpoints/{id}"), Reply::json(&body));
        if id == n {
            http.set("/checkpoints/latest", Reply::json(&body));
        }
    }
    http.set(
        "/checkpoints/count",
        Reply::json(&serde_json::json!({"ack_count": n.to_string()})),
    );
}

const SERVING: ServingStatus = ServingStatus::Serving;
const NOT_SERVING: ServingStatus = ServingStatus::NotServing;

async fn metrics(addr: SocketAddr) -> String {
    let url = format!("http://{addr}/metrics");
    hypasis_checkpoint::http::ensure_crypto_provider();
    reqwest::get(&url).await.unwrap().text().await.unwrap()
}

/// Whether a series of `name` carrying `label` (e.g. `reason="changed"`) exists.
fn has_series(text: &str, name: &str, label: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn eventually<F, Fut>(what: &str, log: &ChildGuard, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            log.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Service {
    proc: ChildGuard,
    grpc: SocketAddr,
    metrics: SocketAddr,
}

fn start_checkpoint(tmp: &Path, extra: &[&str], tag: &str) -> Service {
    let grpc = free_addr();
    let metrics = free_addr();
    let mut cmd = service_command("hypasis-checkpoint", grpc, metrics, &tmp.join("certs"));
    cmd.args(["--poll-interval", "0.1"]).args(extra);
    Service {
        proc: ChildGuard::spawn(cmd, &tmp.join(format!("checkpoint-{tag}.log"))),
        grpc,
        metrics,
    }
}

/// A checkpoint service started with `extra` flags, once it serves.
async fn start_ready(tmp: &Path, extra: &[&str], tag: &str) -> (Service, Channel) {
    let mut svc = start_checkpoint(tmp, extra, tag);
    let ch = wait_serving(
        &mut svc.proc,
        svc.grpc,
        &tmp.join("certs"),
        "hypasis.v1.CheckpointService",
    )
    .await;
    (svc, ch)
}

async fn latest_id(c: &mut CheckpointServiceClient<Channel>) -> Option<u64> {
    c.latest(v1::LatestCheckpointRequest {})
        .await
        .ok()
        .map(|r| r.into_inner().id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_persists_serves_watches_and_survives_outages() {
    let tmp = tempfile::tempdir().unwrap();
    generate_certs(&tmp.path().join("certs"));
    let http = MockHttp::start().await;
    serve_chain(&http, 3);
    // A static checkpoint file agreeing with Heimdall on checkpoint 3.
    let file = tmp.path().join("checkpoints.json");
    std::fs::write(
        &file,
        serde_json::json!([{ "id": 3, "start": 200, "end": 299,
            "root": format!("0x{}", hex::encode(root(3))) }])
        .to_string(),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let url = http.url();
    let args = [
        "--heimdall",
        url.as_str(),
        "--checkpoint-file",
        file.to_str().unwrap(),
        "--start-id",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let (mut svc, ch) = start_ready(tmp.path(), &args, "1").await;
    let mut client = CheckpointServiceClient::new(ch.clone());

    // Reflection lists the service.
    let names = reflection_services(ch.clone()).await;
    assert!(
        names.contains(&"hypasis.v1.CheckpointService".to_string()),
        "{names:?}"
    );

    eventually("checkpoint 3", &svc.proc, || {
        let mut c = client.clone();
        async move { latest_id(&mut c).await == Some(3) }
    })
    .await;
    let latest = client
        .latest(v1::LatestCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        latest.range,
        Some(v1::BlockRange {
            start: 200,
            end: 299
        })
    );
    assert_eq!(latest.root_hash, root(3).to_vec());
    assert_eq!(latest.source, v1::CheckpointSource::Heimdall as i32);
    assert_eq!(
        latest.verified_by,
        vec![
            v1::CheckpointSource::Heimdall as i32,
            v1::CheckpointSource::Static as i32
        ],
        "Heimdall and the static file agreed on checkpoint 3"
    );
    let list = client
        .list(v1::ListCheckpointsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .checkpoints;
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(
        list[0].verified_by,
        vec![v1::CheckpointSource::Heimdall as i32]
    );
    let got = client
        .get(v1::GetCheckpointRequest { id: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.range,
        Some(v1::BlockRange {
            start: 100,
            end: 199
        })
    );
    let err = client
        .get(v1::GetCheckpointRequest { id: 99 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService.sources").await,
        Some(SERVING)
    );

    // Watch: the latest first, then every new one.
    let mut watch = client
        .watch(v1::WatchCheckpointsRequest {
            include_latest: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().id, 3);
    serve_chain(&http, 5);
    for want in [4, 5] {
        let cp = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("watch delivers")
            .unwrap()
            .unwrap();
        assert_eq!(cp.id, want);
    }

    // Outage: Heimdall answers 503. The service keeps serving and reports degraded.
    http.set("/checkpoints/latest", Reply::status(503, b"down".to_vec()));
    let m = svc.metrics;
    eventually("degraded", &svc.proc, || async move {
        metric(&metrics(m).await, "hypasis_checkpoint_degraded") == Some(1.0)
    })
    .await;
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService.sources").await,
        Some(NOT_SERVING)
    );
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService").await,
        Some(SERVING)
    );
    assert_eq!(latest_id(&mut client).await, Some(5));
    let text = metrics(m).await;
    assert!(
        has_series(
            &text,
            "hypasis_checkpoint_source_errors_total",
            "kind=\"transient\""
        ) && text.contains("source=\"heimdall\""),
        "{text}"
    );

    // Disagreement: Heimdall now says checkpoint 3 has another root while the static file
    // says otherwise; and checkpoint 6 continues. 6 is accepted (static has no opinion), but a
    // changed stored checkpoint is never accepted.
    serve_chain(&http, 6);
    eventually("checkpoint 6 after the outage", &svc.proc, || {
        let mut c = client.clone();
        async move { latest_id(&mut c).await == Some(6) }
    })
    .await;
    eventually("recovered", &svc.proc, || async move {
        metric(&metrics(m).await, "hypasis_checkpoint_degraded") == Some(0.0)
    })
    .await;
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService.sources").await,
        Some(SERVING)
    );
    assert_eq!(watch.next().await.unwrap().unwrap().id, 6);

    // Heimdall changes its story about the latest (stored) checkpoint 6: refused loudly.
    let changed = heimdall_v2(6, 500, 599, [0xee; 32], PROPOSER);
    http.set("/checkpoints/6", Reply::json(&changed));
    http.set("/checkpoints/latest", Reply::json(&changed));
    eventually("changed checkpoint refused", &svc.proc, || async move {
        has_series(
            &metrics(m).await,
            "hypasis_checkpoint_refused_total",
            "reason=\"changed\"",
        )
    })
    .await;
    let six = client
        .get(v1::GetCheckpointRequest { id: 6 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        six.root_hash,
        root(6).to_vec(),
        "a stored checkpoint never changes"
    );
    assert!(svc.proc.log_text().contains("CHECKPOINT REFUSED"));

    // Graceful restart with every source down: the stored checkpoints are served at once.
    svc.proc.signal("TERM");
    assert!(
        svc.proc.wait_timeout(Duration::from_secs(10)).is_some(),
        "did not stop on SIGTERM"
    );
    http.clear();
    let (svc2, ch2) = start_ready(tmp.path(), &args, "2").await;
    let mut client2 = CheckpointServiceClient::new(ch2.clone());
    assert_eq!(latest_id(&mut client2).await, Some(6));
    let m2 = svc2.metrics;
    eventually("degraded after restart", &svc2.proc, || async move {
        metric(&metrics(m2).await, "hypasis_checkpoint_degraded") == Some(1.0)
    })
    .await;
    assert_eq!(latest_id(&mut client2).await, Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_persists_through_the_store_service_and_refuses_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    generate_certs(&tmp.path().join("certs"));
    let certs = tmp.path().join("certs");
    // The store service.
    let store_grpc = free_addr();
    let mut cmd = Command::new(bin("hypasis-store"));
    cmd.arg("--data-dir")
        .arg(tmp.path().join("store"))
        .args([
            "--listen",
            &store_grpc.to_string(),
            "--metrics-listen",
            &free_addr().to_string(),
            "--tls-dir",
        ])
        .arg(&certs);
    let mut store = ChildGuard::spawn(cmd, &tmp.path().join("store.log"));
    let store_ch = wait_serving(&mut store, store_grpc, &certs, "hypasis.v1.Store").await;

    let http = MockHttp::start().await;
    serve_chain(&http, 2);
    let url = http.url();
    let store_url = format!("https://localhost:{}", store_grpc.port());
    let args = [
        "--heimdall",
        url.as_str(),
        "--store",
        store_url.as_str(),
        "--start-id",
        "1",
    ];
    let mut svc = start_checkpoint(tmp.path(), &args, "remote");
    let ch = wait_serving(
        &mut svc.proc,
        svc.grpc,
        &certs,
        "hypasis.v1.CheckpointService",
    )
    .await;
    let mut client = CheckpointServiceClient::new(ch);
    eventually("checkpoint 2", &svc.proc, || {
        let mut c = client.clone();
        async move { latest_id(&mut c).await == Some(2) }
    })
    .await;
    // They are in the store service.
    let mut sc = v1::store_client::StoreClient::new(store_ch);
    let stored = sc
        .list_checkpoints(v1::ListCheckpointsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .checkpoints;
    assert_eq!(stored.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2]);

    // Heimdall skips blocks between 2 and 3: not contiguous, refused.
    let gap = heimdall_v2(3, 250, 299, root(3), PROPOSER);
    http.set("/checkpoints/3", Reply::json(&gap));
    http.set("/checkpoints/latest", Reply::json(&gap));
    let m = svc.metrics;
    eventually("non-contiguous refused", &svc.proc, || async move {
        has_series(
            &metrics(m).await,
            "hypasis_checkpoint_refused_total",
            "reason=\"not_contiguous\"",
        )
    })
    .await;
    assert_eq!(latest_id(&mut client).await, Some(2));
    // Heimdall goes back in time: nothing changes either.
    serve_chain(&http, 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(latest_id(&mut client).await, Some(2));
}

fn cli(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(bin("hypasis"))
        .args(["checkpoint", "show"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_show_prints_one_json_object_and_fails_on_disagreement() {
    let http = MockHttp::start().await;
    serve_chain(&http, 4);
    let url = http.url();
    let good = format!("4:300:399:0x{}", hex::encode(root(4)));
    let (ok, json, err) = cli(&["--heimdall", &url, "--trusted", &good]);
    assert!(ok, "{err}");
    assert_eq!(json["id"], 4);
    assert_eq!(json["start"], 300);
    assert_eq!(json["end"], 399);
    assert_eq!(json["root"], format!("0x{}", hex::encode(root(4))));
    assert_eq!(
        json["proposer"],
        "0x7fCD58C2D53D980b247F1612FdbA93E9a76193E6"
    );
    assert_eq!(json["sources"], serde_json::json!(["heimdall", "static"]));
    assert_eq!(json["agreed"], true);

    let (ok, json, _) = cli(&["--heimdall", &url, "--id", "2"]);
    assert!(ok);
    assert_eq!(
        (json["id"].as_u64(), json["start"].as_u64()),
        (Some(2), Some(100))
    );

    // Disagreement: non-zero exit, agreed=false and a clear message.
    let bad = format!("4:300:399:0x{}", hex::encode([9u8; 32]));
    let (ok, json, err) = cli(&["--heimdall", &url, "--trusted", &bad]);
    assert!(!ok);
    assert_eq!(json["agreed"], false);
    assert_eq!(json["failure"], "disagreement");
    assert!(
        err.contains("disagree on checkpoint 4") && err.contains("root"),
        "{err}"
    );

    // Failure: the source is down.
    http.set("/checkpoints/latest", Reply::status(503, b"down".to_vec()));
    let (ok, json, err) = cli(&["--heimdall", &url]);
    assert!(!ok);
    assert_eq!(json["agreed"], false);
    assert!(err.contains("503"), "{err}");

    // No source at all.
    let (ok, _, err) = cli(&[]);
    assert!(!ok);
    assert!(err.contains("no checkpoint source given"), "{err}");
}

/// A Heimdall v2 `/milestones/latest` body ending at `end` with hash `hash`.
fn milestone_body(id: u64, end: u64, hash: [u8; 32]) -> serde_json::Value {
    use base64::Engine as _;
    serde_json::json!({"milestone": {
        "proposer": PROPOSER,
        "start_block": (end - 9).to_string(), "end_block": end.to_string(),
        "hash": base64::engine::general_purpose::STANDARD.encode(hash),
        "bor_chain_id": "137", "milestone_id": format!("m-{id}"), "timestamp": "1776696405"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trusted_head_follows_heimdall_milestones_over_grpc() {
    use hypasis_checkpoint_api::{AnchorStream, TrustOrigin};
    let tmp = tempfile::tempdir().unwrap();
    generate_certs(&tmp.path().join("certs"));
    let http = MockHttp::start().await;
    serve_chain(&http, 3);
    let url = http.url();
    let data = tmp.path().join("data");
    let args = [
        "--heimdall",
        url.as_str(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let (svc, ch) = start_ready(tmp.path(), &args, "head").await;
    let mut client = CheckpointServiceClient::new(ch.clone());
    let anchors = hypasis_checkpoint::GrpcAnchors::new(ch.clone());

    // No milestone served yet (404): no trusted head, and the sources are not degraded by it.
    eventually("checkpoint 3", &svc.proc, || {
        let mut c = client.clone();
        async move { latest_id(&mut c).await == Some(3) }
    })
    .await;
    let err = client
        .trusted_head(v1::TrustedHeadRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(anchors.trusted_head().await.unwrap(), None);
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService.sources").await,
        Some(SERVING)
    );

    // The milestone appears: the head, over TrustedHead, the watch stream and the client.
    let mut watch = client
        .watch_trusted_head(v1::WatchTrustedHeadRequest {})
        .await
        .unwrap()
        .into_inner();
    http.set(
        "/milestones/latest",
        Reply::json(&milestone_body(1, 350, [0x35; 32])),
    );
    let first = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("the watch delivers the head")
        .unwrap()
        .unwrap();
    assert_eq!((first.number, first.hash.clone()), (350, vec![0x35; 32]));
    assert_eq!(first.origin, v1::TrustOrigin::Milestone as i32);
    assert_eq!(first.label, "m-1");
    let head = anchors.trusted_head().await.unwrap().expect("a head");
    assert_eq!((head.number, head.origin), (350, TrustOrigin::Milestone));

    // Heimdall answering with an older milestone (a node behind a balancer): the head stays.
    http.set(
        "/milestones/latest",
        Reply::json(&milestone_body(0, 340, [0x34; 32])),
    );
    // A newer one moves it; a client waiting above 350 gets it, and so does the watch.
    let waiting = tokio::spawn({
        let anchors = anchors.clone();
        async move { anchors.wait_above(Some(350)).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(anchors.trusted_head().await.unwrap().unwrap().number, 350);
    http.set(
        "/milestones/latest",
        Reply::json(&milestone_body(2, 360, [0x36; 32])),
    );
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("wait_above returns")
        .unwrap()
        .unwrap();
    assert_eq!(got.number, 360);
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("the watch delivers the advance")
        .unwrap()
        .unwrap();
    assert_eq!(next.number, 360);

    // Another hash for the head's block: refused loudly, the head stays, the sources degraded.
    http.set(
        "/milestones/latest",
        Reply::json(&milestone_body(2, 360, [0xee; 32])),
    );
    let m = svc.metrics;
    eventually("changed head refused", &svc.proc, || async move {
        has_series(
            &metrics(m).await,
            "hypasis_checkpoint_refused_total",
            "reason=\"head_conflict\"",
        )
    })
    .await;
    let head = client
        .trusted_head(v1::TrustedHeadRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((head.number, head.hash), (360, vec![0x36; 32]));
    assert_eq!(
        metric(&metrics(m).await, "hypasis_checkpoint_trusted_head"),
        Some(360.0)
    );
    assert_eq!(
        health_status(&ch, "hypasis.v1.CheckpointService.sources").await,
        Some(NOT_SERVING)
    );
    assert!(svc.proc.log_text().contains("TRUSTED HEAD REFUSED"));
}

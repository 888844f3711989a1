//! The Heimdall REST source against a local HTTP server replaying real heimdall-v2 response
//! bodies (Amoy, tests/fixtures/checkpoint/heimdall-v2-amoy) and the v1 format, plus malformed,
//! truncated, wrong-type, disagreeing and failing responses, each refused with a clear error.

use crate::checkpoint_support as support;

use alloy_primitives::{address, b256};
use hypasis_checkpoint::retry::RetryPolicy;
use hypasis_checkpoint::{
    CheckpointSource, CrossCheckError, CrossChecker, ErrorKind, HeimdallSource, StaticSource,
};
use hypasis_primitives::CheckpointSource as Kind;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{MockHttp, Reply, fixture_bytes};

fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
    }
}

/// Serves the fixture bodies: `/checkpoints/latest` and `/checkpoints/38871` are the real
/// `checkpoints_by_id.json`; 38870 and 38869 are the real list entries in the same envelope.
async fn amoy() -> MockHttp {
    let http = MockHttp::start().await;
    let by_id = fixture_bytes("heimdall-v2-amoy/checkpoints_by_id.json");
    http.set("/checkpoints/latest", Reply::ok(by_id.clone()));
    http.set("/checkpoints/38871", Reply::ok(by_id));
    let list: Value =
        serde_json::from_slice(&fixture_bytes("heimdall-v2-amoy/checkpoints_list.json")).unwrap();
    for entry in list["checkpoint_list"].as_array().unwrap() {
        let id = entry["id"].as_str().unwrap();
        if id != "38871" {
            http.set(
                &format!("/checkpoints/{id}"),
                Reply::json(&json!({ "checkpoint": entry })),
            );
        }
    }
    http.set(
        "/checkpoints/count",
        Reply::json(&json!({"ack_count": "38871"})),
    );
    http
}

fn source(http: &MockHttp) -> HeimdallSource {
    HeimdallSource::new(&http.url(), Duration::from_secs(2))
        .unwrap()
        .with_retry(quick())
}

#[tokio::test]
async fn decodes_real_heimdall_v2_responses() {
    let http = amoy().await;
    let src = source(&http).with_bor_chain_id("80002");
    let cp = src.latest().await.unwrap();
    assert_eq!(cp.id, 38871);
    assert_eq!(cp.source, Kind::Heimdall);
    assert_eq!((cp.range.start, cp.range.end), (36_979_059, 36_979_826));
    assert_eq!(
        cp.root,
        b256!("3517efbd5f580238dabfe711ef4a26e960e86fe2086633d5c8860c01caf3c72e")
    );
    assert_eq!(
        cp.proposer,
        Some(address!("09207a6efee346cb3e4a54ac18523e3715d38b3f"))
    );
    assert_eq!(cp.created_at, Some(1_776_696_405));
    let range = src.range(38869, 38871).await.unwrap();
    assert_eq!(
        range.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![38869, 38870, 38871]
    );
    // The real entries are contiguous.
    assert_eq!(range[1].range.start, range[0].range.end + 1);
    assert_eq!(range[2].range.start, range[1].range.end + 1);
    assert_eq!(src.count().await.unwrap(), 38871);
    assert_eq!(
        src.by_id(38868).await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    // The wrong chain is refused.
    let err = source(&http)
        .with_bor_chain_id("137")
        .latest()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert!(err.message.contains("bor_chain_id 80002"), "{err}");
}

#[tokio::test]
async fn decodes_heimdall_v1_responses() {
    let http = MockHttp::start().await;
    // heimdall-v1: envelope {height, result}, JSON numbers, 0x-hex root, no id on /latest.
    let v1 = json!({"height": "9999", "result": {
        "proposer": "0x09207a6efee346cb3e4a54ac18523e3715d38b3f",
        "start_block": 36979059,
        "end_block": 36979826,
        "root_hash": "0x3517efbd5f580238dabfe711ef4a26e960e86fe2086633d5c8860c01caf3c72e",
        "bor_chain_id": "80002",
        "timestamp": 1776696405
    }});
    http.set("/checkpoints/latest", Reply::json(&v1));
    http.set("/checkpoints/38871", Reply::json(&v1));
    http.set(
        "/checkpoints/count",
        Reply::json(&json!({"height": "9999", "result": {"result": 38871}})),
    );
    http.set(
        "/milestone/latest",
        Reply::json(&json!({"height": "9999", "result": {
            "proposer": "0x09207a6efee346cb3e4a54ac18523e3715d38b3f",
            "start_block": 36979827, "end_block": 36979840,
            "hash": "0x3517efbd5f580238dabfe711ef4a26e960e86fe2086633d5c8860c01caf3c72e",
            "bor_chain_id": "80002", "milestone_id": "m-1", "timestamp": 1776696500}})),
    );
    let src = source(&http);
    let latest = src.latest().await.unwrap();
    assert_eq!(latest.id, 38871, "id from /checkpoints/count");
    let by_id = src.by_id(38871).await.unwrap();
    assert_eq!(latest, by_id);
    // Same checkpoint as the v2 fixture.
    let v2 = source(&amoy().await).by_id(38871).await.unwrap();
    assert_eq!(by_id, v2);
    let m = src.latest_milestone().await.unwrap();
    assert_eq!((m.start_block, m.end_block), (36979827, 36979840));
    assert_eq!(m.milestone_id.as_deref(), Some("m-1"));

    // heimdall-v2 milestones (base64 hash); the plural path is tried after a 404.
    let http2 = MockHttp::start().await;
    http2.set(
        "/milestones/latest",
        Reply::json(&json!({"milestone": {
            "proposer": "0x09207a6efee346cb3e4a54ac18523e3715d38b3f",
            "start_block": "36979827", "end_block": "36979840",
            "hash": "NRfvvV9YAjjav+cR70om6WDob+IIZjPVyIYMAcrzxy4=",
            "bor_chain_id": "80002", "milestone_id": "m-2", "timestamp": "1776696500",
            "total_difficulty": "12"}})),
    );
    assert_eq!(
        source(&http2).latest_milestone().await.unwrap().hash,
        m.hash
    );
}

#[tokio::test]
async fn refuses_malformed_truncated_wrong_type_and_disagreeing_payloads() {
    let http = amoy().await;
    let src = source(&http);
    let full = fixture_bytes("heimdall-v2-amoy/checkpoints_by_id.json");
    let v2: Value = serde_json::from_slice(&full).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = v2.clone();
        f(&mut v);
        Reply::json(&v)
    };
    let cases: Vec<(&str, Reply, &str)> = vec![
        (
            "truncated",
            Reply::ok(full[..full.len() / 2].to_vec()),
            "malformed JSON",
        ),
        (
            "html",
            Reply::ok(b"<html>502 Bad Gateway</html>".to_vec()),
            "malformed JSON",
        ),
        ("empty", Reply::ok(Vec::new()), "malformed JSON"),
        (
            "array",
            Reply::ok(b"[1,2,3]".to_vec()),
            "expected a JSON object",
        ),
        (
            "start_block as array",
            with(&|v| v["checkpoint"]["start_block"] = json!([1])),
            "start_block",
        ),
        (
            "end_block negative",
            with(&|v| v["checkpoint"]["end_block"] = json!("-5")),
            "not a decimal",
        ),
        (
            "end before start",
            with(&|v| v["checkpoint"]["end_block"] = json!("1")),
            "after end_block",
        ),
        (
            "short root",
            with(&|v| v["checkpoint"]["root_hash"] = json!("NRfvvV9YAjjav+cR70om6WDob+II")),
            "expected 32 bytes",
        ),
        (
            "root not base64",
            with(&|v| v["checkpoint"]["root_hash"] = json!("not*base64")),
            "neither 0x-hex nor base64",
        ),
        (
            "root missing",
            with(&|v| {
                v["checkpoint"].as_object_mut().unwrap().remove("root_hash");
            }),
            "missing field `root_hash`",
        ),
        (
            "proposer not an address",
            with(&|v| v["checkpoint"]["proposer"] = json!(12)),
            "proposer",
        ),
        (
            "checkpoint is a string",
            Reply::json(&json!({"checkpoint": "38871"})),
            "expected an object",
        ),
        (
            "wrong envelope",
            Reply::json(&json!({"data": {}})),
            "neither a heimdall-v2",
        ),
        (
            "HTTP 400",
            Reply::status(400, b"{\"code\":3}".to_vec()),
            "HTTP 400",
        ),
    ];
    for (what, reply, want) in cases {
        http.set("/checkpoints/38871", reply);
        let err = src.by_id(38871).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid, "{what}: {err}");
        assert!(
            err.to_string().contains(want),
            "{what}: `{err}` should mention `{want}`"
        );
        assert!(
            err.to_string().contains("/checkpoints/38871"),
            "{what}: {err}"
        );
    }

    // Disagreeing with the request: asked for 38870, got 38871.
    http.set("/checkpoints/38870", Reply::ok(full.clone()));
    let err = src.by_id(38870).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message
            .contains("asked for checkpoint 38870 but the response is checkpoint 38871"),
        "{err}"
    );
}

#[tokio::test]
async fn outages_are_transient_and_retried() {
    let http = amoy().await;
    let src = source(&http);
    http.set(
        "/checkpoints/latest",
        Reply::status(503, b"unavailable".to_vec()),
    );
    let err = src.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("503"), "{err}");
    assert_eq!(http.hits("/checkpoints/latest"), 3, "retried with backoff");

    http.set(
        "/checkpoints/latest",
        Reply::status(429, b"slow down".to_vec()),
    );
    assert!(src.latest().await.unwrap_err().is_transient());

    let mut hang = Reply::ok(Vec::new());
    hang.hang_up = true;
    http.set("/checkpoints/latest", hang);
    assert!(src.latest().await.unwrap_err().is_transient());

    let mut slow = Reply::ok(fixture_bytes("heimdall-v2-amoy/checkpoints_by_id.json"));
    slow.delay = Duration::from_secs(3);
    http.set("/checkpoints/latest", slow);
    let quick_timeout = HeimdallSource::new(&http.url(), Duration::from_millis(300))
        .unwrap()
        .with_retry(RetryPolicy::none());
    let err = quick_timeout.latest().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.message.contains("timed out"), "{err}");

    // Connection refused.
    let dead = HeimdallSource::new("http://127.0.0.1:1", Duration::from_secs(1))
        .unwrap()
        .with_retry(RetryPolicy::none());
    let err = dead.latest().await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    // A bad URL is configuration.
    let err = HeimdallSource::new("ftp://x", Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
}

#[tokio::test]
async fn disagreeing_sources_are_refused() {
    let http = amoy().await;
    let heimdall: Arc<dyn CheckpointSource> = Arc::new(source(&http));
    // A static anchor for 38871 with a different root: refused, never resolved.
    let bad = StaticSource::parse_flag(
        "38871:36979059:36979826:0x1111111111111111111111111111111111111111111111111111111111111111",
    )
    .unwrap();
    let good = StaticSource::parse_flag(
        "38871:36979059:36979826:0x3517efbd5f580238dabfe711ef4a26e960e86fe2086633d5c8860c01caf3c72e",
    )
    .unwrap();
    let bad: Arc<dyn CheckpointSource> =
        Arc::new(StaticSource::new(vec![bad], "static bad").unwrap());
    let checker = CrossChecker::new(vec![heimdall.clone(), bad], 1);
    let err = checker.latest().await.unwrap_err();
    assert!(
        matches!(
            err,
            CrossCheckError::Disagreement {
                id: Some(38871),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("root"), "{err}");

    let good: Arc<dyn CheckpointSource> =
        Arc::new(StaticSource::new(vec![good], "static good").unwrap());
    let a = CrossChecker::new(vec![heimdall.clone(), good.clone()], 1)
        .latest()
        .await
        .unwrap();
    assert_eq!(a.checkpoint.id, 38871);
    // The static anchor is checked against and recorded, but it does not count towards the
    // quorum when a live source is configured.
    assert_eq!(a.checkpoint.verified_by, vec![Kind::Heimdall, Kind::Static]);
    let err = CrossChecker::new(vec![heimdall, good], 2)
        .latest()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CrossCheckError::NoQuorum {
                agreeing: 1,
                quorum: 2,
                ..
            }
        ),
        "{err}"
    );
}

//! The beacon source with light-client verification, on real mainnet light-client data
//! (tests/fixtures/checkpoint/beacon-light-client, Fulu, sync-committee period 1711) served by a
//! local HTTP server in the beacon-API format, plus tampered and malformed variants that must be
//! refused.

use crate::checkpoint_support as support;

use alloy_primitives::b256;
use hypasis_checkpoint::retry::RetryPolicy;
use hypasis_checkpoint::{BeaconNetwork, BeaconSource, CheckpointSource, ErrorKind, LightClient};
use hypasis_primitives::CheckpointSource as Kind;
use serde_json::Value;
use std::time::Duration;
use support::{MockHttp, Reply, fixture_bytes};

const TRUSTED_ROOT: alloy_primitives::B256 =
    b256!("9bcb90ec3a294591b77dd2a58e973578715cdc0e6eeeb286bc06dd120057f18b");
const FINALIZED_BLOCK: u64 = 24_784_163;
const FINALIZED_HASH: alloy_primitives::B256 =
    b256!("b5d55a8a5dcb2261af14ae514e21d67573a57b11ead11b8e77c6be92933c98d0");

fn load(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(&format!("beacon-light-client/{name}"))).unwrap()
}

fn client() -> LightClient {
    LightClient::bootstrap(
        BeaconNetwork::mainnet(),
        TRUSTED_ROOT,
        &load("lc_bootstrap.json"),
    )
    .expect("bootstrap verifies")
}

#[test]
fn verifies_the_real_light_client_chain() {
    let mut lc = client();
    assert_eq!(lc.period(), 1711);
    let boot = lc.finalized();
    assert_eq!(boot.slot, 14_017_856);
    assert_eq!(boot.execution.block_number, 24_784_068);
    assert_eq!(
        boot.execution.block_hash,
        b256!("701130a5329507e6521e6b18f2e1ff841afbde4ebbc4d3b624d7f3f1e2733375")
    );

    // updates[0]: next committee proven at gindex 87, all 512 members signed.
    let updates = load("lc_updates.json");
    assert!(!lc.knows_next_committee());
    lc.apply_update(&updates[0]).expect("update verifies");
    assert!(lc.knows_next_committee());
    // Its finalized header (slot 14016576) is older than the bootstrap: the store keeps the newer.
    assert_eq!(lc.finalized().slot, 14_017_856);

    // The optimistic update's attested header is signed too.
    let (attested, n) = lc
        .verify_optimistic_update(&load("lc_optimistic.json"))
        .expect("optimistic update verifies");
    assert_eq!(attested.block_number, 24_784_229);
    assert_eq!(n, 511);

    let anchor = lc
        .apply_finality_update(&load("lc_finality.json"))
        .expect("finality update verifies");
    assert_eq!(anchor.slot, 14_017_952);
    assert_eq!(
        anchor.beacon_root,
        b256!("b8feb522e1c49a6354e88811b471ce3f6c0e90cc80c36495e3d209735bbbd143")
    );
    assert_eq!(anchor.execution.block_number, FINALIZED_BLOCK);
    assert_eq!(anchor.execution.block_hash, FINALIZED_HASH);
    assert_eq!(anchor.participants, 511);
}

fn tamper(v: &Value, pointer: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut v = v.clone();
    f(v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")));
    v
}

fn flip_hex(v: &mut Value) {
    let s = v.as_str().unwrap().to_string();
    let last = s.chars().last().unwrap();
    let repl = if last == '0' { '1' } else { '0' };
    *v = Value::String(format!("{}{}", &s[..s.len() - 1], repl));
}

#[test]
fn refuses_tampered_light_client_data() {
    let boot = load("lc_bootstrap.json");
    // Another trusted root.
    let err = LightClient::bootstrap(
        BeaconNetwork::mainnet(),
        b256!("0000000000000000000000000000000000000000000000000000000000000001"),
        &boot,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("is not the trusted block root"),
        "{err}"
    );
    // A committee member swapped (keys 0 and 1): the committee branch fails.
    let swapped = tamper(&boot, "/data/current_sync_committee/pubkeys", |v| {
        v.as_array_mut().unwrap().swap(0, 1)
    });
    let err = LightClient::bootstrap(BeaconNetwork::mainnet(), TRUSTED_ROOT, &swapped).unwrap_err();
    assert!(
        err.to_string().contains("current_sync_committee_branch"),
        "{err}"
    );
    // The execution block hash changed: the execution branch fails.
    let exec = tamper(&boot, "/data/header/execution/block_hash", flip_hex);
    let err = LightClient::bootstrap(BeaconNetwork::mainnet(), TRUSTED_ROOT, &exec).unwrap_err();
    assert!(
        err.to_string().contains("execution payload branch"),
        "{err}"
    );
    // Not 512 keys.
    let short = tamper(&boot, "/data/current_sync_committee/pubkeys", |v| {
        v.as_array_mut().unwrap().pop();
    });
    let err = LightClient::bootstrap(BeaconNetwork::mainnet(), TRUSTED_ROOT, &short).unwrap_err();
    assert!(err.to_string().contains("511 keys"), "{err}");

    let fin = load("lc_finality.json");
    let cases: Vec<(Value, &str)> = vec![
        (
            tamper(&fin, "/data/sync_aggregate/sync_committee_signature", |v| {
                // Another valid signature (the optimistic update's is over the same header but
                // keep it simple: reuse the update's signature, a valid point over another message).
                *v = load("lc_updates.json")[0]["data"]["sync_aggregate"]["sync_committee_signature"].clone();
            }),
            "BLS signature does not verify",
        ),
        (
            tamper(&fin, "/data/attested_header/beacon/proposer_index", |v| {
                *v = Value::String("1".into())
            }),
            "",
        ),
        (
            tamper(&fin, "/data/finalized_header/beacon/slot", |v| {
                *v = Value::String("14017953".into())
            }),
            "finality_branch",
        ),
        (
            tamper(&fin, "/data/finality_branch/3", flip_hex),
            "finality_branch",
        ),
        (
            tamper(&fin, "/data/finalized_header/execution/block_number", |v| {
                *v = Value::String("24784164".into())
            }),
            "execution payload branch",
        ),
        (
            tamper(&fin, "/data/sync_aggregate/sync_committee_bits", |v| {
                // 256 of 512 bits set: below the 2/3 supermajority.
                *v = Value::String(format!("0x{}{}", "ff".repeat(32), "00".repeat(32)));
            }),
            "supermajority",
        ),
        (
            tamper(&fin, "/data/signature_slot", |v| {
                *v = Value::String("14018019".into())
            }),
            "not after the attested slot",
        ),
        (
            tamper(&fin, "/data/signature_slot", |v| {
                *v = Value::String("15000000".into())
            }),
            "period",
        ),
        (
            tamper(&fin, "/data/signature_slot", |v| *v = Value::Bool(true)),
            "signature_slot",
        ),
        (
            tamper(&fin, "/data/finality_branch", |v| {
                v.as_array_mut().unwrap().pop();
            }),
            "finality_branch",
        ),
    ];
    for (i, (bad, want)) in cases.into_iter().enumerate() {
        let mut lc = client();
        let err = lc.apply_finality_update(&bad).unwrap_err();
        assert!(
            err.to_string().contains(want),
            "case {i}: `{err}` should mention `{want}`"
        );
        // Nothing was accepted.
        assert_eq!(lc.finalized().slot, 14_017_856, "case {i}");
    }
    // Signed in the next period without knowing its committee.
    let mut lc = client();
    let next_period = tamper(&fin, "/data/signature_slot", |v| {
        *v = Value::String((1712u64 * 8192 + 1).to_string())
    });
    let err = lc.apply_finality_update(&next_period).unwrap_err();
    assert!(
        err.to_string()
            .contains("only the committee of period 1711"),
        "{err}"
    );
}

async fn beacon_api() -> MockHttp {
    let http = MockHttp::start().await;
    http.set(
        &format!("/eth/v1/beacon/light_client/bootstrap/{TRUSTED_ROOT}"),
        Reply::ok(fixture_bytes("beacon-light-client/lc_bootstrap.json")),
    );
    http.set(
        "/eth/v1/beacon/light_client/finality_update",
        Reply::ok(fixture_bytes("beacon-light-client/lc_finality.json")),
    );
    http.set(
        "/eth/v1/beacon/light_client/updates?start_period=1711&count=1",
        Reply::ok(fixture_bytes("beacon-light-client/lc_updates.json")),
    );
    http
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        initial: Duration::from_millis(5),
        max: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn beacon_source_serves_the_verified_finalized_block() {
    let http = beacon_api().await;
    let src = BeaconSource::new(
        &http.url(),
        TRUSTED_ROOT,
        BeaconNetwork::mainnet(),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_retry(quick());
    let cp = src.latest().await.unwrap();
    assert_eq!(cp.source, Kind::Beacon);
    assert_eq!(cp.id, FINALIZED_BLOCK);
    assert_eq!(
        (cp.range.start, cp.range.end),
        (FINALIZED_BLOCK, FINALIZED_BLOCK)
    );
    assert_eq!(cp.end_block_hash, Some(FINALIZED_HASH));
    assert!(cp.root.is_zero());
    assert_eq!(src.by_id(FINALIZED_BLOCK).await.unwrap(), cp);
    assert_eq!(src.by_id(1).await.unwrap_err().kind, ErrorKind::NotFound);
    // Bootstrapped once.
    assert_eq!(
        http.hits(&format!(
            "/eth/v1/beacon/light_client/bootstrap/{TRUSTED_ROOT}"
        )),
        1
    );

    // A beacon node serving a forged finality update is refused, the verified state stays.
    let forged = tamper(
        &load("lc_finality.json"),
        "/data/finalized_header/execution/block_hash",
        flip_hex,
    );
    http.set(
        "/eth/v1/beacon/light_client/finality_update",
        Reply::json(&forged),
    );
    let err = src.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert!(err.message.contains("execution payload branch"), "{err}");

    // Truncated JSON and outages.
    let full = fixture_bytes("beacon-light-client/lc_finality.json");
    http.set(
        "/eth/v1/beacon/light_client/finality_update",
        Reply::ok(full[..full.len() - 10].to_vec()),
    );
    let err = src.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("malformed JSON"), "{err}");
    http.set(
        "/eth/v1/beacon/light_client/finality_update",
        Reply::status(503, b"syncing".to_vec()),
    );
    assert!(src.latest().await.unwrap_err().is_transient());
}

#[tokio::test]
async fn beacon_source_refuses_a_bootstrap_that_is_not_the_trusted_root() {
    let http = MockHttp::start().await;
    let other = b256!("1111111111111111111111111111111111111111111111111111111111111111");
    http.set(
        &format!("/eth/v1/beacon/light_client/bootstrap/{other}"),
        Reply::ok(fixture_bytes("beacon-light-client/lc_bootstrap.json")),
    );
    let src = BeaconSource::new(
        &http.url(),
        other,
        BeaconNetwork::mainnet(),
        Duration::from_secs(5),
    )
    .unwrap()
    .with_retry(quick());
    let err = src.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("is not the trusted block root"),
        "{err}"
    );
}

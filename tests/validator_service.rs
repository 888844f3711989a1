//! The validator service as a real process: mTLS, health, reflection, metrics, and
//! `ValidateRange` on real Polygon and Ethereum blocks (valid ranges with their level, a
//! corrupted range with its verdict, protocol errors as statuses), then SIGTERM.

use hypasis_integration_tests::{
    ChildGuard, free_addr, generate_certs, http_get, reflection_services, repo_root,
    service_command, wait_serving,
};
use hypasis_proto::v1::{self, validator_client::ValidatorClient};
use hypasis_validation::{SealedHeader, split_concatenated};
use std::time::Duration;
use tonic::transport::Channel;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/validation").join(name)).unwrap()
}

fn polygon_blocks() -> Vec<v1::Block> {
    let bytes = fixture("polygon/checkpoint-9693/headers_9825948_9827227.rlp");
    split_concatenated(&bytes)
        .unwrap()
        .into_iter()
        .map(|h| {
            let s = SealedHeader::decode(h).unwrap();
            v1::Block {
                number: s.number(),
                hash: s.hash.to_vec(),
                header: h.to_vec(),
                body: Vec::new(),
                receipts: Vec::new(),
            }
        })
        .collect()
}

fn start(name: &str, start: u64, end: u64) -> v1::ValidateRangeStart {
    v1::ValidateRangeStart {
        chain: Some(v1::ChainId {
            chain_id: 0,
            name: name.into(),
            genesis_hash: Vec::new(),
        }),
        range: Some(v1::BlockRange { start, end }),
        ..Default::default()
    }
}

fn requests(
    start: v1::ValidateRangeStart,
    blocks: Vec<v1::Block>,
) -> Vec<v1::ValidateRangeRequest> {
    use v1::validate_range_request::Item;
    std::iter::once(v1::ValidateRangeRequest {
        item: Some(Item::Start(start)),
    })
    .chain(blocks.into_iter().map(|b| v1::ValidateRangeRequest {
        item: Some(Item::Block(b)),
    }))
    .collect()
}

async fn validate(
    client: &mut ValidatorClient<Channel>,
    reqs: Vec<v1::ValidateRangeRequest>,
) -> Result<Vec<v1::ValidateRangeResponse>, tonic::Status> {
    let mut stream = client
        .validate_range(tokio_stream::iter(reqs))
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.push(m);
    }
    Ok(out)
}

fn done(r: &v1::ValidateRangeResponse) -> &v1::RangeVerdict {
    match &r.item {
        Some(v1::validate_range_response::Item::Done(d)) => d,
        other => panic!("expected a range verdict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_range_over_mtls() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    generate_certs(&certs);
    let (grpc, metrics) = (free_addr(), free_addr());
    let cmd = service_command("hypasis-validator", grpc, metrics, &certs);
    let mut proc = ChildGuard::spawn(cmd, &tmp.path().join("validator.log"));
    let ch = wait_serving(&mut proc, grpc, &certs, "hypasis.v1.Validator").await;

    // Reflection lists the service.
    let names = reflection_services(ch.clone()).await;
    assert!(
        names.contains(&"hypasis.v1.Validator".to_string()),
        "{names:?}"
    );

    let mut client = ValidatorClient::new(ch)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);

    // Polygon checkpoint 9693: valid, at the checkpoint-root level.
    let blocks = polygon_blocks();
    let mut s = start("polygon", 9_825_948, 9_827_227);
    s.checkpoint = Some(v1::Checkpoint {
        id: 9693,
        range: Some(v1::BlockRange {
            start: 9_825_948,
            end: 9_827_227,
        }),
        root_hash: hex_bytes("e459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174"),
        end_block_hash: Some(hex_bytes(
            "3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5",
        )),
        ..Default::default()
    });
    let out = validate(&mut client, requests(s.clone(), blocks.clone()))
        .await
        .unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    let d = done(&out[0]);
    assert!(d.valid);
    assert_eq!(d.level, v1::VerificationLevel::CheckpointRoot as i32);
    assert_eq!(d.blocks, 1280);

    // Without anchors: valid, no level.
    let out = validate(
        &mut client,
        requests(start("polygon", 9_825_948, 9_827_227), blocks.clone()),
    )
    .await
    .unwrap();
    assert!(done(&out[0]).valid);
    assert_eq!(
        done(&out[0]).level,
        v1::VerificationLevel::Unspecified as i32
    );

    // A corrupted header: a block verdict naming the block and the rule, then invalid.
    let mut bad = blocks.clone();
    let n = bad[100].header.len();
    bad[100].header[n - 70] ^= 1; // inside the seal's r: the signer changes
    let h = SealedHeader::decode(&bad[100].header).unwrap();
    bad[100].hash = h.hash.to_vec();
    let out = validate(&mut client, requests(s, bad)).await.unwrap();
    assert_eq!(out.len(), 2, "{out:?}");
    let Some(v1::validate_range_response::Item::Failure(f)) = &out[0].item else {
        panic!("{out:?}")
    };
    assert!(f.number == 9_826_048 && f.peer_fault, "{f:?}");
    assert!(f.rule == "bor-signer" || f.rule == "bor-seal", "{f:?}");
    // The class and the rule travel as enums too.
    assert_eq!(f.fault_class(), v1::FaultClass::Peer, "{f:?}");
    assert_eq!(
        f.rule_code().as_str_name(),
        format!(
            "VALIDATION_RULE_{}",
            f.rule.to_uppercase().replace('-', "_")
        ),
        "{f:?}"
    );
    assert!(!done(&out[1]).valid);

    // Ethereum blocks with bodies across Prague, linked to the trusted end hash.
    let headers = fixture("eth-mainnet/blocks-22431080-22431090/headers.rlp");
    let bodies = fixture("eth-mainnet/blocks-22431080-22431090/bodies.rlp");
    let eth: Vec<v1::Block> = split_concatenated(&headers)
        .unwrap()
        .into_iter()
        .zip(split_concatenated(&bodies).unwrap())
        .map(|(h, b)| {
            let s = SealedHeader::decode(h).unwrap();
            v1::Block {
                number: s.number(),
                hash: s.hash.to_vec(),
                header: h.to_vec(),
                body: b.to_vec(),
                receipts: Vec::new(),
            }
        })
        .collect();
    let mut s = start("mainnet", 22_431_080, 22_431_090);
    s.trusted_end = Some(v1::BlockRef {
        number: 22_431_090,
        hash: hex_bytes("2217f636470f708c88b1b9b4d8688694617566402eafd9318aba37486535ba34"),
    });
    let out = validate(&mut client, requests(s, eth.clone()))
        .await
        .unwrap();
    assert!(done(&out[0]).valid);
    assert_eq!(done(&out[0]).level, v1::VerificationLevel::Linked as i32);

    // Protocol errors are statuses: no start, unknown chain, blocks out of order, incomplete.
    let only_block = vec![v1::ValidateRangeRequest {
        item: Some(v1::validate_range_request::Item::Block(eth[0].clone())),
    }];
    let e = validate(&mut client, only_block).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = validate(&mut client, requests(start("goerli", 1, 2), vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let mut swapped = eth.clone();
    swapped.swap(0, 1);
    let e = validate(
        &mut client,
        requests(start("mainnet", 22_431_080, 22_431_090), swapped),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = validate(
        &mut client,
        requests(start("mainnet", 22_431_080, 22_431_090), eth[..3].to_vec()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Metrics.
    let text = http_get(metrics, "/metrics").await;
    assert!(
        text.contains(
            "hypasis_validator_ranges_total{outcome=\"valid\",process=\"hypasis-validator\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "hypasis_validator_ranges_total{outcome=\"invalid\",process=\"hypasis-validator\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("hypasis_validator_blocks_total{level=\"checkpoint-root\",process=\"hypasis-validator\"} 1280"),
        "{text}"
    );

    // Graceful shutdown.
    proc.signal("TERM");
    let status = proc
        .wait_timeout(Duration::from_secs(20))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

//! The two sides of the validation seam agree: the same range through `LocalValidator` (the
//! library in process) and `GrpcValidator` (the validator service over gRPC) reaches the same
//! level, or fails on the same block, rule and fault class.

use hypasis_devnet::{DevnetParams, generate};
use hypasis_primitives::{ChainSpec, Fault, FaultClass, RawBlock, VerificationLevel};
use hypasis_proto::v1;
use hypasis_validator::{GrpcValidator, LocalValidator, ValidatorMetrics, ValidatorService};
use hypasis_validator_api::{RangeRequest, RangeValidator, Rule, TrustedParent, ValidateError};
use tokio::net::TcpListener;

async fn service(spec: &ChainSpec) -> GrpcValidator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = prometheus::Registry::new();
    let svc = ValidatorService::new(
        vec![spec.clone()],
        ValidatorMetrics::register(&registry).unwrap(),
    )
    .into_server(64 << 20);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let chain = v1::ChainId {
        chain_id: spec.chain_id,
        name: spec.name.clone(),
        genesis_hash: spec.genesis_hash.to_vec(),
    };
    GrpcValidator::new(channel, chain)
}

async fn both(
    local: &LocalValidator,
    remote: &GrpcValidator,
    request: RangeRequest<'_>,
) -> Result<Option<VerificationLevel>, ValidateError> {
    let l = local.validate(request).await;
    let r = remote.validate(request).await;
    match (&l, &r) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "levels differ"),
        (
            Err(ValidateError::Broken {
                number: n1,
                rule: r1,
                class: c1,
                ..
            }),
            Err(ValidateError::Broken {
                number: n2,
                rule: r2,
                class: c2,
                ..
            }),
        ) => assert_eq!((n1, r1, c1), (n2, r2, c2), "verdicts differ"),
        _ => panic!("the sides disagree: local {l:?}, remote {r:?}"),
    }
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_and_grpc_validators_give_the_same_verdicts() {
    let spec = ChainSpec::devnet();
    let devnet = generate(
        &spec,
        DevnetParams {
            blocks: 64,
            txs_per_block: 2,
            checkpoint_len: 32,
            ..DevnetParams::default()
        },
    )
    .unwrap();
    let blocks: Vec<RawBlock> = devnet.raw_blocks();
    let local = LocalValidator::new(spec.clone());
    let remote = service(&spec).await;
    let range = &blocks[32..64]; // blocks 33..=64: the second checkpoint's range
    let last = range.last().unwrap();
    let parent = TrustedParent {
        hash: blocks[31].hash,
        header: None,
    };

    // Anchored on the trusted end and matching its checkpoint's root: checkpoint-root.
    let cp = devnet.checkpoints[1].clone();
    assert_eq!((cp.range.start, cp.range.end), (33, 64));
    let checkpoints = [cp];
    let anchored = RangeRequest {
        blocks: range,
        parent: Some(&parent),
        trusted_end: Some(last.hash),
        checkpoints: &checkpoints,
    };
    assert_eq!(
        both(&local, &remote, anchored).await.unwrap(),
        Some(VerificationLevel::CheckpointRoot)
    );
    // No anchor at all: valid, but no level (the caller decides what its link is worth).
    let bare = RangeRequest {
        blocks: range,
        parent: None,
        trusted_end: None,
        checkpoints: &[],
    };
    assert_eq!(both(&local, &remote, bare).await.unwrap(), None);

    // A trusted end that is not the last block's hash: the data is wrong, the peer's fault.
    let wrong_end = RangeRequest {
        trusted_end: Some(blocks[0].hash),
        ..bare
    };
    let err = both(&local, &remote, wrong_end).await.unwrap_err();
    assert_eq!(err.fault(), FaultClass::Peer, "{err}");

    // A block whose body is garbage: the same block, rule and class on both sides.
    let mut broken = range.to_vec();
    broken[5].body = alloy_primitives::Bytes::from_static(&[0xc1, 0xff]);
    let bad_body = RangeRequest {
        blocks: &broken,
        ..bare
    };
    match both(&local, &remote, bad_body).await.unwrap_err() {
        ValidateError::Broken {
            number,
            rule,
            class,
            ..
        } => {
            assert_eq!(number, broken[5].number);
            assert_ne!(rule, Rule::ParentHash);
            assert_eq!(class, FaultClass::Peer);
        }
        other => panic!("{other}"),
    }
}

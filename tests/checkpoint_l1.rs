//! The L1 RootChain source against a real EVM JSON-RPC node (Hardhat Network from `tests/l1`,
//! pinned by its package-lock.json) running a RootChain-ABI contract compiled with the pinned
//! solc-js. The tests submit checkpoints into it and read them back over real JSON-RPC (HTTP and
//! WebSocket) with real ABI decoding, follow `NewHeaderBlock`, and check the finality rule.

use crate::checkpoint_support as support;

use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address, b256};
use alloy_provider::{DynProvider, Provider};
use alloy_rpc_types_eth::{TransactionInput, TransactionRequest};
use alloy_sol_types::{SolCall, SolValue, sol};
use futures::StreamExt;
use hypasis_checkpoint::{CheckpointSource, ErrorKind, L1Finality, RootChainSource};
use hypasis_primitives::CheckpointSource as Kind;
use std::sync::Arc;
use std::time::Duration;
use support::{L1Node, compile_root_chain};

sol! {
    function submitCheckpoint(bytes data, uint256[3][] sigs);
    function setNextHeaderBlock(uint256 value);
}

/// Real Polygon mainnet checkpoint 9693 (tests/fixtures/checkpoint/PROVENANCE.md).
const CP_9693_ROOT: B256 =
    b256!("e459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174");
const CP_9693_PROPOSER: Address = address!("7fCD58C2D53D980b247F1612FdbA93E9a76193E6");

struct Chain {
    provider: DynProvider,
    from: Address,
    contract: Address,
}

impl Chain {
    async fn deploy(provider: DynProvider, code: Vec<u8>) -> Self {
        let from = provider.get_accounts().await.unwrap()[0];
        let tx = TransactionRequest {
            from: Some(from),
            to: Some(TxKind::Create),
            input: TransactionInput::new(Bytes::from(code)),
            ..Default::default()
        };
        let receipt = provider
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let contract = receipt.contract_address.expect("deployed");
        Self {
            provider,
            from,
            contract,
        }
    }

    async fn send(&self, data: Vec<u8>) -> alloy_rpc_types_eth::TransactionReceipt {
        let tx = TransactionRequest {
            from: Some(self.from),
            to: Some(TxKind::Call(self.contract)),
            input: TransactionInput::new(Bytes::from(data)),
            ..Default::default()
        };
        self.provider
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
    }

    async fn submit(
        &self,
        proposer: Address,
        start: u64,
        end: u64,
        root: B256,
    ) -> alloy_rpc_types_eth::TransactionReceipt {
        let data = (
            proposer,
            U256::from(start),
            U256::from(end),
            root,
            B256::ZERO,
            U256::from(137u64),
        )
            .abi_encode_params();
        let r = self
            .send(
                submitCheckpointCall {
                    data: data.into(),
                    sigs: vec![],
                }
                .abi_encode(),
            )
            .await;
        assert!(r.status(), "submitCheckpoint reverted");
        r
    }

    async fn mine(&self, n: u64) {
        let _: bool = self
            .provider
            .raw_request("hardhat_mine".into(), (format!("{n:#x}"),))
            .await
            .unwrap();
    }

    async fn head(&self) -> u64 {
        self.provider.get_block_number().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_real_checkpoints_over_http_and_honours_finality() {
    let node = L1Node::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let code = compile_root_chain(tmp.path());

    // Three confirmations: a checkpoint exists for the source once 3 blocks are on top of it.
    let src = RootChainSource::connect(
        &node.http_url(),
        Address::ZERO,
        L1Finality::Confirmations(3),
    )
    .await
    .unwrap();
    let chain = Chain::deploy(src.provider().await.unwrap(), code).await;
    let src = Arc::new(
        RootChainSource::connect(
            &node.http_url(),
            chain.contract,
            L1Finality::Confirmations(3),
        )
        .await
        .unwrap(),
    );
    chain.mine(5).await;
    let err = src.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains("no checkpoint is final"), "{err}");

    // Continue from real Polygon checkpoint 9693.
    let r = chain
        .send(
            setNextHeaderBlockCall {
                value: U256::from(96_930_000u64),
            }
            .abi_encode(),
        )
        .await;
    assert!(r.status());
    let receipt = chain
        .submit(CP_9693_PROPOSER, 9_825_948, 9_827_227, CP_9693_ROOT)
        .await;
    let included = receipt.block_number.unwrap();
    assert_eq!(chain.head().await, included);

    // Not final with 0, 1, 2 blocks on top.
    for _ in 0..3 {
        let err = src.by_id(9693).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
        assert!(err.message.contains("not final"), "{err}");
        chain.mine(1).await;
    }
    // Three blocks on top: final.
    assert_eq!(chain.head().await, included + 3);
    let cp = src.latest().await.unwrap();
    assert_eq!(cp.id, 9693);
    assert_eq!(cp.source, Kind::L1RootChain);
    assert_eq!((cp.range.start, cp.range.end), (9_825_948, 9_827_227));
    assert_eq!(cp.root, CP_9693_ROOT);
    assert_eq!(cp.proposer, Some(CP_9693_PROPOSER));
    let block = chain
        .provider
        .get_block_by_number(included.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cp.created_at, Some(block.header.timestamp));
    assert_eq!(src.by_id(9693).await.unwrap(), cp);
    assert_eq!(src.by_id(9692).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(src.by_id(9694).await.unwrap_err().kind, ErrorKind::NotFound);

    // The next one, contiguous; the contract refuses a gap like the real one.
    let root2 = B256::repeat_byte(0x42);
    chain
        .submit(CP_9693_PROPOSER, 9_827_228, 9_828_000, root2)
        .await;
    assert_eq!(src.latest().await.unwrap().id, 9693, "not final yet");
    chain.mine(3).await;
    let all = src.range(9693, 9694).await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![9693, 9694]
    );
    assert_eq!(all[1].root, root2);
    assert_eq!(all[1].range.start, all[0].range.end + 1);

    // With the `finalized` tag (Hardhat reports its head as finalized) it is visible at once.
    let fin = RootChainSource::connect(&node.http_url(), chain.contract, L1Finality::Finalized)
        .await
        .unwrap();
    chain
        .submit(
            CP_9693_PROPOSER,
            9_828_001,
            9_829_000,
            B256::repeat_byte(0x43),
        )
        .await;
    assert_eq!(fin.latest().await.unwrap().id, 9695);
    assert_eq!(src.latest().await.unwrap().id, 9694);

    // A wrong contract address is a configuration error, not a checkpoint.
    let wrong = RootChainSource::connect(&node.http_url(), chain.from, L1Finality::Finalized)
        .await
        .unwrap();
    let err = wrong.latest().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config, "{err}");
    assert!(err.message.contains("RootChain"), "{err}");
    // An L1 node that is down is a transient failure (also over WebSocket, connected lazily),
    // never a start-up error.
    for url in ["http://127.0.0.1:1", "ws://127.0.0.1:1"] {
        let down = RootChainSource::connect(url, chain.contract, L1Finality::Finalized)
            .await
            .unwrap()
            .with_retry(hypasis_checkpoint::retry::RetryPolicy::none());
        let err = down.latest().await.unwrap_err();
        assert!(err.is_transient(), "{url}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_new_header_block_over_websocket_until_final() {
    let node = L1Node::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let code = compile_root_chain(tmp.path());
    let http = RootChainSource::connect(&node.http_url(), Address::ZERO, L1Finality::Finalized)
        .await
        .unwrap();
    let chain = Chain::deploy(http.provider().await.unwrap(), code).await;
    let proposer = Address::repeat_byte(0x11);
    chain.submit(proposer, 0, 255, B256::repeat_byte(1)).await;
    chain.mine(2).await;

    let ws = Arc::new(
        RootChainSource::connect(&node.ws_url(), chain.contract, L1Finality::Confirmations(2))
            .await
            .unwrap(),
    );
    assert_eq!(ws.latest().await.unwrap().id, 1, "reads over WebSocket too");
    let mut stream = ws.clone().watch(Duration::from_millis(300));
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("first item")
        .unwrap()
        .unwrap();
    assert_eq!(first.id, 1);

    let receipt = chain.submit(proposer, 256, 511, B256::repeat_byte(2)).await;
    // Seen on L1 but not final: nothing is emitted.
    assert!(
        tokio::time::timeout(Duration::from_millis(1200), stream.next())
            .await
            .is_err(),
        "a checkpoint was emitted before it was final"
    );
    chain.mine(2).await;
    let second = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("checkpoint 2 after finality")
        .unwrap()
        .unwrap();
    assert_eq!(second.id, 2);
    assert_eq!((second.range.start, second.range.end), (256, 511));
    assert_eq!(second.root, B256::repeat_byte(2));
    assert_eq!(second.proposer, Some(proposer));
    // The NewHeaderBlock log told us the submitting transaction.
    assert_eq!(second.l1_tx_hash, Some(receipt.transaction_hash));
    assert_eq!(second.l1_block, receipt.block_number);

    // Two quick submissions are both emitted, in order, once final.
    chain.submit(proposer, 512, 767, B256::repeat_byte(3)).await;
    chain
        .submit(proposer, 768, 1023, B256::repeat_byte(4))
        .await;
    chain.mine(2).await;
    for want in [3u64, 4] {
        let cp = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("next checkpoint")
            .unwrap()
            .unwrap();
        assert_eq!(cp.id, want);
        assert!(cp.l1_tx_hash.is_some());
    }
}

fn show(args: Vec<String>) -> (bool, serde_json::Value, String) {
    let out = std::process::Command::new(hypasis_integration_tests::bin("hypasis"))
        .args(["checkpoint", "show"])
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.success(),
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_show_cross_checks_l1_with_heimdall() {
    let node = L1Node::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let code = compile_root_chain(tmp.path());
    let http_src = RootChainSource::connect(&node.http_url(), Address::ZERO, L1Finality::Finalized)
        .await
        .unwrap();
    let chain = Chain::deploy(http_src.provider().await.unwrap(), code).await;
    chain
        .send(
            setNextHeaderBlockCall {
                value: U256::from(96_930_000u64),
            }
            .abi_encode(),
        )
        .await;
    chain
        .submit(CP_9693_PROPOSER, 9_825_948, 9_827_227, CP_9693_ROOT)
        .await;

    // Heimdall (v2 format) agreeing with L1 on the real checkpoint 9693.
    let heimdall = support::MockHttp::start().await;
    let body = support::heimdall_v2(
        9693,
        9_825_948,
        9_827_227,
        CP_9693_ROOT.0,
        "0x7fcd58c2d53d980b247f1612fdba93e9a76193e6",
    );
    heimdall.set("/checkpoints/latest", support::Reply::json(&body));
    heimdall.set("/checkpoints/9693", support::Reply::json(&body));
    let args = vec![
        "--heimdall".to_string(),
        heimdall.url(),
        "--l1-rpc".to_string(),
        node.http_url(),
        "--root-chain".to_string(),
        chain.contract.to_string(),
    ];
    let a = args.clone();
    let (ok, json, err) = tokio::task::spawn_blocking(move || show(a)).await.unwrap();
    assert!(ok, "{err}");
    assert_eq!(json["id"], 9693);
    assert_eq!(json["start"], 9_825_948);
    assert_eq!(json["end"], 9_827_227);
    assert_eq!(json["root"], CP_9693_ROOT.to_string());
    assert_eq!(json["proposer"], CP_9693_PROPOSER.to_checksum(None));
    assert_eq!(
        json["sources"],
        serde_json::json!(["l1-root-chain", "heimdall"])
    );
    assert_eq!(json["agreed"], true);

    // Heimdall disagrees on the root: refused, non-zero exit.
    let bad = support::heimdall_v2(
        9693,
        9_825_948,
        9_827_227,
        [0xab; 32],
        "0x7fcd58c2d53d980b247f1612fdba93e9a76193e6",
    );
    heimdall.set("/checkpoints/9693", support::Reply::json(&bad));
    let mut a = args.clone();
    a.extend(["--id".to_string(), "9693".to_string()]);
    let (ok, json, err) = tokio::task::spawn_blocking(move || show(a)).await.unwrap();
    assert!(!ok);
    assert_eq!(json["agreed"], false);
    assert!(err.contains("disagree on checkpoint 9693"), "{err}");
}

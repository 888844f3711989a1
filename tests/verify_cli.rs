//! `hypasis verify` end to end on the real fixtures in `tests/fixtures/validation/` (see its
//! PROVENANCE.md): each input format, each anchor kind, and the failure report.

use hypasis_integration_tests::{bin, repo_root, stderr, stdout};
use hypasis_validation::split_concatenated;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/validation").join(name)
}

fn verify(args: &[&str]) -> Output {
    let out = Command::new(bin("hypasis"))
        .arg("verify")
        .args(args)
        .output()
        .expect("run hypasis verify");
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// RLP list header for a payload of `len` bytes.
fn list_header(len: usize) -> Vec<u8> {
    if len < 56 {
        vec![0xc0 + len as u8]
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        let mut h = vec![0xf7 + (8 - skip) as u8];
        h.extend_from_slice(&be[skip..]);
        h
    }
}

/// The payload of an RLP list item.
fn list_payload(item: &[u8]) -> &[u8] {
    let header_len = if item[0] <= 0xf7 {
        1
    } else {
        1 + (item[0] - 0xf7) as usize
    };
    &item[header_len..]
}

/// Builds `chain.rlp` (`rlp([header, txs, ommers(, withdrawals)])` per block) from a directory's
/// `headers.rlp` and `bodies.rlp`.
fn chain_rlp(dir: &str, out: &Path, skip: Option<usize>) {
    let headers = std::fs::read(fixture(&format!("{dir}/headers.rlp"))).unwrap();
    let bodies = std::fs::read(fixture(&format!("{dir}/bodies.rlp"))).unwrap();
    let h = split_concatenated(&headers).unwrap();
    let b = split_concatenated(&bodies).unwrap();
    let mut chain = Vec::new();
    for (i, (header, body)) in h.iter().zip(&b).enumerate() {
        if Some(i) == skip {
            continue;
        }
        let payload = [*header, list_payload(body)].concat();
        chain.extend_from_slice(&list_header(payload.len()));
        chain.extend_from_slice(&payload);
    }
    std::fs::write(out, chain).unwrap();
}

#[test]
fn blocks_with_pre_byzantium_receipts_and_a_trusted_hash() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.rlp");
    chain_rlp("eth-mainnet/blocks-1000000-1000030", &chain, None);
    let receipts = fixture("eth-mainnet/blocks-1000000-1000030/receipts.rlp");
    let out = verify(&[
        "--chain",
        "mainnet",
        "--blocks",
        chain.to_str().unwrap(),
        "--receipts",
        receipts.to_str().unwrap(),
        "--trusted",
        "1000030:0x37bf824db199eac4ffa85f498babbf6bd9d6e3f9f8c6cb5e1a18f645c95c1e65",
    ]);
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(
        s.contains("1000000..=1000030") && s.contains("linked"),
        "{s}"
    );
    assert!(s.contains("ok: 31 blocks pass"), "{s}");
    // Without anchors the rules pass but nothing is verified.
    let out = verify(&["--chain", "mainnet", "--blocks", chain.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("unverified"));
}

#[test]
fn missing_block_fails_with_block_rule_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.rlp");
    chain_rlp("eth-mainnet/blocks-1000000-1000030", &chain, Some(5));
    let out = verify(&["--chain", "mainnet", "--blocks", chain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("block 1000006"), "{e}");
    assert!(e.contains("rule `parent-hash`"), "{e}");
    assert!(e.contains("expected 0x") && e.contains("found 0x"), "{e}");
}

#[test]
fn receipts_must_match_the_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.rlp");
    chain_rlp("eth-mainnet/blocks-1000000-1000030", &chain, None);
    // Shift the receipts by one block: the first block with transactions gets the wrong list.
    let receipts =
        std::fs::read(fixture("eth-mainnet/blocks-1000000-1000030/receipts.rlp")).unwrap();
    let items = split_concatenated(&receipts).unwrap();
    let mut shifted: Vec<u8> = items[1..].concat();
    shifted.extend_from_slice(items[0]);
    let bad = dir.path().join("receipts.rlp");
    std::fs::write(&bad, shifted).unwrap();
    let out = verify(&[
        "--chain",
        "mainnet",
        "--blocks",
        chain.to_str().unwrap(),
        "--receipts",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("verification failed: block 10000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prague_blocks_with_withdrawals() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.rlp");
    chain_rlp("eth-mainnet/blocks-22431080-22431090", &chain, None);
    let out = verify(&[
        "--chain",
        "mainnet",
        "--blocks",
        chain.to_str().unwrap(),
        "--trusted",
        "22431090:0x2217f636470f708c88b1b9b4d8688694617566402eafd9318aba37486535ba34",
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("linked"));
}

#[test]
fn polygon_headers_against_checkpoint_9693() {
    let headers = fixture("polygon/checkpoint-9693/headers_9825948_9827227.rlp");
    let root = "0xe459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174";
    let out = verify(&[
        "--chain",
        "polygon",
        "--headers",
        headers.to_str().unwrap(),
        "--checkpoint",
        &format!("9825948:9827227:{root}"),
        "--trusted",
        "9827227:0x3d32043f2cfc6a6f5a0e5b4b5fd2db07a91109c7170d4d527f4060c1988707e5",
    ]);
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(
        s.contains("9825948..=9827227") && s.contains("checkpoint-root"),
        "{s}"
    );
    // The root alone matches, but without hash linkage the range is not raised.
    let out = verify(&[
        "--chain",
        "polygon",
        "--headers",
        headers.to_str().unwrap(),
        "--checkpoint",
        &format!("9825948:9827227:{root}"),
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("unverified"));
    assert!(stderr(&out).contains("not hash-linked"), "{}", stderr(&out));
    // A different root: the checkpoint rule fails with both roots printed.
    let wrong = format!("9825948:9827227:0x{}", "11".repeat(32));
    let out = verify(&[
        "--chain",
        "polygon",
        "--headers",
        headers.to_str().unwrap(),
        "--checkpoint",
        &wrong,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("rule `checkpoint-root`") && e.contains(&root[2..]),
        "{e}"
    );
    // Headers of the wrong chain: the Bor rules fail on Ethereum's.
    let out = verify(&["--chain", "mainnet", "--headers", headers.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn era1_files_against_the_accumulator() {
    let e0 = fixture("era1/mainnet-00000-5ec1ffb8.era1");
    let e1 = fixture("era1/mainnet-00001-a5364e9a.era1");
    let out = verify(&[
        "--chain",
        "mainnet",
        "--era1",
        e1.to_str().unwrap(),
        e0.to_str().unwrap(),
        "--accumulator",
    ]);
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(s.contains("0..=8191") && s.contains("8192..=16383"), "{s}");
    assert_eq!(s.matches("accumulator").count(), 2, "{s}");
    assert!(s.contains("ok: 16384 blocks pass"), "{s}");
    // The accumulator is mainnet's.
    let out = verify(&[
        "--chain",
        "sepolia",
        "--era1",
        e0.to_str().unwrap(),
        "--accumulator",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mainnet"));
    // A Sepolia era with transactions and receipts, linked to its last block.
    let s21 = fixture("era1/sepolia-00021-b8814b14.era1");
    let out = verify(&[
        "--chain",
        "sepolia",
        "--era1",
        s21.to_str().unwrap(),
        "--trusted",
        "180223:0xaf105ff107f4d9b48bc205c3001ee33938b1b6f3b2ef04da0064ae63ecb1d80a",
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("172032..=180223"));
}

#[test]
fn corrupt_era1_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture("era1/mainnet-00000-5ec1ffb8.era1")).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0xff; // inside the block index
    let bad = dir.path().join("bad.era1");
    std::fs::write(&bad, bytes).unwrap();
    let out = verify(&["--chain", "mainnet", "--era1", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("index"), "{}", stderr(&out));
}

/// Polygon block 50,000,000 (real, `polygon-recent/`) re-signed by a key outside the validator
/// set: `--validators` (an address list or Heimdall's `/stake/validators-set` answer) refuses
/// it as the data's fault; the real header passes against the same set.
#[test]
fn a_bor_signer_outside_the_validators_file_is_refused() {
    use alloy_primitives::Address;
    use alloy_rlp::{Decodable, Encodable};
    use hypasis_primitives::ChainSpec;
    use hypasis_validation::{BlockData, Validator, bor};
    use secp256k1::SecretKey;

    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::polygon();
    // The set 49,999,999 (a sprint end) announces.
    let parent = std::fs::read(fixture("polygon-recent/h49999999.rlp")).unwrap();
    let set: Vec<String> = Validator::new(spec.clone())
        .check_block(&BlockData::header_only(parent), 49_999_999)
        .unwrap()
        .announced_signers()
        .expect("a sprint end announces its validators")
        .iter()
        .map(Address::to_string)
        .collect();
    let list = dir.path().join("validators.json");
    std::fs::write(&list, serde_json::to_string(&set).unwrap()).unwrap();
    let heimdall_form = dir.path().join("validators-set.json");
    let validators: Vec<_> = set
        .iter()
        .enumerate()
        .map(|(i, a)| serde_json::json!({"val_id": (i + 1).to_string(), "signer": a}))
        .collect();
    std::fs::write(
        &heimdall_form,
        serde_json::json!({"validator_set": {"validators": validators}}).to_string(),
    )
    .unwrap();

    let with_set = |headers: &Path, validators: &Path| {
        verify(&[
            "--chain",
            "polygon",
            "--headers",
            headers.to_str().unwrap(),
            "--validators",
            validators.to_str().unwrap(),
        ])
    };
    // The real 50,000,000 passes against either form.
    let real = fixture("polygon-recent/h50000000.rlp");
    for file in [&list, &heimdall_form] {
        let out = with_set(&real, file);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    // Re-sealed by a key nobody appointed.
    let mut header =
        alloy_consensus::Header::decode(&mut &std::fs::read(&real).unwrap()[..]).unwrap();
    let key =
        SecretKey::from_secret_bytes(alloy_primitives::keccak256(b"not a polygon validator").0)
            .unwrap();
    bor::seal(&spec, &mut header, &key).unwrap();
    let mut forged = Vec::new();
    header.encode(&mut forged);
    let forged_file = dir.path().join("forged.rlp");
    std::fs::write(&forged_file, &forged).unwrap();
    for file in [&list, &heimdall_form] {
        let out = with_set(&forged_file, file);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("block 50000000")
                && err.contains("rule `bor-signer`")
                && err.contains("the data is invalid"),
            "{err}"
        );
    }
    // Without a set, nothing says who may sign: the rules alone pass.
    let out = verify(&[
        "--chain",
        "polygon",
        "--headers",
        forged_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A file that names nobody, or is not an address list, is a clear error.
    let bad = dir.path().join("bad.json");
    for text in ["[]", "[\"0x12\"]", "{\"validators\": 3}"] {
        std::fs::write(&bad, text).unwrap();
        let out = with_set(&real, &bad);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("--validators"),
            "{text}: {}",
            stderr(&out)
        );
    }
}

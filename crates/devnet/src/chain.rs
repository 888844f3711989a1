//! The devnet chain generator: Bor-style blocks sealed by local validator keys, carrying real
//! signed transactions (legacy EIP-155 and EIP-1559 value transfers from the funded dev
//! accounts of the devnet genesis; every third one an ERC-20 style `transfer(to, amount)` call
//! to [`DEV_TOKEN`] whose receipt carries a `Transfer` log) and their receipts, plus
//! checkpoints over consecutive ranges with roots computed as Bor does
//! ([`hypasis_validation::checkpoint_root`]).
//!
//! The transactions are not executed: the state root is a placeholder (no validator in this
//! workspace executes) and the token logs and gas are synthesized, but every root the
//! validator checks (transactions, receipts, ommers, receipt and header logs blooms, gas used,
//! base fee, Bor seal and validator bytes, checkpoint roots) is real.

use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom,
    SignableTransaction, TxEip1559, TxEnvelope, TxLegacy,
};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{
    Address, B256, Bloom, Bytes, Log, LogData, Signature, TxKind, U256, keccak256,
};
use alloy_rlp::Encodable;
use alloy_trie::root::ordered_trie_root_encoded;
use hypasis_primitives::{
    BlockRange, Checkpoint, CheckpointSource, ConsensusKind, RawBlock, chain::ChainSpec,
};
use hypasis_validation::{bor, checkpoint_root, header::expected_base_fee};
use rayon::prelude::*;
use secp256k1::{Message, SecretKey, ecdsa::RecoverableSignature};

/// Gas of a plain value transfer.
pub const TRANSFER_GAS: u64 = 21_000;
/// Gas limit of the token transfer calls.
pub const TOKEN_TRANSFER_GAS_LIMIT: u64 = 60_000;
/// Gas a token transfer call is recorded to use (not executed; a typical ERC-20 transfer).
pub const TOKEN_TRANSFER_GAS: u64 = 35_000;
/// The (code-less) ERC-20 style token the devnet's token transfer calls go to.
pub const DEV_TOKEN: Address = Address::new([
    0x70, 0x4b, 0x45, 0x4e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
]);
/// `keccak256("Transfer(address,address,uint256)")`, topic 0 of the ERC-20 `Transfer` log.
pub const TRANSFER_EVENT: B256 = B256::new(hex_literal(
    b"ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
));
/// Selector of `transfer(address,uint256)`.
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// Most transactions per block accepted by [`generate`] (keeps blocks below the gas
/// target, so the base fee only falls and the fixed fee caps of the transactions stay valid).
pub const MAX_TXS_PER_BLOCK: usize = 500;
/// Fee cap of the generated transactions (wei per gas).
const MAX_FEE: u128 = 100_000_000_000;
/// Priority fee of the EIP-1559 transactions (wei per gas).
const PRIORITY_FEE: u128 = 1_000_000_000;

/// Private keys of the funded accounts of the devnet genesis alloc (the well-known
/// Hardhat/Anvil test accounts 0 and 1: `0xf39F…2266`, `0x7099…79C8`).
pub const DEV_ACCOUNT_KEYS: [[u8; 32]; 2] = [
    hex_literal(b"ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    hex_literal(b"59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
];

const fn hex_literal(s: &[u8; 64]) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevnetParams {
    /// Blocks after genesis (numbers `1..=blocks`).
    pub blocks: u64,
    /// Transactions per block (alternating legacy and EIP-1559, alternating senders); at most
    /// [`MAX_TXS_PER_BLOCK`].
    pub txs_per_block: usize,
    /// Number of Bor validators (keys derived from `seed`).
    pub validators: usize,
    /// Blocks per checkpoint (the first checkpoint is `1..=checkpoint_len`).
    pub checkpoint_len: u64,
    /// Seed of the validator keys and the transfer recipients.
    pub seed: u64,
}

impl Default for DevnetParams {
    fn default() -> Self {
        Self {
            blocks: 50_000,
            txs_per_block: 4,
            validators: 4,
            checkpoint_len: 256,
            seed: 1,
        }
    }
}

/// Why generation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DevnetError {
    /// The chain spec is not a Bor chain.
    #[error("chain `{0}` is not a Bor chain")]
    NotBor(String),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(String),
}

/// A Bor validator of the devnet.
#[derive(Clone, Debug)]
pub struct DevValidator {
    /// Signing key.
    pub key: SecretKey,
    /// Address.
    pub address: Address,
}

/// A generated block with its receipts in consensus (EIP-2718) encoding, as the devp2p
/// block sources serve them.
#[derive(Clone, Debug)]
pub struct DevBlock {
    /// The block as stored and validated.
    pub raw: RawBlock,
    /// The decoded header.
    pub header: Header,
    /// Receipts, each `type ‖ rlp(receipt)` (legacy: `rlp(receipt)`).
    pub receipts: Vec<Bytes>,
}

/// A generated chain.
#[derive(Clone, Debug)]
pub struct Devnet {
    /// The chain spec (`ChainSpec::devnet()` unless another Bor spec was given).
    pub spec: ChainSpec,
    /// Parameters used.
    pub params: DevnetParams,
    /// Validators, in signing order.
    pub validators: Vec<DevValidator>,
    /// Blocks `1..=params.blocks` (genesis is `spec.genesis_header`).
    pub blocks: Vec<DevBlock>,
    /// Checkpoints over `[1, L]`, `[L+1, 2L]`, ... (complete ranges only), ids from 1.
    pub checkpoints: Vec<Checkpoint>,
}

fn address_of(key: &SecretKey) -> Address {
    let public = key.public_key().serialize_uncompressed();
    Address::from_slice(&keccak256(&public[1..])[12..])
}

/// Validator keys derived deterministically from `seed`.
pub fn validator_keys(seed: u64, count: usize) -> Vec<DevValidator> {
    (0..count as u64)
        .map(|i| {
            let mut material = keccak256(
                [
                    b"hypasis-devnet-validator".as_slice(),
                    &seed.to_be_bytes(),
                    &i.to_be_bytes(),
                ]
                .concat(),
            );
            loop {
                if let Ok(key) = SecretKey::from_secret_bytes(material.0) {
                    return DevValidator {
                        address: address_of(&key),
                        key,
                    };
                }
                material = keccak256(material);
            }
        })
        .collect()
}

/// Signs `hash`, returning `(r ‖ s, recovery id)` with low `s` (secp256k1 normalizes).
fn sign(key: &SecretKey, hash: B256) -> ([u8; 64], u8) {
    let sig = RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(hash.0), key);
    let (recid, compact) = sig.serialize_compact();
    (compact, u8::from(recid))
}

fn signature(key: &SecretKey, hash: B256) -> Signature {
    let (rs, v) = sign(key, hash);
    Signature::new(
        U256::from_be_slice(&rs[..32]),
        U256::from_be_slice(&rs[32..]),
        v == 1,
    )
}

/// RLP list header + payload.
fn wrap_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    alloy_rlp::Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// An eth-network item for an EIP-2718 encoding: legacy lists as they are, typed ones as a
/// byte string.
fn network_item(encoded_2718: &[u8], out: &mut Vec<u8>) {
    if encoded_2718.first().is_some_and(|b| *b >= 0xc0) {
        out.extend_from_slice(encoded_2718);
    } else {
        alloy_rlp::Header {
            list: false,
            payload_length: encoded_2718.len(),
        }
        .encode(out);
        out.extend_from_slice(encoded_2718);
    }
}

/// Transactions and receipts of one block, independent of the header chain.
struct Contents {
    body: Bytes,
    receipts_list: Bytes,
    receipts: Vec<Bytes>,
    transactions_root: B256,
    receipts_root: B256,
    gas_used: u64,
    bloom: Bloom,
}

fn block_contents(
    chain_id: u64,
    senders: &[SecretKey],
    seed: u64,
    number: u64,
    txs: usize,
) -> Contents {
    // Sender s signs transactions s, s + S, s + 2S, ... of every block.
    let per_sender = |s: usize| ((txs + senders.len() - 1 - s) / senders.len()) as u64;
    let sender_addresses: Vec<Address> = senders.iter().map(address_of).collect();
    let mut cumulative_gas = 0u64;
    let mut block_bloom = Bloom::ZERO;
    let mut tx_items = Vec::new();
    let mut tx_2718 = Vec::with_capacity(txs);
    let mut receipt_items = Vec::new();
    let mut receipts = Vec::with_capacity(txs);
    for i in 0..txs {
        let s = i % senders.len();
        let nonce = (number - 1) * per_sender(s) + (i / senders.len()) as u64;
        let to = Address::from_slice(
            &keccak256(
                [
                    seed.to_be_bytes(),
                    number.to_be_bytes(),
                    (i as u64).to_be_bytes(),
                ]
                .concat(),
            )[12..],
        );
        let value = U256::from(1_000_000_000u64 + number * 1000 + i as u64);
        // Every third transaction is a token transfer of `value` tokens to `to`.
        let token = i % 3 == 2;
        let (call_to, call_value, input, gas_limit, gas, logs) = if token {
            let mut input = Vec::with_capacity(68);
            input.extend_from_slice(&TRANSFER_SELECTOR);
            input.extend_from_slice(to.into_word().as_slice());
            input.extend_from_slice(&value.to_be_bytes::<32>());
            let log = Log {
                address: DEV_TOKEN,
                data: LogData::new_unchecked(
                    vec![
                        TRANSFER_EVENT,
                        sender_addresses[s].into_word(),
                        to.into_word(),
                    ],
                    Bytes::from(value.to_be_bytes::<32>().to_vec()),
                ),
            };
            (
                DEV_TOKEN,
                U256::ZERO,
                Bytes::from(input),
                TOKEN_TRANSFER_GAS_LIMIT,
                TOKEN_TRANSFER_GAS,
                vec![log],
            )
        } else {
            (
                to,
                value,
                Bytes::new(),
                TRANSFER_GAS,
                TRANSFER_GAS,
                Vec::new(),
            )
        };
        let envelope: TxEnvelope = if i % 2 == 0 {
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: MAX_FEE,
                max_priority_fee_per_gas: PRIORITY_FEE,
                to: TxKind::Call(call_to),
                value: call_value,
                access_list: Default::default(),
                input,
            };
            let sig = signature(&senders[s], tx.signature_hash());
            tx.into_signed(sig).into()
        } else {
            let tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price: MAX_FEE,
                gas_limit,
                to: TxKind::Call(call_to),
                value: call_value,
                input,
            };
            let sig = signature(&senders[s], tx.signature_hash());
            tx.into_signed(sig).into()
        };
        let encoded = envelope.encoded_2718();
        network_item(&encoded, &mut tx_items);
        tx_2718.push(encoded);
        cumulative_gas += gas;
        let receipt = Receipt {
            status: Eip658Value::Eip658(true),
            cumulative_gas_used: cumulative_gas,
            logs,
        };
        let logs_bloom = receipt.bloom_slow();
        block_bloom.accrue_bloom(&logs_bloom);
        let rwb = ReceiptWithBloom {
            receipt,
            logs_bloom,
        };
        let receipt = if i % 2 == 0 {
            ReceiptEnvelope::Eip1559(rwb)
        } else {
            ReceiptEnvelope::Legacy(rwb)
        };
        let encoded = receipt.encoded_2718();
        network_item(&encoded, &mut receipt_items);
        receipts.push(Bytes::from(encoded));
    }
    let mut body = wrap_list(&tx_items);
    body.push(0xc0); // no ommers
    Contents {
        body: wrap_list(&body).into(),
        receipts_list: wrap_list(&receipt_items).into(),
        transactions_root: ordered_trie_root_encoded(&tx_2718),
        receipts_root: ordered_trie_root_encoded(&receipts),
        receipts,
        gas_used: cumulative_gas,
        bloom: block_bloom,
    }
}

/// Bor extra-data (post-Cancun layout): vanity ‖ `rlp([validatorBytes, []])` ‖ 65-byte seal
/// placeholder.
fn extra_data(validator_bytes: &[u8], number: u64) -> Vec<u8> {
    let mut extra = Vec::with_capacity(32 + validator_bytes.len() + 8 + 65);
    let mut vanity = [0u8; 32];
    vanity[..14].copy_from_slice(b"hypasis-devnet");
    vanity[24..].copy_from_slice(&number.to_be_bytes());
    extra.extend_from_slice(&vanity);
    let mut payload = Vec::new();
    validator_bytes.encode(&mut payload);
    payload.push(0xc0);
    extra.extend_from_slice(&wrap_list(&payload));
    extra.extend_from_slice(&[0u8; 65]);
    extra
}

/// Generates the devnet chain for `spec` (a Bor chain, normally [`ChainSpec::devnet`]).
pub fn generate(spec: &ChainSpec, params: DevnetParams) -> Result<Devnet, DevnetError> {
    let mut devnet = Devnet {
        spec: spec.clone(),
        params,
        validators: validator_keys(params.seed, params.validators),
        blocks: Vec::new(),
        checkpoints: Vec::new(),
    };
    if !matches!(spec.consensus, ConsensusKind::Bor(_)) {
        return Err(DevnetError::NotBor(spec.name.clone()));
    }
    if params.validators == 0 {
        return Err(DevnetError::Param(
            "at least one validator is needed".into(),
        ));
    }
    if params.txs_per_block > MAX_TXS_PER_BLOCK {
        return Err(DevnetError::Param(format!(
            "at most {MAX_TXS_PER_BLOCK} transactions per block"
        )));
    }
    if params.checkpoint_len == 0 {
        return Err(DevnetError::Param(
            "checkpoint length must be positive".into(),
        ));
    }
    devnet.extend(params.blocks);
    Ok(devnet)
}

impl Devnet {
    /// The validator addresses, in signing order.
    pub fn validator_addresses(&self) -> Vec<Address> {
        self.validators.iter().map(|v| v.address).collect()
    }

    /// The last header (genesis when no block was generated).
    pub fn head(&self) -> &Header {
        self.blocks
            .last()
            .map_or(&self.spec.genesis_header, |b| &b.header)
    }

    /// The hash of the last block.
    pub fn head_hash(&self) -> B256 {
        self.blocks
            .last()
            .map_or(self.spec.genesis_hash, |b| b.raw.hash)
    }

    /// The raw blocks.
    pub fn raw_blocks(&self) -> Vec<RawBlock> {
        self.blocks.iter().map(|b| b.raw.clone()).collect()
    }

    /// Appends `count` blocks and the checkpoints that became complete; returns the new
    /// checkpoints' count.
    pub fn extend(&mut self, count: u64) -> usize {
        let ConsensusKind::Bor(bor_cfg) = &self.spec.consensus else {
            return 0;
        };
        let bor_cfg = bor_cfg.clone();
        let first = self.head().number + 1;
        let last = first + count;
        let senders: Vec<SecretKey> = DEV_ACCOUNT_KEYS
            .iter()
            .map(|k| SecretKey::from_secret_bytes(*k).expect("valid dev key"))
            .collect();
        let chain_id = self.spec.chain_id;
        let (seed, txs) = (self.params.seed, self.params.txs_per_block);
        // Bodies and receipts are independent of the header chain: in parallel.
        let contents: Vec<Contents> = (first..last)
            .into_par_iter()
            .map(|n| block_contents(chain_id, &senders, seed, n, txs))
            .collect();
        let validator_bytes: Vec<u8> = self
            .validators
            .iter()
            .flat_map(|v| {
                let mut entry = [0u8; 40];
                entry[..20].copy_from_slice(v.address.as_slice());
                entry[39] = 1; // power 1
                entry
            })
            .collect();
        let mut parent = self.head().clone();
        let mut parent_hash = self.head_hash();
        self.blocks.reserve(count as usize);
        for (n, c) in (first..last).zip(contents) {
            let sprint = bor_cfg.sprint_at(n).unwrap_or(1).max(1);
            let period = bor_cfg.period_at(n).unwrap_or(1);
            let signer = &self.validators[((n / sprint) as usize) % self.validators.len()];
            let validators: &[u8] = if bor::is_sprint_end(&bor_cfg, n) {
                &validator_bytes
            } else {
                &[]
            };
            let mut header = Header {
                parent_hash,
                ommers_hash: EMPTY_OMMER_ROOT_HASH,
                beneficiary: Address::ZERO,
                state_root: keccak256([b"state".as_slice(), &n.to_be_bytes()].concat()),
                transactions_root: c.transactions_root,
                receipts_root: c.receipts_root,
                logs_bloom: c.bloom,
                difficulty: U256::from(self.validators.len() as u64),
                number: n,
                gas_limit: parent.gas_limit,
                gas_used: c.gas_used,
                timestamp: parent.timestamp + period.max(1),
                extra_data: extra_data(validators, n).into(),
                mix_hash: B256::ZERO,
                nonce: Default::default(),
                base_fee_per_gas: None,
                ..Default::default()
            };
            let base_fee = expected_base_fee(&self.spec, &parent, &header)
                .or(parent.base_fee_per_gas.map(u128::from))
                .unwrap_or(1_000_000_000);
            header.base_fee_per_gas = Some(u64::try_from(base_fee).unwrap_or(u64::MAX));
            bor::seal(&self.spec, &mut header, &signer.key).expect("extra-data has a seal");
            let mut encoded = Vec::with_capacity(header.length());
            header.encode(&mut encoded);
            let hash = keccak256(&encoded);
            self.blocks.push(DevBlock {
                raw: RawBlock {
                    number: n,
                    hash,
                    header: encoded.into(),
                    body: c.body,
                    receipts: c.receipts_list,
                },
                header: header.clone(),
                receipts: c.receipts,
            });
            parent = header;
            parent_hash = hash;
        }
        self.publish_checkpoints()
    }

    fn publish_checkpoints(&mut self) -> usize {
        let len = self.params.checkpoint_len;
        let head = self.head().number;
        let mut added = 0;
        loop {
            let id = self.checkpoints.len() as u64 + 1;
            let start = (id - 1) * len + 1;
            let end = id * len;
            if end > head {
                return added;
            }
            let slice = &self.blocks[(start - 1) as usize..end as usize];
            let root = checkpoint_root(slice.par_iter().map(|b| &b.header));
            let end_block = &slice[slice.len() - 1];
            let proposer = self.validators[(id as usize) % self.validators.len()].address;
            self.checkpoints.push(Checkpoint {
                source: CheckpointSource::Heimdall,
                id,
                range: BlockRange::new(start, end).expect("start <= end"),
                root,
                end_block_hash: Some(end_block.raw.hash),
                l1_tx_hash: None,
                l1_block: None,
                proposer: Some(proposer),
                created_at: Some(end_block.header.timestamp),
                verified_by: vec![CheckpointSource::Heimdall],
            });
            added += 1;
        }
    }

    /// The blocks in geth export format (`chain.rlp`: `rlp([header, txs, ommers])` per
    /// block) and the receipts file (`receipts.rlp`: one receipt list per block).
    pub fn export(&self) -> (Vec<u8>, Vec<u8>) {
        let mut chain = Vec::new();
        let mut receipts = Vec::new();
        for b in &self.blocks {
            // block = list(header ‖ body payload)
            let mut body = &b.raw.body[..];
            let h = alloy_rlp::Header::decode(&mut body).expect("body is a list");
            debug_assert!(h.list);
            let mut payload = b.raw.header.to_vec();
            payload.extend_from_slice(body);
            chain.extend_from_slice(&wrap_list(&payload));
            receipts.extend_from_slice(&b.raw.receipts);
        }
        (chain, receipts)
    }
}

//! An Ethereum beacon node as a checkpoint source, **verified with the light-client protocol**
//! (consensus-specs `sync-protocol`): the beacon node is not trusted.
//!
//! 1. Bootstrap from a trusted beacon block root: `GET
//!    /eth/v1/beacon/light_client/bootstrap/{root}`; the header must hash to the root and the
//!    current sync committee must Merkle-prove into its state root.
//! 2. Sync-committee rotation: `GET /eth/v1/beacon/light_client/updates?start_period=&count=`;
//!    each update's next committee is Merkle-proven into its attested state and signed by the
//!    committee the client already trusts.
//! 3. `GET /eth/v1/beacon/light_client/finality_update`: the attested header is signed by the
//!    sync committee (BLS `FastAggregateVerify` over the participants' keys, `blst`, with the
//!    `DOMAIN_SYNC_COMMITTEE` domain of the fork at the signature slot), by a supermajority
//!    (≥ 2/3); the finalized header is Merkle-proven into the attested state root; the
//!    execution payload header is Merkle-proven into the finalized block's body root.
//!
//! The result is a block anchor: the finalized execution block's number and hash.
//!
//! Supported from Capella on (light-client headers carry the execution payload header since
//! Capella); Electra and later use the deeper state gindices (169, 86, 87).

use crate::error::{SourceError, SourceResult};
use crate::http::{
    ParseError, ParseResult, RestClient, b256_hex, field, hex_bytes, redact_url, str_field,
    type_name, u64_field,
};
use crate::retry::{RetryPolicy, retry};
use crate::source::CheckpointSource;
use crate::ssz::{
    Chunk, byte_list_root, byte_vector_root, hash_pair, is_valid_merkle_branch, merkleize, u64_leaf,
};
use crate::static_source::block_anchor;
use alloy_primitives::{B256, U256};
use blst::BLST_ERROR;
use blst::min_pk::{PublicKey, Signature};
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind, Fault, FaultClass};
use serde_json::Value;
use std::time::Duration;

/// Members of a sync committee.
pub const SYNC_COMMITTEE_SIZE: usize = 512;
/// Slots per epoch.
pub const SLOTS_PER_EPOCH: u64 = 32;
/// Epochs per sync-committee period.
pub const EPOCHS_PER_SYNC_COMMITTEE_PERIOD: u64 = 256;
/// `DOMAIN_SYNC_COMMITTEE`.
pub const DOMAIN_SYNC_COMMITTEE: [u8; 4] = [7, 0, 0, 0];
/// BLS signature domain separation tag of Ethereum (proof of possession scheme).
pub const BLS_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Most sync-committee updates fetched in one go.
const MAX_UPDATES: u64 = 128;

/// Chain parameters of a beacon network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeaconNetwork {
    /// `genesis_validators_root`.
    pub genesis_validators_root: B256,
    /// `(activation epoch, fork version)`, ascending.
    pub forks: Vec<(u64, [u8; 4])>,
    /// Epoch of Capella (light-client headers carry execution data from here).
    pub capella_epoch: u64,
    /// Epoch of Electra (deeper state gindices from here).
    pub electra_epoch: u64,
}

impl BeaconNetwork {
    /// Ethereum mainnet.
    pub fn mainnet() -> Self {
        Self {
            genesis_validators_root: alloy_primitives::b256!(
                "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
            ),
            forks: vec![
                (0, [0, 0, 0, 0]),
                (74_240, [1, 0, 0, 0]),
                (144_896, [2, 0, 0, 0]),
                (194_048, [3, 0, 0, 0]),
                (269_568, [4, 0, 0, 0]),
                (364_032, [5, 0, 0, 0]),
                (411_392, [6, 0, 0, 0]),
            ],
            capella_epoch: 194_048,
            electra_epoch: 364_032,
        }
    }

    /// The fork version active at `epoch`.
    pub fn fork_version(&self, epoch: u64) -> [u8; 4] {
        self.forks
            .iter()
            .rev()
            .find(|(e, _)| *e <= epoch)
            .map(|(_, v)| *v)
            .unwrap_or([0; 4])
    }

    /// `compute_domain(DOMAIN_SYNC_COMMITTEE, fork_version, genesis_validators_root)`.
    pub fn sync_committee_domain(&self, fork_version: [u8; 4]) -> Chunk {
        let mut version = [0u8; 32];
        version[..4].copy_from_slice(&fork_version);
        let fork_data_root = hash_pair(&version, &self.genesis_validators_root.0);
        let mut domain = [0u8; 32];
        domain[..4].copy_from_slice(&DOMAIN_SYNC_COMMITTEE);
        domain[4..].copy_from_slice(&fork_data_root[..28]);
        domain
    }

    fn gindices(&self, slot: u64) -> Gindices {
        if slot / SLOTS_PER_EPOCH >= self.electra_epoch {
            Gindices {
                finalized_root: 169,
                current_sync_committee: 86,
                next_sync_committee: 87,
            }
        } else {
            Gindices {
                finalized_root: 105,
                current_sync_committee: 54,
                next_sync_committee: 55,
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Gindices {
    finalized_root: u64,
    current_sync_committee: u64,
    next_sync_committee: u64,
}

/// Execution payload header gindex in the beacon block body.
const EXECUTION_PAYLOAD_GINDEX: u64 = 25;

fn depth_and_index(gindex: u64) -> (usize, u64) {
    let depth = 63 - gindex.leading_zeros() as usize;
    (depth, gindex - (1 << depth))
}

/// Sync-committee period of `slot`.
pub fn period(slot: u64) -> u64 {
    slot / SLOTS_PER_EPOCH / EPOCHS_PER_SYNC_COMMITTEE_PERIOD
}

/// A beacon block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeaconHeader {
    /// Slot.
    pub slot: u64,
    /// Proposer index.
    pub proposer_index: u64,
    /// Parent root.
    pub parent_root: B256,
    /// State root.
    pub state_root: B256,
    /// Body root.
    pub body_root: B256,
}

impl BeaconHeader {
    /// `hash_tree_root`.
    pub fn root(&self) -> B256 {
        B256::from(merkleize(
            &[
                u64_leaf(self.slot),
                u64_leaf(self.proposer_index),
                self.parent_root.0,
                self.state_root.0,
                self.body_root.0,
            ],
            8,
        ))
    }
}

/// The execution block a light-client header commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionHeader {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// `hash_tree_root(ExecutionPayloadHeader)`.
    pub root: B256,
}

/// A verified-shape light-client header (beacon header + execution payload header + branch).
#[derive(Clone, Debug)]
pub struct LcHeader {
    /// Beacon block header.
    pub beacon: BeaconHeader,
    /// Execution payload header summary.
    pub execution: ExecutionHeader,
    execution_branch: Vec<Chunk>,
}

impl LcHeader {
    /// Whether the execution payload header is proven into the body root.
    fn execution_valid(&self) -> bool {
        let (depth, index) = depth_and_index(EXECUTION_PAYLOAD_GINDEX);
        self.execution_branch.len() == depth
            && is_valid_merkle_branch(
                &self.execution.root.0,
                &self.execution_branch,
                index,
                &self.beacon.body_root.0,
            )
    }
}

/// A sync committee with its keys decompressed and validated.
#[derive(Clone, Debug)]
pub struct SyncCommittee {
    pubkeys: Vec<PublicKey>,
    root: B256,
}

/// What a verified finality update yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizedAnchor {
    /// Finalized beacon slot.
    pub slot: u64,
    /// Finalized beacon block root.
    pub beacon_root: B256,
    /// Its execution block.
    pub execution: ExecutionHeader,
    /// Sync-committee members that signed.
    pub participants: usize,
}

// ---------------------------------------------------------------- JSON parsing

fn b256_field(obj: &Value, name: &str) -> ParseResult<B256> {
    b256_hex(str_field(obj, name)?, name)
}

fn chunks_field(obj: &Value, name: &str) -> ParseResult<Vec<Chunk>> {
    match field(obj, name)? {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => b256_hex(s, &format!("{name}[{i}]")).map(|b| b.0),
                other => Err(ParseError::WrongType {
                    field: format!("{name}[{i}]"),
                    expected: "a hex string",
                    got: type_name(other),
                }),
            })
            .collect(),
        other => Err(ParseError::WrongType {
            field: name.to_string(),
            expected: "an array",
            got: type_name(other),
        }),
    }
}

fn parse_beacon_header(v: &Value) -> ParseResult<BeaconHeader> {
    Ok(BeaconHeader {
        slot: u64_field(v, "slot")?,
        proposer_index: u64_field(v, "proposer_index")?,
        parent_root: b256_field(v, "parent_root")?,
        state_root: b256_field(v, "state_root")?,
        body_root: b256_field(v, "body_root")?,
    })
}

/// `hash_tree_root(ExecutionPayloadHeader)` from its beacon-API JSON (Capella: 15 fields;
/// Deneb and later: 17 with the blob gas fields).
fn parse_execution(v: &Value) -> ParseResult<ExecutionHeader> {
    let parse_u256 = |name: &str| -> ParseResult<U256> {
        let s = str_field(v, name)?;
        U256::from_str_radix(s, 10).map_err(|source| ParseError::NotU256 {
            field: name.to_string(),
            value: s.to_string(),
            source,
        })
    };
    let block_number = u64_field(v, "block_number")?;
    let block_hash = b256_field(v, "block_hash")?;
    let timestamp = u64_field(v, "timestamp")?;
    let mut leaves = vec![
        b256_field(v, "parent_hash")?.0,
        byte_vector_root(&hex_bytes(
            str_field(v, "fee_recipient")?,
            "fee_recipient",
            Some(20),
        )?),
        b256_field(v, "state_root")?.0,
        b256_field(v, "receipts_root")?.0,
        byte_vector_root(&hex_bytes(
            str_field(v, "logs_bloom")?,
            "logs_bloom",
            Some(256),
        )?),
        b256_field(v, "prev_randao")?.0,
        u64_leaf(block_number),
        u64_leaf(u64_field(v, "gas_limit")?),
        u64_leaf(u64_field(v, "gas_used")?),
        u64_leaf(timestamp),
        {
            let extra = hex_bytes(str_field(v, "extra_data")?, "extra_data", None)?;
            if extra.len() > 32 {
                return Err(ParseError::TooLong {
                    field: "extra_data".to_string(),
                    max: 32,
                    got: extra.len(),
                });
            }
            byte_list_root(&extra, 32)
        },
        parse_u256("base_fee_per_gas")?.to_le_bytes::<32>(),
        block_hash.0,
        b256_field(v, "transactions_root")?.0,
        b256_field(v, "withdrawals_root")?.0,
    ];
    if v.get("blob_gas_used").is_some() || v.get("excess_blob_gas").is_some() {
        leaves.push(u64_leaf(u64_field(v, "blob_gas_used")?));
        leaves.push(u64_leaf(u64_field(v, "excess_blob_gas")?));
    }
    let root = B256::from(merkleize(&leaves, leaves.len()));
    Ok(ExecutionHeader {
        block_number,
        block_hash,
        timestamp,
        root,
    })
}

fn parse_lc_header(v: &Value, name: &str) -> ParseResult<LcHeader> {
    let ctx = |e: ParseError| e.at(name);
    let beacon = parse_beacon_header(field(v, "beacon").map_err(ctx)?).map_err(ctx)?;
    let execution = parse_execution(field(v, "execution").map_err(|e| {
        e.at(name)
            .note("light-client headers before Capella are not supported")
    })?)
    .map_err(|e| e.at(format!("{name}.execution")))?;
    let execution_branch = chunks_field(v, "execution_branch").map_err(ctx)?;
    Ok(LcHeader {
        beacon,
        execution,
        execution_branch,
    })
}

fn parse_committee(v: &Value, name: &str) -> ParseResult<SyncCommittee> {
    let keys = match field(v, "pubkeys").map_err(|e| e.at(name))? {
        Value::Array(a) => a,
        other => {
            return Err(ParseError::WrongDocument {
                expected: "an array",
                got: type_name(other),
            }
            .at(format!("{name}.pubkeys")));
        }
    };
    if keys.len() != SYNC_COMMITTEE_SIZE {
        return Err(ParseError::Count {
            field: format!("{name}.pubkeys"),
            expected: SYNC_COMMITTEE_SIZE,
            got: keys.len(),
        });
    }
    let mut raw = Vec::with_capacity(SYNC_COMMITTEE_SIZE);
    let mut pubkeys = Vec::with_capacity(SYNC_COMMITTEE_SIZE);
    for (i, k) in keys.iter().enumerate() {
        let s = k.as_str().ok_or_else(|| ParseError::WrongType {
            field: format!("{name}.pubkeys[{i}]"),
            expected: "a hex string",
            got: type_name(k),
        })?;
        let bytes = hex_bytes(s, &format!("{name}.pubkeys[{i}]"), Some(48))?;
        let pk = PublicKey::key_validate(&bytes).map_err(|code| ParseError::BlsKey {
            field: format!("{name}.pubkeys[{i}]"),
            code,
        })?;
        raw.push(byte_vector_root(&bytes));
        pubkeys.push(pk);
    }
    let agg = hex_bytes(
        str_field(v, "aggregate_pubkey").map_err(|e| e.at(name))?,
        "aggregate_pubkey",
        Some(48),
    )?;
    let root = B256::from(hash_pair(
        &merkleize(&raw, SYNC_COMMITTEE_SIZE),
        &byte_vector_root(&agg),
    ));
    Ok(SyncCommittee { pubkeys, root })
}

/// The `data` object of a beacon-API light-client response (`{"version", "data"}`), or the
/// object itself when it has no envelope.
pub fn data_of(v: &Value) -> &Value {
    v.get("data").unwrap_or(v)
}

// ---------------------------------------------------------------- the light client

/// Why the light client refused a bootstrap or an update. Either way the beacon node served
/// it: the class is [`FaultClass::Peer`] (refuse it, never retry it into acceptance).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LightClientError {
    /// The JSON does not have the shape the beacon API defines (a field missing, of the
    /// wrong type or length).
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// The data parses but does not verify (trusted root, Merkle branch, participation,
    /// signature, slot or period).
    #[error(transparent)]
    Unverified(#[from] Unverified),
}

/// Which light-client check a bootstrap or an update failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// The bootstrap header is not the block root the operator trusts.
    #[error("bootstrap header root {root} is not the trusted block root {trusted}")]
    UntrustedBootstrap {
        /// The bootstrap header's root.
        root: B256,
        /// The trusted root.
        trusted: B256,
    },
    /// A header's execution payload branch does not prove it into the beacon body.
    #[error("{header} header: execution payload branch does not verify")]
    ExecutionBranch {
        /// Which header (`bootstrap`, `attested`, `finalized`).
        header: &'static str,
    },
    /// The bootstrap committee branch does not verify.
    #[error(
        "bootstrap: current_sync_committee_branch does not prove the committee into the header's state root"
    )]
    CurrentCommitteeBranch,
    /// Nobody signed.
    #[error("no sync-committee participants")]
    NoParticipants,
    /// Fewer than two thirds signed.
    #[error(
        "only {participants} of {SYNC_COMMITTEE_SIZE} sync-committee members signed; a 2/3 supermajority is required"
    )]
    NoSupermajority {
        /// Members that signed.
        participants: usize,
    },
    /// The signature slot is not after the attested slot.
    #[error("signature slot {signature_slot} is not after the attested slot {attested_slot}")]
    SignatureSlot {
        /// The signature slot.
        signature_slot: u64,
        /// The attested slot.
        attested_slot: u64,
    },
    /// The finalized header is newer than the attested one.
    #[error("finalized slot {finalized_slot} is after the attested slot {attested_slot}")]
    FinalizedAfterAttested {
        /// The finalized slot.
        finalized_slot: u64,
        /// The attested slot.
        attested_slot: u64,
    },
    /// Signed in the next period, whose committee is not known yet.
    #[error(
        "signed in period {signature_period} but only the committee of period {store_period} is known"
    )]
    NextCommitteeUnknown {
        /// The signature's period.
        signature_period: u64,
        /// The store's period.
        store_period: u64,
    },
    /// Signed in a period the store cannot verify.
    #[error("signed in period {signature_period}, the light client is in period {store_period}")]
    SignaturePeriod {
        /// The signature's period.
        signature_period: u64,
        /// The store's period.
        store_period: u64,
    },
    /// The finality branch does not verify.
    #[error("finality_branch does not prove the finalized header into the attested state root")]
    FinalityBranch,
    /// The next-committee branch does not verify.
    #[error("next_sync_committee_branch does not prove the committee into the attested state root")]
    NextCommitteeBranch,
    /// The aggregate signature is not a BLS signature.
    #[error("sync_committee_signature is not a valid BLS signature ({code:?})")]
    SignatureEncoding {
        /// The BLS library's error code.
        code: BLST_ERROR,
    },
    /// The aggregate signature does not verify.
    #[error(
        "sync-committee BLS signature does not verify ({code:?}) for the attested header at slot {attested_slot}"
    )]
    Signature {
        /// The BLS library's error code.
        code: BLST_ERROR,
        /// The attested slot.
        attested_slot: u64,
    },
    /// An update without the part it must carry.
    #[error("{update} has no {part}")]
    Missing {
        /// Which update (`update`, `finality update`).
        update: &'static str,
        /// The missing part.
        part: &'static str,
    },
    /// An update for a period the store cannot take without the next committee.
    #[error(
        "update finalizes period {update_period} but the store is in {store_period} and does not know the next committee"
    )]
    UpdatePeriod {
        /// The update's period.
        update_period: u64,
        /// The store's period.
        store_period: u64,
    },
    /// A finalized header in the next period while the next committee is unknown.
    #[error("finalized header is in period {update_period} but the next committee is unknown")]
    FinalizedNextUnknown {
        /// The finalized header's period.
        update_period: u64,
    },
    /// A finalized header in a period the store is not in.
    #[error(
        "finalized header is in period {update_period}, the light client is in period {store_period}"
    )]
    FinalizedPeriod {
        /// The finalized header's period.
        update_period: u64,
        /// The store's period.
        store_period: u64,
    },
}

impl Fault for Unverified {
    /// The beacon node served data that does not verify.
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

impl Fault for LightClientError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Malformed(_) | Self::Unverified(_) => FaultClass::Peer,
        }
    }
}

/// A light-client store: the newest verified finalized header and the trusted committees.
#[derive(Clone, Debug)]
pub struct LightClient {
    network: BeaconNetwork,
    finalized: LcHeader,
    current: SyncCommittee,
    next: Option<SyncCommittee>,
}

struct Update {
    attested: LcHeader,
    finalized: Option<(LcHeader, Vec<Chunk>)>,
    next_committee: Option<(SyncCommittee, Vec<Chunk>)>,
    bits: Vec<bool>,
    signature: Vec<u8>,
    signature_slot: u64,
}

fn parse_update(v: &Value) -> ParseResult<Update> {
    let d = data_of(v);
    let attested = parse_lc_header(field(d, "attested_header")?, "attested_header")?;
    let finalized = match d.get("finalized_header") {
        None | Some(Value::Null) => None,
        Some(h) => Some((
            parse_lc_header(h, "finalized_header")?,
            chunks_field(d, "finality_branch")?,
        )),
    };
    let next_committee = match d.get("next_sync_committee") {
        None | Some(Value::Null) => None,
        Some(c) => Some((
            parse_committee(c, "next_sync_committee")?,
            chunks_field(d, "next_sync_committee_branch")?,
        )),
    };
    let agg = field(d, "sync_aggregate")?;
    let bits_raw = hex_bytes(
        str_field(agg, "sync_committee_bits")?,
        "sync_committee_bits",
        Some(SYNC_COMMITTEE_SIZE / 8),
    )?;
    let bits = (0..SYNC_COMMITTEE_SIZE)
        .map(|i| (bits_raw[i / 8] >> (i % 8)) & 1 == 1)
        .collect();
    let signature = hex_bytes(
        str_field(agg, "sync_committee_signature")?,
        "sync_committee_signature",
        Some(96),
    )?;
    Ok(Update {
        attested,
        finalized,
        next_committee,
        bits,
        signature,
        signature_slot: u64_field(d, "signature_slot")?,
    })
}

impl LightClient {
    /// Verifies a `LightClientBootstrap` (beacon-API JSON) against the trusted block root.
    pub fn bootstrap(
        network: BeaconNetwork,
        trusted_root: B256,
        bootstrap: &Value,
    ) -> Result<Self, LightClientError> {
        let d = data_of(bootstrap);
        let header = parse_lc_header(field(d, "header")?, "header")?;
        let root = header.beacon.root();
        if root != trusted_root {
            return Err(Unverified::UntrustedBootstrap {
                root,
                trusted: trusted_root,
            }
            .into());
        }
        if !header.execution_valid() {
            return Err(Unverified::ExecutionBranch {
                header: "bootstrap",
            }
            .into());
        }
        let current = parse_committee(
            field(d, "current_sync_committee")?,
            "current_sync_committee",
        )?;
        let branch = chunks_field(d, "current_sync_committee_branch")?;
        let (depth, index) =
            depth_and_index(network.gindices(header.beacon.slot).current_sync_committee);
        if branch.len() != depth
            || !is_valid_merkle_branch(&current.root.0, &branch, index, &header.beacon.state_root.0)
        {
            return Err(Unverified::CurrentCommitteeBranch.into());
        }
        Ok(Self {
            network,
            finalized: header,
            current,
            next: None,
        })
    }

    /// The newest verified finalized header's anchor.
    pub fn finalized(&self) -> FinalizedAnchor {
        FinalizedAnchor {
            slot: self.finalized.beacon.slot,
            beacon_root: self.finalized.beacon.root(),
            execution: self.finalized.execution.clone(),
            participants: 0,
        }
    }

    /// The sync-committee period of the store.
    pub fn period(&self) -> u64 {
        period(self.finalized.beacon.slot)
    }

    /// Whether the next sync committee is known.
    pub fn knows_next_committee(&self) -> bool {
        self.next.is_some()
    }

    /// Verifies an update (signature, branches, slots, periods); returns the participant count.
    fn verify(&self, u: &Update) -> Result<usize, LightClientError> {
        let participants = u.bits.iter().filter(|b| **b).count();
        if participants == 0 {
            return Err(Unverified::NoParticipants.into());
        }
        if participants * 3 < SYNC_COMMITTEE_SIZE * 2 {
            return Err(Unverified::NoSupermajority { participants }.into());
        }
        let attested_slot = u.attested.beacon.slot;
        if u.signature_slot <= attested_slot {
            return Err(Unverified::SignatureSlot {
                signature_slot: u.signature_slot,
                attested_slot,
            }
            .into());
        }
        if let Some((f, _)) = &u.finalized
            && f.beacon.slot > attested_slot
        {
            return Err(Unverified::FinalizedAfterAttested {
                finalized_slot: f.beacon.slot,
                attested_slot,
            }
            .into());
        }
        let store_period = self.period();
        let sig_period = period(u.signature_slot);
        let committee = if sig_period == store_period {
            &self.current
        } else if sig_period == store_period + 1 {
            self.next.as_ref().ok_or(Unverified::NextCommitteeUnknown {
                signature_period: sig_period,
                store_period,
            })?
        } else {
            return Err(Unverified::SignaturePeriod {
                signature_period: sig_period,
                store_period,
            }
            .into());
        };
        if !u.attested.execution_valid() {
            return Err(Unverified::ExecutionBranch { header: "attested" }.into());
        }
        let g = self.network.gindices(attested_slot);
        if let Some((f, branch)) = &u.finalized {
            if !f.execution_valid() {
                return Err(Unverified::ExecutionBranch {
                    header: "finalized",
                }
                .into());
            }
            let (depth, index) = depth_and_index(g.finalized_root);
            if branch.len() != depth
                || !is_valid_merkle_branch(
                    &f.beacon.root().0,
                    branch,
                    index,
                    &u.attested.beacon.state_root.0,
                )
            {
                return Err(Unverified::FinalityBranch.into());
            }
        }
        if let Some((c, branch)) = &u.next_committee {
            let (depth, index) = depth_and_index(g.next_sync_committee);
            if branch.len() != depth
                || !is_valid_merkle_branch(
                    &c.root.0,
                    branch,
                    index,
                    &u.attested.beacon.state_root.0,
                )
            {
                return Err(Unverified::NextCommitteeBranch.into());
            }
        }
        // BLS: FastAggregateVerify(participant keys, signing_root(attested header), signature).
        let fork_version = self
            .network
            .fork_version(u.signature_slot.max(1).saturating_sub(1) / SLOTS_PER_EPOCH);
        let domain = self.network.sync_committee_domain(fork_version);
        let signing_root = hash_pair(&u.attested.beacon.root().0, &domain);
        let keys: Vec<&PublicKey> = committee
            .pubkeys
            .iter()
            .zip(&u.bits)
            .filter(|(_, b)| **b)
            .map(|(k, _)| k)
            .collect();
        let sig = Signature::sig_validate(&u.signature, true)
            .map_err(|code| Unverified::SignatureEncoding { code })?;
        match sig.fast_aggregate_verify(true, &signing_root, BLS_DST, &keys) {
            BLST_ERROR::BLST_SUCCESS => Ok(participants),
            code => Err(Unverified::Signature {
                code,
                attested_slot,
            }
            .into()),
        }
    }

    /// Applies a `LightClientUpdate` (with a next sync committee): verified, then the next
    /// committee is learnt and the store rotates into a new period when the update's finalized
    /// header is in it.
    pub fn apply_update(&mut self, update: &Value) -> Result<(), LightClientError> {
        let u = parse_update(update)?;
        self.verify(&u)?;
        let Some((next, _)) = u.next_committee else {
            return Err(Unverified::Missing {
                update: "update",
                part: "next_sync_committee",
            }
            .into());
        };
        let Some((finalized, _)) = u.finalized else {
            return Err(Unverified::Missing {
                update: "update",
                part: "finalized_header",
            }
            .into());
        };
        let store_period = self.period();
        let update_period = period(finalized.beacon.slot);
        if self.next.is_none() {
            if update_period != store_period {
                return Err(Unverified::UpdatePeriod {
                    update_period,
                    store_period,
                }
                .into());
            }
            self.next = Some(next);
        } else if update_period == store_period + 1 {
            self.current = self.next.take().expect("known");
            self.next = Some(next);
        }
        if finalized.beacon.slot > self.finalized.beacon.slot {
            self.finalized = finalized;
        }
        Ok(())
    }

    /// Verifies a `LightClientFinalityUpdate` and advances the finalized header; returns the
    /// (new or unchanged) finalized anchor.
    pub fn apply_finality_update(
        &mut self,
        update: &Value,
    ) -> Result<FinalizedAnchor, LightClientError> {
        let u = parse_update(update)?;
        let participants = self.verify(&u)?;
        let Some((finalized, _)) = u.finalized else {
            return Err(Unverified::Missing {
                update: "finality update",
                part: "finalized_header",
            }
            .into());
        };
        let update_period = period(finalized.beacon.slot);
        let store_period = self.period();
        if update_period == store_period + 1 {
            let Some(next) = self.next.take() else {
                return Err(Unverified::FinalizedNextUnknown { update_period }.into());
            };
            self.current = next;
        } else if update_period != store_period
            && finalized.beacon.slot > self.finalized.beacon.slot
        {
            return Err(Unverified::FinalizedPeriod {
                update_period,
                store_period,
            }
            .into());
        }
        if finalized.beacon.slot > self.finalized.beacon.slot {
            self.finalized = finalized;
        }
        let mut anchor = self.finalized();
        anchor.participants = participants;
        Ok(anchor)
    }

    /// Verifies a `LightClientOptimisticUpdate`; returns the attested execution block.
    pub fn verify_optimistic_update(
        &self,
        update: &Value,
    ) -> Result<(ExecutionHeader, usize), LightClientError> {
        let u = parse_update(update)?;
        let n = self.verify(&u)?;
        Ok((u.attested.execution, n))
    }
}

// ---------------------------------------------------------------- the source

/// A beacon node, verified with the light-client protocol.
#[derive(Debug)]
pub struct BeaconSource {
    rest: RestClient,
    trusted_root: B256,
    network: BeaconNetwork,
    retry: RetryPolicy,
    state: tokio::sync::Mutex<Option<LightClient>>,
}

impl BeaconSource {
    /// A source over the beacon API at `url`, bootstrapping from `trusted_root`.
    pub fn new(
        url: &str,
        trusted_root: B256,
        network: BeaconNetwork,
        timeout: Duration,
    ) -> SourceResult<Self> {
        Ok(Self {
            rest: RestClient::new(url, format!("beacon {}", redact_url(url)), timeout)?,
            trusted_root,
            network,
            retry: RetryPolicy::default(),
            state: tokio::sync::Mutex::new(None),
        })
    }

    /// Per-request retry policy for transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn invalid(&self, what: &str, m: impl std::fmt::Display) -> SourceError {
        SourceError::invalid(self.rest.origin(), format!("{what}: {m}"))
    }

    async fn get(&self, path: &str) -> SourceResult<Value> {
        retry(&self.retry, || self.rest.get_json(path)).await
    }

    /// Bootstraps (once), follows sync-committee periods and verifies the newest finality
    /// update; returns the verified finalized anchor.
    pub async fn sync(&self) -> SourceResult<FinalizedAnchor> {
        let mut guard = self.state.lock().await;
        if guard.is_none() {
            let path = format!(
                "/eth/v1/beacon/light_client/bootstrap/{}",
                self.trusted_root
            );
            let body = self.get(&path).await?;
            let lc = LightClient::bootstrap(self.network.clone(), self.trusted_root, &body)
                .map_err(|e| self.invalid("light-client bootstrap", e.to_string()))?;
            tracing::info!(slot = lc.finalized.beacon.slot, root = %self.trusted_root, "beacon light client bootstrapped");
            *guard = Some(lc);
        }
        let lc = guard.as_mut().expect("bootstrapped");
        let fin_path = "/eth/v1/beacon/light_client/finality_update";
        let fin = self.get(fin_path).await?;
        let sig_slot = u64_field(data_of(&fin), "signature_slot")
            .map_err(|m| self.invalid("finality update", m))?;
        let target_period = period(sig_slot);
        // Learn the committees up to the signature's period: update `p` carries the committee
        // of period `p + 1`.
        if target_period > lc.period() {
            let start = lc.period();
            let count = (target_period - start).min(MAX_UPDATES);
            let path =
                format!("/eth/v1/beacon/light_client/updates?start_period={start}&count={count}");
            let body = self.get(&path).await?;
            let Value::Array(updates) = &body else {
                return Err(self.invalid(
                    "light-client updates",
                    format!("expected an array, got {}", type_name(&body)),
                ));
            };
            for (i, u) in updates.iter().enumerate() {
                lc.apply_update(u).map_err(|e| {
                    self.invalid(&format!("light-client update {i}"), e.to_string())
                })?;
            }
        }
        let previous = lc.finalized.beacon.slot;
        let anchor = lc
            .apply_finality_update(&fin)
            .map_err(|e| self.invalid("light-client finality update", e.to_string()))?;
        if anchor.slot > previous {
            tracing::info!(slot = anchor.slot, block = anchor.execution.block_number, hash = %anchor.execution.block_hash, participants = anchor.participants, "beacon finality verified");
        }
        Ok(anchor)
    }

    fn checkpoint(a: &FinalizedAnchor) -> Checkpoint {
        let mut cp = block_anchor(
            SourceKind::Beacon,
            a.execution.block_number,
            a.execution.block_hash,
        );
        cp.created_at = Some(a.execution.timestamp);
        cp
    }
}

#[async_trait::async_trait]
impl CheckpointSource for BeaconSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Beacon
    }

    fn name(&self) -> String {
        self.rest.origin().to_string()
    }

    async fn latest(&self) -> SourceResult<Checkpoint> {
        Ok(Self::checkpoint(&self.sync().await?))
    }

    /// Only the newest verified finalized block is known: `id` must be its block number.
    async fn by_id(&self, id: u64) -> SourceResult<Checkpoint> {
        let a = self.sync().await?;
        if a.execution.block_number == id {
            return Ok(Self::checkpoint(&a));
        }
        Err(SourceError::not_found(
            self.rest.origin(),
            format!(
                "the light client only vouches for its newest finalized block {} (asked for {id})",
                a.execution.block_number
            ),
        ))
    }
}

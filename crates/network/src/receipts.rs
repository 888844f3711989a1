//! eth/70 (EIP-7975) partial receipts, client side: reassembling a block's receipt list
//! across several `Receipts` responses, and the checks applied to a list that is still
//! incomplete (it cannot be checked against the receipts root yet).
//!
//! Where this lives: the reassembly is driven by [`crate::session::SessionHandle`]'s
//! `get_receipts_with`, because a continuation must go to the *same* peer (only it knows
//! where it cut the list) and must be bounded per request. The downloader
//! ([`crate::fetch`]) knows the headers, so it passes one [`ReceiptLimits`] per requested
//! block (gas used from the header, and the transaction count where the body is known);
//! through [`crate::fetch::Requester::receipts`] and the pool these reach the session. The
//! downloader then checks the *reassembled* list against the receipts root exactly as for
//! eth/68 and eth/69. A check failing here is a [`PartialReceiptsError`], a fault of the
//! peer: the pool scores it and retries the request with another peer.
//!
//! The state machine ([`Reassembly`]) is pure (no I/O) so every rule is unit-tested.

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};

use hypasis_primitives::rlp::{Items, decode_exact, list_payload};

/// The smallest gas a transaction can use: receipts in a block are at most `gasUsed / 21000`
/// (geth's client check in `eth/protocols/eth/handlers.go`, `validateLastBlockReceipt`,
/// before Amsterdam).
pub const MIN_TX_GAS: u64 = 21_000;

/// LOG data costs 8 gas per byte, so a block's log bytes are at most `gasUsed / 8` (geth's
/// `params.LogDataGas`, used by the same check).
pub const LOG_DATA_GAS: u64 = 8;

/// At most this many responses may leave the same block incomplete. An honest server cuts a
/// list only near the message size (geth at 10 MiB, reth at 2 MiB, see EIP-7975), and a
/// block's log data is bounded by `gasUsed / 8`, so a handful of rounds always suffice.
pub const MAX_PARTIAL_ROUNDS: u32 = 32;

/// What is known about a requested block that bounds its receipt list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiptLimits {
    /// The header's gas used.
    pub gas_used: u64,
    /// The number of transactions, if the body is known.
    pub tx_count: Option<u64>,
}

impl ReceiptLimits {
    /// The bounds a header gives (transaction count unknown).
    pub fn from_header(header: &Header) -> Self {
        Self {
            gas_used: header.gas_used,
            tx_count: None,
        }
    }

    /// With the transaction count of the block's body.
    pub fn with_tx_count(self, tx_count: u64) -> Self {
        Self {
            tx_count: Some(tx_count),
            ..self
        }
    }

    /// The most receipts the block can have.
    pub fn max_receipts(&self) -> u64 {
        self.tx_count.unwrap_or(self.gas_used / MIN_TX_GAS)
    }
}

/// Why a peer's partial receipts are refused. All are faults of the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartialReceiptsError {
    /// More receipts than the block can have (transactions, or `gasUsed / 21000`).
    #[error("block {index} of the request: {count} receipts, the block has at most {max}")]
    TooManyReceipts {
        /// Position of the block in the original request.
        index: usize,
        /// Receipts delivered so far.
        count: u64,
        /// The bound.
        max: u64,
    },
    /// The list is marked incomplete although it already holds every receipt the block can
    /// have.
    #[error("block {index} of the request: marked incomplete with all {count} receipts")]
    IncompleteWhenFull {
        /// Position of the block in the original request.
        index: usize,
        /// Receipts delivered.
        count: u64,
    },
    /// A continuation added nothing to the incomplete block.
    #[error("block {index} of the request: continuation added no receipt")]
    NoProgress {
        /// Position of the block in the original request.
        index: usize,
    },
    /// The block was left incomplete too many times.
    #[error("block {index} of the request: still incomplete after {rounds} responses")]
    TooManyRounds {
        /// Position of the block in the original request.
        index: usize,
        /// Responses that left it incomplete.
        rounds: u32,
    },
    /// The log data exceeds what the block's gas can pay for.
    #[error("block {index} of the request: {bytes} bytes of logs, gas used allows {max}")]
    LogsTooLarge {
        /// Position of the block in the original request.
        index: usize,
        /// Log bytes delivered so far.
        bytes: u64,
        /// `gasUsed / 8`.
        max: u64,
    },
    /// A receipt's cumulative gas goes backwards or beyond the header's gas used.
    #[error(
        "block {index} of the request: receipt {receipt} cumulative gas {cumulative} out of order or above gas used {gas_used}"
    )]
    BadCumulativeGas {
        /// Position of the block in the original request.
        index: usize,
        /// Position of the receipt in the block.
        receipt: usize,
        /// Its cumulative gas.
        cumulative: u64,
        /// The header's gas used.
        gas_used: u64,
    },
    /// A receipt of the incomplete list is not a well-formed consensus receipt.
    #[error("block {index} of the request: malformed receipt {receipt}")]
    Malformed {
        /// Position of the block in the original request.
        index: usize,
        /// Position of the receipt in the block.
        receipt: usize,
    },
    /// A continuation of an incomplete block was answered with nothing.
    #[error("block {index} of the request: the continuation was answered empty")]
    Abandoned {
        /// Position of the block in the original request.
        index: usize,
    },
    /// More block lists than requested.
    #[error("{got} receipt lists for {requested} requested blocks")]
    TooManyLists {
        /// Lists received.
        got: usize,
        /// Blocks requested.
        requested: usize,
    },
}

/// The next thing to do after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The answer: complete receipt lists for a prefix of the requested blocks.
    Done(Vec<Vec<Bytes>>),
    /// Ask the same peer again for `hashes` (the incomplete block first), omitting the first
    /// `first_block_receipt_index` receipts of the first block.
    Continue {
        /// Blocks still wanted, from the incomplete one on.
        hashes: Vec<B256>,
        /// Receipts of the first block already held.
        first_block_receipt_index: u64,
    },
}

/// The incomplete last block of the answer so far.
#[derive(Debug, Default)]
struct Partial {
    receipts: Vec<Bytes>,
    rounds: u32,
    log_bytes: u64,
    last_cumulative: u64,
}

/// Reassembles one `GetReceipts` request's answer across eth/70 continuations.
#[derive(Debug)]
pub struct Reassembly {
    hashes: Vec<B256>,
    limits: Vec<ReceiptLimits>,
    done: Vec<Vec<Bytes>>,
    partial: Option<Partial>,
}

impl Reassembly {
    /// A request for `hashes`; `limits[i]` bounds block `i` (blocks without an entry are
    /// bounded only by [`MAX_PARTIAL_ROUNDS`] and the message size).
    pub fn new(hashes: Vec<B256>, limits: Vec<ReceiptLimits>) -> Self {
        Self {
            hashes,
            limits,
            done: Vec::new(),
            partial: None,
        }
    }

    /// The hashes of the first request.
    pub fn hashes(&self) -> &[B256] {
        &self.hashes
    }

    /// Blocks the next response may cover at most.
    pub fn remaining(&self) -> usize {
        self.hashes.len() - self.done.len()
    }

    /// Takes one response (`lists` for the blocks asked last, `incomplete` = EIP-7975
    /// `lastBlockIncomplete`).
    pub fn on_response(
        &mut self,
        lists: Vec<Vec<Bytes>>,
        incomplete: bool,
    ) -> Result<Step, PartialReceiptsError> {
        let requested = self.remaining();
        if lists.len() > requested {
            return Err(PartialReceiptsError::TooManyLists {
                got: lists.len(),
                requested,
            });
        }
        let n = lists.len();
        let continued = self.partial.take();
        if n == 0 {
            if continued.is_some() {
                return Err(PartialReceiptsError::Abandoned {
                    index: self.done.len(),
                });
            }
            return Ok(Step::Done(std::mem::take(&mut self.done)));
        }
        let mut continued = continued;
        for (k, list) in lists.into_iter().enumerate() {
            let index = self.done.len();
            let mut state = continued.take().unwrap_or_default();
            let before = state.receipts.len();
            let last = k + 1 == n;
            if last && incomplete {
                if before > 0 && list.is_empty() {
                    return Err(PartialReceiptsError::NoProgress { index });
                }
                self.check_partial(index, &mut state, &list)?;
                state.receipts.extend(list);
                state.rounds += 1;
                if state.rounds > MAX_PARTIAL_ROUNDS {
                    return Err(PartialReceiptsError::TooManyRounds {
                        index,
                        rounds: state.rounds,
                    });
                }
                let first_block_receipt_index = state.receipts.len() as u64;
                self.partial = Some(state);
                return Ok(Step::Continue {
                    hashes: self.hashes[index..].to_vec(),
                    first_block_receipt_index,
                });
            }
            let mut receipts = state.receipts;
            receipts.extend(list);
            self.done.push(receipts);
        }
        Ok(Step::Done(std::mem::take(&mut self.done)))
    }

    /// EIP-7975's checks on a list that stays incomplete (`new` is appended to `state`).
    fn check_partial(
        &self,
        index: usize,
        state: &mut Partial,
        new: &[Bytes],
    ) -> Result<(), PartialReceiptsError> {
        let limits = self.limits.get(index).copied();
        let count = (state.receipts.len() + new.len()) as u64;
        let mut log_bytes = state.log_bytes;
        let mut last = state.last_cumulative;
        for (j, r) in new.iter().enumerate() {
            let receipt = state.receipts.len() + j;
            let (cumulative, logs) = receipt_gas_and_logs(r)
                .ok_or(PartialReceiptsError::Malformed { index, receipt })?;
            if let Some(l) = limits
                && (cumulative < last || cumulative > l.gas_used)
            {
                return Err(PartialReceiptsError::BadCumulativeGas {
                    index,
                    receipt,
                    cumulative,
                    gas_used: l.gas_used,
                });
            }
            last = cumulative;
            log_bytes = log_bytes.saturating_add(logs);
        }
        if let Some(l) = limits {
            let max = l.max_receipts();
            if count > max {
                return Err(PartialReceiptsError::TooManyReceipts { index, count, max });
            }
            if count == max {
                return Err(PartialReceiptsError::IncompleteWhenFull { index, count });
            }
            let max_logs = l.gas_used / LOG_DATA_GAS;
            if log_bytes > max_logs {
                return Err(PartialReceiptsError::LogsTooLarge {
                    index,
                    bytes: log_bytes,
                    max: max_logs,
                });
            }
        }
        state.log_bytes = log_bytes;
        state.last_cumulative = last;
        Ok(())
    }
}

/// Cumulative gas and log-list payload size of a consensus receipt
/// (`[type ‖] rlp([status, cumulativeGas, bloom, logs])`).
fn receipt_gas_and_logs(raw: &[u8]) -> Option<(u64, u64)> {
    let body = match *raw.first()? {
        b if b >= 0xc0 => raw,
        b if b < 0x80 => &raw[1..],
        _ => return None,
    };
    let mut buf = body;
    let mut it = Items::new(list_payload(&mut buf).ok()?);
    it.require_raw().ok()?;
    let gas: u64 = decode_exact(it.require_raw().ok()?).ok()?;
    it.require_raw().ok()?;
    let mut logs = it.require_raw().ok()?;
    let payload = list_payload(&mut logs).ok()?;
    Some((gas, payload.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testchain;

    /// A legacy consensus receipt with one log of `data` bytes (bloom left empty).
    fn receipt(cumulative: u64, data: usize) -> Bytes {
        use alloy_rlp::Encodable;
        use hypasis_primitives::rlp::wrap_list;
        let mut log = Vec::new();
        alloy_primitives::Address::ZERO.encode(&mut log);
        log.extend_from_slice(&wrap_list(&[]));
        Bytes::from(vec![7u8; data]).encode(&mut log);
        let mut p = Vec::new();
        1u8.encode(&mut p);
        cumulative.encode(&mut p);
        alloy_primitives::Bloom::ZERO.encode(&mut p);
        p.extend_from_slice(&wrap_list(&wrap_list(&log)));
        Bytes::from(wrap_list(&p))
    }

    fn setup() -> (Vec<B256>, Vec<Vec<Bytes>>, Vec<ReceiptLimits>) {
        // Blocks 1..=3 of a test chain, 4 transactions each (21000 gas per transaction).
        let blocks = testchain::generate(4, 4, None);
        let blocks = &blocks[1..];
        let headers: Vec<Header> = blocks
            .iter()
            .map(|b| alloy_rlp::Decodable::decode(&mut &b.header[..]).unwrap())
            .collect();
        (
            blocks.iter().map(|b| b.hash).collect(),
            blocks.iter().map(|b| b.receipts.clone()).collect(),
            headers.iter().map(ReceiptLimits::from_header).collect(),
        )
    }

    #[test]
    fn complete_answer_is_done_at_once() {
        let (hashes, lists, limits) = setup();
        let mut r = Reassembly::new(hashes, limits);
        assert_eq!(
            r.on_response(lists.clone(), false).unwrap(),
            Step::Done(lists)
        );
    }

    #[test]
    fn split_lists_are_reassembled() {
        let (hashes, lists, limits) = setup();
        let mut r = Reassembly::new(hashes.clone(), limits);
        // Block 0 whole, block 1 cut after one receipt.
        let step = r
            .on_response(vec![lists[0].clone(), lists[1][..1].to_vec()], true)
            .unwrap();
        assert_eq!(
            step,
            Step::Continue {
                hashes: hashes[1..].to_vec(),
                first_block_receipt_index: 1
            }
        );
        // Two more receipts of block 1, still incomplete.
        let step = r.on_response(vec![lists[1][1..3].to_vec()], true).unwrap();
        assert_eq!(
            step,
            Step::Continue {
                hashes: hashes[1..].to_vec(),
                first_block_receipt_index: 3
            }
        );
        // The tail of block 1 and block 2 whole.
        let step = r
            .on_response(vec![lists[1][3..].to_vec(), lists[2].clone()], false)
            .unwrap();
        assert_eq!(step, Step::Done(lists));
    }

    #[test]
    fn prefix_answers_stay_prefixes() {
        let (hashes, lists, limits) = setup();
        let mut r = Reassembly::new(hashes, limits);
        r.on_response(vec![lists[0][..2].to_vec()], true).unwrap();
        assert_eq!(
            r.on_response(vec![lists[0][2..].to_vec()], false).unwrap(),
            Step::Done(vec![lists[0].clone()])
        );
    }

    #[test]
    fn a_block_kept_incomplete_is_refused() {
        let (hashes, lists, limits) = setup();
        // All four receipts, still "incomplete".
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        assert_eq!(
            r.on_response(vec![lists[0].clone()], true),
            Err(PartialReceiptsError::IncompleteWhenFull { index: 0, count: 4 })
        );
        // A continuation that adds nothing.
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        r.on_response(vec![lists[0][..1].to_vec()], true).unwrap();
        assert_eq!(
            r.on_response(vec![vec![]], true),
            Err(PartialReceiptsError::NoProgress { index: 0 })
        );
        // A continuation answered with nothing.
        let mut r = Reassembly::new(hashes.clone(), limits);
        r.on_response(vec![lists[0][..1].to_vec()], true).unwrap();
        assert_eq!(
            r.on_response(vec![], false),
            Err(PartialReceiptsError::Abandoned { index: 0 })
        );
        // Without limits, the rounds are bounded.
        let mut r = Reassembly::new(hashes, Vec::new());
        let one = lists[0][..1].to_vec();
        let mut res = Ok(());
        for _ in 0..=MAX_PARTIAL_ROUNDS {
            res = r.on_response(vec![one.clone()], true).map(|_| ());
            if res.is_err() {
                break;
            }
        }
        assert_eq!(
            res,
            Err(PartialReceiptsError::TooManyRounds {
                index: 0,
                rounds: MAX_PARTIAL_ROUNDS + 1
            })
        );
    }

    #[test]
    fn too_many_receipts_are_refused() {
        let (hashes, lists, limits) = setup();
        let mut five = lists[0].clone();
        five.push(lists[0][3].clone());
        // Bounded by gas used / 21000 = 4.
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        assert_eq!(
            r.on_response(vec![five.clone()], true),
            Err(PartialReceiptsError::TooManyReceipts {
                index: 0,
                count: 5,
                max: 4
            })
        );
        // Bounded by a known transaction count.
        let tight = vec![limits[0].with_tx_count(2)];
        let mut r = Reassembly::new(hashes.clone(), tight);
        assert_eq!(
            r.on_response(vec![lists[0][..3].to_vec()], true),
            Err(PartialReceiptsError::TooManyReceipts {
                index: 0,
                count: 3,
                max: 2
            })
        );
        // More lists than blocks.
        let mut r = Reassembly::new(hashes[..1].to_vec(), limits);
        assert!(matches!(
            r.on_response(lists.clone(), false),
            Err(PartialReceiptsError::TooManyLists { .. })
        ));
    }

    #[test]
    fn gas_and_log_bounds() {
        let (hashes, lists, limits) = setup();
        // Cumulative gas above the header's gas used.
        let low = vec![ReceiptLimits {
            gas_used: 30_000,
            tx_count: Some(4),
        }];
        let mut r = Reassembly::new(hashes.clone(), low);
        assert!(matches!(
            r.on_response(vec![lists[0][..2].to_vec()], true),
            Err(PartialReceiptsError::BadCumulativeGas { receipt: 1, .. })
        ));
        // Out of order cumulative gas.
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        let swapped = vec![lists[0][1].clone(), lists[0][0].clone()];
        assert!(matches!(
            r.on_response(vec![swapped], true),
            Err(PartialReceiptsError::BadCumulativeGas { receipt: 1, .. })
        ));
        // Log bytes above gas used / 8: a 21000-gas receipt carrying 12000 bytes of log data.
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        assert!(matches!(
            r.on_response(vec![vec![receipt(21_000, 12_000)]], true),
            Err(PartialReceiptsError::LogsTooLarge { max: 10_500, .. })
        ));
        // Accumulated over rounds: 6000 bytes fit 10500, 12000 do not.
        let mut r = Reassembly::new(hashes.clone(), limits.clone());
        r.on_response(vec![vec![receipt(21_000, 6000)]], true)
            .unwrap();
        assert!(matches!(
            r.on_response(vec![vec![receipt(42_000, 6000)]], true),
            Err(PartialReceiptsError::LogsTooLarge { .. })
        ));
        // Garbage in an incomplete list.
        let mut r = Reassembly::new(hashes, limits);
        assert_eq!(
            r.on_response(vec![vec![Bytes::from_static(&[0x80])]], true),
            Err(PartialReceiptsError::Malformed {
                index: 0,
                receipt: 0
            })
        );
    }
}

//! The unit's download: its blocks through the one downloader (`hypasis_downloader::fetch`) over
//! the pool, held against the memory budget, with a record of which peer delivered what (so
//! that whoever sent data the validation refuses is scored down).

use super::unit::Outcome;
use super::{Fetcher, UnitError, UnitPhase};
use crate::budget::Reservation;
use crate::lease::LeasedUnit;
use alloy_primitives::{B256, Bytes};
use hypasis_downloader::fetch::{FetchError, FetchedBlock, Progress, Requester, fetch_range};
use hypasis_downloader::verify::VerifyError;
use hypasis_network::pool::{PeerId, Pool};
use hypasis_primitives::{Fault, FaultClass, RawBlock};
use hypasis_storage_api::blockfile::receipts_file_item;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The sink's refusal when a unit outgrows the memory budget.
#[derive(Debug, thiserror::Error)]
#[error("memory budget: unit needs more than {held} bytes held")]
struct OverBudget {
    held: u64,
}

impl Fault for OverBudget {
    fn fault(&self) -> FaultClass {
        FaultClass::Local
    }
}

impl Fetcher {
    /// Downloads the unit. `fetch_range`'s future is not `Send` (a higher-ranked lifetime in
    /// its body/receipt streams), so it runs on a blocking thread driving the runtime.
    pub(super) async fn download(
        &self,
        lease: &LeasedUnit,
        reservation: Reservation,
    ) -> Result<(Vec<RawBlock>, Tags, Reservation), Outcome> {
        let requester = Pooled {
            pool: self.shared.pool.clone(),
            tags: Mutex::new(Tags::default()),
        };
        let bodies_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = bodies_started.clone();
        let (start, end, config) = (lease.start, lease.end, self.shared.config.fetch);
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut reservation = reservation;
            let mut out: Vec<RawBlock> = Vec::with_capacity((end - start + 1) as usize);
            let mut held: u64 = 0;
            let mut over_budget = false;
            let result = handle.block_on(fetch_range(
                &requester,
                start,
                end,
                config,
                |batch: Vec<FetchedBlock>| {
                    for b in batch {
                        let receipts = Bytes::from(receipts_file_item(&b.receipts));
                        held += (b.header.len() + b.body.len() + receipts.len()) as u64;
                        out.push(RawBlock {
                            number: b.number,
                            hash: b.hash,
                            header: b.header,
                            body: b.body,
                            receipts,
                        });
                    }
                    if !reservation.try_grow_to(held) {
                        over_budget = true;
                        return Err(FetchError::sink(OverBudget {
                            held: reservation.bytes(),
                        }));
                    }
                    Ok(())
                },
                |p: Progress| {
                    if p.bodies > 0 || p.receipts > 0 {
                        started.store(true, Ordering::Relaxed);
                    }
                },
            ));
            let tags = requester.tags.into_inner().unwrap_or_default();
            (result, out, tags, reservation, over_budget)
        });
        // Show the Bodies phase once bodies arrive.
        let joined = {
            tokio::pin!(task);
            let mut shown = false;
            loop {
                tokio::select! {
                    r = &mut task => break r,
                    _ = tokio::time::sleep(Duration::from_millis(100)), if !shown => {
                        if bodies_started.load(Ordering::Relaxed) {
                            shown = true;
                            self.set_phase(lease, UnitPhase::Bodies);
                        }
                    }
                }
            }
        };
        let (result, out, tags, reservation, over_budget) = joined.map_err(|source| {
            Outcome::Failed(UnitError::Task {
                what: "download",
                source,
            })
        })?;
        match result {
            Ok(()) => Ok((out, tags, reservation)),
            Err(_) if over_budget => Err(Outcome::Failed(UnitError::OverBudget {
                limit: self.shared.budget.limit(),
            })),
            Err(e) => Err(Outcome::Failed(UnitError::Download(e))),
        }
    }
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pooled")
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    Header,
    Body,
    Receipts,
}

impl Part {
    pub(super) fn of(rule: &str) -> Self {
        if rule.starts_with("receipt")
            || matches!(rule, "logs-bloom" | "cumulative-gas" | "gas-used")
        {
            Part::Receipts
        } else if rule.starts_with("body")
            || matches!(
                rule,
                "transactions-root"
                    | "ommers-hash"
                    | "withdrawals-root"
                    | "ommer"
                    | "transaction"
                    | "block-size"
                    | "blob-gas-used"
            )
        {
            Part::Body
        } else {
            Part::Header
        }
    }
}

/// Which peer delivered what.
#[derive(Debug, Default)]
pub(super) struct Tags {
    headers: Vec<(u64, u64, PeerId)>,
    bodies: HashMap<B256, PeerId>,
    receipts: HashMap<B256, PeerId>,
}

impl Tags {
    pub(super) fn peer_for(&self, number: u64, part: Part, blocks: &[RawBlock]) -> Option<PeerId> {
        let hash = blocks.iter().find(|b| b.number == number).map(|b| b.hash);
        match part {
            Part::Header => self
                .headers
                .iter()
                .rev()
                .find(|(s, e, _)| *s <= number && number <= *e)
                .map(|t| t.2),
            Part::Body => hash.and_then(|h| self.bodies.get(&h).copied()),
            Part::Receipts => hash.and_then(|h| self.receipts.get(&h).copied()),
        }
    }
}

/// The pool as a [`Requester`] that remembers which peer answered what.
struct Pooled {
    pool: Pool,
    tags: Mutex<Tags>,
}

impl Requester for Pooled {
    type Tag = <Pool as Requester>::Tag;

    async fn headers(&self, start: u64, count: u64) -> Result<(Self::Tag, Vec<Bytes>), FetchError> {
        let (tag, h) = self.pool.headers(start, count).await?;
        if !h.is_empty() {
            self.tags
                .lock()
                .unwrap()
                .headers
                .push((start, start + h.len() as u64 - 1, tag));
        }
        Ok((tag, h))
    }

    async fn bodies(&self, hashes: Vec<B256>) -> Result<(Self::Tag, Vec<Bytes>), FetchError> {
        let keep = hashes.clone();
        let (tag, b) = self.pool.bodies(hashes).await?;
        let mut t = self.tags.lock().unwrap();
        for h in keep.iter().take(b.len()) {
            t.bodies.insert(*h, tag);
        }
        Ok((tag, b))
    }

    async fn receipts(
        &self,
        hashes: Vec<B256>,
        limits: Vec<hypasis_network::receipts::ReceiptLimits>,
    ) -> Result<(Self::Tag, Vec<Vec<Bytes>>), FetchError> {
        let keep = hashes.clone();
        let (tag, r) = self.pool.receipts(hashes, limits).await?;
        let mut t = self.tags.lock().unwrap();
        for h in keep.iter().take(r.len()) {
            t.receipts.insert(*h, tag);
        }
        Ok((tag, r))
    }

    fn invalid(&self, tag: Self::Tag, error: &VerifyError) -> bool {
        self.pool.invalid(tag, error)
    }

    fn suspicious(&self, tag: Self::Tag, error: &VerifyError) -> bool {
        self.pool.suspicious(tag, error)
    }

    fn empty(&self, tag: Self::Tag) -> bool {
        self.pool.empty(tag)
    }
}

//! An in-memory [`CheckpointSource`] for tests and demos: serves a mutable set of checkpoints
//! and can be switched "down" (every call fails transiently).

use crate::error::{SourceError, SourceResult};
use crate::source::CheckpointSource;
use alloy_primitives::B256;
use hypasis_checkpoint_api::TrustedBlock;
use hypasis_gaps::Range;
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A mutable in-memory source.
#[derive(Debug)]
pub struct MemorySource {
    kind: SourceKind,
    name: String,
    checkpoints: Mutex<BTreeMap<u64, Checkpoint>>,
    trusted: Mutex<Option<TrustedBlock>>,
    down: AtomicBool,
}

/// A Polygon-style checkpoint `id` over `start..=end` with a root derived from `seed`.
pub fn checkpoint(kind: SourceKind, id: u64, start: u64, end: u64, seed: u8) -> Checkpoint {
    Checkpoint {
        source: kind,
        id,
        range: Range { start, end },
        root: B256::repeat_byte(seed),
        end_block_hash: None,
        l1_tx_hash: None,
        l1_block: None,
        proposer: None,
        created_at: None,
        verified_by: vec![kind],
    }
}

/// Contiguous checkpoints `1..=n`, 100 blocks each, roots derived from the id.
pub fn chain(kind: SourceKind, n: u64) -> Vec<Checkpoint> {
    (1..=n)
        .map(|id| checkpoint(kind, id, (id - 1) * 100, id * 100 - 1, id as u8))
        .collect()
}

impl MemorySource {
    /// A source of `kind` named `name` serving `checkpoints`.
    pub fn new(kind: SourceKind, name: &str, checkpoints: Vec<Checkpoint>) -> Self {
        Self {
            kind,
            name: name.to_string(),
            checkpoints: Mutex::new(
                checkpoints
                    .into_iter()
                    .map(|mut c| {
                        c.source = kind;
                        c.verified_by = vec![kind];
                        (c.id, c)
                    })
                    .collect(),
            ),
            trusted: Mutex::new(None),
            down: AtomicBool::new(false),
        }
    }

    /// Sets the block this source vouches for by hash (as Heimdall's milestone).
    pub fn set_trusted_block(&self, block: Option<TrustedBlock>) {
        *self.trusted.lock().expect("lock") = block;
    }

    /// Adds or replaces a checkpoint.
    pub fn put(&self, mut cp: Checkpoint) {
        cp.source = self.kind;
        cp.verified_by = vec![self.kind];
        self.checkpoints.lock().expect("lock").insert(cp.id, cp);
    }

    /// Switches the outage on or off.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check_up(&self) -> SourceResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SourceError::transient(&self.name, "connection refused"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl CheckpointSource for MemorySource {
    fn kind(&self) -> SourceKind {
        self.kind
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn latest(&self) -> SourceResult<Checkpoint> {
        self.check_up()?;
        self.checkpoints
            .lock()
            .expect("lock")
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| SourceError::not_found(&self.name, "no checkpoints"))
    }

    async fn latest_trusted_block(&self) -> SourceResult<Option<TrustedBlock>> {
        self.check_up()?;
        Ok(self.trusted.lock().expect("lock").clone())
    }

    async fn by_id(&self, id: u64) -> SourceResult<Checkpoint> {
        self.check_up()?;
        self.checkpoints
            .lock()
            .expect("lock")
            .get(&id)
            .cloned()
            .ok_or_else(|| SourceError::not_found(&self.name, format!("no checkpoint {id}")))
    }
}

//! The Kademlia table: 256 buckets of 16 nodes by log-distance of `keccak256(node id)`, with a
//! small replacement list per bucket.

use std::{collections::VecDeque, time::Instant};

use alloy_primitives::{B256, keccak256};

use super::packet::NodeRecord;
use hypasis_rlpx::identity::NodeId;

/// Nodes per bucket.
pub const BUCKET_SIZE: usize = 16;
/// Number of buckets.
pub const BUCKETS: usize = 256;
/// Replacements kept per bucket.
pub const REPLACEMENTS: usize = 10;

/// `log2(keccak(a) XOR keccak(b))` as 1..=256, or 0 when the hashes are equal.
pub fn log_distance(a: &B256, b: &B256) -> usize {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return (32 - i) * 8 - d.leading_zeros() as usize;
        }
    }
    0
}

/// A table entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The node.
    pub node: NodeRecord,
    /// `keccak256(id)`.
    pub hash: B256,
    /// When the node was added or last confirmed alive.
    pub last_seen: Instant,
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    /// Most recently seen first.
    entries: VecDeque<Entry>,
    replacements: VecDeque<Entry>,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Table {
    local: B256,
    buckets: Vec<Bucket>,
}

/// What [`Table::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Added to its bucket.
    Added,
    /// Already present; moved to the front.
    Updated,
    /// The bucket is full; kept as a replacement. The returned least recently seen node
    /// should be pinged and [`Table::remove`]d if it does not answer.
    Full(NodeRecord),
    /// The local node itself.
    Local,
}

impl Table {
    /// An empty table for the local node `id`.
    pub fn new(id: &NodeId) -> Self {
        Self {
            local: keccak256(id),
            buckets: vec![Bucket::default(); BUCKETS],
        }
    }

    fn bucket_index(&self, hash: &B256) -> Option<usize> {
        log_distance(&self.local, hash).checked_sub(1)
    }

    /// Inserts or refreshes a verified (bonded) node.
    pub fn insert(&mut self, node: NodeRecord) -> Inserted {
        let hash = keccak256(node.id);
        let Some(i) = self.bucket_index(&hash) else {
            return Inserted::Local;
        };
        let bucket = &mut self.buckets[i];
        let entry = Entry {
            node,
            hash,
            last_seen: Instant::now(),
        };
        if let Some(pos) = bucket.entries.iter().position(|e| e.node.id == node.id) {
            bucket.entries.remove(pos);
            bucket.entries.push_front(entry);
            return Inserted::Updated;
        }
        if bucket.entries.len() < BUCKET_SIZE {
            bucket.entries.push_front(entry);
            return Inserted::Added;
        }
        bucket.replacements.retain(|e| e.node.id != node.id);
        bucket.replacements.push_front(entry);
        bucket.replacements.truncate(REPLACEMENTS);
        let oldest = bucket.entries.back().map(|e| e.node).unwrap_or(node);
        Inserted::Full(oldest)
    }

    /// Removes a node (e.g. it stopped answering), promoting a replacement.
    pub fn remove(&mut self, id: &NodeId) {
        let hash = keccak256(id);
        let Some(i) = self.bucket_index(&hash) else {
            return;
        };
        let bucket = &mut self.buckets[i];
        if let Some(pos) = bucket.entries.iter().position(|e| e.node.id == *id) {
            bucket.entries.remove(pos);
            if let Some(r) = bucket.replacements.pop_front() {
                bucket.entries.push_back(r);
            }
        }
    }

    /// Whether `id` is in the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        let hash = keccak256(id);
        self.bucket_index(&hash)
            .is_some_and(|i| self.buckets[i].entries.iter().any(|e| e.node.id == *id))
    }

    /// The `n` nodes closest to `target` (a node id / public key).
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeRecord> {
        let t = keccak256(target);
        let mut all: Vec<&Entry> = self.buckets.iter().flat_map(|b| b.entries.iter()).collect();
        all.sort_by_key(|e| e.hash ^ t);
        all.into_iter().take(n).map(|e| e.node).collect()
    }

    /// Every node in the table.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.buckets
            .iter()
            .flat_map(|b| b.entries.iter().map(|e| e.node))
            .collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Endpoint;

    fn node(i: u64) -> NodeRecord {
        let mut id = NodeId::ZERO;
        id[..8].copy_from_slice(&i.to_be_bytes());
        NodeRecord {
            endpoint: Endpoint {
                ip: "127.0.0.1".parse().unwrap(),
                udp_port: 1,
                tcp_port: 1,
            },
            id,
        }
    }

    #[test]
    fn distances() {
        let a = B256::ZERO;
        assert_eq!(log_distance(&a, &a), 0);
        let mut b = B256::ZERO;
        b[31] = 1;
        assert_eq!(log_distance(&a, &b), 1);
        b[0] = 0x80;
        assert_eq!(log_distance(&a, &b), 256);
        let mut c = B256::ZERO;
        c[30] = 0x10;
        assert_eq!(log_distance(&a, &c), 13);
    }

    #[test]
    fn buckets_fill_and_closest() {
        let local = node(0).id;
        let mut t = Table::new(&local);
        assert_eq!(t.insert(node(0)), Inserted::Local);
        let mut full = 0;
        for i in 1..2000 {
            if let Inserted::Full(_) = t.insert(node(i)) {
                full += 1;
            }
        }
        // About half of random hashes fall into the farthest bucket, which holds 16.
        assert!(full > 900, "{full}");
        assert!(t.len() < 2000 - full + 1);
        let present = t.nodes()[0];
        assert_eq!(t.insert(present), Inserted::Updated);
        let target = node(1234).id;
        let closest = t.closest(&target, 16);
        assert_eq!(closest.len(), 16);
        let th = keccak256(target);
        let mut all = t.nodes();
        all.sort_by_key(|n| keccak256(n.id) ^ th);
        assert_eq!(&all[..16], &closest[..]);
        let n = closest[0];
        t.remove(&n.id);
        assert!(!t.contains(&n.id));
    }
}

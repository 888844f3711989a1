//! devp2p networking for Hypasis Sync.
//!
//! Layers, bottom-up:
//! - [`identity`] / [`enode`]: node keys and key files, node ids, `enode://` URLs;
//! - [`ecies`] / [`handshake`]: the RLPx encrypted handshake (EIP-8, legacy auth accepted);
//! - [`frame`]: RLPx frame encryption (AES-256-CTR) and Keccak MACs, 16 MiB frame cap;
//! - [`p2p`]: the base protocol (`Hello`, `Disconnect`, `Ping`/`Pong`), capability
//!   negotiation and snappy compression;
//! - [`eth`]: eth/68, eth/69 and eth/70 wire messages in the standard and Bor dialects
//!   ([`eth::Wire`]), receipt encoding conversions; [`receipts`]: eth/70 partial-receipt
//!   reassembly and checks;
//! - [`source`]: the [`source::BlockSource`] trait and request serving with limits;
//! - [`session`]: `connect`/`accept` over tokio with Status checks and request matching;
//!   [`server`]: an accepting node serving a [`source::BlockSource`];
//! - [`chain`]: our `Status`, the fork-id check, and the dialect / offered versions /
//!   message cap of a chain spec (`SessionConfig::for_chain`);
//! - [`verify`], [`fetch`]: checking headers/bodies/receipts against headers and downloading a
//!   block range from one session or the pool; [`blockfile`]: `chain.rlp`/`receipts.rlp`;
//! - [`pool`]: the scored peer pool (dial/accept, adaptive request sizing, timeouts, bans);
//! - [`discv4`]: node discovery v4 (packets, ENR, Kademlia table, lookups);
//! - [`fuzzing`]: fuzz entry points for every decoder of remote bytes; [`testchain`]: a
//!   synthetic chain for tests and benchmarks.
//!
//! No function in this crate panics on bytes received from the network; errors carry a
//! [`session::Blame`] telling whether the peer misbehaved.

pub mod blockfile;
pub mod chain;
pub mod discv4;
pub mod ecies;
pub mod enode;
pub mod eth;
pub mod fetch;
pub mod frame;
pub mod fuzzing;
pub mod handshake;
pub mod identity;
pub mod p2p;
pub mod pool;
pub mod receipts;
mod rlp_util;
pub mod server;
pub mod session;
pub mod source;
pub mod testchain;
pub mod verify;

pub use enode::{Enode, EnodeError};
pub use eth::{Dialect, EthMessage, EthVersion, ForkId, GetBlockHeaders, Status, Wire};
pub use identity::{NodeId, SecretKey};
pub use session::{
    Blame, LocalStatus, Session, SessionConfig, SessionError, SessionEvent, SessionHandle, accept,
    connect,
};
pub use source::{BlockSource, MemoryBlockSource, ServeLimits};

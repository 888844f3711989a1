//! devp2p networking for Hypasis Sync.
//!
//! Layers, bottom-up:
//! - [`identity`] / [`enode`]: node keys and key files, node ids, `enode://` URLs;
//! - [`ecies`] / [`handshake`]: the RLPx encrypted handshake (EIP-8, legacy auth accepted);
//! - [`frame`]: RLPx frame encryption (AES-256-CTR) and Keccak MACs, 16 MiB frame cap;
//! - [`p2p`]: the base protocol (`Hello`, `Disconnect`, `Ping`/`Pong`), capability
//!   negotiation and snappy compression;
//! - [`eth`]: eth/68 and eth/69 wire messages, receipt encoding conversions;
//! - [`source`]: the [`source::BlockSource`] trait and request serving with limits;
//! - [`session`]: `connect`/`accept` over tokio with Status checks and request matching.
//!
//! No function in this crate panics on bytes received from the network; errors carry a
//! [`session::Blame`] telling whether the peer misbehaved.

pub mod ecies;
pub mod enode;
pub mod eth;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod p2p;
mod rlp_util;
pub mod session;
pub mod source;

pub use enode::{Enode, EnodeError};
pub use eth::{EthMessage, EthVersion, ForkId, GetBlockHeaders, Status};
pub use identity::{NodeId, SecretKey};
pub use session::{
    Blame, LocalStatus, Session, SessionConfig, SessionError, SessionEvent, SessionHandle, accept,
    connect,
};
pub use source::{BlockSource, MemoryBlockSource, ServeLimits};

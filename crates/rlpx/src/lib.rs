//! The RLPx transport of Hypasis Sync, bottom-up:
//! - [`identity`] / [`enode`]: node keys and key files, node ids, `enode://` URLs;
//! - [`ecies`] / [`handshake`]: the RLPx encrypted handshake (EIP-8, legacy auth accepted);
//! - [`frame`]: RLPx frame encryption (AES-256-CTR) and Keccak MACs, 16 MiB frame cap;
//! - [`p2p`]: the base protocol (`Hello`, `Disconnect`, `Ping`/`Pong`), capability
//!   negotiation and snappy compression.
//!
//! No function in this crate panics on bytes received from the network.

pub mod ecies;
pub mod enode;
mod fault;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod p2p;

pub use enode::{Enode, EnodeError};
pub use identity::{NodeId, SecretKey};

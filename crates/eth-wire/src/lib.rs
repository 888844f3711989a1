//! The eth wire protocol of Hypasis Sync: eth/68, eth/69 and eth/70 messages in the standard
//! and Bor dialects ([`eth::Wire`]), `Status`, `ForkId` and the receipt encoding conversions.
//!
//! No function in this crate panics on bytes received from the network.

pub mod eth;
mod fault;

pub use eth::{Dialect, EthMessage, EthVersion, ForkId, GetBlockHeaders, Status, Wire};

//! A local devnet for Hypasis Sync: a Bor-style chain ([`chain::generate`]) and a
//! Heimdall-format checkpoint endpoint ([`heimdall`]), so the whole product can be exercised
//! with no internet.

pub mod chain;
pub mod heimdall;

pub use chain::{
    DEV_ACCOUNT_KEYS, DEV_TOKEN, DevBlock, DevValidator, Devnet, DevnetError, DevnetParams,
    TRANSFER_EVENT, generate, validator_keys,
};
pub use heimdall::{CheckpointFeed, serve_heimdall};

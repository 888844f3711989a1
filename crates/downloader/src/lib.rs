//! The block range downloader of Hypasis Sync.
//!
//! - [`fetch`]: downloading a block range (headers, bodies, receipts) from a [`fetch::Requester`]:
//!   one session ([`hypasis_network::SessionHandle`]) for `hypasis p2p fetch`, or the peer
//!   pool ([`hypasis_network::pool::Pool`], see [`pool`]) for the fetcher;
//! - [`verify`]: checking headers, bodies and receipts against the headers they belong to;
//! - [`fuzzing`] (feature `test-utils`): fuzz entry points for every decoder of remote bytes.

// The downloader's modules name their neighbours by crate-relative paths
// (`crate::eth`, `crate::session`, ...).
#[cfg(feature = "test-utils")]
use hypasis_discv4 as discv4;
use hypasis_eth_wire::eth;
use hypasis_network::{receipts, session};
use hypasis_primitives::rlp as rlp_util;
#[cfg(feature = "test-utils")]
use hypasis_rlpx::{ecies, frame, handshake, identity, p2p};
#[cfg(feature = "test-utils")]
use hypasis_storage_api::blockfile;

pub mod fetch;
#[cfg(feature = "test-utils")]
pub mod fuzzing;
pub mod pool;
pub mod verify;

pub use fetch::{FetchConfig, FetchError, FetchedBlock, Requester, fetch_range};

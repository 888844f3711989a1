//! devp2p sessions and peers for Hypasis Sync, on top of `hypasis-rlpx` (transport),
//! `hypasis-eth-wire` (messages) and `hypasis-discv4` (discovery):
//! - [`source`]: the [`source::BlockSource`] trait and request serving with limits;
//! - [`session`]: `connect`/`accept` over tokio with Status checks and request matching;
//!   [`server`]: an accepting node serving a [`source::BlockSource`];
//! - [`receipts`]: eth/70 partial-receipt reassembly and checks;
//! - [`chain`]: our `Status`, the fork-id check, and the dialect / offered versions /
//!   message cap of a chain spec (`SessionConfig::for_chain`);
//! - [`pool`]: the scored peer pool (dial/accept, adaptive request sizing, timeouts, bans);
//! - [`testchain`] (feature `test-utils`): a synthetic chain for tests and benchmarks.
//!
//! No function in this crate panics on bytes received from the network; errors carry a
//! [`session::Blame`] telling whether the peer misbehaved.

// The modules below name the lower layers by crate-relative paths (`crate::eth`, ...).
use hypasis_discv4 as discv4;
use hypasis_eth_wire::eth;
use hypasis_rlpx::{enode, frame, handshake, identity, p2p};

pub mod blockfile;
pub mod chain;
mod fault;
pub mod pool;
pub mod receipts;
pub mod server;
pub mod session;
pub mod source;
#[cfg(any(test, feature = "test-utils"))]
pub mod testchain;

pub use session::{
    Blame, LocalStatus, Session, SessionConfig, SessionError, SessionEvent, SessionHandle, accept,
    connect,
};
pub use source::{BlockSource, MemoryBlockSource, ServeLimits};

//! The peer pool as the downloader's [`Requester`]: invalid data is reported to the pool
//! (which scores the peer) and retried with other peers.

use alloy_primitives::{B256, Bytes};
use hypasis_network::{
    pool::{Fault, PeerId, Pool, PoolError, short},
    receipts::ReceiptLimits,
};
use tracing::debug;

use crate::{
    fetch::{FetchError, Requester},
    verify::VerifyError,
};

impl From<PoolError> for FetchError {
    fn from(e: PoolError) -> Self {
        FetchError::NoPeers(e.to_string())
    }
}

/// Invalid data is reported and retried with
/// other peers.
impl Requester for Pool {
    type Tag = PeerId;

    async fn headers(&self, start: u64, count: u64) -> Result<(PeerId, Vec<Bytes>), FetchError> {
        let r = self.request_headers(start, count).await?;
        Ok((r.peer, r.data))
    }

    async fn bodies(&self, hashes: Vec<B256>) -> Result<(PeerId, Vec<Bytes>), FetchError> {
        let r = self.request_bodies(&hashes).await?;
        Ok((r.peer, r.data))
    }

    async fn receipts(
        &self,
        hashes: Vec<B256>,
        limits: Vec<ReceiptLimits>,
    ) -> Result<(PeerId, Vec<Vec<Bytes>>), FetchError> {
        let r = self.request_receipts_with(&hashes, &limits).await?;
        Ok((r.peer, r.data))
    }

    fn invalid(&self, tag: PeerId, error: &VerifyError) -> bool {
        debug!(peer = %short(&tag), %error, "invalid data");
        self.report(tag, Fault::Invalid);
        true
    }

    fn suspicious(&self, tag: PeerId, error: &VerifyError) -> bool {
        debug!(peer = %short(&tag), %error, "suspicious data");
        self.report(tag, Fault::Suspicious);
        true
    }

    fn empty(&self, _tag: PeerId) -> bool {
        // Already scored as `Fault::Empty` by the pool.
        true
    }
}

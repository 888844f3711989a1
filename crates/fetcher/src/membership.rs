//! Fetcher membership: the fetcher registers under the `fetcher` kind with its announcement
//! (address, tip from its peers' heads, peer count) and re-registers when it changes.

use crate::Fetcher;
use hypasis_coordination::Coordinator;
use hypasis_scheduler_api::{FETCHER_KIND, FetcherAnnouncement};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Announces `fetcher` as member `id` reachable at `advertise` until `stop` turns true.
pub async fn announce_membership(
    f: Fetcher,
    coord: Arc<dyn Coordinator>,
    id: String,
    advertise: String,
    mut rx: watch::Receiver<bool>,
) {
    let mut current: Option<(FetcherAnnouncement, _)> = None;
    loop {
        let ann = FetcherAnnouncement {
            addr: advertise.clone(),
            tip: f.tip(),
            peers: u32::try_from(f.pool().peer_count()).unwrap_or(u32::MAX),
        };
        if current.as_ref().map(|(a, _)| a) != Some(&ann) {
            current = None;
            match coord
                .register_member(FETCHER_KIND, &id, &ann.encode(), Duration::from_secs(10))
                .await
            {
                Ok(g) => current = Some((ann, g)),
                Err(e) => tracing::warn!(error = %e, "registering the fetcher failed"),
            }
        }
        tokio::select! {
            _ = rx.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

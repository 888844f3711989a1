//! Progress: blocks/s per direction, the peer gauge and the periodic progress log.

use super::Fetcher;
use hypasis_scheduler_api::Direction;
use std::time::{Duration, Instant};
use tracing::info;

impl Fetcher {
    pub(super) async fn progress_loop(self) {
        let every = self.shared.config.progress_interval;
        let mut last = [0u64; 2];
        let mut at = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let secs = at.elapsed().as_secs_f64().max(0.001);
            at = Instant::now();
            self.shared
                .metrics
                .peers
                .set(i64::try_from(self.shared.pool.peer_count()).unwrap_or(0));
            let active = self.active();
            let mut rates = [0.0; 2];
            for d in Direction::ALL {
                let now = self.stored(d);
                let rate = (now - last[d.index()]) as f64 / secs;
                last[d.index()] = now;
                rates[d.index()] = rate;
                let leased: u64 = active
                    .iter()
                    .filter(|a| a.lease.direction == d)
                    .map(|a| a.lease.blocks())
                    .sum();
                let eta = (rate > 0.0).then(|| Duration::from_secs_f64(leased as f64 / rate));
                info!(
                    direction = d.name(),
                    blocks_per_second = format!("{rate:.1}"),
                    stored = now,
                    leased_blocks = leased,
                    eta_leased = ?eta,
                    peers = self.shared.pool.peer_count(),
                    bytes_in_flight = self.shared.budget.in_flight(),
                    "fetcher progress"
                );
            }
            *self.shared.rates.lock().unwrap() = rates;
        }
    }
}

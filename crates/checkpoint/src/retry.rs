//! Exponential backoff with jitter for transient source failures.

use crate::error::{SourceError, SourceResult};
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// Exponential backoff: `initial · 2^attempt`, capped at `max`, with "equal jitter" (a uniformly
/// random delay in `[d/2, d]`) so that many clients do not retry in lockstep.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, never longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial: initial.max(Duration::from_millis(1)),
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The un-jittered delay of the current attempt.
    pub fn base_delay(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay (jittered) and advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base_delay();
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        let extra = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(extra)
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(60))
    }
}

/// Retry policy for one request.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// First backoff delay.
    pub initial: Duration,
    /// Longest backoff delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries (one attempt).
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }
}

/// Runs `op`, retrying transient failures per `policy`; invalid data, not-found and configuration
/// errors are returned at once.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> SourceResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = SourceResult<T>>,
{
    let mut backoff = Backoff::new(policy.initial, policy.max);
    let mut last: Option<SourceError> = None;
    for attempt in 0..policy.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(backoff.next_delay()).await;
        }
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => {
                tracing::debug!(error = %e, attempt, "transient source failure, retrying");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut bases = Vec::new();
        for _ in 0..8 {
            bases.push(b.base_delay());
            let d = b.next_delay();
            let base = bases[bases.len() - 1];
            assert!(
                d >= base / 2 && d <= base + Duration::from_millis(1),
                "{d:?} vs {base:?}"
            );
        }
        assert_eq!(bases[0], Duration::from_millis(100));
        assert_eq!(bases[1], Duration::from_millis(200));
        assert_eq!(bases[7], Duration::from_millis(1000));
        b.reset();
        assert_eq!(b.base_delay(), Duration::from_millis(100));
    }

    #[tokio::test]
    async fn retries_only_transient() {
        let policy = RetryPolicy {
            attempts: 4,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let calls = AtomicU32::new(0);
        let r: SourceResult<u32> = retry(&policy, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 {
                Err(SourceError::transient("t", "down"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);

        let calls = AtomicU32::new(0);
        let r: SourceResult<u32> = retry(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SourceError::invalid("t", "bad"))
        })
        .await;
        assert_eq!(r.unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let r: SourceResult<u32> = retry(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SourceError::transient("t", "down"))
        })
        .await;
        assert!(r.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}

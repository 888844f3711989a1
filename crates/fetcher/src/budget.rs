//! A byte budget for blocks in flight: a semaphore on bytes, so that downloads wait
//! (backpressure) instead of buffering without limit.

use crate::metrics::FetcherMetrics;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes in flight, bounded.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    sem: Arc<Semaphore>,
    limit: u32,
    metrics: FetcherMetrics,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// Bytes held from a [`ByteBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    budget: ByteBudget,
}

impl ByteBudget {
    /// A budget of `limit` bytes (capped at `u32::MAX`).
    pub fn new(limit: u64, metrics: FetcherMetrics) -> Self {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        metrics.bytes_in_flight_limit.set(i64::from(limit));
        Self {
            sem: Arc::new(Semaphore::new(limit as usize)),
            limit,
            metrics,
            waiting: Arc::default(),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        u64::from(self.limit)
    }

    /// Reservations waiting for room.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes currently reserved.
    pub fn in_flight(&self) -> u64 {
        u64::from(self.limit).saturating_sub(self.sem.available_permits() as u64)
    }

    fn observe(&self) {
        let v = i64::try_from(self.in_flight()).unwrap_or(i64::MAX);
        self.metrics.bytes_in_flight.set(v);
        if v > self.metrics.bytes_in_flight_max.get() {
            self.metrics.bytes_in_flight_max.set(v);
        }
    }

    fn clamp(&self, bytes: u64) -> u32 {
        u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.limit)
    }

    /// Waits until `bytes` (at most the limit) are free and takes them.
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        /// Counts a waiter until dropped (also when the wait is cancelled).
        struct Waiter<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiter<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let n = self.clamp(bytes);
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let waiter = Waiter(&self.waiting);
        let permit = self.sem.clone().acquire_many_owned(n).await;
        drop(waiter);
        let permit = permit.expect("the budget semaphore is never closed");
        self.observe();
        Reservation {
            permit,
            budget: self.clone(),
        }
    }
}

impl ByteBudget {
    /// Takes `bytes` (at most the limit) when they are free now and nobody waits for room.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        if self.waiting() > 0 {
            return None;
        }
        let permit = self
            .sem
            .clone()
            .try_acquire_many_owned(self.clamp(bytes))
            .ok()?;
        self.observe();
        Some(Reservation {
            permit,
            budget: self.clone(),
        })
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        u64::from(self.permit.num_permits() as u32)
    }

    /// Grows the reservation to `bytes` without waiting; `false` when the budget has no room.
    pub fn try_grow_to(&mut self, bytes: u64) -> bool {
        let have = self.bytes();
        if bytes <= have {
            return true;
        }
        if bytes > self.budget.limit() {
            return false;
        }
        let extra = u32::try_from(bytes - have).unwrap_or(u32::MAX);
        match self.budget.sem.clone().try_acquire_many_owned(extra) {
            Ok(p) => {
                self.permit.merge(p);
                self.budget.observe();
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // The permit is released after this body; account for it now.
        let v = self.budget.in_flight().saturating_sub(self.bytes());
        self.budget
            .metrics
            .bytes_in_flight
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
}

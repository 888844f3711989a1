//! The fetcher acts on the class of a unit's error: a local error gives the unit back and the
//! fetcher goes on leasing; a fatal one gives it back and stops the fetcher.

use super::*;
use crate::lease::{LeaseError, LeasedUnit};
use crate::sink::SinkError;
use alloy_primitives::Bytes;
use async_trait::async_trait;
use hypasis_network::{
    chain::{Head, session_config},
    pool::PoolConfig,
};
use hypasis_primitives::{ChainSpec, Fault, RawBlock, VerificationLevel};
use hypasis_rlpx::identity::generate_secret_key;

/// Hands out one lease, then none; records every give-back and counts acquisitions.
#[derive(Debug, Default)]
struct OneLease {
    given: Mutex<bool>,
    acquired: AtomicU64,
    failed: Mutex<Vec<(FailureReason, String)>>,
    classes: Mutex<
        Vec<(
            hypasis_primitives::FaultClass,
            Option<hypasis_proto::v1::ValidationRule>,
        )>,
    >,
    more: tokio::sync::Notify,
}

#[async_trait]
impl LeaseSource for OneLease {
    async fn acquire(
        &self,
        _id: &str,
        _max: u32,
    ) -> Result<(Vec<LeasedUnit>, Duration), LeaseError> {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        let mut given = self.given.lock().unwrap();
        if *given {
            self.more.notify_one();
            return Ok((Vec::new(), Duration::from_millis(20)));
        }
        *given = true;
        let lease = LeasedUnit {
            lease_id: "l1".into(),
            token: 1,
            unit_id: 1,
            start: 10,
            end: 19,
            direction: Direction::Forward,
            checkpoint_id: None,
            checkpoints: Vec::new(),
            end_hash: None,
            parent_hash: None,
            expires_at_ms: crate::lease::now_ms() + 600_000,
        };
        Ok((vec![lease], Duration::from_millis(20)))
    }

    async fn renew(&self, _lease: &LeasedUnit) -> Result<u64, LeaseError> {
        Ok(crate::lease::now_ms() + 600_000)
    }

    async fn complete(&self, _lease: &LeasedUnit) -> Result<(), LeaseError> {
        Ok(())
    }

    async fn fail(
        &self,
        _lease: &LeasedUnit,
        failure: hypasis_scheduler_api::Failure<'_>,
    ) -> Result<(), LeaseError> {
        self.failed
            .lock()
            .unwrap()
            .push((failure.reason, failure.message.to_string()));
        self.classes
            .lock()
            .unwrap()
            .push((failure.class, failure.rule));
        Ok(())
    }
}

/// A store whose neighbour lookup fails (`Unavailable`), returns garbage (`Corrupt`) or never
/// answers (`Hangs`).
#[derive(Debug)]
enum BadStore {
    Unavailable,
    Corrupt,
    Hangs,
}

#[async_trait]
impl BlockSink for BadStore {
    async fn put(
        &self,
        _blocks: Vec<RawBlock>,
        _level: VerificationLevel,
        _lease_id: &str,
    ) -> Result<(), SinkError> {
        Ok(())
    }

    async fn header(&self, _number: u64) -> Result<Option<Bytes>, SinkError> {
        match self {
            Self::Unavailable => Err(SinkError::Storage(
                hypasis_storage_api::StorageError::Unavailable("unavailable".into()),
            )),
            Self::Corrupt => Ok(Some(Bytes::from_static(&[0xff, 0x01]))),
            Self::Hangs => std::future::pending().await,
        }
    }
}

fn fetcher(leases: Arc<OneLease>, sink: BadStore) -> Fetcher {
    let spec = ChainSpec::devnet();
    let session = session_config(&spec, &Head::genesis(&spec));
    let pool = Pool::start(PoolConfig::new(session), generate_secret_key(), None);
    Fetcher::new(
        FetcherConfig::new("actions"),
        leases,
        Arc::new(sink),
        pool,
        Arc::new(hypasis_validator::LocalValidator::new(spec)),
        FetcherMetrics::unregistered(),
    )
}

#[tokio::test]
async fn a_local_error_gives_the_unit_back_and_the_fetcher_goes_on() {
    let leases = Arc::new(OneLease::default());
    let f = fetcher(leases.clone(), BadStore::Unavailable);
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn({
        let f = f.clone();
        async move { f.run(rx).await }
    });
    // Acquiring again after the failure: the fetcher did not stop.
    loop {
        leases.more.notified().await;
        if !leases.failed.lock().unwrap().is_empty() {
            break;
        }
    }
    let failed = leases.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, FailureReason::Local);
    assert!(failed[0].1.contains("unavailable"), "{}", failed[0].1);
    assert_eq!(
        leases.classes.lock().unwrap().clone(),
        vec![(FaultClass::Local, None)]
    );
    assert!(f.fatal().is_none());
    stop.send(true).unwrap();
    run.await.unwrap();
}

#[tokio::test]
async fn a_fatal_error_gives_the_unit_back_and_stops_the_fetcher() {
    let leases = Arc::new(OneLease::default());
    let f = fetcher(leases.clone(), BadStore::Corrupt);
    let (_stop, rx) = watch::channel(false);
    // Returns by itself, without a shutdown (the bound only keeps a regression from hanging).
    tokio::time::timeout(Duration::from_secs(120), f.run(rx))
        .await
        .expect("the fetcher stops by itself");
    let failed = leases.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, FailureReason::Local);
    // The scheduler learns the class: fatal here, though retried as a local error elsewhere.
    assert_eq!(
        leases.classes.lock().unwrap().clone(),
        vec![(FaultClass::Fatal, None)]
    );
    let fatal = f.fatal().expect("the fetcher recorded why it stopped");
    assert!(
        matches!(*fatal, UnitError::CorruptStore { number: 9, .. }),
        "{fatal}"
    );
    assert_eq!(fatal.fault(), FaultClass::Fatal);
}

#[tokio::test]
async fn a_stopping_fetcher_gives_its_unfinished_units_back() {
    let leases = Arc::new(OneLease::default());
    let f = fetcher(leases.clone(), BadStore::Hangs);
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn({
        let f = f.clone();
        async move { f.run(rx).await }
    });
    // The one lease is held by a unit stuck on the store when the fetcher is told to stop.
    leases.more.notified().await;
    assert_eq!(f.shared.active.lock().unwrap().len(), 1);
    assert!(leases.failed.lock().unwrap().is_empty());
    stop.send(true).unwrap();
    run.await.unwrap();
    // Given back at once as a local failure (no blame, retried elsewhere), not left to expire.
    let failed = leases.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, FailureReason::Local);
    assert!(failed[0].1.contains("stopped"), "{}", failed[0].1);
    assert!(f.shared.active.lock().unwrap().is_empty());
}

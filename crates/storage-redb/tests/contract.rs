//! The shared storage contract suite against the redb backend: one test per case with the
//! default options, plus the whole suite once with quick-repair off.

use hypasis_storage_redb::{RedbOptions, RedbStorage};
use tempfile::TempDir;

async fn fresh() -> (RedbStorage, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStorage::open(dir.path().join("store.redb")).expect("open redb");
    (store, dir)
}

hypasis_storage_api::contract_suite!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_without_quick_repair() {
    hypasis_storage_api::contract::run_all(|| async {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = RedbOptions {
            quick_repair: false,
            ..RedbOptions::default()
        };
        let store =
            RedbStorage::open_with(dir.path().join("store.redb"), options).expect("open redb");
        (store, dir)
    })
    .await;
}

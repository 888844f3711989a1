//! The shared storage contract suite against a real FoundationDB cluster.
//!
//! Runs only with the `fdb` feature and `FDB_CLUSTER_FILE` set; otherwise it prints a
//! `SKIPPED:` line (straight to stderr, so it shows even when libtest captures output) instead of
//! silently passing.

use std::io::Write;

/// Prints a line that libtest does not capture.
fn announce(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

const SKIP: &str = "SKIPPED: FoundationDB contract suite (FDB_CLUSTER_FILE not set)";

#[cfg(not(feature = "fdb"))]
#[test]
fn fdb_contract_suite() {
    match std::env::var("FDB_CLUSTER_FILE") {
        Err(_) => announce(SKIP),
        Ok(_) => announce(
            "SKIPPED: FoundationDB contract suite (built without cargo feature `fdb`; \
             rerun with `--features fdb`)",
        ),
    }
}

#[cfg(feature = "fdb")]
#[test]
fn fdb_contract_suite() {
    use hypasis_storage_api::BlockStorage;
    use hypasis_storage_fdb::FdbStorage;
    use std::sync::{Arc, Mutex};

    let Ok(cluster) = std::env::var("FDB_CLUSTER_FILE") else {
        announce(SKIP);
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: `network` is dropped at the end of this test, before the process exits.
    let network = unsafe { hypasis_storage_fdb::boot() }.expect("start the FoundationDB network");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let run_id = format!(
            "contract-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let stores: Arc<Mutex<Vec<FdbStorage>>> = Arc::default();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        hypasis_storage_api::contract::run_all(|| {
            let chain = format!(
                "{run_id}-{}",
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let cluster = cluster.clone();
            let stores = Arc::clone(&stores);
            async move {
                let store = FdbStorage::open(Some(&cluster), &chain)
                    .await
                    .expect("open FoundationDB store");
                store.wipe().await.expect("wipe");
                // the schema key is written by open; wipe removed it, so reopen
                let store = FdbStorage::open(Some(&cluster), &chain)
                    .await
                    .expect("reopen");
                assert!(store.present().await.unwrap().is_empty());
                stores.lock().unwrap().push(store.clone());
                (store, ())
            }
        })
        .await;
        let stores = std::mem::take(&mut *stores.lock().unwrap());
        for store in stores {
            store.wipe().await.expect("clean up");
        }
    });
    drop(runtime);
    drop(network);
    announce("FoundationDB contract suite: all cases passed");
}

//! The store and the test harness's own guarantees, on every backend: the change listener and
//! the pool end when asked; test databases go away with their last handle.

use std::{sync::Arc, time::Duration};

use signalgate::store::{self, PoolOptions, Store};
use tokio::sync::Notify;

use crate::{
    backend_tests,
    common::{Backend, TestDb, db, unique, writer::ev},
};

backend_tests!(
    listener_wakes_and_ends_with_the_store,
    test_database_is_dropped_with_its_last_clone
);

const WAIT: Duration = Duration::from_secs(10);

async fn open(db: &TestDb) -> Arc<dyn Store> {
    let opts = PoolOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let store = store::connect(&db.url, &opts).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// PostgreSQL's listener wakes the poller on a commit and runs until the store closes; the
/// other backends have nothing to listen to and return at once. Closing waits for every
/// connection, the listener's included.
async fn listener_wakes_and_ends_with_the_store(b: Backend) {
    let db = TestDb::create(b).await;
    let store = open(&db).await;
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn({
        let (store, wake) = (store.clone(), wake.clone());
        async move { store.listen_changes(wake).await }
    });
    let running = if b == Backend::Postgres {
        // One wake-up once listening, one per committed change.
        tokio::time::timeout(WAIT, wake.notified())
            .await
            .expect("listening");
        assert!(!listener.is_finished());
        store
            .insert_event(&ev(&unique("ln"), 1, "a.X"))
            .await
            .expect("insert");
        tokio::time::timeout(WAIT, wake.notified())
            .await
            .expect("woken by the commit");
        Some(listener)
    } else {
        tokio::time::timeout(WAIT, listener)
            .await
            .expect("returns at once")
            .expect("listener task");
        None
    };
    assert!(!store.is_closed());
    tokio::time::timeout(WAIT, store.close())
        .await
        .expect("close waits for every connection, then returns");
    assert!(store.is_closed());
    if let Some(listener) = running {
        tokio::time::timeout(WAIT, listener)
            .await
            .expect("listener ends with the store")
            .expect("listener task");
    }
}

async fn test_database_is_dropped_with_its_last_clone(b: Backend) {
    let db = TestDb::create(b).await;
    let name = db.name.clone();
    // In use, as a gateway would have it: migrated, with an open pool.
    let store = open(&db).await;
    assert!(db::exists(b, &name).await, "{name} was created");

    let copy = db.clone();
    drop(db);
    assert!(
        db::exists(b, &name).await,
        "{name} lives while a clone does"
    );
    drop(copy);
    assert!(
        !db::exists(b, &name).await,
        "{name} is gone with its last clone"
    );
    store.close().await;
    assert!(store.is_closed());
}

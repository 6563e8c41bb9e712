//! The store's lifecycle and availability, on every backend: the change listener and the pool
//! end when asked; a database that is not available is reported as such, with the reason, and
//! promptly; test databases go away with their last handle.

use std::{sync::Arc, time::Duration};

use signalgate::store::{
    self, EventQuery, PING_TIMEOUT, PoolOptions, Store, StoreError, UnavailableKind,
};
use tokio::{net::TcpListener, sync::Notify};

use crate::{
    backend_tests,
    common::{Backend, TestDb, db, unique, writer::ev},
};

backend_tests!(
    listener_wakes_and_ends_with_the_store,
    missing_tables_are_unavailable,
    test_database_is_dropped_with_its_last_clone
);

/// One test per server backend (MySQL, PostgreSQL) for each listed fn taking a [`Backend`].
macro_rules! server_tests {
    ($($name:ident),* $(,)?) => {
        mod server {
            use super::Backend::{MySql, Postgres};
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                for b in [MySql, Postgres] {
                    super::$name(b).await;
                }
            })*
        }
    };
}

server_tests!(unavailable_reasons, ping_answers_within_its_own_timeout);

const WAIT: Duration = Duration::from_secs(10);

/// A store on `url` that waits up to `acquire` for a connection.
async fn store_at(url: &str, acquire: Duration) -> Arc<dyn Store> {
    let opts = PoolOptions {
        max_connections: 2,
        acquire_timeout: acquire,
    };
    store::connect(url, &opts).await.expect("connect")
}

/// The reason `r` failed as unavailable; panics on success or another error.
fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> UnavailableKind {
    match r {
        Err(e) => e
            .unavailable()
            .unwrap_or_else(|| panic!("not 'unavailable': {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Unmigrated, or a table dropped under a running store: readiness and every read say "table
/// does not exist" (503 material, not a 500).
async fn missing_tables_are_unavailable(b: Backend) {
    let db = TestDb::create(b).await;
    let store = store_at(&db.url, WAIT).await;
    assert_eq!(kind(store.ping().await), UnavailableKind::MissingTable);
    assert_eq!(
        kind(store.events(&EventQuery::after("v", 0, 10)).await),
        UnavailableKind::MissingTable
    );
    assert_eq!(kind(store.variants().await), UnavailableKind::MissingTable);
    store.migrate().await.expect("migrate");
    store.ping().await.expect("ready once migrated");
    db.raw(1)
        .await
        .exec("DROP TABLE monitor_signal_seq")
        .await
        .expect("drop table");
    assert_eq!(kind(store.ping().await), UnavailableKind::MissingTable);
    assert_eq!(
        kind(store.poll_state().await),
        UnavailableKind::MissingTable
    );
    store.close().await;
}

/// Refused connections, refused credentials, a missing database and a database dropped under the
/// running store are each reported with their reason.
async fn unavailable_reasons(b: Backend) {
    let db = TestDb::create(b).await;
    let base = db.url.rsplit_once('/').map(|(base, _)| base).expect("url");
    let (scheme, rest) = base.split_once("://").expect("scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    // A port nobody listens on: bind one, then free it.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let cases = [
        (
            format!("{scheme}://root@127.0.0.1:{closed_port}/{}", db.name),
            UnavailableKind::Unreachable,
        ),
        (
            format!("{scheme}://sgt_no_such_role@{host}/{}", db.name),
            UnavailableKind::AuthFailed,
        ),
        (
            format!("{base}/sgt_no_such_db"),
            UnavailableKind::MissingDatabase,
        ),
    ];
    for (url, expected) in cases {
        let store = store_at(&url, Duration::from_secs(5)).await;
        assert_eq!(kind(store.ping().await), expected, "{url}");
        assert_eq!(kind(store.variants().await), expected, "{url}");
    }

    // Dropped under a running store: never ready again, whatever the server says first.
    let store = db.store().await;
    store.ping().await.expect("ready");
    db.drop_db().await;
    let reason = kind(store.ping().await);
    assert!(
        matches!(
            reason,
            UnavailableKind::MissingTable
                | UnavailableKind::MissingDatabase
                | UnavailableKind::Unreachable
        ),
        "{reason:?}"
    );
    assert!(store.ping().await.is_err(), "still not ready");
    store.close().await;
}

/// MySQL checks the password too (PostgreSQL here trusts local connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_wrong_password_is_auth_failed() {
    let db = TestDb::create(Backend::MySql).await;
    let url = db.url.replacen("://root@", "://root:wrong-password@", 1);
    assert_ne!(
        url, db.url,
        "the test server URL names root without a password"
    );
    let store = store_at(&url, Duration::from_secs(5)).await;
    assert_eq!(kind(store.ping().await), UnavailableKind::AuthFailed);
}

/// A database file that cannot be opened (here: a directory) is unreachable, not a query bug.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_unopenable_file_is_unreachable() {
    let dir = std::env::temp_dir().join(unique("sgt_dir"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = store_at(&format!("sqlite://{}", dir.display()), WAIT).await;
    assert_eq!(kind(store.ping().await), UnavailableKind::Unreachable);
    let _ = std::fs::remove_dir(&dir);
}

/// A server that accepts connections but never answers: `ping` gives up after its own short
/// timeout, not the pool's long acquire timeout.
async fn ping_answers_within_its_own_timeout(b: Backend) {
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            conns.push(conn); // held open, never written to
        }
    });
    let scheme = if b == Backend::MySql {
        "mysql"
    } else {
        "postgres"
    };
    let store = store_at(
        &format!("{scheme}://root@{addr}/x"),
        Duration::from_secs(60),
    )
    .await;
    let started = tokio::time::Instant::now();
    assert_eq!(kind(store.ping().await), UnavailableKind::Unreachable);
    let took = started.elapsed();
    assert!(
        // The store's outage gate may answer sooner than the ping timeout (the first query of a
        // store not yet known to be up waits at most 500 ms), never later.
        took < PING_TIMEOUT + Duration::from_secs(2),
        "{b:?}: ping took {took:?}"
    );
    held.abort();
}

/// PostgreSQL's listener wakes the poller on a commit and runs until the store closes; the
/// other backends have nothing to listen to and return at once. Closing waits for every
/// connection, the listener's included.
async fn listener_wakes_and_ends_with_the_store(b: Backend) {
    let db = TestDb::create(b).await;
    let store = db.store().await;
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
        // NOTIFY is opt-in: the documented triggers.
        db.raw(1)
            .await
            .exec(include_str!("../../deploy/postgres-notify.sql"))
            .await
            .expect("install the wake-up triggers");
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
    let store = db.store().await;
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

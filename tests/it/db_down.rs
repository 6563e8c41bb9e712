//! `serve --no-migrate` while the database server is down (nothing listens on its port, so
//! connections are refused and sqlx would retry them until the acquire timeout): the gateway
//! listens at once, every data endpoint answers 503 `database_unavailable` within a second, and
//! it recovers by itself once the database is reachable. (SQLite is embedded: no server.)

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use signalgate::{Application, BuildOptions};

use crate::common::{Backend, TestDb, app::test_config, procs::free_port, proxy::Proxy, wait_for};

/// The bound of the issue: a refused database must not make a request wait longer.
const FAST: Duration = Duration::from_secs(1);

const PATHS: [&str; 4] = [
    "/api/variants",
    "/api/snapshot/v",
    "/api/events/v",
    "/api/bars?vt_symbol=a.B&interval=1m",
];

async fn no_migrate_with_the_database_down_listens_at_once_and_answers_503_fast(b: Backend) {
    let db = TestDb::create(b).await;
    drop(db.store().await); // migrated directly; the gateway runs with --no-migrate
    let down = format!("127.0.0.1:{}", free_port()); // nothing listens here yet
    let mut via = db.clone();
    via.url = db.url_via(&down);
    let config = test_config(&via);
    assert_eq!(
        config.database.db_acquire_timeout_ms, 5000,
        "the default acquire timeout"
    );

    let started = Instant::now();
    let options = BuildOptions {
        migrate: false,
        demo: None,
    };
    let app = Application::build(config, options).await.expect("builds");
    let to_listen = started.elapsed();
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http.get(format!("{base}{path}"));
        async move {
            let t = Instant::now();
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body, t.elapsed())
        }
    };

    let mut slowest = Duration::ZERO;
    for _ in 0..2 {
        for path in PATHS {
            let (status, body, took) = get(path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
            assert_eq!(
                body["error"]["code"], "database_unavailable",
                "{path}: {body}"
            );
            slowest = slowest.max(took);
        }
    }
    eprintln!(
        "MEASURED {b:?} database down: listening after {to_listen:?}, slowest 503 {slowest:?}"
    );
    assert!(to_listen < FAST, "listening took {to_listen:?}");
    assert!(slowest < FAST, "a 503 took {slowest:?}");

    // The database comes back on the same address: the gateway recovers without a restart.
    let _proxy = Proxy::start_at(&down, db.server.clone().expect("server")).await;
    wait_for(
        "REST and readiness after the database is back",
        Duration::from_secs(20),
        || async {
            let (variants, _, _) = get("/api/variants").await;
            let (ready, _, _) = get("/readyz").await;
            (variants == StatusCode::OK && ready == StatusCode::OK).then_some(())
        },
    )
    .await;
    let _ = stop.send(());
    let _ = serving.await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_no_migrate_with_the_database_down_answers_fast() {
    no_migrate_with_the_database_down_listens_at_once_and_answers_503_fast(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_no_migrate_with_the_database_down_answers_fast() {
    no_migrate_with_the_database_down_listens_at_once_and_answers_503_fast(Backend::Postgres).await;
}

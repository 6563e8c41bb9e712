//! A critical background task that dies is never silent: with a panic injected into it (the
//! `test-hooks` feature, test builds only), `/readyz` turns 503 naming the task,
//! `run_until_stopped` returns an error naming it within a bounded time, and the real binary
//! logs it at ERROR and exits non-zero.

use std::{
    io::Read,
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;
use signalgate::{config::DatabaseUrl, lifecycle::FAULT_DRAIN};

use crate::common::{
    Backend, TestDb, app::build, app::test_config, binary, procs, unique, wait_for,
};

/// `--shutdown-timeout` in these tests.
const SHUTDOWN: Duration = Duration::from_secs(5);

/// Builds and serves a gateway (in group mode with `redis`), injects a panic into `task` once
/// it is ready, and checks the 503 and the error.
async fn fault_in(task: &'static str, redis: Option<&str>) {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.limits.shutdown_timeout = SHUTDOWN;
    if let Some(url) = redis {
        config.redis.redis_url = Some(DatabaseUrl::new(url.to_owned()));
        config.redis.redis_group = unique("crit");
        config.redis.redis_lease_ttl_ms = 1000;
    }
    let app = build(config).await;
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let tasks = app.tasks();
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();
    let readyz = |http: reqwest::Client, base: String| async move {
        let resp = http.get(format!("{base}/readyz")).send().await.ok()?;
        let status = resp.status();
        Some((status, resp.json::<Value>().await.unwrap_or(Value::Null)))
    };
    wait_for("the gateway to be ready", Duration::from_secs(20), || {
        let r = readyz(http.clone(), base.clone());
        async move { r.await.filter(|(s, _)| *s == StatusCode::OK) }
    })
    .await;
    if redis.is_some() {
        // The poller only runs on the leader: wait until this (only) instance leads.
        wait_for("leadership", Duration::from_secs(20), || {
            let r = readyz(http.clone(), base.clone());
            async move {
                r.await
                    .filter(|(_, b)| b["group"]["role"] == "leader")
                    .map(|_| ())
            }
        })
        .await;
    }

    let injected = Instant::now();
    tasks.inject_panic(task);
    let (_, body) = wait_for("/readyz to answer 503", FAULT_DRAIN, || {
        let r = readyz(http.clone(), base.clone());
        async move {
            r.await
                .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        }
    })
    .await;
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(task), "{body}");

    let bound = FAULT_DRAIN + SHUTDOWN + Duration::from_secs(2);
    let result = tokio::time::timeout(bound, server)
        .await
        .unwrap_or_else(|_| panic!("{task}: the gateway did not stop within {bound:?}"))
        .expect("server task");
    let err = result.expect_err("a failed critical task makes run_until_stopped fail");
    assert!(err.to_string().contains(task), "{err}");
    assert_eq!(tasks.fault().failed(), Some(task));
    assert_eq!(tasks.running(), 0, "every task stopped");
    assert!(
        injected.elapsed() >= FAULT_DRAIN,
        "/readyz was 503 before the stop"
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_bus_consumer_stops_the_gateway() {
    fault_in("bus-consumer", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_poller_stops_the_gateway() {
    fault_in("poller", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_poller_supervisor_stops_the_gateway() {
    fault_in("poller-supervisor", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_lease_loop_stops_a_group_member() {
    let dir = procs::test_dir("crit");
    let redis = procs::RedisServer::start(&dir).await;
    // In group mode `poller-supervisor` is the election loop (lease, roles).
    fault_in("poller-supervisor", Some(&redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_group_poller_stops_a_group_member() {
    let dir = procs::test_dir("crit");
    let redis = procs::RedisServer::start(&dir).await;
    fault_in("poller", Some(&redis.url())).await;
}

/// A task that is stopped on purpose is no fault: a normal stop returns Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_normal_stop_is_no_fault() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = build(test_config(&db)).await;
    let tasks = app.tasks();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    wait_for("the tasks to start", Duration::from_secs(20), || {
        let n = tasks.running();
        async move { (n >= 3).then_some(()) }
    })
    .await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("stops")
        .expect("server task")
        .expect("a normal stop is Ok");
    assert_eq!(tasks.fault().failed(), None);
    db.drop_db().await;
}

/// The real binary: the fault is logged at ERROR with the task's name and the process exits
/// non-zero within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_non_zero_and_logs_the_task() {
    let db = TestDb::create(Backend::Sqlite).await;
    let started = Instant::now();
    let mut child = binary()
        .args(["--database-url", &db.url, "--listen", "127.0.0.1:0"])
        .args(["--shutdown-timeout", "5s", "serve"])
        .env("SIGNALGATE_TEST_INJECT_PANIC", "bus-consumer")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signalgate");
    let bound = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            panic!("the binary did not exit within {bound:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exit status {status}\n{stderr}");
    let error_line = stderr
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("critical task ended unexpectedly"))
        .unwrap_or_else(|| panic!("no ERROR line about the task:\n{stderr}"));
    assert!(error_line.contains("bus-consumer"), "{error_line}");
    assert!(
        stderr.contains("Error: critical task bus-consumer ended unexpectedly"),
        "{stderr}"
    );
    db.drop_db().await;
}

//! Test harness, zero2prod style: a fresh database per test (per backend), the gateway on port 0,
//! typed helpers (REST, a real Socket.IO client, a writer that behaves like a strategy) and a TCP
//! proxy to take the database away mid-test, and real processes (gateways, Redis, nginx) for
//! group mode. Tracing output only with `TEST_LOG=1`.

pub mod app;
pub mod db;
pub mod procs;
pub mod proxy;
pub mod raw_sio;
pub mod sio;
pub mod writer;

use std::{future::Future, time::Duration};

pub use app::{spawn_app, spawn_app_with};
pub use db::{Backend, TestDb};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The JSON body of a GET of `url` (`None` if the request or the body fails).
pub async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// A unique, short suffix for database and variant names.
pub fn unique(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{prefix}_{:012x}", n & 0xffff_ffff_ffff)
}

/// Generates one `#[tokio::test]` per backend for each listed async fn taking a [`Backend`].
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::common::Backend::MySql).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await }) *
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await }) *
        }
    };
}

/// The `signalgate` binary, without any `SIGNALGATE_*` or `RUST_LOG` from the environment.
pub fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_signalgate"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNALGATE_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `cmd`, asserts it succeeded, and returns its stdout.
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("run signalgate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Numbers every pending event of `store` the way the gateway's poller does (probe, then one
/// numbering round, until nothing is pending): for tests that read events through the store
/// without a running gateway.
pub async fn number_pending(store: &dyn signalgate::store::Store) {
    for _ in 0..1000 {
        let probe = store.probe(1000).await.expect("probe");
        if probe.events.is_empty() && probe.snapshots.is_empty() {
            return;
        }
        let marks: Vec<(i64, i64)> = probe
            .snapshots
            .iter()
            .map(|p| (p.id, p.snapshot.version))
            .collect();
        let plan = signalgate::store::Numbering::plan(probe.events);
        store
            .number(probe.round, &plan, &marks)
            .await
            .expect("numbering round");
    }
    panic!("events still pending after 1000 numbering rounds");
}

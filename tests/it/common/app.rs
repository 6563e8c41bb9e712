//! Spawning the gateway on port 0 against a test database.

use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::Value;
use signalgate::{
    Application, BuildOptions,
    config::{Config, DatabaseUrl, DemoArgs},
    realtime::{bars::LiveBars, fanout::Fanout, hub::Hub},
    store::{self, PoolOptions, Store},
};
use socketioxide::SocketIo;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{Backend, TestDb};

/// A running gateway plus helpers.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    /// Direct access to the test database (writes like a strategy; bypasses any proxy).
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub fanout: Arc<Fanout>,
    pub live_bars: Arc<LiveBars>,
    pub io: SocketIo,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn init_tracing() {
    if std::env::var("TEST_LOG").is_ok() {
        signalgate::telemetry::init(signalgate::config::LogFormat::Text);
    }
}

/// A gateway on a fresh database with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDb::create(backend).await;
    spawn_app_with(db, |_| {}).await
}

/// The test configuration for `db`: port 0, short heartbeats.
pub fn test_config(db: &TestDb) -> Config {
    init_tracing();
    let mut config = Config::default_for_tests();
    config.http.listen = "127.0.0.1:0".parse().expect("addr");
    config.database.database_url = Some(DatabaseUrl::new(db.url.clone()));
    // Short heartbeats so dead peers are noticed within the test's deadlines.
    config.realtime.ping_interval_ms = 2000;
    config.realtime.ping_timeout_ms = 2000;
    config
}

/// Builds (binds, migrates) a gateway with `config` without serving it yet.
pub async fn build(config: Config) -> Application {
    build_with_demo(config, None).await
}

async fn build_with_demo(config: Config, demo: Option<DemoArgs>) -> Application {
    Application::build(
        config,
        BuildOptions {
            migrate: true,
            demo,
        },
    )
    .await
    .expect("gateway builds")
}

/// A gateway on `db`; `tweak` adjusts the configuration (the database URL is preset).
pub async fn spawn_app_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_demo(db, None, tweak).await
}

/// Like [`spawn_app_with`], also running the demo writer (`serve --demo`) when `demo` is set.
pub async fn spawn_app_with_demo(
    db: TestDb,
    demo: Option<DemoArgs>,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = test_config(&db);
    tweak(&mut config);
    let app = build_with_demo(config, demo).await;
    let addr = app.local_addr().expect("addr");
    let hub = app.hub();
    let fanout = app.fanout();
    let live_bars = app.live_bars();
    let io = app.io();
    let store = store::connect(
        &db.url,
        &PoolOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .expect("direct store");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = rx.await;
            })
            .await;
    });
    let app = TestApp {
        base: format!("http://{addr}"),
        db,
        store,
        hub,
        fanout,
        live_bars,
        io,
        http: reqwest::Client::new(),
        stop: Some(tx),
        task: Some(task),
    };
    // Ready = the database answers, the live state is loaded and the poller has polled.
    super::wait_for(
        "the gateway to be ready",
        Duration::from_secs(20),
        || async { (app.get("/readyz").await.0 == StatusCode::OK).then_some(()) },
    )
    .await;
    app
}

impl TestApp {
    /// GET a path, returning status and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Stops the gateway (closing every Socket.IO connection) and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Stops the gateway and drops its database.
    pub async fn finish(mut self) {
        self.stop().await;
        self.db.drop_db().await;
    }
}

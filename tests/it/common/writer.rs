//! A writer that behaves like a strategy process: plain SQL on the seed columns only (never
//! `seq` or `version`), events inserted idempotently, optionally inside a transaction held open
//! for a while (so commits land out of `id` order).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{MySqlPool, PgPool, SqlitePool};

use super::{Backend, TestDb};

/// A seed-column event: the same shape the store's demo writer uses.
pub type Ev = signalgate::store::NewEvent;

/// A signal event with a unique key derived from `n`.
pub fn ev(variant: &str, n: u64, vt_symbol: &str) -> Ev {
    let bar = DateTime::from_timestamp(1_714_550_400 + n as i64 * 60, 0).unwrap_or_default();
    Ev {
        variant: variant.into(),
        instance_id: "inst-01".into(),
        vt_symbol: vt_symbol.into(),
        bar_dt: Some(bar),
        event_type: "signal".into(),
        event_key: format!("{variant}|inst-01|{vt_symbol}|{}|buy-{n}", bar.to_rfc3339()),
        created_at: Utc::now(),
        payload: json!({"signal_type": "buy", "n": n}).to_string(),
    }
}

enum Pool {
    My(MySqlPool),
    Pg(PgPool),
    Lite(SqlitePool),
}

/// Writes straight to the test database (not through the gateway or a proxy).
pub struct Writer {
    pool: Pool,
}

fn lite_time(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

const MY_EVENT: &str = "INSERT IGNORE INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const PG_EVENT: &str = "INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_key) DO NOTHING";
const LITE_EVENT: &str = "INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING";

const MY_SNAP: &str = "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES (?, ?, ?, NULL, '1m', 1, ?) ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), payload_json = VALUES(payload_json)";
const PG_SNAP: &str = "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES ($1, $2, $3, NULL, '1m', 1, $4::jsonb) ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at, payload_json = excluded.payload_json";
const LITE_SNAP: &str = "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES (?, ?, ?, NULL, '1m', 1, ?) ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at, payload_json = excluded.payload_json";

macro_rules! bind_event {
    ($q:expr, $e:expr, $time:expr) => {
        $q.bind(&$e.variant)
            .bind(&$e.instance_id)
            .bind(&$e.vt_symbol)
            .bind($e.bar_dt.map($time))
            .bind(&$e.event_type)
            .bind(&$e.event_key)
            .bind($time($e.created_at))
            .bind(&$e.payload)
    };
}

impl Writer {
    /// Connects to the test database with room for `connections` concurrent writers.
    pub async fn connect(db: &TestDb, connections: u32) -> Self {
        let pool = match db.backend {
            Backend::MySql => Pool::My(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(connections)
                    .connect(&db.url)
                    .await
                    .expect("writer connects"),
            ),
            Backend::Postgres => Pool::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(connections)
                    .connect(&db.url)
                    .await
                    .expect("writer connects"),
            ),
            Backend::Sqlite => Pool::Lite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(connections)
                    .connect_with(
                        db.url
                            .parse::<sqlx::sqlite::SqliteConnectOptions>()
                            .expect("sqlite url")
                            .busy_timeout(Duration::from_secs(30)),
                    )
                    .await
                    .expect("writer connects"),
            ),
        };
        Self { pool }
    }

    /// Inserts `events` in one transaction, holds it open for `hold`, then commits (or rolls
    /// back). Returns how many rows were inserted.
    pub async fn tx(
        &self,
        events: &[Ev],
        hold: Duration,
        commit: bool,
    ) -> Result<u64, sqlx::Error> {
        let mut n = 0;
        match &self.pool {
            Pool::My(p) => {
                let mut tx = p.begin().await?;
                for e in events {
                    n += bind_event!(sqlx::query(MY_EVENT), e, |t: DateTime<Utc>| t.naive_utc())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tokio::time::sleep(hold).await; // simulated strategy work inside the transaction
                if commit {
                    tx.commit().await?
                } else {
                    tx.rollback().await?
                }
            }
            Pool::Pg(p) => {
                let mut tx = p.begin().await?;
                for e in events {
                    n += bind_event!(sqlx::query(PG_EVENT), e, |t: DateTime<Utc>| t)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tokio::time::sleep(hold).await;
                if commit {
                    tx.commit().await?
                } else {
                    tx.rollback().await?
                }
            }
            Pool::Lite(p) => {
                let mut tx = p.begin().await?;
                for e in events {
                    n += bind_event!(sqlx::query(LITE_EVENT), e, lite_time)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tokio::time::sleep(hold).await;
                if commit {
                    tx.commit().await?
                } else {
                    tx.rollback().await?
                }
            }
        }
        Ok(n)
    }

    /// Inserts one event in its own transaction.
    pub async fn event(&self, e: &Ev) -> u64 {
        self.tx(std::slice::from_ref(e), Duration::ZERO, true)
            .await
            .expect("event insert")
    }

    /// Upserts a snapshot with the seed columns only.
    pub async fn snapshot(&self, variant: &str, instance: &str, payload: &serde_json::Value) {
        let now = Utc::now();
        let body = payload.to_string();
        let r = match &self.pool {
            Pool::My(p) => sqlx::query(MY_SNAP)
                .bind(variant)
                .bind(instance)
                .bind(now.naive_utc())
                .bind(&body)
                .execute(p)
                .await
                .map(|_| ()),
            Pool::Pg(p) => sqlx::query(PG_SNAP)
                .bind(variant)
                .bind(instance)
                .bind(now)
                .bind(&body)
                .execute(p)
                .await
                .map(|_| ()),
            Pool::Lite(p) => sqlx::query(LITE_SNAP)
                .bind(variant)
                .bind(instance)
                .bind(lite_time(now))
                .bind(&body)
                .execute(p)
                .await
                .map(|_| ()),
        };
        r.expect("snapshot upsert");
    }

    /// `(seq, id)` of every event of `variant`, by seq.
    pub async fn seqs(&self, variant: &str) -> Vec<(i64, i64)> {
        let q = "SELECT seq, id FROM monitor_signal_event WHERE variant = ";
        match &self.pool {
            Pool::My(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{q}? ORDER BY seq")))
                    .bind(variant)
                    .fetch_all(p)
                    .await
            }
            Pool::Pg(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{q}$1 ORDER BY seq")))
                    .bind(variant)
                    .fetch_all(p)
                    .await
            }
            Pool::Lite(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{q}? ORDER BY seq")))
                    .bind(variant)
                    .fetch_all(p)
                    .await
            }
        }
        .expect("read seqs")
    }

    /// `seq`s of `variant` above `after` as a poller would read them (autocommit, by seq).
    pub async fn read_after(&self, variant: &str, after: i64, by_id: bool) -> Vec<i64> {
        let col = if by_id { "id" } else { "seq" };
        let sql = |ph1: &str, ph2: &str| {
            format!(
                "SELECT {col} FROM monitor_signal_event WHERE variant = {ph1} AND {col} > {ph2} ORDER BY {col}"
            )
        };
        match &self.pool {
            Pool::My(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql("?", "?")))
                    .bind(variant)
                    .bind(after)
                    .fetch_all(p)
                    .await
            }
            Pool::Pg(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql("$1", "$2")))
                    .bind(variant)
                    .bind(after)
                    .fetch_all(p)
                    .await
            }
            Pool::Lite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql("?", "?")))
                    .bind(variant)
                    .bind(after)
                    .fetch_all(p)
                    .await
            }
        }
        .expect("poll read")
    }

    /// Runs a raw statement (test set-up only).
    pub async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.pool {
            Pool::My(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Pool::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Pool::Lite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .expect("exec");
    }

    /// `version` of a snapshot row.
    pub async fn version(&self, variant: &str, instance: &str) -> i64 {
        let q = |a: &str, b: &str| {
            format!(
                "SELECT version FROM monitor_signal_snapshot WHERE variant = {a} AND instance_id = {b}"
            )
        };
        match &self.pool {
            Pool::My(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(q("?", "?")))
                    .bind(variant)
                    .bind(instance)
                    .fetch_one(p)
                    .await
            }
            Pool::Pg(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(q("$1", "$2")))
                    .bind(variant)
                    .bind(instance)
                    .fetch_one(p)
                    .await
            }
            Pool::Lite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(q("?", "?")))
                    .bind(variant)
                    .bind(instance)
                    .fetch_one(p)
                    .await
            }
        }
        .expect("read version")
    }
}

/// Writes `n` events (keys numbered from `base`) into `variant` from `writers` concurrent writers
/// at about `rate` events/s in total, each transaction holding 1-3 events open for 0-3 ms (so commits land out of `id`
/// order). `written` counts committed events as they land. Returns the number inserted.
pub async fn write_paced(
    w: Arc<Writer>,
    variant: &str,
    (writers, n, base): (u64, u64, u64),
    rate: f64,
    written: Arc<AtomicU64>,
) -> u64 {
    use rand::Rng;
    let mut tasks = Vec::new();
    for wid in 0..writers {
        let per = n / writers + u64::from(wid < n % writers);
        let (w, v, written) = (w.clone(), variant.to_owned(), written.clone());
        // Two events per transaction on average: this writer's share of the rate.
        let pause = Duration::from_secs_f64(2.0 * writers as f64 / rate);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(pause);
            let (mut done, mut i) = (0u64, 0u64);
            while done < per {
                tick.tick().await; // pacing the load, not synchronisation
                let (k, hold) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(1..=3u64).min(per - done),
                        Duration::from_millis(rng.random_range(0..4)),
                    )
                };
                let evs: Vec<_> = (0..k)
                    .map(|j| ev(&v, base + wid * 10_000_000 + i + j, "rb2405.SHFE"))
                    .collect();
                i += k;
                // A loaded shared server may time out a lock wait: retry like a strategy
                // would (the failed transaction was rolled back; keys are idempotent).
                let mut attempt = 0;
                let n = loop {
                    match w.tx(&evs, hold, true).await {
                        Ok(n) => break n,
                        Err(err) if attempt < 5 => {
                            attempt += 1;
                            eprintln!("write failed ({err}); retrying");
                        }
                        Err(err) => panic!("write failed 6 times: {err}"),
                    }
                };
                written.fetch_add(n, Ordering::SeqCst);
                done += n;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer task");
    }
    total
}

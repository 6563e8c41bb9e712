//! A writer that behaves like a strategy process: plain SQL on the seed columns only (never
//! `seq` or `version`), events inserted idempotently, optionally inside a transaction held open
//! for a while (so commits land out of `id` order).
//!
//! Snapshot upserts go through the gateway's own store (the statement its demo writer uses);
//! event transactions and reads through a [`Raw`] connection. Only the placeholder style and the
//! event insert differ per backend.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::json;
use signalgate::store::{self, NewSnapshot, PoolOptions, Store};

use super::{
    Backend, TestDb,
    db::{Arg, Raw, Stmt},
};

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

/// Writes straight to the test database (not through the gateway or a proxy).
pub struct Writer {
    backend: Backend,
    store: Arc<dyn Store>,
    raw: Box<dyn Raw>,
}

impl Writer {
    /// Connects to the test database with room for `connections` concurrent writers.
    pub async fn connect(db: &TestDb, connections: u32) -> Self {
        let opts = PoolOptions {
            max_connections: connections,
            // Concurrent writers queue for a connection (and SQLite's write lock) this long.
            acquire_timeout: Duration::from_secs(30),
        };
        Self {
            backend: db.backend,
            store: store::connect(&db.url, &opts).await.expect("writer store"),
            raw: db.raw(connections).await,
        }
    }

    /// The `n`th (1-based) placeholder.
    fn ph(&self, n: usize) -> String {
        match self.backend {
            Backend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    /// The idempotent event insert a strategy runs inside its own transaction.
    fn insert_event(&self, e: &Ev) -> Stmt {
        let marks: Vec<String> = (1..=8).map(|n| self.ph(n)).collect();
        let (ignore, cast, conflict) = match self.backend {
            Backend::MySql => ("IGNORE ", "", ""),
            Backend::Postgres => ("", "::jsonb", " ON CONFLICT DO NOTHING"),
            Backend::Sqlite => ("", "", " ON CONFLICT DO NOTHING"),
        };
        let sql = format!(
            "INSERT {ignore}INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, \
             event_type, event_key, created_at, payload_json) VALUES ({}{cast}){conflict}",
            marks.join(", ")
        );
        let s = |v: &String| Arg::Str(v.clone());
        let args = vec![
            s(&e.variant),
            s(&e.instance_id),
            s(&e.vt_symbol),
            Arg::Time(e.bar_dt),
            s(&e.event_type),
            s(&e.event_key),
            Arg::Time(Some(e.created_at)),
            s(&e.payload),
        ];
        Stmt::new(sql, args)
    }

    /// Inserts `events` in one transaction, holds it open for `hold`, then commits (or rolls
    /// back). Returns how many rows were inserted.
    pub async fn tx(
        &self,
        events: &[Ev],
        hold: Duration,
        commit: bool,
    ) -> Result<u64, sqlx::Error> {
        let stmts = events.iter().map(|e| self.insert_event(e)).collect();
        self.raw.tx(stmts, hold, commit).await
    }

    /// Inserts one event in its own transaction (`BEGIN`, `INSERT`, `COMMIT`, as a strategy
    /// does); 1 if inserted, 0 if its key existed.
    pub async fn event(&self, e: &Ev) -> u64 {
        self.tx(std::slice::from_ref(e), Duration::ZERO, true)
            .await
            .expect("event insert")
    }

    /// Upserts a snapshot with the seed columns only.
    pub async fn snapshot(&self, variant: &str, instance: &str, payload: &serde_json::Value) {
        let s = NewSnapshot {
            variant: variant.into(),
            instance_id: instance.into(),
            updated_at: Utc::now(),
            bar_dt: None,
            bar_interval: Some("1m".into()),
            bar_window: Some(1),
            payload: payload.to_string(),
        };
        self.store
            .upsert_snapshot(&s)
            .await
            .expect("snapshot upsert");
    }

    /// Integer rows of `sql` with string/integer arguments.
    async fn ints(&self, sql: String, args: Vec<Arg>) -> Vec<Vec<i64>> {
        self.raw
            .ints(Stmt::new(sql, args))
            .await
            .expect("test read")
    }

    /// `(seq, id)` of every event of `variant`, by seq, once the gateway has numbered every
    /// event of it (events are inserted with `seq` NULL; the poller numbers them). Panics if
    /// a running gateway does not number them within 30 s.
    pub async fn seqs(&self, variant: &str) -> Vec<(i64, i64)> {
        let pending = format!(
            "SELECT COUNT(*) FROM monitor_signal_event WHERE variant = {} AND seq IS NULL",
            self.ph(1)
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = self
                .ints(pending.clone(), vec![Arg::Str(variant.into())])
                .await;
            let left = left.first().and_then(|r| r.first()).copied().unwrap_or(0);
            if left == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{left} events of {variant} still unnumbered after 30 s: is a gateway running?"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sql = format!(
            "SELECT seq, id FROM monitor_signal_event WHERE variant = {} ORDER BY seq",
            self.ph(1)
        );
        let rows = self.ints(sql, vec![Arg::Str(variant.into())]).await;
        rows.into_iter().map(|r| (r[0], r[1])).collect()
    }

    /// `seq`s of `variant` above `after` as a poller would read them (autocommit, by seq).
    pub async fn read_after(&self, variant: &str, after: i64, by_id: bool) -> Vec<i64> {
        let col = if by_id { "id" } else { "seq" };
        let sql = format!(
            "SELECT {col} FROM monitor_signal_event WHERE variant = {} AND {col} > {} ORDER BY {col}",
            self.ph(1),
            self.ph(2)
        );
        let args = vec![Arg::Str(variant.into()), Arg::I64(after)];
        self.ints(sql, args)
            .await
            .into_iter()
            .map(|r| r[0])
            .collect()
    }

    /// Runs a raw statement (test set-up only).
    pub async fn exec(&self, sql: &str) {
        self.raw.exec(sql).await.expect("exec");
    }

    /// `version` of a snapshot row.
    pub async fn version(&self, variant: &str, instance: &str) -> i64 {
        let sql = format!(
            "SELECT version FROM monitor_signal_snapshot WHERE variant = {} AND instance_id = {}",
            self.ph(1),
            self.ph(2)
        );
        let args = vec![Arg::Str(variant.into()), Arg::Str(instance.into())];
        let rows = self.ints(sql, args).await;
        rows.first().map(|r| r[0]).expect("snapshot row exists")
    }
}

/// One strategy-like transaction: 1-3 events (at most `left`) numbered from `first`, and how
/// long to hold it open (0-3 ms, so concurrent commits land out of `id` order).
pub fn random_tx(variant: &str, first: u64, left: u64) -> (Vec<Ev>, Duration) {
    use rand::Rng;
    let mut rng = rand::rng();
    let k = rng.random_range(1..=3u64).min(left);
    let hold = Duration::from_millis(rng.random_range(0..4));
    let evs = (0..k)
        .map(|j| ev(variant, first + j, "rb2405.SHFE"))
        .collect();
    (evs, hold)
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
                let (evs, hold) = random_tx(&v, base + wid * 10_000_000 + i, per - done);
                i += evs.len() as u64;
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

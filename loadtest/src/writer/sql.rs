//! One writer's connection and the statements it sends: the event insert (seed columns only,
//! `INSERT IGNORE` / `ON CONFLICT DO NOTHING`), the snapshot upsert, the commit marker set right
//! before `COMMIT`, and for the raw peer the same row published as JSON.

use std::time::Duration;

use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::Sink;
use crate::{ledger::Ledger, now_us};

/// One event to write.
pub(super) struct Row<'a> {
    pub(super) ledger: &'a Ledger,
    pub(super) v: usize,
    pub(super) n: u64,
    pub(super) w: usize,
    pub(super) run_id: &'a str,
    pub(super) hold: Duration,
    pub(super) snap: bool,
    /// Snapshot payload shape: `(instruments, changed per update)`; 0 instruments = the small
    /// `{"n","writer"}` payload.
    pub(super) shape: (u64, u64),
    pub(super) id: usize,
}

impl Row<'_> {
    fn variant(&self) -> &str {
        &self.ledger.variants[self.v].name
    }
    fn key(&self) -> String {
        format!(
            "{}|lt-{}|{}|{}",
            self.variant(),
            self.w,
            self.run_id,
            self.n
        )
    }
    /// The snapshot's `payload_json`. With instruments, a book `{"writer", "instruments":
    /// {"SYM000.EX": {"price", "qty"}, ...}}` whose blocks of `changed` instruments take turns:
    /// an instrument's price is the latest event number at which its block was due, so two
    /// consecutive events change exactly one block.
    fn snapshot_payload(&self) -> String {
        let (instruments, changed) = self.shape;
        if instruments == 0 {
            return format!(r#"{{"n":{},"writer":{}}}"#, self.n, self.w);
        }
        let changed = changed.clamp(1, instruments);
        let blocks = instruments.div_ceil(changed);
        let mut out = format!(r#"{{"writer":{},"instruments":{{"#, self.w);
        for i in 0..instruments {
            let block = i / changed;
            let price = self
                .n
                .saturating_sub((self.n + blocks - block % blocks) % blocks);
            let sep = if i == 0 { "" } else { "," };
            out.push_str(&format!(
                r#"{sep}"SYM{i:03}.EX":{{"price":{price},"qty":{i}}}"#
            ));
        }
        out.push_str("}}");
        out
    }
    fn instance(&self) -> String {
        format!("lt-{}", self.w)
    }
    /// The payload: `n` identifies the event, `t_us` is the insert time (a fallback latency
    /// marker for readers of the table itself), the rest makes it the size of a real signal.
    fn payload(&self) -> String {
        format!(
            r#"{{"n":{},"t_us":{},"signal_type":"buy","price":3612.5,"reason":"td9 exhaustion","td_count":9}}"#,
            self.n,
            now_us()
        )
    }
    /// Records the commit marker; call right before committing.
    fn mark(&self) {
        self.ledger.mark(self.v, self.n, now_us());
    }
}

pub(super) const MY_EVENT: &str = "INSERT IGNORE INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES (?, ?, 'rb2405.SHFE', NULL, 'signal', ?, ?, ?)";
pub(super) const PG_EVENT: &str = "INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ($1, $2, 'rb2405.SHFE', NULL, 'signal', $3, $4, $5::jsonb) ON CONFLICT DO NOTHING";
pub(super) const MY_SNAP: &str = "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES (?, ?, ?, NULL, '1m', 1, ?) ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), payload_json = VALUES(payload_json)";
pub(super) const PG_SNAP: &str = "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES ($1, $2, $3, NULL, '1m', 1, $4::jsonb) ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at, payload_json = excluded.payload_json";

/// One writer's connection.
pub(super) enum Conn {
    My(sqlx::pool::PoolConnection<sqlx::MySql>),
    Pg(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Raw(Box<crate::sio::Ws>),
}

macro_rules! write_sql {
    ($c:expr, $row:expr, $event:expr, $snap:expr, $time:expr) => {{
        let row = $row;
        let now = chrono::Utc::now();
        let q = sqlx::query($event)
            .bind(row.variant())
            .bind(row.instance())
            .bind(row.key())
            .bind($time(now))
            .bind(row.payload());
        if row.hold.is_zero() && !row.snap {
            // One statement in autocommit: it commits as it returns.
            row.mark();
            q.execute(&mut **$c).await?;
            return Ok(());
        }
        let mut tx = sqlx::Connection::begin(&mut **$c).await?;
        q.execute(&mut *tx).await?;
        if row.snap {
            sqlx::query($snap)
                .bind(row.variant())
                .bind(row.instance())
                .bind($time(now))
                .bind(row.snapshot_payload())
                .execute(&mut *tx)
                .await?;
        }
        tokio::time::sleep(row.hold).await; // the strategy's work inside the transaction
        row.mark();
        tx.commit().await?;
        Ok(())
    }};
}

impl Conn {
    pub(super) async fn open(sink: &Sink) -> anyhow::Result<Self> {
        Ok(match sink {
            Sink::My(p) => Self::My(p.acquire().await?),
            Sink::Pg(p) => Self::Pg(p.acquire().await?),
            Sink::Raw(url) => {
                let url = format!(
                    "{}/publish",
                    url.trim_end_matches('/').replacen("http", "ws", 1)
                );
                Self::Raw(Box::new(tokio_tungstenite::connect_async(url).await?.0))
            }
        })
    }

    pub(super) async fn write(&mut self, row: &Row<'_>) -> anyhow::Result<()> {
        match self {
            Self::My(c) => write_sql!(c, row, MY_EVENT, MY_SNAP, |t: chrono::DateTime<
                chrono::Utc,
            >| t.naive_utc()),
            Self::Pg(c) => write_sql!(c, row, PG_EVENT, PG_SNAP, |t| t),
            Self::Raw(ws) => {
                // The same row a database poller would push, serialised as a server would.
                let text = format!(
                    r#"{{"id":{},"variant":"{}","instance_id":"{}","vt_symbol":"rb2405.SHFE","bar_dt":null,"event_type":"signal","event_key":"{}","created_at":"{}","payload":{}}}"#,
                    row.id + 1,
                    row.variant(),
                    row.instance(),
                    row.key(),
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                    row.payload()
                );
                row.mark();
                ws.send(Message::text(text)).await?;
                Ok(())
            }
        }
    }
}

//! PostgreSQL backend: connect options, time columns, change notifications. Signal times are
//! `TIMESTAMPTZ` (or plain `TIMESTAMP` holding UTC); VnPy bar times are naive `TIMESTAMP`. A `LISTEN signalgate` connection wakes
//! the poller as soon as a writer commits. The opt-in monthly partitions of the event table are
//! in `partition.rs`.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{
    Column, Pool, Row, Type,
    postgres::{PgListener, PgRow},
};
use tokio::sync::Notify;

use super::backend::{Backend, pool_options};
use super::dialect::Dialect;
use super::{PartitionPrune, PartitionReport, PoolOptions, StoreError};

impl Backend for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;

    fn pool(url: &str, opts: &PoolOptions) -> Result<Pool<Self>, StoreError> {
        pool_options(opts)
            .connect_lazy(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid PostgreSQL URL: {e}")))
    }

    /// `TIMESTAMPTZ` as it is; plain `TIMESTAMP` (common in existing databases) read as UTC.
    fn opt_time(row: &PgRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let column = row.try_column(col)?;
        if <DateTime<Utc> as Type<Self>>::compatible(column.type_info()) {
            row.try_get(col)
        } else {
            let naive: Option<NaiveDateTime> = row.try_get(col)?;
            Ok(naive.map(|t| t.and_utc()))
        }
    }

    async fn listen(pool: Pool<Self>, wake: Arc<Notify>) {
        listen_loop(pool, wake).await;
    }

    async fn partition_events(
        pool: &Pool<Self>,
        months_ahead: u32,
    ) -> Result<PartitionReport, StoreError> {
        super::partition::partition(pool, months_ahead).await
    }

    async fn prune_partitions(
        pool: &Pool<Self>,
        before: DateTime<Utc>,
        months_ahead: u32,
        dry_run: bool,
    ) -> Result<PartitionPrune, StoreError> {
        super::partition::prune(pool, before, months_ahead, dry_run).await
    }
}

/// Keeps a `LISTEN signalgate` connection open and pokes `wake` on every notification, until the
/// pool closes (or the caller drops the future). When the connection drops, notifications sent
/// meanwhile are lost; the poller's timer is the safety net, and a reconnect also wakes it once.
async fn listen_loop(pool: Pool<sqlx::Postgres>, wake: Arc<Notify>) {
    // Back-off between reconnect attempts while the database is down.
    const RETRY: Duration = Duration::from_secs(1);
    while !pool.is_closed() {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::debug!(error = %err, "LISTEN connection failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen("signalgate").await {
            tracing::debug!(error = %err, "LISTEN failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        tracing::debug!("listening for change notifications");
        wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.notify_one(),
                // Connection lost and re-established by sqlx: poll once to catch up.
                Ok(None) => wake.notify_one(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(err) => {
                    tracing::debug!(error = %err, "LISTEN connection broke; reconnecting");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

//! PostgreSQL only, opt-in: monthly range partitions of `monitor_signal_event` on `created_at`
//! (`signalgate partition`), their roll-over and the drop of whole old partitions
//! (`signalgate prune`, `--retention`). Not a numbered migration: nothing changes unless an
//! operator runs the command.
//!
//! A partitioned table cannot have a unique key without the partition key, so `event_key`
//! uniqueness moves to a small unpartitioned table `monitor_signal_event_key` (`event_key` PK,
//! `created_at`): a BEFORE INSERT trigger claims the key there and skips the row
//! (`RETURN NULL`) when it exists, so a duplicate is ignored, as on the plain table. An AFTER
//! DELETE trigger forgets the key of a deleted row, and dropping a partition deletes the keys
//! of its month. Events arrive with `seq` NULL and are numbered by the gateway (migration
//! 0005), through the same partial index on `seq IS NULL`, so the poller's cursor is untouched.
//!
//! Everything runs in one transaction under an advisory lock: the conversion takes an
//! `ACCESS EXCLUSIVE` lock on the table while it copies the rows (writers wait), a roll-over
//! only creates the months that are missing (rows of that month waiting in the DEFAULT
//! partition are moved in), so running either again is harmless.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{Pool, Postgres, Row, Transaction};

use super::{
    PartitionPrune, PartitionReport, StoreError,
    partition_ddl::{COPY_GRANTS, KEY_SETUP, TABLE_SETUP},
};

const TABLE: &str = "monitor_signal_event";
const DEFAULT_PART: &str = "monitor_signal_event_default";
const OLD_TABLE: &str = "monitor_signal_event_unpartitioned";
/// Partitions are created at most this many months back from now at conversion; older rows
/// land in the DEFAULT partition (and are pruned in batches).
const MAX_MONTHS_BACK: u32 = 120;
/// Serialises conversions, roll-overs and drops (a cron job and the group leader may meet).
const LOCK_KEY: &str = "SELECT pg_advisory_xact_lock(hashtext('signalgate_event_partitions'))";

/// A calendar month (UTC), the unit of partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Month {
    year: i32,
    month: u32,
}

impl Month {
    fn of(t: DateTime<Utc>) -> Self {
        Self {
            year: t.year(),
            month: t.month(),
        }
    }

    fn plus(self, n: i64) -> Self {
        let i = i64::from(self.year) * 12 + i64::from(self.month) - 1 + n;
        Self {
            year: i.div_euclid(12) as i32,
            month: i.rem_euclid(12) as u32 + 1,
        }
    }

    /// The first instant of the month.
    fn start(self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
    }

    /// A literal usable for `TIMESTAMPTZ` and (the offset ignored) `TIMESTAMP` columns.
    fn literal(self) -> String {
        format!("'{:04}-{:02}-01 00:00:00+00'", self.year, self.month)
    }

    /// `monitor_signal_event_p202611`.
    fn partition(self) -> String {
        format!("{TABLE}_p{:04}{:02}", self.year, self.month)
    }

    /// The month of a partition named by [`Month::partition`].
    fn from_partition(name: &str) -> Option<Self> {
        let digits = name.strip_prefix(TABLE)?.strip_prefix("_p")?;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month) = (digits[..4].parse().ok()?, digits[4..].parse().ok()?);
        (1..=12).contains(&month).then_some(Self { year, month })
    }
}

/// What kind of relation `monitor_signal_event` is: `r` (plain) or `p` (partitioned).
async fn relkind(tx: &mut Transaction<'_, Postgres>) -> Result<String, StoreError> {
    let row = sqlx::query(
        "SELECT c.relkind::text AS k FROM pg_class c WHERE c.oid = to_regclass('monitor_signal_event')",
    )
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => Ok(r.try_get("k")?),
        None => Err(StoreError::Unsupported(
            "monitor_signal_event does not exist: run signalgate migrate first".into(),
        )),
    }
}

async fn run(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<u64, StoreError> {
    Ok(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

async fn count(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut **tx)
        .await?;
    Ok(n.max(0) as u64)
}

/// Our monthly partitions, oldest first.
async fn partitions(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<Month>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'monitor_signal_event'::regclass",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut months: Vec<Month> = names
        .iter()
        .filter_map(|n| Month::from_partition(n))
        .collect();
    months.sort();
    Ok(months)
}

/// Creates the partitions of `from..=to` that do not exist yet; rows of such a month already
/// in the DEFAULT partition are moved into it. Returns the names created.
async fn ensure(
    tx: &mut Transaction<'_, Postgres>,
    from: Month,
    to: Month,
) -> Result<Vec<String>, StoreError> {
    let existing = partitions(tx).await?;
    let mut created = Vec::new();
    let mut m = from;
    while m <= to {
        if !existing.contains(&m) {
            create(tx, m).await?;
            created.push(m.partition());
        }
        m = m.plus(1);
    }
    Ok(created)
}

async fn create(tx: &mut Transaction<'_, Postgres>, m: Month) -> Result<(), StoreError> {
    let (name, a, b) = (m.partition(), m.literal(), m.plus(1).literal());
    let range = format!("created_at >= {a} AND created_at < {b}");
    let waiting = count(
        tx,
        &format!("SELECT count(*) FROM {DEFAULT_PART} WHERE {range}"),
    )
    .await?;
    if waiting == 0 {
        run(
            tx,
            &format!("CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ({a}) TO ({b})"),
        )
        .await?;
        return Ok(());
    }
    // Attaching a range the DEFAULT partition has rows of fails: move them in first. The
    // delete forgets their keys (AFTER DELETE trigger); they are claimed again below.
    tracing::info!(partition = %name, rows = waiting, "moving rows from the default partition");
    for sql in [
        format!("CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)"),
        format!(
            "WITH moved AS (DELETE FROM {DEFAULT_PART} WHERE {range} RETURNING *) \
             INSERT INTO {name} SELECT * FROM moved"
        ),
        format!(
            "INSERT INTO monitor_signal_event_key (event_key, created_at) \
             SELECT event_key, created_at FROM {name} ON CONFLICT DO NOTHING"
        ),
        format!("ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({a}) TO ({b})"),
    ] {
        run(tx, &sql).await?;
    }
    Ok(())
}

async fn begin(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    run(&mut tx, LOCK_KEY).await?;
    Ok(tx)
}

/// BEFORE row triggers on partitioned tables (the key claim) came with PostgreSQL 13.
async fn check_version(tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut **tx)
        .await?;
    if version < 130_000 {
        return Err(StoreError::Unsupported(format!(
            "partitioning monitor_signal_event needs PostgreSQL 13 or later (BEFORE triggers on \
             partitioned tables); this server is {version}"
        )));
    }
    Ok(())
}

/// Converts the table to monthly partitions (current month plus `months_ahead`, back to the
/// oldest row's month, and DEFAULT), or, if it is partitioned already, creates the missing
/// upcoming months.
#[tracing::instrument(skip(pool))]
pub(crate) async fn partition(
    pool: &Pool<Postgres>,
    months_ahead: u32,
) -> Result<PartitionReport, StoreError> {
    let mut tx = begin(pool).await?;
    let now = Month::of(Utc::now());
    let last = now.plus(i64::from(months_ahead));
    if relkind(&mut tx).await? == "p" {
        let created = ensure(&mut tx, now, last).await?;
        let rows = count(&mut tx, "SELECT count(*) FROM monitor_signal_event").await?;
        tx.commit().await?;
        return Ok(PartitionReport {
            converted: false,
            rows,
            created,
        });
    }
    check_version(&mut tx).await?;
    run(
        &mut tx,
        "LOCK TABLE monitor_signal_event IN ACCESS EXCLUSIVE MODE",
    )
    .await?;
    let identity: Option<String> = sqlx::query_scalar(
        "SELECT attidentity::text FROM pg_attribute \
         WHERE attrelid = 'monitor_signal_event'::regclass AND attname = 'id'",
    )
    .fetch_optional(&mut *tx)
    .await?;
    if identity.is_some_and(|i| !i.is_empty()) {
        return Err(StoreError::Unsupported(
            "monitor_signal_event.id is an identity column; partitioning supports the \
             migration's BIGSERIAL id only"
                .into(),
        ));
    }
    let serial: Option<String> =
        sqlx::query_scalar("SELECT pg_get_serial_sequence('monitor_signal_event', 'id')")
            .fetch_one(&mut *tx)
            .await?;
    let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT date_trunc('month', min(created_at))::timestamp AT TIME ZONE 'UTC' \
         FROM monitor_signal_event",
    )
    .fetch_one(&mut *tx)
    .await?;
    let first = oldest
        .map(Month::of)
        .unwrap_or(now)
        .max(now.plus(-i64::from(MAX_MONTHS_BACK)))
        .min(now);

    run(
        &mut tx,
        &format!("ALTER TABLE {TABLE} RENAME TO {OLD_TABLE}"),
    )
    .await?;
    if let Some(seq) = &serial {
        // Keep the id sequence when the old table goes.
        run(&mut tx, &format!("ALTER SEQUENCE {seq} OWNED BY NONE")).await?;
    }
    run(
        &mut tx,
        &format!(
            "CREATE TABLE {TABLE} (LIKE {OLD_TABLE} INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
        ),
    )
    .await?;
    run(
        &mut tx,
        &format!("CREATE TABLE {DEFAULT_PART} PARTITION OF {TABLE} DEFAULT"),
    )
    .await?;
    let created = ensure(&mut tx, first, last).await?;
    // No trigger on the new table yet: rows keep their id and seq, no NOTIFY storm.
    let rows = run(
        &mut tx,
        &format!("INSERT INTO {TABLE} SELECT * FROM {OLD_TABLE}"),
    )
    .await?;
    for sql in KEY_SETUP {
        run(&mut tx, sql).await?;
    }
    run(&mut tx, COPY_GRANTS).await?;
    run(&mut tx, &format!("DROP TABLE {OLD_TABLE}")).await?;
    for sql in TABLE_SETUP {
        run(&mut tx, sql).await?;
    }
    if let Some(seq) = &serial {
        run(
            &mut tx,
            &format!("ALTER SEQUENCE {seq} OWNED BY {TABLE}.id"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(PartitionReport {
        converted: true,
        rows,
        created,
    })
}

/// On a partitioned table: drops the partitions that end at or before `before` (after
/// recording the highest `seq` per variant in them as pruned, and forgetting their keys) and
/// creates the current month plus `months_ahead`; a dry run only reports. On a plain table
/// nothing happens (`partitioned: false`).
#[tracing::instrument(skip(pool))]
pub(crate) async fn prune(
    pool: &Pool<Postgres>,
    before: DateTime<Utc>,
    months_ahead: u32,
    dry_run: bool,
) -> Result<PartitionPrune, StoreError> {
    let mut tx = begin(pool).await?;
    if relkind(&mut tx).await? != "p" {
        return Ok(PartitionPrune::default());
    }
    let mut out = PartitionPrune {
        partitioned: true,
        ..Default::default()
    };
    for m in partitions(&mut tx).await? {
        if m.plus(1).start() > before {
            break;
        }
        let name = m.partition();
        out.rows += count(&mut tx, &format!("SELECT count(*) FROM {name}")).await?;
        out.dropped.push(name.clone());
        if dry_run {
            continue;
        }
        let (a, b) = (m.literal(), m.plus(1).literal());
        for sql in [
            format!(
                "INSERT INTO monitor_signal_pruned AS p (variant, pruned_upto) \
                 SELECT variant, max(seq) FROM {name} GROUP BY variant \
                 ON CONFLICT (variant) DO UPDATE SET pruned_upto = GREATEST(p.pruned_upto, excluded.pruned_upto)"
            ),
            format!(
                "DELETE FROM monitor_signal_event_key WHERE created_at >= {a} AND created_at < {b}"
            ),
            format!("DROP TABLE {name}"),
        ] {
            run(&mut tx, &sql).await?;
        }
    }
    if !dry_run {
        let now = Month::of(Utc::now());
        out.created = ensure(&mut tx, now, now.plus(i64::from(months_ahead))).await?;
        tx.commit().await?;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;

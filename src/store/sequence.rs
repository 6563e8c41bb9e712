//! Gateway-side sequencing (migration 0005): writers insert events with `seq` NULL and write
//! snapshots that the version trigger marks `pending`; the poller finds both with one
//! statement ([`SqlStore::probe_db`]) and numbers and marks them in one short transaction of
//! its own ([`SqlStore::number_pending`]).
//!
//! Why this keeps the cursor exact: only a numbering round assigns `seq`, rounds are
//! serialised by a compare-and-set on the `round` counter (a second gateway, or an old leader
//! that has not noticed yet, fails the compare and changes nothing), and a round only numbers
//! rows that were committed when it read them, after every number already assigned. So once
//! a round commits, no event can ever get a smaller `seq` of that variant than the ones it
//! assigned: `seq > cursor` never skips and never repeats. Within a round, events are numbered
//! in `id` (insert) order.

use std::collections::BTreeMap;

use super::{
    StoreError,
    backend::{Backend, RowOf, prepare},
    dialect::Dialect,
    query::{Param, Sql},
    rows::{null_in, time},
    sql::SqlStore,
};
use crate::domain::{Event, Snapshot, parse_payload};

/// What one probe found: the counters that tell whether anything changed beneath the poller,
/// and the first pending events and snapshots.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The database's identity.
    pub database_id: String,
    /// Numbering rounds so far (the compare-and-set value of the next round).
    pub round: i64,
    /// Snapshot rows and counter rows deleted so far (bumped by triggers).
    pub deletions: i64,
    /// Pending events, ascending by `id`, with their variant's head.
    pub events: Vec<PendingEvent>,
    /// Pending snapshot rows, ascending by `id`.
    pub snapshots: Vec<PendingSnapshot>,
    /// A read was cut by the batch size: more is pending.
    pub full: bool,
}

/// An event without its `seq` yet.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// The event; its `seq` is 0.
    pub event: Event,
    /// The highest `seq` assigned to its variant so far (0: none).
    pub head: i64,
}

/// A snapshot row whose latest version is not marked published yet.
#[derive(Debug, Clone)]
pub struct PendingSnapshot {
    /// Row id.
    pub id: i64,
    /// The row.
    pub snapshot: Snapshot,
}

/// The numbers one round assigns: each variant's events get `head + 1, head + 2, ..` in `id`
/// order.
#[derive(Debug, Clone, Default)]
pub struct Numbering {
    /// The events with their `seq`, ascending by `id`.
    pub events: Vec<Event>,
    /// Per variant: the head before this round.
    pub before: BTreeMap<String, i64>,
    /// Per variant: the head after this round.
    pub after: BTreeMap<String, i64>,
}

impl Numbering {
    /// Numbers `pending` (any order; numbered in `id` order).
    pub fn plan(mut pending: Vec<PendingEvent>) -> Self {
        pending.sort_by_key(|p| p.event.id);
        let mut plan = Numbering::default();
        for PendingEvent { mut event, head } in pending {
            plan.before.entry(event.variant.clone()).or_insert(head);
            let next = plan.after.entry(event.variant.clone()).or_insert(head);
            *next += 1;
            event.seq = *next;
            plan.events.push(event);
        }
        plan
    }
}

/// The probe: one `UNION ALL` of the counters (`kind` `r`), the first `batch` pending events
/// with their variant's head (`e`) and the first `batch` pending snapshot rows (`s`). Each
/// part is answered by an index: the counters' primary key, the partial index on `seq IS NULL`
/// (an index on `seq` on MySQL) and the one on `pending`.
pub(crate) fn probe_sql(d: Dialect, batch: u32) -> Sql {
    let payload = d.payload();
    // MySQL: tables adopted from the design document may differ in charset or collation, which
    // a UNION refuses to mix; each text column is given one explicitly (after the join, which
    // keeps the columns' own collation).
    let u = |col: &str| match d {
        Dialect::MySql => format!("CONVERT({col} USING utf8mb4) COLLATE utf8mb4_bin"),
        _ => col.to_owned(),
    };
    let counter = |name: &str| format!("(SELECT n FROM signalgate_counter WHERE name = '{name}')");
    let text = format!(
        "SELECT 'r' AS kind, NULL AS id, NULL AS variant, NULL AS instance_id, \
         NULL AS vt_symbol, NULL AS bar_dt, NULL AS event_type, NULL AS event_key, NULL AS t, \
         NULL AS bar_interval, NULL AS bar_window, NULL AS payload, {round} AS n, \
         {deletions} AS m, \
         (SELECT value FROM signalgate_meta WHERE name = 'database_id') AS dbid \
         UNION ALL \
         SELECT 'e', e.id, {ev}, {ei}, {es}, e.bar_dt, {et}, \
         {ek}, e.created_at, NULL, {no_window}, e.payload, COALESCE(h.v, 0), NULL, NULL \
         FROM (SELECT id, variant, instance_id, vt_symbol, bar_dt, event_type, event_key, \
         created_at, {payload} AS payload FROM monitor_signal_event WHERE seq IS NULL \
         ORDER BY id LIMIT {batch}) e \
         LEFT JOIN monitor_signal_seq h ON h.variant = e.variant \
         UNION ALL \
         SELECT 's', s.id, {sv}, {si}, NULL, s.bar_dt, NULL, NULL, s.updated_at, \
         {sb}, {window}, s.payload, s.version, NULL, NULL \
         FROM (SELECT id, variant, instance_id, bar_dt, updated_at, bar_interval, bar_window, \
         version, {payload} AS payload FROM monitor_signal_snapshot WHERE {pending} \
         ORDER BY id LIMIT {batch}) s",
        round = counter("round"),
        deletions = counter("deletions"),
        window = d.bigint("s.bar_window"),
        // Typed: PostgreSQL resolves the first two parts' NULLs as text before the third.
        no_window = d.bigint("NULL"),
        pending = d.pending(),
        ev = u("e.variant"),
        ei = u("e.instance_id"),
        es = u("e.vt_symbol"),
        et = u("e.event_type"),
        ek = u("e.event_key"),
        sv = u("s.variant"),
        si = u("s.instance_id"),
        sb = u("s.bar_interval"),
    );
    Sql::new(d, text)
}

/// The numbers of one round, in one `UPDATE` joined with the list of `(id, seq)` pairs (a hash
/// or index join: linear in the batch, where `CASE id WHEN ..` would be quadratic), only on rows
/// still without a number.
fn set_seqs(d: Dialect, seqs: &[(i64, i64)]) -> Sql {
    let pairs = |sql: &mut Sql, sep: &str, cast: bool| {
        for (i, (id, seq)) in seqs.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { sep });
            sql.list([Param::I64(*id)]);
            sql.push(if cast && i == 0 { "::bigint, " } else { ", " });
            sql.list([Param::I64(*seq)]);
            sql.push(if cast && i == 0 { "::bigint)" } else { ")" });
        }
    };
    match d {
        Dialect::Postgres => {
            let mut sql = Sql::new(
                d,
                "UPDATE monitor_signal_event AS e SET seq = v.seq FROM (VALUES ",
            );
            pairs(&mut sql, ", (", true);
            sql.push(") AS v(id, seq) WHERE e.id = v.id AND e.seq IS NULL");
            sql
        }
        Dialect::Sqlite => {
            let mut sql = Sql::new(
                d,
                "UPDATE monitor_signal_event SET seq = v.column2 FROM (VALUES ",
            );
            pairs(&mut sql, ", (", false);
            sql.push(
                ") AS v WHERE monitor_signal_event.id = v.column1 \
                 AND monitor_signal_event.seq IS NULL",
            );
            sql
        }
        Dialect::MySql => {
            // MariaDB and MySQL 8 spell a VALUES table differently; a UNION ALL works on both.
            let mut sql = Sql::new(d, "UPDATE monitor_signal_event e JOIN (");
            for (i, (id, seq)) in seqs.iter().enumerate() {
                sql.push(if i == 0 {
                    "SELECT "
                } else {
                    " UNION ALL SELECT "
                })
                .list([Param::I64(*id)])
                .push(if i == 0 { " AS id, " } else { ", " })
                .list([Param::I64(*seq)])
                .push(if i == 0 { " AS seq" } else { "" });
            }
            sql.push(") v ON e.id = v.id SET e.seq = v.seq WHERE e.seq IS NULL");
            sql
        }
    }
}

/// The new heads, in one multi-row upsert.
fn upsert_heads(d: Dialect, heads: &BTreeMap<String, i64>) -> Sql {
    let mut sql = Sql::new(d, "INSERT INTO monitor_signal_seq (variant, v) VALUES ");
    for (i, (variant, head)) in heads.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" })
            .list([Param::Str(variant.clone()), Param::I64(*head)])
            .push(")");
    }
    sql.push(match d {
        Dialect::MySql => " ON DUPLICATE KEY UPDATE v = VALUES(v)",
        _ => " ON CONFLICT (variant) DO UPDATE SET v = excluded.v",
    });
    sql
}

fn required<T>(v: Option<T>, col: &str) -> Result<T, sqlx::Error> {
    v.ok_or_else(|| null_in(col))
}

impl<B: Backend> SqlStore<B> {
    /// Reads [`probe_sql`] into a [`Probe`].
    pub(super) async fn probe_db(&self, batch: u32) -> Result<Probe, StoreError> {
        let rows = self.fetch(probe_sql(B::DIALECT, batch)).await?;
        let mut probe = Probe::default();
        let mut events = 0usize;
        let mut saw_counters = false;
        for row in &rows {
            match B::text(row, "kind")?.as_str() {
                "r" => {
                    saw_counters = true;
                    probe.round = required(B::opt_i64(row, "n")?, "round")?;
                    probe.deletions = required(B::opt_i64(row, "m")?, "deletions")?;
                    probe.database_id = B::opt_text(row, "dbid")?.ok_or(StoreError::NoIdentity)?;
                }
                "e" => {
                    events += 1;
                    probe.events.push(pending_event::<B>(row)?);
                }
                _ => probe.snapshots.push(pending_snapshot::<B>(row)?),
            }
        }
        if !saw_counters {
            return Err(StoreError::NoIdentity);
        }
        probe.events.sort_by_key(|p| p.event.id);
        probe.snapshots.sort_by_key(|p| p.id);
        let cut = batch as usize;
        probe.full = events >= cut || probe.snapshots.len() >= cut;
        Ok(probe)
    }

    /// One numbering round: if the round counter still is `round`, assigns `numbering`'s
    /// numbers, records the new heads and marks the `snapshots` (`(id, version)`) published
    /// where no writer holds the row and the version is still the one read; all in one
    /// transaction. `Ok(false)`: another round ran since the probe (nothing was changed).
    pub(super) async fn number_pending(
        &self,
        round: i64,
        numbering: &Numbering,
        snapshots: &[(i64, i64)],
    ) -> Result<bool, StoreError> {
        let d = B::DIALECT;
        let work = async {
            let mut tx = self.pool().begin().await?;
            let mut cas = Sql::new(
                d,
                "UPDATE signalgate_counter SET n = n + 1 WHERE name = 'round' AND n = ",
            );
            cas.list([Param::I64(round)]);
            if B::execute_on(&mut tx, prepare::<B>(cas.text, cas.params)).await? != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            if !numbering.events.is_empty() {
                let seqs: Vec<(i64, i64)> =
                    numbering.events.iter().map(|e| (e.id, e.seq)).collect();
                let set = set_seqs(d, &seqs);
                let changed = B::execute_on(&mut tx, prepare::<B>(set.text, set.params)).await?;
                if changed != seqs.len() as u64 {
                    // Numbered by something that did not take part in the rounds.
                    tx.rollback().await?;
                    return Ok(false);
                }
                let heads = upsert_heads(d, &numbering.after);
                B::execute_on(&mut tx, prepare::<B>(heads.text, heads.params)).await?;
            }
            let mut marks = snapshots.to_vec();
            if let (false, Some(lock)) = (marks.is_empty(), d.skip_locked()) {
                let mut sql = Sql::new(d, "SELECT id FROM monitor_signal_snapshot WHERE id IN (");
                sql.list(marks.iter().map(|(id, _)| Param::I64(*id)))
                    .push(")")
                    .push(lock);
                let rows = B::fetch_all_on(&mut tx, prepare::<B>(sql.text, sql.params)).await?;
                let free = rows
                    .iter()
                    .map(|r| B::int(r, "id"))
                    .collect::<Result<std::collections::HashSet<_>, _>>()?;
                marks.retain(|(id, _)| free.contains(id));
            }
            if !marks.is_empty() {
                let tail = format!(" AND {}", d.pending());
                // A version written since the probe (another `version`) stays pending.
                let mut sql = Sql::new(
                    d,
                    format!(
                        "UPDATE monitor_signal_snapshot SET pending = {} WHERE id IN (",
                        d.published()
                    ),
                );
                sql.list(marks.iter().map(|(id, _)| Param::I64(*id)))
                    .push(")")
                    .push(&tail)
                    .push(" AND version = CASE id");
                for (id, version) in &marks {
                    sql.push(" WHEN ")
                        .list([Param::I64(*id)])
                        .push(" THEN ")
                        .list([Param::I64(*version)]);
                }
                sql.push(" END");
                B::execute_on(&mut tx, prepare::<B>(sql.text, sql.params)).await?;
            }
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(true)
        };
        Ok(self.gated(work).await?)
    }
}

fn pending_event<B: Backend>(row: &RowOf<B>) -> Result<PendingEvent, sqlx::Error> {
    let id = required(B::opt_i64(row, "id")?, "id")?;
    let text = |col: &str| required(B::opt_text(row, col)?, col);
    Ok(PendingEvent {
        head: required(B::opt_i64(row, "n")?, "head")?,
        event: Event {
            id,
            seq: 0,
            variant: text("variant")?,
            instance_id: text("instance_id")?,
            vt_symbol: text("vt_symbol")?,
            bar_dt: B::opt_time(row, "bar_dt")?,
            event_type: text("event_type")?,
            event_key: text("event_key")?,
            created_at: time::<B>(row, "t")?,
            payload: parse_payload(text("payload")?, &format!("monitor_signal_event id={id}")),
        },
    })
}

fn pending_snapshot<B: Backend>(row: &RowOf<B>) -> Result<PendingSnapshot, sqlx::Error> {
    let text = |col: &str| required(B::opt_text(row, col)?, col);
    let (variant, instance_id) = (text("variant")?, text("instance_id")?);
    let what = format!("monitor_signal_snapshot {variant}/{instance_id}");
    let bar_window = B::opt_i64(row, "bar_window")?
        .map(i32::try_from)
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "bar_window".to_owned(),
            source: Box::new(e),
        })?;
    Ok(PendingSnapshot {
        id: required(B::opt_i64(row, "id")?, "id")?,
        snapshot: Snapshot {
            version: required(B::opt_i64(row, "n")?, "version")?,
            updated_at: time::<B>(row, "t")?,
            bar_dt: B::opt_time(row, "bar_dt")?,
            bar_interval: B::opt_text(row, "bar_interval")?,
            bar_window,
            payload: parse_payload(text("payload")?, &what),
            variant,
            instance_id,
        },
    })
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
mod tests;

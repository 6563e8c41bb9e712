//! Event retention: `signalgate prune --events-older-than 90d [--dry-run]` and the optional
//! in-process schedule `--retention 90d`. Events are deleted in small batches (a short pause
//! between them), so writers never wait long on the table; snapshots are never pruned. The
//! highest deleted `seq` per variant is recorded, so a resume from before the horizon gets
//! `history_pruned` instead of a silent gap.
//!
//! On PostgreSQL the event table can be converted to monthly partitions (`signalgate
//! partition`, see `store/partition.rs`); then `prune` and the schedule first drop the whole
//! months older than the horizon and create the coming ones, and delete the rest in batches.
//!
//! The `prune` and `partition` subcommands' bodies are [`prune_command`] and
//! [`partition_command`]; they print their report on stdout.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    config::{MONTHS_AHEAD, PruneArgs},
    lifecycle::{Component, Supervisor},
    shutdown,
    store::Store,
};

/// Pause between two delete batches: lets writers' inserts through.
const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// How often the in-process schedule prunes.
const SCHEDULE_INTERVAL: Duration = Duration::from_secs(3600);
/// The first scheduled run waits this long after start (or after winning leadership): events
/// written while no gateway ran are numbered by the poller first, and pruning skips events
/// that have no `seq` yet.
const FIRST_RUN_DELAY: Duration = Duration::from_secs(5);

/// Deletes events created before `horizon` in batches of `batch`, calling `progress` with the
/// running total after each; returns the total. Stops early when `stop` is cancelled.
pub async fn prune(
    store: &dyn Store,
    horizon: chrono::DateTime<chrono::Utc>,
    batch: u32,
    stop: &CancellationToken,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let n = store.prune_events(horizon, batch.max(1)).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        progress(total);
        tokio::select! {
            _ = stop.cancelled() => return Ok(total),
            _ = tokio::time::sleep(BATCH_PAUSE) => {}
        }
    }
}

/// The instant `older_than` ago.
pub fn horizon(older_than: Duration) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let age = chrono::Duration::from_std(older_than)?;
    chrono::Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| anyhow::anyhow!("retention {older_than:?} reaches before year 1"))
}

/// Starts the hourly in-process prune of events older than `retention` (`--retention`) when it
/// is set (standalone; in group mode the leader runs it, see [`start_leading`]).
pub fn start(retention: Option<Duration>, store: Arc<dyn Store>, tasks: &Supervisor) {
    let Some(older_than) = retention else {
        return;
    };
    tracing::info!(retention = %humantime::format_duration(older_than), "pruning old events every hour");
    tasks.spawn("retention", move |token| schedule(older_than, store, token));
}

/// The group leader's hourly prune: runs while this instance leads, stopped with the poller.
pub fn start_leading(older_than: Duration, store: Arc<dyn Store>, sup: &Supervisor) -> Component {
    tracing::info!(retention = %humantime::format_duration(older_than), "group leader: pruning old events every hour");
    Component::start(sup, "retention", move |s| {
        schedule(older_than, store, s.token().clone())
    })
}

/// Prunes after [`FIRST_RUN_DELAY`], then every [`SCHEDULE_INTERVAL`], until `token` is
/// cancelled.
async fn schedule(older_than: Duration, store: Arc<dyn Store>, token: CancellationToken) {
    let first = tokio::time::Instant::now() + FIRST_RUN_DELAY;
    let mut tick = tokio::time::interval_at(first, SCHEDULE_INTERVAL);
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let pruned = match horizon(older_than) {
            Ok(h) => prune_all(&*store, h, &token).await,
            Err(err) => Err(err),
        };
        match pruned {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(deleted = n, "pruned old events");
                metrics::counter!("signalgate_events_pruned_total").increment(n);
            }
            Err(err) => tracing::warn!(error = %err, "pruning old events failed"),
        }
    }
}

/// One scheduled run: on a partitioned PostgreSQL table drops the whole old partitions and
/// creates the upcoming ones first, then deletes the rest in batches; returns the events gone.
async fn prune_all(
    store: &dyn Store,
    horizon: chrono::DateTime<chrono::Utc>,
    stop: &CancellationToken,
) -> anyhow::Result<u64> {
    let dropped = store.prune_partitions(horizon, MONTHS_AHEAD, false).await?;
    let deleted = prune(store, horizon, 1000, stop, |_| {}).await?;
    Ok(dropped.rows + deleted)
}

/// `signalgate prune`: counts the events older than `--events-older-than`, drops whole old
/// partitions (PostgreSQL, partitioned table) and deletes the rest in batches, printing the
/// progress; with `--dry-run` only counts. SIGINT or SIGTERM stops it between two batches.
pub async fn prune_command(store: &dyn Store, args: &PruneArgs) -> anyhow::Result<()> {
    let horizon = horizon(args.events_older_than)?;
    let total = store.count_events_before(horizon).await?;
    println!("{total} events created before {horizon} (snapshots are never pruned)");
    let parts = store
        .prune_partitions(horizon, MONTHS_AHEAD, args.dry_run)
        .await?;
    if parts.partitioned {
        let verb = if args.dry_run {
            "would drop"
        } else {
            "dropped"
        };
        let names = parts.dropped.join(", ");
        println!(
            "{verb} {} partitions with {} events: {names}",
            parts.dropped.len(),
            parts.rows
        );
        if !parts.created.is_empty() {
            println!("created partitions: {}", parts.created.join(", "));
        }
    }
    if args.dry_run {
        return Ok(());
    }
    let total = store.count_events_before(horizon).await?;
    if total == 0 && parts.partitioned {
        println!("done: deleted {} events", parts.rows);
    }
    if total > 0 {
        let stop = shutdown::cancel_on_signal();
        let deleted = prune(store, horizon, args.batch, &stop, |done| {
            println!("deleted {done}/{total}")
        })
        .await?;
        println!("done: deleted {} events", parts.rows + deleted);
    }
    Ok(())
}

/// `signalgate partition` (PostgreSQL): converts the event table to monthly partitions, or
/// creates those of the coming `months_ahead` months, and prints what it did.
pub async fn partition_command(store: &dyn Store, months_ahead: u32) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let r = store.partition_events(months_ahead).await?;
    let took = started.elapsed();
    if r.converted {
        println!(
            "converted monitor_signal_event to monthly partitions: {} events kept, {} partitions, {took:.2?}",
            r.rows,
            r.created.len()
        );
        println!("writers: use INSERT ... ON CONFLICT DO NOTHING (no conflict target) from now on");
    } else if r.created.is_empty() {
        println!(
            "already partitioned ({} events); no partition to create",
            r.rows
        );
    } else {
        println!("already partitioned ({} events)", r.rows);
    }
    if !r.created.is_empty() {
        println!("created partitions: {}", r.created.join(", "));
    }
    Ok(())
}

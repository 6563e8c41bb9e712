//! `idle`: no writes. First, with `--idle-variants N`, N variants get one snapshot row and one
//! event each; once the server has read them and settled, its CPU (% of one core, from
//! `/proc/<pid>/stat`), RSS and statements per second (through the counting proxy, and the
//! gateway's poll metric when it has one) are measured over `--idle-window` seconds with no
//! client connected. Then subscribed connections that receive nothing are added in steps
//! (default 1k, 5k, 10k; `--clients 0`: none); after each step the server's RSS is read once it
//! has settled, and the growth over the baseline is divided by the connections open.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tokio::sync::watch;

use super::{
    Opts,
    sampler::Counts,
    setup::{self, Setup},
    traffic::label,
};
use crate::{
    client::{Target, Totals},
    ledger::Ledger,
    report::{Connect, RunReport},
    server,
};

/// How long the server gets to settle after a step before its RSS is read (allocator and
/// heartbeat timers; a measurement pause, not a synchronisation).
const SETTLE: Duration = Duration::from_secs(3);

/// Runs the idle scenario.
pub async fn run(opts: &Opts) -> anyhow::Result<RunReport> {
    let label = label(opts, "idle");
    let mut setup = Setup::start(opts, &label, true).await?;
    let result = body(opts, &label, &mut setup).await;
    setup.finish().await;
    result
}

async fn body(opts: &Opts, label: &str, setup: &mut Setup) -> anyhow::Result<RunReport> {
    let mut steps = opts.idle_steps.clone();
    if let Some(c) = opts.clients {
        steps.retain(|s| *s < c);
        steps.push(c);
    }
    steps.retain(|s| *s > 0);
    steps.sort_unstable();
    let variants = opts.variants.unwrap_or(1).max(1);
    let names: Vec<String> = (0..variants)
        .map(|v| format!("lt_idle_{}_{v}", setup::run_id()))
        .collect();
    let ledger = Arc::new(Ledger::new(&names, 64));
    let srv = setup.server()?;
    let (pid, target) = (
        srv.pid,
        Target {
            url: srv.url.clone(),
            proto: opts.server.protocol(),
            options: opts.subscribe_options(),
        },
    );
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    if opts.idle_variants > 0
        && let Some(db) = &setup.db
    {
        seed(&db.url, opts.idle_variants).await?;
    }
    let quiet = if opts.idle_window > 0.0 {
        quiet_window(opts, setup, pid, &target.url).await
    } else {
        tokio::time::sleep(SETTLE).await;
        serde_json::Value::Null
    };
    let before = server::sample(pid).unwrap_or_default();
    let cpu0 = before.cpu_s;
    let mut tasks = Vec::new();
    let (mut rows, mut seconds, mut failures, mut first_error) = (Vec::new(), 0.0, 0, None);
    let mut from = 0;
    for &step in &steps {
        let bar = setup::bar(opts, Some((step - from) as u64), &format!("to {step}"));
        let c = setup::connect(
            opts,
            &target,
            &ledger,
            &totals,
            &stop_rx,
            from..step,
            false,
            &bar,
        )
        .await;
        bar.finish_and_clear();
        tasks.extend(c.tasks);
        seconds += c.seconds;
        failures += c.failures;
        first_error = first_error.or(c.first_error);
        from = step;
        tokio::time::sleep(SETTLE).await;
        let s = server::sample(pid).unwrap_or_default();
        let per = s.rss_kb.saturating_sub(before.rss_kb) as f64 / tasks.len().max(1) as f64;
        if !opts.quiet {
            eprintln!(
                "{step:>6} connections: server RSS {} KB, {per:.1} KB per connection",
                s.rss_kb
            );
        }
        rows.push(
            json!({"connections": tasks.len(), "rss_kb": s.rss_kb, "per_connection_kb": per}),
        );
    }
    let after = server::sample(pid).unwrap_or_default();
    let _ = stop_tx.send(true);
    let mut errors = Vec::new();
    for t in tasks.drain(..) {
        if let Some(e) = t.await?.error
            && errors.len() < 5
        {
            errors.push(e);
        }
    }
    let n = from - failures as usize;
    let mut failures_v = Vec::new();
    if failures > 0 {
        failures_v.push(format!(
            "{failures} clients could not connect: {}",
            first_error.unwrap_or_default()
        ));
    }
    Ok(RunReport {
        connect: Some(Connect {
            clients: n,
            seconds,
            per_s: n as f64 / seconds.max(1e-9),
            failures,
        }),
        cpu_s: after.cpu_s - cpu0,
        rss_kb_before: before.rss_kb,
        rss_kb_connected: after.rss_kb,
        rss_per_connection_kb: (n > 0)
            .then(|| after.rss_kb.saturating_sub(before.rss_kb) as f64 / n as f64),
        extra: json!({ "steps": rows, "quiet": quiet }),
        client_errors: errors,
        failures: failures_v,
        ..RunReport::new(
            label,
            "idle",
            opts.server,
            setup.db.as_ref(),
            json!({"opts": opts, "steps": steps}),
        )
    })
}

/// CPU, RSS and statements/s of the server over `--idle-window` seconds, nobody connected and
/// nothing written, after `--idle-settle` seconds for it to read the seeded rows; every second's
/// statements and CPU also go into `series` (a server still catching up shows as a slope).
async fn quiet_window(opts: &Opts, setup: &Setup, pid: u32, url: &str) -> serde_json::Value {
    // Measurement pauses, not synchronisation: the server is left alone for them.
    tokio::time::sleep(Duration::from_secs_f64(opts.idle_settle)).await;
    let c0 = Counts::take(setup, url).await;
    let s0 = server::sample(pid).unwrap_or_default();
    let (mut series, mut last, mut last_cpu) = (Vec::new(), setup.statements(), s0.cpu_s);
    let end = std::time::Instant::now() + Duration::from_secs_f64(opts.idle_window);
    while std::time::Instant::now() < end {
        let left = end.saturating_duration_since(std::time::Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        let (now, cpu) = (
            setup.statements(),
            server::sample(pid).map_or(last_cpu, |s| s.cpu_s),
        );
        series.push(json!({
            "statements": now.zip(last).map(|(a, b)| a - b),
            "cpu_s": cpu - last_cpu,
        }));
        (last, last_cpu) = (now, cpu);
    }
    let s1 = server::sample(pid).unwrap_or_default();
    let counts = Counts::take(setup, url).await.since(&c0);
    let v = json!({
        "variants": opts.idle_variants,
        "settle_s": opts.idle_settle,
        "window_s": opts.idle_window,
        "cpu_pct": 100.0 * (s1.cpu_s - s0.cpu_s) / opts.idle_window,
        "rss_kb": s1.rss_kb,
        "statements": counts,
        "series": series,
    });
    if !opts.quiet {
        eprintln!("idle, {} variants, no clients: {v}", opts.idle_variants);
    }
    v
}

/// Rows written per statement while seeding.
const SEED_BATCH: usize = 500;

/// One snapshot row and one event for each of `n` variants `lt_idle_<v>`.
async fn seed(url: &str, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection;
    let pg = url.starts_with("postgres");
    let (now, json) = if pg {
        ("now()", "::jsonb")
    } else {
        ("NOW(6)", "")
    };
    let run = setup::run_id();
    let mut stmts = Vec::new();
    for start in (0..n).step_by(SEED_BATCH) {
        let vs: Vec<usize> = (start..n.min(start + SEED_BATCH)).collect();
        let snaps: Vec<String> = vs
            .iter()
            .map(|v| format!("('lt_idle_{v}', 'lt-0', {now}, NULL, '1m', 1, '{{\"n\":0}}'{json})"))
            .collect();
        let events: Vec<String> = vs
            .iter()
            .map(|v| format!("('lt_idle_{v}', 'lt-0', 'rb2405.SHFE', NULL, 'signal', 'lt_idle_{v}|{run}', {now}, '{{\"n\":0}}'{json})"))
            .collect();
        stmts.push(format!("INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json) VALUES {}", snaps.join(", ")));
        stmts.push(format!("INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES {}", events.join(", ")));
    }
    if pg {
        let mut c = sqlx::PgConnection::connect(url).await?;
        for s in stmts {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s))
                .execute(&mut c)
                .await?;
        }
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await?;
        for s in stmts {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s))
                .execute(&mut c)
                .await?;
        }
    }
    Ok(())
}

//! `idle`: subscribed connections that receive nothing, added in steps (default 1k, 5k, 10k);
//! after each step the server's RSS is read once it has settled, and the growth over the
//! baseline is divided by the connections open.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tokio::sync::watch;

use super::{
    Opts,
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
    let mut setup = Setup::start(opts, &label).await?;
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
        },
    );
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::time::sleep(SETTLE).await;
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
        extra: json!({ "steps": rows }),
        client_errors: errors,
        failures: failures_v,
        ..RunReport::new(
            label,
            "idle",
            opts,
            setup.db.as_ref(),
            json!({"opts": opts, "steps": steps}),
        )
    })
}

//! Client scenarios with writers: `fanout`, `spread`, `burst`, `resume`, `group`.
//!
//! Clients connect and subscribe first (so every committed event is expected by every client of
//! its variant), then the writers run their fixed schedule, then the run drains until every
//! client has everything or nothing has arrived for a while. `resume` stops the gateway after
//! the first third of the writing, keeps writing for `--downtime` seconds, restarts it and
//! measures the time until every client (reconnecting with `since_seq`) has caught up. `group`
//! is a fan-out through nginx to several instances with Redis; CPU and RSS are summed over the
//! instances, and `--kill-leader-at` kills the leader while the writers go on.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;

use super::{
    Opts, Scenario, group,
    group::sample_sum,
    sampler::{Counts, Sampler},
    setup::{self, Setup},
};
use crate::{
    client::{Target, Totals},
    cluster::Cluster,
    ledger::Ledger,
    now_us,
    report::{Connect, Latency, RunReport},
    server::Kind,
    writer::{self, Sink, WritePlan, WriteTotals},
};

/// Instruments in the `snapshots` scenario's book (unless `--snapshot-instruments` says).
const SNAPSHOT_BOOK: u64 = 500;

struct Sizes {
    clients: usize,
    variants: usize,
    rate: f64,
    writers: usize,
    seconds: f64,
}

fn sizes(s: Scenario, o: &Opts) -> Sizes {
    let (clients, variants, rate, writers, seconds) = match s {
        Scenario::Spread => (1000, 100, 200.0, 4, 20.0),
        Scenario::Burst => (500, 1, 50.0, 4, 20.0),
        Scenario::Snapshots => (100, 1, 10.0, 1, 10.0),
        Scenario::Resume => (1000, 1, 100.0, 2, 6.0),
        Scenario::Group => (600, 1, 100.0, 4, 15.0),
        _ => (1000, 1, 200.0, 4, 20.0),
    };
    Sizes {
        clients: o.clients.unwrap_or(clients),
        variants: o.variants.unwrap_or(variants).max(1),
        rate: o.rate.unwrap_or(rate),
        writers: o.writers.unwrap_or(writers).max(1),
        seconds: o.seconds.unwrap_or(seconds),
    }
}

/// The label of a run: `<scenario>-<server>-<backend>` unless given.
pub fn label(opts: &Opts, scenario: &str) -> String {
    opts.label.clone().unwrap_or_else(|| {
        let backend = if opts.server == Kind::Raw {
            "none"
        } else {
            crate::db::backend(&opts.db).unwrap_or("db")
        };
        format!("{scenario}-{:?}-{backend}", opts.server).to_lowercase()
    })
}

/// Runs a client scenario with writers.
pub async fn run(scenario: Scenario, opts: &Opts) -> anyhow::Result<RunReport> {
    if scenario == Scenario::Resume && opts.server != Kind::Signalgate {
        anyhow::bail!("`resume` needs `since_seq` resumption, which only signalgate offers");
    }
    if opts.kill_leader_at.is_some() && scenario != Scenario::Group {
        anyhow::bail!("--kill-leader-at needs the `group` scenario");
    }
    let name = format!("{scenario:?}").to_lowercase();
    let label = label(opts, &name);
    let mut setup = if scenario == Scenario::Group {
        let clients = sizes(scenario, opts).clients;
        Setup::start_group(opts, &label, opts.instances, clients).await?
    } else {
        Setup::start(
            opts,
            &label,
            scenario == Scenario::Spread || opts.count_statements,
        )
        .await?
    };
    // Ctrl-C or SIGTERM: stop the servers and drop the database before exiting.
    let result = tokio::select! {
        r = body(scenario, opts, &label, &mut setup) => r,
        s = setup::interrupted() => Err(anyhow::anyhow!("interrupted by {s}")),
    };
    setup.finish().await;
    result
}

async fn body(
    scenario: Scenario,
    opts: &Opts,
    label: &str,
    setup: &mut Setup,
) -> anyhow::Result<RunReport> {
    let sz = sizes(scenario, opts);
    let resume = scenario == Scenario::Resume;
    let mut plan = WritePlan {
        writers: sz.writers,
        rate: sz.rate,
        seconds: sz.seconds,
        hold_ms: opts.hold_ms,
        snapshot_every: if scenario == Scenario::Snapshots {
            1
        } else {
            opts.snapshot_every
        },
        snapshot_instruments: match (scenario, opts.snapshot_instruments) {
            (Scenario::Snapshots, 0) => SNAPSHOT_BOOK,
            (_, n) => n,
        },
        snapshot_changed: opts.snapshot_changed,
        burst_every_s: if scenario == Scenario::Burst {
            opts.burst_every
        } else {
            0.0
        },
        burst_events: opts.burst_events,
    };
    let planned = writer::planned_events(&plan).unwrap_or(0) + (sz.rate * opts.downtime) as u64;
    let run_id = setup::run_id();
    let names: Vec<String> = (0..sz.variants)
        .map(|v| format!("lt_{run_id}_{v}"))
        .collect();
    let ledger = Arc::new(Ledger::new(
        &names,
        (planned as usize / sz.variants + 64) * 2,
    ));
    let (pids, url) = setup.target()?;
    let target = Target {
        url,
        proto: opts.server.protocol(),
        options: opts.subscribe_options(),
    };
    let totals = Arc::new(Totals::default());
    let wtotals = Arc::new(WriteTotals::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let before = sample_sum(&pids);

    let bar = setup::bar(opts, Some(sz.clients as u64), "connecting");
    // signalgate clients do what its helper does when the server cuts them off as too slow (or
    // restarts): reconnect and resume with `since_seq`. Peers have no resume.
    let reconnect = opts.server == Kind::Signalgate;
    let clients = setup::connect(
        opts,
        &target,
        &ledger,
        &totals,
        &stop_rx,
        0..sz.clients,
        reconnect,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    let connected = sample_sum(&pids);
    let sockets = group::sockets(&pids);
    let n_ok = clients.tasks.len();

    let sink = match setup.db.as_ref() {
        Some(db) => Sink::connect(&db.url, sz.writers).await?,
        None => Sink::Raw(target.url.clone()),
    };
    let bar = setup::bar(opts, None, &name_of(scenario));
    let helpers_before = setup.group.as_ref().map(Cluster::helpers);
    let started_us = now_us();
    let counts0 = Counts::take(setup, &target.url).await;
    let sampler = Sampler::start(pids, totals.clone(), wtotals.clone(), bar.clone());
    let write = |plan| {
        writer::run(
            sink.clone(),
            plan,
            ledger.clone(),
            run_id.clone(),
            wtotals.clone(),
        )
    };
    let mut extra = json!(null);
    let writes = if resume {
        plan.seconds = sz.seconds / 3.0;
        let w1 = write(plan.clone()).await;
        setup.stop_server().await?;
        let down = now_us();
        plan.seconds = opts.downtime;
        let w2 = write(plan.clone()).await;
        let restart = now_us();
        let server = setup.start_again().await?;
        let ready = now_us();
        sampler.set_pids(vec![server.pid]);
        extra = json!({"stopped_at_us": down, "restart_at_us": restart, "ready_ms": (ready - restart) as f64 / 1000.0});
        merge(w1, w2)
    } else if let (Some(at), Some(cluster)) = (opts.kill_leader_at, setup.group.as_mut()) {
        let (w, killed) = tokio::join!(write(plan.clone()), group::kill_leader_at(cluster, at));
        extra = killed;
        w
    } else {
        write(plan.clone()).await
    };
    let expected: u64 = clients_expected(&ledger, sz.clients.min(n_ok), sz.variants);
    let quiet = Duration::from_secs_f64((opts.poll_ms as f64 / 1000.0 * 10.0).max(5.0));
    let drained = setup::drain(
        &totals,
        expected,
        quiet,
        Duration::from_secs_f64(opts.drain),
    )
    .await;
    let cpu_s = sampler.cpu();
    let timeline = sampler.stop();
    let statements = Counts::take(setup, &target.url).await.since(&counts0);
    let helpers = match (helpers_before, setup.group.as_ref()) {
        (Some(a), Some(c)) => Some(group::helper_cpu(a, c.helpers())),
        _ => None,
    };
    bar.finish_and_clear();
    let _ = stop_tx.send(true);
    let mut stats = Vec::with_capacity(n_ok);
    for t in clients.tasks {
        stats.push(t.await?);
    }

    let mut hist = Histogram::<u64>::new_with_bounds(1, 300_000_000, 2)?;
    let mut r = RunReport {
        connect: Some(Connect {
            clients: n_ok,
            seconds: clients.seconds,
            per_s: n_ok as f64 / clients.seconds.max(1e-9),
            failures: clients.failures,
        }),
        writes: Some(writes.clone()),
        expected,
        cpu_s,
        rss_kb_before: before.rss_kb,
        rss_kb_connected: connected.rss_kb,
        rss_per_connection_kb: (n_ok > 0)
            .then(|| connected.rss_kb.saturating_sub(before.rss_kb) as f64 / n_ok as f64),
        timeline,
        extra,
        ..RunReport::new(
            label,
            &name_of(scenario),
            opts.server,
            setup.db.as_ref(),
            json!({"opts": opts, "clients": sz.clients, "variants": sz.variants, "rate": sz.rate, "writers": sz.writers, "seconds": sz.seconds}),
        )
    };
    let mut caught_up_us = 0;
    let mut snapshot_bytes = 0u64;
    let mut lost_sample = Vec::new();
    for (i, s) in stats.iter().enumerate() {
        let lost = ledger.missing(s.variant, &s.received);
        if lost > 0 && lost_sample.len() < 5 {
            lost_sample.push(json!({"client": i, "variant": s.variant, "lost": lost,
                "committed": ledger.committed_count(s.variant), "distinct": s.distinct(),
                "missing_n": ledger.missing_list(s.variant, &s.received, 10), "error": s.error}));
        }
        r.delivered += s.delivered;
        r.lost += lost;
        r.duplicates += s.duplicates;
        r.out_of_order += s.out_of_order;
        r.snapshots += s.snapshots;
        snapshot_bytes += s.snapshot_bytes;
        r.clients_with_loss += u64::from(lost > 0);
        caught_up_us = caught_up_us.max(s.last_new_us);
        if let Some(h) = &s.latency {
            hist.add(h)?;
        }
        if let Some(e) = &s.error
            && r.client_errors.len() < 5
        {
            r.client_errors.push(e.clone());
        }
    }
    r.latency = Latency::from_hist(&hist);
    r.delivered_per_s = r.delivered as f64 / writes.seconds.max(1e-9);
    r.cpu_s_per_million = (r.delivered > 0).then(|| cpu_s / (r.delivered as f64 / 1e6));
    r.reconnects = totals.reconnects.load(Ordering::Relaxed);
    if !r.extra.is_object() {
        r.extra = json!({});
    }
    r.extra["drain"] = json!(drained);
    if let Some(per) = snapshot_bytes.checked_div(r.snapshots) {
        r.extra["snapshot_frame_bytes"] = json!(per);
    }
    if !statements.is_null() {
        r.extra["statements"] = statements;
    }
    if let Some(h) = helpers {
        r.extra["instances"] = json!(opts.instances);
        r.extra["sockets_per_instance"] = json!(sockets);
        r.extra["helpers"] = h;
    }
    if let Some(k) = r
        .extra
        .get("killed_at_us")
        .and_then(serde_json::Value::as_u64)
    {
        r.extra["spike"] = group::spike(&r.timeline, started_us, k);
    }
    if !lost_sample.is_empty() {
        r.extra["lost_sample"] = json!(lost_sample);
    }
    if resume
        && let Some(restart) = r
            .extra
            .get("restart_at_us")
            .and_then(serde_json::Value::as_u64)
    {
        r.extra["caught_up_ms"] = json!(caught_up_us.saturating_sub(restart) as f64 / 1000.0);
    }
    judge(&mut r, opts, clients.failures, clients.first_error);
    Ok(r)
}

fn name_of(s: Scenario) -> String {
    format!("{s:?}").to_lowercase()
}

/// Committed events × the clients that follow each variant.
fn clients_expected(ledger: &Ledger, clients: usize, variants: usize) -> u64 {
    (0..variants)
        .map(|v| {
            let followers = (clients + variants - 1 - v) / variants;
            ledger.committed_count(v) * followers as u64
        })
        .sum()
}

fn merge(a: writer::WriteResult, b: writer::WriteResult) -> writer::WriteResult {
    writer::WriteResult {
        offered: a.offered + b.offered,
        committed: b.committed.max(a.committed), // the totals are shared: the later one is cumulative
        failed: b.failed.max(a.failed),
        errors: a.errors.into_iter().chain(b.errors).take(5).collect(),
        seconds: a.seconds + b.seconds,
    }
}

/// signalgate must lose nothing, duplicate nothing, keep `seq` order and connect every client;
/// peers are reported, not judged.
fn judge(r: &mut RunReport, opts: &Opts, connect_failures: u64, first_error: Option<String>) {
    if let Some(w) = &r.writes
        && (w.committed == 0 || w.failed > 0)
    {
        // Not a valid measurement (e.g. the database vanished mid-run), whoever the server is.
        r.failures.push(format!(
            "{} writer transactions failed: {:?}",
            w.failed, w.errors
        ));
    }
    if opts.server != Kind::Signalgate {
        return;
    }
    if r.lost > 0 {
        r.failures.push(format!(
            "{} events lost ({} clients)",
            r.lost, r.clients_with_loss
        ));
    }
    if r.duplicates > 0 {
        r.failures
            .push(format!("{} duplicate events", r.duplicates));
    }
    if r.out_of_order > 0 {
        r.failures
            .push(format!("{} events out of seq order", r.out_of_order));
    }
    if connect_failures > 0 {
        r.failures.push(format!(
            "{connect_failures} clients could not connect: {}",
            first_error.unwrap_or_default()
        ));
    }
}

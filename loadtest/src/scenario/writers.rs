//! `writers`: what the gateway's schema costs the strategies' own commits. Two scratch databases
//! on one server, one with the design document's plain tables and one after `signalgate migrate`
//! (whatever migrations the binary under test has), and for each cell (`--cells`, default:
//! autocommit event inserts with 8 writers on 1 variant, 8 on 8, 1 on 1; 10-event transactions;
//! snapshot upserts) `--rounds` rounds, alternating which schema goes first, each writer
//! committing as fast as it can for `--seconds` (default 3). Reported per cell: the medians of
//! commits/s and of the commit round trip p50/p99 on each schema, and the median of the
//! per-round gateway ÷ plain ratios; a Markdown table on the terminal, the numbers in the JSON.
//! No server runs.

use serde_json::json;

use super::{Opts, setup, traffic::label};
use crate::{
    db::{Schema, ScratchDb},
    report::RunReport,
    writer::bench::{self, Cell, CellSummary, Round},
};

/// Runs the writers scenario.
pub async fn run(opts: &Opts) -> anyhow::Result<RunReport> {
    let cells = opts
        .cells
        .iter()
        .map(|c| Cell::parse(c.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if opts.rounds == 0 {
        anyhow::bail!("--rounds must be at least 1");
    }
    let plain = ScratchDb::create(&opts.db).await?;
    let gateway = match ScratchDb::create(&opts.db).await {
        Ok(g) => g,
        Err(e) => {
            plain.drop_db().await;
            return Err(e);
        }
    };
    // Ctrl-C or SIGTERM: drop both databases before exiting.
    let result = tokio::select! {
        r = body(opts, &cells, &plain, &gateway) => r,
        s = setup::interrupted() => Err(anyhow::anyhow!("interrupted by {s}")),
    };
    plain.drop_db().await;
    gateway.drop_db().await;
    result
}

async fn body(
    opts: &Opts,
    cells: &[Cell],
    plain: &ScratchDb,
    gateway: &ScratchDb,
) -> anyhow::Result<RunReport> {
    let seconds = opts.seconds.unwrap_or(3.0);
    let bin = opts.signalgate_bin();
    plain.apply(Schema::Seed, &bin).await?;
    gateway.apply(Schema::Gateway, &bin).await?;
    gateway.revert(&bin, opts.gateway_down).await?;
    let migrations = gateway.migrations().await.unwrap_or_default();
    let run_id = setup::run_id();
    let mut summaries = Vec::new();
    let mut failures = Vec::new();
    for cell in cells {
        let mut rounds = Vec::new();
        for round in 0..opts.rounds {
            // Alternate the order so a trend in the machine's load hits both schemas alike.
            let gateway_first = round % 2 == 1;
            let mut runs = Vec::new();
            for (i, db) in [(0, plain), (1, gateway)]
                .into_iter()
                .cycle()
                .skip(usize::from(gateway_first))
                .take(2)
            {
                let tag = format!("{run_id}.{}.{round}", cell.name());
                let r = bench::run(&db.url, *cell, seconds, "lt_w_", &tag).await?;
                if r.failed > 0 {
                    failures.push(format!(
                        "{} on the {} schema: {} commits failed: {}",
                        cell.name(),
                        ["plain", "gateway"][i],
                        r.failed,
                        r.error.clone().unwrap_or_default()
                    ));
                }
                runs.push((i, r));
            }
            runs.sort_by_key(|(i, _)| *i);
            let mut it = runs.into_iter().map(|(_, r)| r);
            let (Some(p), Some(g)) = (it.next(), it.next()) else {
                anyhow::bail!("a round ran fewer than two schemas");
            };
            if !opts.quiet {
                eprintln!(
                    "{} round {}: plain {:.0} commits/s (p99 {:.2} ms), gateway {:.0} commits/s (p99 {:.2} ms): {:.2}",
                    cell.name(),
                    round + 1,
                    p.commits_per_s,
                    p.p99_ms,
                    g.commits_per_s,
                    g.p99_ms,
                    g.commits_per_s / p.commits_per_s.max(1e-9)
                );
            }
            rounds.push(Round {
                plain: p,
                gateway: g,
                first: if gateway_first { "gateway" } else { "plain" }.into(),
            });
        }
        summaries.push(CellSummary::new(*cell, rounds));
    }
    let backend = crate::db::backend(&opts.db)?;
    let mut r = RunReport::new(
        &label(opts, "writers"),
        "writers",
        opts.server,
        None,
        json!({"opts": opts, "seconds": seconds, "rounds": opts.rounds}),
    );
    (r.server, r.backend) = ("none".into(), backend.to_owned());
    r.extra = json!({
        "cells": summaries,
        "gateway_migrations": migrations,
        "table": bench::markdown(backend, &summaries),
    });
    r.failures = failures;
    Ok(r)
}

//! `writers`: how many single-event transactions per second W writers commit, as fast as they
//! can, on the gateway's schema (seq trigger + counter row lock, and NOTIFY on PostgreSQL) and on
//! the plain seed schema; with 1 and 8 writers, on one variant (the writers of a variant are
//! serialised by the counter row) and on 8 variants. No server runs; each cell gets its own
//! scratch database.

use std::sync::Arc;

use serde_json::json;

use super::{Opts, setup, traffic::label};
use crate::{
    db::{Schema, ScratchDb},
    ledger::Ledger,
    report::RunReport,
    writer::{self, Sink, WritePlan, WriteTotals},
};

/// Runs the writers scenario.
pub async fn run(opts: &Opts) -> anyhow::Result<RunReport> {
    let seconds = opts.seconds.unwrap_or(5.0);
    let bin = opts.signalgate_bin();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let writer_counts = opts.writers.map_or(vec![1, 8], |w| vec![w]);
    let variant_counts = opts.variants.map_or(vec![1, 8], |v| vec![v]);
    for schema in [Schema::Seed, Schema::Gateway] {
        for &writers in &writer_counts {
            for &variants in &variant_counts {
                let db = ScratchDb::create(&opts.db).await?;
                let cell = async {
                    db.apply(schema, &bin).await?;
                    let run_id = setup::run_id();
                    let names: Vec<String> = (0..variants).map(|v| format!("lt_w_{v}")).collect();
                    let ledger = Arc::new(Ledger::new(&names, 2_000_000 / variants));
                    let plan = WritePlan {
                        writers,
                        rate: 0.0,
                        seconds,
                        hold_ms: opts.hold_ms,
                        snapshot_every: 0,
                        burst_every_s: 0.0,
                        burst_events: 0,
                    };
                    let sink = Sink::connect(&db.url, writers).await?;
                    let r =
                        writer::run(sink, plan, ledger, run_id, Arc::new(WriteTotals::default()))
                            .await;
                    anyhow::Ok(r)
                };
                let r = cell.await;
                db.drop_db().await;
                let r = r?;
                let per_s = r.committed as f64 / r.seconds.max(1e-9);
                if !opts.quiet {
                    eprintln!(
                        "{schema:?} schema, {writers} writers, {variants} variants: {per_s:.0} commits/s"
                    );
                }
                if r.failed > 0 {
                    failures.push(format!(
                        "{schema:?}/{writers}w/{variants}v: {} failed: {:?}",
                        r.failed, r.errors
                    ));
                }
                rows.push(json!({"schema": schema, "writers": writers, "variants": variants,
                                 "commits": r.committed, "seconds": r.seconds, "commits_per_s": per_s}));
            }
        }
    }
    let mut r = RunReport::new(
        &label(opts, "writers"),
        "writers",
        opts,
        None,
        json!({"opts": opts, "seconds": seconds}),
    );
    (r.server, r.backend) = ("none".into(), crate::db::backend(&opts.db)?.to_owned());
    r.extra = json!({ "cells": rows });
    r.failures = failures;
    Ok(r)
}

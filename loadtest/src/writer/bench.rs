//! Closed-loop writer benchmark cells for the `writers` scenario: W writers, each on its own
//! connection, send one kind of write as fast as the database commits them for a fixed time, and
//! every commit's round trip (statement sent → commit acknowledged) goes into a histogram. The
//! statements are the load generator's usual seed-column writes (`INSERT IGNORE` / `ON CONFLICT
//! DO NOTHING`, the snapshot upsert), so the plain schema and the gateway's schema see the same
//! SQL.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{
    Sink,
    sql::{MY_EVENT, MY_SNAP, PG_EVENT, PG_SNAP},
};

/// What each writer commits, over and over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// One autocommit event insert.
    Insert,
    /// A transaction of 10 event inserts.
    Tx10,
    /// One autocommit snapshot upsert of the writer's own (variant, instance) row.
    Upsert,
}

impl Op {
    /// Events (or snapshot rows) written per commit.
    pub fn rows_per_commit(self) -> u64 {
        match self {
            Self::Tx10 => 10,
            _ => 1,
        }
    }
}

/// One cell of the table: what, by how many writers, on how many variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// The write.
    pub op: Op,
    /// Concurrent writers (connections).
    pub writers: usize,
    /// Variants; writer w writes variant w % variants.
    pub variants: usize,
}

impl Cell {
    /// `insert-8w-1v`, `tx10-8w-8v`, …
    pub fn name(&self) -> String {
        let op = serde_json::to_value(self.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        format!("{op}-{}w-{}v", self.writers, self.variants)
    }

    /// Parses [`Cell::name`].
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let bad = || {
            anyhow::anyhow!(
                "cell {s:?}: expected OP-<N>w-<M>v with OP insert, tx10 or upsert, e.g. insert-8w-1v"
            )
        };
        let mut parts = s.split('-');
        let op = match parts.next() {
            Some("insert") => Op::Insert,
            Some("tx10") => Op::Tx10,
            Some("upsert") => Op::Upsert,
            _ => return Err(bad()),
        };
        let num = |p: Option<&str>, suffix: char| -> anyhow::Result<usize> {
            p.and_then(|p| p.strip_suffix(suffix))
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(bad)
        };
        let writers = num(parts.next(), 'w')?;
        let variants = num(parts.next(), 'v')?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            op,
            writers,
            variants,
        })
    }
}

/// What one run of a cell measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CellRun {
    /// Commits (transactions) acknowledged.
    pub commits: u64,
    /// Wall seconds from the first statement to the last commit.
    pub seconds: f64,
    /// Commits per second.
    pub commits_per_s: f64,
    /// Commit round trip, median, ms.
    pub p50_ms: f64,
    /// Commit round trip, 99th percentile, ms.
    pub p99_ms: f64,
    /// Failed commits.
    pub failed: u64,
    /// The first error, if any.
    pub error: Option<String>,
}

/// One writer's counts and latencies (µs).
struct Mine {
    commits: u64,
    failed: u64,
    error: Option<String>,
    hist: Histogram<u64>,
}

macro_rules! one_commit {
    ($conn:expr, $op:expr, $variant:expr, $inst:expr, $key:expr, $event:expr, $snap:expr, $now:expr) => {async {
        let payload = format!(
            r#"{{"k":"{}","t_us":{},"signal_type":"buy","price":3612.5,"reason":"td9 exhaustion","td_count":9}}"#,
            $key,
            crate::now_us()
        );
        match $op {
            Op::Insert => {
                sqlx::query($event)
                    .bind($variant)
                    .bind($inst)
                    .bind(format!("{}|{}|{}", $variant, $inst, $key))
                    .bind($now)
                    .bind(payload)
                    .execute(&mut **$conn)
                    .await?;
            }
            Op::Upsert => {
                sqlx::query($snap)
                    .bind($variant)
                    .bind($inst)
                    .bind($now)
                    .bind(payload)
                    .execute(&mut **$conn)
                    .await?;
            }
            Op::Tx10 => {
                let mut tx = sqlx::Connection::begin(&mut **$conn).await?;
                for i in 0..10 {
                    sqlx::query($event)
                        .bind($variant)
                        .bind($inst)
                        .bind(format!("{}|{}|{}.{i}", $variant, $inst, $key))
                        .bind($now)
                        .bind(payload.clone())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        anyhow::Ok(())
    }.await};
}

/// Runs `cell` on the database of `url` for `seconds`; `tag` makes event keys unique across
/// runs on one database (`prefix` names the variants).
pub async fn run(
    url: &str,
    cell: Cell,
    seconds: f64,
    prefix: &str,
    tag: &str,
) -> anyhow::Result<CellRun> {
    let sink = Sink::connect(url, cell.writers).await?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for w in 0..cell.writers {
        let (sink, variant, inst, tag) = (
            sink.clone(),
            format!("{prefix}{}", w % cell.variants),
            format!("lt-{w}"),
            tag.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Mine {
                commits: 0,
                failed: 0,
                error: None,
                hist: Histogram::new_with_bounds(1, 60_000_000, 2)?,
            };
            // One connection per writer for the whole cell (no pool checkout per commit).
            let mut conn = match &sink {
                Sink::My(p) => Conn::My(p.acquire().await?),
                Sink::Pg(p) => Conn::Pg(p.acquire().await?),
                Sink::Raw(_) => anyhow::bail!("the writers scenario needs a database"),
            };
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let key = format!("{tag}.{n}");
                let t0 = Instant::now();
                let r = match &mut conn {
                    Conn::My(c) => {
                        let now = chrono::Utc::now().naive_utc();
                        one_commit!(c, cell.op, &variant, &inst, &key, MY_EVENT, MY_SNAP, now)
                    }
                    Conn::Pg(c) => {
                        let now = chrono::Utc::now();
                        one_commit!(c, cell.op, &variant, &inst, &key, PG_EVENT, PG_SNAP, now)
                    }
                };
                match r {
                    Ok(()) => {
                        mine.commits += 1;
                        let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                        mine.hist.saturating_record(us.max(1));
                    }
                    Err(e) => {
                        mine.failed += 1;
                        mine.error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            anyhow::Ok(mine)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2)?;
    let (mut commits, mut failed, mut error) = (0, 0, None);
    for t in tasks {
        let mine = t.await??;
        commits += mine.commits;
        failed += mine.failed;
        error = error.or(mine.error);
        hist.add(&mine.hist)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(CellRun {
        commits,
        seconds,
        commits_per_s: commits as f64 / seconds.max(1e-9),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        failed,
        error,
    })
}

enum Conn {
    My(sqlx::pool::PoolConnection<sqlx::MySql>),
    Pg(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names_round_trip_and_bad_ones_are_explained() {
        for s in ["insert-8w-1v", "tx10-8w-8v", "upsert-1w-1v"] {
            assert_eq!(Cell::parse(s).expect("parses").name(), s);
        }
        for s in [
            "insert-8w",
            "delete-1w-1v",
            "insert-0w-1v",
            "insert-1w-1v-x",
            "insert-aw-1v",
        ] {
            let e = Cell::parse(s).expect_err(s).to_string();
            assert!(e.contains("OP-<N>w-<M>v"), "{e}");
        }
    }
}

/// One round of a cell on both schemas.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Round {
    /// The design document's plain tables.
    pub plain: CellRun,
    /// The tables after `signalgate migrate`.
    pub gateway: CellRun,
    /// Which ran first in this round.
    pub first: String,
}

/// A cell over all its rounds: medians, and the gateway ÷ plain ratios (the median of the
/// per-round ratios, so drift in the machine's load between rounds cancels out).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CellSummary {
    /// `insert-8w-1v`, …
    pub cell: String,
    /// The cell.
    pub spec: Cell,
    /// Every round.
    pub rounds: Vec<Round>,
    /// Median commits/s, plain schema.
    pub plain_commits_per_s: f64,
    /// Median commits/s, gateway schema.
    pub gateway_commits_per_s: f64,
    /// Median of gateway ÷ plain commits/s.
    pub ratio: f64,
    /// Median p50 commit round trip, plain / gateway, ms.
    pub plain_p50_ms: f64,
    /// See `plain_p50_ms`.
    pub gateway_p50_ms: f64,
    /// Median p99 commit round trip, plain / gateway, ms.
    pub plain_p99_ms: f64,
    /// See `plain_p99_ms`.
    pub gateway_p99_ms: f64,
    /// Median of gateway ÷ plain p99 (latency: lower is better, the target is ≤ 1.1).
    pub p99_ratio: f64,
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl CellSummary {
    /// Summarises the rounds of `cell`.
    pub fn new(cell: Cell, rounds: Vec<Round>) -> Self {
        let m = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Self {
            cell: cell.name(),
            spec: cell,
            plain_commits_per_s: m(&|r| r.plain.commits_per_s),
            gateway_commits_per_s: m(&|r| r.gateway.commits_per_s),
            ratio: m(&|r| div(r.gateway.commits_per_s, r.plain.commits_per_s)),
            plain_p50_ms: m(&|r| r.plain.p50_ms),
            gateway_p50_ms: m(&|r| r.gateway.p50_ms),
            plain_p99_ms: m(&|r| r.plain.p99_ms),
            gateway_p99_ms: m(&|r| r.gateway.p99_ms),
            p99_ratio: m(&|r| div(r.gateway.p99_ms, r.plain.p99_ms)),
            rounds,
        }
    }
}

/// The Markdown table BENCHMARKS.md shows for a `writers` run on `backend`.
pub fn markdown(backend: &str, cells: &[CellSummary]) -> String {
    let mut s = String::from(
        "| database | cell | writers / variants | rows per commit | plain commits/s | gateway commits/s | gateway ÷ plain | p50 ms plain / gateway | p99 ms plain / gateway | p99 gateway ÷ plain | per-round ratios |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let db = match backend {
        "postgres" => "PostgreSQL",
        "mysql" => "MariaDB/MySQL",
        other => other,
    };
    for c in cells {
        let per_round: Vec<String> = c
            .rounds
            .iter()
            .map(|r| {
                format!(
                    "{:.2}",
                    r.gateway.commits_per_s / r.plain.commits_per_s.max(1e-9)
                )
            })
            .collect();
        s += &format!(
            "| {db} | {} | {} / {} | {} | {:.0} | {:.0} | **{:.2}** | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {} |\n",
            c.cell,
            c.spec.writers,
            c.spec.variants,
            c.spec.op.rows_per_commit(),
            c.plain_commits_per_s,
            c.gateway_commits_per_s,
            c.ratio,
            c.plain_p50_ms,
            c.gateway_p50_ms,
            c.plain_p99_ms,
            c.gateway_p99_ms,
            c.p99_ratio,
            per_round.join(", ")
        );
    }
    s
}

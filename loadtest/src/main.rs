//! `signalgate-loadtest`: runs one scenario against signalgate or a peer, prints a summary, and
//! writes a JSON and an HTML report; `report` merges several JSON reports into one HTML page.
//!
//! ```text
//! signalgate-loadtest run fanout --server signalgate --db mysql://root@127.0.0.1:3306 --clients 1000 --rate 200
//! signalgate-loadtest report loadtest/results/fanout-*.json -o loadtest/results/fanout.html
//! ```
//! The exit status is 1 when a signalgate run loses, duplicates or reorders an event.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use signalgate_loadtest::{
    report,
    scenario::{self, Opts, Scenario},
};

#[derive(Parser)]
#[command(
    version,
    about = "Load generator and benchmarks for signalgate and its peers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario.
    Run {
        /// The scenario.
        #[arg(value_enum)]
        scenario: Scenario,
        #[command(flatten)]
        opts: Box<Opts>,
    },
    /// Merge JSON reports into one HTML page.
    Report {
        /// JSON reports written by `run`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Print the design document's plain tables (the seed schema the peers and the `writers`
    /// scenario's plain side use) as SQL for `mysql` or `postgres`, one statement per `;`.
    SeedDdl {
        /// `mysql` or `postgres`.
        backend: String,
    },
    /// Print JSON reports as a Markdown table (ratios to the first one).
    Table {
        /// JSON reports written by `run`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Run { scenario, opts } => {
            let r = scenario::run(scenario, &opts).await?;
            println!("{}", r.summary());
            println!(
                "report: {}",
                opts.out.join(format!("{}.html", r.label)).display()
            );
            if !r.failures.is_empty() {
                std::process::exit(1);
            }
        }
        Cmd::Report { files, out } => {
            let runs = report::load(&files)?;
            std::fs::write(&out, report::render(&runs))?;
            println!("wrote {}", out.display());
        }
        Cmd::SeedDdl { backend } => {
            for stmt in signalgate_loadtest::db::seed_ddl_for(&backend)? {
                println!("{stmt};");
            }
        }
        Cmd::Table { files } => print!("{}", report::markdown(&report::load(&files)?)),
    }
    Ok(())
}

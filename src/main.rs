//! The `signalgate` binary: parses configuration, sets up logging and runs a subcommand.

use anyhow::Context;
use signalgate::{
    Application, BuildOptions,
    config::{self, Command, ServeArgs},
    store, telemetry,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line with every distinct cause; no backtrace, no repeated messages.
            let chain: &(dyn std::error::Error + 'static) = err.as_ref();
            eprintln!("Error: {}", telemetry::error_chain(chain));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = config::load()?;
    telemetry::init(cli.config.log_format);
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            let app = Application::build(
                config,
                BuildOptions {
                    migrate: !args.no_migrate,
                    demo: args.demo.then_some(args.demo_args),
                },
            )
            .await?;
            let addr = app.local_addr()?;
            tracing::info!(
                "listening on http://{addr} (dashboard at /, REST under /api, Socket.IO under /socket.io)"
            );
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate(args) => {
            let s = connect(&config).await?;
            if args.down {
                if s.migrate_down().await? {
                    tracing::info!("reverted the latest migration");
                } else {
                    tracing::info!("no migration to revert");
                }
            } else {
                s.migrate().await?;
                tracing::info!("migrations applied");
            }
            Ok(())
        }
        Command::Prune(args) => {
            let s = connect(&config).await?;
            s.migrate().await?;
            let horizon = signalgate::retention::horizon(args.events_older_than)?;
            let total = s.count_events_before(horizon).await?;
            println!("{total} events created before {horizon} (snapshots are never pruned)");
            let months_ahead = config::MONTHS_AHEAD;
            let parts = s
                .prune_partitions(horizon, months_ahead, args.dry_run)
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
            let total = match args.dry_run {
                true => total,
                false => s.count_events_before(horizon).await?,
            };
            if !args.dry_run && total == 0 && parts.partitioned {
                println!("done: deleted {} events", parts.rows);
            }
            if !args.dry_run && total > 0 {
                let stop = tokio_util::sync::CancellationToken::new();
                let on_signal = stop.clone();
                tokio::spawn(async move {
                    shutdown_signal().await;
                    on_signal.cancel();
                });
                let deleted =
                    signalgate::retention::prune(&*s, horizon, args.batch, &stop, |done| {
                        println!("deleted {done}/{total}")
                    })
                    .await?;
                println!("done: deleted {} events", parts.rows + deleted);
            }
            s.close().await;
            Ok(())
        }
        Command::Partition(args) => {
            let s = connect(&config).await?;
            s.migrate().await?;
            let started = std::time::Instant::now();
            let r = s.partition_events(args.months_ahead).await?;
            let took = started.elapsed();
            if r.converted {
                println!(
                    "converted monitor_signal_event to monthly partitions: {} events kept, {} partitions, {took:.2?}",
                    r.rows,
                    r.created.len()
                );
                println!(
                    "writers: use INSERT ... ON CONFLICT DO NOTHING (no conflict target) from now on"
                );
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
            s.close().await;
            Ok(())
        }
        Command::Token(args) => {
            let secret = config
                .auth
                .jwt_secret
                .as_ref()
                .context("signalgate token needs --jwt-secret (or SIGNALGATE_JWT_SECRET)")?;
            let token = signalgate::auth::mint(secret, &args.sub, args.variants, args.ttl)?;
            println!("{token}");
            Ok(())
        }
        Command::Demo(args) => {
            let s = connect(&config).await?;
            s.migrate().await?;
            let stop = tokio_util::sync::CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                on_signal.cancel();
            });
            signalgate::demo::run(s.clone(), args, config.database.bars_tz()?, stop).await?;
            s.close().await;
            Ok(())
        }
    }
}

async fn connect(config: &config::Config) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
    let url = config.database.url();
    store::connect(
        url.expose(),
        &store::PoolOptions {
            max_connections: config.database.db_max_connections,
            acquire_timeout: config.database.acquire_timeout(),
        },
    )
    .await
    .with_context(|| format!("connecting to {url}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

//! The `signalgate` binary: parses configuration, sets up logging and runs a subcommand. The
//! subcommands' bodies live in the library, next to what they drive.

use std::process::ExitCode;

use anyhow::Context;
use signalgate::{
    Application, BuildOptions, auth,
    config::{self, Command, ServeArgs},
    demo, retention, shutdown, startup, telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line with every distinct cause; no backtrace, no repeated messages.
            let chain: &(dyn std::error::Error + 'static) = err.as_ref();
            eprintln!("Error: {}", telemetry::error_chain(chain));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = config::load()?;
    telemetry::init(cli.config.log_format);
    let config = cli.config;
    let store = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            let app = Application::build(config, BuildOptions::from(args)).await?;
            let addr = app.local_addr()?;
            tracing::info!(
                "listening on http://{addr} (dashboard at /, REST under /api, Socket.IO under /socket.io)"
            );
            return app.run_until_stopped(shutdown::signal()).await;
        }
        Command::Token(args) => {
            let secret = config
                .auth
                .jwt_secret
                .as_ref()
                .context("signalgate token needs --jwt-secret (or SIGNALGATE_JWT_SECRET)")?;
            let token = auth::mint(secret, &args.sub, args.variants, args.ttl)?;
            println!("{token}");
            return Ok(());
        }
        Command::Migrate(args) => {
            let store = startup::connect(&config.database).await?;
            if !args.down {
                store.migrate().await?;
                tracing::info!("migrations applied");
            } else if store.migrate_down().await? {
                tracing::info!("reverted the latest migration");
            } else {
                tracing::info!("no migration to revert");
            }
            return Ok(());
        }
        Command::Prune(args) => {
            let store = startup::connect_migrated(&config.database).await?;
            retention::prune_command(&*store, &args).await?;
            store
        }
        Command::Partition(args) => {
            let store = startup::connect_migrated(&config.database).await?;
            retention::partition_command(&*store, args.months_ahead).await?;
            store
        }
        Command::Demo(args) => {
            let store = startup::connect_migrated(&config.database).await?;
            let (bars_tz, stop) = (config.database.bars_tz()?, shutdown::cancel_on_signal());
            demo::run(store.clone(), args, bars_tz, stop).await?;
            store
        }
    };
    store.close().await;
    Ok(())
}

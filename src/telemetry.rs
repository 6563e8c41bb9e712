//! Tracing set-up: `RUST_LOG` filter (default `info,sqlx=warn,socketioxide=warn,engineioxide=warn`),
//! text or JSON lines on stderr.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Modules whose logs may contain secrets.
const SILENCED: &str = "sqlx_postgres::options=error";

/// One line for an error and its causes (`a: b: c`), skipping a cause whose text the message
/// before it already contains (many errors embed their source in their own message).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), so
/// tests can call it freely.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,socketioxide=warn,engineioxide=warn"))
        // sqlx logs unrecognised URL parameters with their values (`PASSWORD=...`): never let
        // those lines through, whatever RUST_LOG says.
        .add_directive(SILENCED.parse().unwrap_or_default());
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        // Colour only for a person at a terminal, never into files or log collectors.
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
}

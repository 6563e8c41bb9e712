//! Tracing set-up: `RUST_LOG` filter (default `info,sqlx=warn,socketioxide=warn,engineioxide=warn`),
//! text or JSON lines on stderr. Crates that log raw traffic are capped ([`LOG_CAPS`]) whatever
//! `RUST_LOG` says, so no token, secret or password reaches a log line at any level.

use std::io::IsTerminal;

use tracing_subscriber::{
    EnvFilter,
    filter::{LevelFilter, Targets},
    fmt,
    prelude::*,
};

use crate::config::LogFormat;

/// Targets that log raw traffic or connection options, and the most each may log whatever
/// `RUST_LOG` says. Below these levels they print what clients and operators send: websocket
/// frames (`Received message 40{"token":"eyJ…"}` from tungstenite at trace), Engine.IO and
/// Socket.IO packets with the handshake's auth payload (debug), and sqlx's unrecognised URL
/// parameters with their values (`PASSWORD=…`, warn).
pub const LOG_CAPS: [(&str, LevelFilter); 8] = [
    ("tungstenite", LevelFilter::INFO),
    ("tokio_tungstenite", LevelFilter::INFO),
    ("engineioxide", LevelFilter::INFO),
    ("engineioxide_core", LevelFilter::INFO),
    ("socketioxide", LevelFilter::INFO),
    ("socketioxide_core", LevelFilter::INFO),
    ("socketioxide_parser_common", LevelFilter::INFO),
    ("sqlx_postgres::options", LevelFilter::ERROR),
];

/// The filter no `RUST_LOG` can widen: everything at any level, except [`LOG_CAPS`]. It is a
/// second, separate filter, so a more specific `RUST_LOG` directive
/// (`tungstenite::protocol=trace`) cannot override it the way it would override a directive
/// added to the `RUST_LOG` filter itself.
pub fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(LOG_CAPS)
}

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
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,socketioxide=warn,engineioxide=warn"));
    let registry = tracing_subscriber::registry().with(filter).with(caps());
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

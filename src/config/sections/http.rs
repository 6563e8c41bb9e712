//! Listening and REST settings: the address, CORS origins, and the HTTP connections' time and
//! number bounds.

use std::net::SocketAddr;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Listening and REST settings.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "SIGNALGATE_LISTEN",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub listen: SocketAddr,

    /// Origins allowed by CORS on REST and Socket.IO, also checked on the Socket.IO handshake
    /// (comma-separated, or repeat the flag); `*` allows any origin. Default: `*` without
    /// authentication, no cross-origin access with it.
    #[arg(
        long,
        env = "SIGNALGATE_CORS_ORIGIN",
        value_delimiter = ',',
        global = true
    )]
    #[serde(default)]
    pub cors_origin: Vec<String>,

    /// A request's headers must arrive within this time (ms), counted from the accept on a new
    /// connection and from the first byte of the request on a kept-alive one; otherwise the
    /// connection is closed (silent and slowly-sending clients).
    #[arg(
        long,
        env = "SIGNALGATE_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub http_header_timeout_ms: u64,

    /// A kept-alive HTTP connection with no request in flight is closed after this long (ms).
    /// Keep it above a reverse proxy's upstream keep-alive timeout (nginx: 60 s). A held
    /// long-polling request is in flight, not idle.
    #[arg(
        long,
        env = "SIGNALGATE_HTTP_IDLE_TIMEOUT_MS",
        default_value_t = 75_000,
        global = true
    )]
    pub http_idle_timeout_ms: u64,

    /// Most open HTTP connections (REST, long-polling, and websockets, which each keep theirs);
    /// beyond it a new connection gets 503 and is closed. Keep it above --max-connections.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_HTTP_CONNECTIONS",
        default_value_t = 20_000,
        global = true
    )]
    pub max_http_connections: usize,
}

impl HttpConfig {
    /// The allow-list in effect: the configured origins, or by default `*` without
    /// authentication and none with it.
    pub fn origins(&self, auth_enabled: bool) -> Vec<String> {
        match (self.cors_origin.is_empty(), auth_enabled) {
            (false, _) => self.cors_origin.clone(),
            (true, false) => vec!["*".to_owned()],
            (true, true) => Vec::new(),
        }
    }
}

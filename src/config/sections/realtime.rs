//! Socket.IO, live state and per-socket limits: rings and their memory budget, resume and
//! subscription caps, buffers, message size, the Engine.IO heartbeat and the overview cadence.

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::ByteSize;

/// Socket.IO, live state and per-socket limits.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RealtimeConfig {
    /// Recent events kept in memory per variant, so most resumes need no database query.
    #[arg(
        long,
        env = "SIGNALGATE_RING_CAPACITY",
        default_value_t = 4096,
        global = true
    )]
    pub ring_capacity: usize,

    /// Memory for recent events of all variants together (`64MiB`, `512KiB`, or bytes). Variants
    /// with subscribers come first; those without share at most 1/8 of it. Resumes from before
    /// what is kept read the database.
    #[arg(
        long,
        env = "SIGNALGATE_HISTORY_BUDGET",
        default_value = "64MiB",
        global = true
    )]
    pub history_budget: ByteSize,

    /// Most events returned in a subscribe ack; beyond it the ack says truncated:true.
    #[arg(
        long,
        env = "SIGNALGATE_RESUME_CAP",
        default_value_t = 1000,
        global = true
    )]
    pub resume_cap: u32,

    /// Most variants one socket may subscribe to.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_SUBSCRIPTIONS",
        default_value_t = 32,
        global = true
    )]
    pub max_subscriptions: usize,

    /// Most vt_symbols in one subscribe request.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_SYMBOLS",
        default_value_t = 64,
        global = true
    )]
    pub max_symbols: usize,

    /// Packets queued per socket before the client counts as too slow and is disconnected.
    #[arg(
        long,
        env = "SIGNALGATE_SOCKET_BUFFER",
        default_value_t = 1024,
        global = true
    )]
    pub socket_buffer: usize,

    /// Websocket read buffer per connection (bytes). Clients only send small requests, so a
    /// small buffer saves memory on every idle connection.
    #[arg(
        long,
        env = "SIGNALGATE_WS_READ_BUFFER",
        default_value_t = 1024,
        global = true
    )]
    pub ws_read_buffer: usize,

    /// Largest message a client may send (bytes), on both transports: a websocket message or
    /// frame, or a long-polling request body. A bigger one closes that connection. The default
    /// fits a subscribe request with the maximum number of symbols several times over.
    #[arg(
        long,
        env = "SIGNALGATE_MAX_MESSAGE_BYTES",
        default_value_t = 16384,
        global = true
    )]
    pub max_message_bytes: usize,

    /// Engine.IO heartbeat: ping interval (ms).
    #[arg(
        long,
        env = "SIGNALGATE_PING_INTERVAL_MS",
        default_value_t = 25000,
        global = true
    )]
    pub ping_interval_ms: u64,

    /// Engine.IO heartbeat: a peer silent this long after a ping is dead (ms).
    #[arg(
        long,
        env = "SIGNALGATE_PING_TIMEOUT_MS",
        default_value_t = 20000,
        global = true
    )]
    pub ping_timeout_ms: u64,

    /// Overview stream (`subscribe_overview`): changed variant summaries are pushed at most once
    /// per this interval (ms) per socket.
    #[arg(
        long,
        env = "SIGNALGATE_OVERVIEW_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub overview_interval_ms: u64,
}

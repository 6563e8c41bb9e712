//! signalgate: a real-time gateway between strategy databases and dashboards.
//!
//! Strategies (VnPy and the like) write their current state into `monitor_signal_snapshot` and
//! what happened into `monitor_signal_event`. signalgate polls both by a commit-ordered cursor,
//! pushes `snapshot_update` / `event_new` over Socket.IO into per-variant rooms, and answers first
//! paint over REST (snapshots, event ranges, OHLC bars from VnPy's `dbbardata`).
//!
//! # Layout
//! - [`config`]: every setting: CLI flags and subcommands, `SIGNALGATE_*` env vars, the optional
//!   TOML file; one section per concern; secrets that never print (database URLs, the JWT
//!   secret).
//! - [`auth`]: JWT verification and per-variant grants (REST and Socket.IO apply them).
//! - [`telemetry`]: tracing set-up; [`metrics`]: the Prometheus recorder and label helpers.
//! - [`lifecycle`]: the supervisor: one cancellation tree, every background task tracked.
//! - [`domain`]: validated identifiers and the JSON shapes shared by REST and Socket.IO.
//! - [`store`]: the `Store` trait, one generic SQL implementation, per-backend differences.
//! - [`poller`]: reads changes by `seq` / `version` and publishes them on the [`bus`].
//! - [`bus`]: poller → every instance's realtime side; messages with a serde wire format.
//! - [`group`]: group mode: leader election over Redis, heartbeats, degraded mode.
//! - [`realtime`]: hub (live state), history (per-variant ring), fan-out, bus consumer,
//!   Socket.IO handlers and protocol, and the connect middleware (connection cap, `Origin`,
//!   token).
//! - [`retention`]: pruning old events (`signalgate prune`, `--retention`).
//! - [`http`]: REST under `/api`, health probes, CORS, the error type, and the REST middleware
//!   (bearer tokens, rate limit per client IP, request metrics and `/metrics`); [`serve`]: the
//!   HTTP server (connection time bounds and limit).
//! - [`web`]: embedded static assets.
//! - [`demo`]: the demo strategy writer.
//! - [`startup`]: [`Application`] wires it all together; [`shutdown`]: telling Socket.IO
//!   clients to reconnect elsewhere when the server stops.

pub mod auth;
pub mod bus;
pub mod config;
pub mod demo;
pub mod domain;
pub mod group;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod poller;
pub mod realtime;
pub mod retention;
pub mod serve;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;

pub use startup::{Application, BuildOptions};

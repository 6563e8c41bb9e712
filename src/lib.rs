//! signalgate: a real-time gateway between strategy databases and dashboards.
//!
//! Strategies (VnPy and the like) write their current state into `monitor_signal_snapshot` and
//! what happened into `monitor_signal_event`. signalgate polls both by a commit-ordered cursor,
//! pushes `snapshot_update` / `event_new` over Socket.IO into per-variant rooms, and answers first
//! paint over REST (snapshots, event ranges, OHLC bars from VnPy's `dbbardata`).
//!
//! # Layout
//!
//! Imports point down only: each module uses modules below it, never one above, so each layer
//! can be read and tested without those on top of it. From the bottom:
//!
//! - **Leaves**, importing nothing of this crate: [`domain`] (validated identifiers and the JSON
//!   shapes shared by REST and Socket.IO); [`config`] (every setting: CLI flags and subcommands,
//!   `SIGNALGATE_*` env vars, the optional TOML file, one section per concern, secrets that never
//!   print); [`metrics`] (the Prometheus recorder and the bounded `variant` label); and the small
//!   helpers [`lifecycle`] (the supervisor: one cancellation tree, every background task
//!   tracked), [`serve`] (the HTTP accept loop: connection time bounds and limit), [`shutdown`]
//!   (the OS signals; telling Socket.IO clients to reconnect elsewhere) and [`web`] (embedded
//!   static assets).
//! - [`store`] (on `domain`): the `Store` trait, one generic SQL implementation, per-backend
//!   differences. Beside it, on `config` only: [`telemetry`] (tracing set-up) and [`auth`] (JWT
//!   verification and per-variant grants; the transports apply them).
//! - [`bus`] and [`poller`]: the poller numbers what writers committed, reads changes by `seq` /
//!   `version` and publishes them on the bus (poller → every instance's realtime side). The bus
//!   owns the one stream-position type (`StreamPositions`: the poller's start, the hub's state,
//!   the leader's heartbeat, the database's own read). [`retention`] (pruning, the `prune` and
//!   `partition` subcommands) and [`demo`] (the demo strategy writer) sit on `store`.
//! - [`realtime`]: hub (live state), history (per-variant ring), fan-out, bus consumer, live
//!   bars, Socket.IO handlers and protocol, and its connect middleware (connection cap, `Origin`,
//!   token).
//! - [`group`]: group mode over Redis: leader election, heartbeats, degraded mode; it starts and
//!   stops the poller and feeds the hub.
//! - [`http`]: REST under `/api`, health probes, the OpenAPI document, CORS, the error type, and
//!   the REST middleware (bearer tokens, rate limit per client IP, request metrics) with
//!   `/metrics`.
//! - [`startup`], on top: [`Application`] reads the configuration's sections, hands every module
//!   plain values, decides once whether this instance runs alone or in a group, and wires it all
//!   together. `main.rs` only parses the command line, sets up tracing and runs a subcommand.

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

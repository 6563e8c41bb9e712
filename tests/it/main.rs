//! Integration tests: the same test bodies against real MariaDB, PostgreSQL and SQLite, through
//! real HTTP and a real Socket.IO client. Each test gets its own database (`sgt_*`).

mod adopt;
mod auth;
mod bars;
mod cli;
mod common;
mod db_down;
mod group;
mod hardening;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod partitions;
mod realtime;
mod rest;
mod rest_fuzz;
mod retention;
mod schema;
mod shutdown;
mod store;
mod store_backends;
mod store_data;

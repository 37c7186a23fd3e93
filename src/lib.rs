//! # elearning-api
//!
//! The REST backend of an e-learning platform, built to stay fast under load and honest under
//! faults. A short tour:
//!
//! - [`cli`] and [`config`]: the command line and every environment variable.
//! - [`app`]: builds the service ([`app::App::build`]) and the router ([`app::build_router`]);
//!   tests boot exactly this.
//! - [`state`]: the shared state handed to handlers, with the instance's lifecycle.
//! - [`middleware`]: the global middleware stack, in one ordered list.
//! - [`api`]: one module per resource; [`api::router`] merges them with their OpenAPI docs.
//! - [`db`]: the PostgreSQL pool, its minimum-size upkeep, migrations.
//! - [`redis`]: the fail-fast Redis client.
//! - [`error`]: the single error type and its JSON envelope.
//! - [`auth`] and [`firebase`]: this service's session tokens, and Firebase ID tokens with the
//!   accounts they sign in.
//! - [`import`]: `elearning-api import firestore`, moving the original app's data in.
//! - [`alerts`] and [`ops`]: the alerts, the quotas, and what operators are told without
//!   asking (alerts and a daily summary on Telegram).
//! - [`check`]: the preflight a deploy runs before it replaces the running instances.

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod figures;
pub mod firebase;
pub mod guard;
pub mod images;
pub mod import;
pub mod jsontime;
pub mod legacy;
#[cfg(feature = "loadtest")]
pub mod loadtest;
pub mod memory;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod password;
pub mod ratelimit;
pub mod redis;
pub mod seed;
pub mod shutdown;
pub mod state;
pub mod telegram;
pub mod telemetry;
pub mod tools;
pub mod validate;

// jemalloc is both faster than glibc malloc under many threads and able to report its heap
// figures (used by the health check and the stats).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

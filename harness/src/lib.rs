//! straum: a Maelstrom-compatible distributed-systems test harness.
//!
//! The library runs a test as a function ([`runner::run_test`]) so that tests and the
//! in-process simulator ([`sim`]) can drive it without the CLI. Its parts, each with one
//! job:
//!
//! - [`cli`] / [`config`]: flags and their validation;
//! - [`backend`]: the edge to the nodes (a clock, deliveries, events), implemented for
//!   spawned processes by [`process`];
//! - [`wire`]: parsing node output and encoding deliveries;
//! - [`net`]: the simulated network (ids, latency, statistics);
//! - [`engine`]: the event loop — init, client workers, timeouts, phases;
//! - [`recorder`]: the history, journaled as it grows;
//! - [`analysis`], [`report`], [`store`], [`edn`]: checking, telling, keeping.

pub mod analysis;
pub mod backend;
pub mod challenge;
pub mod check;
pub mod check_txn;
pub mod cli;
pub mod config;
pub mod doc;
pub mod edn;
pub mod engine;
pub mod faketime;
pub mod finish;
pub mod journal;
pub mod nemesis;
pub mod net;
pub mod nodes;
pub mod orphans;
pub mod process;
pub mod progress;
pub mod realnet;
pub mod recorder;
pub mod render;
pub mod report;
pub mod runner;
pub mod scaffold;
pub mod seed;
pub mod serve;
pub mod services;
pub mod sim;
pub mod store;
pub mod wire;

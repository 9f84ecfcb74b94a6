//! straum-node: the Maelstrom wire protocol and a sans-IO API for writing nodes.
//!
//! A node is a value implementing [`Node`]: it receives one [`Message`] at a time (or a
//! timer tick) together with a [`Context`] into which it puts the messages it wants to
//! send and the timers it wants set. It never touches stdin, stdout or a clock itself, so
//! the same node runs under the stdio runtime ([`run`]) against any Maelstrom-compatible
//! harness, and later inside straum's deterministic in-process simulator.

mod error;
mod message;
mod node;
mod runtime;

pub use error::{ErrorCode, RpcError};
pub use message::{Body, Message};
pub use node::{Context, Init, Node, TimerToken};
pub use runtime::{run, run_with};

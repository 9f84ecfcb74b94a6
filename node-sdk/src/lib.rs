//! straum-node: the Maelstrom wire protocol and a sans-IO API for writing nodes.
//!
//! A node is a value implementing [`Node`]: it receives one [`Message`] at a time (or a
//! timer tick) together with a [`Context`] into which it puts the messages it wants to
//! send and the timers it wants set. It never touches stdin, stdout or a clock itself, so
//! the same node runs under the stdio runtime ([`run`]) against any Maelstrom-compatible
//! harness, and inside straum's deterministic in-process simulator (`straum sim`).

mod error;
mod message;
mod node;
mod runtime;
mod storage;

pub use error::{ErrorCode, RpcError};
pub use message::{Body, Message};
pub use node::{node_rng, Context, Init, Node, TimerToken};
/// The random generator nodes get from [`Context::rng`] (re-exported so nodes need
/// not depend on `rand_chacha` themselves); use it through [`rand::Rng`].
pub use rand;
pub use rand_chacha::ChaCha8Rng;
pub use runtime::{dispatch, init_of, run, run_with, SEED_VARIABLE};
pub use storage::{DirStorage, MemoryStorage, Storage, DATA_DIR_VARIABLE};

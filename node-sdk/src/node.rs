//! The sans-IO node API: a node reacts to messages and timers by filling a [`Context`].

use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::storage::{MemoryStorage, Storage};
use crate::{Body, Message, RpcError};

/// What the `init` message told the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// This node's id, e.g. `"n0"`.
    pub node_id: String,
    /// Every node's id, in the test's order (identical on every node).
    pub node_ids: Vec<String>,
}

/// A token the node chooses when it sets a timer and gets back when the timer fires.
pub type TimerToken = u64;

/// A node's behaviour. The runtime answers `init` itself, calls [`Node::start`] once,
/// then [`Node::handle`] for every other message and [`Node::tick`] for every timer
/// that fires.
pub trait Node {
    /// Called once, right after `init_ok` was sent: the place to set the first timers
    /// or send the first messages.
    fn start(&mut self, _ctx: &mut Context) {}

    /// Handle one message. An `Err` is sent back as an `error` reply when the message
    /// was a request (it had a `msg_id`); otherwise it is logged to stderr.
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError>;

    /// A timer set with [`Context::set_timer`] fired.
    fn tick(&mut self, _token: TimerToken, _ctx: &mut Context) {}
}

/// Where a node puts its effects: messages to send and timers to set. It also tells
/// the node who it is, what time it is (time since the runtime started, virtual under
/// the simulator), and gives it a seeded random generator and durable storage.
#[derive(Debug)]
pub struct Context {
    init: Init,
    now: Duration,
    wall_clock: SystemTime,
    next_msg_id: u64,
    outbox: Vec<Message>,
    timers: Vec<(Duration, TimerToken)>,
    rng: ChaCha8Rng,
    storage: Box<dyn Storage>,
}

impl Context {
    /// A context for a node that has been initialised with `init`, with run seed 0
    /// and in-memory storage (for unit tests of nodes).
    pub fn new(init: Init) -> Context {
        Context::with_seed(init, 0, Box::new(MemoryStorage::default()))
    }

    /// A context whose [`Context::rng`] is derived from the run's `seed` and this
    /// node's id, and whose durable data lives in `storage`.
    pub fn with_seed(init: Init, seed: u64, storage: Box<dyn Storage>) -> Context {
        let rng = node_rng(seed, &init.node_id);
        Context {
            init,
            now: Duration::ZERO,
            wall_clock: SystemTime::UNIX_EPOCH,
            next_msg_id: 1,
            outbox: Vec::new(),
            timers: Vec::new(),
            rng,
            storage,
        }
    }

    /// This node's random generator: seeded from the run seed and the node id, so a
    /// simulated run replays the node's choices exactly. Use it instead of any other
    /// source of randomness.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// This node's durable storage: what is put here survives the node being killed
    /// and restarted.
    pub fn storage(&mut self) -> &mut dyn Storage {
        self.storage.as_mut()
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.init.node_id
    }

    /// All node ids of the cluster, this one included.
    pub fn node_ids(&self) -> &[String] {
        &self.init.node_ids
    }

    /// Time since the runtime started (virtual time under a simulator).
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Set the current time; runtimes call this before each callback.
    pub fn set_now(&mut self, now: Duration) {
        self.now = now;
    }

    /// The node's wall clock when the current callback began. The stdio runtime reads
    /// the system clock, which straum's clock fault moves (libfaketime); [`Context::now`]
    /// is monotonic and is not moved, as a real clock step leaves monotonic time alone.
    /// So a node can measure leases on `now` and is caught if it uses this instead.
    pub fn wall_clock(&self) -> SystemTime {
        self.wall_clock
    }

    /// Set the wall clock; runtimes call this before each callback.
    pub fn set_wall_clock(&mut self, wall_clock: SystemTime) {
        self.wall_clock = wall_clock;
    }

    /// Send a message with no reply expected.
    pub fn send(&mut self, dest: &str, body: Body) {
        self.outbox.push(Message {
            id: None,
            src: self.init.node_id.clone(),
            dest: dest.to_string(),
            body,
        });
    }

    /// Send a request with a fresh `msg_id` (numbered from 1) and return that id, so the
    /// reply can be matched by its `in_reply_to`.
    pub fn rpc(&mut self, dest: &str, mut body: Body) -> u64 {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        body.msg_id = Some(msg_id);
        self.send(dest, body);
        msg_id
    }

    /// Reply to `request`: the body gets `in_reply_to` set to the request's `msg_id`.
    pub fn reply(&mut self, request: &Message, mut body: Body) {
        body.in_reply_to = request.body.msg_id;
        self.send(&request.src, body);
    }

    /// Ask for [`Node::tick`] with `token` after `after` has passed.
    pub fn set_timer(&mut self, after: Duration, token: TimerToken) {
        self.timers.push((self.now + after, token));
    }

    /// Take the messages queued since the last call (for runtimes).
    pub fn take_outbox(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.outbox)
    }

    /// Take the timers set since the last call, as (absolute due time, token).
    pub fn take_timers(&mut self) -> Vec<(Duration, TimerToken)> {
        std::mem::take(&mut self.timers)
    }
}

/// The generator of node `node_id` under run seed `seed`: ChaCha8 seeded with the run
/// seed, on a stream named by a hash (FNV-1a) of the node id.
pub fn node_rng(seed: u64, node_id: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stream = node_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
        });
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_numbers_from_one_and_reply_sets_in_reply_to() {
        let mut ctx = Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into(), "n1".into()],
        });
        assert_eq!(ctx.rpc("n1", Body::new("ping")), 1);
        assert_eq!(ctx.rpc("n1", Body::new("ping")), 2);
        let request = Message {
            id: Some(3),
            src: "c4".into(),
            dest: "n0".into(),
            body: Body {
                msg_id: Some(7),
                ..Body::new("echo")
            },
        };
        ctx.reply(&request, Body::new("echo_ok"));
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].dest, "c4");
        assert_eq!(out[2].body.in_reply_to, Some(7));
        assert_eq!(out[2].src, "n0");
        assert!(ctx.take_outbox().is_empty());
    }

    #[test]
    fn rng_depends_on_seed_and_node_only() {
        use rand::RngCore;
        let init = |id: &str| Init {
            node_id: id.into(),
            node_ids: vec!["n0".into(), "n1".into()],
        };
        let draw = |id: &str, seed| {
            Context::with_seed(init(id), seed, Box::new(MemoryStorage::default()))
                .rng()
                .next_u64()
        };
        assert_eq!(draw("n0", 7), draw("n0", 7));
        assert_ne!(draw("n0", 7), draw("n1", 7));
        assert_ne!(draw("n0", 7), draw("n0", 8));
    }
}

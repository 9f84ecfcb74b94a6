//! The edge between the harness core and the nodes it tests. The core sees only this
//! trait: a clock, a way to hand a node a line, and a stream of events. Spawned
//! processes on wall-clock time are one implementation ([`crate::process`]); an
//! in-process simulator on virtual time can be another without touching the core.

use straum_workloads::Invocation;

use crate::realnet::adapter::Reply;
use crate::wire::{Envelope, LineError};

/// Nanoseconds since the backend started.
pub type Nanos = u64;

/// Index of a server node (0 for `n0` or the first listed node).
pub type NodeIndex = usize;

/// Which incarnation of a node an event is about: 0 for the first process, +1 for
/// every restart.
pub type Generation = u32;

/// Something that happened at the edge.
#[derive(Debug)]
pub enum BackendEvent {
    /// A node wrote a well-formed envelope.
    Output {
        /// Which node wrote it.
        node: NodeIndex,
        /// What it wrote.
        envelope: Envelope,
    },
    /// A node wrote a line that is not a valid envelope.
    BadLine {
        /// Which node wrote it.
        node: NodeIndex,
        /// The line (cut to a readable length).
        line: String,
        /// Why it was rejected.
        reason: LineError,
    },
    /// A node's stdout reached end of file.
    StdoutClosed {
        /// Which node.
        node: NodeIndex,
        /// Which incarnation of it.
        generation: Generation,
    },
    /// A node's process ended.
    Exited {
        /// Which node.
        node: NodeIndex,
        /// Which incarnation of it.
        generation: Generation,
        /// Its exit status, in words.
        status: String,
    },
    /// A backend that performs operations itself ([`Backend::performs_operations`])
    /// finished one, or could not: `Err` says why (a client that printed something
    /// unusable, or could not be started), and stops the run.
    Performed {
        /// The worker whose operation it was.
        worker: usize,
        /// The operation's number, as given to [`Backend::perform`].
        op: u64,
        /// What the client answered.
        reply: Result<Reply, String>,
    },
    /// The user asked the harness to stop (SIGINT or SIGTERM).
    Interrupted {
        /// The signal's name.
        signal: &'static str,
    },
}

/// Why a line could not be handed to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// The node is not reading its stdin and its inbox is full.
    InboxFull {
        /// How many lines are waiting.
        queued: usize,
    },
}

/// What the harness knows about a node when reporting a problem with it.
#[derive(Debug, Clone, Default)]
pub struct NodeDiagnostics {
    /// The last lines the node wrote to stderr.
    pub stderr_tail: Vec<String>,
    /// Where its full stderr log is.
    pub log_path: Option<std::path::PathBuf>,
}

/// The nodes under test, seen from the core.
pub trait Backend {
    /// The current time.
    fn now(&self) -> Nanos;

    /// Hand `line` (one JSON document and a newline) to a node's stdin; the backend
    /// copies what it keeps.
    fn deliver(&mut self, node: NodeIndex, line: &[u8]) -> Result<(), DeliveryError>;

    /// Wait for the next event, but not past `until`; `None` when `until` came first.
    fn wait(&mut self, until: Nanos) -> Option<BackendEvent>;

    /// What to tell the user about a node that misbehaved.
    fn diagnostics(&self, node: NodeIndex) -> NodeDiagnostics;

    /// Stop every node and everything it started; idempotent.
    fn stop_all(&mut self);

    /// Kill a node and everything it started (SIGKILL to its process group).
    fn kill(&mut self, node: NodeIndex);

    /// Start a killed node again, as a new generation with the same data directory.
    fn restart(&mut self, node: NodeIndex) -> Result<Generation, String>;

    /// Freeze a node (SIGSTOP to its process group).
    fn pause(&mut self, node: NodeIndex);

    /// Thaw a paused node (SIGCONT).
    fn resume(&mut self, node: NodeIndex);

    /// Set a node's wall clock `offset_ms` off real time (0 resets it), for the clock
    /// fault. Backends without per-node clocks refuse.
    fn set_clock_offset(&mut self, _node: NodeIndex, _offset_ms: i64) -> Result<(), String> {
        Err("this backend cannot move node clocks".into())
    }

    /// How long the current write to a node's stdin has been blocked, if one is: a
    /// node that stopped reading shows a long one.
    fn write_blocked_for(&self, node: NodeIndex) -> Option<Nanos>;

    /// Whether this backend performs client operations itself (Mode B: client
    /// adapters talking to a real system) rather than hosting Maelstrom nodes. The
    /// core then skips init and setup, hands each invocation to [`Backend::perform`]
    /// and takes its completion from [`BackendEvent::Performed`]; no messages pass
    /// through the network model.
    fn performs_operations(&self) -> bool {
        false
    }

    /// Start operation number `op` of `worker` against `node`; the outcome arrives as
    /// [`BackendEvent::Performed`] (also when the client cannot be started).
    fn perform(&mut self, _worker: usize, _op: u64, _node: NodeIndex, _invocation: &Invocation) {
        unreachable!("only backends that perform operations are asked to")
    }

    /// The worker's operation ended indeterminate: its client is thrown away and the
    /// next operation gets a fresh one (as Jepsen's clients are reopened).
    fn retire_client(&mut self, _worker: usize) {}

    /// Make a partition's grudge (`cut[dest * n + src]`: dest drops from src) real;
    /// `None` heals. Backends whose network is the core's model need not do anything.
    fn set_grudge(&mut self, _cut: Option<&[bool]>) -> Result<(), String> {
        Ok(())
    }
}

//! The trait every workload implements, and the values that cross it.

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::{Op, OpType};
use crate::rpc::ErrorStyle;
use crate::Validity;

/// Options from the command line that workloads may read.
#[derive(Debug, Clone, Default)]
pub struct WorkloadOptions {
    /// Number of server nodes.
    pub node_count: usize,
    /// Number of client workers.
    pub concurrency: usize,
    /// Active keys for keyed generators (`--key-count`).
    pub key_count: Option<usize>,
    /// Writes per key before the key is retired (`--max-writes-per-key`).
    pub max_writes_per_key: Option<usize>,
    /// Broadcast topology name (`--topology`; empty means the default, `grid`).
    pub topology: String,
    /// Server node ids, in order.
    pub node_ids: Vec<String>,
    /// Time limit for a checker that searches (`--checker-timeout`); `None` for the
    /// checker's own default.
    pub checker_timeout: Option<std::time::Duration>,
    /// Consistency models for transactional checkers, as given to
    /// `--consistency-models` (comma separated); `None` for the workload's default.
    pub consistency_models: Option<String>,
    /// Longest transaction, in micro-ops (`--max-txn-length`); `None` for the default.
    pub max_txn_length: Option<usize>,
}

/// What happened to a message in the network, as the harness journals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEventKind {
    /// The message entered the network.
    Send,
    /// The message was delivered.
    Recv,
    /// The network lost the message (partition or drop fault).
    Drop,
}

/// One journaled network event, for analyses that follow messages.
#[derive(Debug, Clone, PartialEq)]
pub struct NetEvent {
    /// Nanoseconds since the main phase began (negative times are clamped to 0).
    pub time: u64,
    /// Send, delivery or loss.
    pub kind: NetEventKind,
    /// The message's network id.
    pub id: u64,
    /// Sender id.
    pub src: String,
    /// Receiver id.
    pub dest: String,
    /// The body's JSON text.
    pub body: String,
}

/// An operation a client is about to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The function, e.g. `"echo"`.
    pub f: &'static str,
    /// Its argument.
    pub value: Value,
    /// True for final-phase reads flagged `:final? true`.
    pub final_read: bool,
}

impl Invocation {
    /// A main-phase invocation.
    pub fn new(f: &'static str, value: Value) -> Invocation {
        Invocation {
            f,
            value,
            final_read: false,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `Ok`, `Fail` or `Info` (never `Invoke`).
    pub kind: OpType,
    /// The result value.
    pub value: Value,
    /// Why it failed or is indeterminate.
    pub error: Option<Value>,
    /// The class of client-side exception behind an `info`.
    pub exception: Option<String>,
}

impl Completion {
    /// A successful completion with a result.
    pub fn ok(value: Value) -> Completion {
        Completion {
            kind: OpType::Ok,
            value,
            error: None,
            exception: None,
        }
    }

    /// A completion of the given kind carrying an error.
    pub fn with_error(kind: OpType, value: Value, error: Value) -> Completion {
        Completion {
            kind,
            value,
            error: Some(error),
            exception: None,
        }
    }

    /// An indeterminate completion caused by a client-side exception (Maelstrom's
    /// `:error "indeterminate: …"`).
    pub fn exception(value: Value, class: &str, message: &str) -> Completion {
        Completion {
            kind: OpType::Info,
            value,
            error: Some(Value::from(format!("indeterminate: {message}"))),
            exception: Some(class.to_string()),
        }
    }
}

/// The id of a client connection (the k of `c<k>`). A client's state lives in the
/// workload, keyed by this id; a new client (after an indeterminate op, for workloads
/// whose clients are not reusable) starts afresh.
pub type ClientId = u64;

/// What a client does next for an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this request body (the client adds `msg_id`) and wait for the reply.
    Send(Map<String, Value>),
    /// The operation is complete.
    Done(Completion),
}

/// A checker's result: its verdict, its fields (Maelstrom's result keys), its key
/// figures and sentences for people naming what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The verdict.
    pub valid: Validity,
    /// Result fields, without `valid?`.
    pub fields: Map<String, Value>,
    /// One plain sentence per problem found, most important first.
    pub findings: Vec<String>,
    /// The checker's key figures as short lines for the run summary.
    pub headline: Vec<String>,
    /// Pages that picture what the checker found (e.g. a failing key's operations),
    /// written into the run directory and linked from its index.
    pub pages: Vec<ReportPage>,
}

/// A self-contained HTML or SVG page a checker draws for people.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPage {
    /// File name inside the run directory, e.g. `lin-key-3.html`; made of
    /// `[A-Za-z0-9._-]` only.
    pub name: String,
    /// What the index's link says, e.g. `key 3: the linearization breaks`.
    pub title: String,
    /// The whole file.
    pub text: String,
}

impl CheckResult {
    /// A result with a verdict and no fields.
    pub fn new(valid: Validity) -> CheckResult {
        CheckResult {
            valid,
            fields: Map::new(),
            findings: Vec::new(),
            headline: Vec::new(),
            pages: Vec::new(),
        }
    }

    /// This result with one more field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> CheckResult {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// The result as a JSON object with `valid?` first.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("valid?".into(), serde_json::to_value(self.valid).unwrap());
        map.extend(self.fields.clone());
        Value::Object(map)
    }
}

/// A workload: what clients do, how their operations map to messages, and how the
/// resulting history is judged. The harness never names a workload; it only calls this.
pub trait Workload: Send {
    /// The name given to `-w`.
    fn name(&self) -> &'static str;

    /// The next main-phase operation, drawing any randomness from `rng`; `None` when
    /// the generator is exhausted.
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation>;

    /// The next main-phase operation for client worker `worker`, whose current process
    /// is `process`. Generators that give workers roles (lin-kv's groups of readers and
    /// writers per key) override this; the default ignores who asks.
    fn next_op_for(
        &mut self,
        _worker: usize,
        _process: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Invocation> {
        self.next_op(rng)
    }

    /// How long a client waits for a reply when `--rpc-timeout` is not given, for a
    /// mean node↔node latency of `latency_ms`. Maelstrom's default: 5 s.
    fn default_rpc_timeout(&self, _latency_ms: u64) -> std::time::Duration {
        std::time::Duration::from_secs(5)
    }

    /// The time since the main phase began, given before each [`Workload::next_op`] so
    /// that generators can be timed (kafka's client crashes); ignored by default.
    fn observe_time(&mut self, _since_start: std::time::Duration) {}

    /// The RPCs a node must answer for this workload (its setup request included), as
    /// the client validates them; `straum doc` prints them.
    fn rpcs(&self) -> &'static [crate::rpc::Rpc] {
        &[]
    }

    /// Whether the workload has a final phase (after healing and recovery).
    fn has_final_phase(&self) -> bool {
        false
    }

    /// The next final-phase operation of `worker`, which has already performed `done`
    /// of them; `None` when that worker is finished.
    fn final_op(&mut self, _worker: usize, _done: usize) -> Option<Invocation> {
        None
    }

    /// The longest the final phase may take, if it is bounded (kafka's 10 s).
    fn final_phase_limit(&self) -> Option<std::time::Duration> {
        None
    }

    /// The mean pause between one worker's final-phase operations (each pause is drawn
    /// uniformly from [0, 2 × mean)); none by default.
    fn final_op_pause(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Begin an operation on `client`: usually the request to send (without
    /// `msg_id`, which the client adds).
    fn invoke(&mut self, client: ClientId, op: &Invocation) -> Step;

    /// A non-error reply arrived for the operation's last request: validate it against
    /// the RPC's closed reply schema and complete the operation or send the next
    /// request.
    fn reply(&mut self, client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step;

    /// A client was closed (its state may be dropped).
    fn client_closed(&mut self, _client: ClientId) {}

    /// How error replies and timeouts become completions.
    fn error_style(&self) -> ErrorStyle;

    /// Whether a client keeps its connection (client id) after an `info` completion.
    fn client_reusable(&self) -> bool;

    /// Judge the complete history.
    fn check(&self, history: &[Op]) -> CheckResult;

    /// The body each node's setup client sends it after init and before the main
    /// phase (broadcast's `topology`), without `msg_id`; `None` for no setup.
    fn setup_request(&self, _node: usize) -> Option<Map<String, Value>> {
        None
    }

    /// Validate a node's reply to its setup request; an error aborts the run.
    fn check_setup_reply(&self, _reply: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }

    /// Whether [`Workload::analyze_network`] has anything to say, so that a run with
    /// no journal on disk (a simulated seed) keeps one for it.
    fn analyzes_network(&self) -> bool {
        false
    }

    /// An optional analysis of the network journal (events in journal order) next to
    /// the history, reported as its own checker named by the first element.
    fn analyze_network(
        &self,
        _history: &[Op],
        _events: &mut dyn Iterator<Item = NetEvent>,
    ) -> Option<(&'static str, CheckResult)> {
        None
    }
}

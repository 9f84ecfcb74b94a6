//! The harness core: an event loop over an explicit clock and an abstract [`Backend`].
//!
//! It initialises the nodes, drives client workers through the workload, routes every
//! message through the [`Network`], enforces RPC timeouts and records the history. It
//! never sleeps, spawns or reads a wall clock itself: time is whatever the backend says,
//! so the same core runs against real processes or an in-process simulator.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use straum_workloads::{Completion, Invocation, OpType, Process, Step, Workload};

use crate::backend::{Backend, BackendEvent, DeliveryError, Nanos, NodeIndex};
use crate::nemesis::{FaultContext, Nemesis, NemesisEvent, NemesisSpec, ProcessAction};
use crate::net::{Addr, AddressBook, Latency, NetObserver, NetStats, Network, Packet};
use crate::nodes::{NodeStates, Reinit};
use crate::progress::{Progress, ProgressSink, Silent};
use crate::recorder::{HistoryRecorder, OpRecord};
use crate::seed::Stream;
use crate::services::Services;
use crate::wire::encode_delivery;

mod clients;
mod faults;
mod handshake;
mod routing;

const MS: Nanos = 1_000_000;
const SECOND: Nanos = 1_000_000_000;
/// How far behind schedule operation issuing may run before the schedule restarts
/// from now.
const MAX_SCHEDULE_LAG: Nanos = 10 * MS;
/// How long a node may keep running after closing its stdout before that is reported.
const STDOUT_CLOSED_GRACE: Nanos = 200 * MS;
/// How long a write to a node's stdin may block before the node is reported as no
/// longer reading.
const STDIN_STALL_LIMIT: Nanos = 5 * SECOND;
/// How often the watchdog (stalled readers, floods) looks.
const WATCH_INTERVAL: Nanos = 100 * MS;
/// Most inits unanswered at once.
const INIT_WINDOW: usize = 256;
/// How often progress is reported.
const PROGRESS_INTERVAL: Nanos = 250 * MS;

/// Timing and sizing of a run, as the core needs them.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Server node ids, in order.
    pub node_ids: Vec<String>,
    /// Number of client workers.
    pub concurrency: usize,
    /// Target operations per second across all workers (0 = none).
    pub rate: f64,
    /// Length of the main phase.
    pub time_limit: Nanos,
    /// How long a client waits for a reply.
    pub rpc_timeout: Nanos,
    /// How long every node has to answer `init`.
    pub init_timeout: Nanos,
    /// How long every node has to answer its setup request (broadcast's `topology`).
    pub setup_timeout: Nanos,
    /// Quiet time between healing and the final reads (workloads with a final phase).
    pub recovery_time: Nanos,
    /// Node↔node latency.
    pub latency: Latency,
    /// The run's seed.
    pub seed: u64,
    /// Log every message sent, to stderr (`--log-net-send`).
    pub log_net_send: bool,
    /// Log every message delivered, to stderr (`--log-net-recv`).
    pub log_net_recv: bool,
    /// Faults to inject.
    pub nemesis: NemesisSpec,
    /// Record delivery lateness (actual minus scheduled time), for benchmarks.
    pub measure_lateness: bool,
    /// Most messages one node may send in one second before it is reported as
    /// flooding (`--max-node-rate`).
    pub max_node_rate: u64,
    /// Drop unusable node output (with a warning) instead of stopping the run
    /// (`--bad-lines skip`).
    pub skip_bad_lines: bool,
    /// Whether the fenced-store service refuses stale tokens (`--fenced-store-enforce`).
    pub fenced_store_enforce: bool,
}

impl EngineSettings {
    /// Maelstrom's defaults for `node_ids` (one client per node, 5 ops/s, 60 s, 5 s RPC
    /// timeout, 10 s init timeout, no latency, no faults), for library users and tests
    /// to adjust with struct update syntax.
    pub fn new(node_ids: Vec<String>, seed: u64) -> EngineSettings {
        const SECS: Nanos = SECOND;
        EngineSettings {
            concurrency: node_ids.len(),
            node_ids,
            rate: 5.0,
            time_limit: 60 * SECS,
            rpc_timeout: 5 * SECS,
            init_timeout: 10 * SECS,
            setup_timeout: 5 * SECS,
            recovery_time: 10 * SECS,
            latency: Latency {
                mean_ms: 0,
                dist: crate::net::LatencyDist::Constant,
            },
            seed,
            log_net_send: false,
            log_net_recv: false,
            nemesis: NemesisSpec::none(),
            measure_lateness: false,
            max_node_rate: u64::MAX,
            skip_bad_lines: false,
            fenced_store_enforce: false,
        }
    }
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// A node misbehaved or the harness could not continue.
    Failed(Failure),
    /// The user interrupted the run.
    Interrupted(&'static str),
}

/// A problem that ends the run, naming the node and the cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The node at fault, if one is.
    pub node: Option<NodeIndex>,
    /// What happened, as a sentence.
    pub cause: String,
    /// The offending output line, if there was one.
    pub line: Option<String>,
}

impl Failure {
    fn of(node: NodeIndex, cause: String) -> Stop {
        Stop::Failed(Failure {
            node: Some(node),
            cause,
            line: None,
        })
    }
}

/// What a run produced.
pub struct EngineOutcome {
    /// Network statistics.
    pub net: NetStats,
    /// When the main phase began (history times are relative to it).
    pub main_start: Nanos,
    /// Delivery lateness in nanoseconds, if it was measured.
    pub lateness: Option<hdrhistogram::Histogram<u64>>,
    /// Unusable output lines skipped, per node (with `--bad-lines skip`).
    pub skipped_lines: Vec<u64>,
    /// Set when the run ended early.
    pub stopped: Option<Stop>,
}

/// Who a client id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientOwner {
    /// The client that initialised a node.
    Init(NodeIndex),
    /// A node's setup client (idle unless the workload sets nodes up).
    Setup(NodeIndex),
    /// A worker's current client.
    Worker(usize),
    /// A client a worker gave up after an indeterminate op; replies to it are late.
    Retired,
    /// The client that re-initialises a restarted node.
    Reinit(NodeIndex),
}

struct Pending {
    msg_id: u64,
    invocation: Invocation,
}

struct Worker {
    process: u64,
    node: NodeIndex,
    client: Option<Addr>,
    next_msg_id: u64,
    pending: Option<Pending>,
    /// Final-phase operations this worker has performed.
    finals: usize,
    /// The workload has no more final-phase operations for this worker.
    final_done: bool,
    /// When the worker may start its next final-phase operation.
    final_not_before: Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Init,
    Setup,
    Main { end: Nanos },
    Recovery { end: Nanos },
    Final,
}

/// The event loop of one run.
pub struct Engine<'a, B: Backend> {
    backend: &'a mut B,
    settings: EngineSettings,
    workload: &'a mut dyn Workload,
    history: &'a mut HistoryRecorder,
    book: AddressBook,
    net: Network,
    owners: Vec<ClientOwner>,
    workers: Vec<Worker>,
    timeouts: BinaryHeap<Reverse<(Nanos, usize, u64)>>,
    op_rng: ChaCha8Rng,
    schedule_rng: ChaCha8Rng,
    phase: Phase,
    phase_start: Nanos,
    next_op_at: Option<Nanos>,
    next_worker: usize,
    nemesis: Nemesis,
    services: Services,
    final_deadline: Option<Nanos>,
    awaiting: Vec<bool>,
    /// Handshake requests (init or setup) not yet answered.
    unanswered: usize,
    /// Nodes sent their init so far.
    inits_sent: usize,
    /// Every node id as one JSON array, the part all inits share.
    init_node_ids: String,
    handshake_deadline: Nanos,
    closed_stdout: Vec<(Nanos, NodeIndex)>,
    nodes: NodeStates,
    skipped_lines: Vec<u64>,
    next_watch: Nanos,
    progress: Box<dyn ProgressSink>,
    counts: Progress,
    next_progress: Nanos,
    sent_this_second: Vec<u64>,
    /// Messages each node sent in the previous whole second.
    sent_last_second: Vec<u64>,
    second_started: Nanos,
    line: Vec<u8>,
}

impl<'a, B: Backend> Engine<'a, B> {
    /// A core over `backend` for one run of `workload`.
    pub fn new(
        backend: &'a mut B,
        settings: EngineSettings,
        workload: &'a mut dyn Workload,
        history: &'a mut HistoryRecorder,
    ) -> Engine<'a, B> {
        let book = AddressBook::new(&settings.node_ids);
        let node_count = settings.node_ids.len();
        let mut net = Network::new(
            node_count,
            settings.latency,
            Stream::Network.rng(settings.seed),
        );
        if settings.measure_lateness {
            net.measure_lateness();
        }
        let workers = (0..settings.concurrency)
            .map(|thread| Worker {
                process: thread as u64,
                node: thread % node_count,
                client: None,
                next_msg_id: 1,
                pending: None,
                finals: 0,
                final_done: false,
                final_not_before: 0,
            })
            .collect();
        Engine {
            op_rng: Stream::Operations.rng(settings.seed),
            schedule_rng: Stream::Schedule.rng(settings.seed),
            backend,
            workload,
            history,
            book,
            net,
            owners: Vec::new(),
            workers,
            timeouts: BinaryHeap::new(),
            phase: Phase::Init,
            phase_start: 0,
            next_op_at: None,
            next_worker: 0,
            nemesis: Nemesis::new(&settings.nemesis, settings.seed),
            services: Services::new(Stream::Services.rng(settings.seed))
                .with_fencing(settings.fenced_store_enforce),
            final_deadline: None,
            awaiting: vec![true; node_count],
            unanswered: 0,
            inits_sent: 0,
            init_node_ids: String::new(),
            handshake_deadline: 0,
            closed_stdout: Vec::new(),
            nodes: NodeStates::new(node_count),
            skipped_lines: vec![0; node_count],
            next_watch: 0,
            progress: Box::new(Silent),
            counts: Progress::default(),
            next_progress: 0,
            sent_this_second: vec![0; node_count],
            sent_last_second: vec![0; node_count],
            second_started: 0,
            line: Vec::with_capacity(512),
            settings,
        }
    }

    /// Show live progress on `sink`.
    pub fn show_progress(&mut self, sink: Box<dyn ProgressSink>) {
        self.progress = sink;
    }

    /// Report every network event to `observer` (the journal).
    pub fn observe_network(&mut self, observer: Box<dyn NetObserver>) {
        self.net.observe(observer);
    }

    /// Run every phase to the end or until something stops the run.
    pub fn run(mut self) -> EngineOutcome {
        let stopped = self.run_phases().err();
        self.progress.finish();
        self.history.flush();
        self.net.close_observer();
        EngineOutcome {
            net: self.net.stats(),
            main_start: self.phase_start,
            lateness: self.net.lateness().cloned(),
            skipped_lines: self.skipped_lines.clone(),
            stopped,
        }
    }

    fn run_phases(&mut self) -> Result<(), Stop> {
        // A real system (Mode B) is started and found ready by its backend; it speaks
        // no Maelstrom protocol to be initialised with.
        if !self.backend.performs_operations() {
            self.init_nodes()?;
            self.set_up_nodes()?;
        }
        self.main_phase()?;
        if self.workload.has_final_phase() {
            self.final_phase()?;
        } else {
            self.nemesis.end_schedule();
        }
        Ok(())
    }

    fn main_phase(&mut self) -> Result<(), Stop> {
        let now = self.backend.now();
        self.phase_start = now;
        self.phase = Phase::Main {
            end: now + self.settings.time_limit,
        };
        if self.settings.rate > 0.0 {
            self.next_op_at = Some(now);
        }
        self.nemesis.begin(now);
        self.drive(|engine, now| {
            let Phase::Main { end } = engine.phase else {
                return Ok(true);
            };
            Ok(now >= end && engine.workers.iter().all(|w| w.pending.is_none()))
        })?;
        self.next_op_at = None;
        Ok(())
    }

    fn final_phase(&mut self) -> Result<(), Stop> {
        let now = self.backend.now();
        self.run_nemesis(now, true)?;
        self.phase = Phase::Recovery {
            end: now + self.settings.recovery_time,
        };
        self.drive(|engine, now| match engine.phase {
            Phase::Recovery { end } => Ok(now >= end),
            _ => Ok(true),
        })?;
        self.phase = Phase::Final;
        self.final_deadline = self
            .workload
            .final_phase_limit()
            .map(|limit| self.backend.now() + limit.as_nanos() as Nanos);
        self.drive(|engine, now| {
            let finished = engine
                .workers
                .iter()
                .all(|w| w.final_done && w.pending.is_none());
            let out_of_time = engine.final_deadline.is_some_and(|d| now >= d)
                && engine.workers.iter().all(|w| w.pending.is_none());
            Ok(finished || out_of_time)
        })
    }

    /// The loop: do what is due, stop when `done` says so, else wait for the next
    /// event or deadline.
    fn drive(&mut self, done: fn(&Self, Nanos) -> Result<bool, Stop>) -> Result<(), Stop> {
        loop {
            let now = self.backend.now();
            self.do_due_work(now)?;
            if done(self, now)? {
                return Ok(());
            }
            let wake = self.next_wake(now);
            if wake > now {
                if let Some(event) = self.backend.wait(wake) {
                    self.on_event(event)?;
                }
            }
        }
    }

    /// When the loop must next wake up even if no event arrives.
    fn next_wake(&self, now: Nanos) -> Nanos {
        let phase_deadline = match self.phase {
            Phase::Init | Phase::Setup => Some(self.handshake_deadline),
            Phase::Main { end } | Phase::Recovery { end } => Some(end),
            Phase::Final => self.final_deadline,
        };
        let issue = self.next_op_at.filter(|_| self.free_worker().is_some());
        let next_final = (self.phase == Phase::Final)
            .then(|| {
                self.workers
                    .iter()
                    .filter(|w| !w.final_done && w.pending.is_none())
                    .map(|w| w.final_not_before)
                    .min()
            })
            .flatten();
        [
            self.net.next_deadline(),
            self.timeouts.peek().map(|Reverse((t, _, _))| *t),
            self.closed_stdout.iter().map(|(t, _)| *t).min(),
            self.nemesis.next_due(),
            self.nodes.next_reinit_deadline().map(|(t, _)| t),
            next_final,
            Some(self.next_watch),
            issue,
            phase_deadline,
        ]
        .into_iter()
        .flatten()
        // Everything due by now was just done; a deadline already passed (the main
        // phase's end while ops are still in flight, say) must not stop the wait.
        .filter(|&t| t > now)
        .min()
        .unwrap_or(now + SECOND)
    }

    fn do_due_work(&mut self, now: Nanos) -> Result<(), Stop> {
        if let Phase::Main { end } = self.phase {
            if now >= end {
                self.nemesis.end_schedule();
            } else if self.nemesis.next_due().is_some_and(|at| at <= now) {
                self.run_nemesis(now, false)?;
            }
        }
        if now >= self.next_watch {
            self.watch(now)?;
        }
        if let Some((deadline, node)) = self.nodes.next_reinit_deadline() {
            if now >= deadline {
                return Err(Failure::of(
                    node,
                    format!(
                        "node {} did not answer init within {} ms after it was restarted",
                        self.settings.node_ids[node],
                        self.settings.init_timeout / MS
                    ),
                ));
            }
        }
        self.issue_due_ops(now);
        while let Some(packet) = self.net.pop_due(now) {
            self.deliver(packet, now)?;
        }
        while let Some(Reverse((deadline, worker, msg_id))) = self.timeouts.peek().copied() {
            if deadline > now {
                break;
            }
            self.timeouts.pop();
            let timed_out = self.workers[worker]
                .pending
                .as_ref()
                .is_some_and(|p| p.msg_id == msg_id);
            if timed_out {
                let completion = {
                    let pending = self.workers[worker].pending.as_ref().unwrap();
                    self.workload.error_style().on_timeout(&pending.invocation)
                };
                if self.backend.performs_operations() {
                    // Even a read that timed out (fail) may still be answered; the
                    // answer must not be taken for the worker's next operation.
                    self.backend.retire_client(worker);
                }
                self.complete(worker, completion, now);
            }
        }
        if let Some(&(_, node)) = self.closed_stdout.iter().find(|(t, _)| *t <= now) {
            if !self.nodes.is_live(node, self.nodes.generation(node)) {
                self.closed_stdout.retain(|&(_, n)| n != node);
                return Ok(());
            }
            return Err(Failure::of(
                node,
                format!(
                    "node {} closed its stdout but kept running",
                    self.settings.node_ids[node]
                ),
            ));
        }
        Ok(())
    }
}

fn client_id(client: Addr) -> u64 {
    match client {
        Addr::Client(k) => k as u64,
        Addr::Node(_) | Addr::Service(_) => unreachable!("workers talk through clients"),
    }
}

fn to_raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value always serialises")
}

fn envelope_text(src: &str, dest: &str, body: &RawValue) -> String {
    format!(
        "{{\"src\":{},\"dest\":{},\"body\":{}}}",
        Value::from(src),
        Value::from(dest),
        body.get()
    )
}

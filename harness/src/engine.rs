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
use straum_workloads::{Completion, Invocation, Op, OpType, Process, Step, Workload};

use crate::backend::{Backend, BackendEvent, DeliveryError, Nanos, NodeIndex};
use crate::nemesis::{FaultContext, Nemesis, NemesisEvent, NemesisSpec, ProcessAction};
use crate::net::{Addr, AddressBook, Latency, NetObserver, NetStats, Network, Packet};
use crate::nodes::{NodeStates, Reinit};
use crate::progress::{Progress, ProgressSink, Silent};
use crate::recorder::{HistoryRecorder, OpRecord};
use crate::seed::Stream;
use crate::services::Services;
use crate::wire::encode_delivery;

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
    handshake_deadline: Nanos,
    closed_stdout: Vec<(Nanos, NodeIndex)>,
    nodes: NodeStates,
    next_watch: Nanos,
    progress: Box<dyn ProgressSink>,
    counts: Progress,
    next_progress: Nanos,
    sent_this_second: Vec<u64>,
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
            services: Services::new(Stream::Services.rng(settings.seed)),
            final_deadline: None,
            awaiting: vec![true; node_count],
            handshake_deadline: 0,
            closed_stdout: Vec::new(),
            nodes: NodeStates::new(node_count),
            next_watch: 0,
            progress: Box::new(Silent),
            counts: Progress::default(),
            next_progress: 0,
            sent_this_second: vec![0; node_count],
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
            stopped,
        }
    }

    fn run_phases(&mut self) -> Result<(), Stop> {
        self.init_nodes()?;
        self.set_up_nodes()?;
        self.main_phase()?;
        if self.workload.has_final_phase() {
            self.final_phase()?;
        } else {
            self.nemesis.end_schedule();
        }
        Ok(())
    }

    fn init_nodes(&mut self) -> Result<(), Stop> {
        let now = self.backend.now();
        self.handshake_deadline = now + self.settings.init_timeout;
        let node_ids: Vec<Value> = self
            .settings
            .node_ids
            .iter()
            .map(|id| Value::from(id.as_str()))
            .collect();
        for node in 0..self.settings.node_ids.len() {
            let client = self.book.open_client();
            self.owners.push(ClientOwner::Init(node));
            let body = serde_json::json!({
                "type": "init",
                "node_id": self.settings.node_ids[node],
                "node_ids": node_ids,
                "msg_id": 1,
            });
            self.send(now, client, Addr::Node(node as u32), to_raw(&body));
        }
        self.drive(Self::handshakes_done)
    }

    /// Init and setup are handshakes: one request per node, every reply due by a
    /// deadline.
    fn handshakes_done(&self, now: Nanos) -> Result<bool, Stop> {
        if !self.awaiting.contains(&true) {
            return Ok(true);
        }
        if now < self.handshake_deadline {
            return Ok(false);
        }
        let node = self.awaiting.iter().position(|w| *w).unwrap_or(0);
        let name = &self.settings.node_ids[node];
        Err(Failure::of(
            node,
            if self.phase == Phase::Init {
                format!(
                    "node {name} did not answer init within {} ms (expected {{\"type\":\"init_ok\",\"in_reply_to\":1}})",
                    self.settings.init_timeout / MS
                )
            } else {
                format!(
                    "node {name} did not answer its setup request within {} ms",
                    self.settings.setup_timeout / MS
                )
            },
        ))
    }

    /// Maelstrom opens one setup client per node after init (so workers' client ids
    /// start after them); workloads with a setup request send it from there.
    fn set_up_nodes(&mut self) -> Result<(), Stop> {
        let now = self.backend.now();
        self.phase = Phase::Setup;
        self.handshake_deadline = now + self.settings.setup_timeout;
        for node in 0..self.settings.node_ids.len() {
            let client = self.book.open_client();
            self.owners.push(ClientOwner::Setup(node));
            let request = self.workload.setup_request(node);
            self.awaiting[node] = request.is_some();
            if let Some(mut body) = request {
                body.insert("msg_id".into(), Value::from(1));
                self.send(
                    now,
                    client,
                    Addr::Node(node as u32),
                    to_raw(&Value::Object(body)),
                );
            }
        }
        self.drive(Self::handshakes_done)
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
        [
            self.net.next_deadline(),
            self.timeouts.peek().map(|Reverse((t, _, _))| *t),
            self.closed_stdout.iter().map(|(t, _)| *t).min(),
            self.nemesis.next_due(),
            self.nodes.next_reinit_deadline().map(|(t, _)| t),
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

    fn issue_due_ops(&mut self, now: Nanos) {
        match self.phase {
            Phase::Main { end } => {
                while let Some(at) = self.next_op_at {
                    if at > now || now >= end {
                        break;
                    }
                    let Some(worker) = self.free_worker() else {
                        break;
                    };
                    let Some(invocation) = self.workload.next_op(&mut self.op_rng) else {
                        self.next_op_at = None;
                        break;
                    };
                    self.invoke(worker, invocation, now);
                    // Stagger from the scheduled time, not from when the loop got to it,
                    // so wake-up latency does not erode the rate; but never catch up on
                    // a backlog (workers all busy) with a burst.
                    let base = if now - at < MAX_SCHEDULE_LAG { at } else { now };
                    let delay = self.schedule_rng.gen_range(0.0..2.0 / self.settings.rate);
                    self.next_op_at = Some(base + (delay * 1e9) as Nanos);
                }
            }
            Phase::Final => {
                if self.final_deadline.is_some_and(|d| now >= d) {
                    return;
                }
                for worker in 0..self.workers.len() {
                    let w = &self.workers[worker];
                    if w.final_done || w.pending.is_some() {
                        continue;
                    }
                    match self.workload.final_op(worker, w.finals) {
                        Some(invocation) => {
                            self.workers[worker].finals += 1;
                            self.invoke(worker, invocation, now);
                        }
                        None => self.workers[worker].final_done = true,
                    }
                }
            }
            Phase::Init | Phase::Setup | Phase::Recovery { .. } => {}
        }
    }

    /// The next free worker, round-robin, so that ops spread evenly over the nodes and
    /// a seed gives the same (process, node) sequence whenever workers keep up.
    fn free_worker(&self) -> Option<usize> {
        let count = self.workers.len();
        (0..count)
            .map(|offset| (self.next_worker + offset) % count)
            .find(|w| self.workers[*w].pending.is_none())
    }

    fn invoke(&mut self, worker: usize, invocation: Invocation, now: Nanos) {
        self.next_worker = (worker + 1) % self.workers.len();
        let client = self.client_of(worker);
        let w = &self.workers[worker];
        self.counts.invoked += 1;
        self.history.record(OpRecord {
            time: now - self.phase_start,
            kind: OpType::Invoke,
            process: Process::Client(w.process),
            f: invocation.f,
            value: invocation.value.clone(),
            error: None,
            exception: None,
            final_read: invocation.final_read,
            node: Some(self.settings.node_ids[w.node].clone()),
        });
        let step = self.workload.invoke(client_id(client), &invocation);
        self.workers[worker].pending = Some(Pending {
            msg_id: 0,
            invocation,
        });
        self.take_step(worker, step, now);
    }

    /// Carry out what the workload said to do next for a worker's operation.
    fn take_step(&mut self, worker: usize, step: Step, now: Nanos) {
        match step {
            Step::Done(completion) => self.complete(worker, completion, now),
            Step::Send(body) => self.send_request(worker, body, now),
        }
    }

    /// The worker's client, opening a new one if it has none.
    fn client_of(&mut self, worker: usize) -> Addr {
        match self.workers[worker].client {
            Some(client) => client,
            None => {
                let client = self.book.open_client();
                self.owners.push(ClientOwner::Worker(worker));
                let w = &mut self.workers[worker];
                w.client = Some(client);
                w.next_msg_id = 1;
                client
            }
        }
    }

    /// Send one request of the worker's pending operation, with a fresh `msg_id` and
    /// its own timeout.
    fn send_request(&mut self, worker: usize, mut body: Map<String, Value>, now: Nanos) {
        let client = self.client_of(worker);
        let w = &mut self.workers[worker];
        let msg_id = w.next_msg_id;
        w.next_msg_id += 1;
        let node = w.node;
        if let Some(pending) = &mut w.pending {
            pending.msg_id = msg_id;
        }
        body.insert("msg_id".into(), Value::from(msg_id));
        self.timeouts
            .push(Reverse((now + self.settings.rpc_timeout, worker, msg_id)));
        self.send(
            now,
            client,
            Addr::Node(node as u32),
            to_raw(&Value::Object(body)),
        );
    }

    /// Fire the nemesis's due starts and stops (or, with `heal`, stop every fault),
    /// carry out the process actions they ask for, and record them.
    fn run_nemesis(&mut self, now: Nanos, heal: bool) -> Result<(), Stop> {
        let mut ctx = FaultContext {
            faults: self.net.faults_mut(),
            nodes: &self.settings.node_ids,
            actions: Vec::new(),
        };
        let events = if heal {
            self.nemesis.heal_all(&mut ctx)
        } else {
            self.nemesis.fire_due(now, &mut ctx)
        };
        let actions = ctx.actions;
        self.record_nemesis(now, events);
        for action in actions {
            self.act_on_process(action, now)?;
        }
        Ok(())
    }

    fn act_on_process(&mut self, action: ProcessAction, now: Nanos) -> Result<(), Stop> {
        match action {
            ProcessAction::Kill(node) => {
                self.backend.kill(node);
                self.nodes.killed(node);
                self.net.faults_mut().set_down(node, true);
            }
            ProcessAction::Restart(node) => {
                let generation = self.backend.restart(node).map_err(|e| {
                    Failure::of(
                        node,
                        format!(
                            "could not restart node {}: {e}",
                            self.settings.node_ids[node]
                        ),
                    )
                })?;
                self.net.faults_mut().set_down(node, false);
                let client = self.book.open_client();
                self.owners.push(ClientOwner::Reinit(node));
                let reinit = Reinit {
                    client,
                    deadline: now + self.settings.init_timeout,
                };
                self.nodes.restarted(node, generation, reinit);
                let body = serde_json::json!({
                    "type": "init",
                    "node_id": self.settings.node_ids[node],
                    "node_ids": self.settings.node_ids,
                    "msg_id": 1,
                });
                self.send(now, client, Addr::Node(node as u32), to_raw(&body));
            }
            ProcessAction::Pause(node) => {
                self.backend.pause(node);
                self.nodes.set_paused(node, true);
            }
            ProcessAction::Resume(node) => {
                self.backend.resume(node);
                self.nodes.set_paused(node, false);
                self.release_held(node)?;
            }
        }
        Ok(())
    }

    /// Hand a node the deliveries held for it while it could not take them.
    fn release_held(&mut self, node: NodeIndex) -> Result<(), Stop> {
        for line in self.nodes.release(node) {
            self.hand_to_node(node, line)?;
        }
        Ok(())
    }

    /// Look for nodes that stopped reading their stdin, and start a new window for
    /// counting floods.
    fn watch(&mut self, now: Nanos) -> Result<(), Stop> {
        self.next_watch = now + WATCH_INTERVAL;
        if now >= self.next_progress {
            self.next_progress = now + PROGRESS_INTERVAL;
            self.report_progress(now);
        }
        for node in 0..self.settings.node_ids.len() {
            let live = self.nodes.is_live(node, self.nodes.generation(node));
            if self.nodes.is_paused(node) || !live {
                continue;
            }
            let stalled = self.backend.write_blocked_for(node).unwrap_or(0);
            if stalled >= STDIN_STALL_LIMIT {
                return Err(Failure::of(
                    node,
                    format!(
                        "node {} stopped reading its stdin: a delivery has waited {} s to be written",
                        self.settings.node_ids[node],
                        stalled / SECOND
                    ),
                ));
            }
        }
        if now - self.second_started >= SECOND {
            self.second_started = now;
            self.sent_this_second.iter_mut().for_each(|n| *n = 0);
        }
        Ok(())
    }

    fn report_progress(&mut self, now: Nanos) {
        let main_start = if matches!(self.phase, Phase::Init | Phase::Setup) {
            now
        } else {
            self.phase_start
        };
        self.counts.phase = match self.phase {
            Phase::Init => "init",
            Phase::Setup => "setup",
            Phase::Main { .. } => "running",
            Phase::Recovery { .. } => "recovery",
            Phase::Final => "final reads",
        };
        self.counts.elapsed = (now - main_start) as f64 / 1e9;
        self.counts.total = self.settings.time_limit as f64 / 1e9;
        self.counts.faults = self.nemesis.active();
        self.progress.update(&self.counts);
    }

    fn record_nemesis(&mut self, now: Nanos, events: Vec<NemesisEvent>) {
        for event in events {
            for (value, _) in [(event.invoke_value, 0), (event.completion_value, 1)] {
                self.history.record(OpRecord {
                    time: now - self.phase_start,
                    kind: OpType::Info,
                    process: Process::Nemesis,
                    f: event.f,
                    value,
                    error: None,
                    exception: None,
                    final_read: false,
                    node: None,
                });
            }
        }
    }

    fn complete(&mut self, worker: usize, completion: Completion, now: Nanos) {
        let reusable = self.workload.client_reusable();
        let concurrency = self.workers.len() as u64;
        let w = &mut self.workers[worker];
        let Some(pending) = w.pending.take() else {
            return;
        };
        match completion.kind {
            OpType::Ok => self.counts.ok += 1,
            OpType::Fail => self.counts.fail += 1,
            _ => self.counts.info += 1,
        }
        self.history.record(OpRecord {
            time: now - self.phase_start,
            kind: completion.kind,
            process: Process::Client(w.process),
            f: pending.invocation.f,
            value: completion.value,
            error: completion.error,
            exception: completion.exception,
            final_read: pending.invocation.final_read,
            node: None,
        });
        if completion.kind == OpType::Info {
            w.process += concurrency;
            if !reusable {
                if let Some(Addr::Client(k)) = w.client.take() {
                    self.owners[k as usize] = ClientOwner::Retired;
                    self.workload.client_closed(k as u64);
                }
            }
        }
    }

    /// Put a message into the network (every send goes through here).
    fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Box<RawValue>) {
        if self.settings.log_net_send {
            self.log_message(":send", self.net.next_id(), src, dest, &body);
        }
        self.net.send(now, src, dest, body);
    }

    fn log_message(&self, what: &str, id: u64, src: Addr, dest: Addr, body: &RawValue) {
        eprintln!(
            "{what} {}",
            envelope_text(self.book.name(src), self.book.name(dest), body).replacen(
                '{',
                &format!("{{\"id\":{id},"),
                1
            )
        );
    }

    fn deliver(&mut self, packet: Packet, now: Nanos) -> Result<(), Stop> {
        if self.settings.log_net_recv {
            self.log_message(":recv", packet.id, packet.src, packet.dest, &packet.body);
        }
        match packet.dest {
            Addr::Node(node) => {
                let node = node as usize;
                self.line.clear();
                encode_delivery(
                    &mut self.line,
                    packet.id,
                    self.book.name(packet.src),
                    self.book.name(packet.dest),
                    &packet.body,
                );
                let line = self.line.clone();
                let is_reinit = self
                    .nodes
                    .reinit(node)
                    .is_some_and(|r| r.client == packet.src);
                if !self.nodes.accepts(node) && !is_reinit {
                    return self.nodes.hold(node, line).map_err(|held| {
                        Failure::of(
                            node,
                            format!(
                                "{held} deliveries are waiting for node {}, which is paused or restarting",
                                self.settings.node_ids[node]
                            ),
                        )
                    });
                }
                self.hand_to_node(node, line)
            }
            Addr::Client(k) => {
                match self.owners[k as usize] {
                    ClientOwner::Init(node) | ClientOwner::Setup(node) => {
                        self.on_handshake_reply(node, &packet)?
                    }
                    ClientOwner::Worker(worker) => self.on_client_reply(worker, &packet, now),
                    ClientOwner::Reinit(node) => self.on_reinit_reply(node, &packet)?,
                    ClientOwner::Retired => {}
                }
                Ok(())
            }
            Addr::Service(service) => {
                let request: Value = serde_json::from_str(packet.body.get()).unwrap_or(Value::Null);
                let caller = self.book.name(packet.src).to_string();
                let reply = self.services.handle(service as usize, &caller, &request);
                self.send(now, packet.dest, packet.src, to_raw(&reply));
                Ok(())
            }
        }
    }

    /// Hand one encoded delivery to a node's stdin.
    fn hand_to_node(&mut self, node: NodeIndex, line: Vec<u8>) -> Result<(), Stop> {
        self.backend
            .deliver(node, line)
            .map_err(|DeliveryError::InboxFull { queued }| {
                Failure::of(
                    node,
                    format!(
                        "node {} stopped reading its stdin: {queued} deliveries are waiting",
                        self.settings.node_ids[node]
                    ),
                )
            })
    }

    fn on_reinit_reply(&mut self, node: NodeIndex, packet: &Packet) -> Result<(), Stop> {
        if self
            .nodes
            .reinit(node)
            .is_none_or(|r| r.client != packet.dest)
        {
            return Ok(());
        }
        let body: Map<String, Value> = serde_json::from_str(packet.body.get()).unwrap_or_default();
        if body.get("in_reply_to").and_then(Value::as_u64) != Some(1) {
            return Ok(());
        }
        if body.get("type").and_then(Value::as_str) != Some("init_ok") {
            return Err(Failure::of(
                node,
                format!(
                    "node {} answered init after its restart with {} but an init_ok was expected",
                    self.settings.node_ids[node],
                    packet.body.get()
                ),
            ));
        }
        self.nodes.reinitialised(node);
        self.release_held(node)
    }

    fn on_handshake_reply(&mut self, node: NodeIndex, packet: &Packet) -> Result<(), Stop> {
        let name = &self.settings.node_ids[node];
        let what = if self.phase == Phase::Init {
            "init"
        } else {
            "its setup request"
        };
        let Ok(body) = serde_json::from_str::<Map<String, Value>>(packet.body.get()) else {
            return Err(Failure::of(
                node,
                format!(
                    "node {name} answered {what} with a body that is not a JSON object: {}",
                    packet.body.get()
                ),
            ));
        };
        if !self.awaiting[node] || body.get("in_reply_to").and_then(Value::as_u64) != Some(1) {
            return Ok(());
        }
        let verdict = match body.get("type").and_then(Value::as_str) {
            Some("error") => Err("an error".to_string()),
            Some("init_ok") if self.phase == Phase::Init => Ok(()),
            _ if self.phase == Phase::Init => Err("something other than init_ok".to_string()),
            _ => self.workload.check_setup_reply(&body),
        };
        match verdict {
            Ok(()) => {
                self.awaiting[node] = false;
                Ok(())
            }
            Err(reason) => Err(Failure::of(
                node,
                format!(
                    "node {name} answered {what} with {reason}: {}",
                    packet.body.get()
                ),
            )),
        }
    }

    fn on_client_reply(&mut self, worker: usize, packet: &Packet, now: Nanos) {
        let Ok(body) = serde_json::from_str::<Map<String, Value>>(packet.body.get()) else {
            return;
        };
        let Some(pending) = &self.workers[worker].pending else {
            return;
        };
        if body.get("in_reply_to").and_then(Value::as_u64) != Some(pending.msg_id) {
            return;
        }
        let step = if body.get("type").and_then(Value::as_str) == Some("error") {
            Step::Done(self.workload.error_style().on_error(
                &pending.invocation,
                body.get("code").and_then(Value::as_i64),
                body.get("text").and_then(Value::as_str),
            ))
        } else {
            let client = client_id(
                self.workers[worker]
                    .client
                    .expect("a pending op has a client"),
            );
            self.workload.reply(client, &pending.invocation, &body)
        };
        self.take_step(worker, step, now);
    }

    fn on_event(&mut self, event: BackendEvent) -> Result<(), Stop> {
        match event {
            BackendEvent::Output { node, envelope } => {
                self.sent_this_second[node] += 1;
                if self.sent_this_second[node] > self.settings.max_node_rate {
                    return Err(Failure::of(
                        node,
                        format!(
                            "node {} is flooding the network: it sent more than {} messages within one second (--max-node-rate)",
                            self.settings.node_ids[node], self.settings.max_node_rate
                        ),
                    ));
                }
                let name = &self.settings.node_ids[node];
                let Some(src) = self.book.lookup(&envelope.src) else {
                    return Err(Stop::Failed(Failure {
                        node: Some(node),
                        cause: format!(
                            "node {name} sent a message from {:?}, which is not a node or client of this run",
                            envelope.src
                        ),
                        line: Some(envelope_text(&envelope.src, &envelope.dest, &envelope.body)),
                    }));
                };
                let Some(dest) = self.book.lookup(&envelope.dest) else {
                    return Err(Stop::Failed(Failure {
                        node: Some(node),
                        cause: format!(
                            "node {name} sent a message to {:?}, which is not a node or client of this run (nodes: {})",
                            envelope.dest,
                            self.settings.node_ids.join(", ")
                        ),
                        line: Some(envelope_text(&envelope.src, &envelope.dest, &envelope.body)),
                    }));
                };
                self.send(self.backend.now(), src, dest, envelope.body);
                Ok(())
            }
            BackendEvent::BadLine { node, line, reason } => Err(Stop::Failed(Failure {
                node: Some(node),
                cause: format!(
                    "node {} printed a line to stdout that straum cannot use: {reason}. \
                     Logging belongs on stderr",
                    self.settings.node_ids[node]
                ),
                line: Some(line),
            })),
            BackendEvent::StdoutClosed { node, generation } => {
                if self.nodes.is_live(node, generation) {
                    self.closed_stdout
                        .push((self.backend.now() + STDOUT_CLOSED_GRACE, node));
                }
                Ok(())
            }
            BackendEvent::Exited {
                node,
                generation,
                status,
            } => {
                if !self.nodes.is_live(node, generation) {
                    // A killed process, or an earlier incarnation of a restarted one.
                    return Ok(());
                }
                Err(Failure::of(
                    node,
                    format!(
                        "node {} {status} during the {}",
                        self.settings.node_ids[node],
                        match self.phase {
                            Phase::Init => "init phase",
                            Phase::Setup => "setup phase",
                            Phase::Main { .. } => "main phase",
                            Phase::Recovery { .. } => "recovery wait",
                            Phase::Final => "final phase",
                        }
                    ),
                ))
            }
            BackendEvent::Interrupted { signal } => Err(Stop::Interrupted(signal)),
        }
    }

    /// The history recorded so far.
    pub fn history(&self) -> &[Op] {
        self.history.ops()
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

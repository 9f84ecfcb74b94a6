//! The simulated [`Backend`]: SDK nodes as values in this thread, on virtual time.
//!
//! The clock jumps from event to event. A delivery is handled at once (zero
//! processing time) and the node's replies become events in a FIFO; timers wait in one
//! queue ordered by (due time, order set), so ties are broken by the order things
//! happened, never by hash-map order or thread timing. `kill` drops a node's state
//! (its timers die with its generation), `restart` builds a fresh one from the factory
//! when the engine's `init` arrives, with the node's [`MemoryStorage`] kept; `pause`
//! holds its timers (the engine holds its deliveries).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, SystemTime};

use straum_node::{dispatch, init_of, Body, Context, Init, MemoryStorage, Message, Node};

use crate::backend::{
    Backend, BackendEvent, DeliveryError, Generation, Nanos, NodeDiagnostics, NodeIndex,
};
use crate::wire::parse_line;

/// Builds one node for the cluster `Init` describes (a restart calls it again).
pub type NodeFactory<'f> = &'f (dyn Fn(&Init) -> Box<dyn Node> + Sync);

/// A timer in the queue: (due, order set, node, generation, token); ordered by due
/// time, ties by the order timers were set.
type QueuedTimer = Reverse<(Nanos, u64, NodeIndex, Generation, u64)>;

struct SimNode {
    live: Option<(Box<dyn Node>, Context)>,
    generation: Generation,
    paused: bool,
    /// Timers that came due while the node was paused.
    held_timers: Vec<(u64, u64)>,
    storage: MemoryStorage,
    /// The clock fault's offset of this node's wall clock, in ms.
    clock_offset_ms: i64,
}

/// The simulated wall clock at virtual time 0: fixed, so a seed replays exactly
/// (2026-01-01T00:00:00Z).
const WALL_CLOCK_ORIGIN_SECS: u64 = 1_767_225_600;

/// Give `ctx` the virtual time `now` and the node's wall clock: the origin plus
/// `now`, moved by the clock fault's offset.
fn stamp(ctx: &mut Context, now: Duration, clock_offset_ms: i64) {
    ctx.set_now(now);
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_CLOCK_ORIGIN_SECS) + now;
    let offset = Duration::from_millis(clock_offset_ms.unsigned_abs());
    ctx.set_wall_clock(if clock_offset_ms >= 0 {
        base + offset
    } else {
        base - offset
    });
}

/// Nodes in process on a virtual clock.
pub struct SimBackend<'f> {
    now: Nanos,
    seed: u64,
    factory: NodeFactory<'f>,
    nodes: Vec<SimNode>,
    timers: BinaryHeap<QueuedTimer>,
    next_order: u64,
    ready: VecDeque<BackendEvent>,
    line: Vec<u8>,
}

impl<'f> SimBackend<'f> {
    /// `count` nodes built by `factory` once the engine initialises them; node RNGs
    /// are derived from `seed`.
    pub fn new(count: usize, seed: u64, factory: NodeFactory<'f>) -> SimBackend<'f> {
        SimBackend {
            now: 0,
            seed,
            factory,
            nodes: (0..count)
                .map(|_| SimNode {
                    live: None,
                    generation: 0,
                    paused: false,
                    held_timers: Vec::new(),
                    storage: MemoryStorage::default(),
                    clock_offset_ms: 0,
                })
                .collect(),
            timers: BinaryHeap::new(),
            next_order: 0,
            ready: VecDeque::new(),
            line: Vec::with_capacity(512),
        }
    }

    /// Turn what a node put in its context into events and queued timers.
    fn collect(&mut self, node: NodeIndex) {
        let state = &mut self.nodes[node];
        let Some((_, ctx)) = state.live.as_mut() else {
            return;
        };
        for (due, token) in ctx.take_timers() {
            let due = (due.as_nanos() as Nanos).max(self.now);
            self.timers.push(Reverse((
                due,
                self.next_order,
                node,
                state.generation,
                token,
            )));
            self.next_order += 1;
        }
        for msg in ctx.take_outbox() {
            self.line.clear();
            serde_json::to_writer(&mut self.line, &msg).expect("a message serialises");
            // The same parser as for process output, so both backends see alike.
            let event = match parse_line(&self.line) {
                Ok(envelope) => BackendEvent::Output { node, envelope },
                Err(reason) => BackendEvent::BadLine {
                    node,
                    line: String::from_utf8_lossy(&self.line).into_owned(),
                    reason,
                },
            };
            self.ready.push_back(event);
        }
    }

    fn fire(&mut self, node: NodeIndex, token: u64) {
        let now = Duration::from_nanos(self.now);
        let state = &mut self.nodes[node];
        if let Some((n, ctx)) = state.live.as_mut() {
            stamp(ctx, now, state.clock_offset_ms);
            n.tick(token, ctx);
        }
        self.collect(node);
    }
}

impl Backend for SimBackend<'_> {
    fn now(&self) -> Nanos {
        self.now
    }

    fn deliver(&mut self, node: NodeIndex, line: &[u8]) -> Result<(), DeliveryError> {
        let Ok(msg) = serde_json::from_slice::<Message>(line) else {
            return Ok(());
        };
        let now = Duration::from_nanos(self.now);
        let state = &mut self.nodes[node];
        match state.live.as_mut() {
            Some((n, ctx)) => {
                stamp(ctx, now, state.clock_offset_ms);
                dispatch(n.as_mut(), msg, ctx);
            }
            None => {
                // Before init a node ignores everything else, as the stdio runtime does.
                let Some(init) = init_of(&msg) else {
                    return Ok(());
                };
                let storage = Box::new(state.storage.clone());
                let mut ctx = Context::with_seed(init.clone(), self.seed, storage);
                stamp(&mut ctx, now, state.clock_offset_ms);
                ctx.reply(&msg, Body::new("init_ok"));
                let mut n = (self.factory)(&init);
                n.start(&mut ctx);
                state.live = Some((n, ctx));
            }
        }
        self.collect(node);
        Ok(())
    }

    fn wait(&mut self, until: Nanos) -> Option<BackendEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let Some(&Reverse((due, order, node, generation, token))) = self.timers.peek() else {
                break;
            };
            if due > until {
                break;
            }
            self.timers.pop();
            self.now = self.now.max(due);
            let state = &mut self.nodes[node];
            if state.generation != generation || state.live.is_none() {
                continue;
            }
            if state.paused {
                state.held_timers.push((order, token));
                continue;
            }
            self.fire(node, token);
        }
        self.now = self.now.max(until);
        None
    }

    fn diagnostics(&self, _node: NodeIndex) -> NodeDiagnostics {
        NodeDiagnostics::default()
    }

    fn stop_all(&mut self) {
        for node in &mut self.nodes {
            node.live = None;
        }
    }

    fn kill(&mut self, node: NodeIndex) {
        let state = &mut self.nodes[node];
        state.live = None;
        state.held_timers.clear();
        state.paused = false;
        // Timers of the killed incarnation never fire.
        state.generation += 1;
    }

    fn restart(&mut self, node: NodeIndex) -> Result<Generation, String> {
        self.kill(node);
        Ok(self.nodes[node].generation)
    }

    fn pause(&mut self, node: NodeIndex) {
        self.nodes[node].paused = true;
    }

    fn resume(&mut self, node: NodeIndex) {
        let state = &mut self.nodes[node];
        state.paused = false;
        let generation = state.generation;
        for (order, token) in std::mem::take(&mut state.held_timers) {
            self.timers
                .push(Reverse((self.now, order, node, generation, token)));
        }
    }

    fn write_blocked_for(&self, _node: NodeIndex) -> Option<Nanos> {
        None
    }

    /// The clock fault in the simulator: [`Context::wall_clock`] moves by the offset
    /// from the next callback on; [`Context::now`] stays virtual time, as a clock step
    /// leaves a real node's monotonic clock alone.
    fn set_clock_offset(&mut self, node: NodeIndex, offset_ms: i64) -> Result<(), String> {
        self.nodes[node].clock_offset_ms = offset_ms;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::{RpcError, Storage, TimerToken};

    const SECOND: Nanos = 1_000_000_000;

    /// Sends `tick` to c1 every second; counts its ticks in durable storage too.
    struct Ticker {
        ticks: u64,
    }

    impl Node for Ticker {
        fn start(&mut self, ctx: &mut Context) {
            ctx.set_timer(Duration::from_secs(1), 0);
        }
        fn handle(&mut self, _: Message, _: &mut Context) -> Result<(), RpcError> {
            Ok(())
        }
        fn tick(&mut self, _: TimerToken, ctx: &mut Context) {
            self.ticks += 1;
            let stored = ctx
                .storage()
                .get("ticks")
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
            ctx.storage()
                .put("ticks", &(stored + 1).to_le_bytes())
                .unwrap();
            ctx.send("c1", Body::new("tick").with("n", self.ticks));
            ctx.set_timer(Duration::from_secs(1), 0);
        }
    }

    fn init_line() -> Vec<u8> {
        br#"{"id":0,"src":"c0","dest":"n0","body":{"type":"init","node_id":"n0","node_ids":["n0"],"msg_id":1}}"#.to_vec()
    }

    /// Every `n` of the ticks output until `until`, with virtual times.
    fn ticks(backend: &mut SimBackend, until: Nanos) -> Vec<(Nanos, String)> {
        let mut out = Vec::new();
        while let Some(event) = backend.wait(until) {
            if let BackendEvent::Output { envelope, .. } = event {
                let body: serde_json::Value = serde_json::from_str(envelope.body.get()).unwrap();
                if body["type"] == "tick" {
                    out.push((backend.now(), body["n"].to_string()));
                }
            }
        }
        out
    }

    /// Answers every message with its wall clock, in ms since the epoch.
    struct ClockReporter;

    impl Node for ClockReporter {
        fn handle(&mut self, _: Message, ctx: &mut Context) -> Result<(), RpcError> {
            let wall = ctx
                .wall_clock()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            ctx.send("c1", Body::new("clock").with("ms", wall.as_millis() as u64));
            Ok(())
        }
    }

    #[test]
    fn the_clock_fault_moves_a_simulated_nodes_wall_clock_and_not_its_virtual_time() {
        let factory = |_: &Init| -> Box<dyn Node> { Box::new(ClockReporter) };
        let mut backend = SimBackend::new(1, 0, &factory);
        backend.deliver(0, &init_line()).unwrap();
        let poke = br#"{"id":1,"src":"c1","dest":"n0","body":{"type":"poke","msg_id":2}}"#;
        let clock = |backend: &mut SimBackend| {
            backend.deliver(0, poke).unwrap();
            let mut ms = None;
            while let Some(event) = backend.wait(backend.now()) {
                if let BackendEvent::Output { envelope, .. } = event {
                    let body: serde_json::Value =
                        serde_json::from_str(envelope.body.get()).unwrap();
                    ms = ms.or(body["ms"].as_u64());
                }
            }
            ms.unwrap()
        };
        let origin = WALL_CLOCK_ORIGIN_SECS * 1000;
        assert_eq!(clock(&mut backend), origin);
        backend.wait(2 * SECOND);
        backend.set_clock_offset(0, 7_000).unwrap();
        assert_eq!(clock(&mut backend), origin + 2_000 + 7_000);
        backend.set_clock_offset(0, -3_000).unwrap();
        assert_eq!(clock(&mut backend), origin + 2_000 - 3_000);
        assert_eq!(backend.now(), 2 * SECOND, "virtual time is not moved");
    }

    #[test]
    fn timers_run_on_virtual_time_pause_holds_them_and_kill_forgets_all_but_storage() {
        let factory = |_: &Init| -> Box<dyn Node> { Box::new(Ticker { ticks: 0 }) };
        let mut backend = SimBackend::new(1, 0, &factory);
        backend.deliver(0, &init_line()).unwrap();
        let first = ticks(&mut backend, 3 * SECOND);
        assert_eq!(
            first,
            vec![
                (SECOND, "1".into()),
                (2 * SECOND, "2".into()),
                (3 * SECOND, "3".into())
            ]
        );
        backend.pause(0);
        assert!(ticks(&mut backend, 6 * SECOND).is_empty());
        assert_eq!(backend.now(), 6 * SECOND);
        backend.resume(0);
        // The held tick fires at once on resume.
        assert_eq!(
            ticks(&mut backend, 6 * SECOND),
            vec![(6 * SECOND, "4".into())]
        );
        backend.kill(0);
        assert!(ticks(&mut backend, 9 * SECOND).is_empty());
        backend.restart(0).unwrap();
        backend.deliver(0, &init_line()).unwrap();
        // A fresh node from the factory (its count restarts) …
        assert_eq!(
            ticks(&mut backend, 10 * SECOND),
            vec![(10 * SECOND, "1".into())]
        );
        // … while storage kept the count across the kill (4 before, 1 after).
        let stored = backend.nodes[0].storage.get("ticks").unwrap();
        assert_eq!(u64::from_le_bytes(stored.try_into().unwrap()), 5);
    }
}

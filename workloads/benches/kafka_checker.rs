//! Kafka checker throughput on large synthetic histories.
//!
//! ```sh
//! cargo bench -p straum-workloads --bench kafka_checker            # 1,000,000 ops, 3 runs
//! cargo bench -p straum-workloads --bench kafka_checker -- 200000  # another size
//! ```
//!
//! (Under `cargo test --benches` it runs once at 10,000 operations as a smoke test.)
//!
//! A simulated correct kafka (dense per-key logs over a few hundred keys; 16 worker
//! threads whose processes send, poll from their own positions, re-assign keys and
//! crash; then one final poll per key reading its whole log) produces a history of N
//! completed operations (2·N history entries). A second history of the same shape has
//! a few injected bugs: acknowledged sends never stored, a send stored twice, an offset
//! handed out twice, polls starting one offset late. Each history is checked three
//! times; the median wall time of `check()` is printed. Target: under 5 s for
//! 1,000,000 operations.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use straum_workloads::history::{Op, OpType, Process};
use straum_workloads::{kafka, Validity};

const KEYS: usize = 300;
const WORKERS: u64 = 16;
const RUNS: usize = 3;

/// Which bugs to inject, at which op numbers.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Correct,
    Buggy,
}

struct Sim {
    rng: ChaCha8Rng,
    history: Vec<Op>,
    /// Per key: the stored messages in offset order, and the next offset.
    logs: Vec<(Vec<(i64, i64)>, i64)>,
    next_msg: Vec<i64>,
    /// Per worker: its process and positions (key → index into the log).
    workers: Vec<(u64, HashMap<usize, usize>)>,
    time: u64,
}

impl Sim {
    fn push(&mut self, kind: OpType, process: u64, f: &str, value: Value, final_read: bool) {
        self.time += 50_000;
        let index = self.history.len() as u64;
        self.history.push(Op {
            index,
            time: self.time,
            kind,
            process: Process::Client(process),
            f: f.into(),
            value,
            error: None,
            exception: None,
            final_read,
            node: (kind == OpType::Invoke).then(|| format!("n{}", process % 5)),
        });
    }

    fn op(&mut self, process: u64, f: &str, inv: Value, kind: OpType, done: Value) {
        self.push(OpType::Invoke, process, f, inv, false);
        self.push(kind, process, f, done, false);
    }

    fn send(&mut self, w: usize, bug: Option<&str>) {
        let process = self.workers[w].0;
        let key = self.rng.gen_range(0..KEYS);
        self.next_msg[key] += 1;
        let msg = self.next_msg[key];
        let (log, next) = &mut self.logs[key];
        let mut offset = *next;
        match bug {
            Some("lose") => *next += 1,
            Some("twice") => {
                log.push((offset, msg));
                log.push((offset + 1, msg));
                *next += 2;
            }
            Some("reuse") if offset > 0 => offset -= 1,
            _ => {
                log.push((offset, msg));
                *next += 1;
            }
        }
        let k = key.to_string();
        self.op(
            process,
            "send",
            json!([["send", k, msg]]),
            OpType::Ok,
            json!([["send", k, [offset, msg]]]),
        );
    }

    fn poll(&mut self, w: usize, skip: bool) {
        let (process, positions) = &mut self.workers[w];
        let process = *process;
        let mut msgs = Map::new();
        let mut keys: Vec<usize> = positions.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let at = positions.get_mut(&key).expect("listed");
            let log = &self.logs[key].0;
            let from = if skip && *at > 0 && *at < log.len() {
                *at + 1
            } else {
                *at
            };
            let from = from.min(log.len());
            let got: Vec<Value> = log[from..]
                .iter()
                .take(4)
                .map(|(o, m)| json!([o, m]))
                .collect();
            *at = from + got.len();
            msgs.insert(key.to_string(), Value::Array(got));
        }
        self.op(
            process,
            "poll",
            json!([["poll"]]),
            OpType::Ok,
            json!([["poll", msgs]]),
        );
    }

    fn assign(&mut self, w: usize) {
        let count = self.rng.gen_range(1..=8);
        let mut keys: Vec<usize> = (0..count).map(|_| self.rng.gen_range(0..KEYS)).collect();
        keys.sort_unstable();
        keys.dedup();
        let (process, positions) = &mut self.workers[w];
        positions.retain(|k, _| keys.contains(k));
        for k in &keys {
            positions.entry(*k).or_insert(0);
        }
        let process = *process;
        let value = json!(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
        self.op(process, "assign", value.clone(), OpType::Ok, value);
    }

    fn crash(&mut self, w: usize) {
        let process = self.workers[w].0;
        self.op(process, "crash", Value::Null, OpType::Info, Value::Null);
        self.workers[w] = (process + WORKERS, HashMap::new());
    }
}

/// A history of `ops` completed operations.
fn history(ops: usize, variant: Variant) -> Vec<Op> {
    let mut sim = Sim {
        rng: ChaCha8Rng::seed_from_u64(42),
        history: Vec::with_capacity(2 * ops),
        logs: vec![(Vec::new(), 0); KEYS],
        next_msg: vec![0; KEYS],
        workers: (0..WORKERS).map(|p| (p, HashMap::new())).collect(),
        time: 0,
    };
    let main = ops.saturating_sub(KEYS);
    // Bugs at a few fixed points of the buggy variant.
    let bug_at = |i: usize| -> Option<&'static str> {
        if variant == Variant::Correct {
            return None;
        }
        match i {
            _ if i == main / 5 || i == main / 3 => Some("lose"),
            _ if i == main / 2 => Some("twice"),
            _ if i == 2 * main / 3 => Some("reuse"),
            _ if i == 3 * main / 4 || i == 4 * main / 5 => Some("skip"),
            _ => None,
        }
    };
    for i in 0..main {
        let w = sim.rng.gen_range(0..WORKERS as usize);
        let bug = bug_at(i);
        match bug {
            Some("skip") => {
                if sim.workers[w].1.is_empty() {
                    sim.assign(w);
                } else {
                    sim.poll(w, true);
                }
                continue;
            }
            Some(_) => {
                sim.send(w, bug);
                continue;
            }
            None => {}
        }
        let roll = sim.rng.gen_range(0..1000);
        match roll {
            0 => sim.crash(w),
            1..=30 => sim.assign(w),
            31..=500 => sim.send(w, None),
            _ => sim.poll(w, false),
        }
    }
    // Final polls: a fresh process reads each key's whole log.
    for key in 0..KEYS {
        let process = 1_000_000 + key as u64;
        let entries: Vec<Value> = sim.logs[key].0.iter().map(|(o, m)| json!([o, m])).collect();
        let msgs = json!({ key.to_string(): entries });
        sim.push(OpType::Invoke, process, "poll", json!([["poll"]]), true);
        sim.push(OpType::Ok, process, "poll", json!([["poll", msgs]]), true);
    }
    sim.history
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not: a quick smoke run.
    let default = if args.iter().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    let ops: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(default);
    println!("kafka checker: {ops} operations per history, {KEYS} keys, median of {RUNS} runs");
    for (name, variant) in [("correct", Variant::Correct), ("injected", Variant::Buggy)] {
        let started = Instant::now();
        let h = history(ops, variant);
        let built = started.elapsed();
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..RUNS {
            let started = Instant::now();
            let r = kafka::check(&h);
            times.push(started.elapsed());
            result = Some(r);
        }
        let r = result.expect("ran");
        let t = median(times.clone());
        let types: Vec<String> = serde_json::from_value(r.fields["error-types"].clone()).unwrap();
        match variant {
            Variant::Correct => assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings),
            Variant::Buggy => {
                assert_eq!(r.valid, Validity::Invalid);
                for t in [
                    "lost-write",
                    "duplicate",
                    "inconsistent-offsets",
                    "poll-skip",
                ] {
                    assert!(types.iter().any(|x| x == t), "{t} not found: {types:?}");
                }
            }
        }
        println!(
            "{name:<9} {} history entries (built in {:.2} s): check median {:.3} s (runs {}), \
             {:.0} ops/s; error types {types:?}",
            h.len(),
            built.as_secs_f64(),
            t.as_secs_f64(),
            times
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            ops as f64 / t.as_secs_f64(),
        );
    }
}

//! Elle checker benchmark: a seeded, generated list-append history of 1,000,000
//! transactions (Maelstrom's generator shape: 10 active keys with exponential bias,
//! 16 appends per key, 1–4 micro-ops, 10 processes, overlapping in time, executed
//! serially so the history is strict-serializable), checked as is and with injected
//! anomalies (reads of failed appends, stale reads).
//!
//! ```sh
//! cargo bench -p straum-workloads --bench elle [-- TXNS]
//! ```
//!
//! Prints the median of `ELLE_BENCH_RUNS` (default 3) runs of two paths: the
//! history held in memory as ops (what a run's checker gets) — time, txn/s, peak
//! RSS (VmHWM) after building the history and after checking; and the history
//! written as `history.jsonl` and streamed from disk (what `straum check` does),
//! each run in a fresh child process so its peak RSS is the streamed check's alone.
//! `ELLE_BENCH_KEEP=DIR` keeps those files as `DIR/elle-{valid,injected,spanning}.jsonl`
//! (for `straum check --model list-append`, or a profiler).

use std::io::{BufReader, BufWriter, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use straum_workloads::elle::{check, stream, ElleOptions, TxnKind};
use straum_workloads::history::{Op, OpType, Process};
use straum_workloads::Validity;

/// The allocator `straum` itself uses (see harness/src/main.rs), so the bench
/// measures what the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A history of `txns` transactions; with `inject`, every 200,000 txns one whose
/// appends were read is marked failed (G1a) and one read skew (G-single) is added.
/// Active keys, as Maelstrom's default `--key-count`.
const KEYS: usize = 10;

fn generate(txns: usize, seed: u64, inject: bool) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    const PROCS: usize = 10;
    const WRITES: u64 = 16;
    let mut active: Vec<u64> = (0..KEYS as u64).collect();
    let mut next_key = KEYS as u64;
    let mut state: std::collections::HashMap<u64, Vec<u64>> = Default::default();
    let mut events: Vec<(u64, Op)> = Vec::with_capacity(txns * 2);
    let total_weight = (1u64 << KEYS) - 1;
    let mut skew: Option<(u64, u64)> = None;
    let mut confirm: Option<(u64, u64)> = None;
    for i in 0..txns {
        // (is read, key slot) per micro-op; the injected read skew is a writer of
        // two keys followed by a reader that sees one write and not the other
        let skew_writer = inject && i % 200_000 == 5000;
        let plan: Vec<(bool, usize)> = if skew_writer {
            vec![(false, KEYS - 1), (false, KEYS - 2)]
        } else if skew.is_some() {
            vec![(true, KEYS - 1), (true, KEYS - 2)]
        } else if confirm.is_some() {
            vec![(true, KEYS - 2)]
        } else {
            (0..rng.gen_range(1..=4))
                .map(|_| {
                    let mut pick = rng.gen_range(0..total_weight);
                    let mut slot = 0;
                    while pick >= 1 << slot {
                        pick -= 1 << slot;
                        slot += 1;
                    }
                    (rng.gen_bool(0.5), slot)
                })
                .collect()
        };
        // the reader misses the writer's append to the second key; the txn after it
        // reads that key in full, so the version order shows what was missed
        let confirmer = confirm.take();
        let reader = skew.take();
        if let Some(keys) = reader {
            confirm = Some((keys.1, keys.1));
        }
        let mut invoked = Vec::with_capacity(plan.len());
        let mut completed = Vec::with_capacity(plan.len());
        let mut wrote_failed = false;
        let fail = inject && i % 200_000 == 1000;
        for (n, (read, slot)) in plan.into_iter().enumerate() {
            let k = match reader.or(confirmer) {
                Some(keys) => [keys.0, keys.1][n],
                None => active[slot],
            };
            let list = state.entry(k).or_default();
            if read {
                invoked.push(json!(["r", k, null]));
                let mut seen = list.clone();
                if reader.is_some() && n == 1 {
                    seen.pop();
                }
                completed.push(json!([
                    "r",
                    k,
                    if seen.is_empty() {
                        Value::Null
                    } else {
                        json!(seen)
                    }
                ]));
            } else {
                let v = list.len() as u64 + 1;
                list.push(v);
                invoked.push(json!(["append", k, v]));
                completed.push(json!(["append", k, v]));
                wrote_failed |= fail;
                if v == WRITES {
                    active[slot] = next_key;
                    next_key += 1;
                }
            }
        }
        if skew_writer {
            skew = Some((
                invoked[0][1].as_u64().unwrap(),
                invoked[1][1].as_u64().unwrap(),
            ));
        }
        let p = (i % PROCS) as u64;
        let start = 10_000 * i as u64;
        let end = start + 5_000 + rng.gen_range(0..50_000);
        let kind = if wrote_failed {
            OpType::Fail
        } else {
            OpType::Ok
        };
        let op = |time, kind, value| Op {
            index: 0,
            time,
            kind,
            process: Process::Client(p),
            f: "txn".into(),
            value,
            error: None,
            exception: None,
            final_read: false,
            node: None,
        };
        events.push((start, op(start, OpType::Invoke, Value::Array(invoked))));
        events.push((end, op(end, kind, Value::Array(completed))));
    }
    events.sort_by_key(|e| e.0);
    events
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut op))| {
            op.index = i as u64;
            op
        })
        .collect()
}

/// The anomalies [`isolated_anomalies`] injects, each in its own fresh keys.
const ISOLATED: [&str; 11] = [
    "G0",
    "G1c",
    "G-single",
    "G2-item",
    "G1a",
    "G1b",
    "incompatible-order",
    "lost-update",
    "internal",
    "duplicate-elements",
    "dirty-update",
];

/// Textbook instances of each anomaly in [`ISOLATED`] (as in the unit tests), each
/// on keys no other transaction touches and run by processes of its own, spliced
/// into `history` at evenly spread points (the block's ops take the time of the op
/// they are inserted before, so they overlap each other and nothing else orders
/// them). Indexes are renumbered.
fn isolated_anomalies(history: &mut Vec<Op>) {
    let ok = OpType::Ok;
    let fail = OpType::Fail;
    for (n, name) in ISOLATED.iter().enumerate() {
        let a = 1_000_000_000 + 10 * n as u64;
        let b = a + 1;
        let block: Vec<(OpType, Value)> = match *name {
            "G0" => vec![
                (ok, json!([["append", a, 1], ["append", b, 1]])),
                (ok, json!([["append", a, 2], ["append", b, 2]])),
                (ok, json!([["r", a, [1, 2]], ["r", b, [2, 1]]])),
            ],
            "G1c" => vec![
                (ok, json!([["append", a, 1], ["r", b, [1]]])),
                (ok, json!([["append", b, 1], ["r", a, [1]]])),
            ],
            "G-single" => vec![
                (ok, json!([["append", a, 1], ["append", b, 1]])),
                (ok, json!([["r", a, [1]], ["r", b, null]])),
                (ok, json!([["r", b, [1]]])),
            ],
            "G2-item" => vec![
                (ok, json!([["r", a, null], ["append", b, 1]])),
                (ok, json!([["r", b, null], ["append", a, 1]])),
                (ok, json!([["r", a, [1]], ["r", b, [1]]])),
            ],
            "G1a" => vec![
                (fail, json!([["append", a, 1]])),
                (ok, json!([["r", a, [1]]])),
            ],
            "G1b" => vec![
                (ok, json!([["append", a, 1], ["append", a, 2]])),
                (ok, json!([["r", a, [1]]])),
            ],
            "incompatible-order" => vec![
                (ok, json!([["append", a, 1]])),
                (ok, json!([["append", a, 2]])),
                (ok, json!([["r", a, [1, 2]]])),
                (ok, json!([["r", a, [2, 1]]])),
            ],
            "lost-update" => vec![
                (ok, json!([["r", a, null], ["append", a, 1]])),
                (ok, json!([["r", a, null], ["append", a, 2]])),
                (ok, json!([["r", a, [1, 2]]])),
            ],
            "internal" => vec![
                (
                    ok,
                    json!([["r", a, null], ["append", a, 1], ["r", a, null]]),
                ),
                (ok, json!([["r", a, [1]]])),
            ],
            "duplicate-elements" => vec![
                (ok, json!([["append", a, 1]])),
                (ok, json!([["r", a, [1, 1]]])),
            ],
            _ => vec![
                (fail, json!([["append", a, 1]])),
                (ok, json!([["append", a, 2]])),
                (ok, json!([["r", a, [1, 2]]])),
            ],
        };
        let at = history.len() * (2 * n + 1) / (2 * ISOLATED.len());
        let time = history[at].time;
        let mut ops = Vec::new();
        for (j, (kind, value)) in block.iter().enumerate() {
            let invoked: Vec<Value> = value
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    if m[0] == "r" {
                        json!(["r", m[1], null])
                    } else {
                        m.clone()
                    }
                })
                .collect();
            let op = |kind, value| Op {
                index: 0,
                time,
                kind,
                process: Process::Client(1000 + 10 * n as u64 + j as u64),
                f: "txn".into(),
                value,
                error: None,
                exception: None,
                final_read: false,
                node: None,
            };
            ops.push(op(OpType::Invoke, Value::Array(invoked)));
            ops.push(op(*kind, value.clone()));
        }
        history.splice(at..at, ops);
    }
    for (i, op) in history.iter_mut().enumerate() {
        op.index = i as u64;
    }
}

/// The child's side of the streamed measurement: check `file` streaming and print
/// `seconds peak-MB validity anomaly-types` on one line.
fn streamed_child(file: &str, options: &ElleOptions) {
    let started = Instant::now();
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file).expect("history"));
    let result = stream::check_jsonl(reader, TxnKind::ListAppend, options).expect("parses");
    let types = result
        .fields
        .get("anomaly-types")
        .cloned()
        .unwrap_or(json!([]));
    eprintln!("{}", result.headline.join("; "));
    println!(
        "{} {} {:?} {}",
        started.elapsed().as_secs_f64(),
        peak_rss_mb(),
        result.valid,
        types
    );
}

/// Write `history` as `history.jsonl`, then check it streamed `runs` times, each in
/// a child process; returns the median time, the largest peak RSS (MB) and the
/// last run's validity and anomaly types.
fn streamed(history: &[Op], runs: usize, mode: &str) -> (f64, f64, String, String) {
    let keep = std::env::var_os("ELLE_BENCH_KEEP").map(std::path::PathBuf::from);
    let file = match &keep {
        Some(dir) => dir.join(format!("elle-{mode}.jsonl")),
        None => {
            std::env::temp_dir().join(format!("straum-elle-bench-{}.jsonl", std::process::id()))
        }
    };
    let mut out = BufWriter::new(std::fs::File::create(&file).expect("temp file"));
    for op in history {
        serde_json::to_writer(&mut out, op).expect("op serialises");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("write");
    drop(out);
    let mut times = Vec::new();
    let (mut peak, mut valid, mut types) = (0f64, String::new(), String::new());
    for _ in 0..runs {
        let output = Command::new(std::env::current_exe().expect("own path"))
            .env("ELLE_BENCH_STREAM", &file)
            .output()
            .expect("child runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut fields = text.trim().splitn(4, ' ');
        times.push(
            fields
                .next()
                .and_then(|t| t.parse::<f64>().ok())
                .expect(&text),
        );
        peak = peak.max(fields.next().and_then(|m| m.parse().ok()).unwrap_or(0.0));
        valid = fields.next().unwrap_or("").to_string();
        types = fields.next().unwrap_or("").to_string();
    }
    if keep.is_none() {
        let _ = std::fs::remove_file(&file);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], peak, valid, types)
}

fn main() {
    let options = ElleOptions {
        timeout: Some(Duration::from_secs(600)),
        ..ElleOptions::default()
    };
    if let Ok(file) = std::env::var("ELLE_BENCH_STREAM") {
        return streamed_child(&file, &options);
    }
    let txns: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = std::env::var("ELLE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!("elle list-append, {txns} txns, strict-serializable, median of {runs}");
    for mode in ["valid", "injected", "spanning"] {
        let inject = mode == "injected";
        let mut history = generate(txns, 7, inject);
        if inject {
            isolated_anomalies(&mut history);
        }
        if mode == "spanning" {
            // one stale read at the very end of the hottest key's first version: a
            // real-time cycle through the whole history, one huge component
            let end = history.last().map_or(0, |op| op.time) + 1_000_000;
            let mut op = history[0].clone();
            op.process = Process::Client(1_000_000);
            op.value = json!([["r", KEYS as u64 - 1, null]]);
            op.time = end;
            op.index = history.len() as u64;
            op.kind = OpType::Invoke;
            history.push(op.clone());
            op.value = json!([["r", KEYS as u64 - 1, [1]]]);
            op.time = end + 1000;
            op.index += 1;
            op.kind = OpType::Ok;
            history.push(op);
        }
        let built = peak_rss_mb();
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let started = Instant::now();
            let result = check(&history, TxnKind::ListAppend, &options);
            times.push(started.elapsed());
            last = Some(result);
        }
        times.sort();
        let median = times[times.len() / 2];
        let result = last.expect("a run");
        let types = result
            .fields
            .get("anomaly-types")
            .cloned()
            .unwrap_or(json!([]));
        println!(
            "{:<9} {:>8.2} s  {:>9.0} txn/s  peak RSS {:.0} MB (history alone {:.0} MB)  valid? {:?}  {}",
            mode,
            median.as_secs_f64(),
            txns as f64 / median.as_secs_f64(),
            peak_rss_mb(),
            built,
            result.valid,
            types
        );
        let (secs, peak, valid, streamed_types) = streamed(&history, runs, mode);
        println!(
            "{:<9} {:>8.2} s  {:>9.0} txn/s  peak RSS {:.0} MB, streamed from history.jsonl  valid? {valid}  {streamed_types}",
            "",
            secs,
            txns as f64 / secs,
            peak,
        );
        assert_eq!(
            valid,
            format!("{:?}", result.valid),
            "streamed verdict differs"
        );
        assert_eq!(
            streamed_types,
            types.to_string(),
            "streamed anomalies differ"
        );
        if std::env::var("ELLE_BENCH_FINDINGS").is_ok() {
            for f in &result.findings {
                println!("          {}", straum_workloads::quote::abridge_to(f, 400));
            }
        }
        for line in &result.headline {
            println!("          {line}");
        }
        if inject {
            assert_eq!(result.valid, Validity::Invalid);
            let types = types.to_string();
            assert!(types.contains("G1a"), "{types}");
            assert!(
                types.contains("G-single") || types.contains("G2"),
                "{types}"
            );
            for name in ISOLATED {
                assert!(
                    types.contains(&format!("\"{name}")),
                    "{name} missed: {types}"
                );
            }
        } else if mode == "spanning" {
            assert_eq!(result.valid, Validity::Invalid, "{:?}", result.findings);
            assert!(types.to_string().contains("realtime"), "{types}");
        } else {
            assert_eq!(result.valid, Validity::Valid, "{:?}", result.findings);
        }
    }
}

//! Startup benchmark: time from start to the first operation, peak harness RSS and
//! harness threads for 10, 100, 1,000 and 5,000 SDK echo nodes, next to a baseline
//! measured in the same run: the same nodes spawned by a bare loop (no process groups,
//! no poller) that sends each `init` and reads each `init_ok` — the cost of the
//! processes themselves.
//!
//! `cargo bench -p straum --bench startup [-- --quick] [-- --nodes 10,100]`
//!
//! `cargo bench -p straum --bench startup -- --broadcast` instead runs the 1,000-node
//! broadcast (`--topology tree4`, rate 100, 30 s, the batching `broadcast-tree`
//! example) through the straum binary and prints its verdict, msgs-per-op, stable
//! latencies, wall time and the harness's peak RSS.
//!
//! Every measurement runs in a child process of its own, so peak RSS is that run's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use straum::backend::Backend;
use straum::engine::{Engine, EngineSettings};
use straum::process::{ProcessBackend, SpawnSpec};
use straum::progress::{Progress, ProgressSink};
use straum::recorder::HistoryRecorder;
use straum_workloads::WorkloadOptions;

mod support;
use support::build_example;

const SECOND: u64 = 1_000_000_000;

// The allocator the straum binary uses, so the hot path is measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let kind = args[at + 1].as_str();
        let nodes: usize = args[at + 2].parse().unwrap();
        let echo = PathBuf::from(&args[at + 3]);
        match kind {
            "straum" => child_straum(&echo, nodes),
            _ => child_baseline(&echo, nodes),
        }
        return;
    }
    if args.iter().any(|a| a == "--broadcast") {
        broadcast_thousand();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let counts: Vec<usize> = match args.iter().position(|a| a == "--nodes") {
        Some(at) => args[at + 1]
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect(),
        None => vec![10, 100, 1000, 5000],
    };
    let echo = build_echo();
    println!("## Startup: SDK echo nodes, rate 100, 1 s main phase (medians)\n");
    println!("| nodes | rounds | straum: first op ms | peak RSS MB | threads | baseline spawn+init ms | baseline RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for nodes in counts {
        let rounds = match (quick, nodes) {
            (true, _) => 1,
            (false, n) if n >= 5000 => 3,
            _ => 5,
        };
        let mut straum = Vec::new();
        let mut baseline = Vec::new();
        let mut refusal = None;
        for _ in 0..rounds {
            match run_child("straum", nodes, &echo) {
                Ok(sample) => straum.push(sample),
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
            baseline.push(run_child("baseline", nodes, &echo).expect("baseline"));
        }
        if let Some(refusal) = refusal {
            println!("| {nodes} | – | refused: {} | | | | |", refusal.trim());
            continue;
        }
        let m = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
        println!(
            "| {nodes} | {rounds} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} |",
            m(&straum, |s| s.ms),
            m(&straum, |s| s.rss_mb),
            m(&straum, |s| s.threads),
            m(&baseline, |s| s.ms),
            m(&baseline, |s| s.rss_mb),
        );
    }
}

struct Sample {
    ms: f64,
    rss_mb: f64,
    threads: f64,
}

fn run_child(kind: &str, nodes: usize, echo: &Path) -> Result<Sample, String> {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind, &nodes.to_string()])
        .arg(echo)
        .stderr(Stdio::inherit())
        .output()
        .expect("starting the measuring child");
    let text = String::from_utf8_lossy(&output.stdout);
    if let Some(refusal) = text.strip_prefix("refused ") {
        return Err(refusal.to_string());
    }
    let fields: Vec<f64> = text
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert!(
        output.status.success() && fields.len() == 3,
        "child said {text:?}"
    );
    Ok(Sample {
        ms: fields[0],
        rss_mb: fields[1],
        threads: fields[2],
    })
}

/// Peak RSS of this process in MB.
fn peak_rss_mb() -> f64 {
    support::usage(libc::RUSAGE_SELF).ru_maxrss as f64 / 1024.0
}

fn threads_now() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().ok()))?
        })
        .unwrap_or(0)
}

/// Keeps the largest thread count seen while the run goes on.
struct ThreadSampler(std::rc::Rc<std::cell::Cell<usize>>);

impl ProgressSink for ThreadSampler {
    fn update(&mut self, _: &Progress) {
        self.0.set(self.0.get().max(threads_now()));
    }
    fn finish(&mut self) {}
}

fn child_straum(echo: &Path, nodes: usize) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
    let spec = SpawnSpec {
        bin: echo.to_path_buf(),
        args: Vec::new(),
        node_ids: ids.clone(),
        log_dir: dir.path().to_path_buf(),
        work_dir: dir.path().to_path_buf(),
        max_line_bytes: 1 << 24,
        echo_stderr: false,
        data_dir: None,
        seed: Some(1),
    };
    let options = WorkloadOptions {
        node_count: nodes,
        node_ids: ids.clone(),
        ..Default::default()
    };
    let mut workload = straum_workloads::build("echo", &options).unwrap();
    let mut history = HistoryRecorder::in_memory();
    let mut backend = match ProcessBackend::spawn(&spec) {
        Ok(backend) => backend,
        Err(e) => {
            print!("refused {e}");
            return;
        }
    };
    // The backend's clock, which main_start counts on, began when spawning did.
    let before_backend = started.elapsed().as_nanos() as u64 - backend.now();
    let settings = EngineSettings {
        rate: 100.0,
        time_limit: SECOND,
        ..EngineSettings::new(ids, 1)
    };
    let peak_threads = std::rc::Rc::new(std::cell::Cell::new(threads_now()));
    let mut engine = Engine::new(&mut backend, settings, workload.as_mut(), &mut history);
    engine.show_progress(Box::new(ThreadSampler(peak_threads.clone())));
    let outcome = engine.run();
    assert!(outcome.stopped.is_none(), "{:?}", outcome.stopped);
    let first_op = (before_backend + outcome.main_start) as f64 / 1e6;
    let threads = peak_threads.get().max(threads_now());
    backend.stop_all();
    println!("{first_op:.1} {:.1} {threads}", peak_rss_mb());
}

fn child_baseline(echo: &Path, nodes: usize) {
    let started = Instant::now();
    let ids: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
    let mut children = Vec::new();
    for id in &ids {
        let mut child = Command::new(echo)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let init = serde_json::json!({"id":0,"src":"c0","dest":id,"body":{"type":"init","node_id":id,"node_ids":[id],"msg_id":1}});
        writeln!(child.stdin.as_mut().unwrap(), "{init}").unwrap();
        children.push(child);
    }
    for child in &mut children {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("init_ok"), "{line}");
    }
    let ms = started.elapsed().as_secs_f64() * 1e3;
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!("{ms:.1} {:.1} 1", peak_rss_mb());
}

fn broadcast_thousand() {
    let node = build_example("broadcast-tree");
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_straum"))
        .args(["test", "-w", "broadcast", "--bin"])
        .arg(&node)
        .args([
            "--node-count",
            "1000",
            "--topology",
            "tree4",
            "--rate",
            "100",
        ])
        .args(["--time-limit", "30", "--seed", "1", "--store"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("straum test");
    let wall = started.elapsed().as_secs_f64();
    let usage = support::usage(libc::RUSAGE_CHILDREN);
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("broadcast/latest/results.json"))
            .expect("results.json"),
    )
    .unwrap();
    let latencies = &results["workload"]["stable-latencies"];
    println!("## 1,000-node broadcast (tree4, rate 100, 30 s, broadcast-tree, seed 1)\n");
    println!("| exit | valid? | msgs-per-op (servers) | stable latency p50 / p99 / max ms | wall s | peak RSS MB (largest child) |");
    println!("|---:|---|---:|---|---:|---:|");
    println!(
        "| {} | {} | {:.1} | {} / {} / {} | {wall:.0} | {:.0} |",
        status.code().unwrap_or(-1),
        results["valid?"],
        results["net"]["servers"]["msgs-per-op"]
            .as_f64()
            .unwrap_or(f64::NAN),
        latencies["0.5"],
        latencies["0.99"],
        latencies["1"],
        usage.ru_maxrss as f64 / 1024.0
    );
}

fn build_echo() -> PathBuf {
    build_example("echo")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

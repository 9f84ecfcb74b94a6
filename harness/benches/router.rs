//! Router benchmark: how many messages per second straum routes between real node
//! processes, at what harness CPU cost per message, next to a raw relay measured in the
//! same run; and how late deliveries are at 10,000 messages/s.
//!
//! `cargo bench -p straum --bench router` (add `-- --quick` for one short round).
//!
//! Nodes are the `flood` example: each keeps tokens circulating around the ring of
//! nodes, forwarding every message it receives to the next node. The baseline relay
//! copies each node's stdout lines to the next node's stdin without parsing them: the
//! cost of the pipes and the nodes alone.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use straum::backend::Backend;
use straum::engine::{Engine, EngineSettings};
use straum::journal::Journal;
use straum::net::{Latency, LatencyDist};
use straum::process::{ProcessBackend, SpawnSpec};
use straum::recorder::HistoryRecorder;
use straum_workloads::WorkloadOptions;

mod support;
use support::cpu_seconds;

struct Sample {
    messages_per_sec: f64,
    cpu_us_per_message: f64,
}

fn flood_bin() -> PathBuf {
    support::build_example("flood")
}

fn node_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// Route through straum for `secs` seconds; returns the sample and the p50/p99/max
/// delivery lateness in microseconds.
fn straum_run(
    flood: &Path,
    nodes: usize,
    tokens: u64,
    latency_ms: u64,
    secs: f64,
) -> (Sample, (f64, f64, f64)) {
    let dir = tempfile::tempdir().unwrap();
    let ids = node_ids(nodes);
    let spec = SpawnSpec {
        bin: flood.to_path_buf(),
        args: vec!["--tokens".into(), tokens.to_string()],
        node_ids: ids.clone(),
        log_dir: dir.path().to_path_buf(),
        work_dir: dir.path().to_path_buf(),
        max_line_bytes: 1 << 24,
        echo_stderr: false,
        data_dir: None,
        seed: None,
    };
    let options = WorkloadOptions {
        node_count: nodes,
        node_ids: ids.clone(),
        ..Default::default()
    };
    let mut workload = straum_workloads::build("echo", &options).unwrap();
    let mut history = HistoryRecorder::in_memory();
    let mut backend = ProcessBackend::spawn(&spec).unwrap();
    let settings = EngineSettings {
        rate: 0.0,
        time_limit: (secs * 1e9) as u64,
        recovery_time: 0,
        latency: Latency {
            mean_ms: latency_ms,
            dist: LatencyDist::Constant,
        },
        measure_lateness: true,
        ..EngineSettings::new(ids.clone(), 1)
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut engine = Engine::new(&mut backend, settings, workload.as_mut(), &mut history);
    let journal = Journal::create(&dir.path().join("net-journal.jsonl"), &ids).unwrap();
    engine.observe_network(Box::new(journal));
    let outcome = engine.run();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    backend.stop_all();
    assert!(
        outcome.stopped.is_none(),
        "run stopped: {:?}",
        outcome.stopped
    );
    let routed = outcome.net.servers.recv as f64;
    let lateness = outcome.lateness.expect("measured");
    let us = |q: f64| lateness.value_at_quantile(q) as f64 / 1e3;
    (
        Sample {
            messages_per_sec: routed / elapsed,
            cpu_us_per_message: cpu * 1e6 / routed,
        },
        (us(0.5), us(0.99), lateness.max() as f64 / 1e3),
    )
}

/// Copy lines between the same kind of node processes without parsing.
fn relay_run(flood: &Path, nodes: usize, tokens: u64, secs: f64) -> Sample {
    let ids = node_ids(nodes);
    let mut children = Vec::new();
    let mut stdins = Vec::new();
    let mut stdouts = Vec::new();
    for id in &ids {
        let mut child = Command::new(flood)
            .args(["--tokens", &tokens.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let init = serde_json::json!({"id":0,"src":"c0","dest":id,"body":{"type":"init","node_id":id,"node_ids":ids,"msg_id":1}});
        writeln!(stdin, "{init}").unwrap();
        let mut ok = String::new();
        stdout.read_line(&mut ok).unwrap();
        assert!(ok.contains("init_ok"));
        children.push(child);
        stdins.push(Some(stdin));
        stdouts.push(Some(stdout));
    }
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..nodes {
        let mut reader = stdouts[i].take().unwrap();
        let mut writer = BufWriter::new(stdins[(i + 1) % nodes].take().unwrap());
        let (count, stop) = (Arc::clone(&count), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut line = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if writer.write_all(&line).is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::Relaxed);
                if reader.buffer().is_empty() && writer.flush().is_err() {
                    return;
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(secs));
    let routed = count.load(Ordering::Relaxed) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    stop.store(true, Ordering::Relaxed);
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    for t in threads {
        let _ = t.join();
    }
    Sample {
        messages_per_sec: routed / elapsed,
        cpu_us_per_message: cpu * 1e6 / routed,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

// The allocator the straum binary uses, so the hot path is measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // For profiling: route through straum only, 10 nodes, for `--profile SECS`.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--profile") {
        let secs = args[at + 1].parse().unwrap();
        let (sample, _) = straum_run(&flood_bin(), 10, 16, 0, secs);
        println!(
            "{:.0} messages/s, {:.2} µs/message",
            sample.messages_per_sec, sample.cpu_us_per_message
        );
        return;
    }
    let (rounds, secs) = if quick { (1, 1.0) } else { (5, 3.0) };
    let flood = flood_bin();
    for (nodes, tokens) in [(10, 16), (100, 2)] {
        let mut straum_samples = Vec::new();
        let mut relay_samples = Vec::new();
        for _ in 0..rounds {
            straum_samples.push(straum_run(&flood, nodes, tokens, 0, secs).0);
            relay_samples.push(relay_run(&flood, nodes, tokens, secs));
        }
        let s_rate = median(straum_samples.iter().map(|s| s.messages_per_sec).collect());
        let s_cpu = median(
            straum_samples
                .iter()
                .map(|s| s.cpu_us_per_message)
                .collect(),
        );
        let r_rate = median(relay_samples.iter().map(|s| s.messages_per_sec).collect());
        let r_cpu = median(relay_samples.iter().map(|s| s.cpu_us_per_message).collect());
        println!("## Routing throughput ({nodes} flood nodes × {tokens} tokens, latency 0, {rounds} rounds of {secs} s, medians)\n");
        println!("| router | messages/s | harness CPU µs/message |");
        println!("|---|---:|---:|");
        println!("| straum (parse, route, journal) | {s_rate:.0} | {s_cpu:.2} |");
        println!("| raw relay (copy lines, no parsing) | {r_rate:.0} | {r_cpu:.2} |");
        println!(
            "\nstraum/relay: throughput {:.2}×, CPU per message {:.2}×\n",
            s_rate / r_rate,
            s_cpu / r_cpu
        );
    }

    // 10 nodes × 10 tokens with 10 ms latency ≈ 100 messages per 10 ms = 10,000/s.
    let mut lateness = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let (sample, late) = straum_run(&flood, 10, 10, 10, secs);
        rates.push(sample.messages_per_sec);
        lateness.push(late);
    }
    println!(
        "## Added delivery delay (actual − scheduled) at {:.0} messages/s, latency 10 ms (medians of {rounds} rounds)\n",
        median(rates)
    );
    println!("| p50 µs | p99 µs | max µs |");
    println!("|---:|---:|---:|");
    println!(
        "| {:.1} | {:.1} | {:.1} |",
        median(lateness.iter().map(|l| l.0).collect()),
        median(lateness.iter().map(|l| l.1).collect()),
        median(lateness.iter().map(|l| l.2).collect())
    );
}

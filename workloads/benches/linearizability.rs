//! Linearizability checker benchmark: straum against Porcupine on Porcupine's own
//! test histories, side by side, plus generated lin-kv histories up to 1M ops.
//!
//! ```sh
//! cargo bench -p straum-workloads --bench linearizability -- PORCUPINE_DIR [PORCUPINE_BENCH_BIN]
//! ```
//!
//! `PORCUPINE_DIR` is a checkout of github.com/anishathalye/porcupine (its
//! `test_data/` and `porcupine_test.go`, which says which histories are bad).
//! `PORCUPINE_BENCH_BIN` (argument or environment variable) is a Go program that
//! prints `verdict NAME BOOL` and `time NAME NANOS` lines for `PORCUPINE_DIR RUNS`;
//! without it only straum is timed. Every time is the median of `LIN_BENCH_RUNS`
//! (default 7) runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use straum_workloads::history::{Op, OpType, Process};
use straum_workloads::linearizable::formats::{parse_edn_kv, parse_jepsen_log};
use straum_workloads::linearizable::{
    check, check_lin_kv, CasInput, CasOutput, CasRegister, CheckOptions, Clock, KvModel, Operation,
    Outcome, Partition,
};
use straum_workloads::Validity;

const KV_FILES: [&str; 6] = [
    "c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad",
];

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn timed(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Expected verdicts from porcupine_test.go: `checkJepsen(t, 3, false)` and
/// `checkKv(t, "c10-ok", true, true)`.
fn expected_verdicts(dir: &Path) -> BTreeMap<String, bool> {
    let mut expected = BTreeMap::new();
    let Ok(tests) = std::fs::read_to_string(dir.join("porcupine_test.go")) else {
        return expected;
    };
    for line in tests.lines().map(str::trim) {
        if let Some(args) = line.strip_prefix("checkJepsen(t, ") {
            let parts: Vec<&str> = args.trim_end_matches(')').split(", ").collect();
            if let [n, v] = parts.as_slice() {
                if let Ok(n) = n.parse::<u32>() {
                    expected.insert(format!("etcd_{n:03}"), *v == "true");
                }
            }
        } else if let Some(args) = line.strip_prefix("checkKv(t, \"") {
            let parts: Vec<&str> = args.trim_end_matches(')').split(", ").collect();
            if let [name, v, "true"] = parts.as_slice() {
                expected.insert(name.trim_end_matches('"').to_string(), *v == "true");
            }
        }
    }
    expected
}

fn porcupine(
    bin: &Path,
    dir: &Path,
    runs: usize,
) -> Option<(BTreeMap<String, bool>, BTreeMap<String, Duration>)> {
    let out = std::process::Command::new(bin)
        .arg(dir)
        .arg(runs.to_string())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!(
                "porcupine: {} failed: {}",
                bin.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Err(e) => {
            println!("porcupine: cannot run {}: {e}", bin.display());
            return None;
        }
    };
    let mut verdicts = BTreeMap::new();
    let mut times = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["verdict", name, v] => {
                verdicts.insert(name.to_string(), *v == "true");
            }
            ["time", name, nanos] => {
                if let Ok(n) = nanos.parse() {
                    times.insert(name.to_string(), Duration::from_nanos(n));
                }
            }
            _ => {}
        }
    }
    Some((verdicts, times))
}

fn porcupine_section(dir: &Path, bin: Option<PathBuf>, runs: usize) {
    // Porcupine's CheckEvents stops at the first illegal partition; so does this
    let options = CheckOptions {
        timeout: None,
        stop_at_first_failure: true,
        ..CheckOptions::default()
    };
    let etcd_model = CasRegister::etcd();
    let mut etcd = Vec::new();
    for n in 0..103 {
        let path = dir.join(format!("test_data/jepsen/etcd_{n:03}.log"));
        let text = std::fs::read_to_string(&path).expect("read etcd log");
        let parts = parse_jepsen_log(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        etcd.push((format!("etcd_{n:03}"), parts));
    }
    let mut kv = Vec::new();
    for name in KV_FILES {
        let path = dir.join(format!("test_data/kv/{name}.txt"));
        let text = std::fs::read_to_string(&path).expect("read kv file");
        let parts = parse_edn_kv(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        kv.push((name.to_string(), parts));
    }

    // verdicts
    let expected = expected_verdicts(dir);
    let mut ours = BTreeMap::new();
    for (name, parts) in &etcd {
        ours.insert(
            name.clone(),
            check(&etcd_model, parts, Clock::Events, &options).valid,
        );
    }
    for (name, parts) in &kv {
        ours.insert(
            name.clone(),
            check(&KvModel, parts, Clock::Events, &options).valid,
        );
    }
    let agree = ours
        .iter()
        .filter(|(name, _)| expected.contains_key(*name))
        .filter(|(name, v)| expected.get(*name).map(|&e| Validity::from_bool(e)) == Some(**v))
        .count();
    let bad = expected.values().filter(|v| !**v).count();
    println!(
        "verdicts: {agree}/{} equal to porcupine_test.go's expectations ({bad} bad)",
        expected.len()
    );
    for name in ours.keys().filter(|n| !expected.contains_key(*n)) {
        println!("  {name}: no verdict in porcupine_test.go (its log is empty there)");
    }
    for (name, v) in &ours {
        if expected.contains_key(name)
            && expected.get(name).map(|&e| Validity::from_bool(e)) != Some(*v)
        {
            println!(
                "  MISMATCH {name}: straum {}, porcupine {:?}",
                v.word(),
                expected.get(name)
            );
        }
    }

    // times: straum and Porcupine alternate run by run, so both see the same load
    let mut ours_runs: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut theirs_runs: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut their_verdicts = None;
    if bin.is_none() {
        println!(
            "porcupine: no binary given (second argument or PORCUPINE_BENCH_BIN); timing straum only"
        );
    }
    for _ in 0..runs {
        let started = Instant::now();
        for (_, parts) in &etcd {
            std::hint::black_box(check(&etcd_model, parts, Clock::Events, &options));
        }
        ours_runs
            .entry("etcd".to_string())
            .or_default()
            .push(started.elapsed());
        for (name, parts) in &kv {
            let started = Instant::now();
            std::hint::black_box(check(&KvModel, parts, Clock::Events, &options));
            ours_runs
                .entry(name.clone())
                .or_default()
                .push(started.elapsed());
        }
        if let Some(bin) = &bin {
            if let Some((verdicts, times)) = porcupine(bin, dir, 1) {
                for (name, t) in times {
                    theirs_runs.entry(name).or_default().push(t);
                }
                their_verdicts = Some(verdicts);
            }
        }
    }
    let straum: BTreeMap<String, Duration> =
        ours_runs.into_iter().map(|(k, v)| (k, median(v))).collect();
    let theirs = their_verdicts.map(|v| {
        let t: BTreeMap<String, Duration> = theirs_runs
            .into_iter()
            .map(|(k, v)| (k, median(v)))
            .collect();
        (v, t)
    });
    if let Some((verdicts, _)) = &theirs {
        let same = ours
            .iter()
            .filter(|(name, v)| verdicts.get(*name).map(|&e| Validity::from_bool(e)) == Some(**v))
            .count();
        println!("verdicts: {same}/{} equal to porcupine's run", ours.len());
    }
    println!(
        "\n{:<22} {:>12} {:>12} {:>8}",
        "history", "straum", "porcupine", "ratio"
    );
    let mut names = vec!["etcd".to_string()];
    names.extend(KV_FILES.iter().map(|s| s.to_string()));
    for name in names {
        let s = straum[&name];
        let label = if name == "etcd" {
            "etcd_000..102 (total)".to_string()
        } else {
            name.clone()
        };
        match theirs.as_ref().and_then(|(_, t)| t.get(&name)) {
            Some(p) => println!(
                "{label:<22} {:>12} {:>12} {:>7.2}x",
                ms(s),
                ms(*p),
                s.as_secs_f64() / p.as_secs_f64()
            ),
            None => println!("{label:<22} {:>12} {:>12}", ms(s), "-"),
        }
    }
    if let Some((_, t)) = &theirs {
        if let (Some(a), Some(b)) = (t.get("c50-ok"), t.get("c50-bad")) {
            let s = straum["c50-ok"] + straum["c50-bad"];
            println!(
                "{:<22} {:>12} {:>12} {:>7.2}x",
                "c50 pair",
                ms(s),
                ms(*a + *b),
                s.as_secs_f64() / (*a + *b).as_secs_f64()
            );
        }
    }
}

/// A generated lin-kv history: groups of `clients` processes, each group on one key
/// at a time (half read, half write 1/3 / cas 2/3, values 0–4), an atomic register
/// per key taking effect at a random instant inside each op's interval; a fraction
/// `info_rate` of ops time out (`info`, taking effect half the time) and their process
/// is replaced; a key is retired after 20 distinct processes, like Maelstrom's
/// generator. Failed cas ops are left out, as straum's checker drops them.
fn generate(
    ops: usize,
    groups: usize,
    clients: u64,
    info_rate: f64,
    seed: u64,
) -> Vec<Partition<CasInput, CasOutput>> {
    #[derive(Clone, Copy)]
    enum Ev {
        Invoke,
        Apply,
        Complete,
    }
    struct Client {
        process: u64,
        pending: Option<(usize, CasInput, u64, CasOutput, bool)>,
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut partitions: Vec<Partition<CasInput, CasOutput>> = Vec::new();
    let mut heap = std::collections::BinaryHeap::new();
    let mut clients_of: Vec<Vec<Client>> = Vec::new();
    let mut key_of = Vec::new();
    let mut distinct = Vec::new();
    let mut register: Vec<Option<i64>> = Vec::new();
    let mut next_process = 0u64;
    for g in 0..groups {
        let mut cs = Vec::new();
        for c in 0..clients {
            cs.push(Client {
                process: next_process,
                pending: None,
            });
            next_process += 1;
            heap.push(std::cmp::Reverse((
                rng.gen_range(0..1_000_000u64),
                g,
                c as usize,
                0u8,
            )));
        }
        clients_of.push(cs);
        key_of.push(partitions.len());
        partitions.push(Partition {
            key: partitions.len().to_string(),
            ops: Vec::new(),
        });
        register.push(None);
        distinct.push(clients);
    }
    // one register per key (index into partitions)
    let mut made = 0usize;
    while let Some(std::cmp::Reverse((t, g, c, ev))) = heap.pop() {
        let ev = [Ev::Invoke, Ev::Apply, Ev::Complete][ev as usize];
        let key = key_of[g];
        match ev {
            Ev::Invoke => {
                if made >= ops {
                    continue;
                }
                made += 1;
                let v = rng.gen_range(0..5);
                let input = if (c as u64) < clients / 2 {
                    CasInput::Read
                } else if rng.gen_bool(1.0 / 3.0) {
                    CasInput::Write(v)
                } else {
                    CasInput::Cas(v, rng.gen_range(0..5))
                };
                let timeout = rng.gen_bool(info_rate);
                let applies = !timeout || rng.gen_bool(0.5);
                clients_of[g][c].pending = Some((key, input, t, CasOutput::Unknown, timeout));
                let latency = rng.gen_range(1_000_000..20_000_000u64);
                if applies {
                    heap.push(std::cmp::Reverse((t + rng.gen_range(0..latency), g, c, 1)));
                }
                heap.push(std::cmp::Reverse((t + latency, g, c, 2)));
            }
            Ev::Apply => {
                let pending = clients_of[g][c].pending.as_mut().unwrap();
                let reg = &mut register[pending.0];
                pending.3 = match pending.1 {
                    CasInput::Read => CasOutput::Read(*reg),
                    CasInput::Write(v) => {
                        *reg = Some(v);
                        CasOutput::Ok
                    }
                    CasInput::Cas(from, to) if *reg == Some(from) => {
                        *reg = Some(to);
                        CasOutput::Ok
                    }
                    CasInput::Cas(..) => CasOutput::CasFailed,
                };
            }
            Ev::Complete => {
                let client = &mut clients_of[g][c];
                let (key, input, call, output, timeout) = client.pending.take().unwrap();
                let process = client.process;
                if timeout {
                    if input != CasInput::Read {
                        partitions[key].ops.push(Operation {
                            process,
                            input,
                            output: CasOutput::Unknown,
                            call,
                            ret: None,
                            outcome: Outcome::Info,
                            source: 0,
                        });
                    }
                    client.process = next_process;
                    next_process += 1;
                    distinct[g] += 1;
                } else if output != CasOutput::CasFailed {
                    // failed cas ops never happened: straum drops them
                    partitions[key].ops.push(Operation {
                        process,
                        input,
                        output,
                        call,
                        ret: Some(t),
                        outcome: Outcome::Ok,
                        source: 0,
                    });
                }
                if distinct[g] >= 20 {
                    // retire the key once it is quiet; new ops go to a fresh one
                    key_of[g] = partitions.len();
                    partitions.push(Partition {
                        key: partitions.len().to_string(),
                        ops: Vec::new(),
                    });
                    register.push(None);
                    distinct[g] = clients;
                }
                heap.push(std::cmp::Reverse((
                    t + rng.gen_range(0..2_000_000),
                    g,
                    c,
                    0,
                )));
            }
        }
    }
    partitions.retain(|p| !p.ops.is_empty());
    partitions
}

/// The same history as straum's recorded `Op`s (invocations and completions).
fn as_straum_history(partitions: &[Partition<CasInput, CasOutput>]) -> Vec<Op> {
    let mut events: Vec<(u64, u8, Op)> = Vec::new();
    let op = |time, kind, process, f: &str, value| Op {
        index: 0,
        time,
        kind,
        process: Process::Client(process),
        f: f.to_string(),
        value,
        error: None,
        exception: None,
        final_read: false,
        node: None,
    };
    for p in partitions {
        let k: i64 = p.key.parse().unwrap();
        for o in &p.ops {
            let (f, invoke, done) = match (o.input, o.output) {
                (CasInput::Read, CasOutput::Read(v)) => ("read", json!([k, null]), json!([k, v])),
                (CasInput::Write(v), _) => ("write", json!([k, v]), json!([k, v])),
                (CasInput::Cas(a, b), _) => ("cas", json!([k, [a, b]]), json!([k, [a, b]])),
                _ => continue,
            };
            events.push((o.call, 0, op(o.call, OpType::Invoke, o.process, f, invoke)));
            let (time, kind) = match o.ret {
                Some(t) => (t, OpType::Ok),
                None => (o.call + 30_000_000, OpType::Info),
            };
            events.push((time, 1, op(time, kind, o.process, f, done)));
        }
    }
    events.sort_by_key(|(t, kind, _)| (*t, *kind));
    events
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, mut op))| {
            op.index = i as u64;
            op
        })
        .collect()
}

fn peak_rss_mb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or("?".to_string(), |kb| {
            format!("{:.0} MB", kb as f64 / 1024.0)
        })
}

fn generated_section(runs: usize) {
    let options = CheckOptions::default();
    println!("\ngenerated lin-kv histories (2 groups of 10 clients, values 0-4, 2% info)");
    for size in [10_000usize, 100_000] {
        let partitions = generate(size, 2, 10, 0.02, 42);
        let history = as_straum_history(&partitions);
        let mut report = None;
        let t = timed(runs.min(5), || {
            report = Some(check_lin_kv(&history, &options).unwrap())
        });
        let report = report.unwrap();
        println!(
            "  check_lin_kv, {size} ops ({} history entries, {} keys): {} — {}",
            history.len(),
            report.results.len(),
            ms(t),
            report.valid.word()
        );
    }
    println!(
        "\nscaling (last row: 1 group, no info ops, so one key takes every op)\n{:>9} {:>7} {:>12} {:>14} {:>12} {:>10}",
        "ops", "keys", "check", "largest key", "cache max", "peak RSS"
    );
    // the last row: one group and no timeouts, so its key is never retired
    for (size, groups, info) in [
        (10_000usize, 2, 0.02),
        (100_000, 2, 0.02),
        (1_000_000, 2, 0.02),
        (100_000, 1, 0.0),
    ] {
        let partitions = generate(size, groups, 10, info, 7);
        let started = Instant::now();
        let report = check(&CasRegister::knossos(), &partitions, Clock::Nanos, &options);
        let t = started.elapsed();
        assert_eq!(
            report.valid,
            Validity::Valid,
            "generated histories are linearizable"
        );
        let largest = partitions.iter().map(|p| p.ops.len()).max().unwrap_or(0);
        let cache = report
            .results
            .iter()
            .map(|r| r.cache_bytes)
            .max()
            .unwrap_or(0);
        println!(
            "{size:>9} {:>7} {:>12} {:>14} {:>9.1} MB {:>10}",
            partitions.len(),
            ms(t),
            format!("{largest} ops"),
            cache as f64 / 1e6,
            peak_rss_mb()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs = std::env::var("LIN_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7usize)
        .max(1);
    let bin = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("PORCUPINE_BENCH_BIN").ok())
        .map(PathBuf::from);
    match args.first().map(PathBuf::from) {
        Some(dir) if dir.join("test_data/jepsen").is_dir() && dir.join("test_data/kv").is_dir() => {
            println!(
                "Porcupine's histories from {} (median of {runs} runs)",
                dir.display()
            );
            porcupine_section(&dir, bin, runs);
        }
        Some(dir) => println!(
            "{} has no test_data/jepsen and test_data/kv: skipping the comparison with Porcupine",
            dir.display()
        ),
        None => println!(
            "no Porcupine folder given (cargo bench … -- PORCUPINE_DIR [PORCUPINE_BENCH_BIN]): \
             skipping the comparison with Porcupine"
        ),
    }
    generated_section(runs);
}

//! End to end, as root: `straum test --net real` against a toy key-value server
//! (`fixtures/realnet/toy_kv_server.py`, one process per node in its own network
//! namespace) through its client adapter, with the real binary. A cluster that
//! forwards every request to one primary is linearizable and passes lin-kv under
//! partition, kill and pause; independent servers fail with the stale read named; a
//! node that crashes, an adapter that prints garbage, SIGINT and SIGTERM all stop
//! the run with the history kept; and after every one of them, and after `straum
//! clean` following a SIGKILL of straum, no namespace, link or process of the run is
//! left. A 3-member etcd passes with linearizable reads and fails with serializable
//! ones; the clock fault and the refusals are checked too.
//!
//! Skipped with a note without root, `ip`, `nft` or python3, except under CI.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::realnet::{leftovers, processes_under, realnet_or_skip};
use support::{finish, s, spawn, straum, Run};

fn toy(name: &str) -> String {
    s(&support::fixture(&format!("realnet/{name}"))).to_string()
}

/// `--db-start` for the toy server; `primary` forwards everything to the first node.
fn db_start(primary: bool) -> String {
    let mut cmd = format!(
        "python3 {} --listen {{ip}}:{{port}} --data {{data}}",
        toy("toy_kv_server.py")
    );
    if primary {
        // {peers} lists every node's client address, the first node's first.
        cmd.push_str(" --primary $(echo {peers} | cut -d, -f1)");
    }
    cmd
}

fn client(extra: &str) -> String {
    format!("python3 {} {extra}", toy("toy_kv_adapter.py"))
}

/// The flags of a lin-kv run on 3 toy nodes, plus `extra`.
fn lin_kv_args(primary: bool, adapter_flags: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "test",
        "-w",
        "lin-kv",
        "--net",
        "real",
        "--node-count",
        "3",
        "--rate",
        "50",
        "--concurrency",
        "2n",
        "--db-port",
        "7000",
        "--db-ready-timeout",
        "20",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--db-start".into(), db_start(primary)]);
    args.extend(["--client".into(), client(adapter_flags)]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn run(args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    straum(&args)
}

/// Nothing of the run is left: no namespace, no link, no process working in its
/// scratch directory.
fn assert_nothing_left(run_dir: &Path, what: &str) {
    assert_eq!(leftovers(), Vec::<String>::new(), "{what}: objects left");
    // Processes take a moment to be reaped by init once their namespace is gone.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !processes_under(run_dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_under(run_dir),
        Vec::<String>::new(),
        "{what}: processes left"
    );
}

fn ops_named(run: &Run, f: &str) -> usize {
    run.history()
        .iter()
        .filter(|op| op["f"] == f && op["type"] == "info" && op["process"] == "nemesis")
        .count()
}

#[test]
fn a_primary_forwarding_cluster_passes_lin_kv_under_partition_kill_and_pause() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let args = lin_kv_args(
        true,
        "",
        &[
            "--time-limit",
            "12",
            "--nemesis",
            "partition,kill,pause",
            "--nemesis-interval",
            "2",
            "--seed",
            "5",
        ],
    );
    let run = run(&args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    let results = run.results();
    assert_eq!(results["valid?"], true, "{}", run.output());
    let history = run.history();
    let ok = history.iter().filter(|op| op["type"] == "ok").count();
    assert!(ok > 100, "only {ok} ok operations: {}", run.output());
    assert!(
        run.stdout.contains("network      real links (--net real)"),
        "{}",
        run.output()
    );
    for fault in ["start-partition", "start-kill", "start-pause"] {
        assert!(ops_named(&run, fault) > 0, "no {fault} in the history");
    }
    // Each node's process wrote its log; a killed one was restarted with a marker.
    let logs = run.latest("node-logs");
    let n1 = std::fs::read_to_string(logs.join("n1.log")).unwrap();
    assert!(n1.contains("toy_kv_server listening"), "{n1}");
    assert!(logs.join("client-0.log").exists());
    assert_nothing_left(run.dir.path(), "after a run");
}

#[test]
fn independent_servers_fail_lin_kv_with_the_stale_read_named() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let args = lin_kv_args(
        false,
        "",
        &["--time-limit", "5", "--key-count", "2", "--seed", "3"],
    );
    let run = run(&args);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert_eq!(run.results()["workload"]["valid?"], false);
    assert!(
        run.stdout.contains("but every order of the"),
        "{}",
        run.output()
    );
    assert_nothing_left(run.dir.path(), "after an invalid run");
}

#[test]
fn a_node_that_crashes_stops_the_run_with_its_last_words_and_leaves_nothing() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let mut args = lin_kv_args(true, "", &["--time-limit", "30"]);
    // n2 says something and dies two seconds in.
    let position = args.iter().position(|a| a == "--db-start").unwrap() + 1;
    args[position] = format!(
        "if [ {{node}} = n2 ]; then (sleep 2; echo 'n2 is going down' >&2; kill $$) & fi; exec {}",
        db_start(true)
    );
    let run = run(&args);
    assert_eq!(run.code, Some(255), "{}", run.output());
    assert!(
        run.stderr.contains("node n2 was killed by signal 15"),
        "{}",
        run.output()
    );
    assert!(run.stderr.contains("n2 is going down"), "{}", run.output());
    assert!(
        run.elapsed < Duration::from_secs(25),
        "took {:?}",
        run.elapsed
    );
    assert!(run.latest("history.jsonl").exists());
    assert_eq!(run.results()["valid?"], "unknown");
    assert_nothing_left(run.dir.path(), "after a node crashed");
}

#[test]
fn an_adapter_that_prints_garbage_stops_the_run_naming_what_was_expected() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let run = run(&lin_kv_args(true, "--garbage 3", &["--time-limit", "10"]));
    assert_eq!(run.code, Some(255), "{}", run.output());
    for expected in [
        "client adapter of worker",
        "answered something straum cannot use",
        "this is not a reply",
        "{\"type\":\"ok\"",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected}: {}",
            run.output()
        );
    }
    assert_nothing_left(run.dir.path(), "after a bad adapter");
}

#[test]
fn an_adapter_answering_what_was_not_asked_stops_the_run() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let run = run(&lin_kv_args(true, "--unasked", &["--time-limit", "10"]));
    assert_eq!(run.code, Some(255), "{}", run.output());
    assert!(
        run.stderr
            .contains("printed a line while no operation was asked of it"),
        "{}",
        run.output()
    );
    assert_nothing_left(run.dir.path(), "after an unasked reply");
}

#[test]
fn sigint_and_sigterm_tear_everything_down_and_keep_the_history() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let args = lin_kv_args(true, "", &["--time-limit", "60", "--nemesis", "partition"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let (mut child, dir, pid_dir) = spawn(&args);
        wait_for_operations(&mut child, &dir);
        // SAFETY: kill(2) on the child we started and have not reaped.
        unsafe { libc::kill(child.id() as i32, signal) };
        let run = finish(child, dir, pid_dir, started);
        assert_eq!(run.code, Some(130), "{name}: {}", run.output());
        assert!(!run.history().is_empty(), "{name}: the history was kept");
        assert_nothing_left(run.dir.path(), &format!("after {name}"));
    }
}

#[test]
fn straum_clean_removes_what_a_sigkilled_straum_left() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let args = lin_kv_args(true, "", &["--time-limit", "60"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, dir, _pid_dir) = spawn(&args);
    wait_for_operations(&mut child, &dir);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !leftovers().is_empty(),
        "a SIGKILLed straum leaves its namespaces"
    );
    let cleaned = Command::new(support::straum_bin())
        .arg("clean")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(cleaned.status.success(), "{cleaned:?}");
    assert_nothing_left(dir.path(), "after straum clean");
}

#[test]
fn mode_b_refuses_flags_it_cannot_honour_before_starting_anything() {
    let toy_start = db_start(true);
    let adapter = client("");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["--bin", "/bin/true"], "--bin is for --net simulated"),
        (
            vec!["--nemesis", "duplicate"],
            "duplicate fault is a network-model fault",
        ),
        (vec!["--client", ""], "--client"),
        (vec!["--db-start", "db {nodes}"], "{nodes}"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["test", "-w", "lin-kv", "--net", "real"];
        if !extra.contains(&"--db-start") {
            args.extend(["--db-start", &toy_start]);
        }
        if !extra.contains(&"--client") {
            args.extend(["--client", &adapter]);
        }
        args.extend(extra.iter().copied());
        let run = straum(&args);
        assert_eq!(run.code, Some(254), "{args:?}: {}", run.output());
        assert!(
            run.stderr.contains(expected),
            "{expected}: {}",
            run.output()
        );
        assert!(!run.dir.path().join("store").exists(), "nothing is started");
    }
    let run = straum(&[
        "test",
        "-w",
        "lin-kv",
        "--db-start",
        "x",
        "--bin",
        "/bin/true",
    ]);
    assert_eq!(run.code, Some(254));
    assert!(
        run.stderr.contains("--db-start is for --net real"),
        "{}",
        run.output()
    );
}

/// Read straum's stderr until its progress shows completed operations (the cluster
/// is up and clients work), then leave the rest to be read at the end.
fn wait_for_operations(child: &mut std::process::Child, dir: &tempfile::TempDir) {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no progress: {seen:?}");
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "straum ended early: {seen:?} (dir {})",
                dir.path().display()
            );
        };
        let working = line.contains("running") && !line.contains(" ok 0 ");
        seen.push(line);
        if working {
            break;
        }
    }
    // Keep draining so that straum never blocks on a full stderr pipe.
    std::thread::spawn(move || for _ in lines {});
}

/// `--db-start` for one member of a 3-member etcd cluster (Debian's etcd-server).
const ETCD_START: &str = "exec etcd --name {node} --data-dir {data} \
    --listen-client-urls http://{ip}:{port} --advertise-client-urls http://{ip}:{port} \
    --listen-peer-urls http://{ip}:{peer_port} --initial-advertise-peer-urls http://{ip}:{peer_port} \
    --initial-cluster {cluster} --initial-cluster-state new --initial-cluster-token straum";
const ETCD_READY: &str = "etcdctl --endpoints={ip}:{port} endpoint health";

fn etcd_run(adapter_flags: &str, extra: &[&str]) -> Run {
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/adapters/etcd.py");
    let client = format!("python3 {} {adapter_flags}", s(&adapter));
    let mut args = vec![
        "test",
        "-w",
        "lin-kv",
        "--net",
        "real",
        "--node-count",
        "3",
        "--concurrency",
        "2n",
        "--rate",
        "50",
        "--db-start",
        ETCD_START,
        "--db-ready",
        ETCD_READY,
        "--client",
        &client,
    ];
    args.extend_from_slice(extra);
    straum(&args)
}

#[test]
fn etcd_with_linearizable_reads_passes_under_partition_kill_and_pause() {
    let Some(_guard) = realnet_or_skip(&["python3", "etcd", "etcdctl"]) else {
        return;
    };
    let run = etcd_run(
        "",
        &[
            "--nemesis",
            "partition,kill,pause",
            "--nemesis-targets",
            "one,minority",
            "--partition-shapes",
            "one,majority",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "20",
            "--seed",
            "1",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.output());
    let ok = run.history().iter().filter(|op| op["type"] == "ok").count();
    assert!(ok > 50, "only {ok} ok operations: {}", run.output());
    assert_nothing_left(run.dir.path(), "after an etcd run");
}

/// Jepsen's etcd finding: a serializable read is served by the member asked, which a
/// partition may have left behind, so a read returns a value the majority has since
/// overwritten. Whether a given run catches one depends on timing, so up to three
/// runs are made (straum stops at the first invalid one).
#[test]
fn etcd_with_serializable_reads_fails_with_the_stale_read_named() {
    let Some(_guard) = realnet_or_skip(&["python3", "etcd", "etcdctl"]) else {
        return;
    };
    let run = etcd_run(
        "--serializable",
        &[
            "--nemesis",
            "partition",
            "--partition-shapes",
            "one",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "20",
            "--test-count",
            "3",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.stdout.contains("but every order of the")
            && run.stdout.contains("timeline of the first problems")
            && run.stdout.contains(" read "),
        "{}",
        run.output()
    );
    assert_nothing_left(run.dir.path(), "after an invalid etcd run");
}

#[test]
fn a_timed_out_operation_retires_its_adapter_so_a_late_answer_is_never_misread() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let args = lin_kv_args(
        true,
        "--slow-reads 2",
        &["--time-limit", "8", "--rpc-timeout", "1000", "--seed", "9"],
    );
    let run = run(&args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    let history = run.history();
    let timed_out = history
        .iter()
        .filter(|op| op["f"] == "read" && op["type"] == "fail" && op["error"] == "net-timeout")
        .count();
    assert!(
        timed_out > 6,
        "{timed_out} reads timed out: {}",
        run.output()
    );
    // Every timeout started a new adapter for that worker (a restart marker each),
    // except perhaps each worker's last one.
    let logs = run.latest("node-logs");
    let restarts: usize = (0..6)
        .map(|w| {
            std::fs::read_to_string(logs.join(format!("client-{w}.log")))
                .unwrap_or_default()
                .matches("--- straum restarted client-")
                .count()
        })
        .sum();
    assert!(
        restarts + 6 >= timed_out,
        "{restarts} restarts for {timed_out} timeouts"
    );
    assert_nothing_left(run.dir.path(), "after timeouts");
}

/// Without privileges or tools, `--net real` refuses at once, naming what is missing
/// and the Debian package, before a run directory exists. Needs root (to drop it with
/// `setpriv`); skipped otherwise.
#[test]
fn mode_b_refuses_at_once_without_root_or_tools() {
    let Some(_guard) = realnet_or_skip(&["setpriv"]) else {
        return;
    };
    let base = [
        "test",
        "-w",
        "lin-kv",
        "--concurrency",
        "2n",
        "--net",
        "real",
        "--db-start",
        "x",
        "--client",
        "y",
    ];
    let dir = tempfile::tempdir().unwrap();
    let as_nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(support::straum_bin())
        .args(base)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&as_nobody.stderr);
    assert_eq!(as_nobody.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("CAP_NET_ADMIN") && stderr.contains("run as root"),
        "{stderr}"
    );
    let without_tools = Command::new(support::straum_bin())
        .args(base)
        .env("PATH", "/nonexistent")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&without_tools.stderr);
    assert_eq!(without_tools.status.code(), Some(254), "{stderr}");
    for expected in ["iproute2", "nftables"] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!dir.path().join("store").exists(), "nothing was started");
}

/// The clock fault on real processes: the start command runs under libfaketime
/// reading its node's clock file, so the node's wall clock follows the schedule in
/// the history (the server reports every move of its wall clock against its
/// monotonic one).
#[test]
fn the_clock_fault_moves_a_real_nodes_wall_clock_as_scheduled() {
    let Some(_guard) = realnet_or_skip(&["python3", "faketime"]) else {
        return;
    };
    let mut args = lin_kv_args(
        true,
        "",
        &[
            "--time-limit",
            "6",
            "--nemesis",
            "clock",
            "--nemesis-interval",
            "0.7",
            "--clock-skew",
            "3000",
            "--seed",
            "8",
        ],
    );
    let position = args.iter().position(|a| a == "--db-start").unwrap() + 1;
    args[position].push_str(" --report-clock");
    let run = run(&args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    let log = std::fs::read_to_string(run.latest("node-logs/n0.log")).unwrap();
    support::assert_clock_followed_schedule(&run, "n0", &log);
    assert_nothing_left(run.dir.path(), "after the clock fault");
}

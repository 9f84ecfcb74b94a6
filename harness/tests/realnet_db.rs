//! End to end, as root, on the machine's real kernel: the system under test's
//! processes of Mode B (`straum::realnet::db`), one per node inside the namespaces
//! of a 3-node cluster. A small TCP database (tests/fixtures/fake_kv_db.py) is
//! started from a template, found ready (TCP poll, then a ready command), reached
//! from the host, killed (refused, not reported as an exit), restarted (generation
//! 1, data kept, a restart marker in its log), paused (a request times out) and
//! resumed (answered), crashed by itself (reported with its status and last words);
//! a start that exits, one that is never ready, an interruption and a bad template
//! are refused naming the cause; nothing is left running after a stop, and no
//! namespace or link of the test's after teardown. Then the same with a real
//! 3-member etcd, one member killed and restarted.
//!
//! Without root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip`, `nft` or python3 the tests
//! are skipped with a note, as the etcd test is without `etcd`/`etcdctl`, except
//! under CI (`CI` set), where they fail. They run one at a time (a lock), and
//! touch only their own namespaces and links (never `straum clean`), so that other
//! straums' tests on the machine are left alone.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use straum::realnet::cluster::Cluster;
use straum::realnet::db::{DbCluster, DbSpec};
use straum::realnet::{clean, is_straum_link, is_straum_netns, preflight};

static SERIAL: Mutex<()> = Mutex::new(());

/// Whether `tool` runs (`tool --version` or the given probe succeeds).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The lock, or `None` (with a note; a failure under CI) when something is missing.
fn realnet_or_skip(extra: &[(&str, &[&str])]) -> Option<MutexGuard<'static, ()>> {
    let mut problems = preflight::problems();
    for (program, args) in [("python3", &["-c", "pass"][..])].iter().chain(extra) {
        if !runs(program, args) {
            problems.push(format!("{program} is missing"));
        }
    }
    if !problems.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the real-network DB tests as root with iproute2, nftables, python3, \
             etcd and etcdctl: {}",
            problems.join("; ")
        );
        eprintln!(
            "note: skipping a real-network DB test: {}",
            problems.join("; ")
        );
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A run name unique to this process and test.
fn run_name(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// The prefix of this process's namespaces (another straum, say another engineer's
/// or CI's tests, may have its own on the machine meanwhile: those are left alone).
fn our_netns_prefix() -> String {
    format!("straum-t{}-", std::process::id())
}

/// This process's namespaces, and those of `links` that exist.
fn leftovers(links: &[String]) -> Vec<String> {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_straum_netns(n) && n.starts_with(&our_netns_prefix()))
        .map(|n| format!("netns {n}"))
        .collect();
    found.extend(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .filter(|n| links.iter().any(|l| l == n))
            .map(|n| format!("link {n}")),
    );
    found
}

/// Removes this process's namespaces (killing what runs inside; their veths go
/// with them) when dropped, so that a failing test leaves nothing behind. The
/// bridge is the `Cluster`'s own drop's to remove.
struct CleanOnDrop;

impl Drop for CleanOnDrop {
    fn drop(&mut self) {
        for entry in leftovers(&[]) {
            let ns = entry.trim_start_matches("netns ");
            clean::kill_processes_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            eprintln!("removed {ns} after a test");
        }
    }
}

/// A fresh 3-node cluster for `test`, checking none of ours is there before.
fn cluster(test: &str) -> Cluster {
    assert_eq!(
        leftovers(&[]),
        Vec::<String>::new(),
        "our namespaces before"
    );
    let net = Cluster::create(&run_name(test), &["n1", "n2", "n3"]).unwrap();
    assert!(is_straum_link(net.bridge()));
    net
}

/// The pids inside node `i`'s namespace (`ip netns pids`).
fn netns_pids(cluster: &Cluster, i: usize) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", cluster.netns(i)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Tear down and check that nothing is left: no process in the namespaces before,
/// none of `pids` anywhere, no straum namespace or link after.
fn finish(mut cluster: Cluster, pids: &[u32]) {
    for i in 0..cluster.len() {
        assert_eq!(
            netns_pids(&cluster, i),
            Vec::<String>::new(),
            "in {}",
            cluster.netns(i)
        );
    }
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there"
        );
    }
    let mut links = vec![cluster.bridge().to_string()];
    links.extend(cluster.nodes().iter().map(|n| n.host_veth.clone()));
    cluster.teardown().unwrap();
    assert_eq!(leftovers(&links), Vec::<String>::new(), "after teardown");
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake_kv_db.py")
}

fn db_spec(dir: &Path, start: String, ready: Option<&str>, timeout: Duration) -> DbSpec {
    DbSpec {
        start,
        ready: ready.map(str::to_owned),
        stop: None,
        ready_timeout: timeout,
        client_port: 47_101,
        peer_port: 47_102,
        log_dir: dir.join("node-logs"),
        data_dir: dir.join("node-data"),
        clocks: None,
    }
}

fn fake_db_start() -> String {
    format!(
        "exec python3 {} {{node}} {{ip}} {{port}} {{data}} {{cluster}}",
        fixture().display()
    )
}

/// Send `line` to `addr` and read one reply line, waiting at most `timeout`.
fn request(addr: &str, line: &str, timeout: Duration) -> std::io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr.parse().unwrap(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    (&stream).write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim_end().to_string())
}

/// Wait (at most `limit`) until `db.check_ready(node)` succeeds.
fn await_ready(db: &DbCluster, node: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        match db.check_ready(node) {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("node {node} not ready again: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_fake_database_is_started_killed_restarted_paused_and_stopped() {
    let Some(_serial) = realnet_or_skip(&[]) else {
        return;
    };
    let _guard = CleanOnDrop;
    let net = cluster("fake");
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut db = DbCluster::start(
        &net,
        &db_spec(dir.path(), fake_db_start(), None, 30 * SECOND),
        &|| false,
    )
    .unwrap();
    eprintln!("3 fake nodes ready (TCP poll) in {:?}", began.elapsed());
    let ips: Vec<String> = (0..3).map(|i| net.node_ip(i).to_string()).collect();
    let initial = format!(
        "n1=http://{}:47102,n2=http://{}:47102,n3=http://{}:47102",
        ips[0], ips[1], ips[2]
    );
    let mut pids = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(db.client_addr(i), format!("{ip}:47101"));
        assert_eq!(db.generation(i), 0);
        let reply = request(&db.client_addr(i), "whoami", 5 * SECOND).unwrap();
        assert_eq!(reply, format!("n{} {initial}", i + 1));
        pids.push(db.pid(i).unwrap());
        // Working directory and environment are the node's.
        let data = dir.path().join(format!("node-data/n{}", i + 1));
        let env_line = format!(
            "n{}: cwd {} env n{} {} {}",
            i + 1,
            data.display(),
            i + 1,
            ip,
            data.display()
        );
        let log = std::fs::read_to_string(db.log_path(i)).unwrap();
        assert!(log.contains(&env_line), "{log}");
        assert!(log.contains("listening on"), "stdout is logged too: {log}");
    }
    assert_eq!(
        request(&db.client_addr(0), "incr", 5 * SECOND).unwrap(),
        "1"
    );
    assert_eq!(
        request(&db.client_addr(0), "incr", 5 * SECOND).unwrap(),
        "2"
    );

    // Kill: refused at once, not an exit to report, no process left.
    db.kill(0);
    db.kill(0); // idempotent
    assert_eq!(db.pid(0), None);
    let err = request(&db.client_addr(0), "get", 5 * SECOND).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(db.poll_exits().is_empty());
    assert!(!Path::new(&format!("/proc/{}", pids[0])).exists());
    assert_eq!(netns_pids(&net, 0), Vec::<String>::new());

    // Restart: the next generation, the data kept, a marker in the log.
    let began = Instant::now();
    assert_eq!(db.restart(0).unwrap(), 1);
    assert_eq!(db.generation(0), 1);
    await_ready(&db, 0, 20 * SECOND);
    eprintln!("restarted n1 ready in {:?}", began.elapsed());
    pids.push(db.pid(0).unwrap());
    assert_eq!(request(&db.client_addr(0), "get", 5 * SECOND).unwrap(), "2");
    let log = std::fs::read_to_string(db.log_path(0)).unwrap();
    assert!(
        log.contains("\n--- straum restarted n1 (generation 1) ---\n"),
        "{log}"
    );
    let tail = db.log_tail(0).join("\n");
    assert!(
        tail.contains("counter 2") && !tail.contains("counter 0"),
        "{tail}"
    );

    // Pause: a request waits; resume: it is answered.
    db.pause(1);
    let stream = TcpStream::connect(db.client_addr(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    (&stream).write_all(b"get\n").unwrap();
    let mut reader = BufReader::new(&stream);
    let mut reply = String::new();
    let err = reader.read_line(&mut reply).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    assert!(db.poll_exits().is_empty(), "a paused node has not exited");
    db.resume(1);
    stream.set_read_timeout(Some(5 * SECOND)).unwrap();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(reply, "0\n");

    // A node that exits by itself is reported once, with its last words in the log.
    let _ = request(&db.client_addr(2), "crash 3", 5 * SECOND);
    let deadline = Instant::now() + 10 * SECOND;
    let exits = loop {
        let exits = db.poll_exits();
        if !exits.is_empty() || Instant::now() > deadline {
            break exits;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exits, vec![(2, 0, "exited with status 3".to_string())]);
    assert!(db.poll_exits().is_empty());
    let tail = db.log_tail(2);
    assert_eq!(
        tail.last().map(String::as_str),
        Some("n3: last words before exiting with 3"),
        "{tail:?}"
    );
    assert_eq!(db.pid(2), None);

    let began = Instant::now();
    db.stop_all();
    eprintln!("stop_all (SIGTERM) took {:?}", began.elapsed());
    db.stop_all(); // idempotent
    assert!((0..3).all(|i| db.pid(i).is_none()));
    finish(net, &pids);
}

#[test]
fn a_ready_command_is_polled_inside_the_namespace_and_stop_commands_run() {
    let Some(_serial) = realnet_or_skip(&[]) else {
        return;
    };
    let _guard = CleanOnDrop;
    let net = cluster("ready");
    let dir = tempfile::tempdir().unwrap();
    // Listens after a second; the check asks the database itself (from inside the
    // namespace: {ip} is reachable there, and so is the namespace's own loopback).
    let ready = "python3 -c 'import socket, sys; s = socket.create_connection((\"{ip}\", \
                 {port}), 1); s.sendall(b\"get\\n\"); sys.exit(0 if s.recv(64).strip().isdigit() \
                 else 1)'";
    // No `exec`: the database is the shell's child, in the shell's process group.
    let start = format!(
        "echo $$ > {{data}}/pid; sleep 1; {}; echo after",
        fake_db_start().trim_start_matches("exec ")
    );
    let mut spec = db_spec(dir.path(), start, Some(ready), 30 * SECOND);
    // Ends the shell only: the database left in its group is killed with it.
    spec.stop = Some("echo stopping {node} >> {data}/stopped; kill -TERM $(cat {data}/pid)".into());
    let began = Instant::now();
    let mut db = DbCluster::start(&net, &spec, &|| false).unwrap();
    let took = began.elapsed();
    eprintln!("3 delayed fake nodes ready (ready command) in {took:?}");
    assert!(took >= SECOND, "ready before listening: {took:?}");
    let pids: Vec<u32> = (0..3).map(|i| db.pid(i).unwrap()).collect();
    for i in 0..3 {
        assert_eq!(request(&db.client_addr(i), "get", 5 * SECOND).unwrap(), "0");
        db.check_ready(i).unwrap();
    }
    // Killing the group kills the shell's child too: refused at once, and the
    // port is free again for the next incarnation.
    db.kill(0);
    let err = request(&db.client_addr(0), "get", 5 * SECOND).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(netns_pids(&net, 0), Vec::<String>::new());
    assert_eq!(db.restart(0).unwrap(), 1);
    await_ready(&db, 0, 20 * SECOND);
    let mut pids = pids;
    pids.push(db.pid(0).unwrap());
    db.pause(2); // the stop must resume it to end it
    let began = Instant::now();
    db.stop_all();
    eprintln!("stop_all (stop command) took {:?}", began.elapsed());
    for i in 0..3 {
        let stopped = dir.path().join(format!("node-data/n{}/stopped", i + 1));
        assert_eq!(
            std::fs::read_to_string(stopped).unwrap(),
            format!("stopping n{}\n", i + 1)
        );
    }
    finish(net, &pids);
}

#[test]
fn starts_that_fail_are_refused_naming_the_node_and_the_cause() {
    let Some(_serial) = realnet_or_skip(&[]) else {
        return;
    };
    let _guard = CleanOnDrop;
    let net = cluster("fail");
    let dir = tempfile::tempdir().unwrap();
    let case = std::cell::Cell::new(0);
    let t = |start: &str, ready: Option<&str>, timeout| {
        let began = Instant::now();
        case.set(case.get() + 1);
        let at = dir.path().join(format!("case{}", case.get()));
        let spec = db_spec(&at, start.to_string(), ready, timeout);
        let err = DbCluster::start(&net, &spec, &|| false).err().unwrap();
        eprintln!("refused in {:?}: {err}", began.elapsed());
        for i in 0..3 {
            assert_eq!(netns_pids(&net, i), Vec::<String>::new(), "after {err}");
        }
        err
    };

    // One node's process exits at once.
    let err = t(
        "if [ {node} = n2 ]; then echo 'n2 gives up' >&2; exit 7; fi; exec sleep 600",
        None,
        30 * SECOND,
    );
    assert!(
        err.contains("node n2's process exited with status 7"),
        "{err}"
    );
    assert!(err.contains("n2 gives up"), "{err}");
    assert!(err.contains("n2.log"), "{err}");

    // Never ready: the ready command's output and status, for a named node.
    let err = t(
        "echo started {node}; exec sleep 600",
        Some("echo not yet {node}; exit 1"),
        Duration::from_millis(1500),
    );
    assert!(err.contains("timed out after"), "{err}");
    assert!(err.contains("nodes n1, n2, n3"), "{err}");
    assert!(err.contains("`echo not yet n1; exit 1`"), "{err}");
    assert!(
        err.contains("exited with status 1, printing: not yet n1"),
        "{err}"
    );
    assert!(err.contains("started n1"), "the log's end: {err}");

    // Never listening, with the TCP poll.
    let err = t("exec sleep 600", None, Duration::from_millis(1500));
    assert!(err.contains("a TCP connect to 10.200."), "{err}");
    assert!(err.contains("refused"), "{err}");

    // Interrupted.
    let began = Instant::now();
    let spec = db_spec(
        dir.path(),
        "exec sleep 600".into(),
        Some("exit 1"),
        30 * SECOND,
    );
    let err = DbCluster::start(&net, &spec, &|| {
        began.elapsed() > Duration::from_millis(300)
    })
    .err()
    .unwrap();
    assert!(err.starts_with("interrupted"), "{err}");
    assert!(began.elapsed() < 5 * SECOND, "{:?}", began.elapsed());

    // A bad template starts nothing.
    let spec = db_spec(dir.path(), "run --name {nodes}".into(), None, SECOND);
    let err = DbCluster::start(&net, &spec, &|| false).err().unwrap();
    assert!(
        err.starts_with("--db-start: unknown placeholder {nodes}"),
        "{err}"
    );
    finish(net, &[]);
}

/// The templates documented for etcd.
const ETCD_START: &str = "exec etcd --name {node} --data-dir {data} \
     --listen-client-urls http://{ip}:{port} --advertise-client-urls http://{ip}:{port} \
     --listen-peer-urls http://{ip}:{peer_port} --initial-advertise-peer-urls \
     http://{ip}:{peer_port} --initial-cluster {cluster} --initial-cluster-state new \
     --initial-cluster-token straum";
const ETCD_READY: &str = "etcdctl --endpoints={ip}:{port} endpoint health";

#[test]
fn a_three_member_etcd_survives_a_member_killed_and_restarted() {
    let Some(_serial) = realnet_or_skip(&[("etcd", &["--version"]), ("etcdctl", &["version"])])
    else {
        return;
    };
    let _guard = CleanOnDrop;
    let net = cluster("etcd");
    let dir = tempfile::tempdir().unwrap();
    let mut spec = db_spec(dir.path(), ETCD_START.into(), Some(ETCD_READY), 60 * SECOND);
    (spec.client_port, spec.peer_port) = (2379, 2380);
    let began = Instant::now();
    let mut db = DbCluster::start(&net, &spec, &|| false).unwrap();
    eprintln!("3 etcd members healthy in {:?}", began.elapsed());
    let mut pids: Vec<u32> = (0..3).map(|i| db.pid(i).unwrap()).collect();
    let etcdctl = |node: usize, args: &[&str]| {
        let out = Command::new("etcdctl")
            .arg(format!("--endpoints={}", db_addr(&net, node)))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    etcdctl(0, &["put", "k", "before"]);
    let log = std::fs::read_to_string(db.log_path(0)).unwrap();
    assert!(!log.contains("check file permission"), "{log}");

    db.kill(1);
    assert!(db.check_ready(1).is_err());
    assert!(db.poll_exits().is_empty());
    etcdctl(0, &["put", "k", "while n2 was down"]); // a majority is left
    let began = Instant::now();
    assert_eq!(db.restart(1).unwrap(), 1);
    await_ready(&db, 1, 30 * SECOND);
    eprintln!("restarted etcd member healthy in {:?}", began.elapsed());
    pids.push(db.pid(1).unwrap());
    let got = etcdctl(1, &["get", "k", "--print-value-only"]);
    assert_eq!(got.trim(), "while n2 was down");
    assert!(db.poll_exits().is_empty());

    let began = Instant::now();
    db.stop_all();
    eprintln!("stop_all (SIGTERM) of etcd took {:?}", began.elapsed());
    finish(net, &pids);
}

fn db_addr(net: &Cluster, node: usize) -> String {
    format!("{}:2379", net.node_ip(node))
}

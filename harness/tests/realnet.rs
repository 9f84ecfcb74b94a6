//! End to end, as root, on the machine's real kernel: Mode B's groundwork. A 3-node
//! cluster of network namespaces on a bridge; UDP between every pair of nodes (and
//! the host) arrives exactly where a grudge allows, both directions checked
//! separately, for Mode A's `majority` and `one-way` shapes and a hand-made
//! one-way cut; clearing heals; teardown leaves nothing named like straum's; a
//! SIGKILLed straum's leftovers (namespaces, links, processes inside) are removed by
//! `straum clean`, after which a live cluster's teardown still succeeds; SIGTERM
//! tears down; a create failing halfway removes what it made; link faults are
//! refused without netem.
//!
//! Without root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip`, `nft` or python3 the tests
//! are skipped with a note, except under CI (`CI` set), where they fail.
//!
//! The tests run one at a time (a lock): `straum clean` removes every straum's
//! objects, and each test checks that nothing named like them is left.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use straum::nemesis::PartitionShape;
use straum::realnet::cluster::Cluster;
use straum::realnet::{clean, is_straum_link, nft, preflight};
use support::realnet::{leftovers, realnet_or_skip};

/// A run name unique to this process and test.
fn run_name(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// Each node binds UDP `PORT` on its address, says `ready`, waits for a line on
/// stdin, then sends a datagram to every peer (nodes and host) every 20 ms for
/// 1.5 s and prints the sorted source addresses it heard from, as a JSON list. The
/// handshake makes the nodes' windows overlap however slowly python starts.
const PROBE: &str = r#"
import json, socket, sys, time
me, port, peers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((me, port))
s.settimeout(0.02)
print("ready", flush=True)
sys.stdin.readline()
heard, end = set(), time.time() + 1.5
while time.time() < end:
    for p in peers:
        try:
            s.sendto(b"probe", (p, port))
        except OSError:
            pass
    try:
        while True:
            heard.add(s.recvfrom(64)[1][0])
    except (socket.timeout, BlockingIOError):
        pass
print(json.dumps(sorted(heard)), flush=True)
"#;

const PORT: u16 = 47_001;

/// Who heard whom: `heard[d]` = the addresses node `d` received from; the last
/// entry is the host (on the bridge address).
fn probe(cluster: &Cluster) -> Vec<BTreeSet<Ipv4Addr>> {
    let n = cluster.len();
    let host = cluster.host_ip();
    let all: Vec<Ipv4Addr> = (0..n).map(|i| cluster.node_ip(i)).chain([host]).collect();
    let socket = UdpSocket::bind((host, PORT)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut children: Vec<Child> = (0..n)
        .map(|i| {
            let mut py = Command::new("python3");
            py.arg("-c")
                .arg(PROBE)
                .arg(cluster.node_ip(i).to_string())
                .arg(PORT.to_string());
            py.args(
                all.iter()
                    .filter(|&&a| a != cluster.node_ip(i))
                    .map(|a| a.to_string()),
            );
            cluster
                .exec_in(i, &py)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()))
        .collect();
    for (i, reader) in readers.iter_mut().enumerate() {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(
            line,
            "ready\n",
            "probe in {} did not start",
            cluster.netns(i)
        );
    }
    for child in &mut children {
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    // The host sends and listens for as long as any node's window is open.
    let mut host_heard = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 64];
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) && Instant::now() < deadline
    {
        for i in 0..n {
            let _ = socket.send_to(b"probe", (cluster.node_ip(i), PORT));
        }
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            if let std::net::SocketAddr::V4(from) = from {
                host_heard.insert(*from.ip());
            }
        }
    }
    let mut heard: Vec<BTreeSet<Ipv4Addr>> = children
        .into_iter()
        .zip(readers)
        .enumerate()
        .map(|(i, (child, mut reader))| {
            let mut stdout = String::new();
            reader.read_to_string(&mut stdout).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "probe in {} failed: {}",
                cluster.netns(i),
                String::from_utf8_lossy(&out.stderr)
            );
            let list: Vec<String> = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("probe printed {stdout:?}: {e}"));
            list.iter().map(|a| a.parse().unwrap()).collect()
        })
        .collect();
    heard.push(host_heard);
    heard
}

/// Check that the probe's result is exactly what `cut` allows: node d hears node s
/// iff `!cut[d * n + s]`, every node hears the host and the host every node.
fn assert_reachability(cluster: &Cluster, cut: &[bool], what: &str) {
    let n = cluster.len();
    let heard = probe(cluster);
    let ip = |i: usize| {
        if i == n {
            cluster.host_ip()
        } else {
            cluster.node_ip(i)
        }
    };
    let mut wrong = Vec::new();
    for d in 0..=n {
        for s in (0..=n).filter(|&s| s != d) {
            let cut_here = d < n && s < n && cut[d * n + s];
            let got = heard[d].contains(&ip(s));
            if got == cut_here {
                let who = |i| {
                    if i == n {
                        "host".to_string()
                    } else {
                        format!("node {i}")
                    }
                };
                wrong.push(format!(
                    "{} {} {}",
                    who(d),
                    if got { "heard" } else { "did not hear" },
                    who(s)
                ));
            }
        }
        let strangers: Vec<_> = heard[d]
            .iter()
            .filter(|a| !(0..=n).any(|i| ip(i) == **a))
            .collect();
        assert!(
            strangers.is_empty(),
            "{what}: heard from strangers {strangers:?}"
        );
    }
    assert!(wrong.is_empty(), "{what}: {}", wrong.join("; "));
}

/// The cut matrix of Mode A's `shape` on `n` nodes from `seed`.
fn shape_cut(shape: PartitionShape, n: usize, seed: u64) -> Vec<bool> {
    let grudge = shape.grudge(n, &mut ChaCha8Rng::seed_from_u64(seed));
    let mut cut = vec![false; n * n];
    for (dest, sources) in grudge.iter().enumerate() {
        for &src in sources {
            cut[dest * n + src] = true;
        }
    }
    cut
}

/// What node `d`'s table must drop, per `cut`.
fn expected_sources(cluster: &Cluster, cut: &[bool], d: usize) -> Vec<Ipv4Addr> {
    let n = cluster.len();
    let mut ips: Vec<Ipv4Addr> = (0..n)
        .filter(|&s| cut[d * n + s])
        .map(|s| cluster.node_ip(s))
        .collect();
    ips.sort_unstable();
    ips
}

fn apply_and_check(cluster: &Cluster, cut: &[bool], what: &str) {
    nft::apply_grudge(cluster, cut).unwrap();
    for d in 0..cluster.len() {
        assert_eq!(
            nft::installed_sources(cluster, d).unwrap(),
            expected_sources(cluster, cut, d),
            "{what}: rules of node {d}"
        );
    }
    assert_reachability(cluster, cut, what);
}

#[test]
fn partitions_on_real_links_cut_exactly_the_grudge_and_teardown_leaves_nothing() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "straum objects before the test"
    );
    let mut cluster = Cluster::create(&run_name("grudge"), &["n1", "n2", "n3"]).unwrap();
    let n = cluster.len();
    assert_eq!(n, 3);
    assert!(cluster.bridge().len() <= 15 && is_straum_link(cluster.bridge()));
    for node in cluster.nodes() {
        assert!(
            node.host_veth.len() <= 15 && is_straum_link(&node.host_veth),
            "{node:?}"
        );
        assert!(
            node.netns
                .starts_with(&format!("straum-{}", run_name("grudge"))),
            "{node:?}"
        );
        assert_eq!(node.ip.octets()[..3], cluster.subnet().octets()[..3]);
    }

    // A second cluster meanwhile gets other names and a /24 that does not collide
    // with the first one's (now a route of the host).
    let other = Cluster::create(&run_name("other"), &["n1"]).unwrap();
    assert_ne!(other.subnet(), cluster.subnet());
    assert_ne!(other.bridge(), cluster.bridge());
    // The same run name again is refused while its namespaces exist.
    let again = Cluster::create(&run_name("grudge"), &["n1"]).unwrap_err();
    assert!(again.contains("already exists"), "{again}");
    drop(other);

    let none = vec![false; n * n];
    assert_reachability(&cluster, &none, "before any grudge");

    let majority = shape_cut(PartitionShape::Majority, n, 3);
    assert!(majority.iter().any(|&c| c), "majority cuts something");
    apply_and_check(&cluster, &majority, "majority");

    let one_way = shape_cut(PartitionShape::OneWay, n, 5);
    assert!(
        (0..n).any(|d| (0..n).any(|s| one_way[d * n + s] && !one_way[s * n + d])),
        "one-way is asymmetric"
    );
    apply_and_check(&cluster, &one_way, "one-way (replacing majority)");

    // By hand: node 2 drops from node 0 only; node 0 must still hear node 2.
    let mut hand = none.clone();
    hand[2 * n] = true;
    apply_and_check(&cluster, &hand, "node 2 drops from node 0");

    nft::clear_grudge(&cluster).unwrap();
    for d in 0..n {
        assert!(nft::installed_sources(&cluster, d).unwrap().is_empty());
    }
    assert_reachability(&cluster, &none, "after clearing");
    nft::clear_grudge(&cluster).unwrap(); // clearing twice is fine

    cluster.teardown().unwrap();
    assert_eq!(leftovers(), Vec::<String>::new(), "after teardown");
    cluster.teardown().unwrap(); // idempotent
    drop(cluster);
}

/// Start `straum realnet-hold` and wait (at most 60 s) for its JSON line.
fn hold(run: &str) -> (Child, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_straum"))
        .args(["realnet-hold", "--run", run, "--nodes", "n1,n2,n3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("realnet-hold printed {line:?}: {e}")
    });
    (child, value)
}

/// Whether process `pid` is still running (not gone, not a zombie).
fn running(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

fn names(held: &serde_json::Value) -> (Vec<String>, Vec<String>, Vec<u64>) {
    let nodes = held["nodes"].as_array().unwrap();
    let netns = nodes
        .iter()
        .map(|n| n["netns"].as_str().unwrap().to_string())
        .collect();
    let mut links: Vec<String> = nodes
        .iter()
        .map(|n| n["veth"].as_str().unwrap().to_string())
        .collect();
    links.push(held["bridge"].as_str().unwrap().to_string());
    let sleepers = held["sleepers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    (netns, links, sleepers)
}

#[test]
fn straum_clean_removes_what_a_sigkilled_straum_left_behind() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "straum objects before the test"
    );
    let (mut child, held) = hold(&run_name("kill"));
    let (netns, links, sleepers) = names(&held);
    assert_eq!((netns.len(), links.len(), sleepers.len()), (3, 4, 3));
    child.kill().unwrap(); // SIGKILL: no teardown runs
    child.wait().unwrap();

    let left = leftovers();
    for name in netns
        .iter()
        .map(|n| format!("netns {n}"))
        .chain(links.iter().map(|l| format!("link {l}")))
    {
        assert!(left.contains(&name), "{name} was left behind: {left:?}");
    }
    assert!(
        sleepers.iter().all(|&p| running(p)),
        "the sleepers outlive straum"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_straum"))
        .arg("clean")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ns in &netns {
        assert!(
            stdout.contains(&format!("removed network namespace {ns}\n")),
            "{stdout}"
        );
    }
    for link in &links {
        assert!(
            stdout.contains(&format!("removed link {link}\n")),
            "{stdout}"
        );
    }
    for pid in &sleepers {
        assert!(
            stdout.contains(&format!("killed process {pid} in ")),
            "{stdout}"
        );
    }
    assert_eq!(leftovers(), Vec::<String>::new(), "after straum clean");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sleepers.iter().any(|&p| running(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !sleepers.iter().any(|&p| running(p)),
        "the sleepers were killed"
    );

    let again = Command::new(env!("CARGO_BIN_EXE_straum"))
        .arg("clean")
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "nothing of straum's to remove\n"
    );
}

#[test]
fn sigterm_tears_a_held_cluster_down() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "straum objects before the test"
    );
    let (mut child, held) = hold(&run_name("term"));
    let (_, _, sleepers) = names(&held);
    assert_eq!(leftovers().len(), 7, "3 namespaces, 3 veths, a bridge");
    // SAFETY: signals the child this test started, by its pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(leftovers(), Vec::<String>::new(), "after SIGTERM");
    assert!(
        !sleepers.iter().any(|&p| running(p)),
        "the sleepers were killed and reaped"
    );
}

#[test]
fn latency_and_drop_on_real_links_are_refused_without_netem() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    let netem = preflight::netem_available().unwrap();
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "the probe namespace is gone"
    );
    assert!(preflight::refuse_link_faults(&["partition", "kill"]).is_ok());
    let asked = preflight::refuse_link_faults(&["partition", "latency", "drop"]);
    if netem {
        assert!(asked.is_ok(), "{asked:?}");
    } else {
        let e = asked.unwrap_err();
        assert!(
            e.contains("latency and drop") && e.contains("sch_netem"),
            "{e}"
        );
        // What tc said, quoted: the reason as the kernel gave it.
        assert!(e.contains("(tc said: ") && e.len() < 1000, "{e}");
    }
}

#[test]
fn teardown_after_straum_clean_removed_everything_succeeds() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "straum objects before the test"
    );
    let mut cluster = Cluster::create(&run_name("cleaned"), &["a", "b"]).unwrap();
    let cleaned = clean::clean();
    assert!(cleaned.errors.is_empty(), "{:?}", cleaned.errors);
    assert_eq!(
        (cleaned.netns.len(), cleaned.links.len()),
        (2, 3),
        "{cleaned:?}"
    );
    assert_eq!(leftovers(), Vec::<String>::new());
    cluster.teardown().unwrap();
}

#[test]
fn a_create_that_fails_halfway_removes_what_it_made() {
    let Some(_guard) = realnet_or_skip(&["python3"]) else {
        return;
    };
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "straum objects before the test"
    );
    let run = run_name("halfway");
    // The tag comes from the run name: learn it, then block the second veth's name.
    let (bridge, veth) = {
        let probe = Cluster::create(&run, &["n1", "n2", "n3"]).unwrap();
        (
            probe.bridge().to_string(),
            probe.nodes()[1].host_veth.clone(),
        )
    };
    let blocker = Command::new("ip")
        .args(["link", "add", &veth, "type", "bridge"])
        .status()
        .unwrap();
    assert!(blocker.success());
    let err = Cluster::create(&run, &["n1", "n2", "n3"]).unwrap_err();
    assert!(err.contains(&veth), "{err}");
    // Only the blocker is left: no namespace, no bridge, no other veth.
    assert_eq!(
        leftovers(),
        vec![format!("link {veth}")],
        "bridge was {bridge}"
    );
}

//! End to end: the simulated network, faults, statistics and the broadcast and g-set
//! workloads, with real node processes through the real binary.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{example, fixture, s, straum_cmd};

#[test]
fn broadcast_example_survives_partitions_and_reports_its_figures() {
    let node = example("broadcast");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 5 --time-limit 5 --rate 20 --nemesis partition --nemesis-interval 1 --recovery-time 3 --seed 21",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let results = run.results();
    let workload = &results["workload"];
    assert_eq!(workload["lost-count"], 0);
    assert!(workload["stable-count"].as_u64().unwrap() > 10);
    assert!(workload["stable-latencies"]["0.5"].is_u64());
    assert!(results["net"]["servers"]["msgs-per-op"].as_f64().unwrap() > 0.0);
    assert!(results["convergence"]["hops"]["1"].is_u64());
    assert!(
        run.stdout.contains("stable latency ms: p50"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("hops to reach every node"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("nemesis      partition ×"),
        "{}",
        run.output()
    );
    // Every partition start and stop is in the history with its exact shape, and the
    // network is healed before the final reads.
    let history = run.history();
    let nemesis: Vec<&Value> = history
        .iter()
        .filter(|op| op["process"] == "nemesis")
        .collect();
    assert!(nemesis.iter().any(|op| op["value"]["grudge"].is_object()));
    assert_eq!(nemesis.last().unwrap()["f"], "stop-partition");
    let finals = history
        .iter()
        .filter(|op| op["final?"] == true && op["type"] == "ok");
    assert_eq!(finals.count(), 5, "one final read per worker");
}

#[test]
fn broadcast_without_retries_loses_values_under_partitions() {
    let node = fixture("broadcast_no_retry.py");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 5 --time-limit 6 --rate 20 --nemesis partition --nemesis-interval 1 --partition-shapes majority,one --recovery-time 2 --seed 22",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let lost = run.results()["workload"]["lost-count"].as_u64().unwrap();
    assert!(lost > 0);
    assert!(run.stdout.contains(" was lost"), "{}", run.output());
    assert!(run.stdout.contains("--seed 22"), "{}", run.output());
}

#[test]
fn hops_of_values_gossiped_as_a_bitmap_are_not_traceable_rather_than_unconverged() {
    let node = fixture("broadcast_bitmap.py");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 3 --time-limit 3 --rate 20 --seed 4",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stdout
            .contains("hops: not traceable — values not found in node-to-node bodies"),
        "{}",
        run.output()
    );
    assert!(
        !run.stdout.contains("never reached every node"),
        "{}",
        run.output()
    );
    assert_eq!(run.results()["convergence"]["traceable"], false);
}

#[test]
fn g_set_example_survives_partitions() {
    let node = example("g-set");
    let run = straum_cmd(&format!(
        "test -w g-set --bin {} --node-count 3 --time-limit 4 --rate 20 --nemesis partition --nemesis-interval 1 --recovery-time 2",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert_eq!(run.results()["workload"]["lost-count"], 0);
}

#[test]
fn latency_delays_node_to_node_messages_but_not_clients() {
    let node = example("broadcast");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 3 --time-limit 3 --rate 20 --latency 50 --recovery-time 1",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let journal = journal(&run.latest("net-journal.jsonl"));
    let mut sent_at = BTreeMap::new();
    let (mut server_delays, mut client_delays) = (Vec::new(), Vec::new());
    for e in &journal {
        let id = e["id"].as_u64().unwrap();
        match e["e"].as_str().unwrap() {
            "send" => {
                sent_at.insert(id, e["t"].as_u64().unwrap());
            }
            "recv" => {
                let delay = e["t"].as_u64().unwrap() - sent_at[&id];
                let client = e["src"].as_str().unwrap().starts_with('c')
                    || e["dest"].as_str().unwrap().starts_with('c');
                if client {
                    client_delays.push(delay)
                } else {
                    server_delays.push(delay)
                }
            }
            _ => {}
        }
    }
    assert!(!server_delays.is_empty());
    assert!(
        server_delays.iter().all(|d| *d >= 50_000_000),
        "server messages wait 50 ms"
    );
    assert!(
        client_delays.iter().all(|d| *d < 50_000_000),
        "client messages are immediate"
    );
    // The statistics count exactly what the journal saw.
    let results = run.results();
    let servers_sent = journal
        .iter()
        .filter(|e| e["e"] == "send" && !is_client(e))
        .count() as u64;
    assert_eq!(results["net"]["servers"]["send-count"], servers_sent);
    assert_eq!(
        results["net"]["servers"]["recv-count"],
        server_delays.len() as u64
    );
}

/// With a deterministic node program, the same seed gives the same nemesis schedule
/// and the same drop and duplicate decisions, message by message.
#[test]
fn the_same_seed_reproduces_faults_message_by_message() {
    let flood = example("flood");
    let per_link = |seed: &str| {
        let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 4 --time-limit 2 --rate 0 --nemesis drop,duplicate --nemesis-interval 1000 --drop-rate 0.25 --duplicate-rate 0.2 --seed {} -- --tokens 6 --delay-ms 300 --only-first",
        s(&flood),
        seed
    ));
        assert_eq!(run.code, Some(0), "{}", run.output());
        let nemesis: Vec<Value> = run
            .history()
            .into_iter()
            .filter(|op| op["process"] == "nemesis")
            .map(|op| serde_json::json!([op["f"], op["value"]]))
            .collect();
        let journal = journal(&run.latest("net-journal.jsonl"));
        let dropped: Vec<u64> = journal
            .iter()
            .filter(|e| e["e"] == "drop")
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        let mut links = LinkLog::new();
        for e in journal.iter().filter(|e| e["e"] == "send" && !is_client(e)) {
            let id = e["id"].as_u64().unwrap();
            links
                .entry((e["src"].to_string(), e["dest"].to_string()))
                .or_default()
                .push((
                    e["seq"].as_u64().unwrap(),
                    e["body"].to_string(),
                    dropped.contains(&id),
                    e.get("copy-of").is_some(),
                ));
        }
        (nemesis, links)
    };
    let (nemesis_a, links_a) = per_link("31");
    let (nemesis_b, links_b) = per_link("31");
    assert_eq!(nemesis_a, nemesis_b);
    assert_eq!(
        links_a.keys().collect::<Vec<_>>(),
        links_b.keys().collect::<Vec<_>>()
    );
    let mut compared = 0;
    let (mut drops, mut copies) = (0, 0);
    for (link, a) in &links_a {
        let b = &links_b[link];
        let common = a.len().min(b.len());
        assert_eq!(a[..common], b[..common], "link {link:?} diverged");
        compared += common;
        drops += a[..common].iter().filter(|m| m.2).count();
        copies += a[..common].iter().filter(|m| m.3).count();
    }
    assert!(compared > 20, "only {compared} messages compared");
    assert!(
        drops > 0 && copies > 0,
        "faults were exercised ({drops} drops, {copies} copies)"
    );
    let (_, links_c) = per_link("32");
    assert_ne!(links_a, links_c, "another seed makes other decisions");
}

/// Per link (src, dest): (link sequence number, body, dropped?, duplicate copy?).
type LinkLog = BTreeMap<(String, String), Vec<(u64, String, bool, bool)>>;

fn journal(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("net-journal.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line parses"))
        .collect()
}

fn is_client(e: &Value) -> bool {
    e["src"].as_str().unwrap().starts_with('c') || e["dest"].as_str().unwrap().starts_with('c')
}

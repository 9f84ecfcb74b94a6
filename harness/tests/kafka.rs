//! End to end: the kafka workload with real node processes through the real binary —
//! the example node (logs in lin-kv) passes on one and two nodes, and each buggy
//! fixture fails with exactly the anomaly its bug produces, named in results.json and
//! explained in a sentence on stdout.

mod support;

use serde_json::Value;
use support::{example, fixture, s, straum_cmd, Run};

/// A short kafka run: 5 s at 200 ops/s, two clients per node, 1 s of recovery.
fn kafka(node: &str, nodes: &str, seed: &str) -> Run {
    straum_cmd(&format!(
        "test -w kafka --bin {} --node-count {} --concurrency 2n --time-limit 5 --rate 200 --recovery-time 1 --seed {}",
        node,
        nodes,
        seed
    ))
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// Assert a run failed with `anomaly` among the workload's bad error types and a
/// sentence containing `sentence` on stdout.
fn assert_fails_with(run: &Run, anomaly: &str, sentence: &str) {
    assert_eq!(run.code, Some(1), "{}", run.output());
    let workload = &run.results()["workload"];
    assert_eq!(workload["valid?"], false, "{}", run.output());
    let bad = strings(&workload["bad-error-types"]);
    assert!(
        bad.contains(&anomaly.to_string()),
        "{bad:?}\n{}",
        run.output()
    );
    assert!(
        workload[anomaly]["count"].as_u64().unwrap_or(0) > 0,
        "{}",
        run.output()
    );
    assert!(run.stdout.contains(sentence), "{}", run.output());
    assert!(run.stdout.contains("reproduce"), "{}", run.output());
}

#[test]
fn the_kafka_example_passes_on_one_and_two_nodes() {
    let node = example("kafka");
    for nodes in ["1", "2"] {
        let run = kafka(s(&node), nodes, "51");
        assert_eq!(run.code, Some(0), "{}", run.output());
        let results = run.results();
        let workload = &results["workload"];
        assert_eq!(workload["valid?"], true);
        assert_eq!(workload["error-types"], Value::Array(Vec::new()));
        assert!(workload["worst-realtime-lag"]["lag"].is_number());
        assert!(run.stdout.contains("no anomalies"), "{}", run.output());
        let by_f = &results["stats"]["by-f"];
        for f in ["send", "poll", "assign"] {
            assert!(by_f[f]["ok-count"].as_u64().unwrap() > 0, "{f}: {by_f}");
        }
        // The services' traffic counts as server messages.
        assert!(results["net"]["servers"]["msgs-per-op"].as_f64().unwrap() > 1.0);
        // Final phase per worker: a crash, an assign of every key from the start, and
        // polls until caught up.
        let history = run.history();
        let finals: Vec<&Value> = history
            .iter()
            .filter(|op| op["final?"] == true && op["type"] != "invoke")
            .collect();
        let workers = if nodes == "1" { 2 } else { 4 };
        let count = |f: &str| finals.iter().filter(|op| op["f"] == f).count();
        assert_eq!(count("crash"), workers);
        assert!(count("assign") >= workers);
        assert!(count("poll") >= workers);
        assert!(finals
            .iter()
            .filter(|op| op["f"] == "assign")
            .all(|op| op["type"] == "ok" && op["value"].as_array().unwrap().len() > 1));
    }
}

#[test]
fn per_node_logs_pass_alone_but_give_inconsistent_offsets_on_two_nodes() {
    let node = fixture("kafka_per_node_logs.py");
    let alone = kafka(s(&node), "1", "52");
    assert_eq!(alone.code, Some(0), "{}", alone.output());
    let run = kafka(s(&node), "2", "52");
    assert_fails_with(
        &run,
        "inconsistent-offsets",
        "held 2 different messages at offset",
    );
    let workload = &run.results()["workload"];
    let err = &workload["inconsistent-offsets"]["errs"][0];
    assert_eq!(err["values"].as_array().unwrap().len(), 2);
    assert!(err["key"].as_str().unwrap().parse::<u64>().is_ok());
}

#[test]
fn a_node_dropping_acknowledged_sends_loses_writes() {
    let run = kafka(s(&fixture("kafka_drops_acked_send.py")), "1", "53");
    assert_fails_with(&run, "lost-write", "but no poll ever returned it, although");
    let workload = &run.results()["workload"];
    assert!(strings(&workload["bad-error-types"]).contains(&"unseen".to_string()));
    let lost = &workload["lost-write"]["errs"][0];
    assert!(lost["offset"].as_i64().unwrap() <= lost["max-read-offset"].as_i64().unwrap());
    assert_eq!(lost["writer"]["f"], "send");
}

#[test]
fn a_node_starting_polls_one_late_skips_messages() {
    let run = kafka(s(&fixture("kafka_poll_skips.py")), "1", "54");
    assert_fails_with(&run, "poll-skip", ", skipping existing offset");
    let workload = &run.results()["workload"];
    // Final polls start at 0, which this node serves correctly: nothing is lost.
    assert_eq!(
        strings(&workload["bad-error-types"]),
        ["poll-skip"],
        "{}",
        run.output()
    );
    let err = &workload["poll-skip"]["errs"][0];
    assert!(err["delta"].as_i64().unwrap() > 1);
    assert_eq!(err["skipped-count"], 1);
}

#[test]
fn a_node_making_up_messages_returns_phantoms() {
    let run = kafka(s(&fixture("kafka_phantom.py")), "1", "55");
    assert_fails_with(&run, "phantom", "but no client ever sent");
    let workload = &run.results()["workload"];
    // The made-up messages sit at offsets of their own: nothing else is wrong.
    assert_eq!(
        strings(&workload["bad-error-types"]),
        ["phantom"],
        "{}",
        run.output()
    );
    let err = &workload["phantom"]["errs"][0];
    let key = err["key"].as_str().unwrap();
    let offset = err["offset"].as_i64().unwrap();
    let value = err["value"].as_i64().unwrap();
    assert!(value < 0, "{err}");
    assert_eq!(err["reader"]["f"], "poll");
    assert!(err["reader"]["index"].is_u64() && err["reader"]["process"].is_u64());
    // The summary names key, offset and message.
    let sentence = format!(
        "returned message {value} at offset {offset} of key {key:?}, but no client ever sent \
         {value} to key {key:?}: a message nobody wrote was read"
    );
    assert!(
        run.stdout.contains(&sentence),
        "{sentence}\n{}",
        run.output()
    );
}

//! End to end: the transactional workloads with real node processes through the real
//! binary — the example nodes pass Gossip Glomers 6a/6b/6c (txn-rw-register) and the
//! lin-kv-backed list-append command (shortened), each buggy fixture fails with exactly
//! the anomaly its bug produces, named in results.json and on stdout, unknown
//! consistency models are refused, and malformed replies become
//! `malformed-rpc-response` info ops.

mod support;

use serde_json::Value;
use support::{example, fixture, s, straum_cmd, Run};

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// The anomaly types the transactional checker reported.
fn anomaly_types(run: &Run) -> Vec<String> {
    strings(&run.results()["workload"]["anomaly-types"])
}

/// Assert a run passed: exit 0, a valid workload with no anomalies, and every client
/// op answered ok when `total` availability was asked for.
fn assert_passes(run: &Run, total: bool) {
    assert_eq!(run.code, Some(0), "{}", run.output());
    let results = run.results();
    assert_eq!(results["workload"]["valid?"], true, "{}", run.output());
    assert_eq!(anomaly_types(run), Vec::<String>::new());
    let txns = &results["stats"]["by-f"]["txn"];
    assert!(txns["ok-count"].as_u64().unwrap() > 100, "{txns}");
    if total {
        assert_eq!(results["availability"]["ok-fraction"], 1.0, "{results}");
    }
}

/// Assert a run failed with `anomaly` among the checker's anomaly types (and, when
/// `only`, nothing else), with witnesses in results.json and the name on stdout.
fn assert_fails_with(run: &Run, anomalies: &[&str], only: bool) {
    assert_eq!(run.code, Some(1), "{}", run.output());
    let workload = &run.results()["workload"];
    assert_eq!(workload["valid?"], false, "{}", run.output());
    let found = anomaly_types(run);
    let named: Vec<&str> = anomalies
        .iter()
        .copied()
        .filter(|a| found.iter().any(|f| f == a))
        .collect();
    assert!(
        !named.is_empty(),
        "expected one of {anomalies:?}, got {found:?}"
    );
    if only {
        assert_eq!(found.len(), named.len(), "{found:?}\n{}", run.output());
    }
    for anomaly in named {
        let witnesses = workload["anomalies"][anomaly].as_array();
        assert!(
            witnesses.is_some_and(|w| !w.is_empty()),
            "no {anomaly} witnesses: {workload}"
        );
        assert!(run.stdout.contains(anomaly), "{}", run.output());
    }
    assert!(run.stdout.contains("reproduce"), "{}", run.output());
}

/// A transactional run of `workload` against `bin` with extra flags.
fn txn(workload: &str, bin: &str, flags: &str) -> Run {
    straum_cmd(&format!("test -w {workload} --bin {bin} {flags}"))
}

#[test]
fn the_rw_register_example_passes_glomers_6a_6b_and_6c() {
    let node = example("txn-rw-register");
    // 6a: one node, read-uncommitted, total availability.
    let run = txn(
        "txn-rw-register",
        s(&node),
        "--node-count 1 --time-limit 4 --rate 1000 --concurrency 2n \
         --consistency-models read-uncommitted --availability total --seed 61",
    );
    assert_passes(&run, true);
    // 6b and 6c: two nodes under partitions, read-uncommitted then read-committed.
    for (models, seed) in [("read-uncommitted", 62), ("read-committed", 63)] {
        let run = txn(
            "txn-rw-register",
            s(&node),
            &format!(
                "--node-count 2 --time-limit 6 --rate 1000 --concurrency 2n \
                 --consistency-models {models} --availability total --nemesis partition \
                 --nemesis-interval 1 --seed {seed}"
            ),
        );
        assert_passes(&run, true);
        let partitions = run
            .history()
            .iter()
            .filter(|op| op["f"] == "start-partition")
            .count();
        assert!(partitions > 0, "no partition happened: {}", run.output());
    }
}

#[test]
fn the_list_append_example_on_lin_kv_is_strict_serializable() {
    let node = example("txn-list-append");
    let run = txn(
        "txn-list-append",
        s(&node),
        "--node-count 2 --time-limit 5 --rate 100 --concurrency 2n --seed 64",
    );
    assert_passes(&run, false);
    // The database lives in lin-kv: the service's traffic counts as server messages.
    assert!(
        run.results()["net"]["servers"]["msgs-per-op"]
            .as_f64()
            .unwrap()
            > 1.0
    );
}

#[test]
fn no_isolation_across_two_nodes_breaks_serializability() {
    let run = txn(
        "txn-rw-register",
        s(&fixture("txn_no_isolation.py")),
        "--node-count 2 --time-limit 4 --rate 200 --concurrency 2n \
         --consistency-models serializable --seed 65",
    );
    assert_fails_with(&run, &["G-single-item", "G2-item"], false);
}

#[test]
fn reading_an_aborted_write_is_g1a_under_read_committed() {
    let run = txn(
        "txn-rw-register",
        s(&fixture("txn_aborted_read.py")),
        "--node-count 1 --time-limit 4 --rate 200 --concurrency 2n \
         --consistency-models read-committed --seed 66",
    );
    assert_fails_with(&run, &["G1a"], true);
    let aborted = run
        .history()
        .iter()
        .filter(|op| op["type"] == "fail" && op["error"][0] == "txn-conflict")
        .count();
    assert!(aborted > 0, "the fixture aborts with error 30");
}

#[test]
fn reading_an_intermediate_write_is_g1b_under_read_committed() {
    let run = txn(
        "txn-rw-register",
        s(&fixture("txn_intermediate_read.py")),
        "--node-count 1 --time-limit 4 --rate 200 --concurrency 2n \
         --consistency-models read-committed --seed 67",
    );
    assert_fails_with(&run, &["G1b"], true);
}

#[test]
fn committing_a_stale_snapshot_blindly_loses_updates() {
    let run = txn(
        "txn-rw-register",
        s(&fixture("txn_lost_update.py")),
        "--node-count 1 --time-limit 4 --rate 200 --concurrency 2n --seed 68",
    );
    assert_fails_with(&run, &["lost-update"], false);
}

#[test]
fn echoing_the_request_reads_null_after_own_appends_an_internal_anomaly() {
    let run = txn(
        "txn-list-append",
        s(&fixture("txn_echo.py")),
        "--node-count 1 --time-limit 3 --rate 200 --concurrency 2n --seed 69",
    );
    assert_fails_with(&run, &["internal"], false);
}

#[test]
fn a_reordered_list_is_an_incompatible_order() {
    let run = txn(
        "txn-list-append",
        s(&fixture("txn_reorders_list.py")),
        "--node-count 1 --time-limit 4 --rate 200 --concurrency 2n --seed 70",
    );
    assert_fails_with(&run, &["incompatible-order"], false);
}

#[test]
fn unknown_consistency_models_are_refused() {
    for workload in ["txn-list-append", "txn-rw-register"] {
        let run = txn(
            workload,
            s(&fixture("fixture.py")),
            "--time-limit 1 --consistency-models serializable,snapshot-isolatoin",
        );
        assert_eq!(run.code, Some(254), "{}", run.output());
        assert!(
            run.stderr.contains("--consistency-models")
                && run.stderr.contains("\"snapshot-isolatoin\""),
            "{}",
            run.output()
        );
    }
}

#[test]
fn malformed_replies_are_indeterminate_malformed_rpc_responses() {
    let run = txn(
        "txn-rw-register",
        s(&fixture("txn_malformed_replies.py")),
        "--node-count 1 --time-limit 2 --rate 100 --seed 71",
    );
    assert!(
        matches!(run.code, Some(0..=2)),
        "the run went through: {}",
        run.output()
    );
    let history = run.history();
    let malformed: Vec<&Value> = history
        .iter()
        .filter(|op| op["exception"] == "malformed-rpc-response")
        .collect();
    assert!(!malformed.is_empty(), "{}", run.output());
    for op in &malformed {
        assert_eq!(op["type"], "info");
        assert_eq!(op["f"], "txn");
        // The info op carries the invoked transaction: reads still null.
        let txn = op["value"].as_array().unwrap();
        assert!(txn.iter().all(|m| m[0] != "r" || m[2].is_null()), "{op}");
        assert!(op["error"]
            .as_str()
            .unwrap()
            .starts_with("indeterminate: Malformed RPC response"));
    }
    let ok = history.iter().filter(|op| op["type"] == "ok").count();
    assert!(ok > 0, "well-formed replies are still ok");
    let exceptions = &run.results()["exceptions"]["exceptions"][0];
    assert_eq!(
        exceptions["class"], "malformed-rpc-response",
        "{exceptions}"
    );
}

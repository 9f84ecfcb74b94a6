//! Processes that invoke again before completing (Jepsen forbids it; Elle's own
//! tests do it): completions are paired by their micro-ops, no order is invented
//! between a process's overlapping transactions, and both paths agree.

use std::io::Cursor;

use serde_json::json;

use super::tests::{history, run, types};
use super::*;
use crate::OpType;

const OK: OpType = OpType::Ok;
const LA: TxnKind = TxnKind::ListAppend;

fn both(models: &str, ops: &[Op]) -> CheckResult {
    let options = ElleOptions {
        models: parse_models(models).unwrap(),
        timeout: Some(Duration::from_secs(10)),
    };
    let memory = check(ops, LA, &options);
    let text: String = ops
        .iter()
        .map(|op| serde_json::to_string(op).unwrap() + "\n")
        .collect();
    let streamed = stream::check_jsonl(Cursor::new(text), LA, &options).unwrap();
    assert_eq!(memory.valid, streamed.valid);
    assert_eq!(memory.findings, streamed.findings);
    memory
}

#[test]
fn three_invocations_then_three_completions_still_show_a_write_cycle() {
    // process 0 invokes all three before any completes; the read orders key 1 as
    // T1 then T2 and key 2 as T2 then T1: G0
    let h = [
        (0, 0, 3, OK, json!([["append", 1, 1], ["append", 2, 1]])),
        (0, 1, 4, OK, json!([["append", 1, 2], ["append", 2, 2]])),
        (0, 2, 5, OK, json!([["r", 1, [1, 2]], ["r", 2, [2, 1]]])),
    ];
    let r = both("serializable", &history(&h));
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.findings);
    assert_eq!(types(&r), ["G0"], "{:?}", r.findings);
    assert_eq!(r.fields["overlapping-invocations"], json!(2));
    assert!(r.findings.iter().any(|f| f.contains("paired")));
    // consistent orders are fine
    let mut fine = h.to_vec();
    fine[2].4 = json!([["r", 1, [1, 2]], ["r", 2, [1, 2]]]);
    assert_eq!(run(LA, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn a_completion_is_paired_with_the_invocation_it_matches() {
    // process 0 invokes A (read 5), then B (read 6); B completes first. Paired in
    // arrival order, A would look invoked after W completed and its empty read a
    // real-time G-single; paired by micro-ops, A and W overlap: valid
    let h = history(&[
        (0, 0, 5, OK, json!([["r", 5, []]])),
        (1, 1, 2, OK, json!([["append", 5, 1]])),
        (0, 3, 4, OK, json!([["r", 6, []]])),
    ]);
    let r = both("strict-serializable", &h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    // the same reads with W over before A began are a real-time G-single
    let late = history(&[
        (1, 0, 1, OK, json!([["append", 5, 1]])),
        (0, 2, 5, OK, json!([["r", 5, []]])),
        (0, 3, 4, OK, json!([["r", 6, []]])),
    ]);
    let r = both("strict-serializable", &late);
    assert_eq!(types(&r), ["G-single-item-realtime"], "{:?}", r.findings);
}

#[test]
fn overlapping_transactions_of_one_process_are_not_ordered() {
    // A appends 7, B (invoked while A is open) reads 7 as empty and completes
    // first: B precedes A (rw), and no process order says A came first
    let h = history(&[
        (0, 0, 3, OK, json!([["append", 7, 1]])),
        (0, 1, 2, OK, json!([["r", 7, []]])),
    ]);
    let r = both("strong-session-serializable", &h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    // in sequence, A then B, the empty read is a G-single through the process order
    let seq = history(&[
        (0, 0, 1, OK, json!([["append", 7, 1]])),
        (0, 2, 3, OK, json!([["r", 7, []]])),
        (1, 4, 5, OK, json!([["r", 7, [1]]])),
    ]);
    let r = both("strong-session-serializable", &seq);
    assert_eq!(types(&r), ["G-single-item-process"], "{:?}", r.findings);
}

#[test]
fn a_failure_that_matches_no_open_invocation_is_indeterminate() {
    // process 0 has two appends open; a failure whose value fits neither could be
    // either's, so neither append is known failed and reading it is no G1a
    let mut h = history(&[
        (0, 0, 3, OK, json!([["append", 8, 1]])),
        (0, 1, 2, OpType::Fail, json!([["append", 8, 2]])),
        (1, 4, 5, OK, json!([["r", 8, [2, 1]]])),
    ]);
    let fail = h.iter_mut().find(|op| op.kind == OpType::Fail).unwrap();
    fail.value = json!([["append", 8, 9]]);
    let r = check(&h, LA, &ElleOptions::default());
    assert!(!types(&r).contains(&"G1a".to_string()), "{:?}", r.findings);
    // matched by its value, the failure is known: reading its append is G1a
    let h = history(&[
        (0, 0, 3, OK, json!([["append", 8, 1]])),
        (0, 1, 2, OpType::Fail, json!([["append", 8, 2]])),
        (1, 4, 5, OK, json!([["r", 8, [2, 1]]])),
    ]);
    let r = check(&h, LA, &ElleOptions::default());
    assert!(types(&r).contains(&"G1a".to_string()), "{:?}", r.findings);
}

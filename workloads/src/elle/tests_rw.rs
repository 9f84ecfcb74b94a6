//! Hand-built rw-register histories (and the shared lost-update and list-append
//! dirty-update cases), each next to its nearest valid variant.

use serde_json::json;

use super::tests::{run, types};
use super::*;
use crate::OpType;

const OK: OpType = OpType::Ok;
const FAIL: OpType = OpType::Fail;
const RW: TxnKind = TxnKind::RwRegister;
const LA: TxnKind = TxnKind::ListAppend;

#[test]
fn a_serial_register_history_is_valid() {
    let r = run(
        RW,
        "strict-serializable",
        &[
            (0, 0, 1, OK, json!([["r", 1, null], ["w", 1, 1]])),
            (1, 2, 3, OK, json!([["r", 1, 1], ["w", 1, 2]])),
            (0, 4, 5, OK, json!([["r", 1, 2], ["r", 2, null]])),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
}

#[test]
fn register_write_skew_is_g2_item() {
    // Adya's H_ws: both read nil of the other's key, both write
    let skew = [
        (0, 0, 1, OK, json!([["r", 1, null], ["w", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 2, null], ["w", 1, 1]])),
    ];
    let r = run(RW, "serializable", &skew);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
    assert!(r.findings[0].contains("from key"), "{:?}", r.findings);
    // one of them saw the other's write: serializable
    let fine = [
        skew[0].clone(),
        (1, 2, 3, OK, json!([["r", 2, 1], ["w", 1, 1]])),
    ];
    assert_eq!(run(RW, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn register_read_skew_is_g_single() {
    // T1 writes x=1, y=1; T2 reads x=1 but y=nil
    let skew = [
        (0, 0, 1, OK, json!([["w", 1, 1], ["w", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 1, 1], ["r", 2, null]])),
    ];
    let r = run(RW, "snapshot-isolation", &skew);
    assert_eq!(types(&r), ["G-single-item"], "{:?}", r.findings);
    let fine = [
        skew[0].clone(),
        (1, 0, 1, OK, json!([["r", 1, 1], ["r", 2, 1]])),
    ];
    assert_eq!(run(RW, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn register_g1c_g1a_g1b_and_internal_are_found() {
    let g1c = [
        (0, 0, 1, OK, json!([["w", 1, 1], ["r", 2, 1]])),
        (1, 0, 1, OK, json!([["w", 2, 1], ["r", 1, 1]])),
    ];
    assert_eq!(types(&run(RW, "read-committed", &g1c)), ["G1c"]);
    let aborted = [
        (0, 0, 1, FAIL, json!([["w", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, 1]])),
    ];
    // no edges either, which Maelstrom's register wrapper also counts as a failure
    assert_eq!(
        types(&run(RW, "read-committed", &aborted)),
        ["G1a", "empty-transaction-graph"]
    );
    let mut fine = aborted.clone();
    fine[0].3 = OK;
    assert_eq!(run(RW, "read-committed", &fine).valid, Validity::Valid);
    let intermediate = [
        (0, 0, 1, OK, json!([["w", 1, 1], ["w", 1, 2]])),
        (1, 2, 3, OK, json!([["r", 1, 1]])),
    ];
    assert!(types(&run(RW, "read-committed", &intermediate)).contains(&"G1b".to_string()));
    let internal = [(0, 0, 1, OK, json!([["w", 1, 1], ["r", 1, 2]]))];
    assert!(types(&run(RW, "serializable", &internal)).contains(&"internal".to_string()));
    let fine = [
        (0, 0, 1, OK, json!([["w", 1, 1], ["r", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, 1]])),
    ];
    assert_eq!(run(RW, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn cyclic_versions_and_lost_updates_are_found() {
    let cyclic = [
        (0, 0, 1, OK, json!([["r", 1, 1], ["w", 1, 2]])),
        (1, 0, 1, OK, json!([["r", 1, 2], ["w", 1, 1]])),
    ];
    let r = run(RW, "read-uncommitted", &cyclic);
    assert!(
        types(&r).contains(&"cyclic-versions".to_string()),
        "{:?}",
        r.findings
    );
    let lost = [
        (0, 0, 1, OK, json!([["r", 1, null], ["w", 1, 1]])),
        (1, 0, 1, OK, json!([["r", 1, null], ["w", 1, 2]])),
    ];
    let r = run(RW, "snapshot-isolation", &lost);
    assert!(
        types(&r).contains(&"lost-update".to_string()),
        "{:?}",
        r.findings
    );
    let lost = [
        (0, 0, 1, OK, json!([["r", 1, [5]], ["append", 1, 1]])),
        (1, 0, 1, OK, json!([["r", 1, [5]], ["append", 1, 2]])),
        (2, 2, 3, OK, json!([["r", 1, [5, 1, 2]]])),
    ];
    let r = run(LA, "snapshot-isolation", &lost);
    assert!(
        types(&r).contains(&"lost-update".to_string()),
        "{:?}",
        r.findings
    );
    let fine = [
        lost[0].clone(),
        (1, 2, 3, OK, json!([["r", 1, [5, 1]], ["append", 1, 2]])),
        lost[2].clone(),
        (3, 0, 0, OK, json!([["append", 1, 5]])),
    ];
    let r = run(LA, "strict-serializable", &fine);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
}

#[test]
fn dirty_update_is_found() {
    let dirty = [
        (0, 0, 1, FAIL, json!([["append", 1, 1]])),
        (1, 2, 3, OK, json!([["append", 1, 2]])),
        (2, 4, 5, OK, json!([["r", 1, [1, 2]]])),
    ];
    let r = run(LA, "read-committed", &dirty);
    assert!(
        types(&r).contains(&"dirty-update".to_string()),
        "{:?}",
        r.findings
    );
    let mut fine = dirty.clone();
    fine[0].3 = OK;
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn register_empty_graph_is_a_failure_not_unknown() {
    let r = run(RW, "serializable", &[]);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(types(&r), ["empty-transaction-graph"]);
}

#[test]
fn future_read_is_found() {
    let future = [
        (0, 0, 1, OK, json!([["r", 1, [1]], ["append", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, [1]]])),
    ];
    let r = run(LA, "read-committed", &future);
    assert!(
        types(&r).contains(&"future-read".to_string()),
        "{:?}",
        r.findings
    );
    let fine = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["r", 1, [1]]])),
        (1, 2, 3, OK, json!([["r", 1, [1]]])),
    ];
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

//! Cycle classes the other test files do not reach: G-nonadjacent, and the
//! `-process` variants that only session models need.

use serde_json::json;

use super::tests::{run, types};
use super::*;
use crate::OpType;

const OK: OpType = OpType::Ok;
const LA: TxnKind = TxnKind::ListAppend;

#[test]
fn two_rw_edges_separated_by_wr_are_g_nonadjacent() {
    // T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1, on keys 1 and 2
    let cyc = [
        (0, 0, 1, OK, json!([["r", 1, null], ["r", 2, [1]]])),
        (1, 0, 1, OK, json!([["append", 1, 1]])),
        (2, 0, 1, OK, json!([["r", 1, [1]], ["r", 2, null]])),
        (3, 0, 1, OK, json!([["append", 2, 1]])),
    ];
    let r = run(LA, "serializable", &cyc);
    assert_eq!(types(&r), ["G-nonadjacent"], "{:?}", r.findings);
    assert_eq!(r.findings[0].matches("(rw)").count(), 2, "{:?}", r.findings);
    assert_eq!(r.findings[0].matches("(wr)").count(), 2, "{:?}", r.findings);
    // snapshot isolation forbids it too; read committed allows it
    assert_eq!(run(LA, "snapshot-isolation", &cyc).valid, Validity::Invalid);
    assert_eq!(run(LA, "read-committed", &cyc).valid, Validity::Valid);
    // T3 seeing T4's append breaks the cycle
    let mut fine = cyc.clone();
    fine[2].4 = json!([["r", 1, [1]], ["r", 2, [1]]]);
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn a_process_missing_its_own_append_is_g_single_process() {
    // process 0 appends 1 and then reads key 1 as empty; process 1 later sees [1]
    let cyc = [
        (0, 0, 1, OK, json!([["append", 1, 1]])),
        (0, 2, 3, OK, json!([["r", 1, null]])),
        (1, 4, 5, OK, json!([["r", 1, [1]]])),
    ];
    // serializable alone: no cycle without the process order
    let r = run(LA, "serializable", &cyc);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    let r = run(LA, "strong-session-serializable", &cyc);
    assert_eq!(types(&r), ["G-single-process"], "{:?}", r.findings);
    assert!(r.findings[0].contains("(process)"), "{:?}", r.findings);
    // the real-time order shows it too, and strict serializability names it so
    let r = run(LA, "strict-serializable", &cyc);
    assert_eq!(types(&r), ["G-single-realtime"], "{:?}", r.findings);
    let mut fine = cyc.clone();
    fine[1].4 = json!([["r", 1, [1]]]);
    assert_eq!(
        run(LA, "strong-session-serializable", &fine).valid,
        Validity::Valid
    );
}

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
    assert_eq!(types(&r), ["G-nonadjacent-item"], "{:?}", r.findings);
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
    assert_eq!(types(&r), ["G-single-item-process"], "{:?}", r.findings);
    assert!(r.findings[0].contains("(process)"), "{:?}", r.findings);
    // the real-time order shows it too, and strict serializability names it so
    let r = run(LA, "strict-serializable", &cyc);
    assert_eq!(types(&r), ["G-single-item-realtime"], "{:?}", r.findings);
    let mut fine = cyc.clone();
    fine[1].4 = json!([["r", 1, [1]]]);
    assert_eq!(
        run(LA, "strong-session-serializable", &fine).valid,
        Validity::Valid
    );
}

#[test]
fn a_key_appended_once_orders_its_empty_reads_before_the_append() {
    // textbook write skew: each reads the other's key as empty and appends to its
    // own; no read ever shows an element, yet each append is the key's only one, so
    // each empty read precedes the other's append (rw both ways: G2-item)
    let skew = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["r", 2, null]])),
        (1, 0, 1, OK, json!([["append", 2, 1], ["r", 1, null]])),
    ];
    let r = run(LA, "serializable", &skew);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
    assert!(r.findings[0].contains("as empty"), "{:?}", r.findings);
    // with a second append to key 2, its first element is unknown: no rw edge to
    // either appender can be inferred, so no cycle is claimed
    let mut two = skew.to_vec();
    two.push((2, 2, 3, OK, json!([["append", 2, 2]])));
    assert_eq!(run(LA, "serializable", &two).valid, Validity::Valid);
    // snapshot isolation allows write skew
    assert_eq!(run(LA, "snapshot-isolation", &skew).valid, Validity::Valid);
}

#[test]
fn the_one_append_no_read_shows_is_the_next_version() {
    // key 9: 2 is read, 5 never is, so 5 follows 2 and T3 (read [2]) precedes T2's
    // append of 5; key 6 is appended once, so T2's empty read precedes T3: G2-item
    let h = [
        (0, 0, 1, OK, json!([["append", 9, 2]])),
        (1, 2, 3, OK, json!([["r", 6, null], ["append", 9, 5]])),
        (2, 2, 3, OK, json!([["append", 6, 2], ["r", 9, [2]]])),
    ];
    let r = run(LA, "repeatable-read", &h);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
    // a second unseen append to key 9 leaves its order open: no cycle is claimed
    let mut open = h.to_vec();
    open.push((3, 4, 5, OK, json!([["append", 9, 7]])));
    assert_eq!(run(LA, "repeatable-read", &open).valid, Validity::Valid);
}

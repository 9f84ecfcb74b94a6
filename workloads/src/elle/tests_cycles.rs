//! Cycle classes the other test files do not reach: G-nonadjacent, and the
//! `-process` variants that only session models need.

use serde_json::json;

use super::tests::{run, types, T};
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
    // with a second append to key 2 its first element is unknown, but the empty read
    // precedes both appends all the same (through whichever came first), as Elle
    // infers: still G2-item
    let mut two = skew.to_vec();
    two.push((2, 2, 3, OK, json!([["append", 2, 2]])));
    assert_eq!(types(&run(LA, "serializable", &two)), ["G2-item"]);
    // one of them seeing the other's append breaks the cycle
    let mut seen = two.clone();
    seen[1].4 = json!([["append", 2, 1], ["r", 1, [1]]]);
    assert_eq!(run(LA, "serializable", &seen).valid, Validity::Valid);
    // snapshot isolation allows write skew
    assert_eq!(run(LA, "snapshot-isolation", &skew).valid, Validity::Valid);
}

#[test]
fn appends_no_read_shows_follow_the_longest_read() {
    // key 9: 2 is read, 5 never is, so 5 follows 2 and T3 (read [2]) precedes T2's
    // append of 5; key 6 is appended once, so T2's empty read precedes T3: G2-item
    let h = [
        (0, 0, 1, OK, json!([["append", 9, 2]])),
        (1, 2, 3, OK, json!([["r", 6, null], ["append", 9, 5]])),
        (2, 2, 3, OK, json!([["append", 6, 2], ["r", 9, [2]]])),
    ];
    let r = run(LA, "repeatable-read", &h);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
    // a second unseen append to key 9 leaves open which comes next, but both follow
    // 2, so T3 still precedes T2 (Elle's unobserved-write inference)
    let mut open = h.to_vec();
    open.push((3, 4, 5, OK, json!([["append", 9, 7]])));
    assert_eq!(types(&run(LA, "repeatable-read", &open)), ["G2-item"]);
    // T3 seeing 5 after 2 breaks the cycle
    let mut fine = open.clone();
    fine[2].4 = json!([["append", 6, 2], ["r", 9, [2, 5]]]);
    assert_eq!(run(LA, "repeatable-read", &fine).valid, Validity::Valid);
}

/// Elle's `unfindable-g-single` in miniature: a ring of `n` transactions chained by
/// appends to key 1000, whose last misses the first's append to key 1001 (one rw
/// edge closing a G-single), drowned in `n - 2` decoy chains that each close only a
/// G2-item through an rw edge back to the ring's first transaction.
fn g_single_among_decoys(n: u64, chain: u64) -> Vec<T> {
    let mut txns = Vec::new();
    let mut at = 0;
    let mut push = |p: u64, value: serde_json::Value| {
        txns.push((p, at, at, OK, value));
        at += 1;
    };
    for i in 0..n {
        let other = match i {
            0 => json!(["append", 1001, 0]),
            _ if i == n - 1 => json!(["r", 1001, null]),
            _ => json!(["append", i, 0]),
        };
        push(0, json!([["append", 1000, i], other]));
    }
    push(1, json!([["r", 1000, (0..n).collect::<Vec<_>>()]]));
    for i in 1..n - 1 {
        for j in 1..chain {
            let value = if j == chain - 2 {
                json!([
                    ["r", i, (0..chain - 2).collect::<Vec<_>>()],
                    ["r", 2000 + i, null]
                ])
            } else if j == chain - 1 {
                json!([["append", 2000 + i, 0], ["r", 1000, null]])
            } else {
                json!([["append", i, j]])
            };
            push(2, value);
        }
    }
    txns
}

#[test]
fn a_g_single_hidden_among_many_g2_item_decoys_is_found() {
    // 78 decoy rw edges into the ring's head look likelier than the one that closes
    // the G-single; a search that tries a few dozen starting edges never reaches it
    let h = g_single_among_decoys(80, 4);
    let r = run(LA, "snapshot-isolation", &h);
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.findings);
    assert!(
        types(&r).iter().any(|t| t == "G-single-item"),
        "{:?} {:?}",
        types(&r),
        r.findings
    );
    let cited = r
        .findings
        .iter()
        .find(|f| f.starts_with("G-single-item"))
        .expect("a G-single finding");
    assert_eq!(cited.matches("(rw)").count(), 1, "{cited}");
    // the ring's last transaction seeing the first's append leaves only the decoys'
    // G2-items, which snapshot isolation allows
    let mut fine = h.clone();
    fine[79].4 = json!([["append", 1000, 79], ["r", 1001, [0]]]);
    let r = run(LA, "snapshot-isolation", &fine);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    let r = run(LA, "serializable", &fine);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
}

#[test]
fn every_append_a_read_misses_follows_the_last_element_it_shows() {
    // T1, T2, T3 append 1, 2, 3 to keys 1 and 2; key 1 is read as [1 2], key 2 as
    // [2]: on key 2, both 1 and 3 come after 2, so T2 precedes T1 there (ww) while
    // T1 precedes T2 on key 1: G0, though no read orders 1 after 2 directly
    let h = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["append", 2, 1]])),
        (1, 0, 1, OK, json!([["append", 1, 2], ["append", 2, 2]])),
        (2, 0, 1, OK, json!([["append", 1, 3], ["append", 2, 3]])),
        (3, 2, 3, OK, json!([["r", 1, [1, 2]]])),
        (4, 2, 3, OK, json!([["r", 2, [2]]])),
    ];
    let r = run(LA, "serializable", &h);
    assert!(types(&r).contains(&"G0".to_string()), "{:?}", r.findings);
    assert_eq!(r.valid, Validity::Invalid);
    // key 2 read as [1 2] agrees with key 1: nothing
    let mut fine = h.to_vec();
    fine[4].4 = json!([["r", 2, [1, 2]]]);
    assert_eq!(run(LA, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn a_g_nonadjacent_hidden_among_g2_item_decoys_is_found() {
    // the same decoys; the ring's last transaction misses X's append (rw), X's other
    // append is read by Y (wr), and Y reads the ring's key as empty (rw to its
    // first): rw, wr, rw, then ww round the ring — no two rw edges in a row
    // (X and Y complete right after the ring's read, before the decoys, so their
    // rw edge into the ring's head is not among the likeliest-looking ones)
    let mut h = g_single_among_decoys(80, 4);
    h[79].4 = json!([["append", 1000, 79], ["r", 3001, null]]);
    let x = (
        3,
        80,
        80,
        OK,
        json!([["append", 3001, 0], ["append", 3002, 0]]),
    );
    let y = (4, 80, 80, OK, json!([["r", 3002, [0]], ["r", 1000, null]]));
    h.insert(81, y);
    h.insert(81, x);
    let r = run(LA, "snapshot-isolation", &h);
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.findings);
    assert!(
        types(&r).iter().any(|t| t == "G-nonadjacent-item"),
        "{:?} {:?}",
        types(&r),
        r.findings
    );
    // Y seeing the ring's appends leaves only the decoys' G2-items
    let mut fine = h.clone();
    fine[82].4 = json!([["r", 3002, [0]], ["r", 1000, (0..80).collect::<Vec<_>>()]]);
    assert_eq!(run(LA, "snapshot-isolation", &fine).valid, Validity::Valid);
}

//! Hand-built histories, one per anomaly kind, each next to its nearest valid
//! variant.

use serde_json::{json, Value};

use super::*;
use crate::{OpType, Process};

/// One transaction: process, invoke and completion times (s), completion type, the
/// completed micro-ops (reads filled in).
pub(super) type T = (u64, u64, u64, OpType, Value);

pub(super) fn history(txns: &[T]) -> Vec<Op> {
    let mut events = Vec::new();
    for (p, start, end, kind, value) in txns {
        let invoked: Vec<Value> = value
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                if m[0] == "r" {
                    json!([m[0], m[1], null])
                } else {
                    m.clone()
                }
            })
            .collect();
        events.push((*start * 2, *p, OpType::Invoke, Value::Array(invoked)));
        events.push((*end * 2 + 1, *p, *kind, value.clone()));
    }
    events.sort_by_key(|e| (e.0, e.1));
    events
        .into_iter()
        .enumerate()
        .map(|(i, (time, p, kind, value))| Op {
            index: i as u64,
            time: time * 500_000_000,
            kind,
            process: Process::Client(p),
            f: "txn".into(),
            value,
            error: None,
            exception: None,
            final_read: false,
            node: None,
        })
        .collect()
}

pub(super) fn run(kind: TxnKind, models: &str, txns: &[T]) -> CheckResult {
    let options = ElleOptions {
        models: parse_models(models).unwrap(),
        timeout: Some(Duration::from_secs(10)),
    };
    check(&history(txns), kind, &options)
}

pub(super) fn types(r: &CheckResult) -> Vec<String> {
    r.fields
        .get("anomaly-types")
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

const OK: OpType = OpType::Ok;
const FAIL: OpType = OpType::Fail;
const LA: TxnKind = TxnKind::ListAppend;

#[test]
fn a_serial_list_append_history_is_valid() {
    let r = run(
        LA,
        "strict-serializable",
        &[
            (0, 0, 1, OK, json!([["append", 1, 1], ["r", 1, [1]]])),
            (1, 2, 3, OK, json!([["r", 1, [1]], ["append", 1, 2]])),
            (0, 4, 5, OK, json!([["r", 1, [1, 2]], ["r", 2, null]])),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    assert!(types(&r).is_empty());
}

#[test]
fn g0_write_cycle_is_found() {
    // T1 appends 1 to x then 2 to y; T2 appends 2 to x... the reads order them both ways
    let cyc = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["append", 2, 2]])),
        (1, 0, 1, OK, json!([["append", 1, 2], ["append", 2, 1]])),
        (2, 2, 3, OK, json!([["r", 1, [1, 2]], ["r", 2, [1, 2]]])),
    ];
    let r = run(LA, "read-uncommitted", &cyc);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(types(&r), ["G0"]);
    assert_eq!(r.fields["not"], json!(["read-uncommitted"]));
    assert!(r.findings[0].contains("(ww)"), "{:?}", r.findings);
    assert_eq!(r.pages.len(), 1);
    assert!(r.pages[0].name == "elle-G0-1.svg");
    let mut fine = cyc.clone();
    fine[2].4 = json!([["r", 1, [1, 2]], ["r", 2, [2, 1]]]);
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn g1c_circular_information_flow_is_found() {
    // T1 reads T2's append, T2 reads T1's append
    let cyc = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["r", 2, [1]]])),
        (1, 0, 1, OK, json!([["append", 2, 1], ["r", 1, [1]]])),
    ];
    let r = run(LA, "read-committed", &cyc);
    assert_eq!(types(&r), ["G1c"], "{:?}", r.findings);
    let fine = [
        cyc[0].clone(),
        (1, 0, 1, OK, json!([["append", 2, 1], ["r", 1, null]])),
    ];
    let r = run(LA, "serializable", &fine);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
}

#[test]
fn g_single_read_skew_is_found() {
    // Adya's read skew: T2 sees T1's x but not T1's y
    let cyc = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["append", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 1, [1]], ["r", 2, null]])),
        (2, 2, 3, OK, json!([["r", 2, [1]]])),
    ];
    let r = run(LA, "serializable", &cyc);
    assert_eq!(types(&r), ["G-single-item"], "{:?}", r.findings);
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("does not include") && f.contains("(rw)")),
        "{:?}",
        r.findings
    );
    // read-committed allows it
    assert_eq!(run(LA, "read-committed", &cyc).valid, Validity::Valid);
    let mut fine = cyc.clone();
    fine[1].4 = json!([["r", 1, [1]], ["r", 2, [1]]]);
    assert_eq!(run(LA, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn g2_write_skew_is_found() {
    let cyc = [
        (0, 0, 1, OK, json!([["r", 1, null], ["append", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 2, null], ["append", 1, 1]])),
        (2, 2, 3, OK, json!([["r", 1, [1]], ["r", 2, [1]]])),
    ];
    let r = run(LA, "serializable", &cyc);
    assert_eq!(types(&r), ["G2-item"], "{:?}", r.findings);
    assert_eq!(run(LA, "snapshot-isolation", &cyc).valid, Validity::Valid);
    let mut fine = cyc.clone();
    fine[1].4 = json!([["r", 2, [1]], ["append", 1, 1]]);
    assert_eq!(run(LA, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn stale_read_is_realtime_but_serializable() {
    // T1 appends and completes; T2, invoked later, does not see it
    let stale = [
        (0, 0, 1, OK, json!([["append", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, null]])),
        (2, 4, 5, OK, json!([["r", 1, [1]]])),
    ];
    let r = run(LA, "strict-serializable", &stale);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(types(&r), ["G-single-item-realtime"], "{:?}", r.findings);
    assert!(r.findings.iter().any(|f| f.contains("(realtime)")));
    assert_eq!(run(LA, "serializable", &stale).valid, Validity::Valid);
    let mut fine = stale.clone();
    fine[1].1 = 0; // concurrent with T1
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn aborted_intermediate_and_garbage_reads_are_found() {
    let h = [
        (0, 0, 1, FAIL, json!([["append", 1, 1]])),
        (1, 0, 1, OK, json!([["append", 2, 1], ["append", 2, 2]])),
        (
            2,
            2,
            3,
            OK,
            json!([["r", 1, [1]], ["r", 2, [1]], ["r", 3, [9]]]),
        ),
    ];
    let r = run(LA, "read-committed", &h);
    assert_eq!(
        types(&r),
        ["G1a", "G1b", "garbage-read"],
        "{:?}",
        r.findings
    );
    let fine = [
        h[0].clone(),
        h[1].clone(),
        (
            2,
            2,
            3,
            OK,
            json!([["r", 1, null], ["r", 2, [1, 2]], ["r", 3, null]]),
        ),
    ];
    assert_eq!(run(LA, "read-committed", &fine).valid, Validity::Valid);
}

#[test]
fn internal_duplicate_and_incompatible_orders_are_found() {
    let h = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["r", 1, [2]]])),
        (1, 0, 1, OK, json!([["append", 1, 2]])),
        (2, 2, 3, OK, json!([["r", 1, [2, 1]], ["r", 1, [2, 1]]])),
        (3, 2, 3, OK, json!([["r", 1, [1, 2, 1]]])),
    ];
    let r = run(LA, "serializable", &h);
    let t = types(&r);
    assert!(t.contains(&"internal".to_string()), "{t:?}");
    assert!(t.contains(&"duplicate-elements".to_string()), "{t:?}");
    assert!(t.contains(&"incompatible-order".to_string()), "{t:?}");
    let fine = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["r", 1, [2, 1]]])),
        h[1].clone(),
        (2, 2, 3, OK, json!([["r", 1, [2, 1]], ["r", 1, [2, 1]]])),
    ];
    assert_eq!(run(LA, "strict-serializable", &fine).valid, Validity::Valid);
}

#[test]
fn malformed_completions_are_counted_not_fatal() {
    let mut h = history(&[
        (0, 0, 1, OK, json!([["append", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, [1]]])),
    ]);
    h[1].value = json!("garbage");
    h[3].value = json!([["r", 1, {"x": 1}]]);
    let r = check(&h, LA, &ElleOptions::default());
    assert_eq!(r.fields["malformed"], json!(2));
    assert!(r
        .findings
        .iter()
        .any(|f| f.contains("could not be decoded")));
}

#[test]
fn a_tiny_timeout_is_unknown() {
    let h: Vec<T> = (0..3000)
        .map(|i| {
            (
                i % 5,
                i,
                i + 1,
                OK,
                json!([["append", i, i], ["r", i, [i]]]),
            )
        })
        .collect();
    let options = ElleOptions {
        models: vec!["strict-serializable".into()],
        timeout: Some(Duration::ZERO),
    };
    let r = check(&history(&h), LA, &options);
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.findings);
    assert!(types(&r).contains(&"cycle-search-timeout".to_string()));
}

#[test]
fn an_empty_history_is_unknown() {
    let r = check(&[], LA, &ElleOptions::default());
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(types(&r), ["empty-transaction-graph"]);
}

const RW: TxnKind = TxnKind::RwRegister;

#[test]
fn rw_register_serial_history_is_valid() {
    let r = run(
        RW,
        "strict-serializable",
        &[
            (0, 0, 1, OK, json!([["r", 1, null], ["w", 1, 1]])),
            (1, 2, 3, OK, json!([["r", 1, 1], ["w", 1, 2]])),
            (0, 4, 5, OK, json!([["r", 1, 2]])),
        ],
    );
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
}

#[test]
fn rw_register_lost_update_and_g_single_are_found() {
    // both read nil and wrote: a lost update, and each precedes the other (rw)
    let h = [
        (0, 0, 1, OK, json!([["r", 1, null], ["w", 1, 1]])),
        (1, 0, 1, OK, json!([["r", 1, null], ["w", 1, 2]])),
    ];
    let r = run(RW, "serializable", &h);
    let t = types(&r);
    assert!(
        t.contains(&"lost-update".to_string()) && t.contains(&"G2-item".to_string()),
        "{t:?} {:?}",
        r.findings
    );
    // read skew: T2 read T1's x (wr) but y's nil, which T1 overwrote (rw)
    let skew = [
        (
            0,
            0,
            1,
            OK,
            json!([["r", 2, null], ["w", 1, 1], ["w", 2, 1]]),
        ),
        (1, 0, 1, OK, json!([["r", 1, 1], ["r", 2, null]])),
    ];
    let r = run(RW, "serializable", &skew);
    assert_eq!(types(&r), ["G-single-item"], "{:?}", r.findings);
    let fine = [
        skew[0].clone(),
        (1, 0, 1, OK, json!([["r", 1, 1], ["r", 2, 1]])),
    ];
    assert_eq!(run(RW, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn rw_register_dirty_reads_and_internal_are_found() {
    let h = [
        (0, 0, 1, FAIL, json!([["w", 1, 1]])),
        (1, 0, 1, OK, json!([["w", 2, 1], ["w", 2, 2]])),
        (
            2,
            2,
            3,
            OK,
            json!([
                ["r", 1, 1],
                ["r", 2, 1],
                ["r", 3, 7],
                ["w", 4, 1],
                ["r", 4, 2]
            ]),
        ),
    ];
    let r = run(RW, "read-committed", &h);
    let t = types(&r);
    for a in ["G1a", "G1b", "garbage-read"] {
        assert!(t.contains(&a.to_string()), "{a} {t:?}");
    }
    assert!(run(RW, "serializable", &h).fields["anomaly-types"]
        .as_array()
        .unwrap()
        .contains(&json!("internal")));
    let fine = [
        h[0].clone(),
        h[1].clone(),
        (
            2,
            2,
            3,
            OK,
            json!([["r", 1, null], ["r", 2, 2], ["w", 4, 1], ["r", 4, 1]]),
        ),
    ];
    assert_eq!(run(RW, "serializable", &fine).valid, Validity::Valid);
}

#[test]
fn rw_register_never_says_unknown() {
    let r = check(&[], RW, &ElleOptions::default());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(types(&r), ["empty-transaction-graph"]);
}

#[test]
fn a_cycle_is_drawn_with_its_transactions_and_labelled_arrows() {
    let cyc = [
        (0, 0, 1, OK, json!([["r", 1, null], ["append", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 2, null], ["append", 1, "<&>"]])),
        (2, 2, 3, OK, json!([["r", 1, ["<&>"]], ["r", 2, [1]]])),
    ];
    let r = run(LA, "serializable", &cyc);
    let page = &r.pages[0];
    assert_eq!(page.name, "elle-G2-item-1.svg");
    assert!(page
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
    assert!(page.text.starts_with("<svg") && page.text.contains(">rw<"));
    assert!(page.text.contains("&lt;&amp;&gt;") && !page.text.contains("<&>"));
    assert_eq!(page.text.matches("<rect x=").count(), 2);
}

#[test]
fn values_compare_exactly_by_their_text() {
    // 1 and 1.0 and a big integer beyond i64 are distinct values, never rounded
    let h = [
        (0, 0, 1, OK, json!([["append", 1, 1]])),
        (1, 2, 3, OK, json!([["r", 1, [1]]])),
    ];
    assert_eq!(run(LA, "strict-serializable", &h).valid, Validity::Valid);
    let big: Value =
        serde_json::from_str("[[\"r\", 1, [1, 123456789012345678901234567890]]]").unwrap();
    let garbage = [h[0].clone(), (1, 2, 3, OK, big)];
    let r = run(LA, "strict-serializable", &garbage);
    assert_eq!(types(&r), ["garbage-read"], "{:?}", r.findings);
    assert!(
        r.findings[0].contains("123456789012345678901234567890"),
        "{:?}",
        r.findings
    );
    let float: Value = serde_json::from_str("[[\"r\", 1, [1.0]]]").unwrap();
    let r = run(
        LA,
        "strict-serializable",
        &[h[0].clone(), (1, 2, 3, OK, float)],
    );
    assert_eq!(types(&r), ["garbage-read"], "{:?}", r.findings);
}

#[test]
fn long_histories_decode_on_two_threads_with_the_same_atoms() {
    // negative keys and values are interned (not their own atoms); the reader in the
    // second half must see the first half's key and value as the same atoms
    let mut h: Vec<T> = (0..30_000u64)
        .map(|i| {
            (
                i % 7,
                2 * i,
                2 * i + 1,
                OK,
                json!([["append", -1 - i as i64, -7]]),
            )
        })
        .collect();
    h.push((
        8,
        70_000,
        70_001,
        OK,
        json!([["r", -1, [-7]], ["r", -2, [-7]]]),
    ));
    let r = run(LA, "strict-serializable", &h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.findings);
    let last = h.len() - 1;
    h[last].4 = json!([["r", -1, [-7, -8]]]);
    let r = run(LA, "strict-serializable", &h);
    assert_eq!(types(&r), ["garbage-read"], "{:?}", r.findings);
    assert!(
        r.findings[0].contains("-8") && r.findings[0].contains("key -1"),
        "{:?}",
        r.findings
    );
}

#[test]
fn a_long_cycle_is_found_explained_briefly_and_not_drawn() {
    // txn i reads key i as empty and appends to key i+1 (mod n): a ring of rw edges
    let n = 3000u64;
    let mut h: Vec<T> = (0..n)
        .map(|i| {
            (
                i,
                0,
                1,
                OK,
                json!([["r", i, null], ["append", (i + 1) % n, 1]]),
            )
        })
        .collect();
    let all: Vec<Value> = (0..n).map(|k| json!(["r", k, [1]])).collect();
    h.push((n, 2, 3, OK, Value::Array(all)));
    let r = run(LA, "serializable", &h);
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(types(&r), ["G2-item"], "{:?}", &r.findings[..1]);
    assert!(
        r.findings[0].contains("a cycle of 3000 transactions")
            && r.findings[0].contains("more edges")
    );
    assert!(r.findings[0].len() < 40_000, "{}", r.findings[0].len());
    assert!(r.pages.is_empty());
}

#[test]
fn a_read_without_a_value_read_nothing() {
    // Elle's tests write `[:r :y]` for an empty read: T2 then misses T1's append to
    // key 2 while following it on key 1 (G-single)
    let h = [
        (0, 0, 1, OK, json!([["append", 1, 1], ["append", 2, 1]])),
        (1, 2, 3, OK, json!([["append", 1, 2], ["r", 2]])),
        (2, 4, 5, OK, json!([["r", 1, [1, 2]]])),
    ];
    let r = run(LA, "serializable", &h);
    assert_eq!(types(&r), ["G-single-item"], "{:?}", r.findings);
    assert!(!r.fields.contains_key("malformed"), "{:?}", r.findings);
    // a write without a value is still malformed
    let mut bad = history(&h);
    bad[3].value = json!([["append", 1, 2], ["append", 2]]);
    let r = check(&bad, LA, &ElleOptions::default());
    assert_eq!(r.fields["malformed"], json!(1));
}

//! The streaming path ([`stream::check_jsonl`]) against the in-memory one: the same
//! histories, written as `history.jsonl` text, give the same result, and a bad line
//! is an error naming it.

use std::io::Cursor;

use serde_json::json;

use super::tests::history;
use super::*;
use crate::{OpType, Process};

const OK: OpType = OpType::Ok;

fn jsonl(ops: &[Op]) -> String {
    ops.iter()
        .map(|op| serde_json::to_string(op).unwrap() + "\n")
        .collect()
}

fn without_timing(mut r: CheckResult) -> CheckResult {
    r.headline.remove(0); // the first headline line carries the check's timings
    r
}

#[test]
fn a_streamed_history_gets_the_result_of_the_same_history_in_memory() {
    let options = ElleOptions::default();
    // G-single, G1a and an unfinished transaction, with a nemesis op between
    let mut ops = history(&[
        (0, 0, 1, OK, json!([["append", 1, 1], ["append", 2, 1]])),
        (1, 0, 1, OK, json!([["r", 1, [1]], ["r", 2, null]])),
        (2, 2, 3, OK, json!([["r", 2, [1]], ["r", 3, [7]]])),
        (3, 0, 1, OpType::Fail, json!([["append", 3, 7]])),
        (4, 3, 4, OpType::Info, json!([["append", 4, 1]])),
    ]);
    let mut nemesis = ops[2].clone();
    nemesis.process = Process::Nemesis;
    nemesis.f = "start-partition".into();
    ops.insert(3, nemesis);
    ops.truncate(ops.len() - 1); // process 4 never completes
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64;
    }
    let kind = TxnKind::ListAppend;
    let memory = without_timing(check(&ops, kind, &options));
    let streamed = stream::check_jsonl(Cursor::new(jsonl(&ops)), kind, &options).unwrap();
    let streamed = without_timing(streamed);
    assert_eq!(memory.valid, Validity::Invalid);
    assert_eq!(
        serde_json::to_value(&memory.fields).unwrap(),
        serde_json::to_value(&streamed.fields).unwrap()
    );
    assert_eq!(memory.findings, streamed.findings);
    assert_eq!(memory.headline, streamed.headline);
    let types = memory.fields["anomaly-types"].to_string();
    assert!(
        types.contains("G-single") && types.contains("G1a"),
        "{types}"
    );
}

#[test]
fn a_line_that_is_not_an_op_is_an_error_naming_it() {
    let ops = history(&[(0, 0, 1, OK, json!([["append", 1, 1]]))]);
    let text = jsonl(&ops) + "\n{\"index\": 9, \"type\": \"ok\"\n";
    let options = ElleOptions::default();
    let err = stream::check_jsonl(Cursor::new(text), TxnKind::ListAppend, &options)
        .expect_err("a truncated line");
    assert_eq!(err.line, 4, "{err}");
    assert!(err.message.contains("expected a history op"), "{err}");
}

#[test]
fn quoted_transactions_show_the_decoded_micro_ops_exactly() {
    // a value beyond i64 and a string key are quoted as recorded, not rounded
    let big = "123456789012345678901234567890";
    let value: serde_json::Value =
        serde_json::from_str(&format!(r#"[["append", "k", {big}], ["append", 2, 1]]"#)).unwrap();
    let read: serde_json::Value =
        serde_json::from_str(&format!(r#"[["r", "k", [{big}]], ["r", 2, null]]"#)).unwrap();
    let ops = history(&[
        (0, 0, 1, OK, value),
        (1, 0, 1, OK, read),
        (2, 2, 3, OK, json!([["r", 2, [1]]])),
    ]);
    let r = check(&ops, TxnKind::ListAppend, &ElleOptions::default());
    let text = r.findings.join("\n");
    assert!(text.contains(big), "{text}");
    assert!(text.contains(r#"["append","k","#), "{text}");
}

#[test]
fn the_plain_fast_path_decodes_as_the_general_one_or_declines() {
    use super::history::{decode, decode_plain, Interner};
    let cases = [
        (
            TxnKind::ListAppend,
            r#"[["append",1,2],["r",1,[1,2]],["r",3,null],["r",4,[]]]"#,
        ),
        (TxnKind::RwRegister, r#"[["w",1,2],["r",1,2],["r",3,null]]"#),
        (TxnKind::ListAppend, r#"[["append","k",2]]"#), // string key
        (TxnKind::ListAppend, r#"[["append",1,3000000000]]"#), // not its own atom
        (TxnKind::ListAppend, r#"[["append",1,2.5]]"#),
        (TxnKind::ListAppend, r#"[["r",1,[1,-2]]]"#),
        (TxnKind::ListAppend, r#"[["w",1,2]]"#), // wrong workload: an error
        (TxnKind::RwRegister, r#"[["r",1,[1]]]"#),
        (TxnKind::ListAppend, r#"[["append",1]]"#),
    ];
    let mut declined = 0;
    for (kind, text) in cases {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let general = decode(&value, kind, true, &mut Interner::default());
        match decode_plain(text, kind) {
            Some(fast) => assert_eq!(Ok(fast), general, "{text}"),
            None => declined += 1,
        }
    }
    assert_eq!(
        declined, 7,
        "only the two plain histories take the fast path"
    );
}

#[test]
fn compound_keys_are_keys_and_a_dropped_transaction_makes_valid_unknown() {
    // Jepsen's `[:anti 1]`-style keys: a G1c cycle over two compound keys is found
    let cycle = [
        (
            0,
            0,
            1,
            OK,
            json!([["append", ["a", 1], 1], ["r", ["b", 1], [1]]]),
        ),
        (
            1,
            0,
            1,
            OK,
            json!([["append", ["b", 1], 1], ["r", ["a", 1], [1]]]),
        ),
    ];
    let ops = history(&cycle);
    let r = check(&ops, TxnKind::ListAppend, &ElleOptions::default());
    assert_eq!(r.valid, Validity::Invalid, "{:?}", r.findings);
    assert!(r.fields["anomaly-types"].to_string().contains("G1c"));
    // a transaction whose micro-ops cannot be read at all might have closed a cycle:
    // the rest being fine is not enough for valid
    let mut ops = history(&[(0, 0, 1, OK, json!([["append", 1, 1]]))]);
    for op in &mut ops {
        op.value = json!([["append", null, 1]]);
    }
    let more = history(&[
        (1, 2, 3, OK, json!([["append", 2, 1]])),
        (2, 4, 5, OK, json!([["r", 2, [1]]])),
    ]);
    ops.extend(more);
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64;
    }
    let r = check(&ops, TxnKind::ListAppend, &ElleOptions::default());
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.findings);
    assert!(r
        .findings
        .iter()
        .any(|f| f.contains("not known to be valid")));
}

//! The fast line path against serde's: on the recorder's own lines and on lines
//! mutated byte by byte, [`event`] (fast path first) and [`event_by_serde`] give the
//! same event or the same error, for both transaction kinds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{event, event_by_serde};
use crate::elle::TxnKind;
use crate::{Op, OpType, Process};

/// An integer as the generator might write one: mostly small, sometimes at or past
/// the interner's and the integer types' limits, sometimes negative or a float.
fn number(rng: &mut ChaCha8Rng) -> Value {
    match rng.gen_range(0..60) {
        0 => json!(1u64 << 31),
        1 => json!((1u64 << 31) - 1),
        2 => json!(u64::MAX),
        3 => json!(-3),
        4 => json!(2.5),
        5 => json!("7"),
        _ => json!(rng.gen_range(0..40)),
    }
}

fn micro_ops(rng: &mut ChaCha8Rng) -> Value {
    let n = rng.gen_range(0..5);
    let mops: Vec<Value> = (0..n)
        .map(|_| {
            let f = ["r", "r", "append", "append", "w", "x"][rng.gen_range(0..6)];
            let value = match (f, rng.gen_range(0..6)) {
                ("r", 0) => Value::Null,
                ("r", 1) => json!([]),
                ("r", 2) => number(rng),
                ("r", _) => Value::Array((0..rng.gen_range(1..5)).map(|_| number(rng)).collect()),
                _ => number(rng),
            };
            json!([f, number(rng), value])
        })
        .collect();
    Value::Array(mops)
}

fn recorded_line(rng: &mut ChaCha8Rng) -> String {
    let kind = [OpType::Invoke, OpType::Ok, OpType::Fail, OpType::Info][rng.gen_range(0..4)];
    let op = Op {
        index: rng.gen_range(0..1_000_000),
        time: rng.gen_range(0..u64::MAX / 2),
        kind,
        process: if rng.gen_range(0..10) == 0 {
            Process::Nemesis
        } else {
            Process::Client(rng.gen_range(0..100))
        },
        f: if rng.gen_range(0..10) == 0 {
            "read"
        } else {
            "txn"
        }
        .to_string(),
        value: micro_ops(rng),
        error: (kind == OpType::Info && rng.gen_bool(0.5)).then(|| json!([11, "timeout"])),
        exception: None,
        final_read: false,
        node: (kind == OpType::Invoke && rng.gen_bool(0.7))
            .then(|| format!("n{}", rng.gen_range(0..5))),
    };
    serde_json::to_string(&op).expect("an op serialises")
}

/// One random edit: delete, insert or replace a byte, or repeat a stretch.
fn mutate(rng: &mut ChaCha8Rng, line: &str) -> String {
    let mut bytes = line.as_bytes().to_vec();
    let at = rng.gen_range(0..bytes.len());
    const PIECES: &[u8] = b",\"[]{}:09-.e \\nrx";
    match rng.gen_range(0..4) {
        0 => {
            bytes.remove(at);
        }
        1 => bytes.insert(at, PIECES[rng.gen_range(0..PIECES.len())]),
        2 => bytes[at] = PIECES[rng.gen_range(0..PIECES.len())],
        _ => {
            let end = (at + rng.gen_range(1..12)).min(bytes.len());
            let stretch = bytes[at..end].to_vec();
            bytes.splice(at..at, stretch);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_fast_path_reads_every_line_as_serde_does() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // (lines, fast) for the recorded lines and for the edited ones
    let mut counts = [(0, 0); 2];
    for n in 0..4000 {
        let line = recorded_line(&mut rng);
        let mut variants = vec![line.clone()];
        for edits in 1..=8 {
            // one to three edits of the recorded line
            let mut edited = line.clone();
            for _ in 0..1 + edits % 3 {
                edited = mutate(&mut rng, &edited);
            }
            variants.push(edited);
        }
        for (edited, text) in variants.iter().enumerate() {
            for kind in [TxnKind::ListAppend, TxnKind::RwRegister] {
                let count = &mut counts[(edited > 0) as usize];
                count.0 += 1;
                count.1 += super::fastline::line(text, kind).is_some() as usize;
                let both = (event(n, text, kind), event_by_serde(n, text, kind));
                assert_eq!(
                    format!("{:?}", both.0),
                    format!("{:?}", both.1),
                    "line {text}"
                );
            }
        }
    }
    // the comparison means something only if both paths were taken often
    let [(recorded, recorded_fast), (edited, edited_fast)] = counts;
    assert!(
        recorded_fast > recorded / 10 && recorded_fast < recorded / 2,
        "{recorded_fast} of {recorded} recorded lines took the fast path"
    );
    assert!(
        edited_fast > edited / 200,
        "{edited_fast} of {edited} edited lines took the fast path"
    );
}

#[test]
fn the_recorders_plain_lines_take_the_fast_path() {
    let lines = [
        r#"{"index":0,"time":0,"type":"invoke","process":0,"f":"txn","value":[["r",5,null],["append",9,1]],"node":"n1"}"#,
        r#"{"index":1,"time":17780,"type":"ok","process":0,"f":"txn","value":[["r",5,[1,2]],["append",9,1]]}"#,
        r#"{"index":2,"time":17781,"type":"fail","process":3,"f":"txn","value":[["append",9,2]]}"#,
        r#"{"index":3,"time":17782,"type":"ok","process":3,"f":"txn","value":[]}"#,
    ];
    for line in lines {
        assert!(
            super::fastline::line(line, TxnKind::ListAppend).is_some(),
            "{line}"
        );
    }
    let register = r#"{"index":4,"time":9,"type":"ok","process":1,"f":"txn","value":[["r",5,null],["w",5,3],["r",5,3]]}"#;
    assert!(super::fastline::line(register, TxnKind::RwRegister).is_some());
    assert!(super::fastline::line(register, TxnKind::ListAppend).is_none());
}

//! The unique-ids workload (Maelstrom §8.2): clients ask for `generate` and every id
//! returned must be distinct. Ids are compared exactly as JSON values, so integers
//! above 2^53 never collide through floating point.

use std::cmp::Ordering;
use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use crate::history::{Op, OpType};
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::{
    CheckResult, ClientId, Completion, Invocation, Step, Validity, Workload, WorkloadOptions,
};

/// How many duplicated ids the result lists (Maelstrom's limit).
const MAX_DUPLICATES_LISTED: usize = 48;

/// The unique-ids workload.
pub struct UniqueIds;

/// `generate`: the one RPC of the workload.
pub const GENERATE: Rpc = Rpc {
    request: "generate",
    doc: "Answer with an id no node has returned before, even under partitions.",
    request_fields: &[],
    reply: "generate_ok",
    reply_fields: &[Field::new(
        "id",
        FieldType::Any,
        "the new id: any JSON value (ids compare exactly as JSON)",
    )],
    errors: &[],
    example_request: r#"{"type":"generate","msg_id":2}"#,
    example_reply: r#"{"type":"generate_ok","in_reply_to":2,"id":"n1-17"}"#,
};

/// Build the unique-ids workload.
pub fn build(_: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(UniqueIds))
}

impl Workload for UniqueIds {
    fn name(&self) -> &'static str {
        "unique-ids"
    }

    fn next_op(&mut self, _rng: &mut ChaCha8Rng) -> Option<Invocation> {
        Some(Invocation::new("generate", Value::Null))
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[GENERATE]
    }

    fn invoke(&mut self, _client: ClientId, _op: &Invocation) -> Step {
        Step::Send(request(_op))
    }

    fn reply(&mut self, _client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(complete(op, reply))
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors { idempotent: &[] }
    }

    fn client_reusable(&self) -> bool {
        true
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        check(history)
    }
}

/// The request body for an operation.
fn request(_op: &Invocation) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), Value::from("generate"));
    body
}

/// The completion for a non-error reply, checked against the closed reply schema.
fn complete(op: &Invocation, reply: &Map<String, Value>) -> Completion {
    match GENERATE.validate(reply) {
        Ok(()) => Completion::ok(reply["id"].clone()),
        Err(reason) => malformed(op, reply, &reason),
    }
}

/// Jepsen's unique-ids checker: counts, duplicated ids (up to 48 of the most
/// frequent) and the range of ids; valid iff no id was returned twice.
pub fn check(history: &[Op]) -> CheckResult {
    let generates = history
        .iter()
        .filter(|op| op.is_client() && op.f == "generate");
    let mut attempted = 0u64;
    let mut seen: HashMap<String, (u64, &Op)> = HashMap::new();
    let mut acknowledged = 0u64;
    let mut range: Option<(&Value, &Value)> = None;
    for op in generates {
        match op.kind {
            OpType::Invoke => attempted += 1,
            OpType::Ok => {
                acknowledged += 1;
                let key = serde_json::to_string(&op.value).unwrap();
                seen.entry(key).or_insert((0, op)).0 += 1;
                range = Some(match range {
                    None => (&op.value, &op.value),
                    Some((lo, hi)) => (
                        std::cmp::min_by(lo, &op.value, |a, b| compare_json(a, b)),
                        std::cmp::max_by(hi, &op.value, |a, b| compare_json(a, b)),
                    ),
                });
            }
            _ => {}
        }
    }
    let mut duplicates: Vec<(&String, u64, &Op)> = seen
        .iter()
        .filter(|(_, (count, _))| *count > 1)
        .map(|(id, (count, first))| (id, *count, *first))
        .collect();
    duplicates.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.index.cmp(&b.2.index)));
    let duplicated_count = duplicates.len();
    let mut listed = Map::new();
    let mut findings = Vec::new();
    for (id, count, first) in duplicates.iter().take(MAX_DUPLICATES_LISTED) {
        listed.insert((*id).clone(), json!(count));
        if findings.len() < 8 {
            findings.push(format!(
                "id {} was returned {count} times (first by op {}, process {}, at {:.3} s)",
                crate::quote::abridge(id),
                first.index,
                first.process,
                first.seconds()
            ));
        }
    }
    if duplicated_count > findings.len() {
        findings.push(format!(
            "{duplicated_count} distinct ids were returned more than once in all"
        ));
    }
    let mut result = CheckResult::new(Validity::from_bool(duplicated_count == 0))
        .with("attempted-count", attempted)
        .with("acknowledged-count", acknowledged)
        .with("duplicated-count", duplicated_count)
        .with("duplicated", Value::Object(listed))
        .with(
            "range",
            range.map_or(Value::Null, |(lo, hi)| json!([lo, hi])),
        );
    result.findings = findings;
    result
}

/// A total order on JSON values: numbers (exactly, integers never through f64) before
/// strings before everything else (by text).
pub fn compare_json(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            _ => 2,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    // With serde_json's `arbitrary_precision` a number keeps the text the node wrote,
    // so integers of any size compare exactly by their digits.
    let (tx, ty) = (x.to_string(), y.to_string());
    match (integer_digits(&tx), integer_digits(&ty)) {
        (Some(a), Some(b)) => compare_integers(a, b),
        _ => {
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            // Equal magnitudes written differently (`1` and `1.0`) stay distinct.
            fx.partial_cmp(&fy)
                .unwrap_or(Ordering::Equal)
                .then_with(|| tx.cmp(&ty))
        }
    }
}

/// An integer's sign and its digits without leading zeros, or None for a non-integer.
fn integer_digits(text: &str) -> Option<(bool, &str)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    Some((negative && digits != "0", digits))
}

fn compare_integers((neg_a, a): (bool, &str), (neg_b, b): (bool, &str)) -> Ordering {
    let magnitude = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
    match (neg_a, neg_b) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;

    #[test]
    fn big_integer_ids_differing_by_one_are_not_duplicates() {
        let a: Value = serde_json::from_str("7500000000000000001").unwrap();
        let b: Value = serde_json::from_str("7500000000000000002").unwrap();
        let h = vec![
            op(0, OpType::Invoke, 0, "generate", Value::Null),
            op(1, OpType::Ok, 0, "generate", a.clone()),
            op(2, OpType::Invoke, 0, "generate", Value::Null),
            op(3, OpType::Ok, 0, "generate", b.clone()),
        ];
        let r = check(&h);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["range"], json!([a, b]));
        assert_eq!(r.fields["attempted-count"], json!(2));
    }

    #[test]
    fn duplicates_are_counted_and_named() {
        let h = vec![
            op(0, OpType::Invoke, 0, "generate", Value::Null),
            op(1, OpType::Ok, 0, "generate", json!("n0-1")),
            op(2, OpType::Invoke, 1, "generate", Value::Null),
            op(3, OpType::Ok, 1, "generate", json!("n0-1")),
            op(4, OpType::Invoke, 1, "generate", Value::Null),
            op(5, OpType::Ok, 1, "generate", json!(1)),
            op(6, OpType::Invoke, 1, "generate", Value::Null),
            op(7, OpType::Ok, 1, "generate", json!(1.0)),
            op(8, OpType::Invoke, 1, "generate", Value::Null),
            op(9, OpType::Info, 1, "generate", Value::Null),
        ];
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["duplicated-count"], json!(1));
        assert_eq!(r.fields["duplicated"], json!({"\"n0-1\"": 2}));
        assert_eq!(r.fields["acknowledged-count"], json!(4));
        assert!(r.findings[0].contains("\"n0-1\" was returned 2 times"));
    }

    #[test]
    fn numbers_order_exactly() {
        let big: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(compare_json(&json!(-1), &big), Ordering::Less);
        assert_eq!(compare_json(&big, &json!(-1)), Ordering::Greater);
        assert_eq!(compare_json(&json!(2), &json!("a")), Ordering::Less);
        let huge: Value = serde_json::from_str("1180591620717411303424").unwrap();
        let huger: Value = serde_json::from_str("1180591620717411303425").unwrap();
        let negative: Value = serde_json::from_str("-1180591620717411303425").unwrap();
        assert_eq!(compare_json(&huge, &huger), Ordering::Less);
        assert_eq!(compare_json(&negative, &huge), Ordering::Less);
        assert_eq!(compare_json(&negative, &json!(-3)), Ordering::Less);
        assert_ne!(compare_json(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(huge.to_string(), "1180591620717411303424");
    }
}

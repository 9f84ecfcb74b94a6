//! The echo workload (Maelstrom §8.1): clients send `{"type":"echo","echo":S}` and
//! expect `{"type":"echo_ok","echo":S}` back. Every operation must succeed with the
//! same string.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use crate::history::{pair_index, Op, OpType};
use crate::quote::abridge_json;
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::{
    CheckResult, ClientId, Completion, Invocation, Step, Validity, Workload, WorkloadOptions,
};

/// How many offending operations the result lists.
const MAX_REPORTED: usize = 32;

/// The echo workload.
pub struct Echo;

/// `echo`: the one RPC of the workload.
pub const ECHO: Rpc = Rpc {
    request: "echo",
    doc: "Send the `echo` value straight back.",
    request_fields: &[Field::new("echo", FieldType::String, "the text to echo")],
    reply: "echo_ok",
    reply_fields: &[Field::new(
        "echo",
        FieldType::Any,
        "the request's `echo`, unchanged",
    )],
    errors: &[],
    example_request: r#"{"type":"echo","msg_id":1,"echo":"Please echo 35"}"#,
    example_reply: r#"{"type":"echo_ok","in_reply_to":1,"echo":"Please echo 35"}"#,
};

/// Build the echo workload.
pub fn build(_: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Echo))
}

impl Workload for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        let n: u32 = rng.gen_range(0..128);
        Some(Invocation::new(
            "echo",
            Value::from(format!("Please echo {n}")),
        ))
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[ECHO]
    }

    fn invoke(&mut self, _client: ClientId, op: &Invocation) -> Step {
        Step::Send(request(op))
    }

    fn reply(&mut self, _client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(complete(op, reply))
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors { idempotent: &[] }
    }

    fn client_reusable(&self) -> bool {
        false
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        check(history)
    }
}

/// The request body for an operation.
fn request(op: &Invocation) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("echo".into(), op.value.clone());
    body.insert("type".into(), Value::from("echo"));
    body
}

/// The completion for a non-error reply, checked against the closed reply schema.
fn complete(op: &Invocation, reply: &Map<String, Value>) -> Completion {
    match ECHO.validate(reply) {
        Ok(()) => Completion::ok(Value::Object(reply.clone())),
        Err(reason) => malformed(op, reply, &reason),
    }
}

/// Every echo invocation must complete ok with a reply whose `echo` equals what was
/// sent; an operation that failed, timed out or never completed is an error too.
pub fn check(history: &[Op]) -> CheckResult {
    let pairs = pair_index(history);
    let by_index: std::collections::HashMap<u64, &Op> =
        history.iter().map(|op| (op.index, op)).collect();
    let mut errors = Vec::new();
    let mut findings = Vec::new();
    let mut error_count = 0usize;
    for invoke in history
        .iter()
        .filter(|op| op.is_client() && op.kind == OpType::Invoke && op.f == "echo")
    {
        let completion = pairs.get(&invoke.index).map(|i| by_index[i]);
        let echoed = completion
            .filter(|c| c.kind == OpType::Ok)
            .and_then(|c| c.value.get("echo"));
        if echoed == Some(&invoke.value) {
            continue;
        }
        error_count += 1;
        if errors.len() >= MAX_REPORTED {
            continue;
        }
        let received = completion.map_or(Value::Null, |c| c.value.clone());
        errors.push(json!([
            "Expected a message with :echo",
            invoke.value,
            "But received",
            received
        ]));
        findings.push(describe(invoke, completion));
    }
    let mut result = CheckResult::new(Validity::from_bool(error_count == 0));
    if error_count > 0 {
        result
            .fields
            .insert("error-count".into(), json!(error_count));
        result.fields.insert("errors".into(), Value::Array(errors));
        if error_count > MAX_REPORTED {
            findings.push(format!("… and {} more", error_count - MAX_REPORTED));
        }
    }
    result.findings = findings;
    result
}

fn describe(invoke: &Op, completion: Option<&Op>) -> String {
    let who = format!(
        "op {} (process {}{}, at {:.3} s) sent {}",
        invoke.index,
        invoke.process,
        invoke
            .node
            .as_deref()
            .map(|n| format!(" → {n}"))
            .unwrap_or_default(),
        invoke.seconds(),
        abridge_json(&invoke.value)
    );
    match completion {
        None => format!("{who} and never completed"),
        Some(c) if c.kind == OpType::Ok => {
            let got = c.value.get("echo").cloned().unwrap_or(Value::Null);
            format!(
                "{who} but the reply echoed {} (op {}: {})",
                abridge_json(&got),
                c.index,
                abridge_json(&c.value)
            )
        }
        Some(c) => format!(
            "{who} and ended {} with error {}",
            c.kind.name(),
            c.error.as_ref().map_or("null".into(), abridge_json)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;
    use rand::SeedableRng;

    #[test]
    fn generator_draws_from_the_seed() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| Echo.next_op(&mut rng).unwrap().value)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(1)[0].as_str().unwrap().starts_with("Please echo "));
    }

    #[test]
    fn reply_with_extra_key_is_malformed_and_valid_reply_keeps_whole_body() {
        let inv = Invocation::new("echo", json!("Please echo 3"));
        let good = json!({"type":"echo_ok","echo":"Please echo 3","in_reply_to":1});
        let c = complete(&inv, good.as_object().unwrap());
        assert_eq!(c, Completion::ok(good));
        let bad = json!({"type":"echo_ok","echo":"Please echo 3","in_reply_to":1,"x":1});
        let c = complete(&inv, bad.as_object().unwrap());
        assert_eq!(c.kind, OpType::Info);
        assert_eq!(c.exception.as_deref(), Some("malformed-rpc-response"));
    }

    #[test]
    fn altered_failed_and_unfinished_echoes_are_errors() {
        let h = vec![
            op(0, OpType::Invoke, 0, "echo", json!("Please echo 1")),
            op(
                1,
                OpType::Ok,
                0,
                "echo",
                json!({"type":"echo_ok","echo":"Please echo 1"}),
            ),
            op(2, OpType::Invoke, 1, "echo", json!("Please echo 2")),
            op(
                3,
                OpType::Ok,
                1,
                "echo",
                json!({"type":"echo_ok","echo":"Please echo 20"}),
            ),
            op(4, OpType::Invoke, 0, "echo", json!("Please echo 4")),
            op(5, OpType::Info, 0, "echo", json!("Please echo 4")),
            op(6, OpType::Invoke, 2, "echo", json!("Please echo 6")),
        ];
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["error-count"], json!(3));
        assert!(r.findings[0].contains("op 2"), "{:?}", r.findings);
        assert!(r.findings[0].contains("\"Please echo 20\""));
        assert!(r.findings[2].contains("never completed"));
        assert_eq!(check(&h[..2]).valid, Validity::Valid);
    }
}

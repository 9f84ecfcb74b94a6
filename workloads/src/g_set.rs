//! The g-set workload (Maelstrom §8.4): clients add the integers 0, 1, 2, … to a
//! grow-only set and read it back; Jepsen's set-full checker judges whether every
//! acknowledged element stayed visible.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::Op;
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::set_full;
use crate::{CheckResult, ClientId, Completion, Invocation, Step, Workload, WorkloadOptions};

/// `add`: a client adds an element.
pub const ADD: Rpc = Rpc {
    request: "add",
    doc: "Add `element` to the grow-only set; once acknowledged it must stay visible to \
          every read that begins after the set has had time to converge.",
    request_fields: &[Field::new(
        "element",
        FieldType::Int,
        "the element: 0, 1, 2, … in order",
    )],
    reply: "add_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"add","msg_id":1,"element":3}"#,
    example_reply: r#"{"type":"add_ok","in_reply_to":1}"#,
};

/// `read`: a client reads the whole set.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Answer with every element of the set, in any order.",
    request_fields: &[],
    reply: "read_ok",
    reply_fields: &[Field::new(
        "value",
        FieldType::Array,
        "the elements (`null` counts as empty)",
    )],
    errors: &[],
    example_request: r#"{"type":"read","msg_id":2}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":2,"value":[0,1,3]}"#,
};

/// The g-set workload.
#[derive(Debug, Default)]
pub struct GSet {
    next_value: u64,
}

/// Build the g-set workload.
pub fn build(_: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(GSet::default()))
}

impl Workload for GSet {
    fn name(&self) -> &'static str {
        "g-set"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        if rng.gen_bool(0.5) {
            let value = self.next_value;
            self.next_value += 1;
            Some(Invocation::new("add", Value::from(value)))
        } else {
            Some(Invocation::new("read", Value::Null))
        }
    }

    fn has_final_phase(&self) -> bool {
        true
    }

    /// One read per worker, without `:final? true` (as in Maelstrom).
    fn final_op(&mut self, _worker: usize, done: usize) -> Option<Invocation> {
        (done == 0).then_some(Invocation::new("read", Value::Null))
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[ADD, READ]
    }

    fn invoke(&mut self, _client: ClientId, op: &Invocation) -> Step {
        Step::Send(request(op))
    }

    fn reply(&mut self, _client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(complete(op, reply))
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::Exceptions
    }

    fn client_reusable(&self) -> bool {
        false
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        set_full::check(history, "add")
    }
}

/// The request body for an operation.
fn request(op: &Invocation) -> Map<String, Value> {
    let mut body = Map::new();
    if op.f == "add" {
        body.insert("element".into(), op.value.clone());
    }
    body.insert("type".into(), Value::from(op.f));
    body
}

/// The completion for a non-error reply, checked against the closed reply schema.
fn complete(op: &Invocation, reply: &Map<String, Value>) -> Completion {
    if op.f == "add" {
        return ADD.acknowledged(op, reply);
    }
    match READ.validate(reply) {
        Ok(()) => Completion::ok(match &reply["value"] {
            Value::Null => Value::Array(Vec::new()),
            elements => elements.clone(),
        }),
        Err(reason) => malformed(op, reply, &reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;
    use crate::{OpType, Validity};
    use rand::SeedableRng;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn generator_requests_and_final_read() {
        let mut w = GSet::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ops: Vec<Invocation> = (0..200).map(|_| w.next_op(&mut rng).unwrap()).collect();
        let adds: Vec<&Value> = ops
            .iter()
            .filter(|op| op.f == "add")
            .map(|op| &op.value)
            .collect();
        assert!(adds.len() > 70 && adds.len() < 130);
        assert!(adds.iter().enumerate().all(|(i, v)| **v == json!(i)));
        assert_eq!(
            Value::Object(request(&Invocation::new("add", json!(3)))),
            json!({"element":3,"type":"add"})
        );
        assert_eq!(
            Value::Object(request(&Invocation::new("read", Value::Null))),
            json!({"type":"read"})
        );
        let last = w.final_op(0, 0).unwrap();
        assert_eq!((last.f, last.final_read), ("read", false));
        assert_eq!(w.error_style(), ErrorStyle::Exceptions);
        assert!(!w.client_reusable());
        assert!(w.setup_request(0).is_none());
        assert!(build(&WorkloadOptions::default()).is_ok());
    }

    #[test]
    fn replies_use_the_value_field() {
        let w = GSet::default();
        let add = Invocation::new("add", json!(3));
        let read = Invocation::new("read", Value::Null);
        assert_eq!(
            complete(&add, &body(json!({"type":"add_ok","in_reply_to":1}))),
            Completion::ok(json!(3))
        );
        assert_eq!(
            complete(
                &read,
                &body(json!({"type":"read_ok","value":[3],"in_reply_to":1}))
            ),
            Completion::ok(json!([3]))
        );
        assert_eq!(
            complete(
                &read,
                &body(json!({"type":"read_ok","value":null,"in_reply_to":1}))
            ),
            Completion::ok(json!([]))
        );
        let elements = complete(
            &read,
            &body(json!({"type":"read_ok","elements":[3],"in_reply_to":1})),
        );
        assert_eq!(elements.kind, OpType::Info);
        assert_eq!(
            elements.exception.as_deref(),
            Some("malformed-rpc-response")
        );
        let timeout = w.error_style().on_timeout(&add);
        assert_eq!(timeout.kind, OpType::Info);
        assert_eq!(timeout.exception.as_deref(), Some("client-timeout"));
    }

    #[test]
    fn check_is_set_full_over_adds() {
        let h = vec![
            op(0, OpType::Invoke, 0, "add", json!(0)),
            op(1, OpType::Ok, 0, "add", json!(0)),
            op(2, OpType::Invoke, 1, "read", Value::Null),
            op(3, OpType::Ok, 1, "read", json!([0])),
        ];
        let r = GSet::default().check(&h);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["attempt-count"], json!(1));
    }
}

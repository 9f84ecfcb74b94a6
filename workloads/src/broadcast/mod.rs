//! The broadcast workload (Maelstrom §8.3): every node is told a topology, clients
//! broadcast the integers 0, 1, 2, … and read back the set of messages a node has
//! seen; Jepsen's set-full checker judges whether every broadcast reached every
//! node. A network analysis ([`convergence`]) adds how many hops each message took to
//! reach all nodes.

mod convergence;

pub use convergence::{ceil_log2, convergence};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::Op;
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::set_full;
use crate::topology::Topology;
use crate::{
    CheckResult, ClientId, Completion, Invocation, NetEvent, Step, Workload, WorkloadOptions,
};

/// `topology`: sent once to every node before the first client operation.
pub const TOPOLOGY: Rpc = Rpc {
    request: "topology",
    doc: "Learn your neighbours (a suggestion: you may talk to any node). Sent once, \
          before any client operation; a reply other than `topology_ok` aborts the run.",
    request_fields: &[Field::new(
        "topology",
        FieldType::Object,
        "node id → array of neighbour node ids (`--topology`, default grid)",
    )],
    reply: "topology_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"topology","msg_id":1,"topology":{"n0":["n1"],"n1":["n0"]}}"#,
    example_reply: r#"{"type":"topology_ok","in_reply_to":1}"#,
};

/// `broadcast`: a client hands a node a new message.
pub const BROADCAST: Rpc = Rpc {
    request: "broadcast",
    doc: "Remember `message` and make sure every other node gets it too. Each value is \
          broadcast once.",
    request_fields: &[Field::new(
        "message",
        FieldType::Int,
        "the value: 0, 1, 2, … in order",
    )],
    reply: "broadcast_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"broadcast","msg_id":2,"message":7}"#,
    example_reply: r#"{"type":"broadcast_ok","in_reply_to":2}"#,
};

/// `read`: a client asks what a node has seen.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Answer with every message this node has seen (from clients or other nodes), \
          in any order. The final reads must hold every acknowledged broadcast.",
    request_fields: &[],
    reply: "read_ok",
    reply_fields: &[Field::new(
        "messages",
        FieldType::Array,
        "the messages seen (`null` counts as empty)",
    )],
    errors: &[],
    example_request: r#"{"type":"read","msg_id":3}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":3,"messages":[0,1,7]}"#,
};

/// The broadcast workload.
pub struct Broadcast {
    topology: Map<String, Value>,
    node_ids: Vec<String>,
    next_value: u64,
}

/// Build the broadcast workload; fails for an unknown `--topology`.
pub fn build(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Broadcast::new(options)?))
}

impl Broadcast {
    /// The workload for these options: the topology is computed once over the node
    /// ids (or `n0…` from the node count when no ids are given).
    pub fn new(options: &WorkloadOptions) -> Result<Broadcast, String> {
        let shape = Topology::parse(&options.topology)?;
        let node_ids = if options.node_ids.is_empty() {
            (0..options.node_count).map(|i| format!("n{i}")).collect()
        } else {
            options.node_ids.clone()
        };
        Ok(Broadcast {
            topology: shape.to_json(&node_ids),
            node_ids,
            next_value: 0,
        })
    }
}

impl Workload for Broadcast {
    fn name(&self) -> &'static str {
        "broadcast"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        if rng.gen_bool(0.5) {
            let value = self.next_value;
            self.next_value += 1;
            Some(Invocation::new("broadcast", Value::from(value)))
        } else {
            Some(Invocation::new("read", Value::Null))
        }
    }

    fn has_final_phase(&self) -> bool {
        true
    }

    /// One read per worker, flagged `:final? true`.
    fn final_op(&mut self, _worker: usize, done: usize) -> Option<Invocation> {
        (done == 0).then_some(Invocation {
            f: "read",
            value: Value::Null,
            final_read: true,
        })
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[TOPOLOGY, BROADCAST, READ]
    }

    fn invoke(&mut self, _client: ClientId, op: &Invocation) -> Step {
        Step::Send(request(op))
    }

    fn reply(&mut self, _client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(complete(op, reply))
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors {
            idempotent: &["read"],
        }
    }

    fn client_reusable(&self) -> bool {
        false
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        set_full::check(history, "broadcast")
    }

    fn setup_request(&self, _node: usize) -> Option<Map<String, Value>> {
        let mut body = Map::new();
        body.insert("type".into(), Value::from("topology"));
        body.insert("topology".into(), Value::Object(self.topology.clone()));
        Some(body)
    }

    fn check_setup_reply(&self, reply: &Map<String, Value>) -> Result<(), String> {
        TOPOLOGY.validate(reply)
    }

    fn analyze_network(
        &self,
        history: &[Op],
        events: &mut dyn Iterator<Item = NetEvent>,
    ) -> Option<(&'static str, CheckResult)> {
        Some(("convergence", convergence(&self.node_ids, history, events)))
    }
}

/// The request body for an operation.
fn request(op: &Invocation) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), Value::from(op.f));
    if op.f == "broadcast" {
        body.insert("message".into(), op.value.clone());
    }
    body
}

/// The completion for a non-error reply, checked against the closed reply schema.
fn complete(op: &Invocation, reply: &Map<String, Value>) -> Completion {
    if op.f == "broadcast" {
        return BROADCAST.acknowledged(op, reply);
    }
    match READ.validate(reply) {
        Ok(()) => Completion::ok(match &reply["messages"] {
            Value::Null => Value::Array(Vec::new()),
            messages => messages.clone(),
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

    fn options(topology: &str, n: usize) -> WorkloadOptions {
        WorkloadOptions {
            node_count: n,
            topology: topology.into(),
            node_ids: (0..n).map(|i| format!("n{i}")).collect(),
            ..WorkloadOptions::default()
        }
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn build_rejects_unknown_topologies_and_sends_the_whole_map_to_every_node() {
        let err = build(&options("ring", 3)).err().unwrap();
        assert!(err.contains("unknown topology \"ring\""), "{err}");
        let w = build(&options("", 5)).unwrap();
        let expected = json!({"type":"topology","topology":{
            "n0":["n3","n1"],"n1":["n4","n2","n0"],"n2":["n1"],"n3":["n0","n4"],"n4":["n1","n3"]}});
        assert_eq!(Value::Object(w.setup_request(0).unwrap()), expected);
        assert_eq!(Value::Object(w.setup_request(4).unwrap()), expected);
        let one = build(&options("grid", 1)).unwrap();
        assert_eq!(
            Value::Object(one.setup_request(0).unwrap()),
            json!({"type":"topology","topology":{"n0":[]}})
        );
        let fallback = Broadcast::new(&WorkloadOptions {
            node_count: 2,
            topology: "line".into(),
            ..WorkloadOptions::default()
        })
        .unwrap();
        assert_eq!(
            Value::Object(fallback.topology),
            json!({"n0":["n1"],"n1":["n0"]})
        );
    }

    #[test]
    fn setup_reply_must_be_a_bare_topology_ok() {
        let w = build(&options("grid", 2)).unwrap();
        assert!(w
            .check_setup_reply(&body(json!({"type":"topology_ok","in_reply_to":1})))
            .is_ok());
        assert!(w
            .check_setup_reply(&body(json!({"type":"topology_ok","in_reply_to":1,"x":1})))
            .is_err());
        assert!(w
            .check_setup_reply(&body(json!({"type":"error","in_reply_to":1,"code":10})))
            .is_err());
    }

    #[test]
    fn generator_mixes_broadcasts_of_increasing_values_and_reads() {
        let mut w = Broadcast::new(&options("grid", 3)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let ops: Vec<Invocation> = (0..200).map(|_| w.next_op(&mut rng).unwrap()).collect();
        let broadcasts: Vec<&Value> = ops
            .iter()
            .filter(|op| op.f == "broadcast")
            .map(|op| &op.value)
            .collect();
        assert!(broadcasts.len() > 70 && broadcasts.len() < 130);
        for (i, v) in broadcasts.iter().enumerate() {
            assert_eq!(**v, json!(i));
        }
        assert!(ops
            .iter()
            .filter(|op| op.f == "read")
            .all(|op| op.value.is_null() && !op.final_read));
        let last = w.final_op(0, 0).unwrap();
        assert_eq!((last.f, last.final_read), ("read", true));
        assert_eq!(
            Value::Object(request(&ops[0])),
            if ops[0].f == "read" {
                json!({"type":"read"})
            } else {
                json!({"type":"broadcast","message":0})
            }
        );
        assert_eq!(
            Value::Object(request(&Invocation::new("broadcast", json!(7)))),
            json!({"type":"broadcast","message":7})
        );
        assert!(!w.client_reusable());
        assert_eq!(
            w.error_style(),
            ErrorStyle::WithErrors {
                idempotent: &["read"]
            }
        );
    }

    #[test]
    fn replies_map_to_completions() {
        let b = Invocation::new("broadcast", json!(4));
        let r = Invocation::new("read", Value::Null);
        assert_eq!(
            complete(&b, &body(json!({"type":"broadcast_ok","in_reply_to":2}))),
            Completion::ok(json!(4))
        );
        let bad = complete(
            &b,
            &body(json!({"type":"broadcast_ok","in_reply_to":2,"m":1})),
        );
        assert_eq!(bad.kind, OpType::Info);
        assert_eq!(bad.exception.as_deref(), Some("malformed-rpc-response"));
        assert_eq!(
            complete(
                &r,
                &body(json!({"type":"read_ok","messages":[1,2],"in_reply_to":2,"msg_id":9}))
            ),
            Completion::ok(json!([1, 2]))
        );
        assert_eq!(
            complete(
                &r,
                &body(json!({"type":"read_ok","messages":null,"in_reply_to":2}))
            ),
            Completion::ok(json!([]))
        );
        let missing = complete(&r, &body(json!({"type":"read_ok","in_reply_to":2})));
        assert_eq!(missing.kind, OpType::Info);
        let wrong = complete(
            &r,
            &body(json!({"type":"read_ok","messages":{},"in_reply_to":2})),
        );
        assert_eq!(wrong.kind, OpType::Info);
    }

    #[test]
    fn check_is_set_full_over_broadcasts() {
        let h = vec![
            op(0, OpType::Invoke, 0, "broadcast", json!(0)),
            op(1, OpType::Ok, 0, "broadcast", json!(0)),
            op(2, OpType::Invoke, 1, "read", Value::Null),
            op(3, OpType::Ok, 1, "read", json!([0])),
        ];
        let w = Broadcast::new(&options("grid", 1)).unwrap();
        let r = w.check(&h);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["stable-count"], json!(1));
        let lost = w.check(&[h[0].clone(), h[1].clone(), h[2].clone(), {
            let mut o = h[3].clone();
            o.value = json!([]);
            o
        }]);
        assert_eq!(lost.valid, Validity::Invalid);
    }
}

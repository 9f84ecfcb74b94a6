//! The broadcast workload (Maelstrom §8.3): every node is told a topology, clients
//! broadcast the integers 0, 1, 2, … and read back the set of messages a node has
//! seen; Jepsen's set-full checker judges whether every broadcast reached every
//! node. A network analysis adds how many hops each message took to reach all nodes.

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::{Op, OpType};
use crate::rpc::{acknowledged, malformed, validate_reply, ErrorStyle, FieldType};
use crate::set_full::{self, quantiles};
use crate::topology::Topology;
use crate::{
    CheckResult, ClientId, Completion, Invocation, NetEvent, NetEventKind, Step, Validity,
    Workload, WorkloadOptions,
};

/// Body keys that never carry broadcast values.
const RESERVED_KEYS: &[&str] = &["type", "msg_id", "in_reply_to"];

/// How many values the convergence findings name.
const MAX_NAMED: usize = 5;

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
        validate_reply(reply, "topology_ok", &[])
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
        return acknowledged(op, reply, "broadcast_ok");
    }
    match validate_reply(reply, "read_ok", &[("messages", FieldType::Array)]) {
        Ok(()) => Completion::ok(match &reply["messages"] {
            Value::Null => Value::Array(Vec::new()),
            messages => messages.clone(),
        }),
        Err(reason) => malformed(op, reply, &reason),
    }
}

/// ⌈log2 n⌉, and 0 for n ≤ 1.
pub fn ceil_log2(n: usize) -> u64 {
    let mut k = 0;
    while (1usize << k) < n {
        k += 1;
    }
    k
}

/// Which nodes have a value, at how many hops.
struct Spread {
    hops: Vec<u32>,
    reached: usize,
}

impl Spread {
    const NONE: u32 = u32::MAX;

    fn new(n: usize) -> Spread {
        Spread {
            hops: vec![Spread::NONE; n],
            reached: 0,
        }
    }

    fn credit(&mut self, node: usize, hop: u32) {
        let slot = &mut self.hops[node];
        if *slot == Spread::NONE {
            self.reached += 1;
        }
        *slot = (*slot).min(hop);
    }
}

fn integer(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

/// Every JSON integer in `value`, however deeply nested.
fn collect_integers(value: &Value, out: &mut Vec<i128>) {
    match value {
        Value::Number(_) => out.extend(integer(value)),
        Value::Array(items) => items.iter().for_each(|v| collect_integers(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_integers(v, out)),
        _ => {}
    }
}

/// How many network hops each broadcast value took to reach every node.
///
/// A node has value v at hop 0 when it receives a `broadcast` of v from a client.
/// When node S sends another node a message whose body carries v (as a JSON integer
/// anywhere except under the top-level `type`, `msg_id` and `in_reply_to`) while S
/// has v at hop h, the receiver has v at hop h + 1 once the message is delivered (the
/// least such hop counts). A value's hops are the most any node needed; values some
/// node never got are unconverged. Always valid: it is a figure, not a verdict.
///
/// Fields: `log2-nodes` (⌈log2 N⌉), `converged-count`, `unconverged-count`, `hops`
/// (quantiles like set-full's latencies, only when some value converged),
/// `within-log2-count` and `exceeded-count`.
pub fn convergence(
    node_ids: &[String],
    history: &[Op],
    events: &mut dyn Iterator<Item = NetEvent>,
) -> CheckResult {
    let n = node_ids.len();
    let node_index: HashMap<&str, usize> = node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut spread: HashMap<i128, Spread> = HashMap::new();
    for op in history {
        if op.is_client() && op.kind == OpType::Invoke && op.f == "broadcast" {
            if let Some(v) = integer(&op.value) {
                spread.entry(v).or_insert_with(|| Spread::new(n));
            }
        }
    }
    // Values (with the sender's hop) carried by node-to-node messages in flight.
    let mut in_flight: HashMap<u64, Vec<(i128, u32)>> = HashMap::new();
    let mut integers = Vec::new();
    for event in events {
        let (Some(&dest), src) = (
            node_index.get(event.dest.as_str()),
            node_index.get(event.src.as_str()),
        ) else {
            continue; // client- or service-bound
        };
        match (event.kind, src) {
            (NetEventKind::Send, Some(&src)) => {
                let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&event.body) else {
                    continue;
                };
                integers.clear();
                for (key, value) in &body {
                    if !RESERVED_KEYS.contains(&key.as_str()) {
                        collect_integers(value, &mut integers);
                    }
                }
                let carried: Vec<(i128, u32)> = integers
                    .iter()
                    .filter_map(|v| {
                        let hop = spread.get(v)?.hops[src];
                        (hop != Spread::NONE).then_some((*v, hop))
                    })
                    .collect();
                if !carried.is_empty() {
                    in_flight.insert(event.id, carried);
                }
            }
            (NetEventKind::Recv, Some(_)) => {
                for (v, hop) in in_flight.remove(&event.id).unwrap_or_default() {
                    if let Some(s) = spread.get_mut(&v) {
                        s.credit(dest, hop.saturating_add(1));
                    }
                }
            }
            (NetEventKind::Drop, Some(_)) => {
                in_flight.remove(&event.id);
            }
            (NetEventKind::Recv, None) => {
                let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&event.body) else {
                    continue;
                };
                if body.get("type").and_then(Value::as_str) != Some("broadcast") {
                    continue;
                }
                if let Some(v) = body.get("message").and_then(integer) {
                    spread
                        .entry(v)
                        .or_insert_with(|| Spread::new(n))
                        .credit(dest, 0);
                }
            }
            _ => {}
        }
    }

    let log2 = ceil_log2(n);
    let mut values: Vec<(&i128, &Spread)> = spread.iter().collect();
    values.sort_unstable_by_key(|(v, _)| **v);
    let mut hops: Vec<(i128, u64)> = Vec::new();
    let mut unconverged: Vec<(i128, &Spread)> = Vec::new();
    for (v, s) in values {
        if s.reached == n {
            hops.push((*v, s.hops.iter().copied().max().unwrap_or(0) as u64));
        } else {
            unconverged.push((*v, s));
        }
    }
    let within = hops.iter().filter(|(_, h)| *h <= log2).count();
    let exceeded = hops.len() - within;
    let mut findings = Vec::new();
    if !unconverged.is_empty() {
        let examples: Vec<String> = unconverged
            .iter()
            .take(MAX_NAMED)
            .map(|(v, s)| {
                let missing: Vec<&str> = (0..n)
                    .filter(|&i| s.hops[i] == Spread::NONE)
                    .map(|i| node_ids[i].as_str())
                    .take(MAX_NAMED)
                    .collect();
                let more = if n - s.reached > missing.len() {
                    ", …"
                } else {
                    ""
                };
                format!(
                    "{v} reached {} of {n} nodes (missing {}{more})",
                    s.reached,
                    missing.join(", ")
                )
            })
            .collect();
        findings.push(format!(
            "{} of {} broadcast values never reached every node over the network: {}{}",
            unconverged.len(),
            unconverged.len() + hops.len(),
            examples.join("; "),
            if unconverged.len() > MAX_NAMED {
                "; …"
            } else {
                ""
            }
        ));
    }
    if exceeded > 0 {
        let (worst, worst_hops) = hops
            .iter()
            .copied()
            .max_by_key(|&(v, h)| (h, -v))
            .expect("some value exceeded");
        findings.push(format!(
            "{exceeded} of {} converged values needed more than ⌈log2 {n}⌉ = {log2} hops to \
             reach every node; the slowest, {worst}, needed {worst_hops}",
            hops.len()
        ));
    }
    let mut result = CheckResult::new(Validity::Valid)
        .with("log2-nodes", log2)
        .with("converged-count", hops.len())
        .with("unconverged-count", unconverged.len())
        .with("within-log2-count", within)
        .with("exceeded-count", exceeded);
    let counts: Vec<u64> = hops.iter().map(|(_, h)| *h).collect();
    if let Some(q) = quantiles(&counts) {
        result.headline.push(format!(
            "hops to reach every node: p50 {}, p95 {}, max {} vs ⌈log2 {n}⌉ = {log2}: {}",
            q["0.5"],
            q["0.95"],
            q["1"],
            if exceeded == 0 {
                "WITHIN".to_string()
            } else {
                format!("EXCEEDS for {exceeded} of {} values", hops.len())
            }
        ));
        result = result.with("hops", q);
    }
    if !unconverged.is_empty() {
        result.headline.push(format!(
            "{} values never reached every node over the network",
            unconverged.len()
        ));
    }
    result.findings = findings;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;
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

    fn event(kind: NetEventKind, id: u64, src: &str, dest: &str, body: Value) -> NetEvent {
        NetEvent {
            time: id,
            kind,
            id,
            src: src.into(),
            dest: dest.into(),
            body: body.to_string(),
        }
    }

    #[test]
    fn convergence_counts_hops_along_gossip_paths() {
        use NetEventKind::*;
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let history = vec![
            op(0, OpType::Invoke, 0, "broadcast", json!(10)),
            op(1, OpType::Invoke, 1, "broadcast", json!(11)),
            op(2, OpType::Invoke, 2, "broadcast", json!(12)),
        ];
        let bcast = |v: i64| json!({"type":"broadcast","message":v,"msg_id":1});
        let events = vec![
            // 10: client → n0, then a chain n0 → n1 → n2 → n3 → n4 (4 hops), plus a
            // shortcut n0 → n4 arriving later (1 hop) that lowers n4's hop.
            event(Send, 1, "c9", "n0", bcast(10)),
            event(Recv, 1, "c9", "n0", bcast(10)),
            // Reply to the client: ignored even though it carries integers.
            event(
                Send,
                2,
                "n0",
                "c9",
                json!({"type":"broadcast_ok","in_reply_to":1}),
            ),
            event(Send, 3, "n0", "n1", json!({"type":"gossip","values":[10]})),
            event(Recv, 3, "n0", "n1", json!({"type":"gossip","values":[10]})),
            event(
                Send,
                4,
                "n1",
                "n2",
                json!({"type":"broadcast","message":10,"msg_id":10}),
            ),
            event(
                Recv,
                4,
                "n1",
                "n2",
                json!({"type":"broadcast","message":10,"msg_id":10}),
            ),
            event(Send, 5, "n2", "n3", json!({"type":"g","deep":{"x":[[10]]}})),
            event(Recv, 5, "n2", "n3", json!({})),
            event(Send, 6, "n0", "n4", json!({"type":"g","v":[10, 10.0]})),
            event(Send, 7, "n3", "n4", json!({"type":"g","v":[10]})),
            event(Recv, 7, "n3", "n4", json!({})),
            event(Recv, 6, "n0", "n4", json!({})),
            // 11: n1 gets it from a client; its message to n2 is dropped, and a message
            // whose msg_id happens to equal 11 carries nothing.
            event(Recv, 8, "c8", "n1", bcast(11)),
            event(Send, 9, "n1", "n2", json!({"type":"g","v":[11]})),
            event(Drop, 9, "n1", "n2", json!({})),
            event(Send, 10, "n1", "n3", json!({"type":"g","msg_id":11})),
            event(Recv, 10, "n1", "n3", json!({})),
            // A node that does not have 12 yet cannot pass it on.
            event(Send, 11, "n2", "n0", json!({"type":"g","v":[12]})),
            event(Recv, 11, "n2", "n0", json!({})),
        ];
        let r = convergence(&nodes, &history, &mut events.into_iter());
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["log2-nodes"], json!(3));
        assert_eq!(r.fields["converged-count"], json!(1));
        assert_eq!(r.fields["unconverged-count"], json!(2));
        // n3 is at hop 3, n4 at min(4, 1) = 1: hops = 3, within ⌈log2 5⌉.
        assert_eq!(
            r.fields["hops"],
            json!({"0":3,"0.5":3,"0.95":3,"0.99":3,"1":3})
        );
        assert_eq!(r.fields["within-log2-count"], json!(1));
        assert_eq!(r.fields["exceeded-count"], json!(0));
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0].contains("11 reached 1 of 5 nodes (missing n0, n2, n3, n4)"),
            "{}",
            r.findings[0]
        );
        assert!(r.findings[0].contains("12 reached 0 of 5 nodes"));
    }

    #[test]
    fn convergence_reports_values_beyond_log2() {
        use NetEventKind::*;
        let nodes: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        let events = vec![
            event(Recv, 1, "c1", "n0", json!({"type":"broadcast","message":5})),
            event(Send, 2, "n0", "n1", json!({"type":"g","v":5})),
            event(Recv, 2, "n0", "n1", json!({})),
            event(Send, 3, "n1", "n2", json!({"type":"g","v":5})),
            event(Recv, 3, "n1", "n2", json!({})),
            event(Send, 4, "n2", "n0", json!({"type":"g","v":5})),
            event(Recv, 4, "n2", "n0", json!({})),
        ];
        let r = convergence(&nodes, &[], &mut events.into_iter());
        assert_eq!(r.fields["log2-nodes"], json!(2));
        assert_eq!(r.fields["hops"]["1"], json!(2));
        assert_eq!(r.fields["exceeded-count"], json!(0));
        let nodes4: Vec<String> = (0..4).map(|i| format!("n{i}")).collect();
        let events = vec![
            event(Recv, 1, "c1", "n0", json!({"type":"broadcast","message":5})),
            event(Send, 2, "n0", "n1", json!({"type":"g","v":5})),
            event(Recv, 2, "n0", "n1", json!({})),
            event(Send, 3, "n1", "n2", json!({"type":"g","v":5})),
            event(Recv, 3, "n1", "n2", json!({})),
            event(Send, 4, "n2", "n3", json!({"type":"g","v":5})),
            event(Recv, 4, "n2", "n3", json!({})),
        ];
        let r = convergence(&nodes4, &[], &mut events.into_iter());
        assert_eq!(r.fields["exceeded-count"], json!(1));
        assert!(
            r.findings[0].contains("the slowest, 5, needed 3"),
            "{:?}",
            r.findings
        );
        let one = convergence(
            &nodes[..1],
            &[],
            &mut vec![event(
                Recv,
                1,
                "c1",
                "n0",
                json!({"type":"broadcast","message":0}),
            )]
            .into_iter(),
        );
        assert_eq!(one.fields["log2-nodes"], json!(0));
        assert_eq!(one.fields["within-log2-count"], json!(1));
        assert!(one.findings.is_empty());
        assert_eq!(
            (1..=9).map(ceil_log2).collect::<Vec<_>>(),
            [0, 1, 2, 2, 3, 3, 3, 3, 4]
        );
        assert_eq!(ceil_log2(25), 5);
    }
}

//! How many network hops each broadcast value took to reach every node, traced through
//! the journal's node-to-node bodies.

use std::collections::HashMap;

use serde_json::Value;

use crate::history::{pair_index, Op, OpType};
use crate::set_full::quantiles;
use crate::{CheckResult, NetEvent, NetEventKind, Validity};

/// Body keys that are protocol, not payload: integers under them are not values.
const RESERVED_KEYS: &[&str] = &["type", "msg_id", "in_reply_to"];
/// How many values the convergence findings name.
const MAX_NAMED: usize = 5;

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

    let untraced = untraced_reads(&node_index, history, &spread);
    if untraced.count > 0 {
        return not_traceable(untraced);
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

/// Values nodes returned in reads although the trace never brought them there.
struct Untraced {
    /// How many (node, value) pairs.
    count: usize,
    /// One of them: (value, node).
    example: Option<(i128, String)>,
}

/// Every value an ok read on node X returned must have reached X in the trace (from a
/// client or in some node-to-node body); when one did not, the nodes carry values in
/// a form the trace cannot see (a bitmap, a delta, a compressed set), and hop counts
/// would be false alarms.
fn untraced_reads(
    node_index: &HashMap<&str, usize>,
    history: &[Op],
    spread: &HashMap<i128, Spread>,
) -> Untraced {
    let pairs = pair_index(history);
    let by_index: HashMap<u64, &Op> = history.iter().map(|op| (op.index, op)).collect();
    let mut untraced = Untraced {
        count: 0,
        example: None,
    };
    let mut values = Vec::new();
    for read in history
        .iter()
        .filter(|op| op.is_client() && op.kind == OpType::Ok && op.f == "read")
    {
        let Some(node) = pairs
            .get(&read.index)
            .and_then(|invoke| by_index.get(invoke))
            .and_then(|invoke| invoke.node.as_deref())
            .and_then(|name| node_index.get(name).map(|i| (name, *i)))
        else {
            continue;
        };
        values.clear();
        collect_integers(&read.value, &mut values);
        for v in &values {
            let reached = spread
                .get(v)
                .is_some_and(|s| s.hops[node.1] != Spread::NONE);
            if !reached {
                untraced.count += 1;
                untraced
                    .example
                    .get_or_insert_with(|| (*v, node.0.to_string()));
            }
        }
    }
    untraced
}

/// The result when hops cannot be traced: a statement, not a false alarm.
fn not_traceable(untraced: Untraced) -> CheckResult {
    let mut result = CheckResult::new(Validity::Valid)
        .with("traceable", false)
        .with("untraced-count", untraced.count);
    let example = untraced
        .example
        .map(|(v, node)| format!(" (e.g. {node} read {v})"))
        .unwrap_or_default();
    result.headline.push(format!(
        "hops: not traceable — values not found in node-to-node bodies: {} values read{example} \
         never appeared in a message to that node",
        untraced.count
    ));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;
    use serde_json::json;

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

    #[test]
    fn values_gossiped_in_a_form_the_trace_cannot_see_are_not_traceable() {
        use NetEventKind::*;
        let nodes: Vec<String> = (0..2).map(|i| format!("n{i}")).collect();
        let mut read_invoke = op(2, OpType::Invoke, 1, "read", Value::Null);
        read_invoke.node = Some("n1".into());
        let history = vec![
            op(0, OpType::Invoke, 0, "broadcast", json!(1)),
            op(1, OpType::Invoke, 0, "broadcast", json!(2)),
            read_invoke,
            op(3, OpType::Ok, 1, "read", json!([1, 2])),
        ];
        let events = vec![
            event(Recv, 1, "c1", "n0", json!({"type":"broadcast","message":1})),
            event(Recv, 2, "c1", "n0", json!({"type":"broadcast","message":2})),
            // The set {1, 2} as the bitmap 0b110.
            event(Send, 3, "n0", "n1", json!({"type":"g","bits":6})),
            event(Recv, 3, "n0", "n1", json!({})),
        ];
        let r = convergence(&nodes, &history, &mut events.into_iter());
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["traceable"], json!(false));
        assert_eq!(r.fields["untraced-count"], json!(2));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(
            r.headline[0]
                .starts_with("hops: not traceable — values not found in node-to-node bodies"),
            "{:?}",
            r.headline
        );
        assert!(r.headline[0].contains("n1 read 1"), "{:?}", r.headline);
    }
}

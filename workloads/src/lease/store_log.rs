//! The lease checker's service half: (c) stale actions. The `fenced-store` service
//! accepts writes the moment they are delivered to it, so its log is the network
//! journal itself: each write delivered to `fenced-store`, paired with the service's
//! reply, is one accepted (`write_ok`) or rejected write at the delivery's harness
//! time. No write with token t may be accepted after one with t' > t for the same key.
//! One pass over the journal; memory holds the writes awaiting their reply (replies
//! are immediate, so a handful) and one entry per key and per act value.

use std::collections::HashMap;

use serde_json::Value;

use super::checker::{report, Invariant};
use super::holds::token_of;
use crate::history::{Op, OpType, Process};
use crate::{CheckResult, NetEvent, NetEventKind, Validity};

/// The service's name on the network.
pub const SERVICE: &str = "fenced-store";
/// Writes awaiting a reply kept at most (more would mean a service that never replies).
const MAX_PENDING: usize = 65_536;

/// One write the store accepted.
#[derive(Debug, Clone, PartialEq)]
struct Accepted {
    time: u64,
    node: String,
    value: Value,
    token: i128,
}

/// Where an act with this value came from in the history: (process, invoke index).
fn act_index(history: &[Op]) -> HashMap<String, (u64, u64)> {
    history
        .iter()
        .filter(|op| op.kind == OpType::Invoke && op.f == "act")
        .filter_map(|op| match op.process {
            Process::Client(p) => Some((op.value.get("value")?.to_string(), (p, op.index))),
            Process::Nemesis => None,
        })
        .collect()
}

fn describe(w: &Accepted, acts: &HashMap<String, (u64, u64)>) -> String {
    let origin = match acts.get(&w.value.to_string()) {
        Some((p, i)) => format!("act op {i} of process {p}"),
        None => "no act in the history".to_string(),
    };
    format!(
        "value {} with token {} from {} at {:.3} s ({origin})",
        crate::quote::abridge_json(&w.value),
        w.token,
        w.node,
        w.time as f64 / 1e9
    )
}

/// Judge the fenced store's log (read from the journal) against stale actions.
pub fn stale_actions(history: &[Op], events: &mut dyn Iterator<Item = NetEvent>) -> CheckResult {
    let acts = act_index(history);
    let mut inv = Invariant::new("stale actions");
    let mut pending: HashMap<(String, u64), (u64, Value)> = HashMap::new();
    let mut newest: HashMap<String, Accepted> = HashMap::new();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for event in events {
        match event.kind {
            NetEventKind::Recv if event.dest == SERVICE => {
                let Ok(body) = serde_json::from_str::<Value>(&event.body) else {
                    continue;
                };
                let msg_id = body.get("msg_id").and_then(Value::as_u64);
                if body.get("type").and_then(Value::as_str) == Some("write") {
                    if let Some(msg_id) = msg_id.filter(|_| pending.len() < MAX_PENDING) {
                        pending.insert((event.src, msg_id), (event.time, body));
                    }
                }
            }
            NetEventKind::Send if event.src == SERVICE => {
                let Ok(reply) = serde_json::from_str::<Value>(&event.body) else {
                    continue;
                };
                let Some(id) = reply.get("in_reply_to").and_then(Value::as_u64) else {
                    continue;
                };
                let Some((time, request)) = pending.remove(&(event.dest.clone(), id)) else {
                    continue;
                };
                if reply.get("type").and_then(Value::as_str) != Some("write_ok") {
                    rejected += 1;
                    continue;
                }
                accepted += 1;
                let Some(token) = token_of(&request) else {
                    continue;
                };
                let key = request
                    .get("key")
                    .cloned()
                    .unwrap_or(Value::Null)
                    .to_string();
                let write = Accepted {
                    time,
                    node: event.dest,
                    value: request.get("value").cloned().unwrap_or(Value::Null),
                    token,
                };
                inv.checks += 1;
                match newest.get(&key) {
                    Some(prev) if token < prev.token => inv.violated(|| {
                        format!(
                            "key {key}: {SERVICE} accepted a stale action — {} — after it had \
                             accepted {}; the holder of token {} acted after a newer holder",
                            describe(&write, &acts),
                            describe(prev, &acts),
                            write.token
                        )
                    }),
                    Some(prev) if token == prev.token => {}
                    _ => {
                        newest.insert(key, write);
                    }
                }
            }
            _ => {}
        }
    }
    let mut result = CheckResult::new(Validity::Valid)
        .with("accepted-writes", accepted)
        .with("rejected-writes", rejected);
    result.headline.push(format!(
        "{accepted} writes accepted, {rejected} rejected by {SERVICE}"
    ));
    report(result, &[inv])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: NetEventKind, ms: u64, src: &str, dest: &str, body: Value) -> NetEvent {
        NetEvent {
            time: ms * 1_000_000,
            kind,
            id: 0,
            src: src.into(),
            dest: dest.into(),
            body: body.to_string(),
        }
    }

    fn write(ms: u64, node: &str, id: u64, token: i64, value: i64, ok: bool) -> Vec<NetEvent> {
        let reply = if ok {
            json!({"type":"write_ok","in_reply_to":id})
        } else {
            json!({"type":"error","code":30,"in_reply_to":id})
        };
        vec![
            event(
                NetEventKind::Recv,
                ms,
                node,
                SERVICE,
                json!({"type":"write","key":0,"value":value,"token":token,"msg_id":id}),
            ),
            event(NetEventKind::Send, ms, SERVICE, node, reply),
        ]
    }

    #[test]
    fn an_older_token_accepted_after_a_newer_one_is_stale() {
        let mut events = Vec::new();
        events.extend(write(10, "n0", 1, 5, 1, true));
        events.extend(write(20, "n0", 2, 5, 2, true));
        events.extend(write(30, "n1", 1, 6, 3, true));
        events.extend(write(40, "n2", 1, 5, 4, false));
        events.extend(write(50, "n0", 3, 5, 5, true));
        let result = stale_actions(&[], &mut events.into_iter());
        assert_eq!(result.valid, Validity::Invalid);
        assert_eq!(result.fields["accepted-writes"], 4);
        assert_eq!(result.fields["rejected-writes"], 1);
        let row = &result.fields["invariants"][0];
        assert_eq!(
            (row["checks"].as_u64(), row["violations"].as_u64()),
            (Some(4), Some(1))
        );
        let finding = &result.findings[0];
        assert!(
            finding.contains("value 5 with token 5 from n0 at 0.050 s"),
            "{finding}"
        );
        assert!(
            finding.contains("value 3 with token 6 from n1 at 0.030 s"),
            "{finding}"
        );
    }

    #[test]
    fn rising_tokens_and_other_traffic_pass() {
        let mut events = write(10, "n0", 1, 5, 1, true);
        events.extend(write(20, "n1", 1, 7, 2, true));
        events.push(event(
            NetEventKind::Send,
            25,
            "n0",
            "lin-kv",
            json!({"type":"read"}),
        ));
        events.push(event(
            NetEventKind::Recv,
            26,
            "n0",
            SERVICE,
            json!("not a body"),
        ));
        let result = stale_actions(&[], &mut events.into_iter());
        assert_eq!(result.valid, Validity::Valid);
    }
}

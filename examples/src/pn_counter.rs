//! A PN-counter CRDT node: two maps from node id to that node's running total of
//! increments and of decrements. An `add` changes only this node's entries and is
//! acknowledged at once; `read` returns Σ increments − Σ decrements over every node.
//! Every 250 ms the node sends its whole state to every peer as
//! `{"type":"replicate","inc":{…},"dec":{…}}` (no reply expected); merging takes the
//! per-node maximum, so lost messages do not matter and all nodes converge once the
//! network heals.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// How often the full state is sent to every peer.
const REPLICATE_EVERY: Duration = Duration::from_millis(250);

const REPLICATE_TIMER: TimerToken = 0;

#[derive(Debug, Default)]
/// The node (see the module documentation).
pub struct PnCounter {
    /// Per node: the sum of its positive deltas.
    inc: BTreeMap<String, u64>,
    /// Per node: the sum of the magnitudes of its negative deltas.
    dec: BTreeMap<String, u64>,
}

fn merge(into: &mut BTreeMap<String, u64>, from: Option<&Value>) {
    let Some(Value::Object(from)) = from else {
        return;
    };
    for (node, value) in from {
        if let Some(value) = value.as_u64() {
            let entry = into.entry(node.clone()).or_default();
            *entry = (*entry).max(value);
        }
    }
}

fn to_json(map: &BTreeMap<String, u64>) -> Value {
    let object: Map<String, Value> = map
        .iter()
        .map(|(node, value)| (node.clone(), Value::from(*value)))
        .collect();
    Value::Object(object)
}

impl PnCounter {
    fn value(&self) -> i64 {
        let inc: u64 = self.inc.values().sum();
        let dec: u64 = self.dec.values().sum();
        inc as i64 - dec as i64
    }
}

impl Node for PnCounter {
    fn start(&mut self, ctx: &mut Context) {
        ctx.set_timer(REPLICATE_EVERY, REPLICATE_TIMER);
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "add" => {
                let delta = msg.body.get_i64("delta").ok_or_else(|| {
                    RpcError::new(
                        ErrorCode::MalformedRequest,
                        "add needs an integer \"delta\"",
                    )
                })?;
                let me = ctx.node_id().to_string();
                let side = if delta >= 0 {
                    &mut self.inc
                } else {
                    &mut self.dec
                };
                *side.entry(me).or_default() += delta.unsigned_abs();
                ctx.reply(&msg, Body::new("add_ok"));
            }
            "read" => ctx.reply(&msg, Body::new("read_ok").with("value", self.value())),
            "replicate" => {
                merge(&mut self.inc, msg.body.get("inc"));
                merge(&mut self.dec, msg.body.get("dec"));
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("pn-counter node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        ctx.set_timer(REPLICATE_EVERY, REPLICATE_TIMER);
        if self.inc.is_empty() && self.dec.is_empty() {
            return;
        }
        let body = Body::new("replicate")
            .with("inc", to_json(&self.inc))
            .with("dec", to_json(&self.dec));
        let me = ctx.node_id().to_string();
        let peers: Vec<String> = ctx.node_ids().to_vec();
        for peer in peers.iter().filter(|p| **p != me) {
            ctx.send(peer, body.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use straum_node::Init;

    fn message(src: &str, msg_id: Option<u64>, body: Body) -> Message {
        Message {
            id: None,
            src: src.into(),
            dest: "n0".into(),
            body: Body { msg_id, ..body },
        }
    }

    fn read(node: &mut PnCounter, ctx: &mut Context) -> Value {
        node.handle(message("c1", Some(99), Body::new("read")), ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out[0].body.kind, "read_ok");
        out[0].body.get("value").unwrap().clone()
    }

    #[test]
    fn adds_merge_by_per_node_maximum_and_replicate_to_every_peer() {
        let mut node = PnCounter::default();
        let mut ctx = Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
        });
        node.start(&mut ctx);
        assert_eq!(ctx.take_timers(), [(REPLICATE_EVERY, REPLICATE_TIMER)]);
        for (i, delta) in [4i64, -5, 2].into_iter().enumerate() {
            let add = Body::new("add").with("delta", delta);
            node.handle(message("c1", Some(i as u64 + 1), add), &mut ctx)
                .unwrap();
        }
        let out = ctx.take_outbox();
        assert!(out
            .iter()
            .all(|m| m.body.kind == "add_ok" && m.body.fields.is_empty()));
        assert_eq!(read(&mut node, &mut ctx), json!(1));

        // n1's state: n1 added 3 and subtracted 9; it has an older view of n0.
        let replicate = Body::new("replicate")
            .with("inc", json!({"n0": 4, "n1": 3}))
            .with("dec", json!({"n1": 9}));
        node.handle(message("n1", None, replicate.clone()), &mut ctx)
            .unwrap();
        node.handle(message("n1", None, replicate), &mut ctx)
            .unwrap();
        assert!(ctx.take_outbox().is_empty());
        assert_eq!(read(&mut node, &mut ctx), json!(1 + 3 - 9));

        ctx.set_now(REPLICATE_EVERY);
        node.tick(REPLICATE_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        let dests: Vec<&str> = out.iter().map(|m| m.dest.as_str()).collect();
        assert_eq!(dests, ["n1", "n2"]);
        for m in &out {
            assert_eq!(m.body.kind, "replicate");
            assert_eq!(m.body.get("inc"), Some(&json!({"n0": 6, "n1": 3})));
            assert_eq!(m.body.get("dec"), Some(&json!({"n0": 5, "n1": 9})));
        }
        assert_eq!(ctx.take_timers(), [(REPLICATE_EVERY * 2, REPLICATE_TIMER)]);
    }
}

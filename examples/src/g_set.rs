//! A grow-only set node: `add` inserts an element locally, `read` returns every element
//! known. Every 250 ms the node sends its whole set to every other node as
//! `{"type":"replicate","value":[…]}` (no reply expected) and merges what it receives by
//! union, so all nodes converge once the network heals, whatever was lost before.

use std::collections::BTreeSet;
use std::time::Duration;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// How often the full set is sent to every peer.
const REPLICATE_EVERY: Duration = Duration::from_millis(250);

const REPLICATE_TIMER: TimerToken = 0;

#[derive(Default)]
/// The node (see the module documentation).
pub struct GSet {
    elements: BTreeSet<u64>,
    /// Whether the replication timer has been started (on the first message).
    started: bool,
}

impl Node for GSet {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if !self.started {
            self.started = true;
            ctx.set_timer(REPLICATE_EVERY, REPLICATE_TIMER);
        }
        match msg.body.kind.as_str() {
            "add" => {
                let element = msg.body.get_u64("element").ok_or_else(|| {
                    RpcError::new(
                        ErrorCode::MalformedRequest,
                        "add needs an integer \"element\"",
                    )
                })?;
                self.elements.insert(element);
                ctx.reply(&msg, Body::new("add_ok"));
            }
            "read" => {
                let value: Vec<u64> = self.elements.iter().copied().collect();
                ctx.reply(&msg, Body::new("read_ok").with("value", value));
            }
            "replicate" => {
                let value = msg.body.get("value").and_then(|v| v.as_array());
                let elements = value.into_iter().flatten().filter_map(|v| v.as_u64());
                self.elements.extend(elements);
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("g-set node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        ctx.set_timer(REPLICATE_EVERY, REPLICATE_TIMER);
        if self.elements.is_empty() {
            return;
        }
        let value: Vec<u64> = self.elements.iter().copied().collect();
        let me = ctx.node_id().to_string();
        let peers: Vec<String> = ctx.node_ids().to_vec();
        for peer in peers.iter().filter(|p| **p != me) {
            ctx.send(peer, Body::new("replicate").with("value", value.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::Init;

    fn message(src: &str, msg_id: Option<u64>, body: Body) -> Message {
        Message {
            id: None,
            src: src.into(),
            dest: "n0".into(),
            body: Body { msg_id, ..body },
        }
    }

    #[test]
    fn adds_are_replicated_to_every_peer_and_merged_by_union() {
        let mut node = GSet::default();
        let mut ctx = Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
        });
        let add = Body::new("add").with("element", 4u64);
        node.handle(message("c1", Some(1), add), &mut ctx).unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out[0].body.kind, "add_ok");
        assert!(out[0].body.fields.is_empty());
        assert_eq!(ctx.take_timers(), [(REPLICATE_EVERY, REPLICATE_TIMER)]);

        let replicate = Body::new("replicate").with("value", vec![1u64, 4]);
        node.handle(message("n2", None, replicate), &mut ctx)
            .unwrap();
        assert!(ctx.take_outbox().is_empty());

        ctx.set_now(REPLICATE_EVERY);
        node.tick(REPLICATE_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        let dests: Vec<&str> = out.iter().map(|m| m.dest.as_str()).collect();
        assert_eq!(dests, ["n1", "n2"]);
        for m in &out {
            assert_eq!(m.body.kind, "replicate");
            assert_eq!(m.body.get("value"), Some(&serde_json::json!([1, 4])));
        }
        assert_eq!(ctx.take_timers(), [(REPLICATE_EVERY * 2, REPLICATE_TIMER)]);

        node.handle(message("c1", Some(2), Body::new("read")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out[0].body.kind, "read_ok");
        assert_eq!(out[0].body.get("value"), Some(&serde_json::json!([1, 4])));
    }
}

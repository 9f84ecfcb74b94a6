//! A broadcast node for large clusters: it follows the topology it is given (e.g.
//! `--topology tree4`) and batches. A value a node learns — from a client or a
//! neighbour — is queued for every other neighbour; every [`TICK`] the node sends each
//! neighbour all its queued values in one `{"type":"gossip","messages":[…]}` request,
//! and forgets them once the neighbour answers `gossip_ok`. Unacknowledged values go
//! again after [`RETRY_AFTER`], so values cross a partition once it heals. Messages
//! per operation then depend on the tick, not on the cluster's size, which is what
//! lets a thousand of these run on two cores.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// How often queued values are sent.
pub const TICK: Duration = Duration::from_millis(200);
/// How long a value may go unacknowledged before it is sent again.
pub const RETRY_AFTER: Duration = Duration::from_millis(1000);
/// How long an in-flight `gossip` is remembered.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(5);

const TICK_TIMER: TimerToken = 0;

/// The node (see the module documentation).
#[derive(Default)]
pub struct TreeBroadcast {
    values: BTreeSet<u64>,
    neighbours: Vec<String>,
    /// Per neighbour: values it has not acknowledged, with when each was last sent
    /// (`None`: not yet).
    pending: BTreeMap<String, BTreeMap<u64, Option<Duration>>>,
    /// Unanswered `gossip` requests by msg_id: (neighbour, values carried, sent at).
    in_flight: BTreeMap<u64, (String, Vec<u64>, Duration)>,
    timer_armed: bool,
}

impl TreeBroadcast {
    /// Remember `value`; the first time, queue it for every neighbour but `from`.
    fn learn(&mut self, value: u64, from: Option<&str>, ctx: &mut Context) {
        if !self.values.insert(value) {
            return;
        }
        for peer in self.neighbours.iter().filter(|p| Some(p.as_str()) != from) {
            self.pending
                .entry(peer.clone())
                .or_default()
                .insert(value, None);
        }
        self.arm_timer(ctx);
    }

    fn arm_timer(&mut self, ctx: &mut Context) {
        if !self.timer_armed && self.pending.values().any(|p| !p.is_empty()) {
            ctx.set_timer(TICK, TICK_TIMER);
            self.timer_armed = true;
        }
    }
}

impl Node for TreeBroadcast {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "topology" => {
                let me = ctx.node_id().to_string();
                self.neighbours = msg
                    .body
                    .get("topology")
                    .and_then(|t| t.get(&me))
                    .and_then(|n| n.as_array())
                    .map(|n| {
                        n.iter()
                            .filter_map(|p| p.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                ctx.reply(&msg, Body::new("topology_ok"));
            }
            "broadcast" => {
                let value = msg.body.get_u64("message").ok_or_else(|| {
                    RpcError::new(
                        ErrorCode::MalformedRequest,
                        "broadcast needs an integer \"message\"",
                    )
                })?;
                ctx.reply(&msg, Body::new("broadcast_ok"));
                self.learn(value, None, ctx);
            }
            "gossip" => {
                let values: Vec<u64> = msg
                    .body
                    .get("messages")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_u64())
                    .collect();
                for value in values {
                    self.learn(value, Some(&msg.src), ctx);
                }
                ctx.reply(&msg, Body::new("gossip_ok"));
            }
            "gossip_ok" => {
                let acked = msg
                    .body
                    .in_reply_to
                    .and_then(|id| self.in_flight.remove(&id));
                if let Some((peer, values, _)) = acked {
                    if let Some(pending) = self.pending.get_mut(&peer) {
                        for value in values {
                            pending.remove(&value);
                        }
                    }
                }
            }
            "read" => {
                let messages: Vec<u64> = self.values.iter().copied().collect();
                ctx.reply(&msg, Body::new("read_ok").with("messages", messages));
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("broadcast node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        self.timer_armed = false;
        let now = ctx.now();
        self.in_flight
            .retain(|_, (_, _, sent)| now.saturating_sub(*sent) < IN_FLIGHT_TTL);
        let mut batches = Vec::new();
        for (peer, pending) in &mut self.pending {
            let due: Vec<u64> = pending
                .iter_mut()
                .filter(|(_, sent)| sent.is_none_or(|at| now.saturating_sub(at) >= RETRY_AFTER))
                .map(|(value, sent)| {
                    *sent = Some(now);
                    *value
                })
                .collect();
            if !due.is_empty() {
                batches.push((peer.clone(), due));
            }
        }
        for (peer, values) in batches {
            let body = Body::new("gossip").with("messages", values.clone());
            let msg_id = ctx.rpc(&peer, body);
            self.in_flight.insert(msg_id, (peer, values, now));
        }
        self.arm_timer(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::Init;

    fn node_with_topology(me: &str) -> (TreeBroadcast, Context) {
        let mut ctx = Context::new(Init {
            node_id: me.into(),
            node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
        });
        let mut node = TreeBroadcast::default();
        let topology = Body::new("topology").with(
            "topology",
            serde_json::json!({"n0": ["n1", "n2"], "n1": ["n0"], "n2": ["n0"]}),
        );
        let msg = Message {
            id: None,
            src: "c1".into(),
            dest: me.into(),
            body: Body {
                msg_id: Some(1),
                ..topology
            },
        };
        node.handle(msg, &mut ctx).unwrap();
        ctx.take_outbox();
        (node, ctx)
    }

    #[test]
    fn batches_per_neighbour_and_never_sends_a_value_back_where_it_came_from() {
        let (mut node, mut ctx) = node_with_topology("n0");
        let gossip = Body::new("gossip").with("messages", vec![5u64, 6]);
        let msg = Message {
            id: None,
            src: "n1".into(),
            dest: "n0".into(),
            body: Body {
                msg_id: Some(9),
                ..gossip
            },
        };
        node.handle(msg, &mut ctx).unwrap();
        let replies = ctx.take_outbox();
        assert_eq!(
            replies.len(),
            1,
            "only the gossip_ok goes out before the tick"
        );
        node.tick(TICK_TIMER, &mut ctx);
        let sent = ctx.take_outbox();
        assert_eq!(sent.len(), 1, "one batch, to n2 only: {sent:?}");
        assert_eq!(sent[0].dest, "n2");
        assert_eq!(
            sent[0].body.get("messages"),
            Some(&serde_json::json!([5, 6]))
        );
    }
}

//! A broadcast node that tolerates partitions and message loss and meets the Gossip
//! Glomers 3d targets (25 nodes, 100 ms latency: < 30 messages per op, median latency
//! < 400 ms, max < 600 ms).
//!
//! The suggested topology is ignored. The node that receives a client `broadcast`
//! replies at once and sends the value straight to every other node as a
//! `{"type":"gossip","messages":[v]}` request; each peer stores the values and answers
//! `gossip_ok`. The origin remembers, per peer, which values are not yet acknowledged;
//! a timer resends all of a peer's overdue values in one batched `gossip`, until the
//! peer acknowledges them (so values cross a partition once it heals). Values learned
//! from a peer are not forwarded again: their origin is responsible for them.
//! Receiving a value twice is harmless, and it is acknowledged again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// How often the retry timer fires while some value is unacknowledged.
const RETRY_TICK: Duration = Duration::from_millis(400);
/// How long a value may go unacknowledged before it is sent again.
const RETRY_AFTER: Duration = Duration::from_millis(400);
/// How long an in-flight `gossip` is remembered; a later `gossip_ok` is ignored (the
/// values stay pending and are simply sent again).
const IN_FLIGHT_TTL: Duration = Duration::from_secs(5);

const RETRY_TIMER: TimerToken = 0;

#[derive(Default)]
/// The node (see the module documentation).
pub struct Broadcast {
    /// Every value this node knows.
    values: BTreeSet<u64>,
    /// Per peer: values it has not acknowledged, with when each was last sent to it.
    pending: BTreeMap<String, BTreeMap<u64, Duration>>,
    /// Unanswered `gossip` requests by msg_id: (peer, values carried, sent at).
    in_flight: BTreeMap<u64, (String, Vec<u64>, Duration)>,
    /// Whether the retry timer is set.
    timer_armed: bool,
    /// The deliberately buggy variant: never resend (values sent into a partition
    /// are lost).
    no_retries: bool,
}

impl Broadcast {
    /// The deliberately buggy variant that sends each value once and never retries:
    /// a partition loses values, which the simulator must find.
    pub fn without_retries() -> Broadcast {
        Broadcast {
            no_retries: true,
            ..Broadcast::default()
        }
    }

    /// Send `values` to `peer` in one `gossip` request and remember them as in flight.
    fn gossip(&mut self, peer: &str, values: Vec<u64>, ctx: &mut Context) {
        let body = Body::new("gossip").with("messages", values.clone());
        let msg_id = ctx.rpc(peer, body);
        self.in_flight
            .insert(msg_id, (peer.to_string(), values, ctx.now()));
    }

    fn arm_timer(&mut self, ctx: &mut Context) {
        if !self.no_retries && !self.timer_armed && self.pending.values().any(|p| !p.is_empty()) {
            ctx.set_timer(RETRY_TICK, RETRY_TIMER);
            self.timer_armed = true;
        }
    }
}

impl Node for Broadcast {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "topology" => ctx.reply(&msg, Body::new("topology_ok")),
            "broadcast" => {
                let value = msg.body.get_u64("message").ok_or_else(|| {
                    RpcError::new(
                        ErrorCode::MalformedRequest,
                        "broadcast needs an integer \"message\"",
                    )
                })?;
                ctx.reply(&msg, Body::new("broadcast_ok"));
                if self.values.insert(value) {
                    let now = ctx.now();
                    let me = ctx.node_id().to_string();
                    let peers: Vec<String> = ctx.node_ids().to_vec();
                    for peer in peers.iter().filter(|p| **p != me) {
                        self.pending
                            .entry(peer.clone())
                            .or_default()
                            .insert(value, now);
                        self.gossip(peer, vec![value], ctx);
                    }
                    self.arm_timer(ctx);
                }
            }
            "gossip" => {
                let values = msg.body.get("messages").and_then(|v| v.as_array());
                for value in values.into_iter().flatten().filter_map(|v| v.as_u64()) {
                    self.values.insert(value);
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
            let overdue: Vec<u64> = pending
                .iter_mut()
                .filter(|(_, sent)| now.saturating_sub(**sent) >= RETRY_AFTER)
                .map(|(value, sent)| {
                    *sent = now;
                    *value
                })
                .collect();
            if !overdue.is_empty() {
                batches.push((peer.clone(), overdue));
            }
        }
        for (peer, values) in batches {
            self.gossip(&peer, values, ctx);
        }
        self.arm_timer(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::Init;

    fn context(node_id: &str) -> Context {
        Context::new(Init {
            node_id: node_id.into(),
            node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
        })
    }

    fn message(src: &str, body: Body) -> Message {
        Message {
            id: None,
            src: src.into(),
            dest: "n0".into(),
            body,
        }
    }

    fn request(src: &str, msg_id: u64, body: Body) -> Message {
        message(
            src,
            Body {
                msg_id: Some(msg_id),
                ..body
            },
        )
    }

    fn ack(src: &str, in_reply_to: u64) -> Message {
        message(
            src,
            Body {
                in_reply_to: Some(in_reply_to),
                ..Body::new("gossip_ok")
            },
        )
    }

    fn numbers(body: &Body, key: &str) -> Vec<u64> {
        let values = body.get(key).and_then(|v| v.as_array()).unwrap();
        values.iter().map(|v| v.as_u64().unwrap()).collect()
    }

    #[test]
    fn client_broadcast_is_acked_and_sent_to_every_peer_then_acks_clear_it() {
        let mut node = Broadcast::default();
        let mut ctx = context("n0");
        let broadcast = Body::new("broadcast").with("message", 7u64);
        node.handle(request("c1", 4, broadcast), &mut ctx).unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out[0].dest, "c1");
        assert_eq!(out[0].body.kind, "broadcast_ok");
        assert!(out[0].body.fields.is_empty());
        let gossip: Vec<&Message> = out[1..].iter().collect();
        let dests: Vec<&str> = gossip.iter().map(|m| m.dest.as_str()).collect();
        assert_eq!(dests, ["n1", "n2"]);
        for m in &gossip {
            assert_eq!(m.body.kind, "gossip");
            assert_eq!(numbers(&m.body, "messages"), [7]);
        }
        assert_eq!(ctx.take_timers(), [(RETRY_TICK, RETRY_TIMER)]);

        for m in &gossip {
            node.handle(ack(&m.dest, m.body.msg_id.unwrap()), &mut ctx)
                .unwrap();
        }
        assert!(node.pending.values().all(BTreeMap::is_empty));
        assert!(node.in_flight.is_empty());
        // Nothing is left to retry: the tick sends nothing and does not re-arm.
        ctx.set_now(RETRY_TICK);
        node.tick(RETRY_TIMER, &mut ctx);
        assert!(ctx.take_outbox().is_empty());
        assert!(ctx.take_timers().is_empty());
    }

    #[test]
    fn tick_resends_only_overdue_unacked_values_in_one_message_per_peer() {
        let mut node = Broadcast::default();
        let mut ctx = context("n0");
        for (i, value) in [1u64, 2].into_iter().enumerate() {
            let body = Body::new("broadcast").with("message", value);
            node.handle(request("c1", i as u64 + 1, body), &mut ctx)
                .unwrap();
        }
        let sent = ctx.take_outbox();
        // n1 acknowledges both values, n2 only value 1.
        for m in sent.iter().filter(|m| m.body.kind == "gossip") {
            if m.dest == "n1" || numbers(&m.body, "messages") == [1] {
                node.handle(ack(&m.dest, m.body.msg_id.unwrap()), &mut ctx)
                    .unwrap();
            }
        }
        // A value broadcast just before the tick is not yet overdue.
        ctx.set_now(Duration::from_millis(300));
        let body = Body::new("broadcast").with("message", 3u64);
        node.handle(request("c1", 3, body), &mut ctx).unwrap();
        ctx.take_outbox();
        ctx.take_timers();

        ctx.set_now(RETRY_TICK);
        node.tick(RETRY_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, "n2");
        assert_eq!(numbers(&out[0].body, "messages"), [2]);
        assert_eq!(ctx.take_timers(), [(RETRY_TICK * 2, RETRY_TIMER)]);

        // Next tick: value 2 again for n2 (unacked), value 3 now overdue for both.
        ctx.set_now(RETRY_TICK * 2);
        node.tick(RETRY_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        let batches: Vec<(&str, Vec<u64>)> = out
            .iter()
            .map(|m| (m.dest.as_str(), numbers(&m.body, "messages")))
            .collect();
        assert_eq!(batches, [("n1", vec![3]), ("n2", vec![2, 3])]);
    }

    #[test]
    fn gossip_is_idempotent_acked_and_not_forwarded_and_read_returns_all() {
        let mut node = Broadcast::default();
        let mut ctx = context("n0");
        let gossip = || Body::new("gossip").with("messages", vec![5u64, 9]);
        node.handle(request("n1", 11, gossip()), &mut ctx).unwrap();
        node.handle(request("n2", 3, gossip()), &mut ctx).unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|m| m.body.kind == "gossip_ok"));
        assert_eq!(out[0].body.in_reply_to, Some(11));
        assert!(ctx.take_timers().is_empty());

        node.handle(request("c2", 1, Body::new("read")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out[0].body.kind, "read_ok");
        assert_eq!(numbers(&out[0].body, "messages"), [5, 9]);
        assert_eq!(out[0].body.fields.len(), 1);
    }
}

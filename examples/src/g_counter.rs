//! A grow-only counter node built on the `seq-kv` service (Gossip Glomers challenge 4).
//!
//! Each node keeps its own running total locally and is the only writer of its key
//! `counter-<node id>` in seq-kv, so the values stored under a key only grow and no
//! update can be lost to a race. An `add` raises the local total, then `write`s the new
//! total; the client gets `add_ok` once a write covering its delta is acknowledged
//! (at most one write is in flight; adds arriving meanwhile are covered by the next).
//!
//! seq-kv may serve stale state, but never older than the caller's own last mutation.
//! So a `read` first writes a fresh value to the node's own `sync-<node id>` key, which
//! moves this node's view to the newest state, then reads every other node's key in
//! parallel (a missing key, error 20, counts as 0) and replies with their sum plus the
//! local total.
//!
//! Every request to seq-kv is remembered by its `msg_id`; a timer resends any request
//! unanswered for a second (a write is resent with the current total). If a reply
//! arrives for a write that was superseded by a resend, that old write may have been
//! applied after the newer one and lowered the key, so the current total is written
//! again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// The service every count lives in.
const KV: &str = "seq-kv";
/// How often the retry timer fires.
const TICK: Duration = Duration::from_millis(200);
/// How long a request to seq-kv may go unanswered before it is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a superseded request is remembered (late replies are still used).
const FORGET_AFTER: Duration = Duration::from_secs(30);

const RETRY_TIMER: TimerToken = 0;

/// What a request to seq-kv is for.
#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// Writing this node's total to its own key.
    Write { value: u64 },
    /// The freshness write that starts client read `read`.
    Sync { read: u64 },
    /// Reading `node`'s key for client read `read`.
    ReadKey { read: u64, node: String },
}

/// An unanswered request to seq-kv.
#[derive(Debug)]
struct Call {
    purpose: Purpose,
    body: Body,
    sent: Duration,
    /// A newer request has replaced this one; a late reply is still welcome.
    superseded: bool,
}

/// A client `read` in progress.
#[derive(Debug)]
struct ClientRead {
    request: Message,
    /// Nodes whose keys have not been read yet (empty until the sync write is done).
    pending: BTreeSet<String>,
    synced: bool,
    sum: u64,
}

#[derive(Debug, Default)]
/// The node (see the module documentation).
pub struct Counter {
    /// The sum of every delta this node has accepted.
    count: u64,
    /// The highest total seq-kv acknowledged for this node's key.
    durable: u64,
    /// The msg_id of the write in flight, if any.
    writing: Option<u64>,
    /// A superseded write was applied: write the total again even if it is durable.
    rewrite: bool,
    /// Adds waiting for a write: the request and the total that covers it.
    waiting_adds: Vec<(Message, u64)>,
    reads: BTreeMap<u64, ClientRead>,
    next_read: u64,
    /// Unique values for the sync key.
    sync_seq: u64,
    calls: BTreeMap<u64, Call>,
}

fn own_key(node: &str) -> String {
    format!("counter-{node}")
}

impl Counter {
    fn call(&mut self, purpose: Purpose, body: Body, ctx: &mut Context) -> u64 {
        let msg_id = ctx.rpc(KV, body.clone());
        self.calls.insert(
            msg_id,
            Call {
                purpose,
                body,
                sent: ctx.now(),
                superseded: false,
            },
        );
        msg_id
    }

    /// Write the local total if it is ahead of seq-kv and no write is in flight.
    fn write_if_needed(&mut self, ctx: &mut Context) {
        if self.writing.is_some() || (self.count <= self.durable && !self.rewrite) {
            return;
        }
        self.rewrite = false;
        let body = Body::new("write")
            .with("key", own_key(ctx.node_id()))
            .with("value", self.count);
        let value = self.count;
        self.writing = Some(self.call(Purpose::Write { value }, body, ctx));
    }

    fn written(&mut self, msg_id: u64, value: u64, ctx: &mut Context) {
        if self.writing == Some(msg_id) {
            self.writing = None;
            self.durable = self.durable.max(value);
            let durable = self.durable;
            let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_adds)
                .into_iter()
                .partition(|(_, target)| *target <= durable);
            self.waiting_adds = waiting;
            for (request, _) in done {
                ctx.reply(&request, Body::new("add_ok"));
            }
        } else {
            self.rewrite = true;
        }
        self.write_if_needed(ctx);
    }

    fn start_read(&mut self, request: Message, ctx: &mut Context) {
        let read = self.next_read;
        self.next_read += 1;
        self.sync_seq += 1;
        let me = ctx.node_id().to_string();
        let body = Body::new("write")
            .with("key", format!("sync-{me}"))
            .with("value", self.sync_seq);
        self.reads.insert(
            read,
            ClientRead {
                request,
                pending: BTreeSet::new(),
                synced: false,
                sum: 0,
            },
        );
        self.call(Purpose::Sync { read }, body, ctx);
    }

    /// The sync write of `read` is done: read every other node's key.
    fn synced(&mut self, read: u64, ctx: &mut Context) {
        let Some(r) = self.reads.get_mut(&read) else {
            return;
        };
        if r.synced {
            return;
        }
        r.synced = true;
        let me = ctx.node_id().to_string();
        let others: Vec<String> = ctx
            .node_ids()
            .iter()
            .filter(|n| **n != me)
            .cloned()
            .collect();
        r.pending = others.iter().cloned().collect();
        for node in others {
            let body = Body::new("read").with("key", own_key(&node));
            self.call(Purpose::ReadKey { read, node }, body, ctx);
        }
        self.finish_if_done(read, ctx);
    }

    fn key_read(&mut self, read: u64, node: &str, value: u64, ctx: &mut Context) {
        if let Some(r) = self.reads.get_mut(&read) {
            if r.synced && r.pending.remove(node) {
                r.sum += value;
            }
        }
        self.finish_if_done(read, ctx);
    }

    fn finish_if_done(&mut self, read: u64, ctx: &mut Context) {
        let done = self
            .reads
            .get(&read)
            .is_some_and(|r| r.synced && r.pending.is_empty());
        if !done {
            return;
        }
        let r = self.reads.remove(&read).expect("read exists");
        ctx.reply(
            &r.request,
            Body::new("read_ok").with("value", r.sum + self.count),
        );
        self.calls.retain(|_, call| match &call.purpose {
            Purpose::Sync { read: id } | Purpose::ReadKey { read: id, .. } => *id != read,
            Purpose::Write { .. } => true,
        });
    }

    /// A reply (or error) from seq-kv.
    fn service_reply(&mut self, msg: &Message, ctx: &mut Context) {
        let Some(msg_id) = msg.body.in_reply_to else {
            return;
        };
        let Some(call) = self.calls.get(&msg_id) else {
            return;
        };
        let purpose = call.purpose.clone();
        let code = msg.body.get_i64("code");
        match (msg.body.kind.as_str(), purpose) {
            ("write_ok", Purpose::Write { value }) => {
                self.calls.remove(&msg_id);
                self.written(msg_id, value, ctx);
            }
            ("write_ok", Purpose::Sync { read }) => {
                self.calls.remove(&msg_id);
                self.synced(read, ctx);
            }
            ("read_ok", Purpose::ReadKey { read, node }) => {
                self.calls.remove(&msg_id);
                let value = msg.body.get_u64("value").unwrap_or(0);
                self.key_read(read, &node, value, ctx);
            }
            ("error", Purpose::ReadKey { read, node }) if code == Some(20) => {
                self.calls.remove(&msg_id);
                self.key_read(read, &node, 0, ctx);
            }
            _ => {
                // Any other error: let the timer send it again soon.
                eprintln!("seq-kv answered {:?} to {msg_id}; retrying", msg.body);
                if let Some(call) = self.calls.get_mut(&msg_id) {
                    call.sent = ctx.now().saturating_sub(RETRY_AFTER);
                }
            }
        }
    }

    /// Resend overdue requests and forget old superseded ones.
    fn retry(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        self.calls
            .retain(|_, call| !call.superseded || now.saturating_sub(call.sent) < FORGET_AFTER);
        let mut overdue: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, call)| !call.superseded && now.saturating_sub(call.sent) >= RETRY_AFTER)
            .map(|(id, _)| *id)
            .collect();
        overdue.sort_unstable();
        for id in overdue {
            let call = self.calls.get_mut(&id).expect("overdue call exists");
            call.superseded = true;
            let (purpose, body) = (call.purpose.clone(), call.body.clone());
            match purpose {
                Purpose::Write { .. } => {
                    // Resend with the current total.
                    self.writing = None;
                    self.rewrite = true;
                    self.write_if_needed(ctx);
                }
                purpose => {
                    self.call(purpose, body, ctx);
                }
            }
        }
    }
}

impl Node for Counter {
    fn start(&mut self, ctx: &mut Context) {
        ctx.set_timer(TICK, RETRY_TIMER);
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        match msg.body.kind.as_str() {
            "add" => {
                let delta = msg.body.get_u64("delta").ok_or_else(|| {
                    RpcError::new(
                        ErrorCode::MalformedRequest,
                        "add needs a non-negative integer \"delta\"",
                    )
                })?;
                self.count += delta;
                if self.count <= self.durable {
                    ctx.reply(&msg, Body::new("add_ok"));
                } else {
                    self.waiting_adds.push((msg, self.count));
                    self.write_if_needed(ctx);
                }
            }
            "read" if msg.body.in_reply_to.is_none() => self.start_read(msg, ctx),
            "read_ok" | "write_ok" | "error" if msg.src == KV => self.service_reply(&msg, ctx),
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("g-counter node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        ctx.set_timer(TICK, RETRY_TIMER);
        self.retry(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use straum_node::Init;

    fn context() -> Context {
        Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
        })
    }

    fn client(msg_id: u64, body: Body) -> Message {
        Message {
            id: None,
            src: "c9".into(),
            dest: "n0".into(),
            body: Body {
                msg_id: Some(msg_id),
                ..body
            },
        }
    }

    fn kv_reply(in_reply_to: u64, body: Body) -> Message {
        Message {
            id: None,
            src: KV.into(),
            dest: "n0".into(),
            body: Body {
                in_reply_to: Some(in_reply_to),
                ..body
            },
        }
    }

    fn add(node: &mut Counter, ctx: &mut Context, msg_id: u64, delta: u64) {
        let body = Body::new("add").with("delta", delta);
        node.handle(client(msg_id, body), ctx).unwrap();
    }

    #[test]
    fn adds_are_acknowledged_once_a_covering_write_is() {
        let mut node = Counter::default();
        let mut ctx = context();
        add(&mut node, &mut ctx, 1, 3);
        add(&mut node, &mut ctx, 2, 4);
        let out = ctx.take_outbox();
        // One write in flight, for the first add only.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, KV);
        assert_eq!(out[0].body.kind, "write");
        assert_eq!(out[0].body.get("key"), Some(&json!("counter-n0")));
        assert_eq!(out[0].body.get("value"), Some(&json!(3)));
        let first = out[0].body.msg_id.unwrap();
        node.handle(kv_reply(first, Body::new("write_ok")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].dest.as_str(), out[0].body.kind.as_str()),
            ("c9", "add_ok")
        );
        assert_eq!(out[0].body.in_reply_to, Some(1));
        assert_eq!(out[1].body.get("value"), Some(&json!(7)));
        let second = out[1].body.msg_id.unwrap();
        node.handle(kv_reply(second, Body::new("write_ok")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body.in_reply_to, Some(2));
        // A zero delta is already durable.
        add(&mut node, &mut ctx, 3, 0);
        let out = ctx.take_outbox();
        assert_eq!(out[0].body.kind, "add_ok");
    }

    #[test]
    fn read_syncs_then_sums_every_key_with_missing_keys_as_zero() {
        let mut node = Counter::default();
        let mut ctx = context();
        node.count = 5;
        node.durable = 5;
        node.handle(client(8, Body::new("read")), &mut ctx).unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body.kind, "write");
        assert_eq!(out[0].body.get("key"), Some(&json!("sync-n0")));
        let sync = out[0].body.msg_id.unwrap();
        node.handle(kv_reply(sync, Body::new("write_ok")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        let keys: Vec<&serde_json::Value> =
            out.iter().map(|m| m.body.get("key").unwrap()).collect();
        assert_eq!(keys, [&json!("counter-n1"), &json!("counter-n2")]);
        assert!(out.iter().all(|m| m.body.kind == "read" && m.dest == KV));
        let missing = Body::new("error")
            .with("code", 20)
            .with("text", "key does not exist");
        node.handle(kv_reply(out[0].body.msg_id.unwrap(), missing), &mut ctx)
            .unwrap();
        assert!(ctx.take_outbox().is_empty());
        let found = Body::new("read_ok").with("value", 11);
        node.handle(kv_reply(out[1].body.msg_id.unwrap(), found), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, "c9");
        assert_eq!(out[0].body.kind, "read_ok");
        assert_eq!(out[0].body.in_reply_to, Some(8));
        assert_eq!(out[0].body.get("value"), Some(&json!(16)));
        assert!(node.calls.is_empty() && node.reads.is_empty());
    }

    #[test]
    fn unanswered_requests_are_resent_and_late_superseded_writes_are_repaired() {
        let mut node = Counter::default();
        let mut ctx = context();
        add(&mut node, &mut ctx, 1, 2);
        let old = ctx.take_outbox()[0].body.msg_id.unwrap();
        add(&mut node, &mut ctx, 2, 1);
        ctx.set_now(RETRY_AFTER);
        node.tick(RETRY_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body.get("value"), Some(&json!(3)));
        let new = out[0].body.msg_id.unwrap();
        node.handle(kv_reply(new, Body::new("write_ok")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|m| m.body.kind == "add_ok"));
        // The old write of 2 turns up late: it may have overwritten 3, so write again.
        node.handle(kv_reply(old, Body::new("write_ok")), &mut ctx)
            .unwrap();
        let out = ctx.take_outbox();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body.kind, "write");
        assert_eq!(out[0].body.get("value"), Some(&json!(3)));
        // Reads are resent as they were.
        node.handle(client(9, Body::new("read")), &mut ctx).unwrap();
        let sync = ctx.take_outbox().pop().unwrap();
        ctx.set_now(RETRY_AFTER * 3);
        node.tick(RETRY_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        let resent: Vec<&Message> = out
            .iter()
            .filter(|m| m.body.get("key") == sync.body.get("key"))
            .collect();
        assert_eq!(resent.len(), 1);
        assert_eq!(resent[0].body.get("value"), sync.body.get("value"));
        assert_ne!(resent[0].body.msg_id, sync.body.msg_id);
    }
}

//! A kafka-style log node whose state lives in the `lin-kv` service (Gossip Glomers
//! challenges 5a and 5b: one or more nodes, every node serving every key).
//!
//! Each key's whole log is one lin-kv value, `log-<key>`: an array of `[msg, tag]`
//! entries whose array index is the offset (so offsets are dense from 0). A `send`
//! reads the log and appends its entry with a `cas` from the log it read (creating the
//! key if it was missing); on a conflict (error 22) it reads again and retries. The tag
//! (`<node>-<request>`) makes a retried append safe: if a `cas` whose reply was lost did
//! take effect, the next read finds the tag and the send answers with that offset
//! instead of appending twice. A `poll` reads each requested key's log and returns the
//! entries from the requested offset on. Committed offsets are lin-kv values
//! `commit-<key>`, written by `commit_offsets` and read by `list_committed_offsets`.
//!
//! Requests to lin-kv are remembered by msg_id with what they are for; a timer resends
//! any request unanswered for a second (an unanswered `cas` goes back to reading the
//! log), and an unexpected error reply is retried at the next tick. Logs stay small in
//! the kafka workload (at most `--max-writes-per-key` messages per key), so whole-log
//! values are cheap.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};
use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// The service holding every log and committed offset.
const KV: &str = "lin-kv";
/// How often the retry timer fires while requests are outstanding.
const TICK: Duration = Duration::from_millis(100);
/// How long a lin-kv request may go unanswered before it is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

const RETRY_TIMER: TimerToken = 0;

/// What a lin-kv request is for.
#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// Reading the log for send request `req`.
    SendRead { req: u64 },
    /// Appending send request `req`'s entry at `offset`.
    SendCas { req: u64, offset: u64 },
    /// Reading `key`'s log for poll request `req`.
    PollRead { req: u64, key: String },
    /// Writing `key`'s committed offset for commit request `req`.
    CommitWrite { req: u64, key: String },
    /// Reading `key`'s committed offset for list request `req`.
    ListRead { req: u64, key: String },
}

/// An outstanding lin-kv request.
#[derive(Debug)]
struct Call {
    purpose: Purpose,
    body: Body,
    /// When to send it again if no reply came.
    due: Duration,
}

/// A client `send` in progress.
#[derive(Debug)]
struct Send {
    request: Message,
    key: String,
    msg: Value,
    tag: String,
}

/// A client request answered once every key's lin-kv call is done (poll, commit, list).
#[derive(Debug)]
struct Gather {
    request: Message,
    waiting: usize,
    /// The reply field being built: poll msgs or committed offsets.
    result: Map<String, Value>,
    /// Poll only: the offset each key is read from.
    from: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
/// The node (see the module documentation).
pub struct Kafka {
    next_req: u64,
    calls: BTreeMap<u64, Call>,
    sends: BTreeMap<u64, Send>,
    gathers: BTreeMap<u64, Gather>,
    timer_armed: bool,
}

fn log_key(key: &str) -> String {
    format!("log-{key}")
}

fn commit_key(key: &str) -> String {
    format!("commit-{key}")
}

fn malformed(text: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::MalformedRequest, text)
}

/// An object field of a request as (key, offset) pairs.
fn offsets_of(msg: &Message) -> Result<Vec<(String, u64)>, RpcError> {
    let offsets = msg
        .body
        .get("offsets")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("\"offsets\" must be an object of key → offset"))?;
    offsets
        .iter()
        .map(|(k, o)| {
            o.as_u64()
                .map(|o| (k.clone(), o))
                .ok_or_else(|| malformed(format!("offset of key {k:?} must be an integer ≥ 0")))
        })
        .collect()
}

impl Kafka {
    fn new_req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// Send a lin-kv request and remember what it is for.
    fn call(&mut self, purpose: Purpose, body: Body, ctx: &mut Context) {
        let msg_id = ctx.rpc(KV, body.clone());
        let due = ctx.now() + RETRY_AFTER;
        self.calls.insert(msg_id, Call { purpose, body, due });
        if !self.timer_armed {
            ctx.set_timer(TICK, RETRY_TIMER);
            self.timer_armed = true;
        }
    }

    /// Keep a call to be sent again at the next tick.
    fn retry_soon(&mut self, msg_id: u64, call: Call, ctx: &Context) {
        let due = ctx.now() + TICK;
        self.calls.insert(msg_id, Call { due, ..call });
    }

    fn read_log(&mut self, req: u64, ctx: &mut Context) {
        let Some(send) = self.sends.get(&req) else {
            return;
        };
        let body = Body::new("read").with("key", log_key(&send.key));
        self.call(Purpose::SendRead { req }, body, ctx);
    }

    /// The log a read returned (empty when the key does not exist yet).
    fn log_from(reply: &Message) -> Option<Vec<Value>> {
        match reply.body.kind.as_str() {
            "read_ok" => Some(
                reply
                    .body
                    .get("value")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            ),
            "error" if reply.body.get_i64("code") == Some(20) => Some(Vec::new()),
            _ => None,
        }
    }

    fn on_send_read(&mut self, req: u64, log: Vec<Value>, ctx: &mut Context) {
        let Some(send) = self.sends.get(&req) else {
            return;
        };
        let mine = log
            .iter()
            .position(|entry| entry.get(1).and_then(Value::as_str) == Some(&send.tag));
        if let Some(offset) = mine {
            return self.answer_send(req, offset as u64, ctx);
        }
        let offset = log.len() as u64;
        let mut appended = log.clone();
        appended.push(json!([send.msg, send.tag]));
        let body = Body::new("cas")
            .with("key", log_key(&send.key))
            .with("from", log)
            .with("to", appended)
            .with("create_if_not_exists", offset == 0);
        self.call(Purpose::SendCas { req, offset }, body, ctx);
    }

    fn answer_send(&mut self, req: u64, offset: u64, ctx: &mut Context) {
        if let Some(send) = self.sends.remove(&req) {
            ctx.reply(&send.request, Body::new("send_ok").with("offset", offset));
        }
    }

    /// One key of a gathered request is done.
    fn gathered(&mut self, req: u64, ctx: &mut Context) {
        let Some(g) = self.gathers.get_mut(&req) else {
            return;
        };
        g.waiting = g.waiting.saturating_sub(1);
        if g.waiting == 0 {
            let g = self.gathers.remove(&req).expect("present");
            Self::answer_gather(g, ctx);
        }
    }

    fn answer_gather(g: Gather, ctx: &mut Context) {
        let body = match g.request.body.kind.as_str() {
            "poll" => Body::new("poll_ok").with("msgs", g.result),
            "commit_offsets" => Body::new("commit_offsets_ok"),
            _ => Body::new("list_committed_offsets_ok").with("offsets", g.result),
        };
        ctx.reply(&g.request, body);
    }

    /// Start a gathered request with one lin-kv call per key.
    fn gather(&mut self, msg: Message, calls: Vec<(Purpose, Body)>, ctx: &mut Context) {
        self.gather_from(msg, calls, BTreeMap::new(), ctx)
    }

    fn gather_from(
        &mut self,
        msg: Message,
        calls: Vec<(Purpose, Body)>,
        from: BTreeMap<String, u64>,
        ctx: &mut Context,
    ) {
        let g = Gather {
            request: msg,
            waiting: calls.len(),
            result: Map::new(),
            from,
        };
        if calls.is_empty() {
            return Self::answer_gather(g, ctx);
        }
        let req = self.new_req();
        self.gathers.insert(req, g);
        for (purpose, body) in calls {
            let purpose = match purpose {
                Purpose::PollRead { key, .. } => Purpose::PollRead { req, key },
                Purpose::CommitWrite { key, .. } => Purpose::CommitWrite { req, key },
                Purpose::ListRead { key, .. } => Purpose::ListRead { req, key },
                other => other,
            };
            self.call(purpose, body, ctx);
        }
    }

    /// A lin-kv reply.
    fn on_kv_reply(&mut self, reply: Message, ctx: &mut Context) {
        let Some(call) = reply.body.in_reply_to.and_then(|id| self.calls.remove(&id)) else {
            return; // late reply to a request already resent
        };
        let msg_id = reply.body.in_reply_to.unwrap_or_default();
        let code = reply.body.get_i64("code");
        match call.purpose.clone() {
            Purpose::SendRead { req } => match Self::log_from(&reply) {
                Some(log) => self.on_send_read(req, log, ctx),
                None => self.retry_soon(msg_id, call, ctx),
            },
            Purpose::SendCas { req, offset } => {
                if reply.body.kind == "cas_ok" {
                    self.answer_send(req, offset, ctx);
                } else {
                    // A conflict (22), or anything else: read again; the tag tells
                    // whether this append already happened.
                    self.read_log(req, ctx);
                }
            }
            Purpose::PollRead { req, key } => {
                let Some(log) = Self::log_from(&reply) else {
                    return self.retry_soon(msg_id, call, ctx);
                };
                if let Some(g) = self.gathers.get_mut(&req) {
                    let from = g.from.get(&key).copied().unwrap_or(0) as usize;
                    let msgs: Vec<Value> = log
                        .iter()
                        .enumerate()
                        .skip(from)
                        .map(|(offset, entry)| json!([offset, entry.get(0)]))
                        .collect();
                    if !msgs.is_empty() {
                        g.result.insert(key, Value::from(msgs));
                    }
                }
                self.gathered(req, ctx);
            }
            Purpose::CommitWrite { req, .. } => {
                if reply.body.kind == "write_ok" {
                    self.gathered(req, ctx);
                } else {
                    self.retry_soon(msg_id, call, ctx);
                }
            }
            Purpose::ListRead { req, key } => {
                match (reply.body.kind.as_str(), code) {
                    ("read_ok", _) => {
                        if let (Some(g), Some(o)) =
                            (self.gathers.get_mut(&req), reply.body.get("value"))
                        {
                            g.result.insert(key, o.clone());
                        }
                    }
                    ("error", Some(20)) => {}
                    _ => return self.retry_soon(msg_id, call, ctx),
                }
                self.gathered(req, ctx);
            }
        }
    }
}

impl Node for Kafka {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if msg.src == KV {
            self.on_kv_reply(msg, ctx);
            return Ok(());
        }
        match msg.body.kind.as_str() {
            "send" => {
                let key = msg
                    .body
                    .get_str("key")
                    .ok_or_else(|| malformed("send needs a string \"key\""))?
                    .to_string();
                let value = msg
                    .body
                    .get("msg")
                    .cloned()
                    .ok_or_else(|| malformed("send needs a \"msg\""))?;
                let req = self.new_req();
                let tag = format!("{}-{req}", ctx.node_id());
                self.sends.insert(
                    req,
                    Send {
                        request: msg,
                        key,
                        msg: value,
                        tag,
                    },
                );
                self.read_log(req, ctx);
            }
            "poll" => {
                let offsets = offsets_of(&msg)?;
                let calls = offsets
                    .iter()
                    .map(|(key, _)| {
                        (
                            Purpose::PollRead {
                                req: 0,
                                key: key.clone(),
                            },
                            Body::new("read").with("key", log_key(key)),
                        )
                    })
                    .collect();
                self.gather_from(msg, calls, offsets.into_iter().collect(), ctx);
            }
            "commit_offsets" => {
                let calls = offsets_of(&msg)?
                    .into_iter()
                    .map(|(key, offset)| {
                        let body = Body::new("write")
                            .with("key", commit_key(&key))
                            .with("value", offset);
                        (Purpose::CommitWrite { req: 0, key }, body)
                    })
                    .collect();
                self.gather(msg, calls, ctx);
            }
            "list_committed_offsets" => {
                let keys = msg
                    .body
                    .get("keys")
                    .and_then(Value::as_array)
                    .ok_or_else(|| malformed("\"keys\" must be an array of keys"))?;
                let calls = keys
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|key| {
                        let body = Body::new("read").with("key", commit_key(key));
                        let key = key.to_string();
                        (Purpose::ListRead { req: 0, key }, body)
                    })
                    .collect();
                self.gather(msg, calls, ctx);
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("kafka node does not handle {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        self.timer_armed = false;
        let now = ctx.now();
        let mut due: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| c.due <= now)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        for id in due {
            let call = self.calls.remove(&id).expect("listed");
            match call.purpose {
                Purpose::SendCas { req, .. } => self.read_log(req, ctx),
                purpose => self.call(purpose, call.body, ctx),
            }
        }
        if !self.calls.is_empty() && !self.timer_armed {
            ctx.set_timer(TICK, RETRY_TIMER);
            self.timer_armed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::Init;

    /// A node with a lin-kv stand-in: requests to lin-kv are applied to a map and
    /// answered, unless the test drops them.
    struct World {
        node: Kafka,
        ctx: Context,
        kv: BTreeMap<String, Value>,
        next_client_msg: u64,
        /// Replies sent to clients.
        replies: Vec<Message>,
        /// Every lin-kv request seen.
        kv_requests: usize,
    }

    impl World {
        fn new() -> World {
            World {
                node: Kafka::default(),
                ctx: Context::new(Init {
                    node_id: "n0".into(),
                    node_ids: vec!["n0".into(), "n1".into()],
                }),
                kv: BTreeMap::new(),
                next_client_msg: 0,
                replies: Vec::new(),
                kv_requests: 0,
            }
        }

        fn kv_apply(&mut self, body: &Body) -> Body {
            let key = body.get_str("key").unwrap().to_string();
            let reply = match body.kind.as_str() {
                "read" => match self.kv.get(&key) {
                    Some(v) => Body::new("read_ok").with("value", v.clone()),
                    None => Body::new("error").with("code", 20),
                },
                "write" => {
                    self.kv.insert(key, body.get("value").unwrap().clone());
                    Body::new("write_ok")
                }
                "cas" => {
                    let create = body.get("create_if_not_exists") == Some(&json!(true));
                    match self.kv.get(&key) {
                        None if create => {
                            self.kv.insert(key, body.get("to").unwrap().clone());
                            Body::new("cas_ok")
                        }
                        None => Body::new("error").with("code", 20),
                        Some(v) if Some(v) == body.get("from") => {
                            self.kv.insert(key, body.get("to").unwrap().clone());
                            Body::new("cas_ok")
                        }
                        Some(_) => Body::new("error").with("code", 22),
                    }
                }
                other => panic!("unexpected lin-kv request {other}"),
            };
            Body {
                in_reply_to: body.msg_id,
                ..reply
            }
        }

        /// Deliver a client request and run lin-kv until quiet; `drop` decides
        /// which lin-kv replies are lost (by request number).
        fn request(&mut self, body: Body, drop: &dyn Fn(usize, &Body) -> bool) -> Option<Body> {
            self.next_client_msg += 1;
            let msg = Message {
                id: None,
                src: "c1".into(),
                dest: "n0".into(),
                body: Body {
                    msg_id: Some(self.next_client_msg),
                    ..body
                },
            };
            if let Err(e) = self.node.handle(msg, &mut self.ctx) {
                return Some(e.to_body());
            }
            self.pump(drop);
            self.replies
                .iter()
                .rev()
                .find(|m| m.body.in_reply_to == Some(self.next_client_msg))
                .map(|m| m.body.clone())
        }

        fn pump(&mut self, drop: &dyn Fn(usize, &Body) -> bool) {
            loop {
                let out = self.ctx.take_outbox();
                if out.is_empty() {
                    return;
                }
                for m in out {
                    if m.dest != KV {
                        self.replies.push(m);
                        continue;
                    }
                    self.kv_requests += 1;
                    let reply = self.kv_apply(&m.body);
                    if drop(self.kv_requests, &m.body) {
                        continue;
                    }
                    let reply = Message {
                        id: None,
                        src: KV.into(),
                        dest: "n0".into(),
                        body: reply,
                    };
                    self.node.handle(reply, &mut self.ctx).unwrap();
                }
            }
        }

        fn tick(&mut self, at: Duration) {
            self.ctx.set_now(at);
            self.node.tick(RETRY_TIMER, &mut self.ctx);
            self.pump(&|_, _| false);
        }
    }

    fn keep(_: usize, _: &Body) -> bool {
        false
    }

    fn send(key: &str, msg: i64) -> Body {
        Body::new("send").with("key", key).with("msg", msg)
    }

    #[test]
    fn sends_get_dense_offsets_and_polls_return_from_the_requested_offset() {
        let mut w = World::new();
        for (i, m) in [10, 11, 12].into_iter().enumerate() {
            let r = w.request(send("5", m), &keep).unwrap();
            assert_eq!(r.kind, "send_ok");
            assert_eq!(r.get_u64("offset"), Some(i as u64));
        }
        w.request(send("6", 1), &keep).unwrap();
        let r = w
            .request(
                Body::new("poll").with("offsets", json!({"5": 1, "6": 1, "7": 0})),
                &keep,
            )
            .unwrap();
        assert_eq!(r.kind, "poll_ok");
        assert_eq!(r.get("msgs"), Some(&json!({"5": [[1, 11], [2, 12]]})));
        let r = w
            .request(Body::new("poll").with("offsets", json!({})), &keep)
            .unwrap();
        assert_eq!(r.get("msgs"), Some(&json!({})));
    }

    #[test]
    fn committed_offsets_are_listed_and_missing_ones_omitted() {
        let mut w = World::new();
        let r = w
            .request(
                Body::new("commit_offsets").with("offsets", json!({"1": 3, "2": 0})),
                &keep,
            )
            .unwrap();
        assert_eq!(r.kind, "commit_offsets_ok");
        assert!(r.fields.is_empty());
        let r = w
            .request(
                Body::new("list_committed_offsets").with("keys", json!(["1", "2", "3"])),
                &keep,
            )
            .unwrap();
        assert_eq!(r.get("offsets"), Some(&json!({"1": 3, "2": 0})));
        let r = w
            .request(
                Body::new("list_committed_offsets").with("keys", json!([])),
                &keep,
            )
            .unwrap();
        assert_eq!(r.get("offsets"), Some(&json!({})));
        let r = w
            .request(
                Body::new("commit_offsets").with("offsets", json!({"1": -1})),
                &keep,
            )
            .unwrap();
        assert_eq!(r.get_i64("code"), Some(12));
    }

    #[test]
    fn a_conflicting_append_rereads_and_retries() {
        let mut w = World::new();
        w.request(send("1", 1), &keep).unwrap();
        // Another node appends between our read and our cas.
        let msg = Message {
            id: None,
            src: "c1".into(),
            dest: "n0".into(),
            body: Body {
                msg_id: Some(99),
                ..send("1", 2)
            },
        };
        w.node.handle(msg, &mut w.ctx).unwrap();
        // Deliver the read, then change the log behind the node's back.
        let read = w.ctx.take_outbox().remove(0);
        let reply = w.kv_apply(&read.body);
        w.kv.insert("log-1".into(), json!([[1, "n0-1"], [7, "n1-4"]]));
        w.node
            .handle(
                Message {
                    id: None,
                    src: KV.into(),
                    dest: "n0".into(),
                    body: reply,
                },
                &mut w.ctx,
            )
            .unwrap();
        w.pump(&keep);
        let r = w
            .replies
            .iter()
            .find(|m| m.body.in_reply_to == Some(99))
            .unwrap();
        assert_eq!(r.body.get_u64("offset"), Some(2));
        assert_eq!(w.kv["log-1"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_lost_cas_reply_is_retried_without_appending_twice() {
        let mut w = World::new();
        // Lose the reply to the first cas (request 2: read, cas).
        let lose_cas = |n: usize, b: &Body| n == 2 && b.kind == "cas";
        assert_eq!(w.request(send("3", 4), &lose_cas), None);
        assert!(w.node.timer_armed);
        w.tick(RETRY_AFTER);
        let r = w.replies.last().unwrap();
        assert_eq!(r.body.kind, "send_ok");
        assert_eq!(r.body.get_u64("offset"), Some(0));
        assert_eq!(w.kv["log-3"], json!([[4, "n0-1"]]));
        // A lost poll read is simply sent again.
        let lose_read = |_: usize, b: &Body| b.kind == "read";
        assert_eq!(
            w.request(
                Body::new("poll").with("offsets", json!({"3": 0})),
                &lose_read
            ),
            None
        );
        w.tick(RETRY_AFTER * 3);
        let r = w.replies.last().unwrap();
        assert_eq!(r.body.get("msgs"), Some(&json!({"3": [[0, 4]]})));
        assert!(w.node.calls.is_empty());
    }

    #[test]
    fn bad_requests_get_errors() {
        let mut w = World::new();
        let r = w.request(Body::new("send").with("msg", 1), &keep).unwrap();
        assert_eq!(r.get_i64("code"), Some(12));
        let r = w.request(Body::new("poll"), &keep).unwrap();
        assert_eq!(r.get_i64("code"), Some(12));
        let r = w.request(Body::new("bogus"), &keep).unwrap();
        assert_eq!(r.get_i64("code"), Some(10));
    }
}

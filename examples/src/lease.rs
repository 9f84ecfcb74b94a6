//! A lock service for the lease workload: lock records live in `lin-kv`, fencing
//! tokens come from `lin-tso`, and actions go to the `fenced-store` service.
//!
//! Lock `L` is the lin-kv key `lock-L`, holding `{"token": T, "ttl": MS}` while held
//! and `{"token": T, "free": true}` once released. `acquire` reads the record; a free
//! (or missing) lock is taken by a fresh `ts` from lin-tso and a `cas` from the record
//! read. A held record is taken over only once it has been seen unchanged for its ttl
//! plus [`MARGIN`] on this node's *monotonic* clock, counted from the first read that
//! saw it — never by comparing wall clocks, which the clock fault moves. The grant is
//! answered only if the cas came back within [`REPLY_WINDOW`] (a node paused between
//! its cas and its reply must not hand out a lease that is already ageing), and the
//! lease is valid on this node from the moment the cas was sent until the ttl passes.
//!
//! `act` writes to `fenced-store` only while the lease it names is valid here;
//! `release` marks the record free. So the lease a client sees ends no earlier than
//! the node's, and a takeover happens no earlier than either.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError};

/// Extra time a held record must stay unchanged before another node takes it over.
const MARGIN: Duration = Duration::from_millis(400);
/// Longest time from sending a grant's cas to answering the client.
const REPLY_WINDOW: Duration = Duration::from_millis(150);

/// A lease this node granted.
#[derive(Debug, Clone)]
struct Granted {
    token: i64,
    ttl: Duration,
    /// When its cas was sent (monotonic): the lease is valid until `since + ttl`.
    since: Duration,
    record: Value,
}

/// What an outstanding service call is for.
#[derive(Debug)]
enum Stage {
    /// Reading the lock record for an acquire.
    Read,
    /// Waiting for a token; the record read (`None` when the key was missing).
    Token { current: Option<Value> },
    /// The grant's cas, sent at `since`.
    Cas { token: i64, since: Duration },
    /// Marking a record free for a release.
    Free,
    /// The action's write.
    Write,
}

#[derive(Debug)]
struct Call {
    request: Message,
    lock: i64,
    ttl: Duration,
    stage: Stage,
}

impl Call {
    /// A call for `request` on `lock` that needs no ttl (acts and releases).
    fn about(request: Message, lock: i64, stage: Stage) -> Call {
        Call {
            request,
            lock,
            ttl: Duration::ZERO,
            stage,
        }
    }
}

/// The lock service node.
#[derive(Debug, Default)]
pub struct LeaseNode {
    granted: BTreeMap<i64, Granted>,
    /// The last held record read per lock, and when it was first seen.
    seen: BTreeMap<i64, (Value, Duration)>,
    calls: BTreeMap<u64, Call>,
    /// The deliberately buggy variant: acts without checking the lease is still
    /// valid, so an act that waited out a pause lands after the next holder's.
    unchecked_acts: bool,
}

fn key(lock: i64) -> String {
    format!("lock-{lock}")
}

fn int(msg: &Message, field: &str) -> Result<i64, RpcError> {
    msg.body.get_i64(field).ok_or_else(|| {
        RpcError::new(
            ErrorCode::MalformedRequest,
            format!("{field:?} must be an integer"),
        )
    })
}

fn unavailable(text: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::TemporarilyUnavailable, text)
}

impl LeaseNode {
    /// The deliberately buggy variant that writes every act to `fenced-store` without
    /// checking its lease: under pauses it makes stale actions, which the simulator
    /// must find.
    pub fn unchecked() -> LeaseNode {
        LeaseNode {
            unchecked_acts: true,
            ..LeaseNode::default()
        }
    }

    fn call(&mut self, ctx: &mut Context, dest: &str, body: Body, call: Call) {
        let msg_id = ctx.rpc(dest, body);
        self.calls.insert(msg_id, call);
    }

    fn fail(ctx: &mut Context, request: &Message, error: RpcError) {
        ctx.reply(request, error.to_body());
    }

    /// The record read for an acquire: decide whether the lock can be taken.
    fn on_read(&mut self, ctx: &mut Context, call: Call, record: Option<Value>) {
        let free = match &record {
            None => true,
            Some(r) if r.get("free").is_some() => true,
            Some(r) => {
                let ttl = Duration::from_millis(r.get("ttl").and_then(Value::as_u64).unwrap_or(0));
                let now = ctx.now();
                let first = match self.seen.get(&call.lock) {
                    Some((seen, at)) if seen == r => *at,
                    _ => {
                        self.seen.insert(call.lock, (r.clone(), now));
                        now
                    }
                };
                now.saturating_sub(first) > ttl + MARGIN
            }
        };
        if !free {
            let holder = record.as_ref().and_then(|r| r.get("token")).cloned();
            return Self::fail(
                ctx,
                &call.request,
                unavailable(format!("lock {} is held (token {:?})", call.lock, holder)),
            );
        }
        let next = Call {
            stage: Stage::Token { current: record },
            ..call
        };
        self.call(ctx, "lin-tso", Body::new("ts"), next);
    }

    fn on_reply(&mut self, ctx: &mut Context, call: Call, reply: &Message) {
        let error = (reply.body.kind == "error").then(|| reply.body.get_i64("code").unwrap_or(13));
        match call.stage {
            Stage::Read => match error {
                None => {
                    let record = reply.body.get("value").cloned();
                    self.on_read(ctx, call, record);
                }
                Some(20) => self.on_read(ctx, call, None),
                Some(code) => Self::fail(
                    ctx,
                    &call.request,
                    unavailable(format!("read failed: {code}")),
                ),
            },
            Stage::Token { current } => {
                let Some(token) = reply.body.get_i64("ts").filter(|_| error.is_none()) else {
                    return Self::fail(ctx, &call.request, unavailable("no token from lin-tso"));
                };
                let record = json!({"token": token, "ttl": call.ttl.as_millis() as u64});
                let body = Body::new("cas")
                    .with("key", key(call.lock))
                    .with("from", current.unwrap_or(Value::Null))
                    .with("to", record)
                    .with("create_if_not_exists", true);
                let since = ctx.now();
                let next = Call {
                    stage: Stage::Cas { token, since },
                    ..call
                };
                self.call(ctx, "lin-kv", body, next);
            }
            Stage::Cas { token, since } => {
                if error.is_some() {
                    return Self::fail(
                        ctx,
                        &call.request,
                        unavailable("another node took the lock"),
                    );
                }
                if ctx.now().saturating_sub(since) > REPLY_WINDOW {
                    // The lease has aged while we waited; let it lapse unused.
                    return Self::fail(
                        ctx,
                        &call.request,
                        unavailable("the grant came back too late"),
                    );
                }
                let record = json!({"token": token, "ttl": call.ttl.as_millis() as u64});
                self.granted.insert(
                    call.lock,
                    Granted {
                        token,
                        ttl: call.ttl,
                        since,
                        record,
                    },
                );
                ctx.reply(&call.request, Body::new("acquire_ok").with("token", token));
            }
            Stage::Free => ctx.reply(&call.request, Body::new("release_ok")),
            Stage::Write => match error {
                None => ctx.reply(&call.request, Body::new("act_ok")),
                Some(code) => Self::fail(
                    ctx,
                    &call.request,
                    RpcError::new(ErrorCode::from_code(code), "fenced-store refused the write"),
                ),
            },
        }
    }

    /// The lease `lock`/`token` if this node granted it and it is still valid.
    fn valid(&self, lock: i64, token: i64, now: Duration) -> Option<&Granted> {
        self.granted
            .get(&lock)
            .filter(|g| g.token == token && now < g.since + g.ttl)
    }
}

impl Node for LeaseNode {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if let Some(id) = msg.body.in_reply_to {
            if let Some(call) = self.calls.remove(&id) {
                self.on_reply(ctx, call, &msg);
            }
            return Ok(());
        }
        match msg.body.kind.as_str() {
            "acquire" => {
                let lock = int(&msg, "lock")?;
                let ttl = Duration::from_millis(int(&msg, "ttl")?.max(0) as u64);
                let body = Body::new("read").with("key", key(lock));
                let call = Call {
                    request: msg,
                    lock,
                    ttl,
                    stage: Stage::Read,
                };
                self.call(ctx, "lin-kv", body, call);
            }
            "act" => {
                let (lock, token) = (int(&msg, "lock")?, int(&msg, "token")?);
                if !self.unchecked_acts && self.valid(lock, token, ctx.now()).is_none() {
                    return Err(unavailable(format!(
                        "no valid lease on lock {lock} with token {token}"
                    )));
                }
                let value = msg.body.get("value").cloned().unwrap_or(Value::Null);
                let body = Body::new("write")
                    .with("key", lock)
                    .with("value", value)
                    .with("token", token);
                let call = Call::about(msg, lock, Stage::Write);
                self.call(ctx, "fenced-store", body, call);
            }
            "release" => {
                let (lock, token) = (int(&msg, "lock")?, int(&msg, "token")?);
                match self
                    .granted
                    .get(&lock)
                    .filter(|g| g.token == token)
                    .cloned()
                {
                    Some(granted) => {
                        self.granted.remove(&lock);
                        let body = Body::new("cas")
                            .with("key", key(lock))
                            .with("from", granted.record)
                            .with("to", json!({"token": token, "free": true}));
                        let call = Call::about(msg, lock, Stage::Free);
                        self.call(ctx, "lin-kv", body, call);
                    }
                    // Not ours (or already gone): it lapses on its own.
                    None => ctx.reply(&msg, Body::new("release_ok")),
                }
            }
            other => {
                return Err(RpcError::new(
                    ErrorCode::NotSupported,
                    format!("unknown request type {other:?}"),
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use straum_node::Init;

    fn message(src: &str, body: Body) -> Message {
        Message {
            id: None,
            src: src.into(),
            dest: "n0".into(),
            body,
        }
    }

    /// Ask for lock 0 and answer the node's lin-kv read with `record`; returns what
    /// the node sent next.
    fn acquire_seeing(
        node: &mut LeaseNode,
        ctx: &mut Context,
        now_ms: u64,
        record: Value,
    ) -> Vec<Message> {
        ctx.set_now(Duration::from_millis(now_ms));
        let request = Body {
            msg_id: Some(now_ms + 1),
            ..Body::new("acquire").with("lock", 0).with("ttl", 1000)
        };
        node.handle(message("c1", request), ctx).unwrap();
        let read = ctx.take_outbox().pop().unwrap();
        assert_eq!(
            (read.dest.as_str(), read.body.kind.as_str()),
            ("lin-kv", "read")
        );
        let reply = Body {
            in_reply_to: read.body.msg_id,
            ..Body::new("read_ok").with("value", record)
        };
        node.handle(message("lin-kv", reply), ctx).unwrap();
        ctx.take_outbox()
    }

    #[test]
    fn a_held_lock_is_taken_over_only_after_ttl_and_margin_unchanged_and_acts_need_a_valid_lease() {
        let mut ctx = Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into()],
        });
        let mut node = LeaseNode::default();
        let held = json!({"token": 7, "ttl": 1000});
        for now in [0, 900, 1_400] {
            let out = acquire_seeing(&mut node, &mut ctx, now, held.clone());
            assert_eq!(out[0].body.kind, "error", "at {now} ms");
            assert_eq!(out[0].body.get_i64("code"), Some(11));
        }
        let out = acquire_seeing(&mut node, &mut ctx, 1_401, held.clone());
        assert_eq!(out[0].dest, "lin-tso", "taken over after 1000 + 400 ms");
        // A changed record starts the wait again.
        let out = acquire_seeing(&mut node, &mut ctx, 1_500, json!({"token": 8, "ttl": 1000}));
        assert_eq!(out[0].body.kind, "error");
        let act = Body {
            msg_id: Some(99),
            ..Body::new("act")
                .with("lock", 0)
                .with("token", 7)
                .with("value", 1)
        };
        node.handle(message("c1", act), &mut ctx).unwrap_err();
    }
}

//! A strict-serializable list-append node whose database lives in the `lin-kv` service
//! (Maelstrom's `txn-list-append` workload).
//!
//! The whole database is one JSON map, key → list, stored under the single lin-kv key
//! `"root"`. A transaction reads the root, runs its micro-ops on that copy
//! (`["r", k, null]` returns the list, `null` if never appended to;
//! `["append", k, v]` extends it) and, if it appended anything, commits with
//! `cas root from <what it read> to <the new map>` (creating the root the first time).
//! Error 22 means another transaction committed in between: the node starts the
//! transaction over from a fresh read. Every commit is one linearizable cas of the
//! whole state, and every read-only transaction one linearizable read, so transactions
//! take effect in lin-kv's real-time order: strict serializability.
//!
//! A node runs one transaction at a time and queues the others, so its own
//! transactions never conflict with each other. A read lin-kv has not answered within
//! a second is sent again; a cas it has not answered, or any other answer, ends the
//! transaction with error 13, crash: indefinite, because the cas may have taken
//! effect.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Map, Value};
use straum_node::{Body, Context, ErrorCode, Message, Node, RpcError, TimerToken};

/// The lin-kv key holding the whole database.
const ROOT: &str = "root";
/// How long the node waits for lin-kv before it gives up on a request.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the node looks for a request lin-kv has not answered.
const CHECK_EVERY: Duration = Duration::from_millis(250);

const CHECK_TIMER: TimerToken = 0;

/// The transaction being run: the client's request, the root it read (`None` while
/// the read is in flight) and the msg_id of the outstanding lin-kv request.
#[derive(Debug)]
struct Running {
    request: Message,
    awaiting: u64,
    /// When the outstanding lin-kv request was sent.
    sent_at: Duration,
    /// The root read for this attempt and the completed micro-ops, once known.
    attempt: Option<(Value, Vec<Value>)>,
}

/// The node.
#[derive(Debug, Default)]
/// The node (see the module documentation).
pub struct ListAppend {
    queue: VecDeque<Message>,
    running: Option<Running>,
}

fn malformed(text: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::MalformedRequest, text)
}

/// Check a request's micro-ops before anything runs.
fn validate(txn: &[Value]) -> Result<(), RpcError> {
    for op in txn {
        let Some([f, k, v]) = op.as_array().map(Vec::as_slice) else {
            return Err(malformed(format!("micro-op {op} is not [f, k, v]")));
        };
        let well_formed = match f.as_str() {
            Some("r") => true,
            Some("append") => !v.is_null(),
            _ => false,
        };
        if !well_formed || !(k.is_i64() || k.is_u64()) {
            return Err(malformed(format!("bad micro-op {op}")));
        }
    }
    Ok(())
}

/// Run `txn` on a copy of `root`; returns the completed micro-ops and the new root if
/// anything was appended.
fn run_txn(root: &Value, txn: &[Value]) -> (Vec<Value>, Option<Value>) {
    let mut db: Map<String, Value> = root.as_object().cloned().unwrap_or_default();
    let mut changed = false;
    let mut done = Vec::with_capacity(txn.len());
    for op in txn {
        let (f, k, v) = (&op[0], &op[1], &op[2]);
        let key = k.to_string();
        if f == "r" {
            let list = db.get(&key).cloned().unwrap_or(Value::Null);
            done.push(Value::Array(vec![f.clone(), k.clone(), list]));
        } else {
            let list = db.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                items.push(v.clone());
            }
            changed = true;
            done.push(op.clone());
        }
    }
    (done, changed.then_some(Value::Object(db)))
}

impl ListAppend {
    /// Start the next queued transaction, if none is running.
    fn start_next(&mut self, ctx: &mut Context) {
        if self.running.is_some() {
            return;
        }
        if let Some(request) = self.queue.pop_front() {
            let awaiting = ctx.rpc("lin-kv", Body::new("read").with("key", ROOT));
            self.running = Some(Running {
                request,
                awaiting,
                sent_at: ctx.now(),
                attempt: None,
            });
        }
    }

    /// End the running transaction with `reply` and start the next one.
    fn finish(&mut self, reply: Body, ctx: &mut Context) {
        if let Some(running) = self.running.take() {
            ctx.reply(&running.request, reply);
        }
        self.start_next(ctx);
    }

    fn on_service_reply(&mut self, msg: &Message, ctx: &mut Context) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if msg.body.in_reply_to != Some(running.awaiting) {
            return; // a late reply to an earlier attempt
        }
        let code = (msg.body.kind == "error")
            .then(|| msg.body.get_i64("code"))
            .flatten();
        match (&running.attempt, msg.body.kind.as_str(), code) {
            // The read: run the transaction on what it returned.
            (None, "read_ok", _) | (None, "error", Some(20)) => {
                let root = msg.body.get("value").cloned().unwrap_or(Value::Null);
                let txn = running.request.body.get("txn").and_then(Value::as_array);
                let (done, new_root) = run_txn(&root, txn.map_or(&[][..], Vec::as_slice));
                match new_root {
                    None => self.finish(Body::new("txn_ok").with("txn", done), ctx),
                    Some(to) => {
                        let cas = Body::new("cas")
                            .with("key", ROOT)
                            .with("from", root.clone())
                            .with("to", to)
                            .with("create_if_not_exists", root.is_null());
                        running.awaiting = ctx.rpc("lin-kv", cas);
                        running.sent_at = ctx.now();
                        running.attempt = Some((root, done));
                    }
                }
            }
            (Some((_, done)), "cas_ok", _) => {
                let done = done.clone();
                self.finish(Body::new("txn_ok").with("txn", done), ctx);
            }
            // Someone committed first (or created the root): start over.
            (Some(_), "error", Some(22 | 20)) => {
                running.attempt = None;
                running.awaiting = ctx.rpc("lin-kv", Body::new("read").with("key", ROOT));
                running.sent_at = ctx.now();
            }
            _ => {
                let text = format!("lin-kv answered {:?} {code:?}", msg.body.kind);
                self.finish(RpcError::new(ErrorCode::Crash, text).to_body(), ctx);
            }
        }
    }
}

impl ListAppend {
    /// Resend a read lin-kv left unanswered; give up on an unanswered cas.
    fn check_service_timeout(&mut self, ctx: &mut Context) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if ctx.now().saturating_sub(running.sent_at) < SERVICE_TIMEOUT {
            return;
        }
        if running.attempt.is_none() {
            running.awaiting = ctx.rpc("lin-kv", Body::new("read").with("key", ROOT));
            running.sent_at = ctx.now();
        } else {
            let text = "lin-kv did not answer the commit's cas; it may have taken effect";
            self.finish(RpcError::new(ErrorCode::Crash, text).to_body(), ctx);
        }
    }
}

impl Node for ListAppend {
    fn start(&mut self, ctx: &mut Context) {
        ctx.set_timer(CHECK_EVERY, CHECK_TIMER);
    }

    fn tick(&mut self, _token: TimerToken, ctx: &mut Context) {
        ctx.set_timer(CHECK_EVERY, CHECK_TIMER);
        self.check_service_timeout(ctx);
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        if msg.src == "lin-kv" {
            self.on_service_reply(&msg, ctx);
            return Ok(());
        }
        match msg.body.kind.as_str() {
            "txn" => {
                let txn = (msg.body.get("txn").and_then(Value::as_array))
                    .ok_or_else(|| malformed("txn needs a \"txn\" array"))?;
                validate(txn)?;
                self.queue.push_back(msg);
                self.start_next(ctx);
                Ok(())
            }
            other => Err(RpcError::new(
                ErrorCode::NotSupported,
                format!("txn-list-append node does not handle {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use straum_node::Init;

    fn ctx() -> Context {
        Context::new(Init {
            node_id: "n0".into(),
            node_ids: vec!["n0".into()],
        })
    }

    fn msg(src: &str, body: Value) -> Message {
        Message {
            id: None,
            src: src.into(),
            dest: "n0".into(),
            body: serde_json::from_value(body).unwrap(),
        }
    }

    /// Hand the node one message and return what it sent.
    fn step(node: &mut ListAppend, ctx: &mut Context, m: Message) -> Vec<Message> {
        node.handle(m, ctx).unwrap();
        ctx.take_outbox()
    }

    #[test]
    fn a_txn_reads_the_root_then_commits_with_cas_and_retries_on_22() {
        let (mut node, mut ctx) = (ListAppend::default(), ctx());
        let txn = json!([["append", 1, 5], ["r", 1, null], ["r", 2, null]]);
        let out = step(
            &mut node,
            &mut ctx,
            msg("c1", json!({"type": "txn", "msg_id": 7, "txn": txn})),
        );
        assert_eq!(
            (out[0].dest.as_str(), out[0].body.kind.as_str()),
            ("lin-kv", "read")
        );
        let missing = json!({"type": "error", "code": 20, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", missing));
        assert_eq!(out[0].body.kind, "cas");
        assert_eq!(out[0].body.get("from"), Some(&Value::Null));
        assert_eq!(out[0].body.get("to"), Some(&json!({"1": [5]})));
        assert_eq!(out[0].body.get("create_if_not_exists"), Some(&json!(true)));

        // Another node got there first: read again and cas from what is there.
        let conflict = json!({"type": "error", "code": 22, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", conflict));
        assert_eq!(out[0].body.kind, "read");
        let read = json!({"type": "read_ok", "value": {"1": [4], "2": [9]}, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", read));
        assert_eq!(out[0].body.get("from"), Some(&json!({"1": [4], "2": [9]})));
        assert_eq!(out[0].body.get("to"), Some(&json!({"1": [4, 5], "2": [9]})));
        assert_eq!(out[0].body.get("create_if_not_exists"), Some(&json!(false)));
        let ok = json!({"type": "cas_ok", "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", ok));
        assert_eq!(out[0].dest, "c1");
        assert_eq!(out[0].body.in_reply_to, Some(7));
        assert_eq!(
            out[0].body.get("txn"),
            Some(&json!([["append", 1, 5], ["r", 1, [4, 5]], ["r", 2, [9]]]))
        );
    }

    #[test]
    fn read_only_txns_need_no_cas_and_txns_queue_one_at_a_time() {
        let (mut node, mut ctx) = (ListAppend::default(), ctx());
        let first = json!({"type": "txn", "msg_id": 1, "txn": [["r", 3, null]]});
        let out = step(&mut node, &mut ctx, msg("c1", first));
        assert_eq!(out.len(), 1);
        let second = json!({"type": "txn", "msg_id": 2, "txn": [["r", 4, null]]});
        assert!(
            step(&mut node, &mut ctx, msg("c2", second)).is_empty(),
            "queued"
        );
        let read =
            json!({"type": "read_ok", "value": {"3": [1]}, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", read));
        assert_eq!(out[0].dest, "c1");
        assert_eq!(out[0].body.get("txn"), Some(&json!([["r", 3, [1]]])));
        assert_eq!(
            (out[1].dest.as_str(), out[1].body.kind.as_str()),
            ("lin-kv", "read")
        );
    }

    #[test]
    fn an_unexpected_service_answer_is_indefinite_and_bad_txns_are_refused() {
        let (mut node, mut ctx) = (ListAppend::default(), ctx());
        let txn = json!({"type": "txn", "msg_id": 1, "txn": [["append", 3, 1]]});
        let out = step(&mut node, &mut ctx, msg("c1", txn));
        let read = json!({"type": "read_ok", "value": {}, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", read));
        let odd = json!({"type": "error", "code": 11, "in_reply_to": out[0].body.msg_id});
        let out = step(&mut node, &mut ctx, msg("lin-kv", odd));
        assert_eq!(out[0].body.get_i64("code"), Some(13));
        let bad = msg(
            "c1",
            json!({"type": "txn", "msg_id": 2, "txn": [["w", 1, 2]]}),
        );
        assert_eq!(
            node.handle(bad, &mut ctx)
                .unwrap_err()
                .to_body()
                .get_i64("code"),
            Some(12)
        );
    }

    #[test]
    fn an_unanswered_read_is_resent_and_an_unanswered_cas_is_indefinite() {
        let (mut node, mut ctx) = (ListAppend::default(), ctx());
        let txn = json!({"type": "txn", "msg_id": 1, "txn": [["append", 3, 1]]});
        let first = step(&mut node, &mut ctx, msg("c1", txn));
        ctx.set_now(Duration::from_millis(500));
        node.tick(CHECK_TIMER, &mut ctx);
        assert!(ctx.take_outbox().is_empty(), "not yet");
        ctx.set_now(Duration::from_millis(1100));
        node.tick(CHECK_TIMER, &mut ctx);
        let again = ctx.take_outbox();
        assert_eq!(again[0].body.kind, "read");
        assert_ne!(again[0].body.msg_id, first[0].body.msg_id);
        // A late answer to the first read is ignored.
        let late = json!({"type": "read_ok", "value": {}, "in_reply_to": first[0].body.msg_id});
        assert!(step(&mut node, &mut ctx, msg("lin-kv", late)).is_empty());
        let read = json!({"type": "read_ok", "value": {}, "in_reply_to": again[0].body.msg_id});
        let cas = step(&mut node, &mut ctx, msg("lin-kv", read));
        assert_eq!(cas[0].body.kind, "cas");
        ctx.set_now(Duration::from_millis(2200));
        node.tick(CHECK_TIMER, &mut ctx);
        let out = ctx.take_outbox();
        assert_eq!(
            (out[0].dest.as_str(), out[0].body.get_i64("code")),
            ("c1", Some(13))
        );
    }
}

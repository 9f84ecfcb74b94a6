//! The kafka client (Maelstrom §8.9): the RPC bodies, their closed reply schemas
//! (§2.8) and the per-client state — the next offset to poll for each assigned key.
//!
//! * `send`: one `send` RPC; ok value `[["send", k, [offset, msg]]]`.
//! * `poll`: a `poll` with the current positions (`{}` until the first assign); if the
//!   reply holds any message, a `commit_offsets` with the highest offset returned per
//!   key follows, and only once it succeeds does each position become
//!   max(position, highest returned + 1). (Maelstrom advances first; advancing after
//!   the commit keeps a failed commit, whose messages the history does not record,
//!   from looking like a poll-skip on the next poll.) Ok value `[["poll", msgs]]`.
//! * `assign [keys]`: `list_committed_offsets` for the keys, then the positions become
//!   exactly these keys: the current position if the client has one, else the committed
//!   offset, else 0. A final-phase assign (`final?`, Maelstrom's seek-to-beginning)
//!   makes no RPC and starts every key at 0.
//! * `crash`: completes `info` at once, so the harness opens a fresh client.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::generator::OffsetTracker;
use crate::history::OpType;
use crate::rpc::{malformed, Field, FieldType, Rpc};
use crate::{Completion, Invocation, Step};

/// `send`: append a message to a key's log.
pub const SEND: Rpc = Rpc {
    request: "send",
    doc: "Append `msg` to the log of `key` and answer with its offset. Offsets of a key \
          are unique and increase in the order the sends took effect (gaps are fine).",
    request_fields: &[
        Field::new("key", FieldType::String, "the log, e.g. \"9\""),
        Field::new("msg", FieldType::Int, "the message"),
    ],
    reply: "send_ok",
    reply_fields: &[Field::new(
        "offset",
        FieldType::Int,
        "where `msg` now is in the log",
    )],
    errors: &[],
    example_request: r#"{"type":"send","msg_id":1,"key":"9","msg":42}"#,
    example_reply: r#"{"type":"send_ok","in_reply_to":1,"offset":1000}"#,
};

/// `poll`: read messages from given offsets on.
pub const POLL: Rpc = Rpc {
    request: "poll",
    doc: "For each key in `offsets`, answer with messages from that offset on, in offset \
          order, without skipping any acknowledged one (you may return fewer than all).",
    request_fields: &[Field::new(
        "offsets",
        FieldType::Object,
        "key → first offset wanted (integer)",
    )],
    reply: "poll_ok",
    reply_fields: &[Field::new(
        "msgs",
        FieldType::Object,
        "key → array of [offset, msg] pairs with integer offsets",
    )],
    errors: &[],
    example_request: r#"{"type":"poll","msg_id":2,"offsets":{"9":1000}}"#,
    example_reply: r#"{"type":"poll_ok","in_reply_to":2,"msgs":{"9":[[1000,42],[1001,43]]}}"#,
};

/// `commit_offsets`: a client has processed messages up to these offsets.
pub const COMMIT_OFFSETS: Rpc = Rpc {
    request: "commit_offsets",
    doc: "Remember, per key, that the client processed messages up to and including \
          this offset.",
    request_fields: &[Field::new(
        "offsets",
        FieldType::Object,
        "key → highest offset processed (integer)",
    )],
    reply: "commit_offsets_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"commit_offsets","msg_id":3,"offsets":{"9":1001}}"#,
    example_reply: r#"{"type":"commit_offsets_ok","in_reply_to":3}"#,
};

/// `list_committed_offsets`: a client asks where to resume.
pub const LIST_COMMITTED_OFFSETS: Rpc = Rpc {
    request: "list_committed_offsets",
    doc: "Answer with the committed offset of each of `keys` that has one (leave out \
          keys never committed).",
    request_fields: &[Field::new("keys", FieldType::Array, "the keys (strings)")],
    reply: "list_committed_offsets_ok",
    reply_fields: &[Field::new(
        "offsets",
        FieldType::Object,
        "key → committed offset (integer)",
    )],
    errors: &[],
    example_request: r#"{"type":"list_committed_offsets","msg_id":4,"keys":["9","10"]}"#,
    example_reply: r#"{"type":"list_committed_offsets_ok","in_reply_to":4,"offsets":{"9":1001}}"#,
};

/// The kafka workload's RPCs.
pub const RPCS: &[Rpc] = &[SEND, POLL, COMMIT_OFFSETS, LIST_COMMITTED_OFFSETS];

/// A main-phase poll.
pub fn poll_op() -> Invocation {
    Invocation::new("poll", json!([["poll"]]))
}

/// Where an operation of this client stands between its RPCs.
#[derive(Debug, Clone, Default, PartialEq)]
enum Stage {
    #[default]
    Idle,
    /// An assign waiting for the committed offsets of these keys.
    Listing(Vec<String>),
    /// A poll waiting for its messages.
    Polling,
    /// A poll waiting for its commit; then `msgs` is the result and each key's
    /// position moves past its highest returned offset.
    Committing {
        msgs: Map<String, Value>,
        advance: Vec<(String, i64)>,
    },
}

/// One client's state.
#[derive(Debug, Clone, Default)]
pub struct ClientState {
    positions: BTreeMap<String, i64>,
    stage: Stage,
}

impl ClientState {
    /// The next offset this client polls for `key`, if it is assigned.
    pub fn position(&self, key: &str) -> Option<i64> {
        self.positions.get(key).copied()
    }

    /// Every position.
    pub fn positions(&self) -> &BTreeMap<String, i64> {
        &self.positions
    }

    /// Begin an operation.
    pub fn invoke(&mut self, op: &Invocation) -> Step {
        self.stage = Stage::Idle;
        match op.f {
            "crash" => Step::Done(Completion {
                kind: OpType::Info,
                value: Value::Null,
                error: None,
                exception: None,
            }),
            "assign" => {
                let keys: Vec<String> = op
                    .value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                if op.final_read {
                    self.positions = keys.into_iter().map(|k| (k, 0)).collect();
                    return Step::Done(Completion::ok(op.value.clone()));
                }
                if keys.is_empty() {
                    self.positions.clear();
                    return Step::Done(Completion::ok(op.value.clone()));
                }
                let mut body = Map::new();
                body.insert("keys".into(), json!(keys));
                body.insert("type".into(), json!("list_committed_offsets"));
                self.stage = Stage::Listing(keys);
                Step::Send(body)
            }
            "poll" => {
                let mut body = Map::new();
                body.insert("offsets".into(), json!(self.positions));
                body.insert("type".into(), json!("poll"));
                self.stage = Stage::Polling;
                Step::Send(body)
            }
            "send" => {
                let mut body = Map::new();
                body.insert("key".into(), op.value[0][1].clone());
                body.insert("msg".into(), op.value[0][2].clone());
                body.insert("type".into(), json!("send"));
                Step::Send(body)
            }
            other => Step::Done(Completion::with_error(
                OpType::Fail,
                op.value.clone(),
                json!(format!("kafka clients do not perform {other:?}")),
            )),
        }
    }

    /// A non-error reply to the operation's last request.
    pub fn reply(
        &mut self,
        op: &Invocation,
        reply: &Map<String, Value>,
        offsets: &mut OffsetTracker,
    ) -> Step {
        let stage = std::mem::take(&mut self.stage);
        let completion = match (op.f, stage) {
            ("send", _) => self.sent(op, reply, offsets),
            ("poll", Stage::Polling) => return self.polled(op, reply, offsets),
            ("poll", Stage::Committing { msgs, advance }) => match COMMIT_OFFSETS.validate(reply) {
                Ok(()) => {
                    for (key, highest) in advance {
                        let next = highest.saturating_add(1);
                        let p = self.positions.entry(key).or_insert(next);
                        *p = (*p).max(next);
                    }
                    Completion::ok(json!([["poll", msgs]]))
                }
                Err(reason) => malformed(op, reply, &reason),
            },
            ("assign", Stage::Listing(keys)) => self.listed(op, reply, keys),
            (f, stage) => malformed(
                op,
                reply,
                &format!("a reply arrived for {f} while the client was in stage {stage:?}"),
            ),
        };
        Step::Done(completion)
    }

    fn sent(
        &mut self,
        op: &Invocation,
        reply: &Map<String, Value>,
        offsets: &mut OffsetTracker,
    ) -> Completion {
        if let Err(reason) = SEND.validate(reply) {
            return malformed(op, reply, &reason);
        }
        let Some(offset) = reply["offset"].as_i64() else {
            return malformed(
                op,
                reply,
                &format!("offset {} does not fit a long", reply["offset"]),
            );
        };
        let key = op.value[0][1].clone();
        if let Some(k) = key.as_str() {
            offsets.sent(k, offset);
        }
        Completion::ok(json!([["send", key, [offset, op.value[0][2]]]]))
    }

    fn polled(
        &mut self,
        op: &Invocation,
        reply: &Map<String, Value>,
        offsets: &mut OffsetTracker,
    ) -> Step {
        if let Err(reason) = POLL.validate(reply) {
            return Step::Done(malformed(op, reply, &reason));
        }
        let mut msgs = Map::new();
        let mut advance = Vec::new();
        for (key, list) in reply["msgs"].as_object().into_iter().flatten() {
            let entries = match list {
                Value::Null => &[][..],
                Value::Array(entries) => entries.as_slice(),
                other => {
                    return Step::Done(malformed(
                        op,
                        reply,
                        &format!("msgs of key {key:?} should be an array, got {other}"),
                    ))
                }
            };
            let mut highest: Option<i64> = None;
            for entry in entries {
                let offset = entry
                    .as_array()
                    .filter(|pair| pair.len() == 2)
                    .and_then(|pair| pair[0].as_i64());
                let Some(offset) = offset else {
                    return Step::Done(malformed(
                        op,
                        reply,
                        &format!(
                            "msgs of key {key:?} should hold [offset, msg] pairs with integer \
                             offsets, got {entry}"
                        ),
                    ));
                };
                highest = Some(highest.map_or(offset, |h| h.max(offset)));
            }
            if let Some(highest) = highest {
                offsets.polled(key, highest);
                advance.push((key.clone(), highest));
            }
            msgs.insert(key.clone(), Value::Array(entries.to_vec()));
        }
        if advance.is_empty() {
            return Step::Done(Completion::ok(json!([["poll", msgs]])));
        }
        let commit: Map<String, Value> = advance
            .iter()
            .map(|(k, o)| (k.clone(), Value::from(*o)))
            .collect();
        let mut body = Map::new();
        body.insert("offsets".into(), Value::Object(commit));
        body.insert("type".into(), json!("commit_offsets"));
        self.stage = Stage::Committing { msgs, advance };
        Step::Send(body)
    }

    fn listed(
        &mut self,
        op: &Invocation,
        reply: &Map<String, Value>,
        keys: Vec<String>,
    ) -> Completion {
        if let Err(reason) = LIST_COMMITTED_OFFSETS.validate(reply) {
            return malformed(op, reply, &reason);
        }
        let committed = reply["offsets"].as_object().expect("validated");
        if let Some((key, bad)) = committed.iter().find(|(_, o)| o.as_i64().is_none()) {
            return malformed(
                op,
                reply,
                &format!("committed offset of key {key:?} should be an integer, got {bad}"),
            );
        }
        let positions = keys
            .into_iter()
            .map(|key| {
                let p = self
                    .positions
                    .get(&key)
                    .copied()
                    .or_else(|| committed.get(&key).and_then(Value::as_i64))
                    .unwrap_or(0);
                (key, p)
            })
            .collect();
        self.positions = positions;
        Completion::ok(op.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn done(step: Step) -> Completion {
        match step {
            Step::Done(c) => c,
            Step::Send(b) => panic!("expected a completion, got a request {b:?}"),
        }
    }

    fn sent(step: Step) -> Map<String, Value> {
        match step {
            Step::Send(b) => b,
            Step::Done(c) => panic!("expected a request, got {c:?}"),
        }
    }

    #[test]
    fn send_builds_the_request_and_records_the_offset() {
        let mut c = ClientState::default();
        let mut t = OffsetTracker::default();
        let op = Invocation::new("send", json!([["send", "5", 3]]));
        let req = sent(c.invoke(&op));
        assert_eq!(Value::Object(req), json!({"key":"5","msg":3,"type":"send"}));
        let done_ok = done(c.reply(
            &op,
            &body(json!({"type":"send_ok","offset":7,"in_reply_to":1,"msg_id":2})),
            &mut t,
        ));
        assert_eq!(done_ok.kind, OpType::Ok);
        assert_eq!(done_ok.value, json!([["send", "5", [7, 3]]]));
        assert_eq!(t.highest().collect::<Vec<_>>(), [("5", 7)]);
        // Floats, big integers and extra keys are malformed.
        for bad in [
            json!({"type":"send_ok","offset":7.0}),
            json!({"type":"send_ok","offset":18446744073709551615u64}),
            json!({"type":"send_ok","offset":1,"node":"n0"}),
            json!({"type":"send_ok"}),
        ] {
            sent(c.invoke(&op));
            let c = done(c.reply(&op, &body(bad), &mut t));
            assert_eq!(c.kind, OpType::Info);
            assert_eq!(c.exception.as_deref(), Some("malformed-rpc-response"));
        }
    }

    #[test]
    fn assign_uses_current_positions_then_committed_offsets_then_zero() {
        let mut c = ClientState::default();
        let mut t = OffsetTracker::default();
        let assign = Invocation::new("assign", json!(["1", "2"]));
        let req = sent(c.invoke(&assign));
        assert_eq!(
            Value::Object(req),
            json!({"keys":["1","2"],"type":"list_committed_offsets"})
        );
        let ok = done(c.reply(
            &assign,
            &body(json!({"type":"list_committed_offsets_ok","offsets":{"1":4,"9":1}})),
            &mut t,
        ));
        assert_eq!((ok.kind, ok.value), (OpType::Ok, json!(["1", "2"])));
        assert_eq!(c.position("1"), Some(4));
        assert_eq!(c.position("2"), Some(0));
        // Re-assigning keeps "1"'s position, drops "2", takes "3" from the commits.
        let assign = Invocation::new("assign", json!(["1", "3"]));
        sent(c.invoke(&assign));
        done(c.reply(
            &assign,
            &body(json!({"type":"list_committed_offsets_ok","offsets":{"1":0,"3":2}})),
            &mut t,
        ));
        assert_eq!(
            c.positions().clone(),
            BTreeMap::from([("1".to_string(), 4), ("3".to_string(), 2)])
        );
        // A non-integer committed offset is malformed and leaves positions alone.
        sent(c.invoke(&assign));
        let bad = done(c.reply(
            &assign,
            &body(json!({"type":"list_committed_offsets_ok","offsets":{"1":"x"}})),
            &mut t,
        ));
        assert_eq!(bad.kind, OpType::Info);
        assert_eq!(c.position("3"), Some(2));
        // The final assign seeks to the beginning without an RPC.
        let seek = Invocation {
            final_read: true,
            ..Invocation::new("assign", json!(["1", "7"]))
        };
        assert_eq!(done(c.invoke(&seek)).kind, OpType::Ok);
        assert_eq!(c.position("1"), Some(0));
        assert_eq!(c.position("3"), None);
        // An empty assign needs no RPC either.
        assert_eq!(
            done(c.invoke(&Invocation::new("assign", json!([])))).kind,
            OpType::Ok
        );
        assert!(c.positions().is_empty());
    }

    #[test]
    fn poll_commits_what_it_got_and_advances_only_after_the_commit() {
        let mut c = ClientState::default();
        let mut t = OffsetTracker::default();
        // Before any assign a poll asks for nothing.
        let poll = poll_op();
        let req = sent(c.invoke(&poll));
        assert_eq!(Value::Object(req), json!({"offsets":{},"type":"poll"}));
        let ok = done(c.reply(&poll, &body(json!({"type":"poll_ok","msgs":{}})), &mut t));
        assert_eq!(ok.value, json!([["poll", {}]]));

        let seek = Invocation {
            final_read: true,
            ..Invocation::new("assign", json!(["1", "2"]))
        };
        done(c.invoke(&seek));
        sent(c.invoke(&poll));
        let commit = sent(c.reply(
            &poll,
            &body(json!({"type":"poll_ok","msgs":{"1":[[0,5],[2,6]],"2":null,"3":[]}})),
            &mut t,
        ));
        assert_eq!(
            Value::Object(commit),
            json!({"offsets":{"1":2},"type":"commit_offsets"})
        );
        assert_eq!(c.position("1"), Some(0), "not advanced before the commit");
        let ok = done(c.reply(&poll, &body(json!({"type":"commit_offsets_ok"})), &mut t));
        assert_eq!(ok.kind, OpType::Ok);
        assert_eq!(
            ok.value,
            json!([["poll", {"1":[[0,5],[2,6]],"2":[],"3":[]}]])
        );
        assert_eq!(c.position("1"), Some(3));
        assert_eq!(c.position("2"), Some(0));
        assert_eq!(t.highest().collect::<Vec<_>>(), [("1", 2)]);

        // A poll whose commit never completes leaves the positions alone.
        sent(c.invoke(&poll));
        sent(c.reply(
            &poll,
            &body(json!({"type":"poll_ok","msgs":{"1":[[3,7]]}})),
            &mut t,
        ));
        sent(c.invoke(&poll));
        assert_eq!(c.position("1"), Some(3));

        // Malformed poll replies.
        for bad in [
            json!({"type":"poll_ok","msgs":{"1":[[1.5,5]]}}),
            json!({"type":"poll_ok","msgs":{"1":[[1,5,6]]}}),
            json!({"type":"poll_ok","msgs":{"1":5}}),
            json!({"type":"poll_ok","msgs":null}),
            json!({"type":"poll_ok"}),
        ] {
            sent(c.invoke(&poll));
            let done_bad = done(c.reply(&poll, &body(bad.clone()), &mut t));
            assert_eq!(done_bad.kind, OpType::Info, "{bad}");
        }
        // A wrong commit reply is malformed too.
        sent(c.invoke(&poll));
        sent(c.reply(
            &poll,
            &body(json!({"type":"poll_ok","msgs":{"1":[[3,7]]}})),
            &mut t,
        ));
        let bad = done(c.reply(&poll, &body(json!({"type":"commit_ok"})), &mut t));
        assert_eq!(bad.kind, OpType::Info);
    }

    #[test]
    fn crash_is_info_at_once() {
        let mut c = ClientState::default();
        let done_crash = done(c.invoke(&Invocation::new("crash", Value::Null)));
        assert_eq!(done_crash.kind, OpType::Info);
        assert_eq!(done_crash.error, None);
    }
}

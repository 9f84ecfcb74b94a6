//! `fenced-store`: the resource a lock holder acts on (the lease workload's `act`).
//! `write {"key", "value", "token"}` → `write_ok`; `read {"key"}` → `read_ok
//! {"value", "token"}` (the last accepted write, `null`s if none). Every request is
//! handled the moment it is delivered, so the network journal is the store's log:
//! each accepted write with its token at the harness time of acceptance, which is what
//! the lease checker reads.
//!
//! With `--fenced-store-enforce true` it fences: a write whose token is lower than the
//! highest accepted for its key is refused with error 30. By default it accepts
//! everything, so a node that forgets to fence its own writes is caught by the
//! checker's stale-action invariant.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use straum_workloads::rpc::{Field, FieldType, Rpc};

use super::kv::{error, unsupported, Reply};

/// `write`: act on the resource under a fencing token.
pub const WRITE: Rpc = Rpc {
    request: "write",
    doc: "Record `value` under `key`, fenced by `token`. Every accepted write is logged \
          with its token and the harness time of acceptance; the lease checker reads \
          that log.",
    request_fields: &[
        Field::new("key", FieldType::Any, "the resource (the lease's lock)"),
        Field::new("value", FieldType::Any, "what to write"),
        Field::new(
            "token",
            FieldType::Int,
            "the fencing token the writer holds the lock with",
        ),
    ],
    reply: "write_ok",
    reply_fields: &[],
    errors: &[
        (
            30,
            "with --fenced-store-enforce true: the token is lower than the highest \
             accepted for this key",
        ),
        (12, "a field is missing or the token is not an integer"),
    ],
    example_request: r#"{"type":"write","msg_id":1,"key":0,"value":7,"token":3}"#,
    example_reply: r#"{"type":"write_ok","in_reply_to":1}"#,
};

/// `read`: the last accepted write of a key.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Answer with the last accepted write of `key` and its token (both `null` if \
          none).",
    request_fields: &[Field::new("key", FieldType::Any, "the resource")],
    reply: "read_ok",
    reply_fields: &[
        Field::new("value", FieldType::Any, "the last accepted value, or null"),
        Field::new("token", FieldType::Any, "its token as written, or null"),
    ],
    errors: &[(12, "the key is missing")],
    example_request: r#"{"type":"read","msg_id":2,"key":0}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":2,"value":7,"token":3}"#,
};

/// The RPCs fenced-store answers.
pub const RPCS: &[Rpc] = &[WRITE, READ];

/// The fenced resource.
#[derive(Debug, Default)]
pub struct FencedStore {
    enforce: bool,
    /// Key's canonical text → (highest accepted token, last accepted value, its token
    /// as written).
    keys: BTreeMap<String, (i128, Value, Value)>,
}

fn token_of(value: Option<&Value>) -> Option<i128> {
    let value = value?;
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

impl FencedStore {
    /// A store that refuses stale tokens if `enforce` is set.
    pub fn new(enforce: bool) -> FencedStore {
        FencedStore {
            enforce,
            keys: BTreeMap::new(),
        }
    }

    /// Handle one request.
    pub fn handle(&mut self, body: &Map<String, Value>) -> Reply {
        let kind = body.get("type").and_then(Value::as_str);
        let rpc = RPCS.iter().find(|rpc| Some(rpc.request) == kind);
        if let Some(missing) = rpc.and_then(|rpc| rpc.missing_field(body)) {
            return error(12, format!("missing field {:?}", missing.name));
        }
        let Some(key) = body.get("key") else {
            return unsupported(kind);
        };
        let key = key.to_string();
        match kind {
            Some("write") => {
                let Some(token) = token_of(body.get("token")) else {
                    return error(12, "write needs an integer \"token\"".into());
                };
                let Some(value) = body.get("value") else {
                    return error(12, "missing field \"value\"".into());
                };
                let highest = self.keys.get(&key).map(|(h, _, _)| *h);
                if self.enforce && highest.is_some_and(|h| token < h) {
                    return error(
                        30,
                        format!(
                            "token {token} is older than {}, the highest accepted for this key",
                            highest.unwrap_or_default()
                        ),
                    );
                }
                let highest = highest.map_or(token, |h| h.max(token));
                let written = body.get("token").cloned().unwrap_or(Value::Null);
                self.keys.insert(key, (highest, value.clone(), written));
                let mut reply = Map::new();
                reply.insert("type".into(), json!("write_ok"));
                reply
            }
            Some("read") => {
                let (value, token) = match self.keys.get(&key) {
                    Some((_, value, token)) => (value.clone(), token.clone()),
                    None => (Value::Null, Value::Null),
                };
                let mut reply = Map::new();
                reply.insert("type".into(), json!("read_ok"));
                reply.insert("value".into(), value);
                reply.insert("token".into(), token);
                reply
            }
            other => unsupported(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(store: &mut FencedStore, token: Value, value: i64) -> Reply {
        store.handle(
            json!({"type":"write","key":1,"value":value,"token":token})
                .as_object()
                .unwrap(),
        )
    }

    #[test]
    fn enforcing_refuses_older_tokens_with_30_and_the_default_accepts_them() {
        let mut fenced = FencedStore::new(true);
        assert_eq!(write(&mut fenced, json!(5), 1)["type"], "write_ok");
        assert_eq!(write(&mut fenced, json!(5), 2)["type"], "write_ok");
        let stale = write(&mut fenced, json!(4), 3);
        assert_eq!(stale["code"], 30);
        assert!(stale["text"].as_str().unwrap().contains("older than 5"));
        let read = fenced.handle(json!({"type":"read","key":1}).as_object().unwrap());
        assert_eq!(
            (read["value"].clone(), read["token"].clone()),
            (json!(2), json!(5))
        );

        let mut open = FencedStore::new(false);
        write(&mut open, json!(5), 1);
        assert_eq!(write(&mut open, json!(4), 3)["type"], "write_ok");
        assert_eq!(write(&mut open, json!("x"), 3)["code"], 12);
        let empty = open.handle(json!({"type":"read","key":9}).as_object().unwrap());
        assert_eq!(empty["value"], Value::Null);
        assert_eq!(
            open.handle(json!({"type":"cas","key":1}).as_object().unwrap())["code"],
            10
        );
    }
}

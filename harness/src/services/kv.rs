//! The key-value request shapes shared by lin-kv, seq-kv and lww-kv (Maelstrom §7.1),
//! applied to a map. Keys and values are any JSON; keys compare by value.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use straum_workloads::rpc::{Field, FieldType, Rpc};

/// `read` of a KV service.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Read a key.",
    request_fields: &[Field::new("key", FieldType::Any, "the key (any JSON)")],
    reply: "read_ok",
    reply_fields: &[Field::new("value", FieldType::Any, "the key's value")],
    errors: &[(20, "the key does not exist")],
    example_request: r#"{"type":"read","msg_id":1,"key":"counter"}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":1,"value":5}"#,
};

/// `write` of a KV service.
pub const WRITE: Rpc = Rpc {
    request: "write",
    doc: "Write a key.",
    request_fields: &[
        Field::new("key", FieldType::Any, "the key (any JSON)"),
        Field::new("value", FieldType::Any, "the new value (any JSON)"),
    ],
    reply: "write_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"write","msg_id":2,"key":"counter","value":5}"#,
    example_reply: r#"{"type":"write_ok","in_reply_to":2}"#,
};

/// `cas` of a KV service.
pub const CAS: Rpc = Rpc {
    request: "cas",
    doc: "Compare and set: if the key's value is `from` (compared as JSON, so 1 ≠ 1.0), \
          set it to `to`.",
    request_fields: &[
        Field::new("key", FieldType::Any, "the key (any JSON)"),
        Field::new("from", FieldType::Any, "the value expected"),
        Field::new("to", FieldType::Any, "the new value"),
        Field::optional(
            "create_if_not_exists",
            FieldType::Bool,
            "true: a missing key is created with `to` (lww-kv ignores it)",
        ),
    ],
    reply: "cas_ok",
    reply_fields: &[],
    errors: &[
        (
            20,
            "the key does not exist (and `create_if_not_exists` is not true)",
        ),
        (22, "the key's value is not `from`"),
    ],
    example_request: r#"{"type":"cas","msg_id":3,"key":"counter","from":5,"to":6}"#,
    example_reply: r#"{"type":"cas_ok","in_reply_to":3}"#,
};

/// The RPCs of lin-kv, seq-kv and lww-kv.
pub const RPCS: &[Rpc] = &[READ, WRITE, CAS];

/// A reply body without `in_reply_to`.
pub type Reply = Map<String, Value>;

/// A KV state: canonical JSON text of the key → value.
pub type KvMap = BTreeMap<String, Value>;

/// An error reply with a code and text.
pub fn error(code: i64, text: String) -> Reply {
    let mut reply = Map::new();
    reply.insert("type".into(), json!("error"));
    reply.insert("code".into(), json!(code));
    reply.insert("text".into(), json!(text));
    reply
}

fn ok(kind: &str) -> Reply {
    let mut reply = Map::new();
    reply.insert("type".into(), json!(kind));
    reply
}

/// A parsed KV request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Read a key.
    Read {
        /// The key's canonical text.
        key: String,
    },
    /// Write a key.
    Write {
        /// The key's canonical text.
        key: String,
        /// The new value.
        value: Value,
    },
    /// Compare and set.
    Cas {
        /// The key's canonical text.
        key: String,
        /// The expected current value.
        from: Value,
        /// The new value.
        to: Value,
        /// Create the key with `to` if it is missing.
        create: bool,
    },
}

/// Parse a KV request, or the error reply for a malformed or unsupported one. The
/// required fields are those of [`RPCS`].
pub fn parse(body: &Map<String, Value>) -> Result<Request, Reply> {
    let kind = body.get("type").and_then(Value::as_str);
    let rpc = RPCS.iter().find(|rpc| Some(rpc.request) == kind);
    if let Some(missing) = rpc.and_then(|rpc| rpc.missing_field(body)) {
        return Err(error(
            12,
            format!("request is missing the field {:?}", missing.name),
        ));
    }
    let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
    let key = || canonical(&field("key"));
    match kind {
        Some("read") => Ok(Request::Read { key: key() }),
        Some("write") => Ok(Request::Write {
            key: key(),
            value: field("value"),
        }),
        Some("cas") => Ok(Request::Cas {
            key: key(),
            from: field("from"),
            to: field("to"),
            create: body.get("create_if_not_exists") == Some(&Value::Bool(true)),
        }),
        other => Err(unsupported(other)),
    }
}

/// The error 10 reply for an unknown request type.
pub fn unsupported(kind: Option<&str>) -> Reply {
    error(
        10,
        format!(
            "unsupported request type {}",
            kind.map_or("(none)".to_string(), |k| format!("{k:?}"))
        ),
    )
}

/// A key's canonical text (object keys sorted), so equal keys compare equal.
pub fn canonical(key: &Value) -> String {
    serde_json::to_string(key).expect("a JSON value always serialises")
}

/// Apply a request to `map`; returns the reply and whether the map changed.
pub fn apply(map: &mut KvMap, request: &Request, honour_create: bool) -> (Reply, bool) {
    match request {
        Request::Read { key } => match map.get(key) {
            Some(value) => {
                let mut reply = ok("read_ok");
                reply.insert("value".into(), value.clone());
                (reply, false)
            }
            None => (missing(), false),
        },
        Request::Write { key, value } => {
            let changed = map.get(key) != Some(value);
            map.insert(key.clone(), value.clone());
            (ok("write_ok"), changed)
        }
        Request::Cas {
            key,
            from,
            to,
            create,
        } => match map.get(key) {
            None if *create && honour_create => {
                map.insert(key.clone(), to.clone());
                (ok("cas_ok"), true)
            }
            None => (missing(), false),
            Some(current) if current == from => {
                let changed = current != to;
                map.insert(key.clone(), to.clone());
                (ok("cas_ok"), changed)
            }
            Some(current) => (
                error(22, format!("current value {current} is not {from}")),
                false,
            ),
        },
    }
}

fn missing() -> Reply {
    error(20, "key does not exist".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Request {
        parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn read_write_cas_and_errors() {
        let mut map = KvMap::new();
        let (r, _) = apply(&mut map, &req(json!({"type":"read","key":"x"})), true);
        assert_eq!(r["code"], 20);
        let (r, changed) = apply(
            &mut map,
            &req(json!({"type":"cas","key":"x","from":1,"to":2,"create_if_not_exists":true})),
            true,
        );
        assert_eq!((r["type"].as_str(), changed), (Some("cas_ok"), true));
        let (r, _) = apply(
            &mut map,
            &req(json!({"type":"cas","key":"x","from":1,"to":3})),
            true,
        );
        assert_eq!(r["code"], 22);
        assert_eq!(r["text"], "current value 2 is not 1");
        let (r, _) = apply(&mut map, &req(json!({"type":"read","key":"x"})), true);
        assert_eq!(r["value"], 2);
        let (_, changed) = apply(
            &mut map,
            &req(json!({"type":"write","key":"x","value":2})),
            true,
        );
        assert!(!changed, "writing the value already there changes nothing");
        // 1 and 1.0 are different values, as in Clojure.
        let (r, _) = apply(
            &mut map,
            &req(json!({"type":"cas","key":"x","from":2.0,"to":5})),
            true,
        );
        assert_eq!(r["code"], 22);
        // lww-kv ignores create_if_not_exists.
        let (r, _) = apply(
            &mut KvMap::new(),
            &req(json!({"type":"cas","key":"y","from":1,"to":2,"create_if_not_exists":true})),
            false,
        );
        assert_eq!(r["code"], 20);
        assert_eq!(
            parse(json!({"type":"read"}).as_object().unwrap()).unwrap_err()["code"],
            12
        );
        assert_eq!(
            parse(json!({"type":"nope"}).as_object().unwrap()).unwrap_err()["code"],
            10
        );
    }
}

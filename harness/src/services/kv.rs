//! The key-value request shapes shared by lin-kv, seq-kv and lww-kv (Maelstrom §7.1),
//! applied to a map. Keys and values are any JSON; keys compare by value.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

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

/// Parse a KV request, or the error reply for a malformed or unsupported one.
pub fn parse(body: &Map<String, Value>) -> Result<Request, Reply> {
    let field = |name: &str| {
        body.get(name)
            .cloned()
            .ok_or_else(|| error(12, format!("request is missing the field {name:?}")))
    };
    let key = || field("key").map(|k| canonical(&k));
    match body.get("type").and_then(Value::as_str) {
        Some("read") => Ok(Request::Read { key: key()? }),
        Some("write") => Ok(Request::Write {
            key: key()?,
            value: field("value")?,
        }),
        Some("cas") => Ok(Request::Cas {
            key: key()?,
            from: field("from")?,
            to: field("to")?,
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

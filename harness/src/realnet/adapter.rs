//! Mode B's client-adapter protocol: how straum asks a small client program (one per
//! worker, Jepsen's client) to perform one operation on the real system, and what it
//! accepts back. One JSON object per line each way.
//!
//! Request, for keyed operations (lin-kv's `[key, argument]` values):
//! `{"f":"cas","key":3,"value":[1,4],"node":"n2","addr":"10.200.7.4:2379"}` (`value`
//! is `null` for a read); for others `{"f":…,"value":…,"node":…,"addr":…}`.
//!
//! Reply: `{"type":"ok","value":…}` (a read's value; ignored for writes and cas),
//! `{"type":"fail","error":…}` (the operation certainly did not happen, e.g. a cas
//! whose comparison failed) or `{"type":"info","error":…}` (it may or may not have
//! happened: a timeout, a lost connection). Nothing else is accepted: any other line is
//! an error naming what was expected, with the line quoted abridged.

use serde_json::{json, Map, Value};
use straum_workloads::quote::abridge;
use straum_workloads::{Completion, Invocation, OpType};

/// What an adapter answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Done; the value read, if the operation reads.
    Ok(Value),
    /// Certainly not done, and why.
    Fail(Value),
    /// Perhaps done, perhaps not, and why.
    Info(Value),
}

/// Whether an invocation's value is `[key, argument]` (lin-kv's read, write and cas).
fn keyed(invocation: &Invocation) -> Option<(&Value, &Value)> {
    match invocation.value.as_array().map(Vec::as_slice) {
        Some([key, argument]) if matches!(invocation.f, "read" | "write" | "cas") => {
            Some((key, argument))
        }
        _ => None,
    }
}

/// The request line (with its newline) asking for `invocation` against `node`, whose
/// client address is `addr`.
pub fn request_line(invocation: &Invocation, node: &str, addr: &str) -> Vec<u8> {
    let mut request = Map::new();
    request.insert("f".into(), Value::from(invocation.f));
    match keyed(invocation) {
        Some((key, argument)) => {
            request.insert("key".into(), key.clone());
            request.insert("value".into(), argument.clone());
        }
        None => {
            request.insert("value".into(), invocation.value.clone());
        }
    }
    request.insert("node".into(), Value::from(node));
    request.insert("addr".into(), Value::from(addr));
    let mut line = serde_json::to_vec(&Value::Object(request)).expect("a JSON value serialises");
    line.push(b'\n');
    line
}

/// Read one reply line (without its newline); `Err` says what was expected.
pub fn parse_reply(line: &[u8]) -> Result<Reply, String> {
    let expected = "expected one JSON object per line: {\"type\":\"ok\",\"value\":…}, \
                    {\"type\":\"fail\",\"error\":…} or {\"type\":\"info\",\"error\":…}";
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| format!("{expected}; not JSON ({e}): {}", quote(line)))?;
    let Value::Object(mut reply) = value else {
        return Err(format!("{expected}; got {}", quote(line)));
    };
    if let Some(extra) = reply
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "value" | "error"))
    {
        return Err(format!(
            "{expected}; unknown key {extra:?} in {}",
            quote(line)
        ));
    }
    let kind = reply.get("type").and_then(Value::as_str).map(str::to_owned);
    let value = reply.remove("value").unwrap_or(Value::Null);
    let error = reply.remove("error").unwrap_or(Value::Null);
    match kind.as_deref() {
        Some("ok") => Ok(Reply::Ok(value)),
        Some("fail") => Ok(Reply::Fail(error)),
        Some("info") => Ok(Reply::Info(error)),
        _ => Err(format!(
            "{expected}; \"type\" must be \"ok\", \"fail\" or \"info\" in {}",
            quote(line)
        )),
    }
}

/// The history's completion of `invocation` for `reply`: a keyed read completes with
/// `[key, value read]`, a keyed write or cas with its own value, as Mode A's lin-kv
/// client records them.
pub fn completion(invocation: &Invocation, reply: Reply) -> Completion {
    match reply {
        Reply::Ok(read) => match keyed(invocation) {
            Some((key, _)) if invocation.f == "read" => Completion::ok(json!([key, read])),
            Some(_) => Completion::ok(invocation.value.clone()),
            None if read.is_null() => Completion::ok(invocation.value.clone()),
            None => Completion::ok(read),
        },
        Reply::Fail(error) => Completion::with_error(OpType::Fail, invocation.value.clone(), error),
        Reply::Info(error) => Completion::with_error(OpType::Info, invocation.value.clone(), error),
    }
}

fn quote(line: &[u8]) -> String {
    abridge(&String::from_utf8_lossy(line)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_operations_split_key_and_argument() {
        let cas = Invocation::new("cas", json!([3, [1, 4]]));
        let line = request_line(&cas, "n2", "10.200.7.4:2379");
        let sent: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            sent,
            json!({"f": "cas", "key": 3, "value": [1, 4], "node": "n2", "addr": "10.200.7.4:2379"})
        );
        assert!(line.ends_with(b"}\n"));
        let read = Invocation::new("read", json!([3, null]));
        let sent: Value = serde_json::from_slice(&request_line(&read, "n1", "a")).unwrap();
        assert_eq!((&sent["key"], &sent["value"]), (&json!(3), &Value::Null));
        let other = Invocation::new("add", json!(5));
        let sent: Value = serde_json::from_slice(&request_line(&other, "n1", "a")).unwrap();
        assert_eq!((sent.get("key"), &sent["value"]), (None, &json!(5)));
    }

    #[test]
    fn replies_become_lin_kv_completions() {
        let read = Invocation::new("read", json!([3, null]));
        let done = completion(&read, parse_reply(br#"{"type":"ok","value":7}"#).unwrap());
        assert_eq!((done.kind, done.value), (OpType::Ok, json!([3, 7])));
        let cas = Invocation::new("cas", json!([3, [1, 4]]));
        let done = completion(&cas, parse_reply(br#"{"type":"ok"}"#).unwrap());
        assert_eq!((done.kind, done.value), (OpType::Ok, json!([3, [1, 4]])));
        let failed = parse_reply(br#"{"type":"fail","error":"compare failed"}"#).unwrap();
        let done = completion(&cas, failed);
        assert_eq!(
            (done.kind, done.error),
            (OpType::Fail, Some(json!("compare failed")))
        );
        let timeout = completion(
            &cas,
            parse_reply(br#"{"type":"info","error":"timeout"}"#).unwrap(),
        );
        assert_eq!(timeout.kind, OpType::Info);
    }

    #[test]
    fn anything_else_is_refused_naming_what_was_expected() {
        for bad in [
            &b"hello"[..],
            br#"[1,2]"#,
            br#"{"type":"maybe"}"#,
            br#"{"value":1}"#,
            br#"{"type":"ok","value":1,"extra":2}"#,
        ] {
            let error = parse_reply(bad).unwrap_err();
            assert!(error.contains("{\"type\":\"ok\""), "{error}");
        }
        let huge = format!(r#"{{"type":"maybe","value":"{}"}}"#, "x".repeat(100_000));
        let error = parse_reply(huge.as_bytes()).unwrap_err();
        assert!(
            error.len() < 1_000,
            "quoted abridged: {} bytes",
            error.len()
        );
    }
}

//! `lin-tso`: a timestamp oracle handing out 0, 1, 2, … in order.

use serde_json::{json, Map, Value};

use straum_workloads::rpc::{Field, FieldType, Rpc};

use super::kv::{unsupported, Reply};

/// `ts`: the one RPC of lin-tso.
pub const TS: Rpc = Rpc {
    request: "ts",
    doc: "Get a timestamp greater than every one handed out before.",
    request_fields: &[],
    reply: "ts_ok",
    reply_fields: &[Field::new(
        "ts",
        FieldType::Int,
        "the timestamp: 0, 1, 2, …",
    )],
    errors: &[],
    example_request: r#"{"type":"ts","msg_id":1}"#,
    example_reply: r#"{"type":"ts_ok","in_reply_to":1,"ts":0}"#,
};

/// The timestamp oracle.
#[derive(Debug, Default)]
pub struct LinTso {
    next: u64,
}

impl LinTso {
    /// Handle one request: `ts` → `ts_ok` with the next timestamp.
    pub fn handle(&mut self, body: &Map<String, Value>) -> Reply {
        match body.get("type").and_then(Value::as_str) {
            Some(kind) if kind == TS.request => {
                let mut reply = Map::new();
                reply.insert("type".into(), json!(TS.reply));
                reply.insert("ts".into(), json!(self.next));
                self.next += 1;
                reply
            }
            other => unsupported(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_strictly_increase() {
        let mut tso = LinTso::default();
        let ts: Vec<u64> = (0..5)
            .map(|_| {
                tso.handle(json!({"type":"ts"}).as_object().unwrap())["ts"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ts, vec![0, 1, 2, 3, 4]);
    }
}

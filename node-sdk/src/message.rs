//! Messages as nodes see them: an envelope (`src`, `dest`, `body`) and a body whose
//! reserved fields (`type`, `msg_id`, `in_reply_to`) are typed and the rest kept as JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One network message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The harness's network id for the message; nodes may ignore it and never send it.
    #[serde(default, skip_serializing)]
    pub id: Option<u64>,
    /// Who sent it.
    pub src: String,
    /// Who it is for.
    pub dest: String,
    /// The payload.
    pub body: Body,
}

/// A message body: `type`, optional `msg_id` / `in_reply_to`, and any other fields.
///
/// A `null` `msg_id` or `in_reply_to` reads as absent (some nodes send nulls on plain
/// messages).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Body {
    /// The message kind, e.g. `"echo"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Set on requests: unique per sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<u64>,
    /// Set on replies: the `msg_id` of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
    /// Every other field.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Body {
    /// A body of the given type with no other fields.
    pub fn new(kind: impl Into<String>) -> Body {
        Body {
            kind: kind.into(),
            ..Body::default()
        }
    }

    /// This body with one more field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Body {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// A field other than the reserved ones.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// A field read as an exact unsigned integer.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// A field read as an exact signed integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    /// A field read as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_reserved_fields_read_as_absent_and_extra_fields_are_kept() {
        let m: Message = serde_json::from_str(
            r#"{"src":"n1","dest":"n2","body":{"type":"gossip","msg_id":null,"in_reply_to":null,"n":18446744073709551615}}"#,
        )
        .unwrap();
        assert_eq!(m.body.msg_id, None);
        assert_eq!(m.body.in_reply_to, None);
        assert_eq!(m.body.get_u64("n"), Some(u64::MAX));
    }

    #[test]
    fn serialises_without_id_or_absent_reserved_fields() {
        let m = Message {
            id: Some(9),
            src: "n0".into(),
            dest: "c1".into(),
            body: Body::new("echo_ok").with("echo", "hi"),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"src":"n0","dest":"c1","body":{"type":"echo_ok","echo":"hi"}}"#
        );
    }
}

//! The harness side of the wire: parsing what nodes write (Maelstrom's closed envelope
//! schema) and encoding what they are sent. Bodies stay raw JSON text: the router only
//! needs `src` and `dest`, so node↔node traffic is never parsed below the envelope.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A message as a node wrote it: routing fields parsed, body kept as its JSON text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// A node-supplied id; accepted (if an integer) and ignored, as Maelstrom does.
    #[serde(default, rename = "id")]
    _id: Option<serde_json::Number>,
    /// Sender id.
    pub src: String,
    /// Receiver id.
    pub dest: String,
    /// The payload, untouched.
    pub body: Box<RawValue>,
}

/// Why a node's output line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line is not JSON at all.
    NotJson(String),
    /// The line is JSON but not an envelope `{"src":…,"dest":…,"body":…}`.
    NotEnvelope(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::NotJson(why) => write!(f, "the line is not well-formed JSON ({why})"),
            LineError::NotEnvelope(why) => write!(
                f,
                "the line is JSON but not a message envelope: expected exactly the keys \
                 \"src\" (string), \"dest\" (string), \"body\" and optionally \"id\" (integer) ({why})"
            ),
        }
    }
}

/// Parse one line a node wrote (without its line terminator).
pub fn parse_line(line: &[u8]) -> Result<Envelope, LineError> {
    match serde_json::from_slice::<Envelope>(line) {
        Ok(envelope) => match &envelope._id {
            Some(id) if !is_integer(id) => Err(LineError::NotEnvelope(format!(
                "\"id\" must be an integer, got {id}"
            ))),
            _ => Ok(envelope),
        },
        Err(e) => match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            Ok(_) => Err(LineError::NotEnvelope(e.to_string())),
            Err(not_json) => Err(LineError::NotJson(not_json.to_string())),
        },
    }
}

/// An integer of any size (numbers keep their text: serde_json's arbitrary_precision).
fn is_integer(number: &serde_json::Number) -> bool {
    let text = number.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Append the line delivered to a node — `{"id":…,"src":…,"dest":…,"body":…}` and a
/// newline — to `out`; `src` and `dest` are names already encoded as JSON strings
/// ([`crate::net::AddressBook::json_name`]).
pub fn encode_delivery(out: &mut Vec<u8>, id: u64, src: &[u8], dest: &[u8], body: &RawValue) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    out.extend_from_slice(b",\"src\":");
    out.extend_from_slice(src);
    out.extend_from_slice(b",\"dest\":");
    out.extend_from_slice(dest);
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(body.get().as_bytes());
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_envelopes_in_any_field_order_with_spaces() {
        let e = parse_line(br#"{"body": {"type": "x", "n": 7500000000000000001}, "dest": "c1", "src": "n0", "id": 3}"#)
            .unwrap();
        assert_eq!((e.src.as_str(), e.dest.as_str()), ("n0", "c1"));
        assert_eq!(e.body.get(), r#"{"type": "x", "n": 7500000000000000001}"#);
    }

    #[test]
    fn bodies_pass_whole_at_any_depth_and_ids_at_any_size() {
        let deep = format!(
            r#"{{"src":"n0","dest":"n1","id":1180591620717411303424,"body":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = parse_line(deep.as_bytes()).unwrap();
        assert_eq!(e.body.get().len(), 200_000);
    }

    #[test]
    fn rejects_garbage_and_non_envelopes_with_distinct_reasons() {
        assert!(matches!(parse_line(b"hello"), Err(LineError::NotJson(_))));
        assert!(matches!(parse_line(b""), Err(LineError::NotJson(_))));
        assert!(matches!(
            parse_line(br#"{"src":"n0","dest":"c1"}"#),
            Err(LineError::NotEnvelope(_))
        ));
        assert!(matches!(
            parse_line(br#"{"src":"n0","dest":"c1","body":{},"extra":1}"#),
            Err(LineError::NotEnvelope(_))
        ));
        assert!(matches!(
            parse_line(br#"{"src":1,"dest":"c1","body":{}}"#),
            Err(LineError::NotEnvelope(_))
        ));
        assert!(matches!(
            parse_line(br#"{"src":"n0","dest":"c1","body":{},"id":1.5}"#),
            Err(LineError::NotEnvelope(_))
        ));
        assert!(matches!(
            parse_line(br#"[1,2]"#),
            Err(LineError::NotEnvelope(_))
        ));
    }

    #[test]
    fn encodes_id_first_and_body_verbatim() {
        let body = RawValue::from_string(r#"{"type":"echo","echo":"a\"b"}"#.into()).unwrap();
        let mut out = Vec::new();
        encode_delivery(&mut out, 12, br#""c2""#, br#""n0""#, &body);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":12,\"src\":\"c2\",\"dest\":\"n0\",\"body\":{\"type\":\"echo\",\"echo\":\"a\\\"b\"}}\n"
        );
    }
}

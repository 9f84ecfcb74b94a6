//! Client-side RPC rules shared by workloads: closed reply schemas (Maelstrom's §2.8)
//! and how error replies and timeouts become completions (§2.7).

use serde_json::{Map, Value};
use straum_node::ErrorCode;

use crate::history::OpType;
use crate::workload::{Completion, Invocation};

/// The type a reply field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any JSON value.
    Any,
    /// An exact JSON integer (`1.0` is not one).
    Int,
    /// A JSON string.
    String,
    /// `true` or `false`.
    Bool,
    /// A JSON array; `null` is accepted too and means empty (Maelstrom's schema quirk).
    Array,
    /// A JSON object.
    Object,
}

impl FieldType {
    /// Whether `value` has this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            FieldType::Any => true,
            FieldType::Int => value.is_i64() || value.is_u64(),
            FieldType::String => value.is_string(),
            FieldType::Bool => value.is_boolean(),
            FieldType::Array => value.is_array() || value.is_null(),
            FieldType::Object => value.is_object(),
        }
    }

    /// The type in a few words, as error messages and `straum doc` say it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Any => "any value",
            FieldType::Int => "an integer",
            FieldType::String => "a string",
            FieldType::Bool => "a boolean",
            FieldType::Array => "an array",
            FieldType::Object => "an object",
        }
    }
}

/// One field of an RPC body: its name, the type that is enforced, whether it may be
/// left out, and what it means (for `straum doc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The key in the body.
    pub name: &'static str,
    /// The type it must have.
    pub ty: FieldType,
    /// Whether the body may leave it out.
    pub optional: bool,
    /// What it means, in one phrase.
    pub doc: &'static str,
}

impl Field {
    /// A field the body must carry.
    pub const fn new(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
        Field {
            name,
            ty,
            optional: false,
            doc,
        }
    }

    /// A field the body may leave out.
    pub const fn optional(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
        Field {
            name,
            ty,
            optional: true,
            doc,
        }
    }
}

/// One RPC: what it is for, its request and reply shapes, the error codes it may
/// answer with and an example exchange. It is the single definition of the RPC: the
/// client validates replies with [`Rpc::validate`] and `straum doc` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// The request's `type`.
    pub request: &'static str,
    /// What the receiver must do, in a sentence or two.
    pub doc: &'static str,
    /// The request's fields besides `type` and `msg_id`.
    pub request_fields: &'static [Field],
    /// The reply's `type`.
    pub reply: &'static str,
    /// The reply's fields besides `type`, `in_reply_to` and `msg_id`.
    pub reply_fields: &'static [Field],
    /// Error codes the receiver may answer with instead, and when.
    pub errors: &'static [(i64, &'static str)],
    /// An example request body (JSON text, `msg_id` included).
    pub example_request: &'static str,
    /// The reply to it (JSON text, `in_reply_to` included).
    pub example_reply: &'static str,
}

impl Rpc {
    /// Check a reply body against this RPC's closed reply schema.
    pub fn validate(&self, reply: &Map<String, Value>) -> Result<(), String> {
        check_body(reply, self.reply, spec(self.reply_fields), REPLY_IDS)
    }

    /// The completion for a reply to an acknowledgement RPC with no fields
    /// (`add_ok`, `broadcast_ok`, …): ok with the invoked value, or indeterminate if
    /// the reply is malformed.
    pub fn acknowledged(&self, op: &Invocation, reply: &Map<String, Value>) -> Completion {
        match self.validate(reply) {
            Ok(()) => Completion::ok(op.value.clone()),
            Err(reason) => malformed(op, reply, &reason),
        }
    }

    /// Check a request body against this RPC's request shape: `type`, the listed
    /// fields (optional ones may be missing) and `msg_id`; nothing else.
    pub fn validate_request(&self, request: &Map<String, Value>) -> Result<(), String> {
        check_body(
            request,
            self.request,
            spec(self.request_fields),
            &["msg_id"],
        )
    }

    /// The first required request field `request` lacks, if any (a service answers
    /// error 12 naming it).
    pub fn missing_field(&self, request: &Map<String, Value>) -> Option<&'static Field> {
        self.request_fields
            .iter()
            .find(|f| !f.optional && !request.contains_key(f.name))
    }
}

/// `init`: the first message every node gets, from the harness, before anything else.
/// The harness only requires the reply's `type`; the node must not send anything
/// before it has answered.
pub const INIT: Rpc = Rpc {
    request: "init",
    doc: "Remember your own id and the ids of all nodes, then answer. Everything else \
          waits for this reply.",
    request_fields: &[
        Field::new("node_id", FieldType::String, "this node's id, e.g. \"n1\""),
        Field::new(
            "node_ids",
            FieldType::Array,
            "every node's id (strings), this one included, in order",
        ),
    ],
    reply: "init_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n0","n1","n2"]}"#,
    example_reply: r#"{"type":"init_ok","in_reply_to":1}"#,
};

/// Check a reply body against a closed schema: exactly `type` = `kind`, the listed
/// fields, `in_reply_to` (integer) and optionally `msg_id` (integer); nothing else.
/// Workloads with an [`Rpc`] definition call [`Rpc::validate`] instead, so that
/// `straum doc` shows the schema.
pub fn validate_reply(
    reply: &Map<String, Value>,
    kind: &str,
    fields: &[(&str, FieldType)],
) -> Result<(), String> {
    let fields = fields.iter().map(|(name, ty)| (*name, *ty, false));
    check_body(reply, kind, fields, REPLY_IDS)
}

/// The message ids a reply may carry besides its fields.
const REPLY_IDS: &[&str] = &["in_reply_to", "msg_id"];

/// A field list as (name, type, optional) triples.
fn spec(fields: &[Field]) -> impl Iterator<Item = (&str, FieldType, bool)> + Clone {
    fields.iter().map(|f| (f.name, f.ty, f.optional))
}

fn check_body<'a>(
    body: &Map<String, Value>,
    kind: &str,
    fields: impl Iterator<Item = (&'a str, FieldType, bool)> + Clone,
    ids: &[&str],
) -> Result<(), String> {
    match body.get("type") {
        Some(Value::String(t)) if t == kind => {}
        other => return Err(format!("expected type {kind:?}, got {}", show(other))),
    }
    for (name, ty, optional) in fields.clone() {
        match body.get(name) {
            Some(value) if ty.accepts(value) => {}
            Some(value) => {
                return Err(format!(
                    "field {name:?} should be {}, got {}",
                    ty.name(),
                    crate::quote::abridge_json(value)
                ))
            }
            None if optional => {}
            None => return Err(format!("missing required field {name:?}")),
        }
    }
    for (key, value) in body {
        let allowed = key == "type"
            || fields.clone().any(|(name, _, _)| name == key)
            || (ids.contains(&key.as_str()) && FieldType::Int.accepts(value));
        if !allowed {
            return Err(format!(
                "disallowed key {key:?} = {}",
                crate::quote::abridge_json(value)
            ));
        }
    }
    Ok(())
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_string(), crate::quote::abridge_json)
}

/// The completion for a reply that failed schema validation: indeterminate, with a
/// `malformed-rpc-response` exception that names the reason.
pub fn malformed(op: &Invocation, reply: &Map<String, Value>, reason: &str) -> Completion {
    Completion::exception(
        op.value.clone(),
        "malformed-rpc-response",
        &format!(
            "Malformed RPC response: {} in {}",
            crate::quote::abridge(reason),
            crate::quote::abridge_json(&Value::Object(reply.clone()))
        ),
    )
}

/// The completion for an acknowledgement with no fields (`add_ok`, `broadcast_ok`,
/// …): ok with the invoked value, or indeterminate if the reply is malformed.
/// Workloads with an [`Rpc`] definition call [`Rpc::acknowledged`] instead.
pub fn acknowledged(op: &Invocation, reply: &Map<String, Value>, kind: &str) -> Completion {
    match validate_reply(reply, kind, &[]) {
        Ok(()) => Completion::ok(op.value.clone()),
        Err(reason) => malformed(op, reply, &reason),
    }
}

/// How a workload's client turns error replies and timeouts into completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// Maelstrom's `with-errors`: functions in the idempotent set fail on any error;
    /// others fail on definite errors and are `info` on indefinite ones and timeouts.
    WithErrors {
        /// Functions that are safe to treat as failed whatever the error.
        idempotent: &'static [&'static str],
    },
    /// Every error or timeout is an indeterminate client exception (g-set, counters).
    Exceptions,
}

impl ErrorStyle {
    /// The completion for an error reply with `code` and `text`.
    pub fn on_error(self, op: &Invocation, code: Option<i64>, text: Option<&str>) -> Completion {
        let code = ErrorCode::from_code(code.unwrap_or(-1));
        let error = Value::Array(vec![
            Value::from(code.name()),
            text.map_or(Value::Null, Value::from),
        ]);
        match self {
            ErrorStyle::WithErrors { idempotent } => {
                let kind = if code.is_definite() || idempotent.contains(&op.f) {
                    OpType::Fail
                } else {
                    OpType::Info
                };
                Completion::with_error(kind, op.value.clone(), error)
            }
            ErrorStyle::Exceptions => Completion::exception(
                op.value.clone(),
                "rpc-error",
                &format!(
                    "error {} ({}) {}",
                    code.code(),
                    code.name(),
                    text.unwrap_or("")
                ),
            ),
        }
    }

    /// The completion for a request that got no reply before its deadline.
    pub fn on_timeout(self, op: &Invocation) -> Completion {
        match self {
            ErrorStyle::WithErrors { idempotent } => {
                let kind = if idempotent.contains(&op.f) {
                    OpType::Fail
                } else {
                    OpType::Info
                };
                Completion::with_error(kind, op.value.clone(), Value::from("net-timeout"))
            }
            ErrorStyle::Exceptions => {
                Completion::exception(op.value.clone(), "client-timeout", "Client read timeout")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn closed_schema_rejects_extra_keys_wrong_types_and_floats() {
        let fields = [("echo", FieldType::Any)];
        let ok = body(json!({"type":"echo_ok","echo":"x","in_reply_to":1,"msg_id":4}));
        assert_eq!(validate_reply(&ok, "echo_ok", &fields), Ok(()));
        let extra = body(json!({"type":"echo_ok","echo":"x","in_reply_to":1,"node":"n1"}));
        assert!(validate_reply(&extra, "echo_ok", &fields)
            .unwrap_err()
            .contains("disallowed key \"node\""));
        let missing = body(json!({"type":"echo_ok","in_reply_to":1}));
        assert!(validate_reply(&missing, "echo_ok", &fields).is_err());
        let float_id = body(json!({"type":"echo_ok","echo":"x","in_reply_to":1.0}));
        assert!(validate_reply(&float_id, "echo_ok", &fields).is_err());
        let wrong_type = body(json!({"type":"echo","echo":"x","in_reply_to":1}));
        assert!(validate_reply(&wrong_type, "echo_ok", &fields).is_err());
        let null_array = body(json!({"type":"read_ok","messages":null,"in_reply_to":1}));
        assert_eq!(
            validate_reply(&null_array, "read_ok", &[("messages", FieldType::Array)]),
            Ok(())
        );
    }

    #[test]
    fn with_errors_maps_definite_indefinite_and_idempotent() {
        let style = ErrorStyle::WithErrors {
            idempotent: &["read"],
        };
        let write = Invocation::new("write", json!(1));
        let read = Invocation::new("read", Value::Null);
        assert_eq!(style.on_error(&write, Some(11), None).kind, OpType::Fail);
        assert_eq!(style.on_error(&write, Some(13), None).kind, OpType::Info);
        assert_eq!(style.on_error(&write, Some(1005), None).kind, OpType::Info);
        assert_eq!(style.on_error(&write, None, None).kind, OpType::Info);
        assert_eq!(style.on_error(&read, Some(13), None).kind, OpType::Fail);
        assert_eq!(style.on_timeout(&write).kind, OpType::Info);
        assert_eq!(style.on_timeout(&read).kind, OpType::Fail);
        assert_eq!(
            style.on_error(&write, Some(22), Some("no")).error,
            Some(json!(["precondition-failed", "no"]))
        );
        let c = ErrorStyle::Exceptions.on_timeout(&write);
        assert_eq!(c.kind, OpType::Info);
        assert_eq!(c.error, Some(json!("indeterminate: Client read timeout")));
    }
}

//! What differs between the two transactional workloads: the name of the write
//! micro-op and the shape a node's `txn_ok` micro-ops must have.
//!
//! * list-append: `["r", k, [ints] | null]` and `["append", k, int]`;
//! * rw-register: `["r", k, scalar | null]` and `["w", k, scalar]`.
//!
//! Keys are integers in both. A reply micro-op of any other shape makes the reply
//! malformed (Maelstrom's closed schema, §2.8): the op ends `info`, not `ok`.

use serde_json::Value;

use crate::elle::TxnKind;
use crate::quote::abridge_json;
use crate::rpc::{Field, FieldType, Rpc};

/// `txn` of txn-list-append.
pub const LIST_APPEND_TXN: Rpc = Rpc {
    request: "txn",
    doc: "Run the micro-ops in order as one transaction and answer with them, each read's \
          null replaced by the key's list as the transaction saw it; the history must \
          satisfy `--consistency-models` (default strict-serializable).",
    request_fields: &[Field::new(
        "txn",
        FieldType::Array,
        "micro-ops [\"r\", key, null] and [\"append\", key, int]; keys are integers",
    )],
    reply: "txn_ok",
    reply_fields: &[Field::new(
        "txn",
        FieldType::Array,
        "the micro-ops, reads filled in: [\"r\", key, [ints] or null], appends echoed",
    )],
    errors: &[(30, "the transaction was aborted by a conflict (definite)")],
    example_request: r#"{"type":"txn","msg_id":1,"txn":[["r",1,null],["append",1,3]]}"#,
    example_reply: r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,[1,2]],["append",1,3]]}"#,
};

/// `txn` of txn-rw-register.
pub const RW_REGISTER_TXN: Rpc = Rpc {
    request: "txn",
    doc: "Run the micro-ops in order as one transaction and answer with them, each read's \
          null replaced by the value the transaction saw; the history must satisfy \
          `--consistency-models` (default strict-serializable).",
    request_fields: &[Field::new(
        "txn",
        FieldType::Array,
        "micro-ops [\"r\", key, null] and [\"w\", key, value]; keys are integers",
    )],
    reply: "txn_ok",
    reply_fields: &[Field::new(
        "txn",
        FieldType::Array,
        "the micro-ops, reads filled in: [\"r\", key, scalar or null], writes echoed",
    )],
    errors: &[(30, "the transaction was aborted by a conflict (definite)")],
    example_request: r#"{"type":"txn","msg_id":1,"txn":[["r",1,null],["w",1,3]]}"#,
    example_reply: r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,2],["w",1,3]]}"#,
};

/// The `txn` RPC of a kind.
pub fn txn_rpc(kind: TxnKind) -> &'static Rpc {
    match kind {
        TxnKind::ListAppend => &LIST_APPEND_TXN,
        TxnKind::RwRegister => &RW_REGISTER_TXN,
    }
}

/// The micro-op name of a write: `"append"` or `"w"`.
pub fn write_f(kind: TxnKind) -> &'static str {
    match kind {
        TxnKind::ListAppend => "append",
        TxnKind::RwRegister => "w",
    }
}

/// The workload name given to `-w`.
pub fn workload_name(kind: TxnKind) -> &'static str {
    match kind {
        TxnKind::ListAppend => "txn-list-append",
        TxnKind::RwRegister => "txn-rw-register",
    }
}

/// Check a reply's `txn` field: an array of micro-ops, each of the kind's shapes.
pub fn validate_txn(kind: TxnKind, txn: &Value) -> Result<(), String> {
    let Some(micro_ops) = txn.as_array() else {
        return Err(format!(
            "field \"txn\" should be an array of micro-ops, got {}",
            abridge_json(txn)
        ));
    };
    for (i, micro) in micro_ops.iter().enumerate() {
        validate_micro(kind, micro)
            .map_err(|why| format!("micro-op {i} of \"txn\", {}, {why}", abridge_json(micro)))?;
    }
    Ok(())
}

fn validate_micro(kind: TxnKind, micro: &Value) -> Result<(), String> {
    let parts = match micro.as_array() {
        Some(parts) if parts.len() == 3 => parts,
        _ => return Err("is not a 3-element array [f, k, v]".into()),
    };
    if !is_int(&parts[1]) {
        return Err("has a key that is not an integer".into());
    }
    let (f, v) = (parts[0].as_str().unwrap_or(""), &parts[2]);
    let ok = match (kind, f) {
        (_, "r") => match kind {
            TxnKind::ListAppend => {
                v.is_null() || v.as_array().is_some_and(|list| list.iter().all(is_int))
            }
            TxnKind::RwRegister => is_scalar(v) || v.is_null(),
        },
        (TxnKind::ListAppend, "append") => is_int(v),
        (TxnKind::RwRegister, "w") => is_scalar(v),
        _ => {
            return Err(format!(
                "is neither a read \"r\" nor a write {:?}",
                write_f(kind)
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(match (kind, f) {
            (TxnKind::ListAppend, "r") => "reads something other than a list of integers or null",
            (TxnKind::RwRegister, "r") => "reads something other than a scalar or null",
            (TxnKind::ListAppend, _) => "appends something other than an integer",
            (TxnKind::RwRegister, _) => "writes something other than a scalar",
        }
        .into())
    }
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}

/// A non-null JSON value that is neither an array nor an object.
fn is_scalar(v: &Value) -> bool {
    v.is_number() || v.is_string() || v.is_boolean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_append_replies_need_integer_lists_and_appends() {
        let k = TxnKind::ListAppend;
        assert_eq!(
            validate_txn(
                k,
                &json!([["r", 1, [1, 2]], ["r", 2, null], ["append", 3, 4]])
            ),
            Ok(())
        );
        assert_eq!(validate_txn(k, &json!([])), Ok(()));
        for (bad, why) in [
            (json!(null), "should be an array of micro-ops"),
            (json!({"r": 1}), "should be an array of micro-ops"),
            (json!([["r", 1]]), "not a 3-element array"),
            (json!([["r", 1, [1], 4]]), "not a 3-element array"),
            (json!([7]), "not a 3-element array"),
            (json!([["r", "1", [1]]]), "key that is not an integer"),
            (json!([["r", 1, [1, "2"]]]), "list of integers or null"),
            (json!([["r", 1, 5]]), "list of integers or null"),
            (json!([["r", 1, [1.0]]]), "list of integers or null"),
            (
                json!([["append", 1, [5]]]),
                "appends something other than an integer",
            ),
            (
                json!([["w", 1, 5]]),
                "neither a read \"r\" nor a write \"append\"",
            ),
        ] {
            let err = validate_txn(k, &bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = validate_txn(k, &json!([["r", 1, null], ["append", 1, "x"]])).unwrap_err();
        assert!(err.starts_with("micro-op 1 of \"txn\""), "{err}");
    }

    #[test]
    fn rw_register_replies_need_scalars() {
        let k = TxnKind::RwRegister;
        assert_eq!(
            validate_txn(
                k,
                &json!([["r", 1, 3], ["r", 2, null], ["w", 3, 4], ["r", 4, "s"]])
            ),
            Ok(())
        );
        for (bad, why) in [
            (json!([["r", 1, [1, 2]]]), "scalar or null"),
            (json!([["r", 1, {"a": 1}]]), "scalar or null"),
            (
                json!([["w", 1, null]]),
                "writes something other than a scalar",
            ),
            (
                json!([["append", 1, 1]]),
                "neither a read \"r\" nor a write \"w\"",
            ),
            (json!([["r", null, 1]]), "key that is not an integer"),
        ] {
            let err = validate_txn(k, &bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

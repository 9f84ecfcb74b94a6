//! The lease workload's RPCs: the one definition the client validates replies with
//! and `straum doc` prints.

use crate::rpc::{Field, FieldType, Rpc};

/// `acquire`: a client asks for a lock.
pub const ACQUIRE: Rpc = Rpc {
    request: "acquire",
    doc: "Grant `lock` to this client for `ttl` ms with a fencing token greater than \
          every token granted for it before, or refuse with an error while someone \
          else holds it. No two clients may hold one lock at the same real moment.",
    request_fields: &[
        Field::new("lock", FieldType::Int, "the lock: 0 … --key-count − 1"),
        Field::new(
            "ttl",
            FieldType::Int,
            "how long the lease lasts, in ms (1000–3000)",
        ),
    ],
    reply: "acquire_ok",
    reply_fields: &[Field::new(
        "token",
        FieldType::Int,
        "the fencing token (must fit a signed 64-bit integer)",
    )],
    errors: &[(11, "the lock is held: try again later (the op fails)")],
    example_request: r#"{"type":"acquire","msg_id":1,"lock":0,"ttl":2000}"#,
    example_reply: r#"{"type":"acquire_ok","in_reply_to":1,"token":3}"#,
};

/// `act`: the holder's leader-only action.
pub const ACT: Rpc = Rpc {
    request: "act",
    doc: "Perform the holder's action: write `value` to the fenced-store service \
          (`write {\"key\": lock, \"value\", \"token\"}`), only while the lease granted \
          with `token` is still valid.",
    request_fields: &[
        Field::new("lock", FieldType::Int, "the lock held"),
        Field::new("token", FieldType::Int, "the token it was granted with"),
        Field::new(
            "value",
            FieldType::Int,
            "what to write: fresh for every act",
        ),
    ],
    reply: "act_ok",
    reply_fields: &[],
    errors: &[
        (
            11,
            "the lease is no longer valid: the action was not performed",
        ),
        (30, "fenced-store refused the write as stale (passed on)"),
    ],
    example_request: r#"{"type":"act","msg_id":2,"lock":0,"token":3,"value":17}"#,
    example_reply: r#"{"type":"act_ok","in_reply_to":2}"#,
};

/// `release`: the holder gives the lock up.
pub const RELEASE: Rpc = Rpc {
    request: "release",
    doc: "Give up the lease granted with `token`, so another client may acquire the \
          lock.",
    request_fields: &[
        Field::new("lock", FieldType::Int, "the lock held"),
        Field::new("token", FieldType::Int, "the token it was granted with"),
    ],
    reply: "release_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"release","msg_id":3,"lock":0,"token":3}"#,
    example_reply: r#"{"type":"release_ok","in_reply_to":3}"#,
};

/// Every RPC of the workload.
pub const RPCS: &[Rpc] = &[ACQUIRE, ACT, RELEASE];

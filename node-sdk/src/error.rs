//! Maelstrom's error codes and the error a node handler can return.

use serde_json::Value;

/// One of Maelstrom's reserved error codes (0–999), with its name and whether it is
/// definite (the operation certainly did not happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the operation did not complete in time. Indefinite.
    Timeout,
    /// 1: the request was sent to a node that does not exist. Definite.
    NodeNotFound,
    /// 10: the operation is not supported. Definite.
    NotSupported,
    /// 11: the operation cannot be performed right now. Definite.
    TemporarilyUnavailable,
    /// 12: the request could not possibly have been processed. Definite.
    MalformedRequest,
    /// 13: a generic indefinite error.
    Crash,
    /// 14: a generic definite error.
    Abort,
    /// 20: the key does not exist. Definite.
    KeyDoesNotExist,
    /// 21: the key already exists. Definite.
    KeyAlreadyExists,
    /// 22: a precondition (e.g. a cas `from`) did not hold. Definite.
    PreconditionFailed,
    /// 30: a transaction was aborted by a conflict. Definite.
    TxnConflict,
    /// Any other code, including user codes ≥ 1000. Indefinite.
    Other(i64),
}

impl ErrorCode {
    /// The code for a number, as Maelstrom's registry (`errors.edn`) defines it.
    pub fn from_code(code: i64) -> ErrorCode {
        match code {
            0 => ErrorCode::Timeout,
            1 => ErrorCode::NodeNotFound,
            10 => ErrorCode::NotSupported,
            11 => ErrorCode::TemporarilyUnavailable,
            12 => ErrorCode::MalformedRequest,
            13 => ErrorCode::Crash,
            14 => ErrorCode::Abort,
            20 => ErrorCode::KeyDoesNotExist,
            21 => ErrorCode::KeyAlreadyExists,
            22 => ErrorCode::PreconditionFailed,
            30 => ErrorCode::TxnConflict,
            other => ErrorCode::Other(other),
        }
    }

    /// The numeric code on the wire.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
            ErrorCode::Other(code) => code,
        }
    }

    /// Maelstrom's name for the code (`"unknown"` for unregistered codes).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::NodeNotFound => "node-not-found",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TemporarilyUnavailable => "temporarily-unavailable",
            ErrorCode::MalformedRequest => "malformed-request",
            ErrorCode::Crash => "crash",
            ErrorCode::Abort => "abort",
            ErrorCode::KeyDoesNotExist => "key-does-not-exist",
            ErrorCode::KeyAlreadyExists => "key-already-exists",
            ErrorCode::PreconditionFailed => "precondition-failed",
            ErrorCode::TxnConflict => "txn-conflict",
            ErrorCode::Other(_) => "unknown",
        }
    }

    /// True when an error with this code proves the operation did not take place.
    pub fn is_definite(self) -> bool {
        !matches!(
            self,
            ErrorCode::Timeout | ErrorCode::Crash | ErrorCode::Other(_)
        )
    }
}

/// An error a node handler returns; the runtime turns it into an `error` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The error code sent in the reply.
    pub code: ErrorCode,
    /// Free text sent in the reply's `text` field.
    pub text: String,
}

impl RpcError {
    /// An error with the given code and text.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> RpcError {
        RpcError {
            code,
            text: text.into(),
        }
    }

    /// The body of the error reply (without `in_reply_to`).
    pub fn to_body(&self) -> crate::Body {
        crate::Body::new("error")
            .with("code", Value::from(self.code.code()))
            .with("text", Value::from(self.text.clone()))
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "error {} ({}): {}",
            self.code.code(),
            self.code.name(),
            self.text
        )
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_definiteness_matches_maelstrom() {
        for code in [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000, 7] {
            assert_eq!(ErrorCode::from_code(code).code(), code);
        }
        let indefinite: Vec<i64> = [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000]
            .into_iter()
            .filter(|c| !ErrorCode::from_code(*c).is_definite())
            .collect();
        assert_eq!(indefinite, vec![0, 13, 1000]);
        assert_eq!(ErrorCode::from_code(1234).name(), "unknown");
    }
}

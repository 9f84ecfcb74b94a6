//! Messages as the checker compares them.

use serde_json::Value;

/// A message, compared the way Clojure compares it: integers by value, anything else
/// by its JSON text. (Integers that fit an i64 are always `Int`, so equal integers
/// are equal messages.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Msg {
    Int(i64),
    Big(u64),
    Other(Box<str>),
}

impl Msg {
    /// The message a JSON value is.
    pub(super) fn of(value: &Value) -> Msg {
        if let Some(i) = value.as_i64() {
            Msg::Int(i)
        } else if let Some(u) = value.as_u64() {
            Msg::Big(u)
        } else {
            Msg::Other(value.to_string().into_boxed_str())
        }
    }

    /// The message as JSON again.
    pub(super) fn to_json(&self) -> Value {
        match self {
            Msg::Int(i) => Value::from(*i),
            Msg::Big(u) => Value::from(*u),
            Msg::Other(text) => serde_json::from_str(text).unwrap_or(Value::from(&**text)),
        }
    }

    /// The order examples are listed in: integers by value, then the rest by text.
    pub(super) fn sort_key(&self) -> (u8, i128, &str) {
        match self {
            Msg::Int(i) => (0, *i as i128, ""),
            Msg::Big(u) => (0, *u as i128, ""),
            Msg::Other(s) => (1, 0, s),
        }
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Int(i) => write!(f, "{i}"),
            Msg::Big(u) => write!(f, "{u}"),
            Msg::Other(s) => write!(f, "{s}"),
        }
    }
}

//! History operations, in the shape of Jepsen's ops: every client operation is an
//! `invoke` followed by exactly one completion (`ok`, `fail` or `info`) of the same
//! process.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether an op is an invocation or which kind of completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation started.
    Invoke,
    /// It certainly happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

impl OpType {
    /// Jepsen's name: `invoke`, `ok`, `fail`, `info`.
    pub fn name(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

/// Who performed an op: a client process (an integer that advances when an op ends
/// `info`) or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process.
    Client(u64),
    /// The fault injector.
    #[serde(with = "nemesis_name")]
    Nemesis,
}

mod nemesis_name {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("nemesis")
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let name = String::deserialize(d)?;
        if name == "nemesis" {
            Ok(())
        } else {
            Err(D::Error::custom(format!("unknown process {name:?}")))
        }
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => write!(f, "nemesis"),
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, dense from 0.
    pub index: u64,
    /// Nanoseconds since the main phase began.
    pub time: u64,
    /// Invocation or completion kind.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// Who performed it.
    pub process: Process,
    /// The operation's function, e.g. `"echo"`.
    pub f: String,
    /// The operation's value (on completions: the result).
    #[serde(default)]
    pub value: Value,
    /// Why it failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The class of client-side exception behind an `info`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// Set on final-phase reads that checkers treat specially (`:final? true`).
    #[serde(rename = "final?", default, skip_serializing_if = "is_false")]
    pub final_read: bool,
    /// The node the client talked to (invocations only); not in Maelstrom's histories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Op {
    /// True for operations of client processes (not the nemesis).
    pub fn is_client(&self) -> bool {
        matches!(self.process, Process::Client(_))
    }

    /// Seconds since the main phase began, for people.
    pub fn seconds(&self) -> f64 {
        self.time as f64 / 1e9
    }
}

/// Pair every client invocation with its completion: returns, for each op index, the
/// index of the matching op (invoke → completion and completion → invoke). An
/// invocation that never completed has no entry.
pub fn pair_index(history: &[Op]) -> std::collections::HashMap<u64, u64> {
    let mut open: std::collections::HashMap<Process, u64> = std::collections::HashMap::new();
    let mut pairs = std::collections::HashMap::new();
    for op in history.iter().filter(|op| op.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, op.index);
        } else if let Some(invoke) = open.remove(&op.process) {
            pairs.insert(invoke, op.index);
            pairs.insert(op.index, invoke);
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_through_json() {
        let line = r#"{"index":3,"time":1500,"type":"invoke","process":7,"f":"echo","value":"Please echo 5","node":"n1"}"#;
        let op: Op = serde_json::from_str(line).unwrap();
        assert_eq!(op.process, Process::Client(7));
        assert_eq!(serde_json::to_string(&op).unwrap(), line);
        let nemesis: Op = serde_json::from_str(
            r#"{"index":0,"time":0,"type":"info","process":"nemesis","f":"start-partition","value":null}"#,
        )
        .unwrap();
        assert_eq!(nemesis.process, Process::Nemesis);
    }
}

//! The checker's input: complete operations (call, return, input, output) split into
//! per-key partitions, and the conversion from straum's own lin-kv history.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::model::{CasInput, CasOutput};
use crate::history::{Op, OpType, Process};

/// How an operation completed, for reports and the visualizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It returned a result.
    Ok,
    /// It definitely did not take effect (kept only when the model gives the failure
    /// a meaning, like a cas that found another value in Porcupine's etcd model).
    Fail,
    /// It never returned: pending until the end of the history.
    Info,
}

/// One complete operation of a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation<I, O> {
    /// The client process.
    pub process: u64,
    /// What it asked for.
    pub input: I,
    /// What it was told (the model's "unknown" when it never returned).
    pub output: O,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` = never returned (pending forever, +infinity).
    pub ret: Option<u64>,
    /// How it completed.
    pub outcome: Outcome,
    /// Where it comes from: the invocation's `index` in a straum history, or its
    /// 1-based line number in a file.
    pub source: u64,
}

/// The operations on one key, searched independently of every other key.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition<I, O> {
    /// The key, as shown in results (`"3"`).
    pub key: String,
    /// Its operations, in any order.
    pub ops: Vec<Operation<I, O>>,
}

/// What a history's times count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Nanoseconds (straum and Jepsen histories with times).
    Nanos,
    /// Positions in an event sequence (Jepsen logs and EDN files without times).
    Events,
}

impl Clock {
    /// A time for people: `4.512 s` or `event 37`.
    pub fn show(self, t: u64) -> String {
        match self {
            Clock::Nanos => format!("{:.3} s", t as f64 / 1e9),
            Clock::Events => format!("event {t}"),
        }
    }
}

/// A history that does not have the shape the model needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError {
    /// The offending op's position in the history (0-based) or its 1-based line.
    pub at: u64,
    /// What was wrong, e.g. `expected value [key, [from, to]], got [1, 2]`.
    pub message: String,
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "op {}: {}", self.at, self.message)
    }
}

impl std::error::Error for HistoryError {}

fn integer(value: &Value) -> Option<i64> {
    value.as_i64()
}

/// A key for results: an integer key prints as itself, anything else as its JSON.
fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Order keys like Maelstrom: integers numerically, then the rest by name.
pub(crate) fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The invocation's `[k v]` / `[k [from to]]` split into key and input.
fn lin_kv_input(op: &Op) -> Result<(String, CasInput), String> {
    let pair = op.value.as_array().filter(|a| a.len() == 2);
    let Some(pair) = pair else {
        return Err(format!(
            "expected value [key, …] for {}, got {}",
            op.f, op.value
        ));
    };
    let key = key_name(&pair[0]);
    let input =
        match op.f.as_str() {
            "read" => CasInput::Read,
            "write" => CasInput::Write(integer(&pair[1]).ok_or_else(|| {
                format!("expected value [key, integer] for write, got {}", op.value)
            })?),
            "cas" => {
                let args = pair[1].as_array().filter(|a| a.len() == 2);
                match args.and_then(|a| Some((integer(&a[0])?, integer(&a[1])?))) {
                    Some((from, to)) => CasInput::Cas(from, to),
                    None => {
                        return Err(format!(
                            "expected value [key, [from, to]] of integers for cas, got {}",
                            op.value
                        ))
                    }
                }
            }
            other => return Err(format!("expected f read, write or cas, got {other:?}")),
        };
    Ok((key, input))
}

/// Split a straum (or Maelstrom) lin-kv history into per-key cas-register partitions.
///
/// Rules (Knossos' as Maelstrom applies them): `fail` ops never happened and are
/// dropped; `info` ops and invocations without a completion are pending forever, with
/// an unknown output (reads among them constrain nothing and are dropped); an ok read
/// of `[k v]` returned `v` (a `null` value is accepted in any state by
/// [`CasRegister::knossos`](super::CasRegister::knossos)); nemesis ops are skipped.
/// Errors name the op's position in `history`.
pub fn lin_kv_partitions(
    history: &[Op],
) -> Result<Vec<Partition<CasInput, CasOutput>>, HistoryError> {
    let mut open: HashMap<u64, (usize, String, CasInput)> = HashMap::new();
    let mut keys: BTreeMap<String, Vec<Operation<CasInput, CasOutput>>> = BTreeMap::new();
    let err = |at: usize, message: String| HistoryError {
        at: at as u64,
        message,
    };
    let mut push = |key: String, op: Operation<CasInput, CasOutput>| {
        keys.entry(key).or_default().push(op);
    };
    for (at, op) in history.iter().enumerate() {
        let Process::Client(process) = op.process else {
            continue;
        };
        if op.kind == OpType::Invoke {
            let (key, input) = lin_kv_input(op).map_err(|m| err(at, m))?;
            if let Some((earlier, _, _)) = open.insert(process, (at, key, input)) {
                return Err(err(
                    at,
                    format!("process {process} invoked again while its op {earlier} was open"),
                ));
            }
            continue;
        }
        let Some((invoked, key, input)) = open.remove(&process) else {
            return Err(err(
                at,
                format!(
                    "{} completion without an invocation by process {process}",
                    op.kind.name()
                ),
            ));
        };
        let invoke = &history[invoked];
        let (output, ret, outcome) = match op.kind {
            OpType::Fail => continue,
            OpType::Info | OpType::Invoke => (CasOutput::Unknown, None, Outcome::Info),
            OpType::Ok => {
                let output = match input {
                    CasInput::Read => {
                        let value = op.value.as_array().filter(|a| a.len() == 2).map(|a| &a[1]);
                        match value {
                            Some(Value::Null) => CasOutput::Read(None),
                            Some(v) => CasOutput::Read(Some(integer(v).ok_or_else(|| {
                                err(at, format!("expected an integer read value, got {v}"))
                            })?)),
                            None => {
                                return Err(err(
                                    at,
                                    format!(
                                        "expected value [key, value] for read ok, got {}",
                                        op.value
                                    ),
                                ))
                            }
                        }
                    }
                    _ => CasOutput::Ok,
                };
                (output, Some(op.time), Outcome::Ok)
            }
        };
        if input == CasInput::Read && output == CasOutput::Unknown {
            continue;
        }
        push(
            key,
            Operation {
                process,
                input,
                output,
                call: invoke.time,
                ret,
                outcome,
                source: invoke.index,
            },
        );
    }
    for (process, (invoked, key, input)) in open {
        if input == CasInput::Read {
            continue;
        }
        push(
            key,
            Operation {
                process,
                input,
                output: CasOutput::Unknown,
                call: history[invoked].time,
                ret: None,
                outcome: Outcome::Info,
                source: history[invoked].index,
            },
        );
    }
    let mut partitions: Vec<_> = keys
        .into_iter()
        .map(|(key, mut ops)| {
            ops.sort_by_key(|op| (op.call, op.source));
            Partition { key, ops }
        })
        .collect();
    partitions.sort_by(|a, b| key_order(&a.key, &b.key));
    Ok(partitions)
}

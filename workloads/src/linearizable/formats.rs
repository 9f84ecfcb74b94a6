//! Parsers for the history files the checker reads, all pure functions over text:
//!
//! * straum's `history.jsonl` (one [`Op`] per line) → lin-kv cas-register partitions;
//! * Jepsen's EDN op maps, one per line (Porcupine's `test_data/kv/*.txt`) → KV
//!   partitions, one per key;
//! * Jepsen's log lines (Porcupine's `test_data/jepsen/etcd_*.log`) → one
//!   cas-register partition, with Porcupine's `etcdModel` reading of them.
//!
//! Files without times (the last two) use event positions as times
//! ([`Clock::Events`]). Errors name the 1-based line and what was expected.

use std::collections::{BTreeMap, HashMap};

use super::edn::{edn_json, edn_map, Edn};
use super::history::{key_order, lin_kv_partitions, Operation, Outcome, Partition};
use super::model::{CasInput, CasOutput, KvInput, KvOutput};
use crate::history::Op;

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Parse straum's `history.jsonl`: one JSON op per non-blank line.
pub fn parse_history_jsonl(text: &str) -> Result<Vec<(usize, Op)>, ParseError> {
    let mut ops = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(op) = parse_history_line(n + 1, line)? {
            ops.push((n + 1, op));
        }
    }
    Ok(ops)
}

/// Parse line `number` (1-based) of a `history.jsonl`: `None` when it is blank.
pub fn parse_history_line(number: usize, line: &str) -> Result<Option<Op>, ParseError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(line)
        .map(Some)
        .map_err(|e| error(number, format!("expected a history op as JSON: {e}")))
}

/// Parse a lin-kv `history.jsonl` into per-key cas-register partitions (rules of
/// [`lin_kv_partitions`]); errors name the file line.
pub fn lin_kv_from_jsonl(text: &str) -> Result<Vec<Partition<CasInput, CasOutput>>, ParseError> {
    let numbered = parse_history_jsonl(text)?;
    let ops: Vec<Op> = numbered.iter().map(|(_, op)| op.clone()).collect();
    lin_kv_partitions(&ops).map_err(|e| error(numbered[e.at as usize].0, e.message))
}

/// A pending invocation while parsing event files.
struct Open<I> {
    line: usize,
    event: u64,
    input: I,
    key: String,
}

fn pending<I, O>(open: Open<I>, process: u64, output: O) -> Operation<I, O> {
    Operation {
        process,
        input: open.input,
        output,
        call: open.event,
        ret: None,
        outcome: Outcome::Info,
        source: open.line as u64,
    }
}

/// Parse Jepsen's log lines (`INFO jepsen.util - 3 :invoke :cas [1 2]`) into one
/// cas-register partition (key `register`), as Porcupine's `parseJepsenLog` reads
/// them for its `etcdModel` ([`CasRegister::etcd`](super::CasRegister::etcd)):
///
/// * `:ok :read nil` means the key did not exist; `:ok :read 3` read 3;
/// * `:fail :cas` is a cas that found another value (kept, output
///   [`CasOutput::CasFailed`]); `:ok :cas` and `:ok :write` took effect;
/// * a read that failed or timed out constrains nothing and is dropped;
/// * any other completion (`:info … :timed-out`) leaves the op pending forever.
///
/// Lines from other loggers are skipped; a `jepsen.util` op line that is not one of
/// these shapes, or a completion without an invocation, is an error.
pub fn parse_jepsen_log(text: &str) -> Result<Vec<Partition<CasInput, CasOutput>>, ParseError> {
    let mut open: HashMap<u64, Open<CasInput>> = HashMap::new();
    let mut ops = Vec::new();
    let mut event = 0u64;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.len() < 3 || tokens[0] != "INFO" || tokens[1] != "jepsen.util" || tokens[2] != "-"
        {
            continue;
        }
        let expected = "expected `INFO jepsen.util - <process> :<type> :<f> <value>`";
        if tokens.len() < 7 {
            return Err(error(line, format!("{expected}, got {raw:?}")));
        }
        let process: u64 = tokens[3].parse().map_err(|_| {
            error(
                line,
                format!("expected a process number, got {:?}", tokens[3]),
            )
        })?;
        let (kind, f) = (tokens[4], tokens[5]);
        let value = tokens[6..].join(" ");
        let int = |s: &str| -> Result<i64, ParseError> {
            s.parse()
                .map_err(|_| error(line, format!("expected an integer, got {s:?}")))
        };
        let pair = |s: &str| -> Result<(i64, i64), ParseError> {
            let inner = s
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(|| error(line, format!("expected [from to], got {s:?}")))?;
            let parts: Vec<&str> = inner.split_whitespace().collect();
            match parts.as_slice() {
                [a, b] => Ok((int(a)?, int(b)?)),
                _ => Err(error(line, format!("expected [from to], got {s:?}"))),
            }
        };
        if kind == ":invoke" {
            let input = match (f, value.as_str()) {
                (":read", "nil") => CasInput::Read,
                (":write", v) => CasInput::Write(int(v)?),
                (":cas", v) => {
                    let (from, to) = pair(v)?;
                    CasInput::Cas(from, to)
                }
                _ => {
                    return Err(error(
                        line,
                        format!("expected :read nil, :write N or :cas [N N], got {f} {value}"),
                    ))
                }
            };
            let new = Open {
                line,
                event,
                input,
                key: String::new(),
            };
            if open.insert(process, new).is_some() {
                return Err(error(
                    line,
                    format!("process {process} invoked again before completing"),
                ));
            }
            event += 1;
            continue;
        }
        if !matches!(kind, ":ok" | ":fail" | ":info") {
            return Err(error(
                line,
                format!("expected :invoke, :ok, :fail or :info, got {kind}"),
            ));
        }
        let Some(invoked) = open.remove(&process) else {
            return Err(error(
                line,
                format!("{kind} completion without an invocation by process {process}"),
            ));
        };
        let done = |output, outcome| Operation {
            process,
            input: invoked.input,
            output,
            call: invoked.event,
            ret: Some(event),
            outcome,
            source: invoked.line as u64,
        };
        match (invoked.input, kind) {
            (CasInput::Write(_), ":ok") => {
                int(&value)?;
            }
            (CasInput::Cas(..), ":ok" | ":fail") => {
                pair(&value)?;
            }
            _ => {}
        }
        let op = match (invoked.input, kind) {
            (CasInput::Read, ":ok") => {
                let read = if value == "nil" {
                    None
                } else {
                    Some(int(&value)?)
                };
                Some(done(CasOutput::Read(read), Outcome::Ok))
            }
            (CasInput::Read, _) => None,
            (CasInput::Write(_), ":ok") | (CasInput::Cas(..), ":ok") => {
                Some(done(CasOutput::Ok, Outcome::Ok))
            }
            (CasInput::Cas(..), ":fail") => Some(done(CasOutput::CasFailed, Outcome::Fail)),
            _ => Some(pending(invoked, process, CasOutput::Unknown)),
        };
        ops.extend(op);
        event += 1;
    }
    for (process, invoked) in open {
        if invoked.input != CasInput::Read {
            ops.push(pending(invoked, process, CasOutput::Unknown));
        }
    }
    ops.sort_by_key(|op| (op.call, op.source));
    Ok(vec![Partition {
        key: "register".to_string(),
        ops,
    }])
}

/// Parse Jepsen/Elle EDN op maps, one per line (`{:type :ok, :f :txn, :value
/// [[:append 1 2] [:r 1 [1 2]]], :process 0, :index 1}`), into straum ops, each with
/// its 1-based line: keywords become strings (`:append` → `"append"`), `:process
/// :nemesis` the nemesis; `:time` (ns) and `:index` default to the op's position.
/// Blank lines are skipped.
pub fn parse_edn_ops(text: &str) -> Result<Vec<(usize, Op)>, ParseError> {
    use crate::history::{OpType, Process};
    let mut ops = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let map = edn_map(raw).map_err(|m| error(line, m))?;
        let field = |name: &str| map.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let kind = match field("type") {
            Some(Edn::Keyword(t)) => match t.as_str() {
                "invoke" => OpType::Invoke,
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                "info" => OpType::Info,
                other => return Err(error(line, format!("unknown :type :{other}"))),
            },
            other => {
                return Err(error(
                    line,
                    format!("expected :type <keyword>, got {other:?}"),
                ))
            }
        };
        let process = match field("process") {
            Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
            other => {
                return Err(error(
                    line,
                    format!("expected :process <integer> or :nemesis, got {other:?}"),
                ))
            }
        };
        let f = match field("f") {
            Some(Edn::Keyword(f) | Edn::Str(f)) => f.clone(),
            other => return Err(error(line, format!("expected :f <keyword>, got {other:?}"))),
        };
        let position = ops.len() as u64;
        let number = |name: &str| match field(name) {
            None | Some(Edn::Nil) => Ok(None),
            Some(Edn::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(other) => Err(error(
                line,
                format!("expected :{name} <non-negative integer>, got {other:?}"),
            )),
        };
        let op = Op {
            index: number("index")?.unwrap_or(position),
            time: number("time")?.unwrap_or(position),
            kind,
            process,
            f,
            value: field("value").map(edn_json).unwrap_or_default(),
            error: field("error").map(edn_json),
            exception: None,
            final_read: false,
            node: None,
        };
        ops.push((line, op));
    }
    Ok(ops)
}

/// Parse Jepsen's EDN op maps, one per line (`{:process 0, :type :invoke, :f :get,
/// :key "6", :value nil}`), into KV partitions, one per key, the way Porcupine's
/// `parseKvLog` pairs them: an invocation is completed by the next `:ok` of its
/// process (a `get` returns the `:value` string); `:fail` ops never happened;
/// `:info` ops and invocations never completed stay pending forever (a pending `get`
/// constrains nothing and is dropped). Blank lines are skipped.
pub fn parse_edn_kv(text: &str) -> Result<Vec<Partition<KvInput, KvOutput>>, ParseError> {
    let mut open: HashMap<u64, Open<KvInput>> = HashMap::new();
    let mut keys: BTreeMap<String, Vec<Operation<KvInput, KvOutput>>> = BTreeMap::new();
    let mut event = 0u64;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let map = edn_map(raw).map_err(|m| error(line, m))?;
        let field = |name: &str| map.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let process = match field("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            other => {
                return Err(error(
                    line,
                    format!("expected :process <integer>, got {other:?}"),
                ))
            }
        };
        let keyword = |name: &str| match field(name) {
            Some(Edn::Keyword(k)) => Ok(k.clone()),
            other => Err(error(
                line,
                format!("expected :{name} <keyword>, got {other:?}"),
            )),
        };
        let (kind, f) = (keyword("type")?, keyword("f")?);
        let value = field("value");
        if kind == "invoke" {
            let key = match field("key") {
                Some(Edn::Str(k)) => k.clone(),
                Some(Edn::Int(k)) => k.to_string(),
                other => {
                    return Err(error(
                        line,
                        format!("expected :key <string>, got {other:?}"),
                    ))
                }
            };
            let string = || match value {
                Some(Edn::Str(s)) => Ok(s.clone()),
                other => Err(error(
                    line,
                    format!("expected :value <string> for :{f}, got {other:?}"),
                )),
            };
            let input = match f.as_str() {
                "get" => KvInput::Get,
                "put" => KvInput::Put(string()?),
                "append" => KvInput::Append(string()?),
                other => {
                    return Err(error(
                        line,
                        format!("expected :f :get, :put or :append, got :{other}"),
                    ))
                }
            };
            if open
                .insert(
                    process,
                    Open {
                        line,
                        event,
                        input,
                        key,
                    },
                )
                .is_some()
            {
                return Err(error(
                    line,
                    format!("process {process} invoked again before completing"),
                ));
            }
            event += 1;
            continue;
        }
        let Some(invoked) = open.remove(&process) else {
            return Err(error(
                line,
                format!(":{kind} completion without an invocation by process {process}"),
            ));
        };
        let key = invoked.key.clone();
        let op = match kind.as_str() {
            "ok" => {
                let output = match (&invoked.input, value) {
                    (KvInput::Get, Some(Edn::Str(s))) => KvOutput(Some(s.clone())),
                    (KvInput::Get, other) => {
                        return Err(error(
                            line,
                            format!("expected :value <string> for an ok :get, got {other:?}"),
                        ))
                    }
                    _ => KvOutput(None),
                };
                Some(Operation {
                    process,
                    input: invoked.input,
                    output,
                    call: invoked.event,
                    ret: Some(event),
                    outcome: Outcome::Ok,
                    source: invoked.line as u64,
                })
            }
            "fail" => None,
            "info" if invoked.input == KvInput::Get => None,
            "info" => Some(pending(invoked, process, KvOutput(None))),
            other => {
                return Err(error(
                    line,
                    format!("expected :type :invoke, :ok, :fail or :info, got :{other}"),
                ))
            }
        };
        if let Some(op) = op {
            keys.entry(key).or_default().push(op);
        }
        event += 1;
    }
    for (process, invoked) in open {
        if invoked.input != KvInput::Get {
            let key = invoked.key.clone();
            keys.entry(key)
                .or_default()
                .push(pending(invoked, process, KvOutput(None)));
        }
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

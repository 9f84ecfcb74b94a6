//! Results: per key, the verdict and, for a failing key, the operation no
//! linearization explains, the previous ok operation, the longest linearizable prefix
//! and one plain sentence; plus the data a visualizer draws (every op of the key, the
//! longest linearization with the state after each step, and where it breaks).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::history::{Clock, Operation, Outcome, Partition};
use super::model::Model;
use super::search::{SearchResult, Stop};
use crate::Validity;

/// One operation as reports and the visualizer show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpView {
    /// Index into the partition's ops.
    pub id: usize,
    /// Where it comes from: the invocation's history index, or its line in a file.
    pub source: u64,
    /// The client process.
    pub process: u64,
    /// Invocation time.
    pub call: u64,
    /// Completion time (`null`: never returned).
    #[serde(rename = "return")]
    pub ret: Option<u64>,
    /// How it completed.
    pub outcome: Outcome,
    /// The model's description, e.g. `cas(1, 2) -> ok`.
    pub description: String,
}

impl OpView {
    /// The view of `partition.ops[id]`.
    pub fn new<M: Model>(
        model: &M,
        partition: &Partition<M::Input, M::Output>,
        id: usize,
    ) -> OpView {
        let op = &partition.ops[id];
        OpView {
            id,
            source: op.source,
            process: op.process,
            call: op.call,
            ret: op.ret,
            outcome: op.outcome,
            description: model.describe_operation(&op.input, &op.output),
        }
    }
}

/// Why a key is invalid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The operation no linearization can explain.
    pub op: OpView,
    /// The previous ok operation of the same process, else the last ok operation
    /// that returned before `op` was invoked.
    #[serde(rename = "previous-ok")]
    pub previous_ok: Option<OpView>,
    /// The states the register could be in at `op`'s return (up to four).
    pub states: Vec<String>,
    /// The longest linearizable prefix found, as op ids in linearization order.
    #[serde(rename = "longest-linearization")]
    pub longest: Vec<usize>,
    /// One plain sentence.
    pub explanation: String,
}

/// What a visualizer needs for one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Every operation of the key, indexed by id.
    pub ops: Vec<OpView>,
    /// The longest linearization found (complete when valid), as op ids.
    pub linearization: Vec<usize>,
    /// The state after each step of `linearization`.
    pub states: Vec<String>,
    /// The op where the linearization breaks, if it does.
    #[serde(rename = "break")]
    pub break_op: Option<usize>,
    /// What the ops' times count.
    #[serde(skip)]
    pub clock: Clock,
}

/// The verdict for one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyResult {
    /// The key.
    #[serde(skip)]
    pub key: String,
    /// Valid, invalid or unknown (stopped at a limit).
    #[serde(rename = "valid?")]
    pub valid: Validity,
    /// Always `wgl` (Wing–Gong–Lowe).
    pub analyzer: &'static str,
    /// Operations searched (after dropping failed ops and unknown reads).
    #[serde(rename = "op-count")]
    pub op_count: usize,
    /// Length of the longest linearizable prefix found (all ops when valid).
    pub linearized: usize,
    /// For invalid keys: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// For unknown keys: which limit stopped the search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Cache entries at the end of the search.
    #[serde(rename = "cache-entries")]
    pub cache_entries: usize,
    /// Approximate cache bytes.
    #[serde(rename = "cache-bytes")]
    pub cache_bytes: usize,
    /// Search time, milliseconds.
    #[serde(rename = "time-ms")]
    pub time_ms: f64,
    /// Visualizer data; only for keys that are not valid.
    #[serde(skip)]
    pub timeline: Option<Timeline>,
}

/// The verdict for a whole history, in Maelstrom's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Invalid if any key is, else unknown if any key is, else valid.
    pub valid: Validity,
    /// Per key, in key order (integers numerically).
    pub results: Vec<KeyResult>,
    /// Keys that are invalid.
    pub failures: Vec<String>,
    /// Keys that are unknown.
    pub unknown: Vec<String>,
    /// Operations searched over all keys.
    pub op_count: usize,
    /// Wall time of the whole check, milliseconds.
    pub time_ms: f64,
}

impl Report {
    /// The result for `key`.
    pub fn key(&self, key: &str) -> Option<&KeyResult> {
        self.results.iter().find(|r| r.key == key)
    }

    /// Every failure's sentence, in key order.
    pub fn explanations(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter_map(|r| r.failure.as_ref().map(|f| f.explanation.as_str()))
            .collect()
    }
}

struct Results<'a>(&'a [KeyResult]);

impl Serialize for Results<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for result in self.0 {
            map.serialize_entry(&result.key, result)?;
        }
        map.end()
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("valid?", &self.valid)?;
        map.serialize_entry("results", &Results(&self.results))?;
        map.serialize_entry("failures", &self.failures)?;
        map.serialize_entry("unknown", &self.unknown)?;
        map.serialize_entry("op-count", &self.op_count)?;
        map.serialize_entry("time-ms", &self.time_ms)?;
        map.end()
    }
}

fn replay<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    order: &[usize],
) -> Vec<M::State> {
    let mut state = model.init();
    let mut states = Vec::with_capacity(order.len());
    for &id in order {
        let op = &ops[id];
        // the search already stepped these; a failure here would be a model bug
        state = model.step(&state, &op.input, &op.output).unwrap_or(state);
        states.push(state.clone());
    }
    states
}

fn when(clock: Clock, op: &OpView) -> String {
    match (op.outcome, op.ret) {
        (Outcome::Info, _) | (_, None) => {
            format!("invoked at {}, never acknowledged", clock.show(op.call))
        }
        (Outcome::Ok, Some(t)) => format!("ok at {}", clock.show(t)),
        (Outcome::Fail, Some(t)) => format!("failed at {}", clock.show(t)),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Turn a search result into a key's verdict and, unless valid, its explanation and
/// timeline.
pub(crate) fn key_result<M: Model>(
    model: &M,
    partition: &Partition<M::Input, M::Output>,
    found: SearchResult<M::State>,
    clock: Clock,
    time_ms: f64,
) -> KeyResult {
    let valid = match found.linearizable {
        Some(true) => Validity::Valid,
        Some(false) => Validity::Invalid,
        None => Validity::Unknown,
    };
    let ops = &partition.ops;
    let mut result = KeyResult {
        key: partition.key.clone(),
        valid,
        analyzer: "wgl",
        op_count: ops.len(),
        linearized: found.linearization.len(),
        failure: None,
        reason: None,
        cache_entries: found.cache_entries,
        cache_bytes: found.cache_bytes,
        time_ms,
        timeline: None,
    };
    if valid == Validity::Valid {
        return result;
    }
    let states = replay(model, ops, &found.linearization);
    result.timeline = Some(Timeline {
        ops: (0..ops.len())
            .map(|id| OpView::new(model, partition, id))
            .collect(),
        linearization: found.linearization.clone(),
        states: states.iter().map(|s| model.describe_state(s)).collect(),
        break_op: found.barrier,
        clock,
    });
    if valid == Validity::Unknown {
        let what = match found.stop {
            Some(Stop::Cancelled) => {
                "the search was stopped because another key was already invalid".to_string()
            }
            Some(Stop::Memory) => format!(
                "the search cache reached the memory cap ({} entries, about {} MB)",
                found.cache_entries,
                found.cache_bytes / 1_000_000
            ),
            _ => format!(
                "the search reached its time limit after {:.1} s",
                time_ms / 1000.0
            ),
        };
        result.reason = Some(format!(
            "key {}: {what}, with {} of {} operations linearized",
            partition.key,
            found.linearization.len(),
            ops.len()
        ));
        return result;
    }
    let Some(barrier) = found.barrier else {
        return result;
    };
    let op = OpView::new(model, partition, barrier);
    let x = &ops[barrier];
    let previous_ok = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outcome == Outcome::Ok && o.ret.is_some_and(|r| r < x.call))
        .filter(|(_, o)| o.process == x.process)
        .max_by_key(|(_, o)| o.ret)
        .or_else(|| {
            ops.iter()
                .enumerate()
                .filter(|(_, o)| o.outcome == Outcome::Ok && o.ret.is_some_and(|r| r < x.call))
                .max_by_key(|(_, o)| o.ret)
        })
        .map(|(id, _)| OpView::new(model, partition, id));
    // the final state of the longest prefix first, then the others seen at `op`
    let last = states.last().cloned().unwrap_or_else(|| model.init());
    let mut seen = vec![last.clone()];
    seen.extend(found.barrier_states.iter().filter(|s| **s != last).cloned());
    let described: Vec<String> = seen.iter().map(|s| model.describe_state(s)).collect();
    let mut shown = join_or(&described);
    if found.barrier_states_truncated {
        shown.push_str(" (among others)");
    }
    // who left that state
    let mut writer = None;
    let mut before = model.init();
    for (k, &id) in found.linearization.iter().enumerate() {
        if states[k] == last && before != last {
            writer = Some(id);
        }
        before = states[k].clone();
    }
    let x_end = x.ret.unwrap_or(u64::MAX);
    let origin = match writer {
        Some(id) => {
            let o = &ops[id];
            let timing = if o.ret.is_none_or(|r| r > x_end) && o.outcome != Outcome::Info {
                // it overlapped `op`
                format!(
                    "running from {} to {}",
                    clock.show(o.call),
                    o.ret.map_or("the end".to_string(), |r| clock.show(r))
                )
            } else {
                when(clock, &OpView::new(model, partition, id))
            };
            format!(
                "process {} {}, {timing}",
                o.process,
                model.narrate_operation(&o.input, &o.output),
            )
        }
        None => "its initial value".to_string(),
    };
    let at = match x.ret {
        Some(t) => clock.show(t),
        None => format!("{} (never acknowledged)", clock.show(x.call)),
    };
    let before_it = ops
        .iter()
        .filter(|o| o.ret.is_some_and(|r| r < x_end))
        .count();
    let explanation = format!(
        "key {}: process {} {} at {at}, but every order of the {before_it} operations before it that respects real time leaves {shown} in {} ({origin})",
        partition.key,
        x.process,
        model.narrate_operation(&x.input, &x.output),
        model.state_noun(),
    );
    result.failure = Some(Failure {
        op,
        previous_ok,
        states: described,
        longest: found.linearization,
        explanation,
    });
    result
}

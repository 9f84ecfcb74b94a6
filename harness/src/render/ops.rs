//! Client operations as (invocation, completion) pairs, the unit every view draws.

use std::collections::HashMap;

use straum_workloads::{Op, OpType, Process};

/// A client invocation and its completion, if it had one.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The invocation.
    pub invoke: &'a Op,
    /// Its completion (`ok`, `fail` or `info`), or `None` if it never completed.
    pub done: Option<&'a Op>,
}

impl Pair<'_> {
    /// Nanoseconds from invocation to completion.
    pub fn latency_ns(&self) -> Option<u64> {
        self.done
            .map(|done| done.time.saturating_sub(self.invoke.time))
    }

    /// How it completed (`Invoke` for never).
    pub fn outcome(&self) -> OpType {
        self.done.map_or(OpType::Invoke, |d| d.kind)
    }
}

/// Every client invocation paired with the next completion of the same process, in
/// invocation order.
pub fn pairs(history: &[Op]) -> Vec<Pair<'_>> {
    let mut pairs: Vec<Pair> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for op in history {
        let Process::Client(p) = op.process else {
            continue;
        };
        if op.kind == OpType::Invoke {
            open.insert(p, pairs.len());
            pairs.push(Pair {
                invoke: op,
                done: None,
            });
        } else if let Some(i) = open.remove(&p) {
            pairs[i].done = Some(op);
        }
    }
    pairs
}

/// The last op time of the history (ns), 0 when empty.
pub fn end_time(history: &[Op]) -> u64 {
    history.iter().map(|op| op.time).max().unwrap_or(0)
}

/// The distinct functions of the pairs, sorted.
pub fn functions<'a>(pairs: &[Pair<'a>]) -> Vec<&'a str> {
    let mut fs: Vec<&str> = pairs.iter().map(|p| p.invoke.f.as_str()).collect();
    fs.sort_unstable();
    fs.dedup();
    fs
}

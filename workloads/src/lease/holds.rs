//! Who held which lock when, read off a lease history: a client holds lock L from its
//! `acquire_ok` until the earlier of its `release` invocation and the acquisition
//! time plus the ttl, all on the harness clock. The checker judges these intervals
//! and the run's timeline shades them.

use std::collections::HashMap;

use serde_json::Value;

use crate::history::{Op, OpType, Process};

/// One client's hold on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The client process that held it.
    pub process: u64,
    /// The lock.
    pub lock: i64,
    /// The fencing token it was granted.
    pub token: i128,
    /// The ttl it asked for, in ms.
    pub ttl_ms: u64,
    /// When the `acquire_ok` arrived, ns since the main phase began.
    pub start: u64,
    /// When the hold ended: the release invocation or `start + ttl`, whichever is first.
    pub end: u64,
    /// Whether a release ended it (otherwise the lease lapsed).
    pub released: bool,
    /// The history index of the `acquire_ok`.
    pub op: u64,
}

/// A lock field: an integer that fits i64.
pub fn lock_of(value: &Value) -> Option<i64> {
    value.get("lock")?.as_i64()
}

/// A token field: an integer that fits i128 (tokens past that are rejected by the client).
pub fn token_of(value: &Value) -> Option<i128> {
    let token = value.get("token")?;
    token
        .as_i64()
        .map(i128::from)
        .or_else(|| token.as_u64().map(i128::from))
}

/// Every hold of the history, in order of acquisition (history order). Bounded by the
/// history: one entry per `acquire_ok`, plus one per hold still open while scanning.
pub fn holds(history: &[Op]) -> Vec<Hold> {
    let mut holds: Vec<Hold> = Vec::new();
    let mut open: HashMap<(u64, i64, i128), usize> = HashMap::new();
    for op in history {
        let Process::Client(process) = op.process else {
            continue;
        };
        match (op.kind, op.f.as_str()) {
            (OpType::Ok, "acquire") => {
                let (Some(lock), Some(token)) = (lock_of(&op.value), token_of(&op.value)) else {
                    continue;
                };
                let ttl_ms = op.value.get("ttl").and_then(Value::as_u64).unwrap_or(0);
                open.insert((process, lock, token), holds.len());
                holds.push(Hold {
                    process,
                    lock,
                    token,
                    ttl_ms,
                    start: op.time,
                    end: op.time.saturating_add(ttl_ms.saturating_mul(1_000_000)),
                    released: false,
                    op: op.index,
                });
            }
            (OpType::Invoke, "release") => {
                let (Some(lock), Some(token)) = (lock_of(&op.value), token_of(&op.value)) else {
                    continue;
                };
                if let Some(i) = open.remove(&(process, lock, token)) {
                    let hold = &mut holds[i];
                    if op.time < hold.end {
                        hold.end = op.time.max(hold.start);
                        hold.released = true;
                    }
                }
            }
            _ => {}
        }
    }
    holds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;
    use serde_json::json;

    #[test]
    fn a_hold_ends_at_release_or_ttl_whichever_is_first() {
        let mut history = vec![
            op(0, OpType::Invoke, 1, "acquire", json!({"lock":0,"ttl":100})),
            op(
                1,
                OpType::Ok,
                1,
                "acquire",
                json!({"lock":0,"ttl":100,"token":5}),
            ),
            op(2, OpType::Invoke, 1, "release", json!({"lock":0,"token":5})),
            op(3, OpType::Invoke, 2, "acquire", json!({"lock":0,"ttl":100})),
            op(
                4,
                OpType::Ok,
                2,
                "acquire",
                json!({"lock":0,"ttl":100,"token":6}),
            ),
            op(5, OpType::Invoke, 2, "release", json!({"lock":0,"token":6})),
        ];
        for (op, ms) in history.iter_mut().zip([0, 10, 50, 60, 70, 400]) {
            op.time = ms * 1_000_000;
        }
        let holds = holds(&history);
        assert_eq!(holds.len(), 2);
        assert_eq!((holds[0].start, holds[0].end), (10_000_000, 50_000_000));
        assert!(holds[0].released);
        assert_eq!(holds[1].end, 170_000_000, "lapsed before its release");
        assert!(!holds[1].released);
        assert_eq!(holds[1].op, 4);
    }
}

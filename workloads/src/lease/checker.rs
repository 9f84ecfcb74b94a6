//! The lease checker's history half: (a) exclusivity — no two client processes hold
//! a lock at the same real time — and (b) fencing — the tokens granted for a lock
//! strictly increase in grant order. Both are one pass over the holds sorted as the
//! history already is (O(n) time, O(holds) memory), and at most [`MAX_EXAMPLES`] of
//! each violation are explained.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::holds::{holds, Hold};
use crate::history::{Op, OpType};
use crate::{CheckResult, Validity};

/// Violations of one invariant explained in sentences; the rest are counted.
pub const MAX_EXAMPLES: usize = 10;

/// How one invariant fared: its name, checks made, violations found and the sentences
/// explaining the first few.
#[derive(Debug, Clone, PartialEq)]
pub struct Invariant {
    /// The invariant, as the summary's table names it ("lease exclusivity").
    pub name: &'static str,
    /// How many times it was checked.
    pub checks: u64,
    /// How many checks failed.
    pub violations: u64,
    /// One sentence per explained violation.
    pub examples: Vec<String>,
}

impl Invariant {
    /// A fresh invariant with nothing checked yet.
    pub fn new(name: &'static str) -> Invariant {
        Invariant {
            name,
            checks: 0,
            violations: 0,
            examples: Vec::new(),
        }
    }

    /// Count a violation, keeping its sentence if fewer than [`MAX_EXAMPLES`] are kept.
    pub fn violated(&mut self, sentence: impl FnOnce() -> String) {
        self.violations += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(sentence());
        }
    }

    /// The row of the summary's invariant table, as results carry it.
    pub fn row(&self) -> Value {
        json!({
            "invariant": self.name,
            "status": if self.violations == 0 { "PASS" } else { "FAIL" },
            "checks": self.checks,
            "violations": self.violations,
        })
    }
}

/// Put `invariants` into `result`: their rows under `invariants` (the summary's
/// table), their examples as findings, and an invalid verdict if any was violated.
pub fn report(mut result: CheckResult, invariants: &[Invariant]) -> CheckResult {
    let rows: Vec<Value> = invariants.iter().map(Invariant::row).collect();
    result
        .fields
        .insert("invariants".into(), Value::Array(rows));
    for inv in invariants {
        result.findings.extend(inv.examples.iter().cloned());
        if inv.violations > inv.examples.len() as u64 {
            result.findings.push(format!(
                "… and {} more {} violations",
                inv.violations - inv.examples.len() as u64,
                inv.name
            ));
        }
        if inv.violations > 0 {
            result.valid = Validity::Invalid;
        }
    }
    result
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn describe(h: &Hold) -> String {
    let ended = if h.released {
        format!("released at {}", secs(h.end))
    } else {
        format!("lapsed at {} (ttl {} ms)", secs(h.end), h.ttl_ms)
    };
    format!(
        "process {} held it from {} (token {}, acquire_ok op {}) until it {ended}",
        h.process,
        secs(h.start),
        h.token,
        h.op
    )
}

/// (a) No two processes hold a lock at the same moment.
pub fn exclusivity(holds: &[Hold]) -> Invariant {
    let mut inv = Invariant::new("lease exclusivity");
    // Per lock, the earlier hold that ends last: any earlier hold overlapping a new
    // one's start overlaps it, so comparing with it alone finds every violation.
    let mut latest: HashMap<i64, usize> = HashMap::new();
    for (i, h) in holds.iter().enumerate() {
        inv.checks += 1;
        match latest.get(&h.lock).map(|&p| (p, &holds[p])) {
            Some((p, prev)) => {
                if prev.end > h.start && prev.process != h.process {
                    let overlap = prev.end.min(h.end).saturating_sub(h.start);
                    inv.violated(|| {
                        format!(
                            "lock {}: two holders at once — {}, while {}; they overlap by {} ms",
                            h.lock,
                            describe(h),
                            describe(prev),
                            overlap / 1_000_000
                        )
                    });
                }
                if h.end > prev.end {
                    latest.insert(h.lock, i);
                } else {
                    latest.insert(h.lock, p);
                }
            }
            None => {
                latest.insert(h.lock, i);
            }
        }
    }
    inv
}

/// (b) Tokens granted for a lock strictly increase in grant order.
pub fn fencing(holds: &[Hold]) -> Invariant {
    let mut inv = Invariant::new("fencing monotonic");
    let mut last: HashMap<i64, &Hold> = HashMap::new();
    for h in holds {
        if let Some(prev) = last.get(&h.lock) {
            inv.checks += 1;
            if h.token <= prev.token {
                inv.violated(|| {
                    format!(
                        "lock {}: process {} was granted token {} at {} (op {}) after process {} \
                         had been granted token {} at {} (op {}); tokens must strictly increase",
                        h.lock,
                        h.process,
                        h.token,
                        secs(h.start),
                        h.op,
                        prev.process,
                        prev.token,
                        secs(prev.start),
                        prev.op
                    )
                });
            }
        }
        last.insert(h.lock, h);
    }
    inv
}

/// Judge a lease history: exclusivity and fencing, with the acquire/act/release
/// figures. Stale actions need the fenced store's log and are judged from the network
/// journal ([`super::store_log`]).
pub fn check(history: &[Op]) -> CheckResult {
    let holds = holds(history);
    let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
    for op in history.iter().filter(|op| op.is_client()) {
        if op.kind != OpType::Invoke {
            *counts.entry((op.f.as_str(), op.kind.name())).or_default() += 1;
        }
    }
    let count = |f: &str, kind: &str| counts.get(&(f, kind)).copied().unwrap_or(0);
    let lapsed = holds.iter().filter(|h| !h.released).count();
    let mut result = CheckResult::new(Validity::Valid)
        .with("holds", holds.len())
        .with("lapsed", lapsed)
        .with(
            "acquire",
            json!({"ok": count("acquire","ok"), "fail": count("acquire","fail"), "info": count("acquire","info")}),
        )
        .with(
            "act",
            json!({"ok": count("act","ok"), "fail": count("act","fail"), "info": count("act","info")}),
        )
        .with(
            "release",
            json!({"ok": count("release","ok"), "fail": count("release","fail"), "info": count("release","info")}),
        );
    result.headline.push(format!(
        "{} holds ({} released, {lapsed} lapsed); acquire {} ok / {} fail / {} info; act {} ok / {} fail",
        holds.len(),
        holds.len() - lapsed,
        count("acquire", "ok"),
        count("acquire", "fail"),
        count("acquire", "info"),
        count("act", "ok"),
        count("act", "fail"),
    ));
    let invariants = [exclusivity(&holds), fencing(&holds)];
    report(result, &invariants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::tests::op;

    /// process, lock, token, acquire_ok ms, release ms (or None to lapse), ttl ms
    type Spec = (u64, i64, i64, u64, Option<u64>, u64);

    fn history(spec: &[Spec]) -> Vec<Op> {
        let mut ops = Vec::new();
        for &(p, lock, token, at, release, ttl) in spec {
            let value = json!({"lock": lock, "ttl": ttl, "token": token});
            let mut ok = op(0, OpType::Ok, p, "acquire", value);
            ok.time = at * 1_000_000;
            ops.push(ok);
            if let Some(r) = release {
                let mut rel = op(
                    0,
                    OpType::Invoke,
                    p,
                    "release",
                    json!({"lock": lock, "token": token}),
                );
                rel.time = r * 1_000_000;
                ops.push(rel);
            }
        }
        ops.sort_by_key(|o| o.time);
        for (i, o) in ops.iter_mut().enumerate() {
            o.index = i as u64;
        }
        ops
    }

    #[test]
    fn disjoint_holds_with_rising_tokens_pass() {
        let h = history(&[
            (1, 0, 1, 0, Some(50), 100),
            (2, 0, 2, 60, None, 100),
            (3, 0, 3, 170, Some(200), 100),
            (4, 1, 1, 10, None, 1000),
        ]);
        let result = check(&h);
        assert_eq!(result.valid, Validity::Valid, "{:?}", result.findings);
        let rows = result.fields["invariants"].as_array().unwrap();
        assert_eq!(rows[0]["checks"], 4);
        assert_eq!(rows[1]["checks"], 2);
    }

    #[test]
    fn an_overlap_names_both_holders_and_its_length() {
        let h = history(&[(1, 0, 1, 0, None, 100), (2, 0, 2, 60, Some(300), 100)]);
        let result = check(&h);
        assert_eq!(result.valid, Validity::Invalid);
        let finding = &result.findings[0];
        assert!(
            finding.contains("process 2 held it from 0.060 s"),
            "{finding}"
        );
        assert!(
            finding.contains("process 1 held it from 0.000 s"),
            "{finding}"
        );
        assert!(finding.contains("overlap by 40 ms"), "{finding}");
        assert_eq!(result.fields["invariants"][0]["violations"], 1);
    }

    #[test]
    fn a_reused_or_falling_token_breaks_fencing() {
        let h = history(&[
            (1, 0, 5, 0, Some(10), 100),
            (2, 0, 5, 20, Some(30), 100),
            (3, 0, 4, 40, Some(50), 100),
        ]);
        let result = check(&h);
        let fencing = &result.fields["invariants"][1];
        assert_eq!(fencing["violations"], 2);
        assert_eq!(fencing["status"], "FAIL");
        assert!(result.findings[0].contains("granted token 5 at 0.020 s"));
        assert_eq!(result.fields["invariants"][0]["status"], "PASS");
    }
}

//! Jepsen's `set-full` checker in its non-linearizable mode (Maelstrom §8.12), used by
//! broadcast and g-set.
//!
//! Jepsen updates every tracked element on every ok read, which costs
//! O(reads × elements). This version gets the same answer in
//! O(total read sizes + adds invoked during reads + elements × log): an element's
//! `known` and `last-present` only change on reads that contain it, and its
//! `last-absent` is the latest read invocation, among the reads that count for it,
//! that did not contain it. Reads invoked after the element's add was invoked are
//! found at the end by walking the reads from the latest invocation down, skipping
//! the ones that contained it; reads invoked before the add but completed after it
//! (the only other reads that count) are handled when they complete.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::history::{Op, OpType, Process};
use crate::unique_ids::compare_json;
use crate::{CheckResult, Validity};

/// The quantile points of latency distributions, as Jepsen prints them.
pub const POINTS: [(&str, f64); 5] = [
    ("0", 0.0),
    ("0.5", 0.5),
    ("0.95", 0.95),
    ("0.99", 0.99),
    ("1", 1.0),
];

/// How many lost elements get a sentence of their own.
const MAX_LOST_FINDINGS: usize = 8;

/// How many stale elements `worst-stale` lists.
const MAX_WORST_STALE: usize = 8;

/// Jepsen's `frequency-distribution` over `values` at [`POINTS`]: the value at index
/// min(n−1, ⌊n·p⌋) of the sorted list, keyed `"0"`, `"0.5"`, … ; `None` when empty.
pub fn quantiles(values: &[u64]) -> Option<Value> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let map: Map<String, Value> = POINTS
        .iter()
        .map(|(name, p)| {
            let idx = ((n as f64 * p).floor() as usize).min(n - 1);
            (name.to_string(), json!(sorted[idx]))
        })
        .collect();
    Some(Value::Object(map))
}

/// An element compared the way Clojure's `=` would compare it: integers by value
/// (whatever their width), anything else (floats included) by its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Int(i128),
    Other(String),
}

impl Key {
    fn of(value: &Value) -> Key {
        if let Some(i) = value.as_i64() {
            Key::Int(i as i128)
        } else if let Some(u) = value.as_u64() {
            Key::Int(u as i128)
        } else {
            Key::Other(value.to_string())
        }
    }
}

/// One element's state (Jepsen's `SetFullElement`) plus what the fast absent search
/// needs.
struct Element<'a> {
    key: Key,
    value: &'a Value,
    /// Index of the add invocation that started tracking it.
    tracked_at: u64,
    /// The add completion or read completion that first showed it exists.
    known: Option<&'a Op>,
    /// The latest (by index) read invocation whose read contained it.
    last_present: Option<&'a Op>,
    /// Indices of invocations of ok reads invoked after `tracked_at` that contained it.
    present_after: Vec<u64>,
    /// The latest invocation of an ok read that began before `tracked_at`, ended
    /// after it, and did not contain it.
    concurrent_absent: Option<&'a Op>,
    /// The id of the last read that contained it (to skip duplicates in one read).
    seen_in: usize,
}

/// An element's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stable,
    Lost,
    NeverRead,
}

struct ElementResult<'a> {
    element: &'a Element<'a>,
    outcome: Outcome,
    last_absent: Option<&'a Op>,
    stable_latency: Option<u64>,
    lost_latency: Option<u64>,
}

fn later<'a>(current: Option<&'a Op>, candidate: &'a Op) -> Option<&'a Op> {
    match current {
        Some(op) if op.index >= candidate.index => Some(op),
        _ => Some(candidate),
    }
}

/// Check a set history: elements are added by ops whose `f` is `add_f` (their value
/// is the element) and observed by ok `read` ops whose value is the array of elements
/// present (`null` means empty). Only client ops count.
///
/// Result fields use Maelstrom's names: `attempt-count`, `stable-count`,
/// `lost-count`, `lost`, `never-read-count`, `never-read`, `stale-count`, `stale`,
/// `worst-stale`, `stable-latencies` (when any element is stable), `lost-latencies`
/// (when any is lost), `duplicated-count` (always 0) and `duplicated` (always `{}`).
/// Invalid if any element was lost; otherwise unknown if none is stable.
pub fn check(history: &[Op], add_f: &str) -> CheckResult {
    let mut elements: Vec<Element> = Vec::new();
    // The live element for each key (a re-invoked add starts over, as in Jepsen).
    let mut live: HashMap<Key, usize> = HashMap::new();
    // Open invocations by process.
    let mut open: HashMap<Process, &Op> = HashMap::new();
    // Invocations of ok reads, in completion order.
    let mut reads: Vec<&Op> = Vec::new();

    for op in history.iter().filter(|op| op.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, op);
            if op.f == add_f {
                let key = Key::of(&op.value);
                live.insert(key.clone(), elements.len());
                elements.push(Element {
                    key,
                    value: &op.value,
                    tracked_at: op.index,
                    known: None,
                    last_present: None,
                    present_after: Vec::new(),
                    concurrent_absent: None,
                    seen_in: usize::MAX,
                });
            }
            continue;
        }
        let invocation = open.remove(&op.process);
        if op.f == add_f {
            if op.kind == OpType::Ok {
                if let Some(&slot) = live.get(&Key::of(&op.value)) {
                    let e = &mut elements[slot];
                    e.known = e.known.or(Some(op));
                }
            }
        } else if op.f == "read" && op.kind == OpType::Ok {
            let Some(inv) = invocation else { continue };
            let read_id = reads.len();
            reads.push(inv);
            for x in op.value.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let Some(&slot) = live.get(&Key::of(x)) else {
                    continue;
                };
                let e = &mut elements[slot];
                if e.seen_in == read_id {
                    continue;
                }
                e.seen_in = read_id;
                e.known = e.known.or(Some(op));
                e.last_present = later(e.last_present, inv);
                if inv.index > e.tracked_at {
                    e.present_after.push(inv.index);
                }
            }
            // Elements whose add was invoked while this read was in flight: they are
            // tracked now, so this read counts for them.
            let first = elements.partition_point(|e| e.tracked_at < inv.index);
            for (slot, e) in elements.iter_mut().enumerate().skip(first) {
                if e.seen_in != read_id && live.get(&e.key) == Some(&slot) {
                    e.concurrent_absent = later(e.concurrent_absent, inv);
                }
            }
        }
    }

    let mut by_invocation: Vec<&Op> = reads;
    by_invocation.sort_unstable_by_key(|inv| inv.index);
    let mut live_slots: Vec<usize> = live.into_values().collect();
    live_slots.sort_unstable_by(|&a, &b| {
        let (a, b) = (&elements[a], &elements[b]);
        match (&a.key, &b.key) {
            (Key::Int(x), Key::Int(y)) => x.cmp(y),
            _ => compare_json(a.value, b.value).then_with(|| a.key.cmp(&b.key)),
        }
    });
    for &slot in &live_slots {
        elements[slot].present_after.sort_unstable();
    }
    let results: Vec<ElementResult> = live_slots
        .iter()
        .map(|&slot| {
            let e = &elements[slot];
            let last_absent = last_absent_after(&by_invocation, e).or(e.concurrent_absent);
            judge(e, last_absent)
        })
        .collect();
    summarize(&results, add_f)
}

/// The latest invocation among ok reads invoked after `e`'s add that did not contain
/// it.
fn last_absent_after<'a>(by_invocation: &[&'a Op], e: &Element) -> Option<&'a Op> {
    let mut present = e.present_after.iter().rev().peekable();
    for inv in by_invocation.iter().rev() {
        if inv.index <= e.tracked_at {
            return None;
        }
        while present.next_if(|&&p| p > inv.index).is_some() {}
        if present.next_if(|&&p| p == inv.index).is_none() {
            return Some(inv);
        }
    }
    None
}

fn judge<'a>(e: &'a Element<'a>, last_absent: Option<&'a Op>) -> ElementResult<'a> {
    let index = |op: Option<&Op>| op.map_or(-1, |op| op.index as i128);
    let stable = e.last_present.is_some() && index(last_absent) < index(e.last_present);
    let lost = e.known.is_some()
        && last_absent.is_some()
        && index(e.last_present) < index(last_absent)
        && index(e.known) < index(last_absent);
    let known_time = e.known.map_or(0, |op| op.time);
    let latency = |since: Option<&Op>| {
        let t = since.map_or(0, |op| op.time + 1);
        t.saturating_sub(known_time) / 1_000_000
    };
    let (outcome, stable_latency, lost_latency) = if stable {
        (Outcome::Stable, Some(latency(last_absent)), None)
    } else if lost {
        (Outcome::Lost, None, Some(latency(e.last_present)))
    } else {
        (Outcome::NeverRead, None, None)
    };
    ElementResult {
        element: e,
        outcome,
        last_absent,
        stable_latency,
        lost_latency,
    }
}

fn op_json(op: Option<&Op>) -> Value {
    op.map_or(Value::Null, |op| serde_json::to_value(op).unwrap())
}

fn summarize(results: &[ElementResult], add_f: &str) -> CheckResult {
    let of = |outcome| results.iter().filter(move |r| r.outcome == outcome);
    let values = |rs: Vec<&ElementResult>| -> Value {
        Value::Array(rs.iter().map(|r| r.element.value.clone()).collect())
    };
    let stable: Vec<&ElementResult> = of(Outcome::Stable).collect();
    let lost: Vec<&ElementResult> = of(Outcome::Lost).collect();
    let never_read: Vec<&ElementResult> = of(Outcome::NeverRead).collect();
    let stale: Vec<&ElementResult> = stable
        .iter()
        .copied()
        .filter(|r| r.stable_latency.unwrap_or(0) > 0)
        .collect();
    // Jepsen: (reverse (sort-by :stable-latency stale)) — a stable sort, reversed.
    let mut worst = stale.clone();
    worst.sort_by_key(|r| r.stable_latency);
    worst.reverse();
    let worst_stale: Vec<Value> = worst
        .iter()
        .take(MAX_WORST_STALE)
        .map(|r| {
            json!({
                "element": r.element.value,
                "outcome": "stable",
                "stable-latency": r.stable_latency,
                "lost-latency": null,
                "known": op_json(r.element.known),
                "last-absent": op_json(r.last_absent),
            })
        })
        .collect();
    let stable_latencies: Vec<u64> = results.iter().filter_map(|r| r.stable_latency).collect();
    let lost_latencies: Vec<u64> = results.iter().filter_map(|r| r.lost_latency).collect();

    let valid = if !lost.is_empty() {
        Validity::Invalid
    } else if stable.is_empty() {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let mut findings: Vec<String> = lost
        .iter()
        .take(MAX_LOST_FINDINGS)
        .map(|r| describe_lost(r, add_f))
        .collect();
    if lost.len() > MAX_LOST_FINDINGS {
        findings.push(format!(
            "… and {} more lost elements ({} lost in all)",
            lost.len() - MAX_LOST_FINDINGS,
            lost.len()
        ));
    }
    if valid == Validity::Unknown {
        findings.push(if results.is_empty() {
            format!("no element became stable because no {add_f} was attempted")
        } else {
            format!(
                "no element became stable: none of the {} attempted elements was seen by \
                 a read that no later read contradicted, so nothing can be concluded",
                results.len()
            )
        });
    }

    let mut result = CheckResult::new(valid)
        .with("attempt-count", results.len())
        .with("stable-count", stable.len())
        .with("lost-count", lost.len())
        .with("lost", values(lost))
        .with("never-read-count", never_read.len())
        .with("never-read", values(never_read))
        .with("stale-count", stale.len())
        .with("stale", values(stale))
        .with("worst-stale", Value::Array(worst_stale))
        .with("duplicated-count", 0)
        .with("duplicated", Value::Object(Map::new()));
    if let Some(q) = quantiles(&stable_latencies) {
        result = result.with("stable-latencies", q);
    }
    if let Some(q) = quantiles(&lost_latencies) {
        result = result.with("lost-latencies", q);
    }
    result.findings = findings;
    result.headline = headline(&result.fields, add_f);
    result
}

/// Key figures: counts with percentages, then latency quantiles.
fn headline(fields: &Map<String, Value>, add_f: &str) -> Vec<String> {
    let count = |key: &str| fields[key].as_u64().unwrap_or(0);
    let attempts = count("attempt-count");
    let percent = |n: u64| {
        if attempts == 0 {
            0.0
        } else {
            100.0 * n as f64 / attempts as f64
        }
    };
    let mut lines = vec![format!(
        "{attempts} {add_f}s: stable {} ({:.1}%), lost {} ({:.1}%), never read {}, stale {}",
        count("stable-count"),
        percent(count("stable-count")),
        count("lost-count"),
        percent(count("lost-count")),
        count("never-read-count"),
        count("stale-count"),
    )];
    for (key, label) in [
        ("stable-latencies", "stable latency"),
        ("lost-latencies", "lost latency"),
    ] {
        if let Some(q) = fields.get(key) {
            lines.push(format!(
                "{label} ms: p50 {}, p95 {}, p99 {}, max {}",
                q["0.5"], q["0.95"], q["0.99"], q["1"]
            ));
        }
    }
    lines
}

/// "op 40 (process 2 → n1, at 3.120 s)".
fn describe_op(op: &Op) -> String {
    format!(
        "op {} (process {}{}, at {:.3} s)",
        op.index,
        op.process,
        op.node
            .as_deref()
            .map(|n| format!(" → {n}"))
            .unwrap_or_default(),
        op.seconds()
    )
}

fn describe_read(op: &Op) -> String {
    let kind = if op.final_read { "final read" } else { "read" };
    format!("{kind} {}", describe_op(op))
}

fn describe_lost(r: &ElementResult, add_f: &str) -> String {
    let e = r.element;
    let known = e.known.expect("lost elements are known");
    let last_absent = r
        .last_absent
        .expect("lost elements have a last absent read");
    let how = if known.f == add_f {
        format!("{add_f} ok by {}", describe_op(known))
    } else {
        format!("first seen by a read completing as {}", describe_op(known))
    };
    match e.last_present {
        Some(present) => format!(
            "element {} was lost: {how}, last seen by {}, but absent from every read \
             invoked after that, the last being {}",
            e.value,
            describe_read(present),
            describe_read(last_absent)
        ),
        None => format!(
            "element {} was lost: {how} but never seen by any read; the last read that \
             lacked it was {}",
            e.value,
            describe_read(last_absent)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history builder: ops get dense indices and times of `ms` milliseconds.
    struct H(Vec<Op>);

    impl H {
        fn new() -> H {
            H(Vec::new())
        }

        fn push(&mut self, ms: u64, kind: OpType, p: u64, f: &str, value: Value) -> &mut H {
            self.0.push(Op {
                index: self.0.len() as u64,
                time: ms * 1_000_000,
                kind,
                process: Process::Client(p),
                f: f.into(),
                value,
                error: None,
                exception: None,
                final_read: false,
                node: (kind == OpType::Invoke).then(|| format!("n{p}")),
            });
            self
        }

        fn add(&mut self, ms: u64, p: u64, v: i64) -> &mut H {
            self.push(ms, OpType::Invoke, p, "add", json!(v)).push(
                ms,
                OpType::Ok,
                p,
                "add",
                json!(v),
            )
        }

        fn read(&mut self, ms: u64, p: u64, seen: Value) -> &mut H {
            self.push(ms, OpType::Invoke, p, "read", Value::Null).push(
                ms,
                OpType::Ok,
                p,
                "read",
                seen,
            )
        }
    }

    #[test]
    fn quantiles_follow_jepsen_indexing() {
        assert_eq!(quantiles(&[]), None);
        assert_eq!(
            quantiles(&[5]),
            Some(json!({"0":5,"0.5":5,"0.95":5,"0.99":5,"1":5}))
        );
        let v: Vec<u64> = (0..10).rev().collect();
        assert_eq!(
            quantiles(&v),
            Some(json!({"0":0,"0.5":5,"0.95":9,"0.99":9,"1":9}))
        );
        let v: Vec<u64> = (0..200).collect();
        assert_eq!(
            quantiles(&v),
            Some(json!({"0":0,"0.5":100,"0.95":190,"0.99":198,"1":199}))
        );
    }

    #[test]
    fn elements_seen_by_every_later_read_are_stable() {
        let mut h = H::new();
        h.add(0, 0, 1)
            .add(1, 0, 2)
            .read(2, 1, json!([2, 1]))
            .read(3, 0, json!([1, 2, 99]));
        let r = check(&h.0, "add");
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["attempt-count"], json!(2));
        assert_eq!(r.fields["stable-count"], json!(2));
        assert_eq!(r.fields["lost-count"], json!(0));
        assert_eq!(r.fields["stale-count"], json!(0));
        assert_eq!(r.fields["never-read"], json!([]));
        assert_eq!(r.fields["duplicated-count"], json!(0));
        assert_eq!(r.fields["duplicated"], json!({}));
        assert_eq!(
            r.fields["stable-latencies"],
            json!({"0":0,"0.5":0,"0.95":0,"0.99":0,"1":0})
        );
        assert!(!r.fields.contains_key("lost-latencies"));
        assert!(r.findings.is_empty());
    }

    #[test]
    fn an_element_missing_from_the_last_reads_is_lost_and_named() {
        let mut h = H::new();
        h.add(0, 0, 7) // ops 0, 1
            .add(0, 0, 8) // 2, 3
            .read(100, 1, json!([7, 8])) // 4, 5
            .read(3400, 2, json!([8])) // 6, 7
            .read(5000, 1, json!(null)); // 8, 9
        h.0[8].final_read = true;
        h.0[9].final_read = true;
        let r = check(&h.0, "broadcast-not-used");
        // With the wrong add f nothing is tracked.
        assert_eq!(r.valid, Validity::Unknown);
        let r = check(&h.0, "add");
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["lost"], json!([7, 8]));
        assert_eq!(r.fields["lost-count"], json!(2));
        assert_eq!(r.fields["stable-count"], json!(0));
        // Lost latency: last present (read invoked at 100 ms / 3400 ms) + 1 ns − known.
        assert_eq!(
            r.fields["lost-latencies"],
            json!({"0":100,"0.5":3400,"0.95":3400,"0.99":3400,"1":3400})
        );
        assert_eq!(r.findings.len(), 2);
        let f = &r.findings[0];
        assert!(
            f.starts_with("element 7 was lost: add ok by op 1 (process 0, at 0.000 s)"),
            "{f}"
        );
        assert!(
            f.contains("last seen by read op 4 (process 1 → n1, at 0.100 s)"),
            "{f}"
        );
        assert!(
            f.contains("the last being final read op 8 (process 1 → n1, at 5.000 s)"),
            "{f}"
        );
    }

    #[test]
    fn never_seen_elements_are_lost_once_known_and_never_read_otherwise() {
        let mut h = H::new();
        h.add(0, 0, 1)
            .read(10, 1, json!([]))
            .push(20, OpType::Invoke, 0, "add", json!(2))
            .push(30, OpType::Info, 0, "add", json!(2))
            .read(40, 1, json!([]))
            // 3 is known before the last read begins, which lacks it: lost.
            .add(50, 2, 3)
            // 4's add never completes but a read saw it: stable.
            .push(60, OpType::Invoke, 3, "add", json!(4))
            .read(70, 1, json!([4]));
        let r = check(&h.0, "add");
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["lost"], json!([1, 3]));
        // 2's add never completed ok and no read saw it.
        assert_eq!(r.fields["never-read"], json!([2]));
        assert_eq!(r.fields["attempt-count"], json!(4));
        assert_eq!(r.fields["stable-count"], json!(1));
        assert!(
            r.findings[0].contains("but never seen by any read"),
            "{}",
            r.findings[0]
        );
    }

    #[test]
    fn stale_latency_counts_from_known_to_last_absent_read() {
        let mut h = H::new();
        h.add(1000, 0, 5) // known at 1000 ms
            .read(1200, 1, json!([])) // absent, invoked at 1200 ms
            .read(1500, 2, json!([])) // absent, invoked at 1500 ms
            .read(2000, 1, json!([5]))
            .add(2100, 0, 6)
            .read(2200, 1, json!([5, 6]))
            .read(2300, 2, json!([6, 5, 5]));
        let r = check(&h.0, "add");
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["stable-count"], json!(2));
        assert_eq!(r.fields["stale"], json!([5]));
        assert_eq!(r.fields["stale-count"], json!(1));
        assert_eq!(
            r.fields["stable-latencies"],
            json!({"0":0,"0.5":500,"0.95":500,"0.99":500,"1":500})
        );
        let worst = &r.fields["worst-stale"][0];
        assert_eq!(worst["element"], json!(5));
        assert_eq!(worst["stable-latency"], json!(500));
        assert_eq!(worst["lost-latency"], Value::Null);
        assert_eq!(worst["outcome"], json!("stable"));
        assert_eq!(worst["known"]["index"], json!(1));
        assert_eq!(worst["last-absent"]["index"], json!(4));
    }

    #[test]
    fn concurrent_reads_count_and_a_concurrent_absence_is_not_a_loss() {
        let mut h = H::new();
        // Read invoked before the add, completing after its invocation and ok.
        h.push(0, OpType::Invoke, 1, "read", Value::Null) // 0
            .push(1, OpType::Invoke, 0, "add", json!(9)) // 1
            .push(2, OpType::Ok, 1, "read", json!([])) // 2: absent, counts (tracked)
            .push(3, OpType::Ok, 0, "add", json!(9)); // 3: known
        let r = check(&h.0, "add");
        // last-absent = op 0, known = op 3 > 0: never-read, not lost.
        assert_eq!(r.fields["never-read"], json!([9]));
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].contains("no element became stable"));

        // Read invoked before the add and completing after it, containing it: known
        // by the read, stable.
        let mut h = H::new();
        h.push(0, OpType::Invoke, 1, "read", Value::Null)
            .push(1, OpType::Invoke, 0, "add", json!(9))
            .push(2, OpType::Ok, 1, "read", json!([9]));
        let r = check(&h.0, "add");
        assert_eq!(r.fields["stable-count"], json!(1));
        assert_eq!(r.valid, Validity::Valid);

        // A read that completed before the add was invoked does not count.
        let mut h = H::new();
        h.read(0, 1, json!([])).add(1, 0, 9).read(2, 1, json!([9]));
        let r = check(&h.0, "add");
        assert_eq!(r.fields["stale-count"], json!(0));
        assert_eq!(r.fields["stable-count"], json!(1));
    }

    #[test]
    fn failed_reads_and_unknown_values_are_ignored_and_integers_compare_exactly() {
        let big: Value = serde_json::from_str("18446744073709551615").unwrap();
        let mut h = H::new();
        h.push(0, OpType::Invoke, 0, "add", big.clone())
            .push(0, OpType::Ok, 0, "add", big.clone())
            .add(0, 0, 1)
            .push(1, OpType::Invoke, 1, "read", Value::Null)
            .push(1, OpType::Fail, 1, "read", Value::Null)
            .read(2, 1, json!([1.0, 18446744073709551614u64, 1]))
            .read(3, 1, json!([big.clone(), 1]));
        let r = check(&h.0, "add");
        assert_eq!(r.fields["stable-count"], json!(2));
        assert_eq!(r.fields["stale"], json!([big]));
        assert_eq!(r.fields["attempt-count"], json!(2));
        assert_eq!(check(&[], "add").valid, Validity::Unknown);
        assert!(check(&[], "add").findings[0].contains("no add was attempted"));
    }

    /// Jepsen's algorithm, literally: every ok read updates every tracked element.
    fn reference(history: &[Op], add_f: &str) -> Vec<(i64, &'static str, bool)> {
        #[derive(Clone, Default)]
        struct S {
            known: Option<u64>,
            present: Option<u64>,
            absent: Option<u64>,
        }
        let mut states: std::collections::BTreeMap<i64, S> = Default::default();
        let mut open: HashMap<Process, &Op> = HashMap::new();
        for op in history {
            let v = op.value.as_i64();
            if op.kind == OpType::Invoke {
                open.insert(op.process, op);
                if op.f == add_f {
                    states.insert(v.unwrap(), S::default());
                }
                continue;
            }
            let inv = open.remove(&op.process).unwrap();
            if op.f == add_f && op.kind == OpType::Ok {
                let s = states.get_mut(&v.unwrap()).unwrap();
                s.known = s.known.or(Some(op.index));
            } else if op.f == "read" && op.kind == OpType::Ok {
                let seen: Vec<i64> = op
                    .value
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect();
                for (e, s) in states.iter_mut() {
                    if seen.contains(e) {
                        s.known = s.known.or(Some(op.index));
                        s.present = s.present.max(Some(inv.index));
                    } else {
                        s.absent = s.absent.max(Some(inv.index));
                    }
                }
            }
        }
        let idx = |x: Option<u64>| x.map_or(-1, |i| i as i64);
        states
            .into_iter()
            .map(|(e, s)| {
                let stable = s.present.is_some() && idx(s.absent) < idx(s.present);
                let lost = s.known.is_some()
                    && s.absent.is_some()
                    && idx(s.present) < idx(s.absent)
                    && idx(s.known) < idx(s.absent);
                // Test times are index milliseconds.
                let stale = stable && s.absent.is_some_and(|a| a > s.known.unwrap());
                let outcome = if stable {
                    "stable"
                } else if lost {
                    "lost"
                } else {
                    "never-read"
                };
                (e, outcome, stale)
            })
            .collect()
    }

    #[test]
    fn matches_the_literal_algorithm_on_random_histories() {
        use rand::{Rng, SeedableRng};
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for seed in 0..200 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut h: Vec<Op> = Vec::new();
            let processes = 4u64;
            let mut pending: Vec<Option<(String, Value)>> = vec![None; processes as usize];
            let mut next = 0i64;
            let mut present: Vec<i64> = Vec::new();
            for _ in 0..rng.gen_range(5..80) {
                let p = rng.gen_range(0..processes);
                let push = |h: &mut Vec<Op>, kind, f: &str, value| {
                    let index = h.len() as u64;
                    h.push(Op {
                        index,
                        time: index * 1_000_000,
                        kind,
                        process: Process::Client(p),
                        f: f.into(),
                        value,
                        error: None,
                        exception: None,
                        final_read: false,
                        node: None,
                    });
                };
                match pending[p as usize].take() {
                    None if rng.gen_bool(0.5) => {
                        push(&mut h, OpType::Invoke, "add", json!(next));
                        pending[p as usize] = Some(("add".into(), json!(next)));
                        next += 1;
                    }
                    None => {
                        push(&mut h, OpType::Invoke, "read", Value::Null);
                        pending[p as usize] = Some(("read".into(), Value::Null));
                    }
                    Some((f, v)) if f == "add" => {
                        let kind = [OpType::Ok, OpType::Info, OpType::Fail][rng.gen_range(0..3)];
                        if kind != OpType::Fail && rng.gen_bool(0.8) {
                            present.push(v.as_i64().unwrap());
                        }
                        push(&mut h, kind, "add", v);
                    }
                    Some(_) => {
                        let mut seen: Vec<i64> = present
                            .iter()
                            .copied()
                            .filter(|_| rng.gen_bool(0.8))
                            .collect();
                        if rng.gen_bool(0.2) {
                            seen.extend(seen.clone());
                        }
                        if rng.gen_bool(0.1) {
                            seen.push(1000);
                        }
                        if rng.gen_bool(0.8) {
                            push(&mut h, OpType::Ok, "read", json!(seen));
                        } else {
                            push(&mut h, OpType::Fail, "read", Value::Null);
                        }
                    }
                }
            }
            let r = check(&h, "add");
            let expected = reference(&h, "add");
            let list = |outcome: &str| {
                json!(expected
                    .iter()
                    .filter(|(_, o, _)| *o == outcome)
                    .map(|(e, _, _)| *e)
                    .collect::<Vec<_>>())
            };
            let stale: Vec<i64> = expected
                .iter()
                .filter(|(_, _, stale)| *stale)
                .map(|(e, _, _)| *e)
                .collect();
            assert_eq!(r.fields["stale"], json!(stale), "seed {seed}");
            for outcome in ["stable", "lost", "never-read"] {
                *seen.entry(outcome).or_insert(0) += list(outcome).as_array().unwrap().len();
            }
            assert_eq!(r.fields["lost"], list("lost"), "seed {seed}");
            assert_eq!(r.fields["never-read"], list("never-read"), "seed {seed}");
            assert_eq!(
                r.fields["stable-count"],
                json!(list("stable").as_array().unwrap().len()),
                "seed {seed}"
            );
        }
        // Every outcome occurred often enough to mean something.
        assert!(seen.values().all(|&n| n > 50), "{seen:?}");
    }
}

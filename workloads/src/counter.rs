//! The g-counter and pn-counter workloads (Maelstrom §8.5): clients `add` deltas to a
//! shared counter and `read` it; after the final heal every worker reads once with
//! `:final? true`, and each final read must equal the sum of the acknowledged adds plus
//! some subset of the indeterminate ones.
//!
//! The two workloads differ only in their generators: pn-counter adds deltas uniform in
//! −5..=4, g-counter the same stream with negative adds re-drawn away (so ≈1/3 adds of
//! 0..=4 and ≈2/3 reads).

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::{Op, OpType, Process};
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::{
    CheckResult, ClientId, Completion, Invocation, Step, Validity, Workload, WorkloadOptions,
};

/// How many bad final reads get a sentence of their own.
const MAX_FINDINGS: usize = 8;

/// How many final-read values the headline lists.
const MAX_HEADLINE_READS: usize = 8;

/// How many intervals a sentence or headline shows before eliding the rest.
const MAX_SHOWN_INTERVALS: usize = 4;

/// Which counter: grow-only or positive-negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `g-counter`: deltas are never negative.
    Grow,
    /// `pn-counter`: deltas may be negative.
    PosNeg,
}

/// `add`: a client adds a delta to the counter.
pub const ADD: Rpc = Rpc {
    request: "add",
    doc: "Add `delta` to the shared counter.",
    request_fields: &[Field::new(
        "delta",
        FieldType::Int,
        "the amount: 0…4 for g-counter, −5…4 for pn-counter",
    )],
    reply: "add_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"add","msg_id":1,"delta":3}"#,
    example_reply: r#"{"type":"add_ok","in_reply_to":1}"#,
};

/// `read`: a client reads the counter.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Answer with the counter's value. Final reads (after the faults heal) must equal \
          a sum the acknowledged and indeterminate adds allow.",
    request_fields: &[],
    reply: "read_ok",
    reply_fields: &[Field::new(
        "value",
        FieldType::Int,
        "the counter (must fit a signed 64-bit integer)",
    )],
    errors: &[],
    example_request: r#"{"type":"read","msg_id":2}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":2,"value":12}"#,
};

/// The g-counter or pn-counter workload.
#[derive(Debug)]
pub struct Counter {
    kind: Kind,
}

impl Counter {
    /// The workload of the given kind.
    pub fn new(kind: Kind) -> Counter {
        Counter { kind }
    }
}

/// Build the g-counter workload.
pub fn build_g(_: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Counter::new(Kind::Grow)))
}

/// Build the pn-counter workload.
pub fn build_pn(_: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Counter::new(Kind::PosNeg)))
}

/// One op of the pn-counter stream: a read or an add of a delta uniform in −5..=4,
/// half each.
fn pn_op(rng: &mut ChaCha8Rng) -> Invocation {
    if rng.gen_bool(0.5) {
        Invocation::new("add", Value::from(rng.gen_range(-5i64..=4)))
    } else {
        Invocation::new("read", Value::Null)
    }
}

impl Workload for Counter {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Grow => "g-counter",
            Kind::PosNeg => "pn-counter",
        }
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        loop {
            let op = pn_op(rng);
            let negative = op.value.as_i64().is_some_and(|d| d < 0);
            if self.kind == Kind::PosNeg || !negative {
                return Some(op);
            }
        }
    }

    fn has_final_phase(&self) -> bool {
        true
    }

    /// One read per worker, flagged `:final? true`.
    fn final_op(&mut self, _worker: usize, done: usize) -> Option<Invocation> {
        (done == 0).then_some(Invocation {
            f: "read",
            value: Value::Null,
            final_read: true,
        })
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[ADD, READ]
    }

    fn invoke(&mut self, _client: ClientId, op: &Invocation) -> Step {
        Step::Send(request(op))
    }

    fn reply(&mut self, _client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(complete(op, reply))
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::Exceptions
    }

    fn client_reusable(&self) -> bool {
        false
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        check(history)
    }
}

/// The request body for an operation.
fn request(op: &Invocation) -> Map<String, Value> {
    let mut body = Map::new();
    if op.f == "add" {
        body.insert("delta".into(), op.value.clone());
    }
    body.insert("type".into(), Value::from(op.f));
    body
}

/// The completion for a non-error reply, checked against the closed reply schema. A
/// read value must be an integer that fits a long (Maelstrom coerces it to one).
fn complete(op: &Invocation, reply: &Map<String, Value>) -> Completion {
    if op.f == "add" {
        return ADD.acknowledged(op, reply);
    }
    match READ.validate(reply) {
        Ok(()) => match reply["value"].as_i64() {
            Some(value) => Completion::ok(Value::from(value)),
            None => malformed(
                op,
                reply,
                &format!("field \"value\" = {} does not fit a long", reply["value"]),
            ),
        },
        Err(reason) => malformed(op, reply, &reason),
    }
}

/// A set of integers kept as sorted, disjoint, non-adjacent closed intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSet(Vec<(i64, i64)>);

impl IntervalSet {
    /// The set holding only `value`.
    pub fn point(value: i64) -> IntervalSet {
        IntervalSet(vec![(value, value)])
    }

    /// The intervals, ascending.
    pub fn intervals(&self) -> &[(i64, i64)] {
        &self.0
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: i64) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < value);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= value)
    }

    /// Become S ∪ (S + `delta`): an add of `delta` that may or may not have happened.
    /// Bounds saturate at the ends of i64.
    pub fn union_shifted(&mut self, delta: i64) {
        if delta == 0 {
            return;
        }
        let shifted = self
            .0
            .iter()
            .map(|&(lo, hi)| (lo.saturating_add(delta), hi.saturating_add(delta)));
        let mut all: Vec<(i64, i64)> = self.0.iter().copied().chain(shifted).collect();
        all.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.0 = merged;
    }

    /// The intervals as JSON: `[[lo, hi], …]`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|&(lo, hi)| Value::from(vec![lo, hi]))
                .collect(),
        )
    }

    /// "range [1, 3]" or "ranges [1, 3], [5, 9]" (long lists elided).
    fn describe(&self) -> String {
        let shown: Vec<String> = self
            .0
            .iter()
            .take(MAX_SHOWN_INTERVALS)
            .map(|(lo, hi)| format!("[{lo}, {hi}]"))
            .collect();
        let more = if self.0.len() > MAX_SHOWN_INTERVALS {
            format!(", … ({} ranges in all)", self.0.len())
        } else {
            String::new()
        };
        let noun = if self.0.len() == 1 { "range" } else { "ranges" };
        format!("{noun} {}{more}", shown.join(", "))
    }
}

/// Maelstrom's counter checker: `definite` is the sum of ok adds; the acceptable set
/// starts as {definite} and every indeterminate add of d (in history order) unions in
/// the set shifted by d. Every ok op flagged `:final? true` must read a value in the
/// set. Non-final reads are not checked.
///
/// Add invocations that never completed count as indeterminate, like `info` adds.
/// Result fields: `final-reads` (values), `acceptable` (`[[lo, hi], …]`) and `errors`
/// (the bad final read ops, or null). Valid iff no final read is bad; a history without
/// final reads is valid.
pub fn check(history: &[Op]) -> CheckResult {
    let mut open: HashMap<Process, &Op> = HashMap::new();
    let mut definite: i64 = 0;
    let mut acknowledged = 0usize;
    let mut indeterminate: Vec<i64> = Vec::new();
    // Ok final reads, each with its invocation (for the node it went to).
    let mut final_reads: Vec<(&Op, Option<&Op>)> = Vec::new();
    for op in history.iter().filter(|op| op.is_client()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, op);
            continue;
        }
        let invocation = open.remove(&op.process);
        let delta = || {
            op.value
                .as_i64()
                .or_else(|| invocation.and_then(|inv| inv.value.as_i64()))
        };
        match (op.f.as_str(), op.kind) {
            ("add", OpType::Ok) => {
                if let Some(d) = delta() {
                    definite = definite.saturating_add(d);
                    acknowledged += 1;
                }
            }
            ("add", OpType::Info) => indeterminate.extend(delta()),
            (_, OpType::Ok) if op.final_read => final_reads.push((op, invocation)),
            _ => {}
        }
    }
    let mut unfinished: Vec<&Op> = open.into_values().filter(|op| op.f == "add").collect();
    unfinished.sort_unstable_by_key(|op| op.index);
    indeterminate.extend(unfinished.iter().filter_map(|op| op.value.as_i64()));

    let mut acceptable = IntervalSet::point(definite);
    for &d in &indeterminate {
        acceptable.union_shifted(d);
    }

    let bad: Vec<&(&Op, Option<&Op>)> = final_reads
        .iter()
        .filter(|(op, _)| !op.value.as_i64().is_some_and(|v| acceptable.contains(v)))
        .collect();
    let valid = Validity::from_bool(bad.is_empty());
    let origin = format!(
        "{definite} = sum of {acknowledged} acknowledged add{}; {} add{} indeterminate",
        plural(acknowledged),
        indeterminate.len(),
        plural(indeterminate.len())
    );
    let mut findings: Vec<String> = bad
        .iter()
        .take(MAX_FINDINGS)
        .map(|(op, invocation)| {
            format!(
                "final read {} returned {}, outside the acceptable {} ({origin})",
                describe_op(op, *invocation),
                op.value,
                acceptable.describe()
            )
        })
        .collect();
    if bad.len() > MAX_FINDINGS {
        findings.push(format!(
            "… and {} more bad final reads ({} of {} in all)",
            bad.len() - MAX_FINDINGS,
            bad.len(),
            final_reads.len()
        ));
    }

    let errors = if bad.is_empty() {
        Value::Null
    } else {
        Value::Array(
            bad.iter()
                .map(|(op, _)| serde_json::to_value(op).expect("ops serialise"))
                .collect(),
        )
    };
    let values: Vec<Value> = final_reads.iter().map(|(op, _)| op.value.clone()).collect();
    let mut result = CheckResult::new(valid)
        .with("errors", errors)
        .with("final-reads", Value::Array(values.clone()))
        .with("acceptable", acceptable.to_json());
    result.findings = findings;
    result.headline = headline(&values, &acceptable, bad.len());
    result
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "final reads 101, 101, 101 — acceptable [101, 101]", plus a line counting bad
/// final reads when there are any.
fn headline(values: &[Value], acceptable: &IntervalSet, bad: usize) -> Vec<String> {
    let shown: Vec<String> = values
        .iter()
        .take(MAX_HEADLINE_READS)
        .map(Value::to_string)
        .collect();
    let reads = if values.is_empty() {
        "no final reads".to_string()
    } else if values.len() > MAX_HEADLINE_READS {
        format!(
            "final reads {}, … ({} in all)",
            shown.join(", "),
            values.len()
        )
    } else {
        format!("final reads {}", shown.join(", "))
    };
    let ranges = acceptable.describe();
    let ranges = ranges.split_once(' ').map_or(ranges.as_str(), |(_, r)| r);
    let mut lines = vec![format!("{reads} — acceptable {ranges}")];
    if bad > 0 {
        lines.push(format!(
            "{bad} of {} final reads outside the acceptable values",
            values.len()
        ));
    }
    lines
}

/// "op 812 (process 3 → n0, at 30.104 s)": the completion's index, process and time,
/// and the node its invocation went to.
fn describe_op(op: &Op, invocation: Option<&Op>) -> String {
    let node = invocation
        .and_then(|inv| inv.node.as_deref())
        .map(|n| format!(" → {n}"))
        .unwrap_or_default();
    format!(
        "op {} (process {}{node}, at {:.3} s)",
        op.index,
        op.process,
        op.seconds()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A history builder: ops get dense indices and times of `index` milliseconds;
    /// invocations go to node `n<process>`.
    struct H(Vec<Op>);

    impl H {
        fn new() -> H {
            H(Vec::new())
        }

        fn push(&mut self, kind: OpType, p: u64, f: &str, value: Value, fin: bool) -> &mut H {
            let index = self.0.len() as u64;
            self.0.push(Op {
                index,
                time: index * 1_000_000,
                kind,
                process: Process::Client(p),
                f: f.into(),
                value,
                error: None,
                exception: None,
                final_read: fin,
                node: (kind == OpType::Invoke).then(|| format!("n{p}")),
            });
            self
        }

        fn add(&mut self, p: u64, d: i64, kind: OpType) -> &mut H {
            self.push(OpType::Invoke, p, "add", json!(d), false).push(
                kind,
                p,
                "add",
                json!(d),
                false,
            )
        }

        fn read(&mut self, p: u64, v: i64, fin: bool) -> &mut H {
            self.push(OpType::Invoke, p, "read", Value::Null, fin).push(
                OpType::Ok,
                p,
                "read",
                json!(v),
                fin,
            )
        }
    }

    fn ranges(set: &IntervalSet) -> Vec<(i64, i64)> {
        set.intervals().to_vec()
    }

    #[test]
    fn generators_are_seeded_and_in_range() {
        let draw = |kind: Kind, seed: u64| -> Vec<Invocation> {
            let mut w = Counter::new(kind);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..3000).map(|_| w.next_op(&mut rng).unwrap()).collect()
        };
        for kind in [Kind::Grow, Kind::PosNeg] {
            assert_eq!(draw(kind, 7), draw(kind, 7));
            assert_ne!(draw(kind, 7), draw(kind, 8));
        }
        let deltas = |ops: &[Invocation]| -> Vec<i64> {
            ops.iter()
                .filter(|op| op.f == "add")
                .map(|op| op.value.as_i64().unwrap())
                .collect()
        };
        let pn = draw(Kind::PosNeg, 1);
        let d = deltas(&pn);
        assert!(d.len() > 1350 && d.len() < 1650, "{} adds", d.len());
        assert!(d.iter().all(|d| (-5..=4).contains(d)));
        for v in -5..=4 {
            assert!(d.contains(&v), "pn-counter never drew {v}");
        }
        let g = draw(Kind::Grow, 1);
        let d = deltas(&g);
        assert!(d.len() > 850 && d.len() < 1150, "{} adds", d.len());
        assert!(d.iter().all(|d| (0..=4).contains(d)));
        for v in 0..=4 {
            assert!(d.contains(&v), "g-counter never drew {v}");
        }
        assert!(g
            .iter()
            .chain(&pn)
            .all(|op| !op.final_read && (op.f == "add" || op.value.is_null())));
    }

    #[test]
    fn requests_replies_and_final_phase() {
        let mut w = Counter::new(Kind::Grow);
        assert_eq!(w.name(), "g-counter");
        assert_eq!(Counter::new(Kind::PosNeg).name(), "pn-counter");
        assert!(w.has_final_phase());
        let last = w.final_op(3, 0).unwrap();
        assert_eq!((last.f, last.final_read), ("read", true));
        assert!(w.final_op(3, 1).is_none());
        assert_eq!(w.error_style(), ErrorStyle::Exceptions);
        assert!(!w.client_reusable());
        assert!(build_g(&WorkloadOptions::default()).is_ok());
        assert!(build_pn(&WorkloadOptions::default()).is_ok());

        let add = Invocation::new("add", json!(-3));
        let read = Invocation::new("read", Value::Null);
        assert_eq!(
            w.invoke(0, &add),
            Step::Send(body(json!({"type":"add","delta":-3})))
        );
        assert_eq!(w.invoke(0, &read), Step::Send(body(json!({"type":"read"}))));
        assert_eq!(
            w.reply(0, &add, &body(json!({"type":"add_ok","in_reply_to":1}))),
            Step::Done(Completion::ok(json!(-3)))
        );
        assert_eq!(
            w.reply(
                0,
                &read,
                &body(json!({"type":"read_ok","value":12,"in_reply_to":2}))
            ),
            Step::Done(Completion::ok(json!(12)))
        );
        let bad_replies = [
            json!({"type":"add_ok","value":1,"in_reply_to":1}),
            json!({"type":"read_ok","value":1.0,"in_reply_to":1}),
            json!({"type":"read_ok","value":"3","in_reply_to":1}),
            json!({"type":"read_ok","in_reply_to":1}),
            json!({"type":"read_ok","value":u64::MAX,"in_reply_to":1}),
        ];
        for (i, reply) in bad_replies.into_iter().enumerate() {
            let op = if i == 0 { &add } else { &read };
            let c = complete(op, &body(reply));
            assert_eq!(c.kind, OpType::Info);
            assert_eq!(c.exception.as_deref(), Some("malformed-rpc-response"));
        }
        let timeout = w.error_style().on_timeout(&add);
        assert_eq!(timeout.kind, OpType::Info);
        assert_eq!(timeout.value, json!(-3));
    }

    #[test]
    fn interval_set_algebra() {
        let mut s = IntervalSet::point(10);
        s.union_shifted(0);
        assert_eq!(ranges(&s), [(10, 10)]);
        s.union_shifted(3);
        assert_eq!(ranges(&s), [(10, 10), (13, 13)]);
        s.union_shifted(-5);
        assert_eq!(ranges(&s), [(5, 5), (8, 8), (10, 10), (13, 13)]);
        // Adjacent intervals merge: {5, 8, 10, 13} ∪ {6, 9, 11, 14}.
        s.union_shifted(1);
        assert_eq!(ranges(&s), [(5, 6), (8, 11), (13, 14)]);
        s.union_shifted(2);
        assert_eq!(ranges(&s), [(5, 16)]);
        assert!(s.contains(5) && s.contains(16) && !s.contains(4) && !s.contains(17));
        assert_eq!(s.to_json(), json!([[5, 16]]));
        let mut gaps = IntervalSet::point(0);
        gaps.union_shifted(4);
        gaps.union_shifted(10);
        assert_eq!(ranges(&gaps), [(0, 0), (4, 4), (10, 10), (14, 14)]);
        assert!(gaps.contains(4) && !gaps.contains(5) && !gaps.contains(13));
        let mut edge = IntervalSet::point(i64::MAX - 1);
        edge.union_shifted(5);
        assert_eq!(ranges(&edge), [(i64::MAX - 1, i64::MAX)]);
    }

    #[test]
    fn definite_adds_only() {
        let mut h = H::new();
        h.add(0, 3, OpType::Ok)
            .add(1, 4, OpType::Ok)
            .read(2, 5, false)
            .read(0, 7, true)
            .read(1, 7, true);
        let r = check(&h.0);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["final-reads"], json!([7, 7]));
        assert_eq!(r.fields["acceptable"], json!([[7, 7]]));
        assert_eq!(r.fields["errors"], Value::Null);
        assert!(r.findings.is_empty());
        assert_eq!(r.headline, ["final reads 7, 7 — acceptable [7, 7]"]);
    }

    #[test]
    fn indeterminate_adds_widen_the_acceptable_set() {
        // pn-counter: definite 2 + 3 − 4 = 1; info adds −5, 4, 0 and a never-completed
        // add of 2: {1} → {−4, 1} → {−4, 0, 1, 5} → unchanged → {−4, −2, 0..=3, 5, 7}.
        let mut h = H::new();
        h.add(0, 2, OpType::Ok)
            .add(1, 3, OpType::Ok)
            .add(2, -4, OpType::Ok)
            .add(0, -5, OpType::Info)
            .add(1, 4, OpType::Info)
            .add(2, 0, OpType::Info)
            .add(0, 2, OpType::Fail)
            .push(OpType::Invoke, 5, "add", json!(2), false);
        for v in [-4, -2, 0, 3, 5, 7] {
            let mut h = H(h.0.clone());
            h.read(3, v, true);
            let r = check(&h.0);
            assert_eq!(r.valid, Validity::Valid, "{v}: {:?}", r.fields);
            assert_eq!(
                r.fields["acceptable"],
                json!([[-4, -4], [-2, -2], [0, 3], [5, 5], [7, 7]])
            );
        }
        for v in [-5, -3, -1, 4, 6, 8] {
            let mut h = H(h.0.clone());
            h.read(3, v, true);
            assert_eq!(check(&h.0).valid, Validity::Invalid, "{v}");
        }
    }

    #[test]
    fn bad_final_read_is_named() {
        let mut h = H::new();
        for _ in 0..40 {
            h.add(0, 2, OpType::Ok);
        }
        h.read(1, 95, true).read(2, 80, true).read(0, 80, false);
        let r = check(&h.0);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["final-reads"], json!([95, 80]));
        let errors = r.fields["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0]["index"], json!(81));
        assert_eq!(errors[0]["value"], json!(95));
        assert_eq!(errors[0]["final?"], json!(true));
        assert_eq!(
            r.findings,
            [
                "final read op 81 (process 1 → n1, at 0.081 s) returned 95, outside the \
              acceptable range [80, 80] (80 = sum of 40 acknowledged adds; 0 adds \
              indeterminate)"
            ]
        );
        assert_eq!(
            r.headline,
            [
                "final reads 95, 80 — acceptable [80, 80]",
                "1 of 2 final reads outside the acceptable values"
            ]
        );
    }

    #[test]
    fn non_final_reads_are_ignored_and_no_final_reads_is_valid() {
        let mut h = H::new();
        h.add(0, 1, OpType::Ok)
            .read(1, 1000, false)
            .read(2, -3, false);
        let r = check(&h.0);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["final-reads"], json!([]));
        assert_eq!(r.headline, ["no final reads — acceptable [1, 1]"]);
        let r = check(&[]);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["acceptable"], json!([[0, 0]]));
    }
}

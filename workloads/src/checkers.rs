//! Checkers every run has, whatever the workload: `stats`, `availability` and
//! `exceptions` (Maelstrom's §9).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::history::{Op, OpType};
use crate::{CheckResult, Validity};

/// Functions the stats checker does not require an `ok` for.
const STATS_EXEMPT: &[&str] = &["crash", "debug-topic-partitions"];

#[derive(Default)]
struct Counts {
    count: u64,
    ok: u64,
    fail: u64,
    info: u64,
}

impl Counts {
    fn add(&mut self, kind: OpType) {
        self.count += 1;
        match kind {
            OpType::Ok => self.ok += 1,
            OpType::Fail => self.fail += 1,
            OpType::Info => self.info += 1,
            OpType::Invoke => {}
        }
    }

    fn to_json(&self, valid: bool) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("valid?".into(), Value::Bool(valid));
        map.insert("count".into(), json!(self.count));
        map.insert("ok-count".into(), json!(self.ok));
        map.insert("fail-count".into(), json!(self.fail));
        map.insert("info-count".into(), json!(self.info));
        map
    }
}

/// Counts of client completions overall and per function; invalid when some function
/// (other than `crash`) never once succeeded.
pub fn stats(history: &[Op]) -> CheckResult {
    let mut total = Counts::default();
    let mut by_f: BTreeMap<&str, Counts> = BTreeMap::new();
    for op in history
        .iter()
        .filter(|op| op.is_client() && op.kind != OpType::Invoke)
    {
        total.add(op.kind);
        by_f.entry(op.f.as_str()).or_default().add(op.kind);
    }
    let mut findings = Vec::new();
    let mut by_f_json = Map::new();
    for (f, counts) in &by_f {
        let valid = counts.ok > 0;
        if !valid && !STATS_EXEMPT.contains(f) {
            findings.push(format!(
                "no {f} operation succeeded ({} failed, {} indeterminate)",
                counts.fail, counts.info
            ));
        }
        by_f_json.insert(f.to_string(), Value::Object(counts.to_json(valid)));
    }
    let valid = findings.is_empty();
    let mut fields = total.to_json(valid);
    fields.remove("valid?");
    fields.insert("by-f".into(), Value::Object(by_f_json));
    CheckResult {
        valid: Validity::from_bool(valid),
        fields,
        findings,
        headline: Vec::new(),
        pages: Vec::new(),
    }
}

/// The availability requirement of `--availability`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Availability {
    /// No requirement (the default).
    Any,
    /// Every invocation must complete ok.
    Total,
    /// At least this fraction of invocations must complete ok.
    AtLeast(f64),
}

impl Availability {
    /// Parse `total` or a number in [0, 1].
    pub fn parse(text: &str) -> Result<Availability, String> {
        if text == "total" {
            return Ok(Availability::Total);
        }
        match text.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Ok(Availability::AtLeast(f)),
            _ => Err(format!(
                "--availability expects `total` or a number between 0 and 1, got {text:?}"
            )),
        }
    }
}

/// The fraction of client invocations that completed ok, judged against `required`.
pub fn availability(history: &[Op], required: Availability) -> CheckResult {
    let client = history.iter().filter(|op| op.is_client());
    let (mut invoked, mut ok) = (0u64, 0u64);
    for op in client {
        match op.kind {
            OpType::Invoke => invoked += 1,
            OpType::Ok => ok += 1,
            _ => {}
        }
    }
    let fraction = if invoked == 0 {
        1.0
    } else {
        ok as f64 / invoked as f64
    };
    let valid = match required {
        Availability::Any => true,
        Availability::Total => ok == invoked,
        Availability::AtLeast(min) => fraction >= min,
    };
    let mut result = CheckResult::new(Validity::from_bool(valid)).with("ok-fraction", fraction);
    if !valid {
        result.findings.push(format!(
            "only {ok} of {invoked} operations completed ok ({:.4}), below the required {}",
            fraction,
            match required {
                Availability::AtLeast(min) => min.to_string(),
                _ => "1 (total)".into(),
            }
        ));
    }
    result
}

/// Indeterminate operations caused by client-side exceptions (malformed replies,
/// timeouts in exception-style workloads), grouped by class, most frequent first.
/// Always valid: it is there to be read.
pub fn exceptions(history: &[Op]) -> CheckResult {
    let mut groups: BTreeMap<&str, (u64, &Op)> = BTreeMap::new();
    for op in history.iter().filter(|op| op.kind == OpType::Info) {
        if let Some(class) = &op.exception {
            groups.entry(class.as_str()).or_insert((0, op)).0 += 1;
        }
    }
    let mut result = CheckResult::new(Validity::Valid);
    if groups.is_empty() {
        return result;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let list: Vec<Value> = groups
        .iter()
        .map(|(class, (count, example))| {
            json!({"class": class, "count": count, "example": serde_json::to_value(example).unwrap()})
        })
        .collect();
    result
        .fields
        .insert("exceptions".into(), Value::Array(list));
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::Process;

    /// A history op for tests.
    pub(crate) fn op(index: u64, kind: OpType, process: u64, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index * 1_000_000,
            kind,
            process: Process::Client(process),
            f: f.into(),
            value,
            error: None,
            exception: None,
            final_read: false,
            node: None,
        }
    }

    #[test]
    fn stats_require_an_ok_per_function_except_crash() {
        let h = vec![
            op(0, OpType::Invoke, 0, "read", Value::Null),
            op(1, OpType::Ok, 0, "read", json!(1)),
            op(2, OpType::Invoke, 0, "write", json!(1)),
            op(3, OpType::Fail, 0, "write", json!(1)),
            op(4, OpType::Invoke, 0, "crash", Value::Null),
            op(5, OpType::Info, 0, "crash", Value::Null),
        ];
        let r = stats(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["count"], json!(3));
        assert_eq!(r.fields["by-f"]["write"]["fail-count"], json!(1));
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].contains("no write operation succeeded"));
        assert_eq!(stats(&h[..2]).valid, Validity::Valid);
        assert_eq!(stats(&[]).valid, Validity::Valid);
    }

    #[test]
    fn availability_total_and_fraction() {
        let h = vec![
            op(0, OpType::Invoke, 0, "echo", Value::Null),
            op(1, OpType::Ok, 0, "echo", Value::Null),
            op(2, OpType::Invoke, 1, "echo", Value::Null),
            op(3, OpType::Info, 1, "echo", Value::Null),
        ];
        assert_eq!(
            availability(&h, Availability::Total).valid,
            Validity::Invalid
        );
        assert_eq!(
            availability(&h, Availability::AtLeast(0.5)).valid,
            Validity::Valid
        );
        assert_eq!(
            availability(&h, Availability::AtLeast(0.51)).valid,
            Validity::Invalid
        );
        assert_eq!(
            availability(&h, Availability::Any).fields["ok-fraction"],
            json!(0.5)
        );
        assert_eq!(
            availability(&[], Availability::Total).valid,
            Validity::Valid
        );
        assert!(Availability::parse("1.5").is_err());
        assert_eq!(Availability::parse("total"), Ok(Availability::Total));
    }

    #[test]
    fn exceptions_are_grouped_by_class() {
        let mut a = op(1, OpType::Info, 0, "echo", Value::Null);
        a.exception = Some("malformed-rpc-response".into());
        let mut b = a.clone();
        b.index = 3;
        let r = exceptions(&[a, b]);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["exceptions"][0]["count"], json!(2));
        assert!(exceptions(&[]).fields.is_empty());
    }
}

//! Turning what the passes found into the result: verdict, fields, findings and
//! headline, and the shared ways of naming keys and ops.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::analysis::{Analysis, At, KeyId};
use super::budget::{Budget, COLLECTING};
use super::msg::Msg;
use super::{ALLOWED, MAX_SENTENCES_PER_TYPE, TYPES};
use crate::kafka::key_order;
use crate::{CheckResult, Validity};

/// Per error type found: its count, its result field and its sentences.
pub(super) type Found = BTreeMap<&'static str, (usize, Value, Vec<String>)>;

impl<'a> Analysis<'a> {
    /// A key's text.
    pub(super) fn key_name(&self, key: KeyId) -> &str {
        &self.key_names[key as usize]
    }

    /// Keys in the workload's order (numbers by value).
    pub(super) fn cmp_keys(&self, a: KeyId, b: KeyId) -> Ordering {
        key_order(self.key_name(a), self.key_name(b))
    }

    /// An op as JSON: index, time, type, process, f and node.
    pub(super) fn op_json(&self, at: At) -> Value {
        let done = &self.history[at.done as usize];
        let mut map = Map::new();
        map.insert("index".into(), json!(done.index));
        map.insert("time".into(), json!(done.time));
        map.insert("type".into(), json!(done.kind));
        map.insert("process".into(), json!(done.process));
        map.insert("f".into(), json!(done.f));
        if let Some(node) = at.inv.and_then(|i| self.history[i as usize].node.as_ref()) {
            map.insert("node".into(), json!(node));
        }
        Value::Object(map)
    }

    /// "send op 41 (process 1 → n0, at 1.204 s)".
    pub(super) fn describe(&self, at: At) -> String {
        let done = &self.history[at.done as usize];
        let node = at
            .inv
            .and_then(|i| self.history[i as usize].node.as_deref())
            .map(|n| format!(" → {n}"))
            .unwrap_or_default();
        let final_tag = if done.final_read { "final " } else { "" };
        format!(
            "{final_tag}{} op {} (process {}{node}, at {:.3} s)",
            done.f,
            done.index,
            done.process,
            done.seconds()
        )
    }

    /// The message first seen at (key, offset).
    pub(super) fn value_at(&self, key: KeyId, offset: i64) -> Option<&Msg> {
        self.offsets.get(&(key, offset)).map(|o| &o.msg)
    }

    /// The result: verdict, Maelstrom's fields, findings (the first example of each
    /// type in [`TYPES`] order, then the second of each, …) and headline.
    pub(super) fn report(&mut self, budget: &Budget) -> CheckResult {
        let mut found = Found::new();
        self.report_offsets(&mut found);
        if budget.collected_all() {
            self.report_lost(&mut found);
        }
        self.report_unwritten_reads(&mut found, budget.collected_all());
        self.report_order(&mut found);

        let error_types: Vec<&str> = found.keys().copied().collect();
        let bad: Vec<&str> = error_types
            .iter()
            .copied()
            .filter(|t| !ALLOWED.contains(t))
            .collect();
        let valid = if budget.cut {
            Validity::Unknown
        } else {
            Validity::from_bool(bad.is_empty())
        };

        let mut findings = Vec::new();
        if budget.cut {
            let (pass, done) = budget.stopped_at.unwrap_or(("analysing", 0));
            findings.push(format!(
                "the analysis was cut short after {:.1} s while {pass} (op {done} of {}), so \
                 the anomalies below are only those found so far{}",
                budget.limit.as_secs_f64(),
                self.history.len(),
                match (pass == COLLECTING, found.contains_key("phantom")) {
                    (true, false) => " and lost or unseen messages were not looked for",
                    (true, true) => {
                        " and lost or unseen messages were not looked for; phantoms are \
                         judged only against the sends seen so far"
                    }
                    (false, _) => "",
                }
            ));
        }
        for round in 0..MAX_SENTENCES_PER_TYPE {
            for kind in TYPES {
                if let Some(sentence) = found.get(kind).and_then(|(_, _, s)| s.get(round)) {
                    findings.push(sentence.clone());
                }
            }
        }

        let mut result = CheckResult::new(valid)
            .with("bad-error-types", json!(bad))
            .with("error-types", json!(error_types))
            .with(
                "info-txn-causes",
                Value::Array(self.info_causes.values().cloned().collect()),
            )
            .with("worst-realtime-lag", self.lag_json());
        for (kind, (_, value, _)) in &found {
            result = result.with(kind, value.clone());
        }
        result.findings = findings;
        result.headline = self.headline(&found, budget);
        result
    }
    /// Counts, the worst lag, the anomalies found, and whether the analysis was cut.
    fn headline(&self, found: &Found, budget: &Budget) -> Vec<String> {
        let lag = match self.worst_lag {
            Some((lag, _, process, key)) => format!(
                "worst realtime lag {:.3} s (process {process}, key {:?})",
                lag as f64 / 1e9,
                self.key_name(key)
            ),
            None => "worst realtime lag 0 s".to_string(),
        };
        let mut lines = vec![format!(
            "{} ({} ok) over {}, {} returned {}; {lag}",
            plural(self.sends, "send"),
            self.sends_ok,
            plural(self.key_names.len(), "key"),
            plural(self.polls_ok, "ok poll"),
            plural(self.polled_msgs, "message"),
        )];
        if found.is_empty() {
            lines.push("no anomalies".to_string());
        } else {
            let counts: Vec<String> = TYPES
                .iter()
                .filter_map(|t| found.get(t).map(|(n, _, _)| format!("{t} {n}")))
                .collect();
            lines.push(format!("ANOMALIES: {}", counts.join(", ")));
        }
        if budget.cut {
            lines.push(format!(
                "analysis cut short after {:.1} s: results are partial",
                budget.limit.as_secs_f64()
            ));
        }
        lines
    }
}

/// "1 key", "2 keys".
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// "a", "a and b", "a, b and c".
pub(super) fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

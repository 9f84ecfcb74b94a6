//! Analysis: every checker over a history, combined into Maelstrom's result map.

use serde_json::{Map, Value};
use straum_workloads::checkers::{self, Availability};
use straum_workloads::{CheckResult, Op, OpType, Validity, Workload};

use crate::net::NetStats;

/// The checkers' results and the combined verdict.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// (checker name, result), in report order.
    pub checkers: Vec<(&'static str, CheckResult)>,
    /// The combined verdict.
    pub valid: Validity,
}

impl Analysis {
    /// Maelstrom's results map: one entry per checker plus `valid?`.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, result) in &self.checkers {
            map.insert(name.to_string(), result.to_json());
        }
        map.insert("valid?".into(), serde_json::to_value(self.valid).unwrap());
        map
    }

    /// One checker's result.
    pub fn checker(&self, name: &str) -> Option<&CheckResult> {
        self.checkers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r)
    }
}

/// Run the workload's checker and the common ones.
pub fn analyze(
    workload: &dyn Workload,
    history: &[Op],
    net: &NetStats,
    availability: Availability,
) -> Analysis {
    let op_count = history
        .iter()
        .filter(|op| op.is_client() && op.kind == OpType::Invoke)
        .count() as u64;
    let net_json = net.to_json(op_count);
    let net_result = CheckResult {
        valid: Validity::Valid,
        fields: net_json
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.remove("valid?");
                m
            })
            .unwrap_or_default(),
        findings: Vec::new(),
        headline: Vec::new(),
        pages: Vec::new(),
    };
    let checkers = vec![
        ("workload", workload.check(history)),
        ("stats", checkers::stats(history)),
        (
            "availability",
            checkers::availability(history, availability),
        ),
        ("exceptions", checkers::exceptions(history)),
        ("net", net_result),
    ];
    let valid = Validity::combine(checkers.iter().map(|(_, r)| r.valid));
    Analysis { checkers, valid }
}

//! What the terminal shows at the end of a run: a short summary, every checker's
//! verdict, what went wrong in plain words, and Maelstrom's verdict line.

use std::fmt::Write as _;

use serde_json::Value;
use straum_workloads::{Op, OpType, Validity};

use crate::analysis::Analysis;

/// How many findings the summary lists before pointing at results.json.
const MAX_FINDINGS_SHOWN: usize = 8;

/// Maelstrom's final line for a verdict.
pub fn verdict_line(valid: Validity) -> &'static str {
    match valid {
        Validity::Valid => "Everything looks good! ヽ(‘ー`)ノ",
        Validity::Invalid => "Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻",
        Validity::Unknown => "Errors occurred during analysis, but no anomalies found. ಠ~ಠ",
    }
}

/// Facts about the run shown in the summary.
pub struct RunFacts<'a> {
    /// Workload name.
    pub workload: &'a str,
    /// Node count.
    pub nodes: usize,
    /// Seconds the run took, init to teardown.
    pub seconds: f64,
    /// The seed.
    pub seed: u64,
    /// Where results.json is.
    pub results_path: String,
    /// Where index.html (the report with plots and diagrams) is.
    pub report_path: String,
    /// The command reproducing this run.
    pub reproduce: String,
}

/// The end-of-run summary.
pub fn summary(facts: &RunFacts, history: &[Op], analysis: &Analysis) -> String {
    let mut out = String::new();
    let count = |kind: OpType| {
        history
            .iter()
            .filter(|op| op.is_client() && op.kind == kind)
            .count()
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} on {} node{}, {:.1} s, seed {}",
        facts.workload,
        facts.nodes,
        if facts.nodes == 1 { "" } else { "s" },
        facts.seconds,
        facts.seed
    );
    let _ = writeln!(
        out,
        "operations   {} invoked: {} ok, {} fail, {} info",
        count(OpType::Invoke),
        count(OpType::Ok),
        count(OpType::Fail),
        count(OpType::Info)
    );
    if let Some(net) = analysis.checker("net") {
        let per_op = |class: &str| {
            net.fields[class]
                .get("msgs-per-op")
                .and_then(Value::as_f64)
                .map_or("-".to_string(), |v| format!("{v:.2}"))
        };
        let _ = writeln!(
            out,
            "network      {} messages; msgs-per-op all {}, servers {}",
            net.fields["all"]["msg-count"],
            per_op("all"),
            per_op("servers")
        );
    }
    for (name, result) in &analysis.checkers {
        let lines = if result.headline.is_empty() && *name == "workload" {
            let figures: Vec<String> = result
                .fields
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            vec![figures.join(", ")]
        } else {
            result.headline.clone()
        };
        for line in lines.iter().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "{name:<13}{line}");
        }
    }
    let nemesis: Vec<&str> = history
        .iter()
        .filter(|op| !op.is_client() && op.f.starts_with("start-"))
        .map(|op| op.f.trim_start_matches("start-"))
        .collect();
    if !nemesis.is_empty() {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for kind in nemesis {
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        let text: Vec<String> = kinds
            .iter()
            // Each start is recorded twice: invocation and completion.
            .map(|(k, n)| format!("{k} ×{}", n / 2))
            .collect();
        let _ = writeln!(out, "nemesis      {}", text.join(", "));
    }
    let _ = writeln!(out, "checkers");
    for (name, result) in &analysis.checkers {
        let detail = match *name {
            "availability" => result
                .fields
                .get("ok-fraction")
                .and_then(Value::as_f64)
                .map(|f| format!("ok-fraction {f:.4}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let line = format!("  {name:<13}{:<9}{detail}", result.valid.word());
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let problems: Vec<(&str, &String)> = analysis
        .checkers
        .iter()
        .filter(|(_, r)| r.valid != Validity::Valid)
        .flat_map(|(name, r)| r.findings.iter().map(move |f| (*name, f)))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "what went wrong");
        for (name, finding) in problems.iter().take(MAX_FINDINGS_SHOWN) {
            let _ = writeln!(out, "  [{name}] {finding}");
        }
        if problems.len() > MAX_FINDINGS_SHOWN {
            let _ = writeln!(
                out,
                "  … {} more in results.json",
                problems.len() - MAX_FINDINGS_SHOWN
            );
        }
    }
    let _ = writeln!(out, "results      {}", facts.results_path);
    let _ = writeln!(out, "report       {}", facts.report_path);
    if analysis.valid != Validity::Valid {
        let _ = writeln!(out, "reproduce    {}", facts.reproduce);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", verdict_line(analysis.valid));
    out
}

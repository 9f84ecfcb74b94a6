//! What the terminal shows at the end of a run: a short summary, every checker's
//! verdict, what went wrong in plain words, and Maelstrom's verdict line.

use std::fmt::Write as _;

use serde_json::Value;
use straum_workloads::quote::abridge_to;
use straum_workloads::{Op, OpType, Process, Validity};

use crate::analysis::Analysis;

/// How many operations cited by findings the timeline shows.
const MAX_TIMELINE_OPS: usize = 6;
/// How far around the cited operations fault events are shown, in nanoseconds.
const FAULT_WINDOW: u64 = 2_000_000_000;
/// Characters of an op's value shown in the timeline.
const TIMELINE_VALUE_CHARS: usize = 80;

/// Op indices cited by findings ("op 36", "op 37: …"), in order of first mention.
/// Checkers name the operations they blame that way.
pub fn cited_ops(findings: &[&str]) -> Vec<u64> {
    let mut cited = Vec::new();
    for finding in findings {
        let mut rest = *finding;
        while let Some(at) = rest.find("op ") {
            let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
            rest = &rest[at + 3..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if before_ok && !digits.is_empty() {
                if let Ok(index) = digits.parse::<u64>() {
                    if !cited.contains(&index) {
                        cited.push(index);
                    }
                }
            }
        }
    }
    cited
}

/// The cited operations (with their invocations or completions) and the fault events
/// within 2 s of them, in time order, one line each.
pub fn timeline(history: &[Op], cited: &[u64]) -> Vec<String> {
    let pairs = straum_workloads::history::pair_index(history);
    let mut chosen: Vec<u64> = Vec::new();
    for &index in cited.iter().take(MAX_TIMELINE_OPS) {
        if (index as usize) < history.len() {
            chosen.push(index);
            chosen.extend(pairs.get(&index));
        }
    }
    if chosen.is_empty() {
        return Vec::new();
    }
    let times: Vec<u64> = chosen.iter().map(|&i| history[i as usize].time).collect();
    let (lo, hi) = (
        times.iter().min().unwrap().saturating_sub(FAULT_WINDOW),
        times.iter().max().unwrap() + FAULT_WINDOW,
    );
    chosen.extend(
        history
            .iter()
            .filter(|op| !op.is_client() && op.time >= lo && op.time <= hi)
            // Nemesis ops come in invocation/completion pairs; the completion has the shape.
            .filter(|op| op.value.is_object() || op.value.is_string() && op.f.starts_with("stop"))
            .map(|op| op.index),
    );
    chosen.sort_unstable();
    chosen.dedup();
    chosen
        .iter()
        .map(|&i| {
            let op = &history[i as usize];
            let who = match (&op.process, &op.node) {
                (Process::Nemesis, _) => "nemesis".to_string(),
                (p, Some(node)) => format!("process {p} → {node}"),
                (p, None) => format!("process {p}"),
            };
            let mut value = op.value.to_string();
            if value.chars().count() > TIMELINE_VALUE_CHARS {
                value = value.chars().take(TIMELINE_VALUE_CHARS).collect::<String>() + "…";
            }
            let error = op
                .error
                .as_ref()
                .map(|e| format!("  error {e}"))
                .unwrap_or_default();
            let mark = if cited.contains(&i) { "▶" } else { " " };
            format!(
                "{mark} {:>9.3} s  op {:<6} {who:<18} {:<6} {} {value}{error}",
                op.seconds(),
                op.index,
                op.kind.name(),
                op.f
            )
        })
        .collect()
}

/// Longest finding the summary prints whole (findings quote node output).
const MAX_FINDING_CHARS: usize = 1000;

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
    /// Mode B: the network was real, so straum has no message counts to show.
    pub real_net: bool,
}

/// The invariant table of checkers that report one (`invariants` rows of invariant,
/// status, checks and violations): "lease exclusivity PASS 1,234", "stale actions
/// FAIL 2 of 567".
fn invariant_rows(analysis: &Analysis) -> Vec<String> {
    let rows = analysis
        .checkers
        .iter()
        .filter_map(|(_, r)| r.fields.get("invariants")?.as_array())
        .flatten();
    rows.filter_map(|row| {
        let name = row.get("invariant")?.as_str()?;
        let status = row.get("status")?.as_str()?;
        let checks = row.get("checks")?.as_u64()?;
        let violations = row.get("violations")?.as_u64()?;
        Some(if violations == 0 {
            format!("{name} {status} {}", thousands(checks))
        } else {
            format!(
                "{name} {status} {} of {}",
                thousands(violations),
                thousands(checks)
            )
        })
    })
    .collect()
}

/// 1234567 as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    if facts.real_net {
        let _ = writeln!(
            out,
            "network      real links (--net real): node traffic is not seen by straum"
        );
    } else if let Some(net) = analysis.checker("net") {
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
    let rows = invariant_rows(analysis);
    if !rows.is_empty() {
        let _ = writeln!(out, "invariants   {}", rows.join(" · "));
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
            let _ = writeln!(out, "  [{name}] {}", abridge_to(finding, MAX_FINDING_CHARS));
        }
        if problems.len() > MAX_FINDINGS_SHOWN {
            let _ = writeln!(
                out,
                "  … {} more in results.json",
                problems.len() - MAX_FINDINGS_SHOWN
            );
        }
        let shown: Vec<&str> = problems
            .iter()
            .take(MAX_FINDINGS_SHOWN)
            .map(|(_, f)| f.as_str())
            .collect();
        let lines = timeline(history, &cited_ops(&shown));
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "timeline of the first problems, with faults around them"
            );
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze;
    use crate::net::{Counts, NetStats};
    use serde_json::json;
    use straum_workloads::checkers::Availability;

    fn op(
        index: u64,
        ms: u64,
        kind: OpType,
        process: Process,
        f: &str,
        value: serde_json::Value,
    ) -> Op {
        Op {
            index,
            time: ms * 1_000_000,
            kind,
            process,
            f: f.into(),
            value,
            error: None,
            exception: None,
            final_read: false,
            node: (kind == OpType::Invoke).then(|| "n1".to_string()),
        }
    }

    /// A fixed echo history: one good op, one altered reply inside a partition, one
    /// timeout.
    fn history() -> Vec<Op> {
        let c = Process::Client;
        let mut timeout = op(7, 5_400, OpType::Info, c(2), "echo", json!("Please echo 9"));
        timeout.error = Some(json!("net-timeout"));
        vec![
            op(0, 0, OpType::Invoke, c(0), "echo", json!("Please echo 1")),
            op(
                1,
                1,
                OpType::Ok,
                c(0),
                "echo",
                json!({"type":"echo_ok","echo":"Please echo 1","in_reply_to":1}),
            ),
            op(
                2,
                300,
                OpType::Info,
                Process::Nemesis,
                "start-partition",
                json!("one"),
            ),
            op(
                3,
                300,
                OpType::Info,
                Process::Nemesis,
                "start-partition",
                json!({"shape":"one","grudge":{"n0":["n1"],"n1":["n0"]}}),
            ),
            op(4, 400, OpType::Invoke, c(1), "echo", json!("Please echo 2")),
            op(
                5,
                401,
                OpType::Ok,
                c(1),
                "echo",
                json!({"type":"echo_ok","echo":"Please echo 20","in_reply_to":1}),
            ),
            op(6, 400, OpType::Invoke, c(2), "echo", json!("Please echo 9")),
            timeout,
        ]
    }

    #[test]
    fn the_summary_of_a_fixed_history_matches_the_golden_text() {
        let history = history();
        let net = NetStats {
            clients: Counts { send: 8, recv: 7 },
            ..NetStats::default()
        };
        let workload = straum_workloads::build("echo", &Default::default()).unwrap();
        let analysis = analyze(workload.as_ref(), &history, &net, Availability::Total);
        let facts = RunFacts {
            workload: "echo",
            nodes: 2,
            seconds: 6.5,
            seed: 42,
            results_path: "store/echo/T/results.json".into(),
            report_path: "store/echo/T/index.html".into(),
            reproduce: "straum test -w echo --bin ./echo --seed 42".into(),
            real_net: false,
        };
        let text = summary(&facts, &history, &analysis);
        let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/golden/echo_summary.txt");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(golden_path, &text).unwrap();
        }
        let golden =
            std::fs::read_to_string(golden_path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
        assert_eq!(text, golden);
    }

    #[test]
    fn invariant_rows_read_as_a_table_with_thousands_separated() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        let mut result = straum_workloads::CheckResult::new(Validity::Invalid);
        result.fields.insert(
            "invariants".into(),
            json!([
                {"invariant":"lease exclusivity","status":"PASS","checks":1234,"violations":0},
                {"invariant":"stale actions","status":"FAIL","checks":567,"violations":2}
            ]),
        );
        let analysis = Analysis {
            checkers: vec![("workload", result)],
            valid: Validity::Invalid,
        };
        assert_eq!(
            invariant_rows(&analysis),
            vec![
                "lease exclusivity PASS 1,234",
                "stale actions FAIL 2 of 567"
            ]
        );
    }

    #[test]
    fn cited_ops_are_found_in_findings() {
        assert_eq!(
            cited_ops(&[
                "op 12 (process 1) sent x but op 13: y",
                "loop 5 is not an op",
                "op 12 again"
            ]),
            vec![12, 13]
        );
    }
}

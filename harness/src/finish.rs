//! What happens after the nodes have stopped — and again on `straum analyze`: the
//! checkers, `results.json`/`results.edn`, the rendered views, the optional JUnit and
//! JSON outputs, and the terminal summary. Everything is computed from what the run
//! left on disk or in memory, described by a [`RunRecord`] (`test.json`).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use straum_workloads::checkers::Availability;
use straum_workloads::quote::abridge_strings;
use straum_workloads::{Op, Validity, WorkloadOptions};

use crate::analysis::{analyze, Analysis};
use crate::edn::{to_edn, Keys};
use crate::journal;
use crate::net::NetStats;
use crate::render::{self, RunView};
use crate::report::{summary, RunFacts};
use crate::store::RunDir;

/// Exit code: the history is valid.
pub const EXIT_VALID: i32 = 0;
/// Exit code: the history is invalid.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: the checkers could not decide.
pub const EXIT_UNKNOWN: i32 = 2;
/// Exit code: the run was interrupted by SIGINT or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code: the run crashed (a node misbehaved or the harness could not go on).
pub const EXIT_CRASHED: i32 = 255;

/// A run as stored in `test.json`: what is needed to check and report on it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Workload name.
    pub workload: String,
    /// Server node ids.
    pub node_ids: Vec<String>,
    /// Client workers.
    pub concurrency: usize,
    /// `--availability` as given (`total`, a fraction, or absent).
    pub availability: Option<String>,
    /// `--topology`.
    pub topology: String,
    /// `--key-count`.
    pub key_count: Option<usize>,
    /// `--max-writes-per-key`.
    pub max_writes_per_key: usize,
    /// `--max-txn-length` (absent in records of older runs).
    #[serde(default)]
    pub max_txn_length: Option<usize>,
    /// `--consistency-models` as given (absent when not given, and in older records).
    #[serde(default)]
    pub consistency_models: Option<String>,
    /// `--checker-timeout` in seconds (absent in records of older runs).
    #[serde(default)]
    pub checker_timeout_secs: Option<f64>,
    /// The seed.
    pub seed: u64,
    /// The command that reproduces the run.
    pub reproduce: String,
    /// Harness-clock ns at which the main phase began (origin of history times).
    pub main_start: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// Why the run stopped early, as one paragraph, if it did.
    pub stopped: Option<String>,
    /// Whether it was interrupted by a signal.
    pub interrupted: bool,
    /// Mode B (`--net real`): the nodes talked over real links, which straum does
    /// not see (absent in older records).
    #[serde(default)]
    pub real_net: bool,
}

impl RunRecord {
    /// Write `test.json` into the run directory.
    pub fn save(&self, run_dir: &RunDir) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a record serialises");
        fs::write(run_dir.file("test.json"), text + "\n")
    }

    /// Read `test.json` from a run directory.
    pub fn load(dir: &Path) -> Result<RunRecord, String> {
        let path = dir.join("test.json");
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a run record: {e}", path.display()))
    }

    fn workload_options(&self) -> WorkloadOptions {
        WorkloadOptions {
            node_count: self.node_ids.len(),
            concurrency: self.concurrency,
            key_count: self.key_count,
            max_writes_per_key: Some(self.max_writes_per_key),
            max_txn_length: self.max_txn_length,
            consistency_models: self.consistency_models.clone(),
            topology: self.topology.clone(),
            node_ids: self.node_ids.clone(),
            checker_timeout: self
                .checker_timeout_secs
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()),
        }
    }
}

/// Optional outputs.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// Write a JUnit XML report here.
    pub junit: Option<std::path::PathBuf>,
    /// Print the results as JSON on stdout and the summary on stderr.
    pub json: bool,
    /// Check the history even though the run stopped early (`straum analyze`).
    pub analyze_stopped_runs: bool,
    /// Write the files but print nothing (the simulator's kept failing seeds).
    pub quiet: bool,
}

/// Check and report on a run; returns the exit code.
pub fn finish(
    run_dir: &RunDir,
    record: &RunRecord,
    ops: &[Op],
    net: &NetStats,
    outputs: &Outputs,
) -> i32 {
    let journal_path = run_dir.file("net-journal.jsonl");
    let stopped = record
        .stopped
        .as_ref()
        .filter(|_| !outputs.analyze_stopped_runs);
    let (mut results, summary_text, analysis, exit) = match stopped {
        Some(paragraph) => {
            let mut results = Map::new();
            results.insert("valid?".into(), json!("unknown"));
            results.insert("error".into(), json!(paragraph));
            results.insert("interrupted".into(), json!(record.interrupted));
            let exit = if record.interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_CRASHED
            };
            (results, format!("straum: {paragraph}\n"), None, exit)
        }
        None => {
            let workload =
                match straum_workloads::build(&record.workload, &record.workload_options()) {
                    Ok(workload) => workload,
                    Err(e) => {
                        eprintln!("straum: {e}");
                        return EXIT_CRASHED;
                    }
                };
            let availability = record
                .availability
                .as_deref()
                .map_or(Ok(Availability::Any), Availability::parse)
                .unwrap_or(Availability::Any);
            let mut analysis = analyze(workload.as_ref(), ops, net, availability);
            if let Ok(mut events) = journal::read(&journal_path, record.main_start) {
                if let Some(extra) = workload.analyze_network(ops, &mut events) {
                    // A network analysis can find a violation too (lease's stale
                    // actions), so the verdict counts it.
                    analysis.valid = Validity::combine([analysis.valid, extra.1.valid]);
                    analysis.checkers.push(extra);
                }
            }
            let facts = RunFacts {
                workload: &record.workload,
                nodes: record.node_ids.len(),
                seconds: record.seconds,
                seed: record.seed,
                results_path: run_dir.file("results.json").display().to_string(),
                report_path: run_dir.file(render::INDEX).display().to_string(),
                reproduce: record.reproduce.clone(),
                real_net: record.real_net,
            };
            let text = summary(&facts, ops, &analysis);
            let exit = match analysis.valid {
                Validity::Valid => EXIT_VALID,
                Validity::Invalid => EXIT_INVALID,
                Validity::Unknown => EXIT_UNKNOWN,
            };
            (analysis.to_json(), text, Some(analysis), exit)
        }
    };
    results.insert("seed".into(), json!(record.seed));
    results.insert("reproduce".into(), json!(record.reproduce));
    let results = Value::Object(results);
    write_results(run_dir, &results);
    write_views(run_dir, record, ops, &summary_text, analysis.as_ref());
    if let Some(path) = &outputs.junit {
        let xml = junit(record, analysis.as_ref());
        if let Err(e) = fs::write(path, xml) {
            eprintln!("straum: could not write {}: {e}", path.display());
        }
    }
    if outputs.quiet {
    } else if analysis.is_some() {
        if outputs.json {
            eprint!("{summary_text}");
            println!(
                "{}",
                serde_json::to_string_pretty(&results).expect("results serialise")
            );
        } else {
            print!("{summary_text}");
        }
    } else if outputs.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).expect("results serialise")
        );
    }
    exit
}

fn write_results(run_dir: &RunDir, results: &Value) {
    let results = &abridge_strings(results);
    let json = serde_json::to_string_pretty(results).expect("results serialise");
    let edn = to_edn(results, Keys::Keywords);
    for (name, text) in [("results.json", json), ("results.edn", edn)] {
        if let Err(e) = fs::write(run_dir.file(name), text + "\n") {
            eprintln!("straum: could not write {name}: {e}");
        }
    }
}

fn write_views(
    run_dir: &RunDir,
    record: &RunRecord,
    ops: &[Op],
    summary: &str,
    analysis: Option<&Analysis>,
) {
    let journal_path = run_dir.file("net-journal.jsonl");
    let checkers = analysis.map_or_else(Vec::new, |analysis| {
        analysis
            .checkers
            .iter()
            .map(|(name, result)| {
                (
                    name.to_string(),
                    result.valid.word().to_string(),
                    result.headline.first().cloned().unwrap_or_default(),
                )
            })
            .collect()
    });
    let files = [
        "results.json",
        "results.edn",
        "history.jsonl",
        "history.txt",
        "net-journal.jsonl",
        "test.json",
    ]
    .iter()
    .filter(|f| run_dir.file(f).exists())
    .map(|f| f.to_string())
    .chain(node_logs(run_dir))
    .collect();
    let view = RunView {
        history: ops,
        journal: Some(&journal_path),
        journal_origin: record.main_start,
        summary,
        checkers,
        seed: record.seed,
        reproduce: &record.reproduce,
        files,
        pages: analysis.map_or_else(Vec::new, |analysis| {
            analysis
                .checkers
                .iter()
                .flat_map(|(_, result)| &result.pages)
                .collect()
        }),
    };
    if let Err(e) = render::write_all(&run_dir.path(), &view) {
        eprintln!("straum: could not write the report files: {e}");
    }
}

fn node_logs(run_dir: &RunDir) -> Vec<String> {
    let mut logs: Vec<String> = fs::read_dir(run_dir.file("node-logs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| format!("node-logs/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

/// A JUnit XML report: one testcase per checker; invalid ones fail with their
/// findings, unknown ones are errors. A run that stopped early is one errored case.
pub fn junit(record: &RunRecord, analysis: Option<&Analysis>) -> String {
    let suite = format!("straum.{}", record.workload);
    let mut cases = String::new();
    let (mut failures, mut errors, mut tests) = (0, 0, 0);
    match analysis {
        None => {
            tests = 1;
            errors = 1;
            let text = record.stopped.clone().unwrap_or_default();
            cases.push_str(&format!(
                "  <testcase classname=\"{suite}\" name=\"run\">\n    <error message=\"{}\">{}</error>\n  </testcase>\n",
                xml_escape(text.lines().next().unwrap_or("")),
                xml_escape(&text)
            ));
        }
        Some(analysis) => {
            for (name, result) in &analysis.checkers {
                tests += 1;
                let body = format!(
                    "{}\n\nreproduce: {}",
                    result.findings.join("\n"),
                    record.reproduce
                );
                let inner = match result.valid {
                    Validity::Valid => String::new(),
                    Validity::Invalid => {
                        failures += 1;
                        format!(
                            "    <failure message=\"{}\">{}</failure>\n",
                            xml_escape(result.findings.first().map_or("invalid", String::as_str)),
                            xml_escape(&body)
                        )
                    }
                    Validity::Unknown => {
                        errors += 1;
                        format!(
                            "    <error message=\"{}\">{}</error>\n",
                            xml_escape(result.findings.first().map_or("unknown", String::as_str)),
                            xml_escape(&body)
                        )
                    }
                };
                cases.push_str(&format!(
                    "  <testcase classname=\"{suite}\" name=\"{}\">\n{inner}  </testcase>\n",
                    xml_escape(name)
                ));
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">\n  <properties><property name=\"seed\" value=\"{}\"/></properties>\n{cases}</testsuite>\n",
        record.seconds, record.seed
    )
}

fn xml_escape(text: &str) -> String {
    render::svg::escape(text)
}

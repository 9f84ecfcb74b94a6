//! `straum check --model list-append|rw-register`: the Elle-class transaction
//! checker on history files, without a run. Reads straum's `history.jsonl` and
//! Jepsen/Elle EDN op maps, one per line.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::time::Duration;

use straum_workloads::elle::{self, ElleOptions, TxnKind};
use straum_workloads::linearizable::formats;
use straum_workloads::quote::abridge_to;
use straum_workloads::{CheckResult, Op};

/// The transactional model a `--model` name selects, if it is one.
pub fn txn_kind(model: &str) -> Option<TxnKind> {
    match model {
        "list-append" | "txn-list-append" => Some(TxnKind::ListAppend),
        "rw-register" | "txn-rw-register" => Some(TxnKind::RwRegister),
        _ => None,
    }
}

/// Options for `--consistency-models` (Maelstrom's syntax) and the time limit.
pub fn options(models: Option<&str>, timeout: Duration) -> Result<ElleOptions, String> {
    let mut options = ElleOptions {
        timeout: Some(timeout),
        ..ElleOptions::default()
    };
    if let Some(text) = models {
        options.models = elle::parse_models(text)?;
    }
    Ok(options)
}

/// Read one history file (JSONL or EDN, judged by its first non-blank line) and
/// check it. A JSONL history is streamed (parsed and decoded as it is read, never
/// held whole); EDN files, Jepsen's test fixtures, are read at once. Errors name
/// the file and line.
pub fn check_file(
    file: &Path,
    kind: TxnKind,
    options: &ElleOptions,
) -> Result<CheckResult, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", file.display());
    let at = |e: formats::ParseError| format!("{}:{}: {}", file.display(), e.line, e.message);
    let mut reader = BufReader::new(File::open(file).map_err(cannot)?);
    let mut first = String::new();
    while first.trim().is_empty() {
        first.clear();
        if reader.read_line(&mut first).map_err(cannot)? == 0 {
            break;
        }
    }
    if !first.trim_start().starts_with("{:") {
        let reader = BufReader::new(File::open(file).map_err(cannot)?);
        return elle::stream::check_jsonl(reader, kind, options).map_err(at);
    }
    let text = std::fs::read_to_string(file).map_err(cannot)?;
    let numbered = formats::parse_edn_ops(&text).map_err(at)?;
    let ops: Vec<Op> = numbered.into_iter().map(|(_, op)| op).collect();
    Ok(elle::check(&ops, kind, options))
}

/// Print a file's verdict, headline and findings.
pub fn print_result(file: &Path, result: &CheckResult) {
    // A closed stdout (`| head`) ends the listing, not the check.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: {} ({})",
        file.display(),
        result.valid.word(),
        result.headline.join("; ")
    );
    for field in ["not", "also-not"] {
        if let Some(models) = result.fields.get(field) {
            let _ = writeln!(out, "  {field}: {models}");
        }
    }
    for sentence in &result.findings {
        let _ = writeln!(out, "  {}", abridge_to(sentence, 1000));
    }
}

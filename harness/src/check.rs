//! `straum check`: the linearizability checker on history files, without a run
//! (and, with `--model list-append|rw-register`, the transaction checker of
//! [`crate::check_txn`]). Reads straum's `history.jsonl` (lin-kv), Jepsen's EDN op maps one per line
//! (Porcupine's `test_data/kv/*.txt`) and Jepsen's log lines (Porcupine's
//! `test_data/jepsen/etcd_*.log`), prints a verdict per file and exits like `test`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use straum_workloads::elle::TxnKind;
use straum_workloads::linearizable::{
    self, formats, CasRegister, CheckOptions, Clock, KvModel, Report,
};
use straum_workloads::quote::abridge_to;
use straum_workloads::Validity;

use crate::check_txn;
use crate::finish::{EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID};
use crate::runner::EXIT_BAD_ARGUMENTS;

/// Flags of `straum check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model: `cas-register` (lin-kv histories, Jepsen etcd logs), `kv`
    /// (Porcupine's get/put/append EDN files), or `list-append` / `rw-register`
    /// (transactional histories, checked like Elle). Default: the one the file's
    /// format needs.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// For `list-append` / `rw-register`: the consistency models to check, in Elle's
    /// names (Maelstrom's `--consistency-models`). Default: strict-serializable.
    #[arg(long, value_name = "MODELS")]
    pub consistency_models: Option<String>,
    /// Seconds the whole check of one file may take before its unfinished keys are
    /// unknown.
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    pub checker_timeout: f64,
    /// History files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What a history file holds, judged by its first non-blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// straum's history.jsonl.
    StraumJsonl,
    /// Jepsen EDN op maps.
    EdnOps,
    /// Jepsen log lines.
    JepsenLog,
}

impl Format {
    fn detect(text: &str) -> Format {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        match first.trim_start() {
            l if l.starts_with("{\"") => Format::StraumJsonl,
            l if l.starts_with("{:") => Format::EdnOps,
            _ => Format::JepsenLog,
        }
    }

    fn model(self) -> &'static str {
        match self {
            Format::EdnOps => "kv",
            _ => "cas-register",
        }
    }
}

/// Run `straum check`; the exit code is 1 if any file is invalid, else 2 if any is
/// unknown, else 0; 254 for unreadable input.
pub fn run(args: &CheckArgs) -> i32 {
    let txn = args.model.as_deref().and_then(check_txn::txn_kind);
    if let Some(model) = &args.model {
        if model != "cas-register" && model != "kv" && txn.is_none() {
            eprintln!("straum check: unknown --model {model:?}; expected cas-register, kv, list-append or rw-register");
            return EXIT_BAD_ARGUMENTS;
        }
    }
    let Ok(timeout) = Duration::try_from_secs_f64(args.checker_timeout) else {
        eprintln!("straum check: --checker-timeout must be a positive number of seconds");
        return EXIT_BAD_ARGUMENTS;
    };
    if let Some(kind) = txn {
        return run_txn(args, kind, timeout);
    }
    if args.consistency_models.is_some() {
        eprintln!("straum check: --consistency-models needs --model list-append or rw-register");
        return EXIT_BAD_ARGUMENTS;
    }
    let options = CheckOptions {
        timeout: Some(timeout),
        ..CheckOptions::default()
    };
    let mut verdicts = Vec::new();
    for file in &args.files {
        match check_file(file, args.model.as_deref(), &options) {
            Ok(report) => {
                print_report(file, &report);
                verdicts.push(report.valid);
            }
            Err(e) => {
                eprintln!("straum check: {e}");
                return EXIT_BAD_ARGUMENTS;
            }
        }
    }
    exit_code(verdicts)
}

fn run_txn(args: &CheckArgs, kind: TxnKind, timeout: Duration) -> i32 {
    let options = match check_txn::options(args.consistency_models.as_deref(), timeout) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("straum check: --consistency-models: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let mut verdicts = Vec::new();
    for file in &args.files {
        match check_txn::check_file(file, kind, &options) {
            Ok(result) => {
                check_txn::print_result(file, &result);
                verdicts.push(result.valid);
            }
            Err(e) => {
                eprintln!("straum check: {e}");
                return EXIT_BAD_ARGUMENTS;
            }
        }
    }
    exit_code(verdicts)
}

fn exit_code(verdicts: Vec<Validity>) -> i32 {
    match Validity::combine(verdicts) {
        Validity::Valid => EXIT_VALID,
        Validity::Invalid => EXIT_INVALID,
        Validity::Unknown => EXIT_UNKNOWN,
    }
}

fn check_file(file: &Path, model: Option<&str>, options: &CheckOptions) -> Result<Report, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let format = Format::detect(&text);
    if let Some(model) = model.filter(|m| *m != format.model()) {
        return Err(format!(
            "{}: a {format:?} file needs --model {}, not {model}",
            file.display(),
            format.model()
        ));
    }
    let at = |e: formats::ParseError| format!("{}: {e}", file.display());
    Ok(match format {
        Format::StraumJsonl => {
            let partitions = formats::lin_kv_from_jsonl(&text).map_err(at)?;
            linearizable::check(&CasRegister::knossos(), &partitions, Clock::Nanos, options)
        }
        Format::JepsenLog => {
            let partitions = formats::parse_jepsen_log(&text).map_err(at)?;
            linearizable::check(&CasRegister::etcd(), &partitions, Clock::Events, options)
        }
        Format::EdnOps => {
            let partitions = formats::parse_edn_kv(&text).map_err(at)?;
            linearizable::check(&KvModel, &partitions, Clock::Events, options)
        }
    })
}

fn print_report(file: &Path, report: &Report) {
    // A closed stdout (`| head`) ends the listing, not the check.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: {} ({} keys, {} ops, {:.1} ms)",
        file.display(),
        report.valid.word(),
        report.results.len(),
        report.op_count,
        report.time_ms
    );
    for sentence in report.explanations() {
        let _ = writeln!(out, "  {}", abridge_to(sentence, 1000));
    }
    for key in &report.unknown {
        let reason = report.key(key).and_then(|r| r.reason.as_deref());
        let _ = writeln!(
            out,
            "  key {key}: unknown — {}",
            reason.unwrap_or("stopped")
        );
    }
}

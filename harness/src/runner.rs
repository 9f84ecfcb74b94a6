//! One `straum test` run from start to finish: store directory, node processes, the
//! core, teardown, analysis, files and the terminal report. Returns the exit code.

use std::fs;
use std::time::Instant;

use straum_workloads::quote::{abridge_strings, abridge_to};
use straum_workloads::Op;

use crate::backend::Backend;
use crate::cli::AnalyzeArgs;
use crate::config::{reproduce_command, TestConfig};
use crate::edn::{to_edn, Keys};
use crate::engine::{Engine, Stop};
use crate::finish::{finish, Outputs, RunRecord};
use crate::journal::{self, Journal};
use crate::process::{resolve_bin, ProcessBackend, SpawnSpec};
use crate::realnet::backend::{RealBackend, RealSpec, StartError};
use crate::realnet::clients::ClientSpec;
use crate::realnet::db::DbSpec;
use crate::realnet::options::RealNetConfig;
use crate::recorder::HistoryRecorder;
use crate::seed::random_seed;
use crate::store::RunDir;

pub use crate::finish::{EXIT_CRASHED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID};
/// Exit code: bad arguments (including a missing or non-executable `--bin`).
pub const EXIT_BAD_ARGUMENTS: i32 = 254;

/// Run the test `config.test_count` times, stopping at the first run that is not
/// valid (as Maelstrom's `--test-count` does); returns the last run's exit code.
pub fn run_tests(config: &TestConfig) -> i32 {
    let mut code = EXIT_VALID;
    for _ in 0..config.test_count.max(1) {
        code = run_test(config);
        if code != EXIT_VALID {
            break;
        }
    }
    code
}

/// Run a test once and return the process exit code.
pub fn run_test(config: &TestConfig) -> i32 {
    let seed = config.seed.unwrap_or_else(random_seed);
    let reproduce = reproduce_command(&config.command_line, seed);
    let bin = if config.real.is_some() {
        // Refuse at once, before anything is made, when Mode B cannot run here.
        if let Err(e) = crate::realnet::preflight::require() {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
        std::path::PathBuf::new()
    } else {
        match resolve_bin(&config.bin) {
            Ok(bin) => bin,
            Err(e) => {
                eprintln!("straum: {e}");
                return EXIT_BAD_ARGUMENTS;
            }
        }
    };
    let options = config.workload_options();
    let mut workload = match straum_workloads::build(&config.workload, &options) {
        Ok(workload) => workload,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    // The clock fault needs libfaketime: say so before anything starts.
    let faketime_library = if config.nemesis.faults.iter().any(|f| f == "clock") {
        match crate::faketime::locate() {
            Ok(library) => Some(library),
            Err(e) => {
                eprintln!("straum: {e}");
                return EXIT_BAD_ARGUMENTS;
            }
        }
    } else {
        None
    };
    let run_dir = match RunDir::create(&config.store, &config.workload) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!(
                "straum: cannot create a run directory under {}: {e}",
                config.store.display()
            );
            return EXIT_CRASHED;
        }
    };
    let system = match &config.real {
        Some(real) => format!("--net real: {}", abridge_to(&real.db_start, 60)),
        None => bin.display().to_string(),
    };
    let banner = format!(
        "straum: {} on {} node{} ({system}), {} clients, {} s at {}/s, seed {seed}",
        config.workload,
        config.node_ids.len(),
        if config.node_ids.len() == 1 { "" } else { "s" },
        config.concurrency,
        config.time_limit_secs,
        config.rate,
    );
    let location = format!("straum: run directory {}", run_dir.path().display());
    // With --json, stdout carries only the results.
    if config.json {
        eprintln!("{banner}\n{location}");
    } else {
        println!("{banner}\n{location}");
    }

    let started = Instant::now();
    let work_dir = match tempfile::Builder::new().prefix("straum-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("straum: cannot create a working directory for the nodes: {e}");
            return EXIT_CRASHED;
        }
    };
    let history = match HistoryRecorder::create(&run_dir.file("history.jsonl")) {
        Ok(history) => history,
        Err(e) => {
            eprintln!("straum: cannot write the history: {e}");
            return EXIT_CRASHED;
        }
    };
    let run = RunParts {
        config,
        run_dir: &run_dir,
        seed,
        reproduce,
        started,
    };
    let clocks = match faketime_library {
        Some(library) => {
            let dir = std::path::absolute(run_dir.file("clocks")).unwrap_or(run_dir.file("clocks"));
            match crate::faketime::Clocks::new(library, dir) {
                Ok(clocks) => Some(clocks),
                Err(e) => {
                    eprintln!("straum: cannot create the nodes' clock files: {e}");
                    return EXIT_CRASHED;
                }
            }
        }
        None => None,
    };
    if let Some(real) = &config.real {
        let spec = real_spec(config, real, &run_dir, seed, clocks);
        return match RealBackend::start(&spec) {
            Ok(mut backend) => run.drive(&mut backend, workload.as_mut(), history),
            Err(StartError::Interrupted) => {
                eprintln!("straum: interrupted while starting the cluster; it was removed");
                EXIT_INTERRUPTED
            }
            Err(StartError::Failed(e)) => {
                eprintln!("straum: {e}");
                EXIT_CRASHED
            }
        };
    }
    let spec = SpawnSpec {
        bin: bin.clone(),
        args: config.node_args.clone(),
        node_ids: config.node_ids.clone(),
        log_dir: run_dir.file("node-logs"),
        work_dir: work_dir.path().to_path_buf(),
        max_line_bytes: config.max_line_bytes,
        echo_stderr: config.log_stderr,
        // Nodes run in their own working directory: give them an absolute path.
        data_dir: std::path::absolute(run_dir.file("node-data")).ok(),
        seed: Some(seed),
    };
    let mut backend = match ProcessBackend::spawn_with_clocks(&spec, clocks) {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_CRASHED;
        }
    };
    run.drive(&mut backend, workload.as_mut(), history)
}

/// Mode B's start-up settings for one run.
fn real_spec(
    config: &TestConfig,
    real: &RealNetConfig,
    run_dir: &RunDir,
    seed: u64,
    clocks: Option<crate::faketime::Clocks>,
) -> RealSpec {
    let absolute =
        |name: &str| std::path::absolute(run_dir.file(name)).unwrap_or(run_dir.file(name));
    RealSpec {
        // Short and unique: namespaces are `straum-<run>-<node>`.
        run_name: format!("{:x}{:04x}", std::process::id(), seed & 0xffff),
        node_ids: config.node_ids.clone(),
        db: DbSpec {
            start: real.db_start.clone(),
            ready: real.db_ready.clone(),
            stop: real.db_stop.clone(),
            ready_timeout: real.ready_timeout,
            client_port: real.port,
            peer_port: real.peer_port,
            log_dir: absolute("node-logs"),
            data_dir: absolute("node-data"),
            clocks,
        },
        client: ClientSpec {
            command: real.client.clone(),
            log_dir: absolute("node-logs"),
        },
        workers: config.concurrency,
    }
}

/// What a run needs once its backend is up.
struct RunParts<'a> {
    config: &'a TestConfig,
    run_dir: &'a RunDir,
    seed: u64,
    reproduce: String,
    started: Instant,
}

impl RunParts<'_> {
    /// Run the core over `backend`, stop it, and write and report the results.
    fn drive<B: Backend>(
        self,
        backend: &mut B,
        workload: &mut dyn straum_workloads::Workload,
        mut history: HistoryRecorder,
    ) -> i32 {
        let RunParts {
            config,
            run_dir,
            seed,
            reproduce,
            started,
        } = self;
        let settings = config.engine_settings(seed);
        let journal_path = run_dir.file("net-journal.jsonl");
        let mut engine = Engine::new(backend, settings, workload, &mut history);
        engine.show_progress(crate::progress::for_stderr());
        match Journal::create(&journal_path, &config.node_ids) {
            Ok(journal) => engine.observe_network(Box::new(journal)),
            Err(e) => eprintln!("straum: cannot write the network journal: {e}"),
        }
        let outcome = engine.run();
        let stopped = outcome
            .stopped
            .as_ref()
            .map(|stop| describe_stop(stop, backend, config));
        backend.stop_all();
        for (node, &count) in outcome.skipped_lines.iter().enumerate() {
            if count > 0 {
                eprintln!(
                    "straum: skipped {count} unusable output line{} from {} (--bad-lines skip)",
                    if count == 1 { "" } else { "s" },
                    config.node_ids[node]
                );
            }
        }
        let ops = history.finish();
        write_history_text(run_dir, &ops);
        let record = config.record(
            seed,
            reproduce.clone(),
            outcome.main_start,
            started.elapsed().as_secs_f64(),
            stopped.clone(),
            matches!(outcome.stopped, Some(Stop::Interrupted(_))),
        );
        if let Err(e) = record.save(run_dir) {
            eprintln!("straum: could not write test.json: {e}");
        }
        if let Some(paragraph) = &stopped {
            eprintln!("\nstraum: {paragraph}");
            eprintln!(
                "straum: the history recorded so far ({} ops) is in {}",
                ops.len(),
                run_dir.file("history.jsonl").display()
            );
            eprintln!("straum: reproduce with: {reproduce}");
        }
        let outputs = Outputs {
            junit: config.junit.clone(),
            json: config.json,
            analyze_stopped_runs: false,
            quiet: false,
        };
        let exit = finish(run_dir, &record, &ops, &outcome.net, &outputs);
        if let Err(e) = run_dir.mark_latest() {
            eprintln!("straum: could not update the store's latest links: {e}");
        }
        exit
    }
}

/// `straum analyze`: check a stored run again (even one that stopped early) and
/// rewrite its results and reports; returns the exit code.
pub fn analyze_stored(args: &AnalyzeArgs) -> i32 {
    let dir = args
        .run
        .clone()
        .unwrap_or_else(|| args.store.join("latest"));
    let dir = match dir.canonicalize() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("straum: no run at {}: {e}", dir.display());
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let record = match RunRecord::load(&dir) {
        Ok(record) => record,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let ops = match crate::recorder::read(&dir.join("history.jsonl")) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let net = journal::stats(&dir.join("net-journal.jsonl")).unwrap_or_default();
    let run_dir = RunDir::existing(&dir);
    eprintln!("straum: analyzing {} ({} ops)", dir.display(), ops.len());
    let outputs = Outputs {
        junit: args.junit.clone(),
        json: args.json,
        analyze_stopped_runs: true,
        quiet: false,
    };
    finish(&run_dir, &record, &ops, &net, &outputs)
}

/// One paragraph naming the node, the cause, the offending line and the node's last
/// stderr lines.
fn describe_stop(stop: &Stop, backend: &impl Backend, config: &TestConfig) -> String {
    let failure = match stop {
        Stop::Interrupted(signal) => {
            return format!("interrupted by {signal}; every node was stopped")
        }
        Stop::Failed(failure) => failure,
    };
    let mut text = failure.cause.clone();
    if !text.ends_with('.') {
        text.push('.');
    }
    if let Some(line) = &failure.line {
        text.push_str(&format!("\n  offending line: {line}"));
    }
    if let Some(node) = failure.node {
        let diagnostics = backend.diagnostics(node);
        let name = &config.node_ids[node];
        if diagnostics.stderr_tail.is_empty() {
            text.push_str(&format!("\n  {name} wrote nothing to stderr."));
        } else {
            text.push_str(&format!("\n  last stderr lines of {name}:"));
            for line in &diagnostics.stderr_tail {
                text.push_str(&format!("\n    {line}"));
            }
        }
        if let Some(path) = diagnostics.log_path {
            text.push_str(&format!("\n  full log: {}", path.display()));
        }
    }
    text
}

/// Write `history.txt`: the history as Maelstrom prints it, one op a line.
pub fn write_history_text(run_dir: &RunDir, ops: &[Op]) {
    let mut text = String::new();
    for op in ops {
        text.push_str(&format!(
            "{}\t:{}\t:{}\t{}",
            op.process,
            op.kind.name(),
            op.f,
            to_edn(&abridge_strings(&op.value), Keys::Strings)
        ));
        if let Some(error) = &op.error {
            text.push('\t');
            text.push_str(&to_edn(&abridge_strings(error), Keys::Strings));
        }
        text.push('\n');
    }
    if let Err(e) = fs::write(run_dir.file("history.txt"), text) {
        eprintln!("straum: could not write history.txt: {e}");
    }
}

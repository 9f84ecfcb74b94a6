//! One simulated run of one seed: the same engine, network, workload, checkers and
//! (for kept runs) the same store files and reports as `straum test`, over
//! [`SimBackend`] instead of processes.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use straum_workloads::{Op, Validity};

use crate::analysis::analyze;
use crate::config::TestConfig;
use crate::engine::{Engine, Stop};
use crate::finish::{finish, Outputs};
use crate::journal::Journal;
use crate::net::{Fate, NetObserver, Packet};
use crate::recorder::HistoryRecorder;
use crate::sim::backend::{NodeFactory, SimBackend};
use crate::store::RunDir;

/// What one seed did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// The combined verdict (`Unknown` when the run stopped early).
    pub valid: Validity,
    /// The first thing the checkers found (or why the run stopped), if anything.
    pub finding: Option<String>,
    /// The workload checker's finding kind: its first finding's text up to the first
    /// digit, so shrinking can keep "the same kind" of failure.
    pub kind: Option<String>,
    /// Hash of the history.
    pub history_hash: u64,
    /// Hash of every network event (sends, deliveries, losses, with times).
    pub journal_hash: u64,
    /// The network events and ops as text, when tracing (for `--check-determinism`).
    pub trace: Vec<String>,
    /// Client operations invoked.
    pub ops: usize,
    /// Fault starts in the history.
    pub fault_starts: u32,
    /// The run directory, when the run was kept.
    pub run_dir: Option<PathBuf>,
}

impl SeedReport {
    /// True unless the checkers found the history invalid or the run failed.
    pub fn passed(&self) -> bool {
        self.valid == Validity::Valid
    }
}

/// Hashes (and optionally writes down) every network event.
struct Digest {
    hasher: std::collections::hash_map::DefaultHasher,
    trace: Option<Vec<String>>,
}

impl Digest {
    fn event(&mut self, now: u64, what: &str, packet: &Packet, extra: u64) {
        (now, what, packet.id, extra, packet.body.get()).hash(&mut self.hasher);
        if let Some(trace) = &mut self.trace {
            trace.push(format!(
                "{:.6} s {what} #{} {:?}→{:?} {}",
                now as f64 / 1e9,
                packet.id,
                packet.src,
                packet.dest,
                packet.body.get()
            ));
        }
    }
}

struct SharedDigest(Rc<RefCell<Digest>>);

impl NetObserver for SharedDigest {
    fn sent(&mut self, now: u64, packet: &Packet, link_seq: u64, copy_of: Option<u64>) {
        let extra = link_seq ^ copy_of.map_or(0, |c| c.rotate_left(32));
        self.0.borrow_mut().event(now, "sent", packet, extra);
    }
    fn delivered(&mut self, now: u64, packet: &Packet) {
        self.0.borrow_mut().event(now, "delivered", packet, 0);
    }
    fn lost(&mut self, now: u64, packet: &Packet, fate: Fate) {
        self.0
            .borrow_mut()
            .event(now, &format!("lost ({fate:?})"), packet, 0);
    }
}

/// Two observers of one network: the digest and a journal kept for the workload's
/// network analysis.
struct Both(Box<dyn NetObserver>, Box<dyn NetObserver>);

impl NetObserver for Both {
    fn sent(&mut self, now: u64, packet: &Packet, link_seq: u64, copy_of: Option<u64>) {
        self.0.sent(now, packet, link_seq, copy_of);
        self.1.sent(now, packet, link_seq, copy_of);
    }
    fn delivered(&mut self, now: u64, packet: &Packet) {
        self.0.delivered(now, packet);
        self.1.delivered(now, packet);
    }
    fn lost(&mut self, now: u64, packet: &Packet, fate: Fate) {
        self.0.lost(now, packet, fate);
        self.1.lost(now, packet, fate);
    }
}

/// How to run a seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunMode {
    /// Keep a run directory in the config's store, with the full reports.
    pub keep: bool,
    /// Write down every event (for finding where two runs diverge).
    pub trace: bool,
}

/// Run `seed` of the test `config` on nodes from `factory`; `reproduce` is the command
/// line recorded for it.
pub fn run_seed(
    config: &TestConfig,
    factory: NodeFactory<'_>,
    seed: u64,
    reproduce: &str,
    mode: RunMode,
) -> SeedReport {
    let started = Instant::now();
    let mut workload = match straum_workloads::build(&config.workload, &config.workload_options()) {
        Ok(workload) => workload,
        Err(e) => return stopped_report(seed, format!("bad workload: {e}")),
    };
    let run_dir = if mode.keep {
        match RunDir::create(&config.store, &config.workload) {
            Ok(dir) => Some(dir),
            Err(e) => return stopped_report(seed, format!("cannot create a run directory: {e}")),
        }
    } else {
        None
    };
    let mut history = match &run_dir {
        Some(dir) => HistoryRecorder::create(&dir.file("history.jsonl"))
            .unwrap_or_else(|_| HistoryRecorder::in_memory()),
        None => HistoryRecorder::in_memory(),
    };
    let digest = Rc::new(RefCell::new(Digest {
        hasher: Default::default(),
        trace: mode.trace.then(Vec::new),
    }));
    let analyzes_network = workload.analyzes_network();
    let mut backend = SimBackend::new(config.node_ids.len(), seed, factory);
    let mut engine = Engine::new(
        &mut backend,
        config.engine_settings(seed),
        workload.as_mut(),
        &mut history,
    );
    // A seed that keeps no run directory still needs a journal when the workload
    // judges the network too (lease's stale actions): a temporary one, on disk.
    let scratch = (run_dir.is_none() && analyzes_network)
        .then(|| tempfile::NamedTempFile::new().ok())
        .flatten();
    let journal_path = match (&run_dir, &scratch) {
        (Some(dir), _) => Some(dir.file("net-journal.jsonl")),
        (None, Some(file)) => Some(file.path().to_path_buf()),
        (None, None) => None,
    };
    let journal =
        journal_path
            .as_ref()
            .and_then(|path| match Journal::create(path, &config.node_ids) {
                Ok(journal) => Some(journal),
                Err(e) => {
                    eprintln!("straum: cannot write the network journal: {e}");
                    None
                }
            });
    let digest_observer = Box::new(SharedDigest(Rc::clone(&digest)));
    match (journal, run_dir.is_some()) {
        (Some(journal), true) => engine.observe_network(Box::new(journal)),
        (Some(journal), false) => {
            engine.observe_network(Box::new(Both(digest_observer, Box::new(journal))))
        }
        (None, _) => engine.observe_network(digest_observer),
    }
    let outcome = engine.run();
    let stopped = outcome.stopped.as_ref().map(|stop| match stop {
        Stop::Failed(failure) => failure.cause.clone(),
        Stop::Interrupted(signal) => format!("interrupted by {signal}"),
    });
    let ops = history.finish();
    let mut digest = digest.borrow_mut();
    let mut trace = digest.trace.take();
    let history_hash = hash_history(&ops, trace.as_mut());
    let invoked = ops
        .iter()
        .filter(|op| op.is_client() && op.kind == straum_workloads::OpType::Invoke)
        .count();
    // The nemesis records each start as two `info` ops (what it meant, what it did).
    let fault_starts = ops
        .iter()
        .filter(|op| !op.is_client() && op.f.starts_with("start-"))
        .count() as u32
        / 2;
    let (valid, finding, kind) = match &stopped {
        Some(cause) => (Validity::Unknown, Some(cause.clone()), Some(cause.clone())),
        None => {
            let availability = config.availability;
            let mut analysis = analyze(workload.as_ref(), &ops, &outcome.net, availability);
            let journal = journal_path
                .as_ref()
                .filter(|_| analyzes_network)
                .and_then(|path| crate::journal::read(path, outcome.main_start).ok());
            if let Some(mut events) = journal {
                if let Some(extra) = workload.analyze_network(&ops, &mut events) {
                    analysis.valid = Validity::combine([analysis.valid, extra.1.valid]);
                    analysis.checkers.push(extra);
                }
            }
            let first = analysis
                .checkers
                .iter()
                .find(|(_, r)| r.valid != Validity::Valid)
                .map(|(name, r)| {
                    let text = r
                        .findings
                        .first()
                        .or(r.headline.first())
                        .cloned()
                        .unwrap_or_else(|| format!("{name} is {}", r.valid.word()));
                    (format!("{name}: {text}"), name.to_string())
                });
            let kind = first.as_ref().map(|(text, _)| {
                text.split(|c: char| c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
                    .to_string()
            });
            (analysis.valid, first.map(|(text, _)| text), kind)
        }
    };
    if let Some(dir) = &run_dir {
        crate::runner::write_history_text(dir, &ops);
        let record = config.record(
            seed,
            reproduce.to_string(),
            outcome.main_start,
            started.elapsed().as_secs_f64(),
            stopped,
            false,
        );
        let _ = record.save(dir);
        let outputs = Outputs {
            quiet: true,
            ..Outputs::default()
        };
        finish(dir, &record, &ops, &outcome.net, &outputs);
    }
    SeedReport {
        seed,
        valid,
        finding,
        kind,
        history_hash,
        journal_hash: digest.hasher.finish(),
        trace: trace.unwrap_or_default(),
        ops: invoked,
        fault_starts,
        run_dir: run_dir.map(|d| d.path()),
    }
}

fn hash_history(ops: &[Op], mut trace: Option<&mut Vec<String>>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for op in ops {
        let text = serde_json::to_string(op).expect("an op serialises");
        text.hash(&mut hasher);
        if let Some(trace) = trace.as_deref_mut() {
            trace.push(format!("history {text}"));
        }
    }
    hasher.finish()
}

fn stopped_report(seed: u64, cause: String) -> SeedReport {
    SeedReport {
        seed,
        valid: Validity::Unknown,
        kind: Some(cause.clone()),
        finding: Some(cause),
        history_hash: 0,
        journal_hash: 0,
        trace: Vec::new(),
        ops: 0,
        fault_starts: 0,
        run_dir: None,
    }
}

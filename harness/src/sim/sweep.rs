//! Running many seeds: in parallel on every core, each worker taking the next seed
//! from a shared counter (one atomic add per seed, no lock), with the reports sorted by
//! seed afterwards so the outcome does not depend on which thread ran what.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::config::TestConfig;
use crate::sim::backend::NodeFactory;
use crate::sim::run::{run_seed, RunMode, SeedReport};

/// What a sweep should do besides running each seed once.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Run every seed twice and compare hashes.
    pub check_determinism: bool,
    /// Keep the run directories of passing seeds too (failing ones always are).
    pub keep_passing: bool,
}

/// Two runs of one seed that differed.
#[derive(Debug, Clone)]
pub struct Divergence {
    /// The seed.
    pub seed: u64,
    /// The first event that differs, from each run (empty when one ran out).
    pub first: (String, String),
    /// Index of that event in the trace.
    pub index: usize,
}

/// Everything a sweep found.
#[derive(Debug, Clone, Default)]
pub struct SweepOutcome {
    /// One report per seed, by seed.
    pub reports: Vec<SeedReport>,
    /// Seeds whose two runs differed (with `check_determinism`).
    pub divergences: Vec<Divergence>,
}

/// Run every seed in `seeds`; `reproduce` gives the command line for a seed.
pub fn sweep(
    config: &TestConfig,
    factory: NodeFactory<'_>,
    seeds: &[u64],
    options: &SweepOptions,
    reproduce: &(dyn Fn(u64) -> String + Sync),
) -> SweepOutcome {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let line = reproduce(seed);
                let mode = RunMode {
                    keep: false,
                    trace: options.check_determinism,
                };
                let mut report = run_seed(config, factory, seed, &line, mode);
                let divergence = options.check_determinism.then(|| {
                    let again = run_seed(config, factory, seed, &line, mode);
                    compare(&report, &again)
                });
                if !report.passed() || options.keep_passing {
                    let kept = run_seed(
                        config,
                        factory,
                        seed,
                        &line,
                        RunMode {
                            keep: true,
                            trace: false,
                        },
                    );
                    report.run_dir = kept.run_dir;
                }
                report.trace = Vec::new();
                let _ = tx.send((report, divergence.flatten()));
            });
        }
    });
    drop(tx);
    let mut outcome = SweepOutcome::default();
    for (report, divergence) in rx {
        outcome.reports.push(report);
        outcome.divergences.extend(divergence);
    }
    outcome.reports.sort_by_key(|r| r.seed);
    outcome.divergences.sort_by_key(|d| d.seed);
    outcome
}

/// The first difference between two runs of one seed, if any.
pub fn compare(a: &SeedReport, b: &SeedReport) -> Option<Divergence> {
    if a.history_hash == b.history_hash && a.journal_hash == b.journal_hash {
        return None;
    }
    let index = a
        .trace
        .iter()
        .zip(&b.trace)
        .position(|(x, y)| x != y)
        .unwrap_or(a.trace.len().min(b.trace.len()));
    let at = |t: &[String]| t.get(index).cloned().unwrap_or_default();
    Some(Divergence {
        seed: a.seed,
        first: (at(&a.trace), at(&b.trace)),
        index,
    })
}

//! Deterministic simulation: SDK nodes in process on virtual time, through the one
//! engine, network, nemesis, services, workloads and checkers `straum test` uses.
//!
//! - [`backend`]: the [`crate::backend::Backend`] over node values and a virtual clock;
//! - [`run`]: one seed, in memory (or kept as a run directory with full reports);
//! - [`sweep`]: many seeds on every core, and the determinism comparison;
//! - [`shrink`]: a failing seed made smaller while it keeps failing;
//! - [`command`]: `straum sim` and `straum sim-merge`;
//! - [`Test`]: the same for a user's own `cargo test`.

pub mod backend;
pub mod command;
pub mod run;
pub mod shrink;
pub mod sweep;

use clap::Parser;
use straum_node::{Init, Node};

use crate::cli::{Cli, Command};
use crate::config::TestConfig;
pub use run::SeedReport;
pub use sweep::{Divergence, SweepOptions, SweepOutcome};

/// A simulated test of a user's node, as a builder:
///
/// ```no_run
/// # use straum::sim::Test;
/// # struct MyNode;
/// # impl straum_node::Node for MyNode {
/// #     fn handle(&mut self, _: straum_node::Message, _: &mut straum_node::Context)
/// #         -> Result<(), straum_node::RpcError> { Ok(()) }
/// # }
/// Test::new("broadcast")
///     .nodes(5)
///     .time_limit(20.0)
///     .rate(10.0)
///     .nemesis("partition")
///     .seeds(0..1000)
///     .run(|_init| MyNode)
///     .assert_all_passed();
/// ```
///
/// Any `straum test` flag can be given with [`Test::flag`].
#[derive(Debug, Clone)]
pub struct Test {
    args: Vec<String>,
    seeds: Vec<u64>,
    options: SweepOptions,
}

impl Test {
    /// A test of `workload` with straum's defaults (5 nodes, 60 s at 5/s, seed 0).
    pub fn new(workload: &str) -> Test {
        Test {
            args: vec!["-w".into(), workload.into()],
            seeds: vec![0],
            options: SweepOptions::default(),
        }
    }

    /// Any `straum test` flag with its value, e.g. `.flag("--latency", "10")`.
    pub fn flag(mut self, name: &str, value: impl ToString) -> Test {
        self.args.push(name.into());
        self.args.push(value.to_string());
        self
    }

    /// `--node-count`.
    pub fn nodes(self, count: usize) -> Test {
        self.flag("--node-count", count)
    }

    /// `--time-limit` in (virtual) seconds.
    pub fn time_limit(self, seconds: f64) -> Test {
        self.flag("--time-limit", seconds)
    }

    /// `--rate` in operations per second.
    pub fn rate(self, rate: f64) -> Test {
        self.flag("--rate", rate)
    }

    /// `--nemesis`, e.g. `"partition,kill"`.
    pub fn nemesis(self, faults: &str) -> Test {
        self.flag("--nemesis", faults)
    }

    /// The seeds to run.
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Test {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// Run each seed twice and report seeds whose history or journal differ.
    pub fn check_determinism(mut self, check: bool) -> Test {
        self.options.check_determinism = check;
        self
    }

    /// Worker threads (default: one per core).
    pub fn threads(mut self, threads: usize) -> Test {
        self.options.threads = threads;
        self
    }

    /// The validated configuration, or every problem with the flags.
    pub fn config(&self) -> Result<TestConfig, Vec<String>> {
        config_from(&self.args, "sim")
    }

    /// Run every seed on nodes built by `factory`; panics if the flags are invalid.
    pub fn run<N, F>(self, factory: F) -> Verdicts
    where
        N: Node + 'static,
        F: Fn(&Init) -> N + Sync,
    {
        let mut config = self
            .config()
            .unwrap_or_else(|errors| panic!("straum::sim::Test: {}", errors.join("; ")));
        if config.store.as_os_str() == "store" {
            config.store = std::env::temp_dir().join("straum-sim");
        }
        let boxed = move |init: &Init| -> Box<dyn Node> { Box::new(factory(init)) };
        let args = self.args.join(" ");
        let reproduce = |seed: u64| format!("straum::sim::Test with {args} --seed {seed}");
        let outcome = sweep::sweep(&config, &boxed, &self.seeds, &self.options, &reproduce);
        Verdicts { outcome, args }
    }
}

/// Validate `straum test` flags for a simulated run (`bin` only labels it).
pub fn config_from(args: &[String], bin: &str) -> Result<TestConfig, Vec<String>> {
    let mut argv = vec![
        "straum".to_string(),
        "test".into(),
        "--bin".into(),
        bin.into(),
    ];
    argv.extend(args.iter().cloned());
    let cli = Cli::try_parse_from(&argv).map_err(|e| vec![e.to_string()])?;
    let Command::Test(test) = cli.command else {
        unreachable!("parsed as test")
    };
    test.into_config(argv)
}

/// Per-seed results of a [`Test`].
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Reports by seed, and any determinism divergences.
    pub outcome: SweepOutcome,
    args: String,
}

impl Verdicts {
    /// The seeds that did not pass.
    pub fn failing(&self) -> Vec<&SeedReport> {
        self.outcome
            .reports
            .iter()
            .filter(|r| !r.passed())
            .collect()
    }

    /// Panic with the first failing seed, its first finding and a reproduce line (or
    /// the first determinism divergence) unless every seed passed.
    pub fn assert_all_passed(&self) {
        if let Some(report) = self.failing().first() {
            panic!(
                "{} of {} seeds failed; first: seed {}: {}\n  reproduce: .seeds([{}]) with {}{}",
                self.failing().len(),
                self.outcome.reports.len(),
                report.seed,
                report.finding.as_deref().unwrap_or("invalid"),
                report.seed,
                self.args,
                report
                    .run_dir
                    .as_ref()
                    .map(|d| format!("\n  run directory: {}", d.display()))
                    .unwrap_or_default()
            );
        }
        if let Some(d) = self.outcome.divergences.first() {
            panic!(
                "seed {} is not deterministic: event {} differs:\n  {}\n  {}",
                d.seed, d.index, d.first.0, d.first.1
            );
        }
    }
}

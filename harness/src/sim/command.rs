//! `straum sim` (a seed sweep over an example node compiled into the binary) and
//! `straum sim-merge` (one summary from several shards' stores).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};
use straum_node::{Init, Node};

use crate::cli::TestArgs;
use crate::config::reproduce_command;
use crate::runner::{EXIT_BAD_ARGUMENTS, EXIT_INVALID, EXIT_VALID};
use crate::sim::sweep::{sweep, SweepOptions};

/// The file a sweep's summary is written to, in its `--store`.
pub const SUMMARY_FILE: &str = "sim-summary.json";

/// Flags of `straum sim`: every `straum test` flag (`--node` names the example node,
/// node names come from `--node-count`), plus the sweep's own.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The test's flags.
    #[command(flatten)]
    pub test: TestArgs,
    /// Run seeds 0..N (`--seed S` runs only S).
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Run only the I-th of N equal, disjoint slices of the seeds (1 ≤ I ≤ N).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Run every seed twice and compare hashes of history and network journal.
    #[arg(long)]
    pub check_determinism: bool,
    /// Keep the run directories of passing seeds too.
    #[arg(long)]
    pub keep_passing: bool,
    /// Worker threads (default: one per core).
    #[arg(long, default_value = "0")]
    pub threads: usize,
    /// With `--seed S`: make the failing run smaller (shorter time limit, fewer fault
    /// events, lower rate, fewer nodes) while it fails the same way, and print the command replaying it.
    #[arg(long)]
    pub shrink: bool,
}

/// Flags of `straum sim-merge`.
#[derive(Debug, Args)]
pub struct SimMergeArgs {
    /// Stores of the shards (each holding a `sim-summary.json`).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

/// One failing seed in a summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailingSeed {
    /// The seed.
    pub seed: u64,
    /// The first finding.
    pub finding: String,
    /// The command that replays it.
    pub reproduce: String,
    /// Its run directory.
    pub run_dir: Option<PathBuf>,
}

/// What a sweep (or a merge of sweeps) found, as stored in `sim-summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Failing seeds by seed.
    pub failing: Vec<FailingSeed>,
    /// Seeds whose two runs differed, with the first differing event.
    pub nondeterministic: Vec<(u64, String)>,
    /// Wall seconds the sweep took.
    pub seconds: f64,
}

impl Summary {
    fn print(&self) {
        use std::io::Write;
        // A closed stdout (`| head`) must not turn into a panic.
        let _ = writeln!(std::io::stdout().lock(), "{}", self.text());
    }

    fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = write!(
            out,
            "straum sim: {} seeds, {} passed, {} failed ({:.2} s, {:.1} ms per seed)",
            self.seeds,
            self.passed,
            self.failing.len(),
            self.seconds,
            self.seconds * 1e3 / self.seeds.max(1) as f64
        );
        for failing in &self.failing {
            let _ = write!(out, "\n  seed {}: {}", failing.seed, failing.finding);
            let _ = write!(out, "\n    reproduce: {}", failing.reproduce);
            if let Some(dir) = &failing.run_dir {
                let _ = write!(out, "\n    run directory: {}", dir.display());
            }
        }
        for (seed, first) in &self.nondeterministic {
            let _ = write!(
                out,
                "\n  seed {seed} is NOT deterministic; first diverging event:\n{first}"
            );
        }
        out
    }

    fn exit_code(&self) -> i32 {
        if self.failing.is_empty() && self.nondeterministic.is_empty() {
            EXIT_VALID
        } else {
            EXIT_INVALID
        }
    }
}

/// The seeds of shard `i` of `n` (1-based) out of `seeds`: contiguous, disjoint slices
/// whose union is `seeds`.
pub fn shard_of(seeds: &[u64], i: usize, n: usize) -> &[u64] {
    let len = seeds.len();
    &seeds[len * (i - 1) / n..len * i / n]
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard expects I/N with 1 ≤ I ≤ N, got {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `straum sim`; returns the exit code.
pub fn run(mut args: SimArgs, command_line: Vec<String>) -> i32 {
    let names = std::mem::take(&mut args.test.node);
    let Some(example) = names.first().and_then(|n| straum_examples::example(n)) else {
        let known: Vec<&str> = straum_examples::NODES.iter().map(|e| e.name).collect();
        eprintln!(
            "straum: sim needs --node EXAMPLE, one of: {}",
            known.join(", ")
        );
        return EXIT_BAD_ARGUMENTS;
    };
    args.test.bin = Some(PathBuf::from(format!("sim:{}", example.name)));
    let seed = args.test.seed;
    let config = match (*Box::new(args.test)).into_config(command_line.clone()) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("straum: {error}");
            }
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let all: Vec<u64> = match (seed, args.seeds) {
        (Some(seed), _) => vec![seed],
        (None, Some(n)) => (0..n).collect(),
        (None, None) => vec![0],
    };
    let seeds = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(Some((i, n))) => shard_of(&all, i, n).to_vec(),
        Ok(None) => all,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let options = SweepOptions {
        threads: args.threads,
        check_determinism: args.check_determinism,
        keep_passing: args.keep_passing,
    };
    let factory = example.factory;
    let boxed = move |init: &Init| -> Box<dyn Node> { factory(init) };
    let reproduce = |seed: u64| replay_command(&command_line, seed);
    if args.shrink {
        return shrink_seed(&command_line, example.name, &boxed, seeds[0]);
    }
    let started = Instant::now();
    let outcome = sweep(&config, &boxed, &seeds, &options, &reproduce);
    let summary = Summary {
        seeds: outcome.reports.len() as u64,
        passed: outcome.reports.iter().filter(|r| r.passed()).count() as u64,
        failing: outcome
            .reports
            .iter()
            .filter(|r| !r.passed())
            .map(|r| FailingSeed {
                seed: r.seed,
                finding: r.finding.clone().unwrap_or_else(|| "invalid".into()),
                reproduce: reproduce(r.seed),
                run_dir: r.run_dir.clone(),
            })
            .collect(),
        nondeterministic: outcome
            .divergences
            .iter()
            .map(|d| {
                (
                    d.seed,
                    format!(
                        "    event {}:\n    run 1: {}\n    run 2: {}",
                        d.index, d.first.0, d.first.1
                    ),
                )
            })
            .collect(),
        seconds: started.elapsed().as_secs_f64(),
    };
    summary.print();
    if let Err(e) = save(&config.store, &summary) {
        eprintln!("straum: could not write {SUMMARY_FILE}: {e}");
    }
    summary.exit_code()
}

/// `--shrink`: print the smallest failing run found and the command replaying it.
fn shrink_seed(
    command_line: &[String],
    example: &str,
    factory: crate::sim::backend::NodeFactory<'_>,
    seed: u64,
) -> i32 {
    // The test flags: the command line without the program, `sim`, the example and
    // the sweep's own flags.
    let replay = replay_words(command_line);
    let mut flags = Vec::new();
    let mut words = replay.iter().skip(2);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--node" | "-n" | "--seed" => {
                words.next();
            }
            "--shrink" => {}
            _ => flags.push(word.clone()),
        }
    }
    let Some(shrunk) = crate::sim::shrink::shrink(&flags, factory, seed) else {
        println!("straum sim: seed {seed} does not fail; nothing to shrink");
        return EXIT_VALID;
    };
    let mut line = vec![
        "straum".to_string(),
        "sim".into(),
        "--node".into(),
        example.into(),
    ];
    line.extend(shrunk.flags.iter().cloned());
    println!(
        "straum sim: shrunk seed {seed} in {} runs to {} client operations and {} fault events: {}",
        shrunk.tries,
        shrunk.report.ops,
        shrunk.report.fault_starts,
        shrunk.report.finding.as_deref().unwrap_or("invalid")
    );
    println!("  replay: {}", reproduce_command(&line, seed));
    EXIT_INVALID
}

fn replay_words(command_line: &[String]) -> Vec<String> {
    let mut words = Vec::new();
    let mut args = command_line.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seeds" | "--shard" | "--threads" => {
                args.next();
            }
            "--check-determinism" | "--keep-passing" => {}
            a if a.starts_with("--seeds=") || a.starts_with("--shard=") => {}
            _ => words.push(arg.clone()),
        }
    }
    words
}

/// The command line that replays exactly one seed: sweep and shard flags replaced by
/// `--seed SEED`.
fn replay_command(command_line: &[String], seed: u64) -> String {
    reproduce_command(&replay_words(command_line), seed)
}

fn save(store: &Path, summary: &Summary) -> std::io::Result<()> {
    std::fs::create_dir_all(store)?;
    let text = serde_json::to_string_pretty(summary).expect("a summary serialises");
    std::fs::write(store.join(SUMMARY_FILE), text + "\n")
}

/// `straum sim-merge`: one summary from several stores; returns the exit code.
pub fn merge(args: &SimMergeArgs) -> i32 {
    let mut merged = Summary::default();
    for dir in &args.dirs {
        let path = dir.join(SUMMARY_FILE);
        let summary: Summary = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("straum: cannot read {}: {e}", path.display());
                return EXIT_BAD_ARGUMENTS;
            }
        };
        merged.seeds += summary.seeds;
        merged.passed += summary.passed;
        merged.failing.extend(summary.failing);
        merged.nondeterministic.extend(summary.nondeterministic);
        merged.seconds += summary.seconds;
    }
    merged.failing.sort_by_key(|f| f.seed);
    merged.nondeterministic.sort_by_key(|(seed, _)| *seed);
    merged.print();
    merged.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_the_seeds() {
        let seeds: Vec<u64> = (0..103).collect();
        let mut all = Vec::new();
        for i in 1..=4 {
            all.extend_from_slice(shard_of(&seeds, i, 4));
        }
        assert_eq!(all, seeds);
        assert!(parse_shard("0/4").is_err() && parse_shard("5/4").is_err());
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
    }

    #[test]
    fn the_replay_command_names_one_seed() {
        let line: Vec<String> =
            "straum sim -w broadcast --node b --seeds 100 --shard 1/2 --check-determinism"
                .split(' ')
                .map(String::from)
                .collect();
        assert_eq!(
            replay_command(&line, 42),
            "straum sim -w broadcast --node b --seed 42"
        );
    }
}

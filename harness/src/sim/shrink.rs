//! `--shrink`: make a failing seed's run smaller while it keeps failing with the same
//! kind of finding — a shorter time limit, fewer fault events (delta debugging over
//! the nemesis schedule's starts, replayed with `--nemesis-skip`), a lower rate (fewer
//! client operations), fewer nodes — and give the flags that replay exactly the
//! smaller run.

use crate::sim::backend::NodeFactory;
use crate::sim::config_from;
use crate::sim::run::{run_seed, RunMode, SeedReport};

/// The smallest failing run found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The test flags that replay it (with the seed).
    pub flags: Vec<String>,
    /// Its report.
    pub report: SeedReport,
    /// Runs tried.
    pub tries: usize,
}

/// `flags` with `name` set to `value` (replacing an earlier value).
pub fn with_flag(flags: &[String], name: &str, value: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(flags.len() + 2);
    let mut words = flags.iter();
    while let Some(word) = words.next() {
        if word == name {
            words.next();
        } else if !word.starts_with(&format!("{name}=")) {
            out.push(word.clone());
        }
    }
    out.push(name.into());
    out.push(value.into());
    out
}

fn value_of(flags: &[String], name: &str) -> Option<f64> {
    flags
        .windows(2)
        .rev()
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
}

/// Shrink the failing run of `seed` under the test flags `flags`; `None` when it
/// does not fail (or the flags are invalid).
pub fn shrink(flags: &[String], factory: NodeFactory<'_>, seed: u64) -> Option<Shrunk> {
    let run = |flags: &[String]| {
        let config = config_from(flags, "sim").ok()?;
        Some(run_seed(&config, factory, seed, "", RunMode::default()))
    };
    let first = run(flags)?;
    if first.passed() {
        return None;
    }
    let mut best = Shrunk {
        flags: flags.to_vec(),
        report: first,
        tries: 1,
    };
    let config = config_from(flags, "sim").ok()?;
    halve(&mut best, "--time-limit", config.time_limit_secs, 1.0, &run);
    minimise_faults(&mut best, &run);
    halve(&mut best, "--rate", config.rate, 0.5, &run);
    halve(
        &mut best,
        "--node-count",
        config.node_ids.len() as f64,
        1.0,
        &run,
    );
    Some(best)
}

/// Still failing the same way?
fn same_failure(best: &Shrunk, report: &Option<SeedReport>) -> bool {
    report
        .as_ref()
        .is_some_and(|r| !r.passed() && r.kind == best.report.kind)
}

/// Delta debugging (ddmin) over the fault starts kept: find a small set of starts
/// that, with every other start skipped, still fails.
fn minimise_faults(best: &mut Shrunk, run: &dyn Fn(&[String]) -> Option<SeedReport>) {
    let total = best.report.fault_starts;
    let mut kept: Vec<u32> = (0..total).collect();
    let try_keep = |best: &mut Shrunk, keep: &[u32]| {
        let skip: Vec<String> = (0..total)
            .filter(|i| !keep.contains(i))
            .map(|i| i.to_string())
            .collect();
        let candidate = with_flag(&best.flags, "--nemesis-skip", &skip.join(","));
        best.tries += 1;
        let report = run(&candidate);
        if same_failure(best, &report) {
            best.flags = candidate;
            best.report = report.expect("checked");
            true
        } else {
            false
        }
    };
    if total == 0 || try_keep(best, &[]) {
        return;
    }
    let mut granularity = 2;
    while kept.len() >= 2 {
        let size = kept.len().div_ceil(granularity);
        let chunks: Vec<Vec<u32>> = kept.chunks(size).map(<[u32]>::to_vec).collect();
        let mut reduced = false;
        for chunk in &chunks {
            if try_keep(best, chunk) {
                kept = chunk.clone();
                granularity = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && chunks.len() > 2 {
            for chunk in &chunks {
                let rest: Vec<u32> = kept
                    .iter()
                    .copied()
                    .filter(|i| !chunk.contains(i))
                    .collect();
                if try_keep(best, &rest) {
                    kept = rest;
                    granularity = (granularity - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if granularity >= kept.len() {
                break;
            }
            granularity = (granularity * 2).min(kept.len());
        }
    }
}

/// Halve (or, for the node count, decrement) flag `name` while the run keeps failing.
fn halve(
    best: &mut Shrunk,
    name: &str,
    initial: f64,
    floor: f64,
    run: &dyn Fn(&[String]) -> Option<SeedReport>,
) {
    {
        let mut current = value_of(&best.flags, name).unwrap_or(initial);
        loop {
            let next = if name == "--node-count" {
                current - 1.0
            } else {
                (current / 2.0).max(floor)
            };
            if next < floor || next >= current {
                break;
            }
            let text = if name == "--node-count" {
                format!("{}", next as usize)
            } else {
                format!("{next}")
            };
            let candidate = with_flag(&best.flags, name, &text);
            best.tries += 1;
            let report = run(&candidate);
            if !same_failure(best, &report) {
                break;
            }
            best.flags = candidate;
            best.report = report.expect("checked");
            current = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_replaced_not_repeated() {
        let flags: Vec<String> = ["-w", "echo", "--rate", "5", "--time-limit=9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = with_flag(&with_flag(&flags, "--rate", "2"), "--time-limit", "3");
        assert_eq!(out, ["-w", "echo", "--rate", "2", "--time-limit", "3"]);
    }
}

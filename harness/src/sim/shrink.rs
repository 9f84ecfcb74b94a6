//! `--shrink`: make a failing seed's run smaller while it keeps failing with the same
//! kind of finding — a shorter time limit, a lower rate (fewer client operations),
//! fewer nodes — and give the flags that replay exactly the smaller run.
//!
//! Not done yet: delta debugging over the nemesis schedule itself (the schedule is
//! still drawn from the seed, so a shorter run keeps a prefix of it).

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
    let start = [
        ("--time-limit", config.time_limit_secs, 1.0),
        ("--rate", config.rate, 0.5),
        ("--node-count", config.node_ids.len() as f64, 1.0),
    ];
    for (name, initial, floor) in start {
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
            match run(&candidate) {
                Some(report) if !report.passed() && report.kind == best.report.kind => {
                    best.flags = candidate;
                    best.report = report;
                    current = next;
                }
                _ => break,
            }
        }
    }
    Some(best)
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

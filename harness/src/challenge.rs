//! `straum challenge NAME --bin NODE`: the Gossip Glomers challenges as presets. Each
//! runs the challenge's published `maelstrom test` command line through `straum
//! test`, then judges the run's `results.json` against the challenge's targets and
//! prints a scorecard: each target, the measured figure, pass or fail, and what to
//! try when it fails.
//!
//! Exit code: the run's own (1 invalid, 2 unknown, 255 crashed, …) when it is not
//! valid; otherwise 0 when every target is met and 1 when one is missed.

use std::path::PathBuf;

use clap::{Args, Parser};
use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::runner::{run_tests, EXIT_BAD_ARGUMENTS, EXIT_INVALID, EXIT_VALID};

/// Flags of `straum challenge`.
#[derive(Debug, Args)]
pub struct ChallengeArgs {
    /// The challenge: 1, 2, 3a, 3b, 3c, 3d, 3e, 4, 5a, 5b, 5c, 6a, 6b or 6c.
    #[arg(value_name = "NAME", required_unless_present = "list")]
    pub name: Option<String>,
    /// The node program to test.
    #[arg(long, value_name = "FILE", required_unless_present = "list")]
    pub bin: Option<PathBuf>,
    /// List the challenges, their commands and targets.
    #[arg(long)]
    pub list: bool,
    /// More `straum test` flags (e.g. `--seed 3`); one the preset also sets replaces
    /// the preset's value.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "TEST FLAGS"
    )]
    pub extra: Vec<String>,
}

/// A figure a challenge sets a bound on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `net.servers.msgs-per-op`: node↔node and node↔service messages per operation.
    ServerMsgsPerOp,
    /// `workload.stable-latencies` 0.5, in ms.
    MedianLatency,
    /// `workload.stable-latencies` 1, in ms.
    MaxLatency,
}

/// A bound a challenge's run must stay under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// What is measured.
    pub measure: Measure,
    /// The figure must be strictly below this.
    pub below: f64,
    /// What to try when it is not.
    pub hint: &'static str,
}

/// One Gossip Glomers challenge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Challenge {
    /// Its number, as on fly.io/dist-sys (`3d`).
    pub name: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The workload (`-w`).
    pub workload: &'static str,
    /// The published flags, as (flag, value) pairs.
    pub flags: &'static [(&'static str, &'static str)],
    /// Bounds besides validity.
    pub targets: &'static [Target],
    /// What to try when the run is not valid.
    pub invalid_hint: &'static str,
}

const BROADCAST_INVALID: &str = "a broadcast did not reach every node: resend gossip until \
                                 each peer acknowledges it, so partitions only delay it";

/// Every challenge, in order.
pub const CHALLENGES: &[Challenge] = &[
    Challenge {
        name: "1",
        title: "Echo",
        workload: "echo",
        flags: &[("--node-count", "1"), ("--time-limit", "10")],
        targets: &[],
        invalid_hint: "answer every echo with echo_ok carrying the same echo value",
    },
    Challenge {
        name: "2",
        title: "Unique ID Generation",
        workload: "unique-ids",
        flags: &[
            ("--time-limit", "30"),
            ("--rate", "1000"),
            ("--node-count", "3"),
            ("--availability", "total"),
            ("--nemesis", "partition"),
        ],
        targets: &[],
        invalid_hint: "ids must be unique across nodes without talking to them: combine \
                       the node id with a counter of the node's own",
    },
    Challenge {
        name: "3a",
        title: "Single-Node Broadcast",
        workload: "broadcast",
        flags: &[
            ("--node-count", "1"),
            ("--time-limit", "20"),
            ("--rate", "10"),
        ],
        targets: &[],
        invalid_hint: "read must return every message the node was sent",
    },
    Challenge {
        name: "3b",
        title: "Multi-Node Broadcast",
        workload: "broadcast",
        flags: &[
            ("--node-count", "5"),
            ("--time-limit", "20"),
            ("--rate", "10"),
        ],
        targets: &[],
        invalid_hint: "forward each new message to the other nodes (the topology's \
                       neighbours), once per node",
    },
    Challenge {
        name: "3c",
        title: "Fault-Tolerant Broadcast",
        workload: "broadcast",
        flags: &[
            ("--node-count", "5"),
            ("--time-limit", "20"),
            ("--rate", "10"),
            ("--nemesis", "partition"),
        ],
        targets: &[],
        invalid_hint: BROADCAST_INVALID,
    },
    Challenge {
        name: "3d",
        title: "Efficient Broadcast, Part I",
        workload: "broadcast",
        flags: EFFICIENT_BROADCAST,
        targets: &[
            Target {
                measure: Measure::ServerMsgsPerOp,
                below: 30.0,
                hint: "batch gossip or use a spanning tree instead of the grid",
            },
            Target {
                measure: Measure::MedianLatency,
                below: 400.0,
                hint: "fewer hops: a flatter tree, or forward at once instead of waiting",
            },
            Target {
                measure: Measure::MaxLatency,
                below: 600.0,
                hint: "bound the hops from any node to all others (at 100 ms a hop, 5 \
                       hops are 500 ms) and the time a message waits in a batch",
            },
        ],
        invalid_hint: BROADCAST_INVALID,
    },
    Challenge {
        name: "3e",
        title: "Efficient Broadcast, Part II",
        workload: "broadcast",
        flags: EFFICIENT_BROADCAST,
        targets: &[
            Target {
                measure: Measure::ServerMsgsPerOp,
                below: 20.0,
                hint: "batch more: gossip on a timer, all new messages for a peer in one \
                       message",
            },
            Target {
                measure: Measure::MedianLatency,
                below: 1000.0,
                hint: "a shorter batching interval or fewer hops",
            },
            Target {
                measure: Measure::MaxLatency,
                below: 2000.0,
                hint: "a shorter batching interval, or fewer hops per message",
            },
        ],
        invalid_hint: BROADCAST_INVALID,
    },
    Challenge {
        name: "4",
        title: "Grow-Only Counter",
        workload: "g-counter",
        flags: &[
            ("--node-count", "3"),
            ("--rate", "100"),
            ("--time-limit", "20"),
            ("--nemesis", "partition"),
        ],
        targets: &[],
        invalid_hint: "final reads must equal the sum of the adds: keep a count per node \
                       (in seq-kv, or gossiped) and read the sum",
    },
    Challenge {
        name: "5a",
        title: "Single-Node Kafka-Style Log",
        workload: "kafka",
        flags: &[
            ("--node-count", "1"),
            ("--concurrency", "2n"),
            ("--time-limit", "20"),
            ("--rate", "1000"),
        ],
        targets: &[],
        invalid_hint: KAFKA_INVALID,
    },
    Challenge {
        name: "5b",
        title: "Multi-Node Kafka-Style Log",
        workload: "kafka",
        flags: MULTI_NODE_KAFKA,
        targets: &[],
        invalid_hint: KAFKA_INVALID,
    },
    Challenge {
        name: "5c",
        title: "Efficient Kafka-Style Log",
        workload: "kafka",
        flags: MULTI_NODE_KAFKA,
        targets: &[],
        invalid_hint: KAFKA_INVALID,
    },
    Challenge {
        name: "6a",
        title: "Single-Node, Totally-Available Transactions",
        workload: "txn-rw-register",
        flags: &[
            ("--node-count", "1"),
            ("--time-limit", "20"),
            ("--rate", "1000"),
            ("--concurrency", "2n"),
            ("--consistency-models", "read-uncommitted"),
        ],
        targets: &[],
        invalid_hint: "answer every txn with its micro-ops, reads filled in with the \
                       key's current value (null if never written)",
    },
    Challenge {
        name: "6b",
        title: "Totally-Available, Read Uncommitted Transactions",
        workload: "txn-rw-register",
        flags: &[
            ("--node-count", "2"),
            ("--concurrency", "2n"),
            ("--time-limit", "20"),
            ("--rate", "1000"),
            ("--consistency-models", "read-uncommitted"),
            ("--availability", "total"),
            ("--nemesis", "partition"),
        ],
        targets: &[],
        invalid_hint: "replicate writes to the other node and keep answering every txn \
                       during partitions (total availability: never refuse)",
    },
    Challenge {
        name: "6c",
        title: "Totally-Available, Read Committed Transactions",
        workload: "txn-rw-register",
        flags: &[
            ("--node-count", "2"),
            ("--concurrency", "2n"),
            ("--time-limit", "20"),
            ("--rate", "1000"),
            ("--consistency-models", "read-committed"),
            ("--availability", "total"),
            ("--nemesis", "partition"),
        ],
        targets: &[],
        invalid_hint: "make only committed, final writes visible: apply a transaction's \
                       writes together, and replicate only its last write of each key",
    },
];

const EFFICIENT_BROADCAST: &[(&str, &str)] = &[
    ("--node-count", "25"),
    ("--time-limit", "20"),
    ("--rate", "100"),
    ("--latency", "100"),
];

const MULTI_NODE_KAFKA: &[(&str, &str)] = &[
    ("--node-count", "2"),
    ("--concurrency", "2n"),
    ("--time-limit", "20"),
    ("--rate", "1000"),
];

const KAFKA_INVALID: &str = "see the anomalies above: offsets unique and increasing per key, \
                             polls from an offset return every message from there on";

/// The challenge called `name`.
pub fn find(name: &str) -> Option<&'static Challenge> {
    CHALLENGES.iter().find(|c| c.name == name)
}

impl Challenge {
    /// The `straum test` arguments for this challenge (after `straum test`): the
    /// preset flags, except those `extra` sets again, then `extra`.
    pub fn test_args(&self, bin: &str, extra: &[String]) -> Vec<String> {
        let overridden = |flag: &str| {
            extra
                .iter()
                .any(|e| e == flag || e.starts_with(&format!("{flag}=")))
        };
        let mut args = vec!["-w".to_string(), self.workload.to_string()];
        args.extend(["--bin".to_string(), bin.to_string()]);
        for (flag, value) in self.flags.iter().filter(|(f, _)| !overridden(f)) {
            args.extend([flag.to_string(), value.to_string()]);
        }
        args.extend(extra.iter().cloned());
        args
    }

    /// The published command, with `NODE` for the binary.
    pub fn command(&self) -> String {
        format!("straum test {}", self.test_args("NODE", &[]).join(" "))
    }
}

/// One line of a scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The target, e.g. `servers msgs-per-op < 30`.
    pub target: String,
    /// The figure measured, e.g. `23.40`.
    pub measured: String,
    /// Whether the target was met.
    pub pass: bool,
    /// What to try, when it was not.
    pub hint: Option<String>,
}

/// Judge a run's results against the challenge's targets: validity first, then each
/// bound, read from the figures the run wrote.
pub fn judge(challenge: &Challenge, results: &Value) -> Vec<Score> {
    let valid = &results["valid?"];
    let verdict = match valid {
        Value::Bool(true) => "valid".to_string(),
        Value::Bool(false) => "invalid".to_string(),
        Value::String(s) => s.clone(),
        _ => "no results".to_string(),
    };
    let pass = valid == &Value::Bool(true);
    let mut scores = vec![Score {
        target: "valid (every checker)".into(),
        measured: verdict.clone(),
        pass,
        hint: (!pass).then(|| format!("{verdict}: {}", challenge.invalid_hint)),
    }];
    for target in challenge.targets {
        let (name, unit, figure) = match target.measure {
            Measure::ServerMsgsPerOp => (
                "servers msgs-per-op",
                "",
                results["net"]["servers"]["msgs-per-op"].as_f64(),
            ),
            Measure::MedianLatency => (
                "median latency",
                " ms",
                results["workload"]["stable-latencies"]["0.5"].as_f64(),
            ),
            Measure::MaxLatency => (
                "max latency",
                " ms",
                results["workload"]["stable-latencies"]["1"].as_f64(),
            ),
        };
        let pass = figure.is_some_and(|f| f < target.below);
        let shown = match (figure, unit) {
            (Some(f), "") => format!("{f:.2}"),
            (Some(f), unit) => format!("{f:.0}{unit}"),
            (None, _) => "not measured".to_string(),
        };
        let bound = format!("{}{unit}", target.below);
        scores.push(Score {
            target: format!("{name} < {bound}"),
            measured: shown.clone(),
            pass,
            hint: (!pass).then(|| format!("{name} {shown} ≥ {bound}: {}", target.hint)),
        });
    }
    scores
}

/// The scorecard as printed.
pub fn scorecard(challenge: &Challenge, scores: &[Score]) -> String {
    let mut out = format!("\nchallenge {} ({})\n", challenge.name, challenge.title);
    let width = scores.iter().map(|s| s.target.len()).max().unwrap_or(0);
    for s in scores {
        out.push_str(&format!(
            "  {:<width$}  {:>14}  {}\n",
            s.target,
            s.measured,
            if s.pass { "PASS" } else { "FAIL" }
        ));
    }
    let failed: Vec<&Score> = scores.iter().filter(|s| !s.pass).collect();
    for s in &failed {
        if let Some(hint) = &s.hint {
            out.push_str(&format!("  hint: {hint}\n"));
        }
    }
    if failed.is_empty() {
        out.push_str(&format!(
            "every target met: challenge {} passed\n",
            challenge.name
        ));
    } else {
        out.push_str(&format!(
            "{} of {} targets missed: challenge {} not passed\n",
            failed.len(),
            scores.len(),
            challenge.name
        ));
    }
    out
}

/// `straum challenge --list`.
pub fn list() -> String {
    let mut out = String::new();
    for c in CHALLENGES {
        let targets: Vec<String> = c
            .targets
            .iter()
            .map(|t| {
                let what = match t.measure {
                    Measure::ServerMsgsPerOp => "msgs-per-op",
                    Measure::MedianLatency => "median ms",
                    Measure::MaxLatency => "max ms",
                };
                format!("{what} < {}", t.below)
            })
            .collect();
        let targets = std::iter::once("valid".to_string())
            .chain(targets)
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "{:<3} {}\n    {}\n    targets: {targets}\n",
            c.name,
            c.title,
            c.command()
        ));
    }
    out
}

/// Run `straum challenge`; returns the exit code (module docs).
pub fn run(args: &ChallengeArgs) -> i32 {
    if args.list {
        print!("{}", list());
        return EXIT_VALID;
    }
    let name = args.name.as_deref().unwrap_or("");
    let Some(challenge) = find(name) else {
        let names: Vec<&str> = CHALLENGES.iter().map(|c| c.name).collect();
        eprintln!(
            "straum: no challenge {name:?}; expected one of: {}",
            names.join(", ")
        );
        return EXIT_BAD_ARGUMENTS;
    };
    let bin = args.bin.as_ref().expect("clap requires --bin");
    let mut argv = vec!["straum".to_string(), "test".to_string()];
    argv.extend(challenge.test_args(&bin.to_string_lossy(), &args.extra));
    let test = match Cli::try_parse_from(&argv) {
        Ok(Cli {
            command: Command::Test(test),
        }) => test,
        Ok(_) => unreachable!("the arguments start with test"),
        Err(e) => {
            let _ = e.print();
            return EXIT_BAD_ARGUMENTS;
        }
    };
    let config = match (*test).into_config(argv.clone()) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("straum: {error}");
            }
            return EXIT_BAD_ARGUMENTS;
        }
    };
    println!("straum: challenge {}: {}", challenge.name, argv.join(" "));
    crate::orphans::become_subreaper();
    let code = run_tests(&config);
    let results = std::fs::read_to_string(config.store.join("current/results.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let scores = judge(challenge, &results);
    print!("{}", scorecard(challenge, &scores));
    if code != EXIT_VALID {
        code
    } else if scores.iter().all(|s| s.pass) {
        EXIT_VALID
    } else {
        EXIT_INVALID
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_preset_parses_as_a_test_command() {
        for c in CHALLENGES {
            let mut argv = vec!["straum".to_string(), "test".to_string()];
            argv.extend(c.test_args("/bin/true", &[]));
            let parsed = Cli::try_parse_from(&argv);
            assert!(parsed.is_ok(), "{}: {:?}", c.name, parsed.err());
        }
        let names: Vec<&str> = CHALLENGES.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["1", "2", "3a", "3b", "3c", "3d", "3e", "4", "5a", "5b", "5c", "6a", "6b", "6c"]
        );
    }

    #[test]
    fn extra_flags_replace_the_presets_own() {
        let c = find("3d").unwrap();
        let args = c.test_args("x", &["--node-count".into(), "5".into(), "--seed=3".into()]);
        assert_eq!(args.iter().filter(|a| *a == "--node-count").count(), 1);
        assert!(args.ends_with(&["--node-count".into(), "5".into(), "--seed=3".into()]));
        assert!(args.contains(&"--latency".to_string()));
    }

    #[test]
    fn targets_are_read_from_the_results_and_misses_get_hints() {
        let c = find("3d").unwrap();
        let results = json!({
            "valid?": true,
            "net": {"servers": {"msgs-per-op": 41.2}},
            "workload": {"stable-latencies": {"0.5": 87, "1": 99}},
        });
        let scores = judge(c, &results);
        let pass: Vec<bool> = scores.iter().map(|s| s.pass).collect();
        assert_eq!(pass, [true, false, true, true]);
        assert_eq!(scores[1].measured, "41.20");
        assert_eq!(
            scores[1].hint.as_deref(),
            Some(
                "servers msgs-per-op 41.20 ≥ 30: batch gossip or use a spanning tree instead \
                 of the grid"
            )
        );
        let card = scorecard(c, &scores);
        assert!(card.contains("1 of 4 targets missed"), "{card}");
        let invalid = judge(find("1").unwrap(), &json!({"valid?": false}));
        assert!(!invalid[0].pass && invalid[0].hint.as_ref().unwrap().contains("echo_ok"));
        let missing = judge(c, &Value::Null);
        assert!(missing.iter().all(|s| !s.pass));
    }
}

//! A validated test configuration.

use std::path::PathBuf;

use straum_workloads::checkers::Availability;

use crate::nemesis::NemesisSpec;
use crate::net::Latency;

/// Everything a test run needs to know, validated.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// Workload name.
    pub workload: String,
    /// Node program as given.
    pub bin: PathBuf,
    /// Arguments for every node.
    pub node_args: Vec<String>,
    /// Server node ids.
    pub node_ids: Vec<String>,
    /// Client workers.
    pub concurrency: usize,
    /// Main phase length in seconds.
    pub time_limit_secs: f64,
    /// Operations per second.
    pub rate: f64,
    /// Node↔node latency.
    pub latency: Latency,
    /// Faults to inject.
    pub nemesis: NemesisSpec,
    /// `--fenced-store-enforce`.
    pub fenced_store_enforce: bool,
    /// `--max-node-rate`.
    pub max_node_rate: u64,
    /// `--bad-lines skip`.
    pub skip_bad_lines: bool,
    /// Where to write a JUnit report, if anywhere.
    pub junit: Option<PathBuf>,
    /// Print the results summary as JSON on stdout.
    pub json: bool,
    /// Availability requirement.
    pub availability: Availability,
    /// `--availability` as given, for the run record.
    pub availability_text: Option<String>,
    /// Seed, if given.
    pub seed: Option<u64>,
    /// Store directory.
    pub store: PathBuf,
    /// Client RPC timeout in milliseconds.
    pub rpc_timeout_ms: u64,
    /// Time limit of searching checkers, in seconds (`--checker-timeout`).
    pub checker_timeout_secs: f64,
    /// Recovery wait before final reads, in seconds.
    pub recovery_time_secs: f64,
    /// Longest accepted node output line.
    pub max_line_bytes: usize,
    /// Echo node stderr to the console.
    pub log_stderr: bool,
    /// Log every message sent.
    pub log_net_send: bool,
    /// Log every message delivered.
    pub log_net_recv: bool,
    /// How many times to run the test (`--test-count`).
    pub test_count: u32,
    /// `--key-count`.
    pub key_count: Option<usize>,
    /// `--topology`.
    pub topology: String,
    /// `--max-writes-per-key`.
    pub max_writes_per_key: usize,
    /// `--max-txn-length`.
    pub max_txn_length: usize,
    /// `--consistency-models` as given.
    pub consistency_models: Option<String>,
    /// The command line as typed, for the reproduce line.
    pub command_line: Vec<String>,
}

/// The command that reproduces a run: the original command line with `--seed SEED`
/// (replacing any given seed), quoted for a POSIX shell.
pub fn reproduce_command(command_line: &[String], seed: u64) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut args = command_line.iter().peekable();
    let mut inserted = false;
    while let Some(arg) = args.next() {
        if arg == "--" {
            if !inserted {
                words.push("--seed".into());
                words.push(seed.to_string());
                inserted = true;
            }
            words.push(arg.clone());
            words.extend(args.by_ref().cloned());
            break;
        }
        if arg == "--seed" {
            args.next();
            continue;
        }
        if arg.starts_with("--seed=") {
            continue;
        }
        words.push(arg.clone());
    }
    if !inserted {
        words.push("--seed".into());
        words.push(seed.to_string());
    }
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn reproduce_replaces_the_seed_and_keeps_node_args_last() {
        assert_eq!(
            reproduce_command(&words("straum test -w echo --seed 5 --bin ./n -- --x"), 9),
            "straum test -w echo --bin ./n --seed 9 -- --x"
        );
        assert_eq!(
            reproduce_command(&words("straum test --seed=5 -w echo"), 9),
            "straum test -w echo --seed 9"
        );
        assert_eq!(
            reproduce_command(&["a b".to_string(), "it's".to_string()], 1),
            "'a b' 'it'\\''s' --seed 1"
        );
    }
}

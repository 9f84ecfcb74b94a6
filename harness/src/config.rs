//! A validated test configuration.

use std::path::PathBuf;

use straum_workloads::checkers::Availability;

use straum_workloads::WorkloadOptions;

use crate::engine::EngineSettings;
use crate::finish::RunRecord;
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
    /// Mode B's settings (`--net real`); `None` for Mode A.
    pub real: Option<crate::realnet::options::RealNetConfig>,
    /// The command line as typed, for the reproduce line.
    pub command_line: Vec<String>,
}

const NS_PER_SEC: f64 = 1e9;

impl TestConfig {
    /// What the workload needs to know about the test.
    pub fn workload_options(&self) -> WorkloadOptions {
        WorkloadOptions {
            node_count: self.node_ids.len(),
            concurrency: self.concurrency,
            key_count: self.key_count,
            max_writes_per_key: Some(self.max_writes_per_key),
            max_txn_length: Some(self.max_txn_length),
            consistency_models: self.consistency_models.clone(),
            topology: self.topology.clone(),
            node_ids: self.node_ids.clone(),
            checker_timeout: std::time::Duration::try_from_secs_f64(self.checker_timeout_secs).ok(),
        }
    }

    /// The engine's settings for one run under `seed` (every backend uses these).
    pub fn engine_settings(&self, seed: u64) -> EngineSettings {
        EngineSettings {
            node_ids: self.node_ids.clone(),
            concurrency: self.concurrency,
            rate: self.rate,
            time_limit: (self.time_limit_secs * NS_PER_SEC) as u64,
            rpc_timeout: self.rpc_timeout_ms * 1_000_000,
            init_timeout: 10_000_000_000,
            setup_timeout: 5_000_000_000,
            recovery_time: (self.recovery_time_secs * NS_PER_SEC) as u64,
            latency: self.latency,
            seed,
            log_net_send: self.log_net_send,
            log_net_recv: self.log_net_recv,
            nemesis: self.nemesis.clone(),
            measure_lateness: false,
            max_node_rate: self.max_node_rate,
            skip_bad_lines: self.skip_bad_lines,
            fenced_store_enforce: self.fenced_store_enforce,
        }
    }

    /// The run record (`test.json`) of one finished run.
    pub fn record(
        &self,
        seed: u64,
        reproduce: String,
        main_start: u64,
        seconds: f64,
        stopped: Option<String>,
        interrupted: bool,
    ) -> RunRecord {
        RunRecord {
            workload: self.workload.clone(),
            node_ids: self.node_ids.clone(),
            concurrency: self.concurrency,
            availability: self.availability_text.clone(),
            topology: self.topology.clone(),
            key_count: self.key_count,
            max_writes_per_key: self.max_writes_per_key,
            max_txn_length: Some(self.max_txn_length),
            consistency_models: self.consistency_models.clone(),
            checker_timeout_secs: Some(self.checker_timeout_secs),
            seed,
            reproduce,
            main_start,
            seconds,
            stopped,
            interrupted,
            real_net: self.real.is_some(),
        }
    }
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

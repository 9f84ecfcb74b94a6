//! The command line: Maelstrom's `test` flags (same names and defaults) plus straum's
//! own, validated into a [`TestConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use straum_workloads::checkers::Availability;

use crate::config::TestConfig;
use crate::nemesis::{NemesisSpec, PartitionShape, Targets};
use crate::net::{Latency, LatencyDist};

/// straum: a Maelstrom-compatible distributed-systems test harness.
#[derive(Debug, Parser)]
#[command(name = "straum", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// straum's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workload against a node binary and check the history.
    Test(Box<TestArgs>),
    /// Check a stored run again and rewrite its results and reports.
    Analyze(AnalyzeArgs),
    /// Browse the store in a web browser.
    Serve(ServeArgs),
    /// Check history files for linearizability (lin-kv histories, Jepsen logs and EDN).
    Check(crate::check::CheckArgs),
    /// Print the RPCs a node must answer for each workload and built-in service.
    Doc(crate::doc::DocArgs),
    /// Run a Gossip Glomers challenge's command and judge it against its targets.
    Challenge(crate::challenge::ChallengeArgs),
    /// Write a starting node for a workload in Rust, Python or Go.
    New(crate::scaffold::NewArgs),
    /// Run a workload against an example node compiled into straum, in process on
    /// virtual time, over many seeds.
    Sim(Box<crate::sim::command::SimArgs>),
    /// Combine the summaries of several `straum sim` shards.
    SimMerge(crate::sim::command::SimMergeArgs),
    /// Remove the network namespaces and links a killed straum left behind.
    Clean(crate::realnet::clean::CleanArgs),
    /// Create a real-network cluster and hold it until SIGINT/SIGTERM (for tests).
    #[command(hide = true)]
    RealnetHold(crate::realnet::hold::HoldArgs),
}

/// Flags of `straum analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The run directory to analyze (default: the store's latest run).
    #[arg(value_name = "RUN")]
    pub run: Option<PathBuf>,
    /// Directory holding test runs.
    #[arg(long, default_value = "store", value_name = "DIR")]
    pub store: PathBuf,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the results summary as JSON on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `straum serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, default_value = "8080")]
    pub port: u16,
    /// Directory holding test runs.
    #[arg(long, default_value = "store", value_name = "DIR")]
    pub store: PathBuf,
}

/// Flags of `straum test` (Maelstrom's names and defaults).
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Workload to run.
    #[arg(short = 'w', long, default_value = "lin-kv")]
    pub workload: String,
    /// The node program to test.
    #[arg(long, value_name = "FILE")]
    pub bin: Option<PathBuf>,
    /// Run NUM nodes named n0…n(NUM-1) (default: n1…n5).
    #[arg(long, value_name = "NUM")]
    pub node_count: Option<usize>,
    /// A node name (repeatable); replaced by --node-count.
    #[arg(short = 'n', long = "node", value_name = "NAME")]
    pub node: Vec<String>,
    /// Comma-separated node names; replaced by --node-count.
    #[arg(long, value_name = "LIST")]
    pub nodes: Option<String>,
    /// Seconds of client operations in the main phase.
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    pub time_limit: f64,
    /// Target operations per second across all clients (0 = none).
    #[arg(long, default_value = "5")]
    pub rate: f64,
    /// Client workers: K, or Kn for K per node.
    #[arg(long, default_value = "1n", value_name = "NUMBER")]
    pub concurrency: String,
    /// Mean node↔node latency in milliseconds.
    #[arg(long, default_value = "0", value_name = "MILLIS")]
    pub latency: u64,
    /// Latency distribution: constant, uniform, exponential or normal.
    #[arg(long, default_value = "constant", value_name = "TYPE")]
    pub latency_dist: String,
    /// Faults to inject, comma-separated: partition, drop, latency, duplicate, kill,
    /// pause, clock.
    #[arg(long, value_name = "FAULTS")]
    pub nemesis: Option<String>,
    /// Mean seconds between nemesis operations.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub nemesis_interval: f64,
    /// Fault starts to leave out, comma-separated, numbered from 0 in the order they
    /// come due (what `straum sim --shrink` prints).
    #[arg(long, value_name = "LIST")]
    pub nemesis_skip: Option<String>,
    /// Partition shapes to choose from, comma-separated: one, majority,
    /// minority-third, majorities-ring (Maelstrom's four, the default), bridge,
    /// one-way, or `all` for all six.
    #[arg(
        long,
        default_value = "one,majority,minority-third,majorities-ring",
        value_name = "SHAPES"
    )]
    pub partition_shapes: String,
    /// Probability that a node↔node message is lost while the drop fault is on.
    #[arg(long, default_value = "0.2", value_name = "P")]
    pub drop_rate: f64,
    /// Probability that a node↔node message is delivered twice while the duplicate
    /// fault is on.
    #[arg(long, default_value = "0.2", value_name = "P")]
    pub duplicate_rate: f64,
    /// Which nodes kill and pause hit, chosen per fault from this list.
    #[arg(
        long,
        default_value = "one,minority,majority,all",
        value_name = "TARGETS"
    )]
    pub nemesis_targets: String,
    /// Largest wall-clock offset the clock fault gives a node, in milliseconds.
    #[arg(long, default_value = "10000", value_name = "MILLIS")]
    pub clock_skew: u64,
    /// Whether the fenced-store service refuses writes whose token is older than the
    /// highest it accepted (error 30).
    #[arg(long, default_value = "false", value_name = "true|false", action = clap::ArgAction::Set)]
    pub fenced_store_enforce: bool,
    /// Most messages one node may send within one second before the run stops and
    /// reports it as flooding.
    #[arg(long, default_value = "250000", value_name = "MESSAGES")]
    pub max_node_rate: u64,
    /// Broadcast topology.
    #[arg(long, default_value = "grid", value_name = "SPEC")]
    pub topology: String,
    /// Required availability: `total` or a fraction in [0, 1].
    #[arg(long, value_name = "EXPECTED")]
    pub availability: Option<String>,
    /// Consistency models for transactional workloads.
    #[arg(long, value_name = "MODELS")]
    pub consistency_models: Option<String>,
    /// Active keys for keyed generators.
    #[arg(long, value_name = "INT")]
    pub key_count: Option<usize>,
    /// Maximum micro-operations per transaction.
    #[arg(long, default_value = "4", value_name = "INT")]
    pub max_txn_length: usize,
    /// Writes per key before the key is retired.
    #[arg(long, default_value = "16", value_name = "INT")]
    pub max_writes_per_key: usize,
    /// Echo node stderr to the console (always written to node-logs/).
    #[arg(long)]
    pub log_stderr: bool,
    /// Log every message sent.
    #[arg(long)]
    pub log_net_send: bool,
    /// Log every message delivered.
    #[arg(long)]
    pub log_net_recv: bool,
    /// Run the test this many times, stopping at the first run that is not valid.
    #[arg(long, default_value = "1", value_name = "NUMBER")]
    pub test_count: u32,
    /// Seed for every random choice (random if absent; always printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory holding test runs.
    #[arg(long, default_value = "store", value_name = "DIR")]
    pub store: PathBuf,
    /// Milliseconds a client waits for a reply [default: 5000; lin-kv: max(10 × latency, 1000)].
    #[arg(long, value_name = "MILLIS")]
    pub rpc_timeout: Option<u64>,
    /// Seconds a searching checker (lin-kv's linearizability) may take before it
    /// answers unknown.
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    pub checker_timeout: f64,
    /// Seconds to wait after healing before final reads (workloads with a final phase).
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub recovery_time: f64,
    /// Also write a JUnit XML report here (one testcase per checker).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the results summary as JSON on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// What to do with node output that is not a usable message: `stop` the run with a
    /// report, or `skip` it with a warning (closer to Maelstrom, which ignores the node
    /// from then on).
    #[arg(long, default_value = "stop", value_name = "stop|skip")]
    pub bad_lines: String,
    /// Longest accepted node output line, in bytes.
    #[arg(long, default_value = "16777216", value_name = "BYTES")]
    pub max_line_bytes: usize,
    /// Mode B: real services on a real network.
    #[command(flatten)]
    pub real: crate::realnet::options::RealNetArgs,
    /// Arguments passed to every node (put them after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "NODE_ARGS"
    )]
    pub node_args: Vec<String>,
}

impl TestArgs {
    /// Validate into a run configuration; every problem found is listed.
    pub fn into_config(self, command_line: Vec<String>) -> Result<TestConfig, Vec<String>> {
        let mut errors = Vec::new();
        let bin = match &self.bin {
            Some(bin) => bin.clone(),
            None if self.real.net == "real" => PathBuf::new(),
            None => {
                errors.push("Expected a --bin PATH_TO_BINARY to test".to_string());
                PathBuf::new()
            }
        };
        let node_ids = node_ids(&self, &mut errors);
        let concurrency =
            parse_concurrency(&self.concurrency, node_ids.len()).unwrap_or_else(|e| {
                errors.push(e);
                1
            });
        if !(self.time_limit > 0.0 && self.time_limit.is_finite()) {
            errors.push(format!(
                "--time-limit must be a positive number of seconds, got {}",
                self.time_limit
            ));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            errors.push(format!(
                "--rate must be zero or positive, got {}",
                self.rate
            ));
        }
        if !(self.recovery_time >= 0.0 && self.recovery_time.is_finite()) {
            errors.push(format!(
                "--recovery-time must be zero or positive, got {}",
                self.recovery_time
            ));
        }
        if self.rpc_timeout == Some(0) {
            errors.push("--rpc-timeout must be positive".into());
        }
        if !(self.checker_timeout > 0.0 && self.checker_timeout.is_finite()) {
            errors.push(format!(
                "--checker-timeout must be a positive number of seconds, got {}",
                self.checker_timeout
            ));
        }
        let dist = LatencyDist::parse(&self.latency_dist).unwrap_or_else(|e| {
            errors.push(e);
            LatencyDist::Constant
        });
        let latency = Latency {
            mean_ms: self.latency,
            dist,
        };
        if let Err(e) = latency.validate() {
            errors.push(e);
        }
        let availability = match &self.availability {
            None => Availability::Any,
            Some(text) => Availability::parse(text).unwrap_or_else(|e| {
                errors.push(e);
                Availability::Any
            }),
        };
        let skip_bad_lines = match self.bad_lines.as_str() {
            "stop" => false,
            "skip" => true,
            other => {
                errors.push(format!("--bad-lines expects stop or skip, got {other:?}"));
                false
            }
        };
        let faults = NemesisSpec::parse_faults(self.nemesis.as_deref().unwrap_or(""))
            .unwrap_or_else(|e| {
                errors.push(e);
                Vec::new()
            });
        let skip: Vec<u32> = match &self.nemesis_skip {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|s| match s.parse() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        errors.push(format!(
                            "--nemesis-skip expects comma-separated start numbers, got {s:?}"
                        ));
                        None
                    }
                })
                .collect(),
        };
        if !(self.nemesis_interval > 0.0 && self.nemesis_interval.is_finite()) {
            errors.push(format!(
                "--nemesis-interval must be a positive number of seconds, got {}",
                self.nemesis_interval
            ));
        }
        let shapes = PartitionShape::parse_list(&self.partition_shapes).unwrap_or_else(|e| {
            errors.push(e);
            PartitionShape::ALL.to_vec()
        });
        if shapes.is_empty() {
            errors.push("--partition-shapes must name at least one shape".into());
        }
        let targets = Targets::parse_list(&self.nemesis_targets).unwrap_or_else(|e| {
            errors.push(e);
            Targets::ALL.to_vec()
        });
        if targets.is_empty() {
            errors.push("--nemesis-targets must name at least one target".into());
        }
        for (flag, p) in [
            ("--drop-rate", self.drop_rate),
            ("--duplicate-rate", self.duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                errors.push(format!("{flag} must be a probability in [0, 1], got {p}"));
            }
        }
        let real = self
            .real
            .validate(self.bin.is_some(), &faults, self.latency, &mut errors);
        let options = straum_workloads::WorkloadOptions {
            node_count: node_ids.len(),
            concurrency,
            key_count: self.key_count,
            max_writes_per_key: Some(self.max_writes_per_key),
            max_txn_length: Some(self.max_txn_length),
            consistency_models: self.consistency_models.clone(),
            topology: self.topology.clone(),
            node_ids: node_ids.clone(),
            checker_timeout: Duration::try_from_secs_f64(self.checker_timeout).ok(),
        };
        let rpc_timeout_ms = match straum_workloads::build(&self.workload, &options) {
            Ok(workload) => self
                .rpc_timeout
                .unwrap_or_else(|| workload.default_rpc_timeout(self.latency).as_millis() as u64),
            Err(e) => {
                errors.push(e);
                0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TestConfig {
            workload: self.workload,
            bin,
            node_args: self.node_args,
            node_ids,
            concurrency,
            time_limit_secs: self.time_limit,
            rate: self.rate,
            latency,
            nemesis: NemesisSpec {
                faults,
                interval_secs: self.nemesis_interval,
                shapes,
                drop_rate: self.drop_rate,
                duplicate_rate: self.duplicate_rate,
                latency_mean_ms: self.latency,
                targets,
                clock_skew_ms: self.clock_skew,
                skip,
            },
            fenced_store_enforce: self.fenced_store_enforce,
            max_node_rate: self.max_node_rate,
            skip_bad_lines,
            junit: self.junit,
            json: self.json,
            availability,
            availability_text: self.availability.clone(),
            seed: self.seed,
            store: self.store,
            rpc_timeout_ms,
            checker_timeout_secs: self.checker_timeout,
            recovery_time_secs: self.recovery_time,
            max_line_bytes: self.max_line_bytes,
            log_stderr: self.log_stderr,
            log_net_send: self.log_net_send,
            log_net_recv: self.log_net_recv,
            test_count: self.test_count,
            key_count: self.key_count,
            max_writes_per_key: self.max_writes_per_key,
            max_txn_length: self.max_txn_length,
            consistency_models: self.consistency_models,
            topology: self.topology.clone(),
            real,
            command_line,
        })
    }
}

fn node_ids(args: &TestArgs, errors: &mut Vec<String>) -> Vec<String> {
    if let Some(count) = args.node_count {
        if count == 0 {
            errors.push("--node-count must be at least 1".into());
            return vec!["n0".into()];
        }
        return (0..count).map(|i| format!("n{i}")).collect();
    }
    if let Some(list) = &args.nodes {
        return list.split(',').map(|s| s.trim().to_string()).collect();
    }
    if !args.node.is_empty() {
        return args.node.clone();
    }
    (1..=5).map(|i| format!("n{i}")).collect()
}

/// Parse `--concurrency`: `K` or `Kn` (K per node).
pub fn parse_concurrency(text: &str, node_count: usize) -> Result<usize, String> {
    let (digits, per_node) = match text.strip_suffix('n') {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    let k: usize = digits
        .parse()
        .ok()
        .filter(|k| *k > 0)
        .ok_or_else(|| format!("--concurrency expects K or Kn with K ≥ 1, got {text:?}"))?;
    Ok(if per_node { k * node_count } else { k })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TestConfig, Vec<String>> {
        let mut argv = vec!["straum", "test"];
        argv.extend_from_slice(args);
        let Command::Test(test) = Cli::try_parse_from(&argv).unwrap().command else {
            panic!("parsed as another command");
        };
        test.into_config(vec![])
    }

    #[test]
    fn defaults_follow_maelstrom() {
        let config = parse(&["-w", "echo", "--bin", "/bin/cat"]).unwrap();
        assert_eq!(config.node_ids, vec!["n1", "n2", "n3", "n4", "n5"]);
        assert_eq!(config.concurrency, 5);
        assert_eq!(config.rate, 5.0);
        assert_eq!(config.time_limit_secs, 60.0);
        let config = parse(&[
            "-w",
            "echo",
            "--bin",
            "x",
            "--node-count",
            "3",
            "--concurrency",
            "2n",
        ])
        .unwrap();
        assert_eq!(config.node_ids, vec!["n0", "n1", "n2"]);
        assert_eq!(config.concurrency, 6);
    }

    #[test]
    fn node_arguments_follow_the_double_dash() {
        let config = parse(&["-w", "echo", "--bin", "x", "--", "--verbose", "-x"]).unwrap();
        assert_eq!(config.node_args, vec!["--verbose", "-x"]);
    }

    #[test]
    fn every_problem_is_reported() {
        let errors =
            parse(&["-w", "nope", "--concurrency", "0", "--availability", "2"]).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("--bin"));
        assert!(errors.iter().any(|e| e.contains("unknown workload")));
        if let Some(planned) = straum_workloads::PLANNED.first() {
            let errors = parse(&["-w", planned, "--bin", "x"]).unwrap_err();
            assert!(errors[0].contains("not implemented"));
        }
        let errors = parse(&[
            "-w",
            "broadcast",
            "--bin",
            "x",
            "--topology",
            "star",
            "--nemesis",
            "explode",
            "--latency-dist",
            "uniform",
            "--drop-rate",
            "2",
            "--partition-shapes",
            "ring",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.contains("needs --latency greater than 0")));
        assert!(errors
            .iter()
            .any(|e| e.contains("unknown fault \"explode\"")));
        assert!(errors.iter().any(|e| e.contains("star")));
    }

    #[test]
    fn transactional_options_reach_the_workload() {
        let config = parse(&[
            "-w",
            "txn-rw-register",
            "--bin",
            "x",
            "--consistency-models",
            "read-committed",
            "--max-txn-length",
            "2",
        ])
        .unwrap();
        assert_eq!(config.consistency_models.as_deref(), Some("read-committed"));
        assert_eq!(config.max_txn_length, 2);
        let errors = parse(&[
            "-w",
            "txn-list-append",
            "--bin",
            "x",
            "--consistency-models",
            "serializable,bogus",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("--consistency-models") && errors[0].contains("\"bogus\""));
        let errors = parse(&[
            "-w",
            "txn-list-append",
            "--bin",
            "x",
            "--max-txn-length",
            "0",
        ])
        .unwrap_err();
        assert!(errors[0].contains("--max-txn-length must be at least 1"));
    }

    #[test]
    fn concurrency_forms() {
        assert_eq!(parse_concurrency("3", 5), Ok(3));
        assert_eq!(parse_concurrency("2n", 5), Ok(10));
        assert!(parse_concurrency("n", 5).is_err());
        assert!(parse_concurrency("-1", 5).is_err());
    }
}

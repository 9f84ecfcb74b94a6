//! End-to-end tests of `straum sim` and `straum sim-merge` through the real binary,
//! and of `straum::sim` as a library: the buggy example is caught and its reproduce
//! line replays the failure, runs are deterministic, shards merge to the unsharded
//! result, and every example's verdict matches its run as processes.

mod support;

use std::collections::BTreeSet;

use straum::sim::run::{run_seed, RunMode};
use straum::sim::Test;
use straum_node::{Body, Context, Init, Message, Node, RpcError};
use support::{example, s, straum, straum_cmd};

const BROADCAST: &str =
    "sim -w broadcast --node-count 5 --time-limit 20 --rate 10 --nemesis partition";

fn failing_seeds(stdout: &str) -> BTreeSet<u64> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("seed "))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect()
}

#[test]
fn a_sweep_judges_the_network_too_so_unchecked_lease_acts_are_caught_as_stale_actions() {
    // Stale actions are found only in the network journal (what fenced-store
    // accepted), which a sweep's seeds keep on disk just for that analysis.
    let flags = "sim -w lease --node-count 3 --nemesis pause --nemesis-interval 1 \
                 --time-limit 20 --rate 20 --seeds 100";
    let buggy = straum_cmd(&format!("{flags} --node lease-unchecked"));
    assert_eq!(buggy.code, Some(1), "{}", buggy.output());
    assert!(
        !failing_seeds(&buggy.stdout).is_empty(),
        "{}",
        buggy.output()
    );
    assert!(
        buggy
            .stdout
            .contains("fenced-store accepted a stale action"),
        "{}",
        buggy.output()
    );
    let correct = straum_cmd(&format!("{flags} --node lease"));
    assert_eq!(correct.code, Some(0), "{}", correct.output());
}

#[test]
fn broadcast_without_retries_is_caught_within_100_seeds_and_the_reproduce_line_replays_it() {
    let run = straum_cmd(&format!(
        "{BROADCAST} --node broadcast-no-retry --seeds 100"
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let failing = failing_seeds(&run.stdout);
    assert!(!failing.is_empty(), "{}", run.output());
    assert!(run.stdout.contains("was lost"), "{}", run.output());
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("reproduce: straum "))
        .expect("a reproduce line")
        .to_string();
    let first = *failing.iter().next().unwrap();
    assert!(line.ends_with(&format!("--seed {first}")), "{line}");
    let finding = |out: &str| {
        out.lines()
            .find(|l| l.trim().starts_with(&format!("seed {first}:")))
            .map(str::to_string)
    };
    let replay = straum_cmd(&line);
    assert_eq!(replay.code, Some(1), "{}", replay.output());
    assert_eq!(finding(&replay.stdout), finding(&run.stdout));
    // The failing seed's run directory holds the full reports.
    let dir = replay
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("run directory: "))
        .expect("a kept run directory");
    let results = replay.dir.path().join(dir).join("results.json");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    assert_eq!(results["valid?"], false);
}

#[test]
fn the_correct_broadcast_passes_every_seed_deterministically() {
    let run = straum_cmd(&format!(
        "{BROADCAST} --node broadcast --seeds 30 --check-determinism"
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stdout.contains("30 seeds, 30 passed, 0 failed"),
        "{}",
        run.output()
    );
    assert!(!run.stdout.contains("NOT deterministic"));
}

#[test]
fn shards_run_as_separate_processes_merge_to_the_unsharded_result() {
    let scratch = tempfile::tempdir().unwrap();
    let base = format!("{BROADCAST} --node broadcast-no-retry --seeds 40");
    let whole = straum_cmd(&base);
    let mut stores = Vec::new();
    for i in 1..=3 {
        let store = scratch.path().join(format!("shard{i}"));
        let run = straum_cmd(&format!("{base} --shard {i}/3 --store {}", s(&store)));
        assert!(matches!(run.code, Some(0 | 1)), "{}", run.output());
        stores.push(store);
    }
    let mut args = vec!["sim-merge"];
    args.extend(stores.iter().map(|p| s(p)));
    let merged = straum(&args);
    assert_eq!(merged.code, whole.code, "{}", merged.output());
    assert!(merged.stdout.contains("40 seeds"), "{}", merged.output());
    assert_eq!(failing_seeds(&merged.stdout), failing_seeds(&whole.stdout));
}

#[test]
fn an_unknown_example_is_a_usage_error_naming_the_examples() {
    let run = straum_cmd("sim -w broadcast --node nosuch --seeds 1");
    assert_eq!(run.code, Some(254));
    assert!(
        run.stderr.contains("broadcast-no-retry"),
        "{}",
        run.output()
    );
}

#[test]
fn two_runs_of_one_seed_have_identical_history_and_journal_hashes() {
    let config = Test::new("broadcast")
        .nodes(5)
        .time_limit(20.0)
        .rate(10.0)
        .nemesis("partition,pause,kill")
        .config()
        .unwrap();
    let factory =
        |_: &Init| -> Box<dyn Node> { Box::new(straum_examples::broadcast::Broadcast::default()) };
    let a = run_seed(&config, &factory, 7, "", RunMode::default());
    let b = run_seed(&config, &factory, 7, "", RunMode::default());
    assert!(a.ops > 100);
    assert_eq!(
        (a.history_hash, a.journal_hash),
        (b.history_hash, b.journal_hash)
    );
    let other = run_seed(&config, &factory, 8, "", RunMode::default());
    assert_ne!(a.journal_hash, other.journal_hash);
}

/// Echoes, but stamps every reply with the wall clock: not deterministic.
struct WallClockEcho;

impl Node for WallClockEcho {
    fn handle(&mut self, msg: Message, ctx: &mut Context) -> Result<(), RpcError> {
        let echo = msg.body.get("echo").cloned().unwrap_or_default();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let body = Body::new("echo_ok").with("echo", echo).with("at", nanos);
        ctx.reply(&msg, body);
        Ok(())
    }
}

#[test]
fn the_library_api_reports_verdicts_and_catches_a_node_that_reads_the_wall_clock() {
    let verdicts = Test::new("echo")
        .nodes(2)
        .time_limit(2.0)
        .rate(20.0)
        .seeds(0..4)
        .run(|_| straum_examples::echo::Echo);
    assert_eq!(verdicts.outcome.reports.len(), 4);
    verdicts.assert_all_passed();

    let nondeterministic = Test::new("echo")
        .nodes(2)
        .time_limit(2.0)
        .rate(20.0)
        .seeds(0..1)
        .check_determinism(true)
        .run(|_| WallClockEcho);
    let divergence = &nondeterministic.outcome.divergences[0];
    assert!(divergence.first.0.contains("\"at\""), "{divergence:?}");
    let panic = std::panic::catch_unwind(|| nondeterministic.assert_all_passed());
    assert!(panic.is_err());
}

#[test]
fn asserting_a_buggy_node_panics_with_the_seed_and_a_reproduce_line() {
    let verdicts = Test::new("broadcast")
        .nodes(5)
        .time_limit(20.0)
        .rate(10.0)
        .nemesis("partition")
        .seeds(0..5)
        .run(|_| straum_examples::broadcast::Broadcast::without_retries());
    assert!(!verdicts.failing().is_empty());
    let panic = std::panic::catch_unwind(|| verdicts.assert_all_passed()).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("reproduce: .seeds(["), "{text}");
    assert!(text.contains("was lost"), "{text}");
}

/// Every example passes, under the faults it passes as processes, in the simulator too
/// (and gets the same verdict both ways).
#[test]
fn every_example_has_the_same_verdict_as_processes_and_simulated() {
    // (example, workload, flags, node arguments): the faults each passes as processes.
    let partition = "--nemesis partition --nemesis-interval 1";
    let cases = [
        ("echo", "echo", "--node-count 3 --rate 20".to_string(), ""),
        (
            "unique-ids",
            "unique-ids",
            "--node-count 3 --rate 50".into(),
            "",
        ),
        (
            "unique-ids-durable",
            "unique-ids",
            "--node-count 3 --rate 50 --nemesis kill --nemesis-interval 1".into(),
            "-- --durable",
        ),
        (
            "broadcast",
            "broadcast",
            format!("--node-count 5 --rate 10 {partition}"),
            "",
        ),
        (
            "g-set",
            "g-set",
            format!("--node-count 3 --rate 10 {partition}"),
            "",
        ),
        (
            "g-counter",
            "g-counter",
            format!("--node-count 3 --rate 10 {partition}"),
            "",
        ),
        (
            "pn-counter",
            "pn-counter",
            format!("--node-count 3 --rate 10 {partition}"),
            "",
        ),
        (
            "kafka",
            "kafka",
            format!("--node-count 2 --rate 10 --concurrency 2n {partition}"),
            "",
        ),
        (
            "lin-kv",
            "lin-kv",
            format!("--node-count 3 --rate 10 --concurrency 2n {partition}"),
            "",
        ),
        (
            "txn-list-append",
            "txn-list-append",
            format!("--node-count 2 --rate 10 {partition}"),
            "",
        ),
        (
            "txn-rw-register",
            "txn-rw-register",
            "--node-count 2 --rate 10".into(),
            "",
        ),
        (
            "broadcast-flood",
            "broadcast",
            "--node-count 5 --rate 10".into(),
            "",
        ),
        (
            "lease",
            "lease",
            "--node-count 3 --nemesis partition,pause,clock --nemesis-interval 1".into(),
            "",
        ),
    ];
    let common = "--time-limit 3 --recovery-time 1 --seed 5";
    let mut mismatches = Vec::new();
    for (node, workload, flags, node_args) in cases {
        let bin = example(node.trim_end_matches("-durable"));
        let process = straum_cmd(&format!(
            "test -w {workload} --bin {} {flags} {common} {node_args}",
            s(&bin)
        ));
        let sim = straum_cmd(&format!("sim -w {workload} --node {node} {flags} {common}"));
        assert_eq!(
            sim.code,
            Some(0),
            "{node} fails simulated:\n{}",
            sim.output()
        );
        if process.code != sim.code {
            mismatches.push(format!(
                "{node}: process {:?}, sim {:?}\n{}\n{}",
                process.code,
                sim.code,
                process.output(),
                sim.output()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn shrinking_the_buggy_broadcast_gives_a_smaller_run_whose_command_replays_the_failure() {
    let run = straum_cmd(&format!(
        "{BROADCAST} --nemesis-interval 2 --node broadcast-no-retry --seed 0 --shrink"
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: straum "))
        .expect("a replay line")
        .to_string();
    assert!(
        line.contains("--time-limit 10") || line.contains("--time-limit 5"),
        "{line}"
    );
    let replay = straum_cmd(&line);
    assert_eq!(replay.code, Some(1), "{}", replay.output());
    assert!(replay.stdout.contains("was lost"), "{}", replay.output());
}

#[test]
fn kill_rebuilds_nodes_from_the_factory_and_only_durable_storage_survives() {
    let flags = "-w unique-ids --node-count 3 --time-limit 10 --rate 50 --nemesis kill --nemesis-interval 2 --seeds 5";
    let durable = straum_cmd(&format!("sim --node unique-ids-durable {flags}"));
    assert_eq!(durable.code, Some(0), "{}", durable.output());
    let forgetful = straum_cmd(&format!("sim --node unique-ids {flags}"));
    assert_eq!(forgetful.code, Some(1), "{}", forgetful.output());
    assert!(
        forgetful.stdout.contains("was returned 2 times"),
        "{}",
        forgetful.output()
    );
}

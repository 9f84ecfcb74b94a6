//! End to end: hostile node output and process faults. Each hostile behaviour ends the
//! run with exit 255 and a report naming the node and the cause, in bounded time, with
//! no process of the run left alive and the history so far on disk.

mod support;

use support::{assert_stopped_cleanly, example, fixture, s, straum, straum_cmd, Run};

fn hostile(script: &str, extra: &str) -> Run {
    let node = fixture(script);
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 2 --time-limit 10 --rate 20 {extra}",
        s(&node)
    ));
    assert_stopped_cleanly(&run, 10, 2);
    run
}

fn assert_says(run: &Run, texts: &[&str]) {
    for text in texts {
        assert!(
            run.stderr.contains(text),
            "missing {text:?} in\n{}",
            run.output()
        );
    }
}

#[test]
fn json_that_is_not_an_envelope() {
    let run = hostile("not_an_envelope.py", "");
    assert_says(
        &run,
        &[
            "JSON but not a message envelope",
            "missing field `dest`",
            r#"offending line: {"src": "n"#,
        ],
    );
}

#[test]
fn a_message_to_an_unknown_destination() {
    let run = hostile("unknown_dest.py", "");
    assert_says(
        &run,
        &[
            "sent a message to \"n99\"",
            "which is not a node",
            "offending line",
        ],
    );
}

#[test]
fn an_oversized_line_is_rejected_without_reading_it_whole() {
    let run = hostile("oversized_line.py", "--max-line-bytes 1048576");
    assert_says(
        &run,
        &["passed the 1048576-byte limit", "offending line: {"],
    );
}

#[test]
fn a_flood_is_reported() {
    // Far below what any machine's Python writes in a second, so the flood is what
    // the run reports, never the full stdin queue it also causes.
    let run = hostile("flood_sender.py", "--max-node-rate 2000");
    assert_says(
        &run,
        &["is flooding the network", "more than 2000 messages"],
    );
}

#[test]
fn a_node_that_stops_reading_stdin_does_not_deadlock_the_harness() {
    let run = hostile("stops_reading.py", "");
    assert_says(&run, &["node n1", "reading its stdin"]);
}

#[test]
fn a_node_that_closes_stdout() {
    let run = hostile("closes_stdout.py", "");
    assert_says(&run, &["closed its stdout but kept running"]);
}

#[test]
fn a_durable_node_survives_kills_and_a_forgetful_one_repeats_ids() {
    let ids = example("unique-ids");
    let args = |durable: bool| {
        let mut a = vec![
            "test",
            "-w",
            "unique-ids",
            "--bin",
            s(&ids),
            "--node-count",
            "3",
            "--time-limit",
            "6",
            "--rate",
            "200",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "0.5",
            "--nemesis-targets",
            "all",
            "--rpc-timeout",
            "1000",
            "--seed",
            "3",
        ];
        if durable {
            a.extend_from_slice(&["--", "--durable"]);
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let durable = args(true);
    let run = straum(&durable.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "{}", run.output());
    let history = run.history();
    let kills = history.iter().filter(|op| op["f"] == "start-kill").count();
    let restarts = history
        .iter()
        .filter(|op| op["f"] == "stop-kill" && op["value"]["restarted"].is_array())
        .count();
    assert!(
        kills >= 2 && restarts >= 1,
        "{kills} kills, {restarts} restarts"
    );
    assert!(
        run.stdout.contains("nemesis      kill ×"),
        "{}",
        run.output()
    );

    let plain = args(false);
    let run = straum(&plain.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.results()["workload"]["duplicated-count"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn paused_nodes_get_their_messages_after_resuming() {
    let node = example("broadcast");
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 5 --time-limit 5 --rate 20 --nemesis pause --nemesis-interval 1 --recovery-time 3 --seed 8",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert_eq!(run.results()["workload"]["lost-count"], 0);
    let history = run.history();
    assert!(history
        .iter()
        .any(|op| op["f"] == "start-pause" && op["value"]["paused"].is_array()));
    assert!(history.iter().any(|op| op["f"] == "stop-pause"));
}

#[test]
fn bad_lines_can_be_skipped_with_a_warning_instead() {
    let node = fixture("garbage_line.py");
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 1 --time-limit 2 --rate 20 --bad-lines skip",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stderr.contains("skipping (--bad-lines skip)"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("line: DEBUG: handling echo number 10"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr
            .contains("skipped 1 unusable output line from n0"),
        "{}",
        run.output()
    );
}

//! End to end: the files and outputs people read — report files, JUnit, JSON,
//! `straum analyze`, and a reproduce command that reproduces.

mod support;

use std::process::Command;

use support::{example, fixture, s, straum, straum_bin, straum_cmd};

#[test]
fn a_broadcast_run_with_partitions_writes_every_report_file() {
    let node = example("broadcast");
    let junit = tempfile::NamedTempFile::new().unwrap();
    let run = straum_cmd(&format!(
        "test -w broadcast --bin {} --node-count 3 --time-limit 3 --rate 20 --nemesis partition --nemesis-interval 1 --recovery-time 1 --junit {}",
        s(&node),
        s(junit.path())
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let index = std::fs::read_to_string(run.latest("index.html")).unwrap();
    for file in [
        "messages.svg",
        "latency-raw.svg",
        "latency-quantiles.svg",
        "rate.svg",
        "timeline.html",
        "results.json",
        "history.jsonl",
        "net-journal.jsonl",
    ] {
        assert!(run.latest(file).is_file(), "{file} missing");
        assert!(index.contains(file), "index.html does not link {file}");
    }
    let raw = std::fs::read_to_string(run.latest("latency-raw.svg")).unwrap();
    assert!(
        raw.contains("partition"),
        "fault periods are shaded and named"
    );
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(xml.contains("<testsuite name=\"straum.broadcast\" tests=\"6\" failures=\"0\""));
    assert!(run.stdout.contains("report       "), "{}", run.output());
}

#[test]
fn json_goes_to_stdout_and_junit_carries_the_explanation() {
    let node = fixture("echo_alters_every_7th.py");
    let junit = tempfile::NamedTempFile::new().unwrap();
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 1 --time-limit 2 --rate 20 --json --junit {}",
        s(&node),
        s(junit.path())
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(results["valid?"], false);
    assert!(run.stderr.contains("Analysis invalid!"), "{}", run.output());
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<failure message=\"op "), "{xml}");
    assert!(xml.contains("(altered)"), "{xml}");
}

#[test]
fn analyze_rewrites_the_results_of_a_stored_run() {
    let node = fixture("unique_ids_collide.py");
    let run = straum_cmd(&format!(
        "test -w unique-ids --bin {} --node-count 2 --time-limit 1 --rate 50",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let before = run.results();
    std::fs::remove_file(run.latest("results.json")).unwrap();
    std::fs::remove_file(run.latest("messages.svg")).unwrap();
    let analyzed = Command::new(straum_bin())
        .args(["analyze", "--json"])
        .current_dir(run.dir.path())
        .output()
        .unwrap();
    assert_eq!(analyzed.status.code(), Some(1));
    let after = run.results();
    assert_eq!(after["workload"], before["workload"]);
    assert_eq!(after["net"], before["net"]);
    assert!(run.latest("messages.svg").is_file());
    let printed: serde_json::Value = serde_json::from_slice(&analyzed.stdout).unwrap();
    assert_eq!(printed["valid?"], false);
}

#[test]
fn the_reproduce_command_fails_the_same_way() {
    let node = fixture("echo_alters_every_7th.py");
    let findings = |args: &[&str]| {
        let run = straum(args);
        assert_eq!(run.code, Some(1), "{}", run.output());
        let reproduce = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("reproduce    "))
            .expect("a reproduce line")
            .to_string();
        let errors = run.results()["workload"]["errors"].clone();
        (reproduce, errors)
    };
    let (reproduce, first) = findings(&[
        "test",
        "-w",
        "echo",
        "--bin",
        s(&node),
        "--node-count",
        "2",
        "--time-limit",
        "2",
        "--rate",
        "30",
    ]);
    let words: Vec<String> = reproduce.split(' ').map(String::from).collect();
    assert_eq!(words[0], "straum");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let (_, again) = findings(&args);
    assert_eq!(
        first, again,
        "the reproduced run names the same wrong replies"
    );
}

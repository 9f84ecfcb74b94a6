//! End-to-end tests of the learners' commands through the real binary: `straum doc`,
//! `straum challenge` (scorecards judged from real runs) and `straum new` (generated
//! skeletons run as they are written).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{example, s, straum};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `straum new WORKLOAD --lang LANG DIR` into a fresh directory; returns it.
fn new_node(workload: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("node");
    let run = straum(&["new", workload, "--lang", lang, s(&dir)]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("run it:"), "{}", run.output());
    (scratch, dir)
}

#[test]
fn doc_prints_a_workload_and_the_committed_markdown_is_its_output() {
    let run = straum(&["doc", "-w", "broadcast"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    for rpc in [
        "topology → topology_ok",
        "broadcast → broadcast_ok",
        "read → read_ok",
    ] {
        assert!(run.stdout.contains(rpc), "{rpc} missing:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("txn_ok"));
    let markdown = straum(&["doc", "--markdown"]);
    assert_eq!(markdown.code, Some(0));
    let committed = std::fs::read_to_string(repo().join("docs/workloads.md")).unwrap();
    assert!(
        markdown.stdout == committed,
        "docs/workloads.md is stale: `straum doc --markdown > docs/workloads.md`"
    );
    assert_eq!(straum(&["doc", "-w", "nope"]).code, Some(254));
}

#[test]
fn challenge_list_names_every_challenge_and_unknown_names_are_refused() {
    let run = straum(&["challenge", "--list"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    for name in [
        "1", "2", "3a", "3b", "3c", "3d", "3e", "4", "5a", "5b", "5c", "6a", "6b", "6c",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains(
        "straum test -w broadcast --bin NODE --node-count 25 --time-limit 20 --rate 100 --latency 100"
    ));
    assert!(run
        .stdout
        .contains("msgs-per-op < 30, median ms < 400, max ms < 600"));
    let bad = straum(&["challenge", "9z", "--bin", "/bin/true"]);
    assert_eq!(bad.code, Some(254), "{}", bad.output());
}

/// 3d on 10 nodes for 3 s (the full 25-node run is in the README): flooding every
/// peer is correct but misses msgs-per-op, and the scorecard says so; the example
/// node meets every target.
#[test]
fn challenge_3d_fails_a_flooding_node_on_msgs_per_op_and_passes_the_example() {
    let small = [
        "--node-count",
        "10",
        "--time-limit",
        "3",
        "--rate",
        "20",
        "--seed",
        "2",
    ];
    let flood = example("broadcast-flood");
    let mut args = vec!["challenge", "3d", "--bin", s(&flood)];
    args.extend(small);
    let run = straum(&args);
    assert_eq!(run.code, Some(1), "{}", run.output());
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("servers msgs-per-op < 30"))
        .unwrap_or_else(|| panic!("no msgs-per-op line:\n{}", run.stdout));
    assert!(line.ends_with("FAIL"), "{line}");
    assert!(
        run.stdout.contains("hint: servers msgs-per-op") && run.stdout.contains("batch gossip"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 of 4 targets missed"),
        "{}",
        run.stdout
    );

    let good = example("broadcast");
    let mut args = vec!["challenge", "3d", "--bin", s(&good)];
    args.extend(small);
    let run = straum(&args);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("every target met"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("PASS").count(), 4, "{}", run.stdout);
}

#[test]
fn python_broadcast_skeleton_passes_3a_out_of_the_box_but_not_3b() {
    let (_scratch, dir) = new_node("broadcast", "python");
    let bin = dir.join("node.py");
    let run = straum(&["challenge", "3a", "--bin", s(&bin), "--seed", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains("challenge 3a passed"), "{}", run.stdout);
    let run = straum(&[
        "challenge",
        "3b",
        "--bin",
        s(&bin),
        "--time-limit",
        "3",
        "--seed",
        "1",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("hint: invalid"), "{}", run.stdout);
}

/// Every other workload's Python skeleton answers every RPC in the documented shape:
/// the run completes and no reply is a `malformed-rpc-response` (the verdict itself is
/// the learner's TODO; echo's is written out and passes).
#[test]
fn python_skeletons_answer_every_rpc_in_shape() {
    for workload in [
        "echo",
        "unique-ids",
        "g-set",
        "g-counter",
        "pn-counter",
        "kafka",
        "lin-kv",
        "txn-list-append",
        "txn-rw-register",
    ] {
        let (_scratch, dir) = new_node(workload, "python");
        let bin = dir.join("node.py");
        let mut args = vec!["test", "-w", workload, "--bin", s(&bin)];
        args.extend(["--node-count", "1", "--time-limit", "1", "--rate", "20"]);
        args.extend(["--concurrency", "2n"]);
        let run = straum(&args);
        assert!(
            matches!(run.code, Some(0..=2)),
            "{workload}: {}",
            run.output()
        );
        let history = std::fs::read_to_string(run.latest("history.jsonl")).unwrap();
        assert!(
            !history.contains("malformed-rpc-response"),
            "{workload}: a skeleton reply was malformed"
        );
        if workload == "echo" {
            assert_eq!(run.code, Some(0), "{}", run.output());
        }
    }
}

/// The Rust skeleton builds against the SDK (offline, with the workspace's lock file
/// and target directory) and passes 3a.
#[test]
fn rust_broadcast_skeleton_builds_and_passes_3a() {
    let (_scratch, dir) = new_node("broadcast", "rust");
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = support::straum_bin()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "the Rust skeleton does not build");
    let bin = target.join("debug/broadcast-node");
    let run = straum(&["challenge", "3a", "--bin", s(&bin), "--time-limit", "5"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
}

/// Go is not installed in CI; where it is, the Go skeleton builds and passes 3a.
#[test]
fn go_broadcast_skeleton_builds_and_passes_3a_where_go_is_installed() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("note: go is not installed; the Go skeleton was not built");
        return;
    }
    let (_scratch, dir) = new_node("broadcast", "go");
    let status = Command::new("go")
        .arg("build")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "the Go skeleton does not build");
    let bin = dir.join("broadcast-node");
    let run = straum(&["challenge", "3a", "--bin", s(&bin), "--time-limit", "5"]);
    assert_eq!(run.code, Some(0), "{}", run.output());
}

//! End to end: `straum check --model list-append|rw-register` through the real
//! binary on small written histories (EDN and straum's JSONL), valid and invalid,
//! with `--consistency-models`, and with bad input.

mod support;

use std::path::PathBuf;

use support::{s, straum_cmd};

fn elle_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/elle")
        .join(name)
}

fn check(args: &str, file: &str) -> support::Run {
    straum_cmd(&format!("check {args} {}", s(&elle_fixture(file))))
}

#[test]
fn a_serial_list_append_history_is_valid() {
    let run = check("--model list-append", "list_append_serial.edn");
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(run.stdout.contains(": valid (3 txns"), "{}", run.output());
}

#[test]
fn circular_information_flow_is_g1c_with_every_edge_explained() {
    let run = check("--model list-append", "list_append_g1c.edn");
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("INVALID"), "{}", run.output());
    assert!(run.stdout.contains("anomalies: G1c"), "{}", run.output());
    assert!(
        run.stdout.contains("not: [\"read-committed\"]"),
        "{}",
        run.output()
    );
    assert_eq!(run.stdout.matches("(wr)").count(), 2, "{}", run.output());
}

#[test]
fn register_write_skew_depends_on_the_consistency_models() {
    let run = check(
        "--model rw-register --consistency-models serializable",
        "rw_register_write_skew.jsonl",
    );
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("G2-item"), "{}", run.output());
    let run = check(
        "--model rw-register --consistency-models read-committed,read-uncommitted",
        "rw_register_write_skew.jsonl",
    );
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stdout
            .contains("allowed by the models checked: G2-item"),
        "{}",
        run.output()
    );
}

#[test]
fn bad_input_names_the_file_and_line_and_bad_models_are_refused() {
    let run = check("--model list-append", "list_append_bad_line.edn");
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(
        run.stderr.contains("list_append_bad_line.edn:3:"),
        "{}",
        run.output()
    );
    let run = check(
        "--model rw-register --consistency-models serializable,bogus",
        "rw_register_write_skew.jsonl",
    );
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(run.stderr.contains("\"bogus\""), "{}", run.output());
    let run = check(
        "--consistency-models serializable",
        "rw_register_write_skew.jsonl",
    );
    assert_eq!(run.code, Some(254), "{}", run.output());
}

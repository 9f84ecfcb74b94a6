//! End to end: the g-counter and pn-counter workloads on the seq-kv service.

mod support;

use support::{example, fixture, s, straum_cmd};

#[test]
fn g_counter_example_passes_under_partitions() {
    let node = example("g-counter");
    let run = straum_cmd(&format!(
        "test -w g-counter --bin {} --node-count 3 --rate 100 --time-limit 6 --nemesis partition --nemesis-interval 1 --recovery-time 3",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let workload = &run.results()["workload"];
    let finals = workload["final-reads"].as_array().unwrap();
    assert_eq!(finals.len(), 3);
    assert!(finals.iter().all(|v| v == &finals[0]), "final reads agree");
    assert!(run.stdout.contains("final reads"), "{}", run.output());
    // The node talked to seq-kv: server traffic exists although nodes never message
    // each other.
    assert!(
        run.results()["net"]["servers"]["send-count"]
            .as_u64()
            .unwrap()
            > 100
    );
}

#[test]
fn pn_counter_example_passes_under_partitions() {
    let node = example("pn-counter");
    let run = straum_cmd(&format!(
        "test -w pn-counter --bin {} --node-count 3 --rate 100 --time-limit 5 --nemesis partition --nemesis-interval 1 --recovery-time 2",
        s(&node)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
}

#[test]
fn a_lost_update_counter_fails_with_the_out_of_range_reads_named() {
    let node = fixture("counter_lost_update.py");
    let run = straum_cmd(&format!(
        "test -w g-counter --bin {} --node-count 3 --rate 100 --time-limit 4 --recovery-time 1 --seed 41",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.stdout.contains("outside the acceptable range"),
        "{}",
        run.output()
    );
    assert!(!run.results()["workload"]["errors"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Reading seq-kv without forcing a fresh view can return stale sums; whether a given
/// run shows it depends on timing (about half the runs fail), so up to 24 short runs
/// are made: straum stops at the first invalid one, so this usually takes one or two,
/// and all 24 passing by chance is a one-in-ten-million event (8 passed once in CI).
#[test]
fn a_counter_without_the_freshness_trick_observes_stale_final_reads() {
    let node = fixture("counter_stale_reads.py");
    let run = straum_cmd(&format!(
        "test -w g-counter --bin {} --node-count 5 --rate 100 --time-limit 3 --recovery-time 1 --test-count 24",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.stdout.contains("outside the acceptable range"),
        "{}",
        run.output()
    );
}

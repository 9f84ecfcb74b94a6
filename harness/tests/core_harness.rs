//! End to end: the real `straum` binary running real node processes (issue: core
//! harness — echo and unique-ids, errors, teardown, seeds).

mod support;

use std::time::{Duration, Instant};

use support::{assert_stopped_cleanly, example, fixture, s, spawn, straum_cmd};

#[test]
fn echo_example_passes_and_writes_the_store() {
    let echo = example("echo");
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 3 --time-limit 3 --rate 50",
        s(&echo)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stdout.contains("Everything looks good!"),
        "{}",
        run.output()
    );
    let results = run.results();
    assert_eq!(results["valid?"], true);
    assert_eq!(results["workload"]["valid?"], true);
    let invoked = results["stats"]["count"].as_u64().unwrap();
    assert!(invoked > 50, "only {invoked} ops at rate 50 for 3 s");
    // Init and every op are client traffic: 3 inits + 3 init_oks + 2 per op.
    assert_eq!(
        results["net"]["clients"]["send-count"].as_u64().unwrap(),
        6 + 2 * invoked
    );
    assert_eq!(results["net"]["servers"]["send-count"], 0);
    assert!(run.latest("results.edn").exists());
    assert!(run.latest("history.txt").exists());
    assert!(run.latest("node-logs/n2.log").exists());
    assert!(run
        .dir
        .path()
        .join("store/echo/latest/results.json")
        .exists());
    let history = run.history();
    assert_eq!(history.len() as u64, 2 * invoked);
    assert_eq!(history[0]["type"], "invoke");
    assert_eq!(history[0]["f"], "echo");
    // Workers run concurrently, so the first op's completion is the next entry of
    // the same process, not necessarily the second entry.
    let first_completion = history[1..]
        .iter()
        .find(|op| op["process"] == history[0]["process"])
        .unwrap();
    assert_eq!(first_completion["type"], "ok");
    assert_eq!(first_completion["value"]["type"], "echo_ok");
}

#[test]
fn unique_ids_example_passes_at_rate_1000_with_ids_above_2_pow_53() {
    let ids = example("unique-ids");
    let run = straum_cmd(&format!(
        "test -w unique-ids --bin {} --node-count 3 --time-limit 3 --rate 1000 --availability total",
        s(&ids)
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let workload = &run.results()["workload"];
    assert_eq!(workload["duplicated-count"], 0);
    assert!(workload["acknowledged-count"].as_u64().unwrap() > 1000);
    // Ids are (node + 1) << 56 | counter: they only stay distinct if compared exactly.
    let low = workload["range"][0].as_u64().unwrap();
    assert_eq!(low, (1u64 << 56) + 1);
    assert!(workload["range"][1].as_u64().unwrap() > 3u64 << 56);
}

#[test]
fn altered_echoes_fail_and_the_summary_names_an_offending_operation() {
    let node = fixture("echo_alters_every_7th.py");
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 2 --time-limit 2 --rate 50 --seed 7",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stdout.contains("Analysis invalid!"), "{}", run.output());
    assert!(
        run.stdout.contains("but the reply echoed") && run.stdout.contains("(altered)"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("reproduce    straum test"),
        "{}",
        run.output()
    );
    assert!(run.stdout.contains("--seed 7"), "{}", run.output());
    let workload = &run.results()["workload"];
    assert_eq!(workload["valid?"], false);
    assert!(workload["error-count"].as_u64().unwrap() >= 2);
}

#[test]
fn colliding_ids_fail_with_the_duplicate_count() {
    let node = fixture("unique_ids_collide.py");
    let run = straum_cmd(&format!(
        "test -w unique-ids --bin {} --node-count 3 --time-limit 2 --rate 100",
        s(&node)
    ));
    assert_eq!(run.code, Some(1), "{}", run.output());
    let workload = &run.results()["workload"];
    let duplicated = workload["duplicated-count"].as_u64().unwrap();
    assert!(duplicated > 0);
    assert!(
        run.stdout
            .contains(&format!("duplicated-count {duplicated}")),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("was returned 3 times"),
        "{}",
        run.output()
    );
}

/// A crash, a garbage line and a silent init each end the run with exit 255, a
/// paragraph naming the node and the cause, within time-limit + 15 s, with no process
/// of the run left alive and the history so far on disk.
fn assert_crash_report(script: &str, expected: &[&str]) {
    let node = fixture(script);
    let time_limit = 5;
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 3 --time-limit 5 --rate 50",
        s(&node)
    ));
    assert_stopped_cleanly(&run, time_limit, 3);
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "missing {text:?} in\n{}",
            run.output()
        );
    }
    let results = run.results();
    assert!(results["error"].as_str().unwrap().contains(expected[0]));
}

#[test]
fn a_node_that_crashes_mid_run_is_reported_and_its_children_killed() {
    assert_crash_report(
        "crash_mid_run.py",
        &[
            "exited with status 3 during the main phase",
            "simulated crash after 20 echoes",
        ],
    );
}

#[test]
fn with_log_stderr_a_crash_is_echoed_logged_and_reported_alike() {
    // The piped stderr path: each line echoed as "<id> stderr: …", appended to the
    // node's log, and the report's tail read back from that log.
    let node = fixture("crash_mid_run.py");
    let run = straum_cmd(&format!(
        "test -w echo --bin {} --node-count 3 --time-limit 5 --rate 50 --log-stderr",
        s(&node)
    ));
    assert_stopped_cleanly(&run, 5, 3);
    let crashed = ["n0", "n1", "n2"]
        .into_iter()
        .find(|id| {
            run.stderr.contains(&format!(
                "{id} stderr: {id}: simulated crash after 20 echoes"
            ))
        })
        .unwrap_or_else(|| panic!("no echoed crash line in\n{}", run.output()));
    assert!(run
        .stderr
        .contains("exited with status 3 during the main phase"));
    assert!(
        run.stderr.contains("last stderr lines of"),
        "{}",
        run.output()
    );
    let log = std::fs::read_to_string(run.latest(&format!("node-logs/{crashed}.log"))).unwrap();
    assert!(log.contains("simulated crash after 20 echoes"), "{log}");
}

#[test]
fn a_garbage_line_is_reported_with_the_line() {
    assert_crash_report(
        "garbage_line.py",
        &[
            "not well-formed JSON",
            "offending line: DEBUG: handling echo number 10",
        ],
    );
}

#[test]
fn a_node_silent_on_init_is_reported() {
    assert_crash_report(
        "silent_on_init.py",
        &[
            "did not answer init within 10000 ms",
            "got init and will not answer",
        ],
    );
}

#[test]
fn a_missing_binary_is_a_bad_argument() {
    let run = straum_cmd("test -w echo --bin /no/such/node --time-limit 1");
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(
        run.stderr.contains("--bin /no/such/node"),
        "{}",
        run.output()
    );
}

#[test]
fn bad_arguments_are_listed_and_exit_254() {
    let run = straum_cmd("test -w echo --concurrency x --latency-dist normalish");
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(run.stderr.contains("Expected a --bin"), "{}", run.output());
    assert!(run.stderr.contains("--concurrency"), "{}", run.output());
    assert!(run.stderr.contains("--latency-dist"), "{}", run.output());
}

#[test]
fn the_same_seed_gives_the_same_invocations() {
    let echo = example("echo");
    let invocations = |seed: &str| {
        let run = straum_cmd(&format!(
            "test -w echo --bin {} --node-count 3 --time-limit 2 --rate 40 --seed {}",
            s(&echo),
            seed
        ));
        assert_eq!(run.code, Some(0), "{}", run.output());
        assert!(run.stdout.contains(&format!("seed {seed}")));
        assert_eq!(run.results()["seed"].as_u64().unwrap().to_string(), seed);
        run.history()
            .into_iter()
            .filter(|op| op["type"] == "invoke")
            .map(|op| {
                (
                    op["process"].clone(),
                    op["f"].clone(),
                    op["value"].clone(),
                    op["node"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = invocations("1234");
    assert!(first.len() > 20);
    assert_eq!(first, invocations("1234"));
    assert_ne!(first, invocations("4321"));
}

#[test]
fn sigterm_mid_run_stops_every_node_and_keeps_the_history() {
    let node = fixture("crash_mid_run.py");
    let started = Instant::now();
    let (child, dir, pid_dir) = spawn(&[
        "test",
        "-w",
        "echo",
        "--bin",
        s(&node),
        "--node-count",
        "2",
        "--time-limit",
        "30",
        "--rate",
        "5",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let run = support::finish(child, dir, pid_dir, started);
    assert_eq!(run.code, Some(130), "{}", run.output());
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
    assert_eq!(run.surviving_pids(), Vec::<i32>::new());
    assert!(run.recorded_pids() >= 2);
    assert_eq!(run.results()["interrupted"], true);
    assert!(
        !run.history().is_empty(),
        "the history recorded before the signal was lost"
    );
}

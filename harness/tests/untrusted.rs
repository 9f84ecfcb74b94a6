//! End to end: node output that is trusted for nothing. Exact numbers of any size,
//! senders checked against the node that printed the line, replies accepted only from
//! the node a request went to, unusable replies recorded, long lines named while they
//! are still being written, node output abridged wherever it is quoted, and no
//! descendant of a node left alive.

mod support;

use support::{assert_stopped_cleanly, fixture, s, straum_cmd, Run};

fn echo_run(script: &str, nodes: usize, extra: &str) -> Run {
    straum_cmd(&format!(
        "test -w echo --bin {} --node-count {nodes} --time-limit 3 --rate 20 --seed 5 {extra}",
        s(&fixture(script))
    ))
}

fn assert_says(run: &Run, texts: &[&str]) {
    for text in texts {
        assert!(
            run.output().contains(text),
            "missing {text:?} in\n{}",
            run.output()
        );
    }
}

#[test]
fn integers_above_2_to_the_64_stay_exact() {
    let run = straum_cmd(&format!(
        "test -w unique-ids --bin {} --node-count 3 --time-limit 3 --rate 100 --seed 1",
        s(&fixture("unique_ids_huge.py"))
    ));
    assert_eq!(run.code, Some(0), "{}", run.output());
    let results = run.results();
    assert_eq!(results["workload"]["duplicated-count"], 0);
    let history = std::fs::read_to_string(run.latest("history.jsonl")).unwrap();
    // 2^70 = 1180591620717411303424: the ids are written digit for digit, never as floats.
    assert!(
        history.contains("\"value\":11805916207174113034"),
        "{history:.2000}"
    );
    assert!(!history.contains("e+21"));
    let range = results["workload"]["range"].to_string();
    assert!(range.starts_with("[11805916207174113034"), "{range}");
}

#[test]
fn a_node_that_sends_as_someone_else_is_stopped() {
    let run = echo_run("spoofs_src.py", 2, "");
    assert_stopped_cleanly(&run, 3, 2);
    assert_says(
        &run,
        &[
            "claiming to be from \"c0\"",
            "may only send as itself",
            "offending line",
        ],
    );

    let run = echo_run("spoofs_src.py", 2, "--bad-lines skip");
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert_says(
        &run,
        &["skipping (--bad-lines skip)", "claiming to be from \"c0\""],
    );
}

#[test]
fn an_init_ok_counts_only_from_the_node_that_got_the_init() {
    let run = echo_run("forges_init_ok.py", 3, "");
    // The run stops at n0's first forged line, perhaps before n1 and n2 have started.
    assert_stopped_cleanly(&run, 3, 1);
    assert_says(
        &run,
        &[
            "node n0 sent an init_ok reply to c1, the client that sent init to node n1",
            "a reply counts only from the node the request was sent to",
        ],
    );

    let run = echo_run("forges_init_ok.py", 3, "--bad-lines skip");
    assert_stopped_cleanly(&run, 13, 3);
    assert_says(&run, &["node n1 did not answer init"]);
}

#[test]
fn forged_replies_never_complete_an_operation() {
    let run = echo_run("forges_replies.py", 3, "");
    assert_stopped_cleanly(&run, 3, 3);
    assert_says(
        &run,
        &[
            "node n1 sent an echo_ok reply to c",
            "a reply counts only from the node the request was sent to",
        ],
    );

    let run = echo_run("forges_replies.py", 3, "--bad-lines skip");
    assert_eq!(run.code, Some(0), "{}", run.output());
    let forged = run
        .history()
        .into_iter()
        .filter(|op| op.to_string().contains("forged-by-n1"))
        .count();
    assert_eq!(forged, 0, "a forged reply entered the history");
    assert!(run.results()["stats"]["ok-count"].as_u64().unwrap() > 20);
}

#[test]
fn replies_the_client_cannot_use_are_malformed_not_lost() {
    let run = echo_run("malformed_replies.py", 1, "--rpc-timeout 30000");
    let history = run.history();
    let malformed: Vec<String> = history
        .iter()
        .filter(|op| op["type"] == "info")
        .map(|op| op.to_string())
        .collect();
    assert!(malformed.len() >= 15, "{}", run.output());
    for text in &malformed {
        assert!(text.contains("malformed-rpc-response"), "{text}");
    }
    let all = malformed.join("\n");
    assert!(all.contains("recursion limit"), "{all:.3000}");
    assert!(
        all.contains("disallowed key \\\"msg_id\\\" = 1e"),
        "{all:.3000}"
    );
    assert!(
        all.contains("in_reply_to 1e+400 is not an integer"),
        "{all:.3000}"
    );
    assert!(!all.contains(&"[".repeat(300)), "quotes are abridged");
    assert!(!all.contains("net-timeout"));
}

#[test]
fn an_unterminated_long_line_is_named_while_the_node_is_still_writing() {
    let run = echo_run("endless_line.py", 1, "--max-line-bytes 1048576");
    assert_stopped_cleanly(&run, 3, 1);
    assert_says(
        &run,
        &[
            "node n0",
            "passed the 1048576-byte limit",
            "without a newline",
        ],
    );
}

#[test]
fn huge_values_are_abridged_everywhere_but_the_history() {
    let run = echo_run("huge_echo.py", 1, "");
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(
        run.stdout.len() < 100_000,
        "summary of {} bytes",
        run.stdout.len()
    );
    assert!(
        run.output().contains("… (10485762 bytes)"),
        "{:.5000}",
        run.output()
    );
    let dir = run.dir.path().join("store/latest");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "history.jsonl" || name.contains("journal") || path.is_dir() {
            continue;
        }
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 2_000_000, "{name} holds {size} bytes");
    }
    let history = std::fs::metadata(run.latest("history.jsonl"))
        .unwrap()
        .len();
    assert!(history > 10 << 20, "the full value stays in the history");
}

#[test]
fn descendants_that_leave_the_process_group_do_not_survive() {
    let run = echo_run("escaping_grandchild.py", 2, "");
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.recorded_pids() >= 6,
        "fixtures did not record their pids"
    );
    assert_eq!(
        run.surviving_pids(),
        Vec::<i32>::new(),
        "processes outlived the run"
    );
}

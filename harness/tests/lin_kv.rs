//! End to end: the lin-kv workload through the real binary, with nodes that proxy to
//! the built-in services (lin-kv must pass, seq-kv and lww-kv must fail with the stale
//! read explained), and `straum check` on the histories those runs wrote.

mod support;

use support::{fixture, s, straum_cmd, Run};

fn proxy_run(service: &str, seed: u64) -> Run {
    straum_cmd(&format!(
        "test -w lin-kv --bin {} --node-count 3 --concurrency 6 --time-limit 8 --rate 100 --seed {seed} -- {service}",
        s(&fixture("kv_proxy.py"))
    ))
}

#[test]
fn a_proxy_to_lin_kv_passes_and_proxies_to_seq_kv_and_lww_kv_fail_with_the_stale_read_named() {
    let lin = proxy_run("lin-kv", 11);
    assert_eq!(lin.code, Some(0), "{}", lin.output());
    let results = lin.results();
    assert_eq!(results["workload"]["valid?"], true);
    assert!(results["workload"]["op-count"].as_u64().unwrap() > 300);
    assert!(lin.stdout.contains("linearizable: "), "{}", lin.output());

    for service in ["seq-kv", "lww-kv"] {
        let run = proxy_run(service, 12);
        assert_eq!(run.code, Some(1), "{service}: {}", run.output());
        let failures = run.results()["workload"]["failures"].clone();
        assert!(!failures.as_array().unwrap().is_empty(), "{failures}");
        assert!(
            run.stdout.contains("but every order of the")
                && run
                    .stdout
                    .contains("operations before it that respects real time leaves"),
            "{service}: {}",
            run.output()
        );

        // The sentence cites the op, so the terminal puts it on a timeline with its
        // node and the faults around it.
        assert!(
            run.stdout.contains("timeline of the first problems") && run.stdout.contains("▶"),
            "{service}: {}",
            run.output()
        );

        // Each failing key is drawn on a page linked from the index.
        let first = failures[0].as_str().unwrap().to_string();
        let page_name = format!("lin-kv-key-{first}.html");
        let page = std::fs::read_to_string(run.latest(&page_name))
            .unwrap_or_else(|e| panic!("{service}: {page_name}: {e}\n{}", run.output()));
        assert!(page.contains(&format!("<h1>key {first}: not linearizable</h1>")));
        assert!(page.contains("breaks here") && page.contains("<polyline "));
        let index = std::fs::read_to_string(run.latest("index.html")).unwrap();
        assert!(
            index.contains(&format!(
                "<a href=\"{page_name}\">key {first}: not linearizable"
            )),
            "{service}: the index does not link {page_name}"
        );

        // The stored history gives the same verdict offline.
        let checked = straum_cmd(&format!("check {}", s(&run.latest("history.jsonl"))));
        assert_eq!(checked.code, Some(1), "{}", checked.output());
        assert!(checked.stdout.contains("INVALID"), "{}", checked.output());
    }
}

#[test]
fn concurrency_that_is_not_a_multiple_of_twice_the_nodes_is_refused() {
    let run = straum_cmd(&format!(
        "test -w lin-kv --bin {} --node-count 3 --concurrency 4 --time-limit 1",
        s(&fixture("kv_proxy.py"))
    ));
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(
        run.stderr.contains("multiple of 2 × node count = 6"),
        "{}",
        run.output()
    );
}

#[test]
fn check_names_the_file_and_line_of_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    std::fs::write(
        &file,
        "{\"index\":0,\"time\":1,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":[0,null]}\nnot json\n",
    )
    .unwrap();
    let run = straum_cmd(&format!("check {}", s(&file)));
    assert_eq!(run.code, Some(254), "{}", run.output());
    assert!(
        run.stderr.contains("history.jsonl: line 2"),
        "{}",
        run.output()
    );
}

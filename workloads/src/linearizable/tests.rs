use std::time::Duration;

use serde_json::json;

use super::formats::{lin_kv_from_jsonl, parse_edn_kv, parse_edn_ops, parse_jepsen_log};
use super::*;
use crate::history::{Op, OpType, Process};

fn op<I, O>(process: u64, input: I, output: O, call: u64, ret: Option<u64>) -> Operation<I, O> {
    let outcome = if ret.is_some() {
        Outcome::Ok
    } else {
        Outcome::Info
    };
    Operation {
        process,
        input,
        output,
        call,
        ret,
        outcome,
        source: call,
    }
}

fn one_key<I, O>(ops: Vec<Operation<I, O>>) -> Vec<Partition<I, O>> {
    vec![Partition {
        key: "0".to_string(),
        ops,
    }]
}

fn verdict<M: Model>(model: &M, ops: Vec<Operation<M::Input, M::Output>>) -> Validity {
    check(model, &one_key(ops), Clock::Nanos, &CheckOptions::default()).valid
}

use CasInput::{Cas, Read, Write};
use CasOutput::Read as R;

#[test]
fn sequential_register_history_is_valid_and_a_stale_read_is_not() {
    let m = CasRegister::knossos();
    let good = vec![
        op(0, Write(1), CasOutput::Ok, 0, Some(10)),
        op(1, Cas(1, 2), CasOutput::Ok, 20, Some(30)),
        op(0, Read, R(Some(2)), 40, Some(50)),
    ];
    assert_eq!(verdict(&m, good), Validity::Valid);
    let bad = vec![
        op(0, Write(1), CasOutput::Ok, 0, Some(10)),
        op(1, Cas(1, 2), CasOutput::Ok, 20, Some(30)),
        op(0, Read, R(Some(1)), 40, Some(50)),
    ];
    assert_eq!(verdict(&m, bad), Validity::Invalid);
}

#[test]
fn a_nil_read_is_accepted_in_any_state_by_knossos_but_not_by_etcd() {
    let ops = || {
        vec![
            op(0, Write(3), CasOutput::Ok, 0, Some(10)),
            op(1, Read, R(None), 20, Some(30)),
        ]
    };
    assert_eq!(verdict(&CasRegister::knossos(), ops()), Validity::Valid);
    assert_eq!(verdict(&CasRegister::etcd(), ops()), Validity::Invalid);
}

#[test]
fn an_info_write_may_or_may_not_take_effect_but_only_once() {
    let m = CasRegister::knossos();
    let with_reads = |reads: &[i64]| {
        let mut ops = vec![
            op(0, Write(1), CasOutput::Ok, 0, Some(10)),
            op(1, Write(2), CasOutput::Unknown, 20, None),
        ];
        for (i, v) in reads.iter().enumerate() {
            let t = 100 + 20 * i as u64;
            ops.push(op(2, Read, R(Some(*v)), t, Some(t + 10)));
        }
        ops
    };
    assert_eq!(verdict(&m, with_reads(&[1])), Validity::Valid);
    assert_eq!(verdict(&m, with_reads(&[2])), Validity::Valid);
    assert_eq!(verdict(&m, with_reads(&[1, 2])), Validity::Valid);
    assert_eq!(verdict(&m, with_reads(&[2, 1])), Validity::Invalid);
    // it cannot take effect before it was invoked
    let early = vec![
        op(0, Write(1), CasOutput::Ok, 0, Some(10)),
        op(2, Read, R(Some(2)), 11, Some(15)),
        op(1, Write(2), CasOutput::Unknown, 20, None),
    ];
    assert_eq!(verdict(&m, early), Validity::Invalid);
}

#[test]
fn concurrent_ops_linearize_in_either_order_and_intervals_are_closed() {
    let m = CasRegister::knossos();
    for last in [1, 2] {
        let ops = vec![
            op(0, Write(1), CasOutput::Ok, 0, Some(10)),
            op(1, Write(2), CasOutput::Ok, 5, Some(15)),
            op(2, Read, R(Some(last)), 20, Some(30)),
        ];
        assert_eq!(verdict(&m, ops), Validity::Valid, "final read {last}");
    }
    // a read invoked at the instant a write returned may precede it (Porcupine's rule)
    let etcd = CasRegister::etcd();
    let touching = vec![
        op(0, Write(1), CasOutput::Ok, 0, Some(10)),
        op(1, Read, R(None), 10, Some(20)),
    ];
    assert_eq!(verdict(&etcd, touching), Validity::Valid);
    let after = vec![
        op(0, Write(1), CasOutput::Ok, 0, Some(10)),
        op(1, Read, R(None), 11, Some(20)),
    ];
    assert_eq!(verdict(&etcd, after), Validity::Invalid);
}

#[test]
fn a_failed_cas_is_an_observation_in_the_etcd_model() {
    let m = CasRegister::etcd();
    let ops = |from| {
        vec![
            op(0, Write(1), CasOutput::Ok, 0, Some(10)),
            op(1, Cas(from, 3), CasOutput::CasFailed, 20, Some(30)),
        ]
    };
    assert_eq!(verdict(&m, ops(2)), Validity::Valid);
    assert_eq!(verdict(&m, ops(1)), Validity::Invalid);
}

fn straum_op(
    index: u64,
    time: u64,
    kind: OpType,
    process: u64,
    f: &str,
    value: serde_json::Value,
) -> Op {
    Op {
        index,
        time,
        kind,
        process: Process::Client(process),
        f: f.to_string(),
        value,
        error: None,
        exception: None,
        final_read: false,
        node: None,
    }
}

/// A lin-kv history from (process, type, f, value) rows, 1 ms apart.
fn lin_kv(rows: &[(u64, OpType, &str, serde_json::Value)]) -> Vec<Op> {
    rows.iter()
        .enumerate()
        .map(|(i, (p, kind, f, v))| {
            straum_op(i as u64, i as u64 * 1_000_000, *kind, *p, f, v.clone())
        })
        .collect()
}

#[test]
fn failed_ops_never_happened_in_a_lin_kv_history() {
    use OpType::*;
    let history = lin_kv(&[
        (0, Invoke, "write", json!([5, 1])),
        (0, Ok, "write", json!([5, 1])),
        (1, Invoke, "cas", json!([5, [1, 2]])),
        (1, Fail, "cas", json!([5, [1, 2]])),
        (2, Invoke, "read", json!([5, null])),
        (2, Ok, "read", json!([5, 1])),
    ]);
    let report = check_lin_kv(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.valid, Validity::Valid);
    assert_eq!(report.key("5").unwrap().op_count, 2);
}

/// Process 3 writes 2 then 4 to key 3; process 7 then reads 2 (stale); process 8
/// reads an unwritten key 4.
fn stale_read_on_key_3() -> Vec<Op> {
    use OpType::*;
    lin_kv(&[
        (3, Invoke, "write", json!([3, 2])),
        (3, Ok, "write", json!([3, 2])),
        (3, Invoke, "write", json!([3, 4])),
        (3, Ok, "write", json!([3, 4])),
        (7, Invoke, "read", json!([3, null])),
        (7, Ok, "read", json!([3, 2])),
        (8, Invoke, "read", json!([4, null])),
        (8, Ok, "read", json!([4, null])),
    ])
}

#[test]
fn a_stale_read_is_explained_in_one_sentence() {
    let history = stale_read_on_key_3();
    let report = check_lin_kv(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(report.failures, vec!["3"]);
    let failure = report.key("3").unwrap().failure.as_ref().unwrap();
    assert_eq!(
        failure.explanation,
        "key 3: process 7 read 2 at 0.005 s, but every order of the 2 operations before it \
         that respects real time leaves 4 in the register (process 3 wrote 4, ok at 0.003 s)"
    );
    assert_eq!(failure.op.process, 7);
    assert_eq!(
        failure.previous_ok.as_ref().unwrap().description,
        "write(4) -> ok"
    );
    assert_eq!(failure.longest.len(), 2);
    let timeline = report.key("3").unwrap().timeline.as_ref().unwrap();
    assert_eq!(timeline.states, vec!["2", "4"]);
    assert_eq!(timeline.break_op, Some(failure.op.id));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["valid?"], json!(false));
    assert_eq!(json["failures"], json!(["3"]));
    assert_eq!(json["results"]["4"]["valid?"], json!(true));
    assert_eq!(json["results"]["3"]["failure"]["op"]["process"], json!(7));
}

/// `width` concurrent appends of distinct strings, then a get nothing can explain:
/// the search must visit every subset and order of them.
fn hard_kv(width: u64) -> Vec<Partition<KvInput, KvOutput>> {
    let mut ops: Vec<_> = (0..width)
        .map(|p| {
            op(
                p,
                KvInput::Append(format!("<{p}>")),
                KvOutput(None),
                0,
                Some(100),
            )
        })
        .collect();
    ops.push(op(
        width,
        KvInput::Get,
        KvOutput(Some("nope".into())),
        200,
        Some(300),
    ));
    one_key(ops)
}

#[test]
fn a_search_past_its_time_limit_is_unknown_with_what_it_found() {
    let options = CheckOptions {
        timeout: Some(Duration::from_millis(200)),
        ..CheckOptions::default()
    };
    let started = std::time::Instant::now();
    let report = check(&KvModel, &hard_kv(22), Clock::Events, &options);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.valid, Validity::Unknown);
    assert_eq!(report.unknown, vec!["0"]);
    let key = &report.results[0];
    assert!(
        key.reason.as_ref().unwrap().contains("time limit"),
        "{:?}",
        key.reason
    );
    assert!(key.linearized > 0);
    // the per-key limit alone stops it too
    let options = CheckOptions {
        timeout: None,
        key_timeout: Some(Duration::from_millis(100)),
        ..CheckOptions::default()
    };
    assert_eq!(
        check(&KvModel, &hard_kv(22), Clock::Events, &options).valid,
        Validity::Unknown
    );
}

#[test]
fn a_search_past_its_memory_cap_is_unknown() {
    let options = CheckOptions {
        memory_limit: 4 << 20,
        ..CheckOptions::default()
    };
    let report = check(&KvModel, &hard_kv(22), Clock::Events, &options);
    assert_eq!(report.valid, Validity::Unknown);
    let key = &report.results[0];
    assert!(
        key.reason.as_ref().unwrap().contains("memory cap"),
        "{:?}",
        key.reason
    );
    assert!(key.cache_bytes <= 5 << 20, "{}", key.cache_bytes);
    // and with room to finish, the same history is invalid
    assert_eq!(
        check(&KvModel, &hard_kv(6), Clock::Events, &options).valid,
        Validity::Invalid
    );
}

#[test]
fn kv_model_histories() {
    let good = vec![
        op(0, KvInput::Put("a".into()), KvOutput(None), 0, Some(10)),
        op(1, KvInput::Append("b".into()), KvOutput(None), 5, Some(15)),
        op(2, KvInput::Get, KvOutput(Some("ab".into())), 20, Some(30)),
    ];
    assert_eq!(verdict(&KvModel, good), Validity::Valid);
    let bad = vec![
        op(0, KvInput::Put("a".into()), KvOutput(None), 0, Some(10)),
        op(1, KvInput::Append("b".into()), KvOutput(None), 20, Some(30)),
        op(2, KvInput::Get, KvOutput(Some("ba".into())), 40, Some(50)),
    ];
    assert_eq!(verdict(&KvModel, bad), Validity::Invalid);
}

#[test]
fn a_long_sequential_history_checks_without_recursion() {
    let ops: Vec<_> = (0..100_000u64)
        .map(|i| {
            let t = i * 10;
            if i % 2 == 0 {
                op(0, Write(i as i64), CasOutput::Ok, t, Some(t + 5))
            } else {
                op(1, Read, R(Some(i as i64 - 1)), t, Some(t + 5))
            }
        })
        .collect();
    assert_eq!(verdict(&CasRegister::knossos(), ops), Validity::Valid);
}

#[test]
fn many_keys_are_checked_in_parallel() {
    let partitions: Vec<_> = (0..50)
        .map(|k| Partition {
            key: k.to_string(),
            ops: vec![
                op(0, Write(k), CasOutput::Ok, 0, Some(10)),
                op(1, Read, R(Some(if k == 17 { 0 } else { k })), 20, Some(30)),
            ],
        })
        .collect();
    let options = CheckOptions {
        threads: 4,
        ..CheckOptions::default()
    };
    let report = check(&CasRegister::knossos(), &partitions, Clock::Nanos, &options);
    assert_eq!(report.failures, vec!["17"]);
    assert_eq!(report.results.len(), 50);
}

#[test]
fn parsers_read_each_format_and_name_the_bad_line() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
               some other line\n\
               INFO  jepsen.util - 0\t:ok\t:write\t3\n\
               INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n\
               INFO  jepsen.util - 1\t:fail\t:cas\t[3 4]\n";
    let parts = parse_jepsen_log(log).unwrap();
    assert_eq!(parts[0].ops.len(), 2);
    assert_eq!(parts[0].ops[1].output, CasOutput::CasFailed);
    assert_eq!(
        check(
            &CasRegister::etcd(),
            &parts,
            Clock::Events,
            &CheckOptions::default()
        )
        .valid,
        Validity::Invalid
    );
    let bad =
        "INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\tthree\n";
    let err = parse_jepsen_log(bad).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(
        err.to_string().starts_with("line 2: expected an integer"),
        "{err}"
    );
    let orphan = parse_jepsen_log("INFO  jepsen.util - 4\t:ok\t:read\t1\n").unwrap_err();
    assert!(
        orphan
            .to_string()
            .contains("without an invocation by process 4"),
        "{orphan}"
    );

    let edn = "{:process 0, :type :invoke, :f :put, :key \"6\", :value \"x\"}\n\
               {:process 1, :type :invoke, :f :get, :key \"6\", :value nil}\n\
               {:process 0, :type :ok, :f :put, :key \"6\", :value \"x\"}\n\
               {:process 1, :type :ok, :f :get, :key \"6\", :value \"x\"}\n";
    let parts = parse_edn_kv(edn).unwrap();
    assert_eq!(parts[0].key, "6");
    assert_eq!(parts[0].ops[1].output, KvOutput(Some("x".into())));
    let err =
        parse_edn_kv("\n{:process 0, :type :invoke, :f :get, :key \"6\" :value nil\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("expected }"), "{err}");

    let jsonl = "{\"index\":0,\"time\":5,\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":[1,2]}\n\
                 {\"index\":1,\"time\":6,\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start-partition\",\"value\":null}\n\
                 {\"index\":2,\"time\":9,\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":[1,2]}\n\
                 {\"index\":3,\"time\":9,\"type\":\"invoke\",\"process\":0,\"f\":\"cas\",\"value\":[1,2]}\n";
    let err = lin_kv_from_jsonl(jsonl).unwrap_err();
    assert_eq!(err.line, 4);
    assert!(
        err.message.contains("expected value [key, [from, to]]"),
        "{err}"
    );
    let parts = lin_kv_from_jsonl(&jsonl.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    assert_eq!(parts[0].ops[0].input, Write(2));
    assert_eq!((parts[0].ops[0].call, parts[0].ops[0].ret), (5, Some(9)));
}

#[test]
fn stop_at_first_failure_cuts_other_keys_short() {
    let mut partitions = hard_kv(22);
    partitions.push(Partition {
        key: "1".to_string(),
        ops: vec![op(0, KvInput::Get, KvOutput(Some("x".into())), 0, Some(10))],
    });
    let options = CheckOptions {
        threads: 2,
        stop_at_first_failure: true,
        ..CheckOptions::default()
    };
    let started = std::time::Instant::now();
    let report = check(&KvModel, &partitions, Clock::Events, &options);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.valid, Validity::Invalid);
    assert_eq!(report.failures, vec!["1"]);
    assert_eq!(report.unknown, vec!["0"]);
    let reason = report.key("0").unwrap().reason.as_ref().unwrap();
    assert!(
        reason.contains("another key was already invalid"),
        "{reason}"
    );
}

#[test]
fn a_failing_key_is_drawn_with_its_lanes_linearization_and_break() {
    let history = stale_read_on_key_3();
    let report = check_lin_kv(&history, &CheckOptions::default()).unwrap();
    assert_eq!(visualize::key_page(report.key("4").unwrap()), None);
    let page = visualize::key_page(report.key("3").unwrap()).unwrap();
    assert!(page.contains("<h1>key 3: not linearizable</h1>"));
    assert!(page.contains("every order of the 2 operations before it"));
    // one lane per process of the key; process 8 worked on key 4
    assert!(page.contains(">process 3</text>") && page.contains(">process 7</text>"));
    assert!(!page.contains("process 8"));
    assert_eq!(page.matches("<g class=\"op ").count(), 3);
    assert_eq!(page.matches("<g class=\"op ok\">").count(), 2);
    assert_eq!(page.matches("<g class=\"op ok outside break\">").count(), 1);
    assert!(page.contains("step 2 of the linearization; state after: 4"));
    assert!(page.contains("read() -&gt; 2") || page.contains("read -&gt; 2"));
    assert_eq!(page.matches("<circle ").count(), 2);
    assert!(page.contains("<polyline "));
    assert!(page.contains("breaks here"));
    assert!(page.contains("<tr class=\"break\">"));
    assert!(!page.contains("<script"));
}

#[test]
fn edn_op_maps_with_vectors_and_big_integers_become_ops() {
    let edn = "{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [1 2]] [:r 3 nil]], :process 0, :index 7, :time 99}\n\n{:type :info, :f :start, :process :nemesis, :value nil}\n{:type :invoke, :f :txn, :value [(:w 123456789012345678901234567890 5N)], :process 2}\n";
    let ops = parse_edn_ops(edn).unwrap();
    assert_eq!(ops.len(), 3);
    let (line, op) = &ops[0];
    assert_eq!((*line, op.index, op.time, op.kind), (1, 7, 99, OpType::Ok));
    assert_eq!(
        op.value,
        json!([["append", 1, 2], ["r", 1, [1, 2]], ["r", 3, null]])
    );
    assert_eq!((ops[1].0, ops[1].1.process), (3, Process::Nemesis));
    let big = &ops[2].1.value[0][1];
    assert_eq!(big.to_string(), "123456789012345678901234567890");
    assert_eq!(ops[2].1.value[0][2], json!(5));
    assert_eq!((ops[2].1.index, ops[2].1.process), (2, Process::Client(2)));
    let err = parse_edn_ops(
        "{:type :ok, :f :txn, :process 0}\n{:type :ok, :f :txn, :value [[:r 1 [1]], :process 0}\n",
    )
    .unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    let err = parse_edn_ops(&format!(
        "{{:type :ok, :f :txn, :process 0, :value {}}}",
        "[".repeat(100)
    ))
    .unwrap_err();
    assert!(err.message.contains("nested deeper"), "{err}");
}

#[test]
fn edn_nemesis_maps_sets_and_decimals_are_read() {
    let edn = "{:type :info, :f :start-partition, :value {\"n1\" #{\"n2\" \"n3\"}, :kind :majority}, :process :nemesis, :time 5}\n{:type :ok, :f :txn, :value [[:r 1 [1]]], :process 0, :error [:timeout 1.5 \\a]}\n";
    let ops = parse_edn_ops(edn).unwrap();
    assert_eq!(
        ops[0].1.value,
        json!({"n1": ["n2", "n3"], "kind": "majority"})
    );
    assert_eq!(
        ops[1].1.error.as_ref().unwrap().to_string(),
        "[\"timeout\",1.5,\"a\"]"
    );
    assert!(parse_edn_ops("{:type :ok, :f :txn, :process 0, :value {:a}}").is_err());
}

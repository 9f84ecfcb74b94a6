//! End to end: nodes calling the built-in services through the network.

mod support;

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use straum::backend::Backend;
use straum::engine::{Engine, EngineSettings};
use straum::net::{Latency, LatencyDist};
use straum::process::{ProcessBackend, SpawnSpec};
use straum::recorder::HistoryRecorder;
use straum_workloads::rpc::{malformed, validate_reply, ErrorStyle, FieldType};
use straum_workloads::{CheckResult, ClientId, Invocation, Op, OpType, Step, Validity, Workload};
use support::fixture;

/// A scripted lin-kv-style workload: worker 0 writes 1, 2, 3, … to key "x" through n0;
/// the other workers read "x" through the other nodes.
struct WritesAndReads {
    next_value: u64,
}

impl Workload for WritesAndReads {
    fn name(&self) -> &'static str {
        "scripted-kv"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        // The harness assigns ops round-robin to free workers; alternate so that the
        // writer (worker 0) gets the writes most of the time.
        if rng.gen_bool(0.34) {
            self.next_value += 1;
            Some(Invocation::new("write", json!(self.next_value)))
        } else {
            Some(Invocation::new("read", Value::Null))
        }
    }

    fn invoke(&mut self, _: ClientId, op: &Invocation) -> Step {
        let mut body = Map::new();
        body.insert("type".into(), json!(op.f));
        body.insert("key".into(), json!("x"));
        if op.f == "write" {
            body.insert("value".into(), op.value.clone());
        }
        Step::Send(body)
    }

    fn reply(&mut self, _: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        let (kind, fields): (&str, &[(&str, FieldType)]) = if op.f == "write" {
            ("write_ok", &[])
        } else {
            ("read_ok", &[("value", FieldType::Any)])
        };
        Step::Done(match validate_reply(reply, kind, fields) {
            Ok(()) if op.f == "write" => straum_workloads::Completion::ok(op.value.clone()),
            Ok(()) => straum_workloads::Completion::ok(reply["value"].clone()),
            Err(reason) => malformed(op, reply, &reason),
        })
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors {
            idempotent: &["read"],
        }
    }

    fn client_reusable(&self) -> bool {
        true
    }

    fn check(&self, _: &[Op]) -> CheckResult {
        CheckResult::new(Validity::Valid)
    }
}

/// Reads that no linearization can explain. Values are unique, so a read of `u` is
/// stale when some write `w` completed before the read began although `w` itself
/// began after the write of `u` had completed: `w` must take effect after `u`, and
/// before the read. (Writes may overlap; then either order is fine and nothing is
/// flagged.) The initial value is "written" before everything.
fn stale_reads(history: &[Op]) -> usize {
    let invoke_of = |completion: &Op| {
        history[..completion.index as usize]
            .iter()
            .rev()
            .find(|o| o.process == completion.process && o.kind == OpType::Invoke)
            .expect("every completion has an invocation")
    };
    // For each value written and acknowledged: (invoked, completed).
    let writes: std::collections::HashMap<u64, (u64, u64)> = history
        .iter()
        .filter(|op| op.kind == OpType::Ok && op.f == "write")
        .map(|op| (op.value.as_u64().unwrap(), (invoke_of(op).time, op.time)))
        .collect();
    let mut stale = 0;
    for read in history
        .iter()
        .filter(|op| op.kind == OpType::Ok && op.f == "read")
    {
        let began = invoke_of(read).time;
        // The latest start of a write that had completed before the read began.
        let Some(latest_start) = writes
            .values()
            .filter(|(_, completed)| *completed < began)
            .map(|(invoked, _)| *invoked)
            .max()
        else {
            continue;
        };
        let written_by = match read.value.as_u64() {
            None | Some(0) => Some(0), // the initial value
            Some(u) => writes.get(&u).map(|(_, completed)| *completed),
        };
        if written_by.is_some_and(|completed| completed < latest_start) {
            stale += 1;
        }
    }
    stale
}

fn run_proxy(service: &str) -> Vec<Op> {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
    let spec = SpawnSpec {
        bin: fixture("kv_proxy.py"),
        args: vec![service.to_string()],
        node_ids: ids.clone(),
        log_dir: dir.path().to_path_buf(),
        work_dir: dir.path().to_path_buf(),
        max_line_bytes: 1 << 20,
        echo_stderr: false,
        data_dir: None,
        seed: None,
    };
    let mut backend = ProcessBackend::spawn(&spec).unwrap();
    let mut workload = WritesAndReads { next_value: 0 };
    let mut history = HistoryRecorder::in_memory();
    let settings = EngineSettings {
        rate: 200.0,
        time_limit: 3_000_000_000,
        rpc_timeout: 2_000_000_000,
        latency: Latency {
            mean_ms: 2,
            dist: LatencyDist::Constant,
        },
        ..EngineSettings::new(ids, 42)
    };
    let outcome = Engine::new(&mut backend, settings, &mut workload, &mut history).run();
    backend.stop_all();
    assert!(outcome.stopped.is_none(), "{:?}", outcome.stopped);
    assert!(
        outcome.net.servers.send > 100,
        "the proxies talked to {service}"
    );
    history.finish()
}

#[test]
fn a_lin_kv_proxy_to_seq_kv_shows_stale_reads_and_to_lin_kv_does_not() {
    assert!(Path::new(&fixture("kv_proxy.py")).exists());
    let seq = run_proxy("seq-kv");
    let reads = seq
        .iter()
        .filter(|o| o.kind == OpType::Ok && o.f == "read")
        .count();
    assert!(reads > 100, "only {reads} reads");
    let stale = stale_reads(&seq);
    eprintln!("seq-kv proxy: {stale} of {reads} reads stale");
    assert!(stale > 0, "seq-kv must show stale reads through a proxy");
    let lin = run_proxy("lin-kv");
    assert_eq!(stale_reads(&lin), 0, "lin-kv reads are never stale");
}

//! The lin-kv workload (Maelstrom §8.6): clients `read`, `write` and `cas` integer
//! keys holding the values 0–4, and every key's history must be linearizable against
//! a compare-and-set register (checked by [`crate::linearizable`]).
//!
//! The generator is Jepsen's linearizable register over independent keys: workers
//! are split into groups of 2N (N = node count), each group works on one key at a
//! time, the first N workers of a group read and the others write (1/3) or cas (2/3)
//! with values uniform in 0…4; a key is retired once 20 distinct processes have
//! worked on it (processes change when an op ends `info`), and the group moves on to
//! the next unused key.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use crate::history::Op;
use crate::linearizable::{self, CheckOptions};
use crate::rpc::{malformed, ErrorStyle, Field, FieldType, Rpc};
use crate::{
    CheckResult, ClientId, Completion, Invocation, ReportPage, Step, Validity, Workload,
    WorkloadOptions,
};

/// Distinct processes a key sees before its group moves on (Jepsen's process limit).
const PROCESSES_PER_KEY: usize = 20;
/// Values are drawn from 0..VALUES.
const VALUES: i64 = 5;

/// One group of 2N workers and the key it works on.
#[derive(Debug)]
struct Group {
    key: u64,
    processes: HashSet<u64>,
}

/// `read`: a client reads one key.
pub const READ: Rpc = Rpc {
    request: "read",
    doc: "Answer with the key's current value; every key's history must be linearizable.",
    request_fields: &[Field::new("key", FieldType::Int, "the key")],
    reply: "read_ok",
    reply_fields: &[Field::new("value", FieldType::Any, "the key's value")],
    errors: &[(20, "the key has never been written")],
    example_request: r#"{"type":"read","msg_id":1,"key":0}"#,
    example_reply: r#"{"type":"read_ok","in_reply_to":1,"value":3}"#,
};

/// `write`: a client writes one key.
pub const WRITE: Rpc = Rpc {
    request: "write",
    doc: "Set the key to `value`.",
    request_fields: &[
        Field::new("key", FieldType::Int, "the key"),
        Field::new("value", FieldType::Int, "the new value, 0…4"),
    ],
    reply: "write_ok",
    reply_fields: &[],
    errors: &[],
    example_request: r#"{"type":"write","msg_id":2,"key":0,"value":4}"#,
    example_reply: r#"{"type":"write_ok","in_reply_to":2}"#,
};

/// `cas`: a client compares and sets one key.
pub const CAS: Rpc = Rpc {
    request: "cas",
    doc: "If the key's value is `from`, set it to `to`, atomically; otherwise answer an \
          error.",
    request_fields: &[
        Field::new("key", FieldType::Int, "the key"),
        Field::new("from", FieldType::Int, "the value expected, 0…4"),
        Field::new("to", FieldType::Int, "the new value, 0…4"),
    ],
    reply: "cas_ok",
    reply_fields: &[],
    errors: &[
        (20, "the key has never been written"),
        (22, "the key's value is not `from`"),
    ],
    example_request: r#"{"type":"cas","msg_id":3,"key":0,"from":4,"to":1}"#,
    example_reply: r#"{"type":"cas_ok","in_reply_to":3}"#,
};

/// The lin-kv workload.
#[derive(Debug)]
pub struct LinKv {
    nodes: usize,
    groups: Vec<Group>,
    next_key: u64,
    checker_timeout: Option<Duration>,
}

/// Build the lin-kv workload; `--concurrency` must be a multiple of 2 × node count.
pub fn build(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    let nodes = options.node_count.max(1);
    let group = 2 * nodes;
    if options.concurrency == 0 || !options.concurrency.is_multiple_of(group) {
        return Err(format!(
            "lin-kv needs --concurrency to be a multiple of 2 × node count = {group} (one \
             group of {nodes} readers and {nodes} writers per key), got {}; try \
             --concurrency 2n",
            options.concurrency
        ));
    }
    let groups = options.concurrency / group;
    Ok(Box::new(LinKv {
        nodes,
        groups: (0..groups as u64)
            .map(|key| Group {
                key,
                processes: HashSet::new(),
            })
            .collect(),
        next_key: groups as u64,
        checker_timeout: options.checker_timeout,
    }))
}

impl LinKv {
    /// The key `worker`'s group works on, moving the group to a fresh key once
    /// `process` would be one too many for the current one.
    fn key_for(&mut self, worker: usize, process: u64) -> u64 {
        let group = &mut self.groups[worker / (2 * self.nodes)];
        if !group.processes.contains(&process) && group.processes.len() >= PROCESSES_PER_KEY {
            group.key = self.next_key;
            group.processes.clear();
            self.next_key += 1;
        }
        group.processes.insert(process);
        group.key
    }
}

impl Workload for LinKv {
    fn name(&self) -> &'static str {
        "lin-kv"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        self.next_op_for(0, 0, rng)
    }

    fn next_op_for(
        &mut self,
        worker: usize,
        process: u64,
        rng: &mut ChaCha8Rng,
    ) -> Option<Invocation> {
        let key = self.key_for(worker, process);
        let reader = worker % (2 * self.nodes) < self.nodes;
        Some(if reader {
            Invocation::new("read", json!([key, null]))
        } else if rng.gen_range(0..3) == 0 {
            Invocation::new("write", json!([key, rng.gen_range(0..VALUES)]))
        } else {
            let (from, to) = (rng.gen_range(0..VALUES), rng.gen_range(0..VALUES));
            Invocation::new("cas", json!([key, [from, to]]))
        })
    }

    fn rpcs(&self) -> &'static [Rpc] {
        &[READ, WRITE, CAS]
    }

    fn invoke(&mut self, _: ClientId, op: &Invocation) -> Step {
        let mut body = Map::new();
        body.insert("type".into(), Value::from(op.f));
        body.insert("key".into(), op.value[0].clone());
        match op.f {
            "write" => {
                body.insert("value".into(), op.value[1].clone());
            }
            "cas" => {
                body.insert("from".into(), op.value[1][0].clone());
                body.insert("to".into(), op.value[1][1].clone());
            }
            _ => {}
        }
        Step::Send(body)
    }

    fn reply(&mut self, _: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        Step::Done(match op.f {
            "read" => match READ.validate(reply) {
                Ok(()) => Completion::ok(json!([op.value[0], reply["value"]])),
                Err(reason) => malformed(op, reply, &reason),
            },
            "write" => WRITE.acknowledged(op, reply),
            _ => CAS.acknowledged(op, reply),
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

    fn default_rpc_timeout(&self, latency_ms: u64) -> Duration {
        Duration::from_millis((10 * latency_ms).max(1000))
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        let options = CheckOptions {
            timeout: Some(self.checker_timeout.unwrap_or(Duration::from_secs(60))),
            ..CheckOptions::default()
        };
        check(history, &options)
    }
}

/// Check a lin-kv history per key; the result has Maelstrom's `results` (per key),
/// `failures` (invalid keys) and one sentence per failing key.
pub fn check(history: &[Op], options: &CheckOptions) -> CheckResult {
    let report = match linearizable::check_lin_kv(history, options) {
        Ok(report) => report,
        Err(e) => {
            let mut result = CheckResult::new(Validity::Unknown).with("error", e.to_string());
            result
                .findings
                .push(format!("the history cannot be checked: {e}"));
            return result;
        }
    };
    let Value::Object(fields) = serde_json::to_value(&report).expect("reports serialise") else {
        unreachable!("a report serialises to an object");
    };
    let mut result = CheckResult::new(report.valid);
    result.fields = fields;
    result.fields.remove("valid?");
    // "op N" (the invocation's history index) makes the terminal report show the
    // failing operation, its node and the faults around it on a timeline.
    result.findings = report
        .results
        .iter()
        .filter_map(|r| r.failure.as_ref())
        .map(|f| format!("{} (op {})", f.explanation, f.op.source))
        .collect();
    for key in &report.unknown {
        let reason = report
            .key(key)
            .and_then(|r| r.reason.clone())
            .unwrap_or_else(|| "stopped".into());
        result
            .findings
            .push(format!("key {key}: unknown — {reason}"));
    }
    result.pages = key_pages(&report);
    result.headline.push(format!(
        "linearizable: {} keys, {} ops searched in {:.0} ms: {} invalid, {} unknown",
        report.results.len(),
        report.op_count,
        report.time_ms,
        report.failures.len(),
        report.unknown.len()
    ));
    result
}

/// Most failing keys drawn per run.
const MAX_KEY_PAGES: usize = 10;

/// A page picturing each key that is not valid (invalid keys first), up to
/// [`MAX_KEY_PAGES`], named `lin-kv-key-<key>.html`.
pub fn key_pages(report: &linearizable::Report) -> Vec<ReportPage> {
    let mut keys: Vec<&linearizable::KeyResult> = report
        .results
        .iter()
        .filter(|r| r.valid != Validity::Valid)
        .collect();
    keys.sort_by_key(|r| r.valid != Validity::Invalid);
    let mut pages: Vec<ReportPage> = Vec::new();
    for result in keys.into_iter().take(MAX_KEY_PAGES) {
        let Some(text) = linearizable::visualize::key_page(result) else {
            continue;
        };
        let mut stem: String = result
            .key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(40)
            .collect();
        if stem.is_empty()
            || pages
                .iter()
                .any(|p| p.name == format!("lin-kv-key-{stem}.html"))
        {
            stem = format!("{stem}-{}", pages.len() + 1);
        }
        let what = if result.valid == Validity::Invalid {
            "not linearizable"
        } else {
            "unknown"
        };
        pages.push(ReportPage {
            name: format!("lin-kv-key-{stem}.html"),
            title: format!(
                "key {}: {what} — operations and the longest linearization",
                crate::quote::abridge(&result.key)
            ),
            text,
        });
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn options(nodes: usize, concurrency: usize) -> WorkloadOptions {
        WorkloadOptions {
            node_count: nodes,
            concurrency,
            ..WorkloadOptions::default()
        }
    }

    #[test]
    fn concurrency_must_be_a_multiple_of_twice_the_nodes() {
        let err = build(&options(3, 4)).err().unwrap();
        assert!(err.contains("multiple of 2 × node count = 6"), "{err}");
        assert!(build(&options(3, 12)).is_ok());
    }

    #[test]
    fn groups_read_and_write_their_own_key_and_move_on_after_20_processes() {
        let mut w = LinKv {
            nodes: 2,
            groups: (0..2)
                .map(|key| Group {
                    key,
                    processes: HashSet::new(),
                })
                .collect(),
            next_key: 2,
            checker_timeout: None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Workers 0, 1 read key 0; 2, 3 write or cas key 0; 4–7 work on key 1.
        for worker in 0..8 {
            let op = w.next_op_for(worker, worker as u64, &mut rng).unwrap();
            let key = op.value[0].as_u64().unwrap();
            assert_eq!(key, (worker / 4) as u64);
            assert_eq!(op.f == "read", worker % 4 < 2, "worker {worker}: {op:?}");
        }
        // 20 distinct processes on key 0; the 21st moves group 0 to key 2.
        for process in 8..24 {
            assert_eq!(w.key_for(0, process), 0);
        }
        assert_eq!(w.key_for(1, 100), 2);
        assert_eq!(w.key_for(2, 3), 2, "process 3 is new to key 2");
        assert_eq!(w.key_for(5, 5), 1);
    }

    #[test]
    fn requests_and_replies_follow_maelstrom() {
        let mut w = build(&options(1, 2)).unwrap();
        let cas = Invocation::new("cas", json!([3, [1, 4]]));
        let Step::Send(body) = w.invoke(0, &cas) else {
            panic!()
        };
        assert_eq!(
            Value::Object(body),
            json!({"type":"cas","key":3,"from":1,"to":4})
        );
        let read = Invocation::new("read", json!([3, null]));
        let reply = json!({"type":"read_ok","value":2,"in_reply_to":1});
        let Step::Done(done) = w.reply(0, &read, reply.as_object().unwrap()) else {
            panic!()
        };
        assert_eq!(done.value, json!([3, 2]));
        let style = w.error_style();
        let cas_mismatch = style.on_error(&cas, Some(22), None);
        assert_eq!(cas_mismatch.kind, crate::OpType::Fail);
        let missing = style.on_error(&cas, Some(20), None);
        assert_eq!(missing.kind, crate::OpType::Fail);
        assert_eq!(w.default_rpc_timeout(0), Duration::from_millis(1000));
        assert_eq!(w.default_rpc_timeout(250), Duration::from_millis(2500));
    }
}

//! The kafka workload (Maelstrom §8.9): clients `send` messages to append-only logs
//! named by keys, `poll` them back from per-client positions (committing what they
//! consumed), and re-`assign` themselves to keys; a final phase re-reads every log
//! from the beginning. The checker judges the combined history for lost, duplicated,
//! reordered and skipped messages.
//!
//! * [`generator`]: the operation stream — list-append keys (exponentially biased
//!   active keys, per-key values 1…max-writes-per-key, retirement), occasional
//!   `assign`s (some widened with keys that have unpolled sends) and client crashes.
//! * [`client`]: the client state machine — the RPC bodies, the closed reply schemas,
//!   per-client poll positions, poll-then-commit and list-committed-offsets on assign.
//! * [`checker`]: the anomaly analysis (inconsistent offsets, duplicates, lost
//!   writes, unseen messages, aborted reads, skipped and non-monotonic polls and
//!   sends, realtime lag), near-linear in the history and time-boxed.
//!
//! Op values follow Maelstrom's shapes: a send is invoked as `[["send", "k", v]]` and
//! completes ok as `[["send", "k", [offset, v]]]`; a poll is `[["poll"]]` and completes
//! ok as `[["poll", {"k": [[offset, v], …]}]]`; an assign's value is its key list; a
//! crash's is `null`. Final-phase ops carry `final?` (the final assign is Maelstrom's
//! `:seek-to-beginning? true`).

pub mod checker;
pub mod client;
pub mod generator;

use std::collections::HashMap;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::history::Op;
use crate::rpc::ErrorStyle;
use crate::{CheckResult, ClientId, Invocation, Step, Workload, WorkloadOptions};

pub use checker::{check, check_with_deadline, ANALYSIS_DEADLINE};
pub use client::ClientState;
pub use generator::{Generator, KeyPool, OffsetTracker, ASSIGN_ONE_IN, CLIENT_CRASH_INTERVAL_SECS};

/// Active keys when `--key-count` is not given.
pub const DEFAULT_KEY_COUNT: usize = 10;

/// How long the final phase may take (Maelstrom's 10 s).
pub const FINAL_PHASE_LIMIT: Duration = Duration::from_secs(10);

/// The most polls one worker makes in the final phase, so that a node that answers
/// instantly but never catches up cannot flood the history within the 10 s.
pub const MAX_FINAL_POLLS: usize = 5_000;

/// What one worker has done in the final phase.
#[derive(Debug, Default, Clone, Copy)]
struct FinalWorker {
    /// The client that made the worker's last final-phase op.
    client: Option<ClientId>,
    /// Final polls made so far.
    polls: usize,
}

/// The kafka workload.
pub struct Kafka {
    generator: Generator,
    offsets: OffsetTracker,
    clients: HashMap<ClientId, ClientState>,
    finals: HashMap<usize, FinalWorker>,
    /// The worker whose final op was handed out last (its `invoke` follows at once).
    final_pending: Option<usize>,
}

/// Build the kafka workload; fails for a zero `--key-count` or
/// `--max-writes-per-key`.
pub fn build(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Kafka::new(options)?))
}

impl Kafka {
    /// The workload for these options.
    pub fn new(options: &WorkloadOptions) -> Result<Kafka, String> {
        let key_count = options.key_count.unwrap_or(DEFAULT_KEY_COUNT);
        let max_writes = options.max_writes_per_key.unwrap_or(16);
        if key_count == 0 {
            return Err("--key-count must be at least 1 for kafka".into());
        }
        if max_writes == 0 {
            return Err("--max-writes-per-key must be at least 1 for kafka".into());
        }
        Ok(Kafka {
            generator: Generator::new(
                KeyPool::new(key_count, max_writes as u64),
                options.concurrency,
            ),
            offsets: OffsetTracker::default(),
            clients: HashMap::new(),
            finals: HashMap::new(),
            final_pending: None,
        })
    }

    /// Whether `client` has polled past the highest offset seen for every key.
    fn caught_up(&self, client: ClientId) -> bool {
        let Some(state) = self.clients.get(&client) else {
            return false;
        };
        self.offsets
            .highest()
            .all(|(key, highest)| state.position(key).is_some_and(|p| p > highest))
    }
}

impl Workload for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn observe_time(&mut self, since_start: Duration) {
        self.generator.observe_time(since_start);
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        Some(self.generator.next(rng, &self.offsets))
    }

    fn has_final_phase(&self) -> bool {
        true
    }

    /// Per worker: a crash (a fresh client), an assign of every key ever touched with
    /// seek-to-beginning, then polls until the worker's client has polled past the
    /// highest offset seen for every key (a client lost to an indeterminate poll is
    /// replaced and assigned again), at most [`MAX_FINAL_POLLS`] polls.
    fn final_op(&mut self, worker: usize, done: usize) -> Option<Invocation> {
        let touched = self.offsets.touched_keys();
        let op = if done == 0 {
            Invocation::new("crash", Value::Null)
        } else if touched.is_empty() {
            return None;
        } else {
            let fw = self.finals.get(&worker).copied().unwrap_or_default();
            match fw.client.filter(|c| self.clients.contains_key(c)) {
                Some(client) => {
                    if fw.polls >= MAX_FINAL_POLLS || self.caught_up(client) {
                        return None;
                    }
                    client::poll_op()
                }
                None => Invocation::new(
                    "assign",
                    Value::Array(touched.into_iter().map(Value::from).collect()),
                ),
            }
        };
        self.final_pending = Some(worker);
        Some(Invocation {
            final_read: true,
            ..op
        })
    }

    /// Maelstrom polls every 0–0.4 s while catching up.
    fn final_op_pause(&self) -> Duration {
        Duration::from_millis(200)
    }

    fn final_phase_limit(&self) -> Option<Duration> {
        Some(FINAL_PHASE_LIMIT)
    }

    fn rpcs(&self) -> &'static [crate::rpc::Rpc] {
        client::RPCS
    }

    fn invoke(&mut self, client: ClientId, op: &Invocation) -> Step {
        if op.final_read {
            if let Some(worker) = self.final_pending.take() {
                let fw = self.finals.entry(worker).or_default();
                fw.client = Some(client);
                if op.f == "poll" {
                    fw.polls += 1;
                }
            }
        }
        let state = self.clients.entry(client).or_default();
        let step = state.invoke(op);
        if op.f == "crash" {
            self.clients.remove(&client);
        }
        self.offsets.touch_op(op);
        step
    }

    fn reply(&mut self, client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        let state = self.clients.entry(client).or_default();
        state.reply(op, reply, &mut self.offsets)
    }

    fn client_closed(&mut self, client: ClientId) {
        self.clients.remove(&client);
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors {
            idempotent: &["assign"],
        }
    }

    fn client_reusable(&self) -> bool {
        false
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        check(history)
    }
}

/// The order keys are listed in: decimal keys numerically, then any others as text.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    let num = |k: &str| -> Option<u128> {
        (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            .then(|| k.parse().ok())
            .flatten()
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType;
    use rand::SeedableRng;
    use serde_json::json;

    fn options() -> WorkloadOptions {
        WorkloadOptions {
            node_count: 1,
            concurrency: 2,
            key_count: Some(3),
            max_writes_per_key: Some(4),
            ..WorkloadOptions::default()
        }
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn done(step: Step) -> crate::Completion {
        match step {
            Step::Done(c) => c,
            Step::Send(b) => panic!("expected a completion, got a request {b:?}"),
        }
    }

    fn sent(step: Step) -> Map<String, Value> {
        match step {
            Step::Send(b) => b,
            Step::Done(c) => panic!("expected a request, got {c:?}"),
        }
    }

    #[test]
    fn options_are_validated_and_keys_sort_numerically() {
        let mut bad = options();
        bad.key_count = Some(0);
        assert!(Kafka::new(&bad).is_err());
        bad = options();
        bad.max_writes_per_key = Some(0);
        assert!(Kafka::new(&bad).is_err());
        let mut keys = vec!["10", "9", "x", "100", "02"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, ["02", "9", "10", "100", "x"]);
    }

    #[test]
    fn final_phase_crashes_assigns_everything_from_the_start_and_polls_until_caught_up() {
        let mut k = Kafka::new(&options()).unwrap();
        // Main phase on client 7: send 5 to key "0" at offset 3 and to "2" at offset 0.
        for (key, msg, offset) in [("0", 5, 3), ("2", 1, 0)] {
            let op = Invocation::new("send", json!([["send", key, msg]]));
            sent(k.invoke(7, &op));
            let c = done(k.reply(
                7,
                &op,
                &body(json!({"type":"send_ok","offset":offset,"in_reply_to":1})),
            ));
            assert_eq!(c.kind, OpType::Ok);
        }
        // Worker 0: crash first.
        let crash = k.final_op(0, 0).unwrap();
        assert_eq!((crash.f, crash.final_read), ("crash", true));
        let c = done(k.invoke(7, &crash));
        assert_eq!(c.kind, OpType::Info);
        k.client_closed(7);
        // Then assign every touched key, seeking to the beginning without an RPC.
        let assign = k.final_op(0, 1).unwrap();
        assert_eq!(assign.f, "assign");
        assert_eq!(assign.value, json!(["0", "2"]));
        let c = done(k.invoke(8, &assign));
        assert_eq!(c.kind, OpType::Ok);
        // Polls from 0 until past offset 3 of "0" and offset 0 of "2".
        let poll = k.final_op(0, 2).unwrap();
        assert_eq!(poll.f, "poll");
        let req = sent(k.invoke(8, &poll));
        assert_eq!(req["offsets"], json!({"0":0,"2":0}));
        sent(k.reply(
            8,
            &poll,
            &body(json!({"type":"poll_ok","msgs":{"0":[[3,5]]},"in_reply_to":1})),
        ));
        done(k.reply(8, &poll, &body(json!({"type":"commit_offsets_ok"}))));
        // Key "2" not yet polled: another poll.
        let poll = k.final_op(0, 3).unwrap();
        assert_eq!(poll.f, "poll");
        let req = sent(k.invoke(8, &poll));
        assert_eq!(req["offsets"], json!({"0":4,"2":0}));
        sent(k.reply(
            8,
            &poll,
            &body(json!({"type":"poll_ok","msgs":{"2":[[0,1]]}})),
        ));
        done(k.reply(8, &poll, &body(json!({"type":"commit_offsets_ok"}))));
        assert_eq!(k.final_op(0, 4), None);

        // Worker 1: its poll is lost (client closed), so it assigns again.
        assert_eq!(k.final_op(1, 0).unwrap().f, "crash");
        done(k.invoke(9, &Invocation::new("crash", Value::Null)));
        let assign = k.final_op(1, 1).unwrap();
        done(k.invoke(10, &assign));
        let poll = k.final_op(1, 2).unwrap();
        sent(k.invoke(10, &poll));
        k.client_closed(10);
        assert_eq!(k.final_op(1, 3).unwrap().f, "assign");
    }

    #[test]
    fn final_phase_is_just_a_crash_when_nothing_was_touched_and_polls_are_capped() {
        let mut k = Kafka::new(&options()).unwrap();
        assert_eq!(k.final_op(0, 0).unwrap().f, "crash");
        assert_eq!(k.final_op(0, 1), None);

        let op = Invocation::new("send", json!([["send", "1", 1]]));
        sent(k.invoke(1, &op));
        done(k.reply(1, &op, &body(json!({"type":"send_ok","offset":0}))));
        k.final_op(0, 0);
        done(k.invoke(2, &Invocation::new("crash", Value::Null)));
        let assign = k.final_op(0, 1).unwrap();
        done(k.invoke(3, &assign));
        for i in 0..MAX_FINAL_POLLS {
            let poll = k.final_op(0, 2 + i).expect("still polling");
            sent(k.invoke(3, &poll));
            done(k.reply(3, &poll, &body(json!({"type":"poll_ok","msgs":{}}))));
        }
        assert_eq!(k.final_op(0, 2 + MAX_FINAL_POLLS), None);
    }

    #[test]
    fn the_generator_runs_through_the_trait_and_crashes_drop_client_state() {
        let mut k = Kafka::new(&options()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fs: Vec<&str> = (0..10_000u64)
            .map(|i| {
                k.observe_time(Duration::from_millis(i * 10));
                k.next_op(&mut rng).unwrap().f
            })
            .collect();
        for f in ["send", "poll", "assign", "crash"] {
            assert!(fs.contains(&f), "{f} missing");
        }
        let assign = Invocation::new("assign", json!(["1"]));
        sent(k.invoke(4, &assign));
        assert!(k.clients.contains_key(&4));
        done(k.invoke(4, &Invocation::new("crash", Value::Null)));
        assert!(!k.clients.contains_key(&4));
        assert!(!k.client_reusable());
        assert!(k.has_final_phase());
        assert_eq!(k.final_phase_limit(), Some(Duration::from_secs(10)));
    }
}

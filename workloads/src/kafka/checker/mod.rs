//! The kafka checker (Maelstrom §8.9, after Jepsen's kafka checker), near-linear in the
//! history and time-boxed.
//!
//! Pass 1 collects every observation of a message at an offset — from ok sends and
//! ok polls — into hash maps keyed by (key, offset) and (key, message), plus each
//! message's send outcome and whether any ok poll returned it. The version order of
//! a key is its observed offsets, sorted and dense-ranked: offsets nobody ever saw
//! (gaps of a sparse allocation) do not exist for the checker. Then:
//!
//! * `inconsistent-offsets`: one (key, offset) observed with different messages;
//! * `duplicate`: one (key, message) observed at different offsets;
//! * `lost-write`: an acknowledged message at or below the highest offset any ok poll
//!   read for its key, which no ok poll returned;
//! * `unseen`: acknowledged messages no ok poll ever returned;
//! * `G1a`: an ok poll returned a message whose send failed;
//! * `phantom`: an ok poll returned a message no client ever tried to send to its key
//!   (no send of it was invoked; Elle's read of a value never written, Jepsen's
//!   "unexpected" in its queue checkers). Sends that ended `info` or `fail` are
//!   attempts, so their messages are never phantoms.
//!
//! Pass 2 walks each process's ops in order (per-process state: the dense index of
//! the last message polled and the last offset sent per key; an ok assign keeps only
//! the assigned keys' state; a new process starts afresh):
//!
//! * `poll-skip` / `nonmonotonic-poll`: a poll of a key starts more than one index
//!   after / not after where the process's previous poll of it ended;
//! * `int-poll-skip` / `int-nonmonotonic-poll`: the same between neighbours in one
//!   poll's list;
//! * `nonmonotonic-send`: a send got an offset not above the process's previous one
//!   for the key;
//! * `worst-realtime-lag`: for each ok poll and each key the process has read, how
//!   long before the poll began a message above the highest offset it had read was
//!   acknowledged (evaluated lazily, so its cost is per change, not per poll × key).
//!
//! Every anomaly found is an error type; those outside [`ALLOWED`] are bad and make
//! the history invalid. Result fields: `bad-error-types`, `error-types`,
//! `info-txn-causes`, `worst-realtime-lag` and one `{count, errs}` per error type
//! (`unseen` in Maelstrom's shape plus `count`). Past the deadline the analysis stops
//! and reports what it found so far with the verdict unknown (phantoms found in a
//! partial pass 1 are judged against the sends seen so far).
//!
//! One file per detector group: [`offsets`], [`lost`], [`g1a`], [`order`] (found by
//! [`walk`], pass 2) and [`lag`]; the shared state and pass 1 in [`analysis`], the
//! clock in [`budget`], the result and its sentences in [`explain`].

use std::time::Duration;

use crate::history::Op;
use crate::CheckResult;
use analysis::Analysis;
use budget::Budget;

mod analysis;
mod budget;
mod explain;
mod g1a;
mod hasher;
mod lag;
mod lost;
mod msg;
mod offsets;
mod order;
mod parse;
#[cfg(test)]
mod testkit;
mod walk;

/// How long [`check`] may analyse before giving up with a partial, unknown result.
pub const ANALYSIS_DEADLINE: Duration = Duration::from_secs(30);

/// Error types that do not invalidate a history (Maelstrom's allowed set; none of
/// them is produced by this checker).
pub const ALLOWED: &[&str] = &[
    "G0",
    "G0-process",
    "G0-realtime",
    "PL-1-cycle-exists",
    "int-send-skip",
    "strong-PL-1-cycle-exists",
];

/// Examples kept for `inconsistent-offsets`, `duplicate`, `lost-write`, `G1a` and
/// `phantom`.
const MAX_ERRS: usize = 32;
/// Examples kept for the skip and non-monotonic types.
const MAX_ORDER_ERRS: usize = 8;
/// Unseen messages listed per key.
const MAX_UNSEEN_LISTED: usize = 32;
/// Sentences per error type in the findings.
const MAX_SENTENCES_PER_TYPE: usize = 3;
/// Skipped offsets named in one error.
const MAX_SKIPPED_LISTED: usize = 8;

/// Every error type, most important first (the order of the findings).
const TYPES: [&str; 11] = [
    "lost-write",
    "unseen",
    "G1a",
    "phantom",
    "inconsistent-offsets",
    "duplicate",
    "poll-skip",
    "nonmonotonic-poll",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "nonmonotonic-send",
];

/// Check a kafka history within [`ANALYSIS_DEADLINE`].
pub fn check(history: &[Op]) -> CheckResult {
    check_with_deadline(history, ANALYSIS_DEADLINE)
}

/// Check a kafka history, giving up after `limit` with what was found so far (verdict
/// unknown).
pub fn check_with_deadline(history: &[Op], limit: Duration) -> CheckResult {
    check_within(history, Budget::new(limit))
}

/// Check a kafka history against `budget`.
fn check_within(history: &[Op], mut budget: Budget) -> CheckResult {
    let mut a = Analysis::new(history);
    a.collect(&mut budget);
    a.build_orders();
    if !budget.cut {
        a.walk_processes(&mut budget);
    }
    a.report(&budget)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{json, Map, Value};

    use super::testkit::{findings, types, H};
    use super::*;
    use crate::history::{OpType, Process};
    use crate::Validity;

    #[test]
    fn a_clean_history_with_sparse_offsets_is_valid() {
        let mut h = H::default();
        // Offsets 0, 5, 10 for key "1": the gaps never existed.
        h.assign(0, json!(["1"]))
            .send(1, "1", 1, 0)
            .send(1, "1", 2, 5)
            .poll(0, json!({"1": [[0, 1], [5, 2]]}))
            .send(1, "1", 3, 10)
            .poll(0, json!({"1": [[10, 3]], "2": []}))
            .poll(0, json!({}));
        let r = h.check();
        assert_eq!(r.valid, Validity::Valid, "{}", findings(&r));
        assert_eq!(r.fields["error-types"], json!([]));
        assert_eq!(r.fields["bad-error-types"], json!([]));
        assert_eq!(r.fields["info-txn-causes"], json!([]));
        assert!(r.findings.is_empty());
        assert_eq!(r.headline[1], "no anomalies");
        assert!(
            r.headline[0].starts_with("3 sends (3 ok) over 1 key, 3 ok polls returned 3"),
            "{:?}",
            r.headline
        );
        // The empty history is valid too.
        let r = check(&[]);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.fields["worst-realtime-lag"], json!({"time": 0, "lag": 0}));
    }

    #[test]
    fn error_lists_are_capped_but_counted() {
        let mut h = H::default();
        for i in 0..50 {
            h.send(0, "1", 100 + i, i).send(1, "1", 200 + i, i);
        }
        for d in 1..=20 {
            // Process 10 + d reads offset 30, then goes back d.
            h.poll(10 + d as u64, json!({"1": [[30, 130]]}))
                .poll(10 + d as u64, json!({"1": [[30 - d, 130 - d]]}));
        }
        let r = h.check();
        let e = &r.fields["inconsistent-offsets"];
        assert_eq!(e["count"], 50);
        assert_eq!(e["errs"].as_array().unwrap().len(), 32);
        let n = &r.fields["nonmonotonic-poll"];
        assert_eq!(n["count"], 20);
        let deltas: Vec<i64> = n["errs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["delta"].as_i64().unwrap())
            .collect();
        assert_eq!(deltas, [-20, -19, -18, -17, -16, -15, -14, -13]);
        // Findings: the first example of each type before the second of any.
        assert_eq!(
            types(&r),
            [
                "inconsistent-offsets",
                "lost-write",
                "nonmonotonic-poll",
                "unseen"
            ]
        );
        let f = &r.findings;
        assert!(f[0].starts_with("message 100 sent to key \"1\" was acknowledged at offset 0"));
        assert!(f[1].contains("acknowledged messages in all were never polled"));
        assert!(f[2].starts_with("key \"1\" held 2 different messages at offset 0"));
        assert!(f[3].starts_with("process 30 polled key \"1\" up to offset 30"));
        assert!(f[4].starts_with("message 200 sent"), "{}", findings(&r));
        assert!(r.findings.len() <= TYPES.len() * MAX_SENTENCES_PER_TYPE);
    }

    #[test]
    fn odd_histories_never_panic() {
        let mut h = H::default();
        h.op(0, "send", json!(null), OpType::Ok, json!(null))
            .op(
                0,
                "send",
                json!([["send"]]),
                OpType::Ok,
                json!([["send", "1"]]),
            )
            .op(
                0,
                "send",
                json!([]),
                OpType::Ok,
                json!([["send", "1", [1.5, 2]]]),
            )
            .op(
                0,
                "send",
                json!([]),
                OpType::Ok,
                json!([["send", "1", "x"]]),
            )
            .op(
                0,
                "send",
                json!([]),
                OpType::Ok,
                json!([["send", {}, [1, 2]]]),
            )
            .op(0, "send", json!([]), OpType::Fail, json!({"x": 1}))
            .op(0, "poll", json!([]), OpType::Ok, json!([["poll", null]]))
            .op(
                0,
                "poll",
                json!([]),
                OpType::Ok,
                json!([["poll", {"1": 5}]]),
            )
            .op(
                0,
                "poll",
                json!([]),
                OpType::Ok,
                json!([["poll", {"1": [[1], [1, 2, 3], "x", [null, 1]]}]]),
            )
            .op(
                0,
                "poll",
                json!([]),
                OpType::Ok,
                json!([["send", "1", [0, 1]]]),
            )
            .op(0, "assign", json!(7), OpType::Ok, json!(7))
            .op(0, "assign", json!([1, null]), OpType::Ok, json!([1, null]))
            .op(1, "poll", json!([]), OpType::Info, json!([["poll"]]))
            .op(1, "mystery", json!([]), OpType::Ok, json!([]))
            // Huge gaps, negative and extreme offsets, numeric keys, non-integer messages.
            .send(2, "1", 1, i64::MIN)
            .send(2, "1", 2, i64::MAX)
            .op(
                2,
                "send",
                json!([["send", 7, 3]]),
                OpType::Ok,
                json!([["send", 7, [0, {"a": [1]}]]]),
            )
            .poll(
                3,
                json!({"1": [[i64::MAX, 2], [i64::MIN, 1]], "7": [[0, {"a": [1]}]]}),
            )
            .poll(3, json!({"1": [[i64::MIN, 1]]}));
        // A completion without an invocation and a dangling invocation.
        h.push(
            OpType::Ok,
            9,
            "poll",
            json!([["poll", {"1": [[i64::MAX, 2]]}]]),
        );
        h.push(OpType::Invoke, 8, "send", json!([["send", "1", 9]]));
        h.0.push(Op {
            process: Process::Nemesis,
            ..h.0[0].clone()
        });
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert!(types(&r).contains(&"int-nonmonotonic-poll".to_string()));
        assert!(types(&r).contains(&"nonmonotonic-poll".to_string()));
        let v = r.to_json();
        assert!(v["int-nonmonotonic-poll"]["errs"][0]["op"]["index"].is_u64());
    }

    #[test]
    fn past_the_deadline_the_result_is_unknown_and_says_so() {
        let mut h = H::default();
        for i in 0..5000 {
            h.send(0, "1", i, i).send(1, "1", i + 10_000, i);
        }
        let r = check_with_deadline(&h.0, Duration::ZERO);
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.findings[0].starts_with("the analysis was cut short after 0.0 s while collecting observations (op 0 of 20000)"),
            "{}",
            r.findings[0]
        );
        assert!(r.findings[0].ends_with("lost or unseen messages were not looked for"));
        assert!(r.headline.last().unwrap().contains("cut short"));
        // With time enough the same history is judged.
        let r = check_with_deadline(&h.0, Duration::from_secs(60));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.fields["inconsistent-offsets"]["count"], 5000);
    }

    #[test]
    fn the_allowed_set_does_not_invalidate() {
        assert!(ALLOWED.contains(&"int-send-skip"));
        assert!(TYPES.iter().all(|t| !ALLOWED.contains(t)));
    }

    /// A simulated correct kafka — per-key logs with sparse offsets, several processes
    /// assigning, polling from their positions and crashing — yields no anomaly; the same
    /// run with one bug injected yields exactly the matching one.
    #[test]
    fn simulated_runs_are_clean_and_injected_bugs_are_found() {
        use rand::{Rng, SeedableRng};
        for (bug, expected) in [
            (None, vec![]),
            (Some("skip"), vec!["poll-skip"]),
            // The final read also jumps over the acknowledged offset.
            (Some("lose"), vec!["int-poll-skip", "lost-write", "unseen"]),
            (Some("repeat"), vec!["nonmonotonic-poll"]),
        ] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let mut h = H::default();
            let mut logs: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
            let mut pos: HashMap<u64, HashMap<String, usize>> = HashMap::new();
            let mut process_of = [0u64, 1, 2];
            let mut next_msg = 0i64;
            let mut injected = false;
            for step in 0..3000 {
                let w = rng.gen_range(0..3);
                let p = process_of[w];
                let key = rng.gen_range(0..4).to_string();
                match rng.gen_range(0..10) {
                    0 => {
                        let keys: Vec<String> = (0..4)
                            .filter(|_| rng.gen_bool(0.6))
                            .map(|k| k.to_string())
                            .collect();
                        let state = pos.entry(p).or_default();
                        state.retain(|k, _| keys.contains(k));
                        for k in &keys {
                            state.entry(k.clone()).or_insert(0);
                        }
                        h.assign(p, json!(keys));
                    }
                    1 => {
                        h.crash(p);
                        process_of[w] += 3;
                    }
                    2..=5 => {
                        next_msg += 1;
                        let log = logs.entry(key.clone()).or_default();
                        let offset = log.last().map_or(0, |(o, _)| o + rng.gen_range(1..4));
                        let lose = bug == Some("lose") && step > 1500 && !injected;
                        if !lose {
                            log.push((offset, next_msg));
                        }
                        injected |= lose;
                        h.send(p, &key, next_msg, offset);
                    }
                    _ => {
                        let state = pos.entry(p).or_default();
                        let mut msgs = Map::new();
                        for (k, at) in state.iter_mut() {
                            let log = logs.get(k).map_or(&[][..], Vec::as_slice);
                            let mut from = *at;
                            if from > 0 && from < log.len() && !injected {
                                if bug == Some("skip") && step > 1500 {
                                    from += 1;
                                    injected = true;
                                } else if bug == Some("repeat") && step > 1500 {
                                    from -= 1;
                                    injected = true;
                                }
                            }
                            let got: Vec<Value> = log[from.min(log.len())..]
                                .iter()
                                .take(3)
                                .map(|(o, m)| json!([o, m]))
                                .collect();
                            *at = from.min(log.len()) + got.len();
                            msgs.insert(k.clone(), Value::Array(got));
                        }
                        h.poll(p, Value::Object(msgs));
                    }
                }
            }
            // Final reads of everything that was stored.
            let all: Map<String, Value> = logs
                .iter()
                .map(|(k, log)| {
                    (
                        k.clone(),
                        json!(log.iter().map(|(o, m)| json!([o, m])).collect::<Vec<_>>()),
                    )
                })
                .collect();
            h.poll(99, Value::Object(all));
            let r = h.check();
            assert_eq!(types(&r), expected, "bug {bug:?}: {}", findings(&r));
            assert!(bug.is_none() || injected);
            let lag = r.fields["worst-realtime-lag"]["lag"].as_f64().unwrap();
            assert!(lag > 0.0, "{bug:?}");
        }
    }
}

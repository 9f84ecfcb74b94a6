//! The lease workload: clients contend for a few locks through the nodes and act as
//! the lock's holder against a fenced resource.
//!
//! RPCs (bodies without `msg_id`/`in_reply_to`):
//! - `acquire {"lock": L, "ttl": MS}` → `acquire_ok {"token": T}` (an integer fencing
//!   token) or an error (11 while someone else holds it, say);
//! - `act {"lock": L, "token": T, "value": V}` → `act_ok`: the node must perform the
//!   action — a `write {"key": L, "value": V, "token": T}` to the built-in
//!   `fenced-store` service — only while that lease is valid;
//! - `release {"lock": L, "token": T}` → `release_ok`.
//!
//! The generator gives every worker a session: acquire a random lock of
//! `--key-count` (default 2) with a ttl in 1–3 s; once granted, act (at least once,
//! each act a fresh value) until a random share of the ttl has passed, then release —
//! or, one time in five, let the lease lapse. Any op that does not end ok ends the
//! session. All choices come from the seeded operation stream.
//!
//! The checker ([`checker`], [`store_log`]) judges exclusivity, fencing-token order and
//! stale actions, each an invariant row in the summary.

pub mod checker;
pub mod holds;
pub mod rpcs;
pub mod store_log;

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use crate::history::Op;
use crate::rpc::{malformed, ErrorStyle, Rpc};
use crate::{
    CheckResult, ClientId, Completion, Invocation, NetEvent, Step, Workload, WorkloadOptions,
};

pub use holds::{holds, Hold};

/// Locks contended for unless `--key-count` says otherwise.
const DEFAULT_LOCKS: usize = 2;
/// The ttls asked for, in ms (inclusive).
const TTL_MS: (u64, u64) = (1_000, 3_000);
/// One session in this many lets its lease lapse instead of releasing it.
const LAPSE_ONE_IN: u32 = 5;

/// Where a worker's session is.
#[derive(Debug, Clone, PartialEq)]
enum Session {
    /// Not holding anything: the next op is an acquire.
    Idle,
    /// An op was issued; its ok reply moves the session on, anything else ends it.
    Awaiting(Box<Session>),
    /// Holding a lease.
    Holding {
        lock: i64,
        token: i128,
        /// Release (or lapse) once this much time since the main phase began has passed.
        until: Duration,
        acts: u32,
        lapse: bool,
    },
}

/// The lease workload.
#[derive(Debug)]
pub struct Lease {
    locks: usize,
    sessions: Vec<Session>,
    /// The worker whose op is being invoked (next_op_for is followed by invoke).
    issuing: usize,
    workers: HashMap<ClientId, usize>,
    now: Duration,
    next_value: u64,
    /// Plans drawn at acquire time, applied when the acquire_ok arrives.
    plans: HashMap<usize, (Duration, bool)>,
}

/// Build the lease workload.
pub fn build(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    let locks = options.key_count.unwrap_or(DEFAULT_LOCKS);
    if locks == 0 {
        return Err("lease needs --key-count of at least 1 (the number of locks)".into());
    }
    Ok(Box::new(Lease {
        locks,
        sessions: vec![Session::Idle; options.concurrency.max(1)],
        issuing: 0,
        workers: HashMap::new(),
        now: Duration::ZERO,
        next_value: 0,
        plans: HashMap::new(),
    }))
}

impl Lease {
    fn session(&mut self, worker: usize) -> &mut Session {
        if worker >= self.sessions.len() {
            self.sessions.resize(worker + 1, Session::Idle);
        }
        &mut self.sessions[worker]
    }

    fn acquire(&mut self, worker: usize, rng: &mut ChaCha8Rng) -> Invocation {
        let lock = rng.gen_range(0..self.locks) as i64;
        let ttl = rng.gen_range(TTL_MS.0..=TTL_MS.1);
        let hold = Duration::from_millis(ttl).mul_f64(rng.gen_range(0.2..0.8));
        let lapse = rng.gen_ratio(1, LAPSE_ONE_IN);
        self.plans.insert(worker, (hold, lapse));
        *self.session(worker) = Session::Awaiting(Box::new(Session::Idle));
        Invocation::new("acquire", json!({"lock": lock, "ttl": ttl}))
    }
}

impl Workload for Lease {
    fn name(&self) -> &'static str {
        "lease"
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        self.next_op_for(0, 0, rng)
    }

    fn next_op_for(&mut self, worker: usize, _: u64, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        self.issuing = worker;
        let now = self.now;
        let state = std::mem::replace(self.session(worker), Session::Idle);
        let (lock, token, until, acts, lapse) = match state {
            // The last op ended without an ok: the session is over.
            Session::Idle | Session::Awaiting(_) => return Some(self.acquire(worker, rng)),
            Session::Holding {
                lock,
                token,
                until,
                acts,
                lapse,
            } => (lock, token, until, acts, lapse),
        };
        let holding = Session::Holding {
            lock,
            token,
            until,
            acts: acts + 1,
            lapse,
        };
        if acts == 0 || now < until {
            self.next_value += 1;
            *self.session(worker) = Session::Awaiting(Box::new(holding));
            return Some(Invocation::new(
                "act",
                json!({"lock": lock, "token": token as i64, "value": self.next_value}),
            ));
        }
        if lapse {
            return Some(self.acquire(worker, rng));
        }
        *self.session(worker) = Session::Awaiting(Box::new(Session::Idle));
        Some(Invocation::new(
            "release",
            json!({"lock": lock, "token": token as i64}),
        ))
    }

    fn observe_time(&mut self, since_start: Duration) {
        self.now = since_start;
    }

    fn invoke(&mut self, client: ClientId, op: &Invocation) -> Step {
        self.workers.insert(client, self.issuing);
        let mut body = Map::new();
        body.insert("type".into(), Value::from(op.f));
        if let Some(fields) = op.value.as_object() {
            body.extend(fields.clone());
        }
        Step::Send(body)
    }

    fn reply(&mut self, client: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        let worker = self.workers.get(&client).copied();
        let completion = match op.f {
            "acquire" => match rpcs::ACQUIRE.validate(reply) {
                Ok(()) => match holds::token_of(&Value::Object(reply.clone())) {
                    Some(token) if i64::try_from(token).is_ok() => {
                        let mut value = op.value.clone();
                        value["token"] = reply["token"].clone();
                        if let Some(worker) = worker {
                            let (hold, lapse) = self.plans.remove(&worker).unwrap_or_default();
                            *self.session(worker) = Session::Holding {
                                lock: op.value["lock"].as_i64().unwrap_or(0),
                                token,
                                until: self.now + hold,
                                acts: 0,
                                lapse,
                            };
                        }
                        Completion::ok(value)
                    }
                    _ => malformed(op, reply, "token must fit a 64-bit signed integer"),
                },
                Err(reason) => malformed(op, reply, &reason),
            },
            "act" => rpcs::ACT.acknowledged(op, reply),
            _ => rpcs::RELEASE.acknowledged(op, reply),
        };
        if completion.kind == crate::OpType::Ok && op.f != "acquire" {
            if let Some(worker) = worker {
                if let Session::Awaiting(next) = self.session(worker).clone() {
                    *self.session(worker) = *next;
                }
            }
        }
        Step::Done(completion)
    }

    fn client_closed(&mut self, client: ClientId) {
        self.workers.remove(&client);
    }

    fn rpcs(&self) -> &'static [Rpc] {
        rpcs::RPCS
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors {
            idempotent: &["release"],
        }
    }

    fn client_reusable(&self) -> bool {
        true
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        checker::check(history)
    }

    fn analyzes_network(&self) -> bool {
        true
    }

    fn analyze_network(
        &self,
        history: &[Op],
        events: &mut dyn Iterator<Item = NetEvent>,
    ) -> Option<(&'static str, CheckResult)> {
        Some((
            store_log::SERVICE,
            store_log::stale_actions(history, events),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_session_acquires_acts_then_releases_or_lapses() {
        let options = WorkloadOptions {
            concurrency: 1,
            key_count: Some(3),
            ..WorkloadOptions::default()
        };
        let mut w = build(&options).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut released, mut lapsed, mut values) = (0, 0, Vec::new());
        for round in 0..200u64 {
            w.observe_time(Duration::from_millis(round * 400));
            let op = w.next_op_for(0, 0, &mut rng).unwrap();
            let step = w.invoke(9, &op);
            let Step::Send(request) = step else { panic!() };
            assert_eq!(request["type"], op.f);
            let reply = match op.f {
                "acquire" => {
                    assert!(op.value["lock"].as_i64().unwrap() < 3);
                    let ttl = op.value["ttl"].as_u64().unwrap();
                    assert!((1_000..=3_000).contains(&ttl));
                    json!({"type":"acquire_ok","token":round,"in_reply_to":1})
                }
                "act" => {
                    values.push(op.value["value"].as_u64().unwrap());
                    json!({"type":"act_ok","in_reply_to":1})
                }
                _ => {
                    released += 1;
                    json!({"type":"release_ok","in_reply_to":1})
                }
            };
            let Step::Done(done) = w.reply(9, &op, &body(reply)) else {
                panic!()
            };
            assert_eq!(done.kind, crate::OpType::Ok);
            if op.f == "acquire" {
                assert_eq!(done.value["token"], round);
            }
            if op.f == "acquire" && round > 0 {
                lapsed += 1;
            }
        }
        assert!(released > 5, "{released}");
        assert!(lapsed > released, "every release is followed by an acquire");
        let mut sorted = values.clone();
        sorted.dedup();
        assert_eq!(sorted, values, "act values are fresh");
    }

    #[test]
    fn an_op_without_an_ok_ends_the_session_and_bad_tokens_are_malformed() {
        let options = WorkloadOptions {
            concurrency: 1,
            ..WorkloadOptions::default()
        };
        let mut w = build(&options).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let op = w.next_op_for(0, 0, &mut rng).unwrap();
        w.invoke(1, &op);
        // No reply (a timeout or an error): the next op is a fresh acquire.
        assert_eq!(w.next_op_for(0, 0, &mut rng).unwrap().f, "acquire");
        let bad = body(json!({"type":"acquire_ok","token":1.5,"in_reply_to":1}));
        let Step::Done(done) = w.reply(1, &op, &bad) else {
            panic!()
        };
        assert_eq!(done.kind, crate::OpType::Info);
        let huge = body(json!({"type":"acquire_ok","token":u64::MAX,"in_reply_to":1}));
        let Step::Done(done) = w.reply(1, &op, &huge) else {
            panic!()
        };
        assert_eq!(done.exception.as_deref(), Some("malformed-rpc-response"));
    }
}

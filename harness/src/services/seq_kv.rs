//! `seq-kv`: a sequentially consistent key-value store, simulated the way Maelstrom
//! does (§7.3). The service keeps the last 32 states and, per caller, the index of the
//! last state that caller observed. A request is tried against a state chosen uniformly
//! between the caller's last and the newest; if that leaves the state unchanged (reads,
//! failed cas, rewriting a present value) its result is the reply and the caller's
//! index moves there. Otherwise the request is applied to the newest state, which
//! becomes a new state, and the caller moves to it.
//!
//! So reads may be stale but never older than what the same caller already saw, every
//! mutation applies to the newest state, and a caller forces a fresh view by first
//! writing something new. Unlike Maelstrom, a caller more than 32 states behind is
//! moved up to the oldest state kept (Maelstrom's ring index wraps around there).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::kv::{self, KvMap, Reply};

/// How many past states the service keeps.
const KEPT_STATES: usize = 32;

/// The sequentially consistent KV service.
#[derive(Debug)]
pub struct SeqKv {
    /// The last states, oldest first; the back is the newest.
    states: VecDeque<Arc<KvMap>>,
    /// Index (count of changes) of the newest state.
    last_index: u64,
    /// Per caller, the index of the last state it observed.
    seen: HashMap<String, u64>,
}

impl Default for SeqKv {
    fn default() -> SeqKv {
        SeqKv {
            states: VecDeque::from([Arc::new(KvMap::new())]),
            last_index: 0,
            seen: HashMap::new(),
        }
    }
}

impl SeqKv {
    /// Handle one request from `caller`.
    pub fn handle(
        &mut self,
        caller: &str,
        body: &Map<String, Value>,
        rng: &mut ChaCha8Rng,
    ) -> Reply {
        let request = match kv::parse(body) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let oldest = self.last_index + 1 - self.states.len() as u64;
        let from = self.seen.get(caller).copied().unwrap_or(0).max(oldest);
        let index = rng.gen_range(from..=self.last_index);
        let state = &self.states[(index - oldest) as usize];
        let mut tried = KvMap::clone(state);
        let (reply, changed) = kv::apply(&mut tried, &request, true);
        if !changed {
            self.seen.insert(caller.to_string(), index);
            return reply;
        }
        let mut newest = KvMap::clone(self.states.back().expect("always one state"));
        let (reply, changed) = kv::apply(&mut newest, &request, true);
        if changed {
            self.states.push_back(Arc::new(newest));
            if self.states.len() > KEPT_STATES {
                self.states.pop_front();
            }
            self.last_index += 1;
        }
        self.seen.insert(caller.to_string(), self.last_index);
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn op(s: &mut SeqKv, rng: &mut ChaCha8Rng, caller: &str, v: Value) -> Reply {
        s.handle(caller, v.as_object().unwrap(), rng)
    }

    #[test]
    fn a_caller_can_read_stale_but_never_older_than_it_saw() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut s = SeqKv::default();
        let mut stale_reads = 0;
        let mut last_seen_by_b = -1i64;
        for v in 0..200i64 {
            op(
                &mut s,
                &mut rng,
                "a",
                json!({"type":"write","key":"k","value":v}),
            );
            let r = op(&mut s, &mut rng, "b", json!({"type":"read","key":"k"}));
            let seen = r.get("value").and_then(Value::as_i64).unwrap_or(-1);
            assert!(
                seen >= last_seen_by_b,
                "b went back from {last_seen_by_b} to {seen}"
            );
            if seen < v {
                stale_reads += 1;
            }
            last_seen_by_b = seen;
        }
        assert!(
            stale_reads > 20,
            "seq-kv must be stale sometimes ({stale_reads})"
        );
    }

    #[test]
    fn a_caller_reads_its_own_writes_and_cas_applies_to_the_newest_state() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut s = SeqKv::default();
        for v in 0..50 {
            op(
                &mut s,
                &mut rng,
                "a",
                json!({"type":"write","key":"k","value":v}),
            );
        }
        // A cas from a stale value may match an old state but is applied to the newest
        // one, so it never succeeds.
        for _ in 0..50 {
            let r = op(
                &mut s,
                &mut rng,
                "b",
                json!({"type":"cas","key":"k","from":10,"to":99}),
            );
            assert_eq!(r["code"], 22);
        }
        // A cas from the newest value succeeds once it is tried against a state holding
        // that value (the caller's view only moves forward), and lands on the newest.
        let succeeded = (0..50).any(|_| {
            let r = op(
                &mut s,
                &mut rng,
                "b",
                json!({"type":"cas","key":"k","from":49,"to":50}),
            );
            r["type"] == "cas_ok"
        });
        assert!(succeeded);
        // …and b now reads at least that state.
        let r = op(&mut s, &mut rng, "b", json!({"type":"read","key":"k"}));
        assert_eq!(r["value"], 50);
        // The writer reads its own write.
        op(
            &mut s,
            &mut rng,
            "a",
            json!({"type":"write","key":"k","value":99}),
        );
        let r = op(&mut s, &mut rng, "a", json!({"type":"read","key":"k"}));
        assert_eq!(r["value"], 99);
    }

    #[test]
    fn a_unique_write_then_read_gives_a_fresh_view() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut s = SeqKv::default();
        for round in 0..100 {
            op(
                &mut s,
                &mut rng,
                "a",
                json!({"type":"write","key":"k","value":round}),
            );
            op(
                &mut s,
                &mut rng,
                "b",
                json!({"type":"write","key":"sync-b","value":round}),
            );
            let r = op(&mut s, &mut rng, "b", json!({"type":"read","key":"k"}));
            assert_eq!(r["value"], round);
        }
    }
}

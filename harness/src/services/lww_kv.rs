//! `lww-kv`: a deliberately weak last-write-wins store (§7.4). Two replicas, each a map
//! of key → (timestamp, value) with a Lamport clock. Every request first merges one
//! random replica into another (the higher timestamp wins, ties keep the source's
//! value), then is applied to a random replica: reads can be stale or go backwards,
//! and concurrent writes are silently lost.
//!
//! Maelstrom computes that merge and throws it away, so its replicas never converge;
//! straum applies it (the documented behaviour), so replicas converge under traffic.
//! `create_if_not_exists` is ignored, as in Maelstrom.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::kv::{self, KvMap, Reply};

/// Replicas of the service.
const REPLICAS: usize = 2;

#[derive(Debug, Default, Clone)]
struct Replica {
    clock: u64,
    entries: BTreeMap<String, (u64, Value)>,
}

impl Replica {
    fn merge_from(&mut self, other: &Replica) {
        for (key, (ts, value)) in &other.entries {
            match self.entries.get(key) {
                Some((mine, _)) if mine > ts => {}
                _ => {
                    self.entries.insert(key.clone(), (*ts, value.clone()));
                }
            }
        }
        self.clock = self.clock.max(other.clock);
    }
}

/// The last-write-wins KV service.
#[derive(Debug)]
pub struct LwwKv {
    replicas: Vec<Replica>,
}

impl Default for LwwKv {
    fn default() -> LwwKv {
        LwwKv {
            replicas: vec![Replica::default(); REPLICAS],
        }
    }
}

impl LwwKv {
    /// Handle one request.
    pub fn handle(&mut self, body: &Map<String, Value>, rng: &mut ChaCha8Rng) -> Reply {
        let request = match kv::parse(body) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let (a, b) = (rng.gen_range(0..REPLICAS), rng.gen_range(0..REPLICAS));
        if a != b {
            let source = self.replicas[a].clone();
            self.replicas[b].merge_from(&source);
        }
        let replica = &mut self.replicas[rng.gen_range(0..REPLICAS)];
        let mut view: KvMap = replica
            .entries
            .iter()
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect();
        let (reply, changed) = kv::apply(&mut view, &request, false);
        if changed {
            let ts = replica.clock;
            replica.clock += 1;
            for (key, value) in view {
                if replica.entries.get(&key).map(|(_, v)| v) != Some(&value) {
                    replica.entries.insert(key, (ts, value));
                }
            }
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn reads_can_miss_acknowledged_writes_and_replicas_converge_under_traffic() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut s = LwwKv::default();
        let mut misses = 0;
        for v in 0..100 {
            s.handle(
                json!({"type":"write","key":"k","value":v})
                    .as_object()
                    .unwrap(),
                &mut rng,
            );
            let r = s.handle(
                json!({"type":"read","key":"k"}).as_object().unwrap(),
                &mut rng,
            );
            if r.get("value") != Some(&json!(v)) {
                misses += 1;
            }
        }
        assert!(misses > 5, "lww-kv must be weak ({misses} misses)");
        for _ in 0..20 {
            s.handle(
                json!({"type":"read","key":"k"}).as_object().unwrap(),
                &mut rng,
            );
        }
        assert_eq!(
            s.replicas[0].entries, s.replicas[1].entries,
            "merges converge"
        );
    }
}

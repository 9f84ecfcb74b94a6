//! The kafka operation stream (Maelstrom §8.9, built on the list-append key
//! generator of §8.7 with transactions of length 1).
//!
//! Each op draws one micro-op: an active key (the i-th of `--key-count` active keys
//! has weight 2^i) and, with probability ½ each, a read (→ `poll`) or an append of the
//! key's next value 1, 2, … (→ `send`). A key that has received
//! `--max-writes-per-key` sends is retired: its slot gets a fresh key, one above the
//! highest key so far. With probability 1/64 an `assign` of the micro-op's key is
//! issued instead, and the micro-op follows as the next op; a third of assigns are
//! widened with every key that has sent offsets no poll has returned yet.
//!
//! Crashes: as in Maelstrom, a `crash` is emitted at random times: the gaps are
//! uniform in [0, 2 × 30 s / concurrency), so each client crashes about every 30 s of
//! its time. The harness tells the generator the time
//! ([`Workload::observe_time`](crate::Workload::observe_time)) before each op.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::key_order;
use crate::Invocation;

/// Mean seconds between one client's crashes (Maelstrom's 30 s).
pub const CLIENT_CRASH_INTERVAL_SECS: f64 = 30.0;

/// One op in this many is an `assign` (Maelstrom's 1/64).
pub const ASSIGN_ONE_IN: u32 = 64;

/// One assign in this many is widened with the keys that have unpolled sends.
pub const WIDEN_ONE_IN: u32 = 3;

/// A list-append micro-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Micro {
    /// Read the key (a poll).
    Read(u64),
    /// Append `value` to the key (a send).
    Append(u64, u64),
}

/// The active keys and how often each has been written.
#[derive(Debug, Clone)]
pub struct KeyPool {
    active: Vec<u64>,
    writes: HashMap<u64, u64>,
    max_writes: u64,
    next_key: u64,
}

impl KeyPool {
    /// `key_count` active keys 0…key_count−1 (at least one), each retired after
    /// `max_writes` appends (at least one).
    pub fn new(key_count: usize, max_writes: u64) -> KeyPool {
        let key_count = key_count.max(1);
        KeyPool {
            active: (0..key_count as u64).collect(),
            writes: HashMap::new(),
            max_writes: max_writes.max(1),
            next_key: key_count as u64,
        }
    }

    /// The active keys, slot by slot.
    pub fn active(&self) -> &[u64] {
        &self.active
    }

    /// An active slot, slot i with weight 2^i: from the top, each slot is taken with
    /// its conditional probability 2^(m−1)/(2^m − 1) among the m slots left.
    fn pick_slot(&self, rng: &mut ChaCha8Rng) -> usize {
        let mut m = self.active.len();
        while m > 1 {
            let p = 1.0 / (2.0 - 0.5f64.powi(m as i32 - 1));
            if rng.gen_bool(p) {
                break;
            }
            m -= 1;
        }
        m - 1
    }

    /// The next micro-op.
    pub fn next(&mut self, rng: &mut ChaCha8Rng) -> Micro {
        let slot = self.pick_slot(rng);
        let key = self.active[slot];
        if rng.gen_bool(0.5) {
            return Micro::Read(key);
        }
        let writes = self.writes.entry(key).or_insert(0);
        *writes += 1;
        let value = *writes;
        if value >= self.max_writes {
            self.writes.remove(&key);
            self.active[slot] = self.next_key;
            self.next_key += 1;
        }
        Micro::Append(key, value)
    }
}

/// What clients have learnt about offsets: the highest offset any send or poll
/// returned per key, which keys have sends no poll has caught up with, and every key
/// ever touched.
#[derive(Debug, Clone, Default)]
pub struct OffsetTracker {
    sent: HashMap<String, i64>,
    polled: HashMap<String, i64>,
    touched: BTreeSet<String>,
}

impl OffsetTracker {
    /// A send of `key` was acknowledged at `offset`.
    pub fn sent(&mut self, key: &str, offset: i64) {
        raise(&mut self.sent, key, offset);
        self.touch(key);
    }

    /// A poll returned `offset` for `key`.
    pub fn polled(&mut self, key: &str, offset: i64) {
        raise(&mut self.polled, key, offset);
        self.touch(key);
    }

    /// A key was used by an op.
    pub fn touch(&mut self, key: &str) {
        if !self.touched.contains(key) {
            self.touched.insert(key.to_string());
        }
    }

    /// Note the keys an invoked op names (a send's key, an assign's keys).
    pub fn touch_op(&mut self, op: &Invocation) {
        match op.f {
            "send" => {
                if let Some(key) = op.value.pointer("/0/1").and_then(Value::as_str) {
                    self.touch(key);
                }
            }
            "assign" => {
                for key in op.value.as_array().into_iter().flatten() {
                    if let Some(key) = key.as_str() {
                        self.touch(key);
                    }
                }
            }
            _ => {}
        }
    }

    /// Every key with a known offset and the highest offset seen for it.
    pub fn highest(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        let polled_only = self
            .polled
            .iter()
            .filter(|(k, _)| !self.sent.contains_key(*k))
            .map(|(k, o)| (k.as_str(), *o));
        self.sent
            .iter()
            .map(|(k, o)| {
                (
                    k.as_str(),
                    (*o).max(self.polled.get(k).copied().unwrap_or(*o)),
                )
            })
            .chain(polled_only)
    }

    /// Keys with a sent offset above every polled one, in key order.
    pub fn unseen_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .sent
            .iter()
            .filter(|(k, o)| self.polled.get(*k).is_none_or(|p| p < *o))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_by(|a, b| key_order(a, b));
        keys
    }

    /// Every key ever touched, in key order.
    pub fn touched_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.touched.iter().cloned().collect();
        keys.sort_by(|a, b| key_order(a, b));
        keys
    }
}

fn raise(map: &mut HashMap<String, i64>, key: &str, offset: i64) {
    match map.get_mut(key) {
        Some(o) => *o = (*o).max(offset),
        None => {
            map.insert(key.to_string(), offset);
        }
    }
}

/// The main-phase op stream.
#[derive(Debug, Clone)]
pub struct Generator {
    pool: KeyPool,
    /// The op an assign stood in for, issued next.
    pending: Option<Invocation>,
    /// Mean gap between crash ops, across all clients.
    crash_gap: Duration,
    /// Time since the main phase began, as last observed.
    now: Duration,
    /// When the next crash op is due (drawn on first use).
    next_crash: Option<Duration>,
}

impl Generator {
    /// A generator over these keys for `concurrency` clients.
    pub fn new(pool: KeyPool, concurrency: usize) -> Generator {
        Generator {
            pool,
            pending: None,
            crash_gap: Duration::from_secs_f64(
                CLIENT_CRASH_INTERVAL_SECS / concurrency.max(1) as f64,
            ),
            now: Duration::ZERO,
            next_crash: None,
        }
    }

    /// The time since the main phase began.
    pub fn observe_time(&mut self, now: Duration) {
        self.now = now;
    }

    fn crash_gap(&self, rng: &mut ChaCha8Rng) -> Duration {
        self.crash_gap.mul_f64(rng.gen_range(0.0..2.0))
    }

    /// The key pool.
    pub fn pool(&self) -> &KeyPool {
        &self.pool
    }

    /// The next op; `offsets` says which keys have unpolled sends.
    pub fn next(&mut self, rng: &mut ChaCha8Rng, offsets: &OffsetTracker) -> Invocation {
        let due = match self.next_crash {
            Some(due) => due,
            None => *self.next_crash.insert(self.now + self.crash_gap(rng)),
        };
        if self.now >= due {
            self.next_crash = Some(self.now + self.crash_gap(rng));
            return Invocation::new("crash", Value::Null);
        }
        if let Some(op) = self.pending.take() {
            return op;
        }
        let (key, op) = match self.pool.next(rng) {
            Micro::Read(key) => (key, super::client::poll_op()),
            Micro::Append(key, value) => (
                key,
                Invocation::new("send", json!([["send", key.to_string(), value]])),
            ),
        };
        if !rng.gen_ratio(1, ASSIGN_ONE_IN) {
            return op;
        }
        self.pending = Some(op);
        let mut keys = vec![key.to_string()];
        if rng.gen_ratio(1, WIDEN_ONE_IN) {
            keys.extend(offsets.unseen_keys());
            keys.sort_by(|a, b| key_order(a, b));
            keys.dedup();
        }
        Invocation::new("assign", json!(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn slots_follow_powers_of_two() {
        let pool = KeyPool::new(4, 16);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0usize; 4];
        let n = 150_000;
        for _ in 0..n {
            counts[pool.pick_slot(&mut rng)] += 1;
        }
        // Expected 1/15, 2/15, 4/15, 8/15.
        for (i, c) in counts.iter().enumerate() {
            let expected = (1u32 << i) as f64 / 15.0;
            let got = *c as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.01,
                "slot {i}: {got} vs {expected}"
            );
        }
        // One key, and a pool too large for 2^K: no overflow, the top slot about half.
        assert_eq!(KeyPool::new(1, 1).pick_slot(&mut rng), 0);
        let big = KeyPool::new(5000, 16);
        let top = (0..10_000)
            .filter(|_| big.pick_slot(&mut rng) == 4999)
            .count();
        assert!((4500..5500).contains(&top), "{top}");
    }

    #[test]
    fn values_count_up_per_key_and_full_keys_retire_to_fresh_ones() {
        let mut pool = KeyPool::new(3, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut last: HashMap<u64, u64> = HashMap::new();
        let mut retired = BTreeSet::new();
        for _ in 0..5_000 {
            let before: Vec<u64> = pool.active().to_vec();
            match pool.next(&mut rng) {
                Micro::Read(k) => assert!(before.contains(&k)),
                Micro::Append(k, v) => {
                    assert!(before.contains(&k));
                    assert!(!retired.contains(&k));
                    let prev = last.insert(k, v).unwrap_or(0);
                    assert_eq!(v, prev + 1, "values per key are 1, 2, …");
                    assert!(v <= 4);
                    if v == 4 {
                        retired.insert(k);
                        assert!(!pool.active().contains(&k));
                        let fresh = *pool.active().iter().max().unwrap();
                        assert_eq!(fresh, *before.iter().max().unwrap().max(&k) + 1);
                    }
                }
            }
            assert_eq!(pool.active().len(), 3);
        }
        assert!(retired.len() > 100);
    }

    #[test]
    fn assigns_precede_their_op_and_some_are_widened_with_unseen_keys() {
        let mut gen = Generator::new(KeyPool::new(10, 16), 2);
        let mut offsets = OffsetTracker::default();
        offsets.sent("900000", 4);
        offsets.sent("900001", 2);
        offsets.polled("900001", 2);
        offsets.sent("900002", 7);
        offsets.polled("900002", 3);
        assert_eq!(offsets.unseen_keys(), ["900000", "900002"]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut assigns, mut widened, mut crashes, mut total) = (0, 0, 0, 0);
        let mut prev: Option<Invocation> = None;
        for i in 0..200_000u64 {
            // 200,000 ops over 2,000 s: with 2 clients a crash every 15 s on average.
            gen.observe_time(Duration::from_millis(i * 10));
            let op = gen.next(&mut rng, &offsets);
            total += 1;
            match op.f {
                "crash" => crashes += 1,
                "assign" => {
                    assigns += 1;
                    let keys: Vec<&str> = op
                        .value
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap())
                        .collect();
                    if keys.contains(&"900000") {
                        widened += 1;
                        assert!(keys.contains(&"900002") && !keys.contains(&"900001"));
                    }
                }
                "send" => {
                    let key = op.value[0][1].as_str().unwrap();
                    assert!(key.parse::<u64>().is_ok(), "keys are decimal strings");
                    if let Some(p) = prev.as_ref().filter(|p| p.f == "assign") {
                        assert!(p.value.as_array().unwrap().contains(&json!(key)));
                    }
                }
                "poll" => assert_eq!(op.value, json!([["poll"]])),
                other => panic!("unexpected f {other}"),
            }
            prev = Some(op);
        }
        let assign_rate = assigns as f64 / total as f64;
        assert!((assign_rate - 1.0 / 64.0).abs() < 0.002, "{assign_rate}");
        let widen_rate = widened as f64 / assigns as f64;
        assert!((widen_rate - 1.0 / 3.0).abs() < 0.04, "{widen_rate}");
        assert!(
            (100..=170).contains(&crashes),
            "{crashes} crashes in 2,000 s"
        );
    }

    #[test]
    fn the_tracker_knows_highest_offsets_and_touched_keys() {
        let mut t = OffsetTracker::default();
        t.sent("3", 5);
        t.polled("3", 9);
        t.polled("4", 1);
        t.touch_op(&Invocation::new("assign", json!(["12", "3"])));
        t.touch_op(&Invocation::new("send", json!([["send", "7", 1]])));
        let mut highest: Vec<(&str, i64)> = t.highest().collect();
        highest.sort();
        assert_eq!(highest, [("3", 9), ("4", 1)]);
        assert_eq!(t.touched_keys(), ["3", "4", "7", "12"]);
        assert!(t.unseen_keys().is_empty());
    }
}

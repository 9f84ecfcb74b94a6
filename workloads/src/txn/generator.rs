//! The transaction stream of both transactional workloads (Maelstrom §8.7–8.8, elle's
//! `wr-txns`): each transaction has a length uniform in [1, `--max-txn-length`]; each
//! micro-op is a read or a write (an append in list-append) with probability ½, on a
//! key drawn from `--key-count` active keys where the i-th active key has weight 2^i;
//! a key's written values are 1, 2, 3, … and once it has had `--max-writes-per-key`
//! of them it is retired and its slot gets a fresh key, one above the highest so far.
//!
//! The key pool is the one the kafka generator uses (its sends and polls are
//! list-append micro-ops of transactions of length 1).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::kafka::generator::{KeyPool, Micro};

/// Generates transactions as JSON arrays of micro-ops `[f, k, v]`.
#[derive(Debug, Clone)]
pub struct TxnGenerator {
    pool: KeyPool,
    max_len: usize,
    write_f: &'static str,
}

impl TxnGenerator {
    /// Transactions of 1…`max_len` micro-ops (at least 1) over `key_count` active
    /// keys, each key retired after `max_writes` writes; writes are named `write_f`
    /// (`"append"` or `"w"`).
    pub fn new(
        key_count: usize,
        max_writes: u64,
        max_len: usize,
        write_f: &'static str,
    ) -> TxnGenerator {
        TxnGenerator {
            pool: KeyPool::new(key_count, max_writes),
            max_len: max_len.max(1),
            write_f,
        }
    }

    /// The next transaction, as invoked: reads carry `null`.
    pub fn next(&mut self, rng: &mut ChaCha8Rng) -> Value {
        let len = rng.gen_range(1..=self.max_len);
        (0..len)
            .map(|_| match self.pool.next(rng) {
                Micro::Read(key) => json!(["r", key, null]),
                Micro::Append(key, value) => json!([self.write_f, key, value]),
            })
            .collect()
    }

    /// The currently active keys, slot by slot.
    pub fn active_keys(&self) -> &[u64] {
        self.pool.active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::{BTreeSet, HashMap};

    fn micro_ops(txn: &Value) -> Vec<(String, u64, Value)> {
        txn.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m[0].as_str().unwrap().to_string(),
                    m[1].as_u64().unwrap(),
                    m[2].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn lengths_are_uniform_and_reads_and_writes_are_even() {
        let mut gen = TxnGenerator::new(10, 16, 4, "w");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut lengths = [0usize; 5];
        let (mut reads, mut writes) = (0usize, 0usize);
        let n = 40_000;
        for _ in 0..n {
            let txn = gen.next(&mut rng);
            let ops = micro_ops(&txn);
            lengths[ops.len()] += 1;
            for (f, _, v) in ops {
                match f.as_str() {
                    "r" => {
                        assert_eq!(v, Value::Null);
                        reads += 1;
                    }
                    "w" => writes += 1,
                    other => panic!("unexpected micro-op {other}"),
                }
            }
        }
        assert_eq!(lengths[0], 0);
        for (len, count) in lengths.iter().enumerate().skip(1) {
            let share = *count as f64 / n as f64;
            assert!((share - 0.25).abs() < 0.01, "length {len}: {share}");
        }
        let read_share = reads as f64 / (reads + writes) as f64;
        assert!((read_share - 0.5).abs() < 0.01, "{read_share}");
        // A max length of 1 (or 0) gives single micro-ops.
        let mut one = TxnGenerator::new(3, 16, 0, "append");
        assert!((0..100).all(|_| one.next(&mut rng).as_array().unwrap().len() == 1));
    }

    #[test]
    fn the_ith_active_key_has_weight_two_to_the_i() {
        // Writes never retire a key here, so the active keys stay 0…3.
        let mut gen = TxnGenerator::new(4, u64::MAX, 4, "append");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut counts = [0usize; 4];
        let mut total = 0;
        for _ in 0..50_000 {
            for (_, key, _) in micro_ops(&gen.next(&mut rng)) {
                counts[key as usize] += 1;
                total += 1;
            }
        }
        for (i, count) in counts.iter().enumerate() {
            let expected = (1u32 << i) as f64 / 15.0;
            let got = *count as f64 / total as f64;
            assert!(
                (got - expected).abs() < 0.01,
                "key {i}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn values_are_unique_per_key_and_full_keys_retire_to_fresh_ones() {
        let mut gen = TxnGenerator::new(3, 4, 4, "append");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut written: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut retired = BTreeSet::new();
        let mut highest = 2;
        for _ in 0..5_000 {
            for (f, key, v) in micro_ops(&gen.next(&mut rng)) {
                assert!(!retired.contains(&key), "retired key {key} used again");
                if f == "append" {
                    let values = written.entry(key).or_default();
                    values.push(v.as_u64().unwrap());
                    if values.len() == 4 {
                        retired.insert(key);
                    }
                }
            }
            let active = gen.active_keys();
            assert_eq!(active.len(), 3);
            let max = *active.iter().max().unwrap();
            assert!(max >= highest, "fresh keys only grow");
            highest = max;
        }
        assert!(retired.len() > 100, "{} keys retired", retired.len());
        for (key, values) in &written {
            let expected: Vec<u64> = (1..=values.len() as u64).collect();
            assert_eq!(values, &expected, "key {key}: values are 1, 2, 3, …");
        }
        // Fresh keys are handed out one above the highest: the retired and the active
        // keys together are exactly 0…highest.
        let mut seen: BTreeSet<u64> = retired.clone();
        seen.extend(gen.active_keys().iter().copied());
        assert_eq!(seen, (0..=highest).collect::<BTreeSet<u64>>());
    }
}

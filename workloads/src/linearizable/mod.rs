//! A linearizability checker in the manner of Porcupine: a history is split per key
//! (P-compositionality), each key is searched independently with Wing–Gong–Lowe
//! (see [`search`]), and the keys are spread over all cores.
//!
//! * [`Model`] is a small trait; [`CasRegister`] (lin-kv, Jepsen's etcd test) and
//!   [`KvModel`] (Porcupine's `get`/`put`/`append`) are the two models shipped.
//! * [`check`] checks partitions with any model; [`check_lin_kv`] takes straum's own
//!   lin-kv history.
//! * [`formats`] parses straum's `history.jsonl`, Jepsen's EDN op maps and Jepsen's
//!   log lines.
//! * [`visualize`] draws a failing key's operations and its longest linearization.
//! * Bounds: a time limit for the whole check and one per key, and a memory cap on
//!   the search caches ([`CheckOptions`]); a key stopped by either is `unknown` with
//!   the longest linearization found so far. The check never hangs past its limit.

mod edn;
pub mod formats;
pub mod history;
pub mod model;
pub mod report;
pub mod search;
pub mod visualize;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use history::{lin_kv_partitions, Clock, HistoryError, Operation, Outcome, Partition};
pub use model::{CasInput, CasOutput, CasRegister, KvInput, KvModel, KvOutput, Model};
pub use report::{Failure, KeyResult, OpView, Report, Timeline};
pub use search::MemoryBudget;

use crate::history::Op;
use crate::Validity;

/// Limits for one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// Time limit for the whole check (`--checker-timeout`); keys not finished by then
    /// are unknown. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Time limit for any one key. `None`: only the whole-check limit applies.
    pub key_timeout: Option<Duration>,
    /// Cap on the bytes all search caches may hold at once.
    pub memory_limit: usize,
    /// Threads to search keys on; 0 = one per core (one for histories under 1000 ops).
    pub threads: usize,
    /// Stop every search as soon as one key is invalid (Porcupine's non-verbose
    /// mode): the verdict is the same, keys cut short are unknown. Off by default,
    /// so every failing key is explained.
    pub stop_at_first_failure: bool,
}

impl Default for CheckOptions {
    /// 60 s for the whole check, no separate per-key limit, 1 GiB of cache, all cores.
    fn default() -> CheckOptions {
        CheckOptions {
            timeout: Some(Duration::from_secs(60)),
            key_timeout: None,
            memory_limit: 1 << 30,
            threads: 0,
            stop_at_first_failure: false,
        }
    }
}

fn search_key<M: Model>(
    model: &M,
    partition: &Partition<M::Input, M::Output>,
    clock: Clock,
    deadline: Option<Instant>,
    options: &CheckOptions,
    budget: &MemoryBudget,
    cancel: &AtomicBool,
) -> KeyResult {
    let started = Instant::now();
    let key_deadline = options.key_timeout.map(|t| started + t);
    let deadline = match (deadline, key_deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let found = search::search(model, &partition.ops, deadline, budget, cancel);
    if found.linearizable == Some(false) && options.stop_at_first_failure {
        cancel.store(true, Ordering::Relaxed);
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    report::key_result(model, partition, found, clock, ms)
}

/// Check every partition with `model`, in parallel, within `options`' limits.
pub fn check<M: Model>(
    model: &M,
    partitions: &[Partition<M::Input, M::Output>],
    clock: Clock,
    options: &CheckOptions,
) -> Report {
    let started = Instant::now();
    let deadline = options.timeout.map(|t| started + t);
    let budget = MemoryBudget::new(options.memory_limit);
    let cancel = AtomicBool::new(false);
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(partitions[i].ops.len()));
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(partitions.len().max(1));
    // below this, starting threads costs more than it saves
    let small =
        options.threads == 0 && partitions.iter().map(|p| p.ops.len()).sum::<usize>() < 1000;
    let threads = if small { 1 } else { threads };
    let mut results: Vec<Option<KeyResult>> = vec![None; partitions.len()];
    if threads <= 1 {
        for &i in &order {
            results[i] = Some(search_key(
                model,
                &partitions[i],
                clock,
                deadline,
                options,
                &budget,
                &cancel,
            ));
        }
    } else {
        let next = AtomicUsize::new(0);
        let done = Mutex::new(&mut results);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let result = search_key(
                        model,
                        &partitions[i],
                        clock,
                        deadline,
                        options,
                        &budget,
                        &cancel,
                    );
                    done.lock().unwrap()[i] = Some(result);
                });
            }
        });
    }
    let results: Vec<KeyResult> = results
        .into_iter()
        .map(|r| r.expect("every key searched"))
        .collect();
    let keys_with = |v: Validity| -> Vec<String> {
        results
            .iter()
            .filter(|r| r.valid == v)
            .map(|r| r.key.clone())
            .collect()
    };
    Report {
        valid: Validity::combine(results.iter().map(|r| r.valid)),
        failures: keys_with(Validity::Invalid),
        unknown: keys_with(Validity::Unknown),
        op_count: partitions.iter().map(|p| p.ops.len()).sum(),
        results,
        time_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Check a straum (or Maelstrom) lin-kv history: per key, against Knossos'
/// cas-register (nil start, nil reads match anything, failed ops never happened,
/// `info` ops may take effect at any time after invocation).
pub fn check_lin_kv(history: &[Op], options: &CheckOptions) -> Result<Report, HistoryError> {
    let partitions = lin_kv_partitions(history)?;
    Ok(check(
        &CasRegister::knossos(),
        &partitions,
        Clock::Nanos,
        options,
    ))
}

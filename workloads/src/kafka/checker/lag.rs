//! `worst-realtime-lag`: for each ok poll and each key the process has read, how long
//! before the poll began a message above the highest offset it had read was
//! acknowledged. Evaluated lazily — when the highest offset changes, the key is
//! dropped, or the process ends — so its cost is per change, not per poll × key.

use serde_json::{json, Value};

use super::analysis::{Analysis, KeyId};
use super::walk::ProcState;

/// A process's realtime-lag state for one key: the highest offset it has read, and
/// the number of the poll from which on that was so.
pub(super) struct LagKey {
    offset: i64,
    since: u64,
}

/// The worst lag found: (lag ns, poll time ns, process, key).
pub(super) type Lag = (u64, u64, u64, KeyId);

impl<'a> Analysis<'a> {
    /// When a message above `offset` was first acknowledged for `key`.
    fn expired(&self, key: KeyId, offset: i64) -> Option<u64> {
        let acks = &self.acks[key as usize];
        let i = acks.partition_point(|(o, _)| *o <= offset);
        self.ack_suffix_min[key as usize].get(i).copied()
    }

    /// Poll number `seq` of `process` read `key` up to `highest`: if that is new, the
    /// old highest offset's lag is evaluated at the process's previous poll.
    pub(super) fn note_highest(
        &mut self,
        process: u64,
        key: KeyId,
        highest: i64,
        seq: u64,
        state: &mut ProcState,
    ) {
        let (count, last_time) = (state.poll_count, state.last_poll_time);
        match state.lag.get_mut(&key) {
            Some(lag) if highest <= lag.offset => {}
            Some(lag) => {
                let old = LagKey {
                    offset: lag.offset,
                    since: lag.since,
                };
                self.flush_lag(process, key, &old, count, last_time);
                *lag = LagKey {
                    offset: highest,
                    since: seq,
                };
            }
            None => {
                state.lag.insert(
                    key,
                    LagKey {
                        offset: highest,
                        since: seq,
                    },
                );
            }
        }
    }

    /// Evaluate a key's lag at the process's latest poll, if that poll had this
    /// highest offset in force.
    pub(super) fn flush_lag(
        &mut self,
        process: u64,
        key: KeyId,
        lag: &LagKey,
        polls: u64,
        time: u64,
    ) {
        if lag.since > polls {
            return;
        }
        let Some(expired) = self.expired(key, lag.offset) else {
            return;
        };
        let value = time.saturating_sub(expired);
        if value > 0 && self.worst_lag.is_none_or(|(worst, ..)| value > worst) {
            self.worst_lag = Some((value, time, process, key));
        }
    }

    /// Evaluate every key's lag of a process that is over.
    pub(super) fn flush_all(&mut self, process: u64, state: &ProcState) {
        let mut keys: Vec<(&KeyId, &LagKey)> = state.lag.iter().collect();
        keys.sort_unstable_by_key(|(k, _)| **k);
        for (key, lag) in keys {
            self.flush_lag(process, *key, lag, state.poll_count, state.last_poll_time);
        }
    }

    /// The `worst-realtime-lag` field.
    pub(super) fn lag_json(&self) -> Value {
        match self.worst_lag {
            Some((lag, time, process, key)) => json!({
                "time": time as f64 / 1e9,
                "lag": lag as f64 / 1e9,
                "process": process,
                "key": self.key_name(key),
            }),
            None => json!({"time": 0, "lag": 0}),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testkit::{findings, H};
    use crate::Validity;

    #[test]
    fn realtime_lag_is_measured_from_the_first_ack_above_what_a_process_read() {
        let mut h = H::default();
        h.assign(1, json!(["1"])) // 0, 1
            .send(0, "1", 1, 0) // ack at 3 ms
            .poll(1, json!({"1": [[0, 1]]})) // 4, 5
            .send(0, "1", 2, 1) // ack at 7 ms
            .send(0, "1", 3, 2); // ack at 9 ms
        for _ in 0..5 {
            h.poll(1, json!({})); // invoked at 10, 12, 14, 16, 18 ms
        }
        h.poll(1, json!({"1": [[1, 2], [2, 3]]})); // invoked at 20 ms: caught up
        let r = h.check();
        assert_eq!(r.valid, Validity::Valid, "{}", findings(&r));
        // Worst: the poll invoked at 18 ms had read only offset 0; offset 1 was acked
        // at 7 ms.
        assert_eq!(
            r.fields["worst-realtime-lag"],
            json!({"time": 0.018, "lag": 0.011, "process": 1, "key": "1"})
        );
        assert!(r.headline[0].ends_with("worst realtime lag 0.011 s (process 1, key \"1\")"));
        // A process that never catches up is measured at its last poll.
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .poll(1, json!({"1": [[0, 1]]}))
            .send(0, "1", 2, 1);
        h.poll(1, json!({}));
        let r = h.check();
        assert_eq!(r.fields["worst-realtime-lag"]["lag"], 0.001);
    }
}

//! The analysis state and pass 1: every observation of a message at an offset — from
//! ok sends and ok polls — in hash maps keyed by (key, offset) and (key, message), each
//! message's send outcomes, and whether any ok poll returned it; then each key's
//! version order (its observed offsets, sorted) and ack times.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::budget::{Budget, COLLECTING};
use super::hasher::FxMap;
use super::lag::Lag;
use super::msg::Msg;
use super::order::OrderErr;
use super::parse::{entries, pair, poll_msgs, send_parts};
use crate::history::{Op, OpType, Process};

/// A key, interned: its index in [`Analysis::key_names`].
pub(super) type KeyId = u32;
/// An index into the history.
pub(super) type Pos = u32;

/// Where an op is in the history: its invocation (if seen) and completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    pub(super) inv: Option<Pos>,
    pub(super) done: Pos,
}

/// What was seen at one (key, offset).
pub(super) struct OffsetObs {
    pub(super) msg: Msg,
    pub(super) at: At,
    /// An ok poll returned `msg` here (so its [`MsgObs`] already knows this offset
    /// and that it was read: a repeat needs no further lookup).
    pub(super) read: bool,
    /// Other messages seen there, each with where it was first seen.
    pub(super) others: Vec<(Msg, At)>,
}

/// What is known about one (key, message).
#[derive(Default)]
pub(super) struct MsgObs {
    /// The first offset it was seen at, and where.
    pub(super) offset: Option<(i64, At)>,
    /// Other offsets it was seen at.
    pub(super) other_offsets: Vec<(i64, At)>,
    /// The first ok send of it, with the offset acknowledged.
    pub(super) send_ok: Option<(i64, At)>,
    /// The first failed send of it.
    pub(super) send_fail: Option<At>,
    /// Some send of it ended indeterminate.
    pub(super) send_info: bool,
    /// The first ok poll that returned it.
    pub(super) read: Option<At>,
    /// Some client tried to send it: a send of it was invoked (or completed, whatever
    /// the outcome). A message read but never attempted is a phantom.
    pub(super) attempted: bool,
}

/// Everything the passes found, and the history they read.
pub(super) struct Analysis<'a> {
    /// The history under analysis.
    pub(super) history: &'a [Op],
    /// Key text → id, and id → key text.
    pub(super) key_ids: FxMap<String, KeyId>,
    pub(super) key_names: Vec<String>,
    /// What was seen at each (key, offset), and what is known of each (key, message).
    pub(super) offsets: FxMap<(KeyId, i64), OffsetObs>,
    pub(super) msgs: FxMap<(KeyId, Msg), MsgObs>,
    /// Per key: sorted distinct observed offsets (the version order).
    pub(super) orders: Vec<Vec<i64>>,
    /// Per key: (offset, ack time) of ok sends, sorted by offset, and the suffix
    /// minimum of the ack times.
    pub(super) acks: Vec<Vec<(i64, u64)>>,
    pub(super) ack_suffix_min: Vec<Vec<u64>>,
    /// Per key: the highest offset an ok poll returned, and where.
    pub(super) max_read: FxMap<KeyId, (i64, At)>,
    /// The distinct errors of indeterminate sends and polls.
    pub(super) info_causes: BTreeMap<String, Value>,
    /// Pass 2's order anomalies, by error type.
    pub(super) order_errs: HashMap<&'static str, Vec<OrderErr>>,
    /// Pass 2's worst realtime lag.
    pub(super) worst_lag: Option<Lag>,
    /// Counts for the headline, and the time of the last client op.
    pub(super) sends: usize,
    pub(super) sends_ok: usize,
    pub(super) polls_ok: usize,
    pub(super) polled_msgs: usize,
    pub(super) last_time: u64,
}

impl<'a> Analysis<'a> {
    /// An empty analysis of `history`.
    pub(super) fn new(history: &'a [Op]) -> Analysis<'a> {
        Analysis {
            history,
            key_ids: FxMap::default(),
            key_names: Vec::new(),
            offsets: FxMap::default(),
            msgs: FxMap::default(),
            orders: Vec::new(),
            acks: Vec::new(),
            ack_suffix_min: Vec::new(),
            max_read: FxMap::default(),
            info_causes: BTreeMap::new(),
            order_errs: HashMap::new(),
            worst_lag: None,
            sends: 0,
            sends_ok: 0,
            polls_ok: 0,
            polled_msgs: 0,
            last_time: 0,
        }
    }

    /// The id of `key`, interned on first sight.
    fn intern(&mut self, key: &str) -> KeyId {
        if let Some(&id) = self.key_ids.get(key) {
            return id;
        }
        let id = self.key_names.len() as KeyId;
        self.key_ids.insert(key.to_string(), id);
        self.key_names.push(key.to_string());
        self.acks.push(Vec::new());
        id
    }

    /// Record `msg` seen by an ok poll at `offset` of `key`.
    fn observe_read(&mut self, key: KeyId, offset: i64, msg: Msg, at: At) {
        if let Some(obs) = self.offsets.get_mut(&(key, offset)) {
            if obs.msg == msg {
                if obs.read {
                    return; // seen and read here before: nothing new
                }
                obs.read = true;
            }
        }
        self.observe(key, offset, msg, at, true)
            .read
            .get_or_insert(at);
    }

    /// Record `msg` seen at `offset` of `key`; returns what is known about the message.
    fn observe(&mut self, key: KeyId, offset: i64, msg: Msg, at: At, read: bool) -> &mut MsgObs {
        match self.offsets.get_mut(&(key, offset)) {
            None => {
                self.offsets.insert(
                    (key, offset),
                    OffsetObs {
                        msg: msg.clone(),
                        at,
                        read,
                        others: Vec::new(),
                    },
                );
            }
            Some(obs) => {
                if obs.msg != msg && !obs.others.iter().any(|(m, _)| *m == msg) {
                    obs.others.push((msg.clone(), at));
                }
            }
        }
        let m = self.msgs.entry((key, msg)).or_default();
        match m.offset {
            None => m.offset = Some((offset, at)),
            Some((first, _)) => {
                if first != offset && !m.other_offsets.iter().any(|(o, _)| *o == offset) {
                    m.other_offsets.push((offset, at));
                }
            }
        }
        m
    }

    /// Pass 1: observations, send outcomes, reads.
    pub(super) fn collect(&mut self, budget: &mut Budget) {
        let history = self.history;
        let mut open: FxMap<u64, Pos> = FxMap::default();
        for (pos, op) in history.iter().enumerate() {
            if budget.over(COLLECTING, pos) {
                break;
            }
            let Process::Client(process) = op.process else {
                continue;
            };
            self.last_time = self.last_time.max(op.time);
            let pos = pos as Pos;
            if op.kind == OpType::Invoke {
                if let Some(dangling) = open.insert(process, pos) {
                    self.note_attempt(Some(dangling));
                }
                if op.f == "send" {
                    self.sends += 1;
                }
                continue;
            }
            let at = At {
                inv: open.remove(&process),
                done: pos,
            };
            match (op.f.as_str(), op.kind) {
                ("send", OpType::Ok) => {
                    let Some((offset, key, msg)) = send_parts(&op.value)
                        .and_then(|(key, x)| pair(x).map(|(offset, msg)| (offset, key, msg)))
                    else {
                        self.note_attempt(at.inv);
                        continue;
                    };
                    self.sends_ok += 1;
                    let invoked_elsewhere = !self.invoked_as(at.inv, &key, msg);
                    let key = self.intern(&key);
                    self.acks[key as usize].push((offset, op.time));
                    let m = self.observe(key, offset, Msg::of(msg), at, false);
                    m.send_ok.get_or_insert((offset, at));
                    m.attempted = true;
                    if invoked_elsewhere {
                        self.note_attempt(at.inv);
                    }
                }
                ("send", OpType::Fail) | ("send", OpType::Info) => {
                    if op.kind == OpType::Info {
                        self.note_cause(op);
                    }
                    let Some((key, msg)) = send_parts(&op.value) else {
                        self.note_attempt(at.inv);
                        continue;
                    };
                    let invoked_elsewhere = !self.invoked_as(at.inv, &key, msg);
                    let key = self.intern(&key);
                    let m = self.msgs.entry((key, Msg::of(msg))).or_default();
                    if op.kind == OpType::Fail {
                        m.send_fail.get_or_insert(at);
                    } else {
                        m.send_info = true;
                    }
                    m.attempted = true;
                    if invoked_elsewhere {
                        self.note_attempt(at.inv);
                    }
                }
                ("poll", OpType::Ok) => {
                    let Some(msgs) = poll_msgs(&op.value) else {
                        continue;
                    };
                    self.polls_ok += 1;
                    for (key, list) in msgs {
                        let mut key_id = None;
                        let mut highest: Option<i64> = None;
                        for (offset, msg) in entries(list).iter().filter_map(pair) {
                            let key = *key_id.get_or_insert_with(|| self.intern(key));
                            self.polled_msgs += 1;
                            self.observe_read(key, offset, Msg::of(msg), at);
                            highest = Some(highest.map_or(offset, |h| h.max(offset)));
                        }
                        if let (Some(key), Some(highest)) = (key_id, highest) {
                            let max = self.max_read.entry(key).or_insert((highest, at));
                            if highest > max.0 {
                                *max = (highest, at);
                            }
                        }
                    }
                }
                ("poll", OpType::Info) => self.note_cause(op),
                _ => {}
            }
        }
        // Invocations that never completed (or not before the time ran out).
        let mut dangling: Vec<Pos> = open.into_values().collect();
        dangling.sort_unstable();
        for inv in dangling {
            self.note_attempt(Some(inv));
        }
    }

    /// Whether the invocation at `inv` (if any, and if it names a message) sent `msg`
    /// to `key` — as it does unless the history is odd.
    fn invoked_as(&self, inv: Option<Pos>, key: &str, msg: &Value) -> bool {
        let Some(inv) = inv else {
            return true;
        };
        send_parts(&self.history[inv as usize].value).is_none_or(|(k, m)| k == key && m == msg)
    }

    /// The op at `inv`, if it invoked a send, was an attempt to send its message.
    fn note_attempt(&mut self, inv: Option<Pos>) {
        let history = self.history;
        let Some(op) = inv.map(|i| &history[i as usize]) else {
            return;
        };
        if op.f != "send" {
            return;
        }
        let Some((key, msg)) = send_parts(&op.value) else {
            return;
        };
        let key = self.intern(&key);
        self.msgs.entry((key, Msg::of(msg))).or_default().attempted = true;
    }

    fn note_cause(&mut self, op: &Op) {
        if let Some(error) = &op.error {
            self.info_causes
                .entry(error.to_string())
                .or_insert_with(|| error.clone());
        }
    }

    /// The version order of every key, and the ack times for realtime lag.
    pub(super) fn build_orders(&mut self) {
        let mut orders: Vec<Vec<i64>> = vec![Vec::new(); self.key_names.len()];
        for (key, offset) in self.offsets.keys() {
            orders[*key as usize].push(*offset);
        }
        for order in &mut orders {
            order.sort_unstable();
        }
        self.orders = orders;
        self.ack_suffix_min = self
            .acks
            .iter_mut()
            .map(|acks| {
                acks.sort_unstable();
                let mut mins = vec![0; acks.len()];
                let mut min = u64::MAX;
                for (i, (_, t)) in acks.iter().enumerate().rev() {
                    min = min.min(*t);
                    mins[i] = min;
                }
                mins
            })
            .collect();
    }

    /// The dense index of an offset in its key's version order.
    pub(super) fn index(&self, key: KeyId, offset: i64) -> Option<usize> {
        self.orders.get(key as usize)?.binary_search(&offset).ok()
    }

    /// The dense index of an offset, trying first the index right after `prev` (the
    /// common case of consecutive messages) before searching.
    pub(super) fn index_after(
        &self,
        key: KeyId,
        prev: Option<usize>,
        offset: i64,
    ) -> Option<usize> {
        let order = self.orders.get(key as usize)?;
        if let Some(next) = prev.map(|p| p + 1) {
            if order.get(next) == Some(&offset) {
                return Some(next);
            }
        }
        order.binary_search(&offset).ok()
    }
}

//! Pass 2: each process's ops in order. Per process: the dense index of the last
//! message it polled and the last offset it sent, per key; an ok assign keeps only the
//! assigned keys' state; an info op ends the process (a new one starts afresh). Order
//! anomalies ([`super::order`]) and realtime lag ([`super::lag`]) are found here.

use std::cmp::Ordering;

use super::analysis::{Analysis, At, KeyId, Pos};
use super::budget::Budget;
use super::hasher::{FxMap, FxSet};
use super::lag::LagKey;
use super::msg::Msg;
use super::parse::{entries, key_text, pair, poll_msgs, send_parts};
use crate::history::{Op, OpType, Process};

/// The last message a process polled or sent for a key.
#[derive(Clone)]
pub(super) struct Last {
    /// Its dense index in the key's version order.
    pub(super) index: usize,
    pub(super) offset: i64,
    pub(super) msg: Msg,
    pub(super) at: At,
}

/// What pass 2 knows of one process.
#[derive(Default)]
pub(super) struct ProcState {
    /// Per key: the last message it polled, and the last it sent.
    polls: FxMap<KeyId, Last>,
    sends: FxMap<KeyId, Last>,
    /// Per key: its realtime-lag state.
    pub(super) lag: FxMap<KeyId, LagKey>,
    /// How many ok polls it made, and when the latest began.
    pub(super) poll_count: u64,
    pub(super) last_poll_time: u64,
}

impl<'a> Analysis<'a> {
    /// Pass 2: each process's polls and sends in order.
    pub(super) fn walk_processes(&mut self, budget: &mut Budget) {
        let history = self.history;
        let mut open: FxMap<u64, Pos> = FxMap::default();
        let mut procs: FxMap<u64, ProcState> = FxMap::default();
        for (pos, op) in history.iter().enumerate() {
            if budget.over("following processes", pos) {
                break;
            }
            let Process::Client(process) = op.process else {
                continue;
            };
            if op.kind == OpType::Invoke {
                open.insert(process, pos as Pos);
                continue;
            }
            let at = At {
                inv: open.remove(&process),
                done: pos as Pos,
            };
            match (op.f.as_str(), op.kind) {
                ("assign", OpType::Ok) => {
                    let Some(keys) = op.value.as_array() else {
                        continue;
                    };
                    let assigned: FxSet<KeyId> = keys
                        .iter()
                        .filter_map(key_text)
                        .filter_map(|k| self.key_ids.get(k.as_ref()).copied())
                        .collect();
                    let state = procs.entry(process).or_default();
                    state.polls.retain(|k, _| assigned.contains(k));
                    state.sends.retain(|k, _| assigned.contains(k));
                    let mut dropped: Vec<KeyId> = state
                        .lag
                        .keys()
                        .filter(|k| !assigned.contains(k))
                        .copied()
                        .collect();
                    dropped.sort_unstable();
                    for key in dropped {
                        let lag = state.lag.remove(&key).expect("listed");
                        let (count, time) = (state.poll_count, state.last_poll_time);
                        self.flush_lag(process, key, &lag, count, time);
                    }
                }
                ("send", OpType::Ok) => {
                    let state = procs.entry(process).or_default();
                    self.walk_send(op, at, state);
                }
                ("poll", OpType::Ok) => {
                    let state = procs.entry(process).or_default();
                    let time = at.inv.map_or(op.time, |i| history[i as usize].time);
                    self.walk_poll(op, at, time, process, state);
                }
                (_, OpType::Info) => {
                    // The process is over; a new one starts afresh.
                    if let Some(state) = procs.remove(&process) {
                        self.flush_all(process, &state);
                    }
                }
                _ => {}
            }
        }
        let mut rest: Vec<(u64, ProcState)> = procs.into_iter().collect();
        rest.sort_unstable_by_key(|(p, _)| *p);
        for (process, state) in rest {
            self.flush_all(process, &state);
        }
    }

    /// A send: `nonmonotonic-send` if its offset is not above the process's last one.
    fn walk_send(&mut self, op: &Op, at: At, state: &mut ProcState) {
        let Some((key, x)) = send_parts(&op.value) else {
            return;
        };
        let Some((offset, msg)) = pair(x) else {
            return;
        };
        let Some(&key) = self.key_ids.get(key.as_ref()) else {
            return;
        };
        let Some(index) = self.index(key, offset) else {
            return;
        };
        let now = Last {
            index,
            offset,
            msg: Msg::of(msg),
            at,
        };
        if let Some(prev) = state.sends.get(&key) {
            if index <= prev.index {
                let err = self.order_err(key, prev, &now, false);
                self.push_err("nonmonotonic-send", err);
            }
        }
        state.sends.insert(key, now);
    }

    /// A poll: the order anomalies of each key's list against the process's last poll
    /// of the key and inside the list, and the process's realtime lag.
    fn walk_poll(&mut self, op: &Op, at: At, time: u64, process: u64, state: &mut ProcState) {
        let Some(msgs) = poll_msgs(&op.value) else {
            return;
        };
        let seq = state.poll_count + 1;
        for (key, list) in msgs {
            let Some(&key) = self.key_ids.get(key.as_str()) else {
                continue;
            };
            let mut prev: Option<Last> = state.polls.get(&key).cloned();
            let mut first = true;
            let mut highest: Option<i64> = None;
            for (offset, msg) in entries(list).iter().filter_map(pair) {
                let Some(index) = self.index_after(key, prev.as_ref().map(|p| p.index), offset)
                else {
                    continue;
                };
                highest = Some(highest.map_or(offset, |h| h.max(offset)));
                let now = Last {
                    index,
                    offset,
                    msg: Msg::of(msg),
                    at,
                };
                if let Some(prev) = &prev {
                    let delta = index as i64 - prev.index as i64;
                    let kind = match (first, delta.cmp(&1)) {
                        (true, Ordering::Greater) => Some("poll-skip"),
                        (true, Ordering::Less) => Some("nonmonotonic-poll"),
                        (false, Ordering::Greater) => Some("int-poll-skip"),
                        (false, Ordering::Less) => Some("int-nonmonotonic-poll"),
                        (_, Ordering::Equal) => None,
                    };
                    if let Some(kind) = kind {
                        let err = self.order_err(key, prev, &now, delta > 1);
                        self.push_err(kind, err);
                    }
                }
                first = false;
                prev = Some(now);
            }
            if let Some(last) = prev {
                state.polls.insert(key, last);
            }
            if let Some(highest) = highest {
                self.note_highest(process, key, highest, seq, state);
            }
        }
        state.poll_count = seq;
        state.last_poll_time = time;
    }
}

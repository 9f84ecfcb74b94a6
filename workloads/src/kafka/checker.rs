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
//! * `G1a`: an ok poll returned a message whose send failed.
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
//! and reports what it found so far with the verdict unknown.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::key_order;
use crate::history::{Op, OpType, Process};
use crate::{CheckResult, Validity};

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

/// Examples kept for `inconsistent-offsets`, `duplicate`, `lost-write` and `G1a`.
const MAX_ERRS: usize = 32;
/// Examples kept for the skip and non-monotonic types.
const MAX_ORDER_ERRS: usize = 8;
/// Unseen messages listed per key.
const MAX_UNSEEN_LISTED: usize = 32;
/// Sentences per error type in the findings.
const MAX_SENTENCES_PER_TYPE: usize = 3;
/// Skipped offsets named in one error.
const MAX_SKIPPED_LISTED: usize = 8;
/// Pass 1's name in the cut-short sentence.
const COLLECTING: &str = "collecting observations";
/// How many ops pass between two looks at the clock.
const CLOCK_EVERY: u32 = 1024;

/// Every error type, most important first (the order of the findings).
const TYPES: [&str; 10] = [
    "lost-write",
    "unseen",
    "G1a",
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
    let mut budget = Budget::new(limit);
    let mut a = Analysis::new(history);
    a.collect(&mut budget);
    a.build_orders();
    if !budget.cut {
        a.walk_processes(&mut budget);
    }
    a.report(&budget)
}

/// The clock the analysis answers to.
struct Budget {
    start: Instant,
    limit: Duration,
    ticks: u32,
    cut: bool,
    /// Where the analysis stopped: (pass, ops done in it).
    stopped_at: Option<(&'static str, usize)>,
}

impl Budget {
    fn new(limit: Duration) -> Budget {
        Budget {
            start: Instant::now(),
            limit,
            ticks: 0,
            cut: false,
            stopped_at: None,
        }
    }

    /// Whether pass 1 ran to the end.
    fn collected_all(&self) -> bool {
        !matches!(self.stopped_at, Some((COLLECTING, _)))
    }

    /// True once the time is up (looked at every [`CLOCK_EVERY`] calls).
    fn over(&mut self, pass: &'static str, done: usize) -> bool {
        if self.cut {
            return true;
        }
        if self.ticks == 0 && self.start.elapsed() >= self.limit {
            self.cut = true;
            self.stopped_at = Some((pass, done));
        }
        self.ticks = (self.ticks + 1) % CLOCK_EVERY;
        self.cut
    }
}

type KeyId = u32;
type Pos = u32;

/// A fast multiply-rotate hasher (rustc's FxHash) for the checker's maps: their keys
/// are small integers and short strings from a local history, so resistance to
/// adversarial collisions is not needed (and the deadline bounds any bad case).
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
type FxSet<K> = HashSet<K, BuildHasherDefault<Fx>>;

/// Where an op is in the history: its invocation (if seen) and completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    inv: Option<Pos>,
    done: Pos,
}

/// A message, compared the way Clojure compares it: integers by value, anything else
/// by its JSON text. (Integers that fit an i64 are always `Int`, so equal integers
/// are equal messages.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Msg {
    Int(i64),
    Big(u64),
    Other(Box<str>),
}

impl Msg {
    fn of(value: &Value) -> Msg {
        if let Some(i) = value.as_i64() {
            Msg::Int(i)
        } else if let Some(u) = value.as_u64() {
            Msg::Big(u)
        } else {
            Msg::Other(value.to_string().into_boxed_str())
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Msg::Int(i) => Value::from(*i),
            Msg::Big(u) => Value::from(*u),
            Msg::Other(text) => serde_json::from_str(text).unwrap_or(Value::from(&**text)),
        }
    }

    fn sort_key(&self) -> (u8, i128, &str) {
        match self {
            Msg::Int(i) => (0, *i as i128, ""),
            Msg::Big(u) => (0, *u as i128, ""),
            Msg::Other(s) => (1, 0, s),
        }
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Int(i) => write!(f, "{i}"),
            Msg::Big(u) => write!(f, "{u}"),
            Msg::Other(s) => write!(f, "{s}"),
        }
    }
}

/// What was seen at one (key, offset).
struct OffsetObs {
    msg: Msg,
    at: At,
    /// An ok poll returned `msg` here (so its [`MsgObs`] already knows this offset
    /// and that it was read: a repeat needs no further lookup).
    read: bool,
    /// Other messages seen there, each with where it was first seen.
    others: Vec<(Msg, At)>,
}

/// What is known about one (key, message).
#[derive(Default)]
struct MsgObs {
    /// The first offset it was seen at, and where.
    offset: Option<(i64, At)>,
    /// Other offsets it was seen at.
    other_offsets: Vec<(i64, At)>,
    /// The first ok send of it, with the offset acknowledged.
    send_ok: Option<(i64, At)>,
    /// The first failed send of it.
    send_fail: Option<At>,
    /// Some send of it ended indeterminate.
    send_info: bool,
    /// The first ok poll that returned it.
    read: Option<At>,
}

/// One order anomaly: from one message of a key to the next, in one poll or between
/// two polls or sends of a process.
struct OrderErr {
    key: KeyId,
    delta: i64,
    from: (i64, Msg, At),
    to: (i64, Msg, At),
    /// Existing offsets jumped over (at most [`MAX_SKIPPED_LISTED`]), and how many.
    skipped: Vec<i64>,
    skipped_count: usize,
}

/// The last message a process polled or sent for a key.
#[derive(Clone)]
struct Last {
    index: usize,
    offset: i64,
    msg: Msg,
    at: At,
}

/// A process's realtime-lag state for one key: the highest offset it has read, and
/// the number of the poll from which on that was so.
struct LagKey {
    offset: i64,
    since: u64,
}

#[derive(Default)]
struct ProcState {
    polls: FxMap<KeyId, Last>,
    sends: FxMap<KeyId, Last>,
    lag: FxMap<KeyId, LagKey>,
    poll_count: u64,
    last_poll_time: u64,
}

/// A duplicated message: its (key, message), what is known of it, and its first offset.
type Duplicate<'m> = (&'m (KeyId, Msg), &'m MsgObs, (i64, At));

/// A lost write: key, message, offset, its send, and the highest read (offset, poll).
type Lost<'m> = (KeyId, &'m Msg, i64, At, (i64, At));

/// The worst lag found: (lag ns, poll time ns, process, key).
type Lag = (u64, u64, u64, KeyId);

struct Analysis<'a> {
    history: &'a [Op],
    key_ids: FxMap<String, KeyId>,
    key_names: Vec<String>,
    offsets: FxMap<(KeyId, i64), OffsetObs>,
    msgs: FxMap<(KeyId, Msg), MsgObs>,
    /// Per key: sorted distinct observed offsets (the version order).
    orders: Vec<Vec<i64>>,
    /// Per key: (offset, ack time) of ok sends, sorted by offset, and the suffix
    /// minimum of the ack times.
    acks: Vec<Vec<(i64, u64)>>,
    ack_suffix_min: Vec<Vec<u64>>,
    /// Per key: the highest offset an ok poll returned, and where.
    max_read: FxMap<KeyId, (i64, At)>,
    info_causes: BTreeMap<String, Value>,
    order_errs: HashMap<&'static str, Vec<OrderErr>>,
    worst_lag: Option<Lag>,
    sends: usize,
    sends_ok: usize,
    polls_ok: usize,
    polled_msgs: usize,
    last_time: u64,
}

fn key_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// `[["send", k, x]]` → (k, x).
fn send_parts(value: &Value) -> Option<(Cow<'_, str>, &Value)> {
    let micro = value.get(0)?.as_array()?;
    if micro.first()?.as_str()? != "send" {
        return None;
    }
    Some((key_text(micro.get(1)?)?, micro.get(2)?))
}

/// `[["poll", {k: [[o, m], …]}]]` → the map.
fn poll_msgs(value: &Value) -> Option<&Map<String, Value>> {
    let micro = value.get(0)?.as_array()?;
    if micro.first()?.as_str()? != "poll" {
        return None;
    }
    micro.get(1)?.as_object()
}

/// `[o, m]` with an exact integer offset.
fn pair(entry: &Value) -> Option<(i64, &Value)> {
    let pair = entry.as_array()?;
    if pair.len() != 2 {
        return None;
    }
    Some((pair[0].as_i64()?, &pair[1]))
}

fn entries(list: &Value) -> &[Value] {
    list.as_array().map_or(&[], Vec::as_slice)
}

impl<'a> Analysis<'a> {
    fn new(history: &'a [Op]) -> Analysis<'a> {
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
    fn collect(&mut self, budget: &mut Budget) {
        let history = self.history;
        let mut open: FxMap<u64, Pos> = FxMap::default();
        for (pos, op) in history.iter().enumerate() {
            if budget.over(COLLECTING, pos) {
                return;
            }
            let Process::Client(process) = op.process else {
                continue;
            };
            self.last_time = self.last_time.max(op.time);
            let pos = pos as Pos;
            if op.kind == OpType::Invoke {
                open.insert(process, pos);
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
                    let Some((key, x)) = send_parts(&op.value) else {
                        continue;
                    };
                    let Some((offset, msg)) = pair(x) else {
                        continue;
                    };
                    self.sends_ok += 1;
                    let key = self.intern(&key);
                    self.acks[key as usize].push((offset, op.time));
                    let m = self.observe(key, offset, Msg::of(msg), at, false);
                    m.send_ok.get_or_insert((offset, at));
                }
                ("send", OpType::Fail) | ("send", OpType::Info) => {
                    if op.kind == OpType::Info {
                        self.note_cause(op);
                    }
                    let Some((key, msg)) = send_parts(&op.value) else {
                        continue;
                    };
                    let key = self.intern(&key);
                    let m = self.msgs.entry((key, Msg::of(msg))).or_default();
                    if op.kind == OpType::Fail {
                        m.send_fail.get_or_insert(at);
                    } else {
                        m.send_info = true;
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
    }

    fn note_cause(&mut self, op: &Op) {
        if let Some(error) = &op.error {
            self.info_causes
                .entry(error.to_string())
                .or_insert_with(|| error.clone());
        }
    }

    /// The version order of every key, and the ack times for realtime lag.
    fn build_orders(&mut self) {
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
    fn index(&self, key: KeyId, offset: i64) -> Option<usize> {
        self.orders.get(key as usize)?.binary_search(&offset).ok()
    }

    /// The dense index of an offset, trying first the index right after `prev` (the
    /// common case of consecutive messages) before searching.
    fn index_after(&self, key: KeyId, prev: Option<usize>, offset: i64) -> Option<usize> {
        let order = self.orders.get(key as usize)?;
        if let Some(next) = prev.map(|p| p + 1) {
            if order.get(next) == Some(&offset) {
                return Some(next);
            }
        }
        order.binary_search(&offset).ok()
    }

    /// When a message above `offset` was first acknowledged for `key`.
    fn expired(&self, key: KeyId, offset: i64) -> Option<u64> {
        let acks = &self.acks[key as usize];
        let i = acks.partition_point(|(o, _)| *o <= offset);
        self.ack_suffix_min[key as usize].get(i).copied()
    }

    /// Pass 2: each process's polls and sends in order.
    fn walk_processes(&mut self, budget: &mut Budget) {
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

    fn push_err(&mut self, kind: &'static str, err: OrderErr) {
        self.order_errs.entry(kind).or_default().push(err);
    }

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
        }
        state.poll_count = seq;
        state.last_poll_time = time;
    }

    /// Evaluate a key's lag at the process's latest poll, if that poll had this
    /// highest offset in force.
    fn flush_lag(&mut self, process: u64, key: KeyId, lag: &LagKey, polls: u64, time: u64) {
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

    fn flush_all(&mut self, process: u64, state: &ProcState) {
        let mut keys: Vec<(&KeyId, &LagKey)> = state.lag.iter().collect();
        keys.sort_unstable_by_key(|(k, _)| **k);
        for (key, lag) in keys {
            self.flush_lag(process, *key, lag, state.poll_count, state.last_poll_time);
        }
    }

    fn order_err(&self, key: KeyId, from: &Last, to: &Last, skip: bool) -> OrderErr {
        let (mut skipped, mut skipped_count) = (Vec::new(), 0);
        if skip {
            let range = from.index + 1..to.index;
            skipped_count = range.len();
            skipped = self.orders[key as usize][range]
                .iter()
                .take(MAX_SKIPPED_LISTED)
                .copied()
                .collect();
        }
        OrderErr {
            key,
            delta: to.index as i64 - from.index as i64,
            from: (from.offset, from.msg.clone(), from.at),
            to: (to.offset, to.msg.clone(), to.at),
            skipped,
            skipped_count,
        }
    }

    // ---- reporting ------------------------------------------------------------

    fn key_name(&self, key: KeyId) -> &str {
        &self.key_names[key as usize]
    }

    fn cmp_keys(&self, a: KeyId, b: KeyId) -> Ordering {
        key_order(self.key_name(a), self.key_name(b))
    }

    fn op_json(&self, at: At) -> Value {
        let done = &self.history[at.done as usize];
        let mut map = Map::new();
        map.insert("index".into(), json!(done.index));
        map.insert("time".into(), json!(done.time));
        map.insert("type".into(), json!(done.kind));
        map.insert("process".into(), json!(done.process));
        map.insert("f".into(), json!(done.f));
        if let Some(node) = at.inv.and_then(|i| self.history[i as usize].node.as_ref()) {
            map.insert("node".into(), json!(node));
        }
        Value::Object(map)
    }

    /// "send op 41 (process 1 → n0, at 1.204 s)".
    fn describe(&self, at: At) -> String {
        let done = &self.history[at.done as usize];
        let node = at
            .inv
            .and_then(|i| self.history[i as usize].node.as_deref())
            .map(|n| format!(" → {n}"))
            .unwrap_or_default();
        let final_tag = if done.final_read { "final " } else { "" };
        format!(
            "{final_tag}{} op {} (process {}{node}, at {:.3} s)",
            done.f,
            done.index,
            done.process,
            done.seconds()
        )
    }

    fn value_at(&self, key: KeyId, offset: i64) -> Option<&Msg> {
        self.offsets.get(&(key, offset)).map(|o| &o.msg)
    }

    fn report(&mut self, budget: &Budget) -> CheckResult {
        let mut found: BTreeMap<&'static str, (usize, Value, Vec<String>)> = BTreeMap::new();
        self.report_offsets(&mut found);
        if budget.collected_all() {
            self.report_messages(&mut found);
        }
        self.report_order(&mut found);

        let error_types: Vec<&str> = found.keys().copied().collect();
        let bad: Vec<&str> = error_types
            .iter()
            .copied()
            .filter(|t| !ALLOWED.contains(t))
            .collect();
        let valid = if budget.cut {
            Validity::Unknown
        } else {
            Validity::from_bool(bad.is_empty())
        };

        let mut findings = Vec::new();
        if budget.cut {
            let (pass, done) = budget.stopped_at.unwrap_or(("analysing", 0));
            findings.push(format!(
                "the analysis was cut short after {:.1} s while {pass} (op {done} of {}), so \
                 the anomalies below are only those found so far{}",
                budget.limit.as_secs_f64(),
                self.history.len(),
                if pass == COLLECTING {
                    " and lost or unseen messages were not looked for"
                } else {
                    ""
                }
            ));
        }
        for round in 0..MAX_SENTENCES_PER_TYPE {
            for kind in TYPES {
                if let Some(sentence) = found.get(kind).and_then(|(_, _, s)| s.get(round)) {
                    findings.push(sentence.clone());
                }
            }
        }

        let mut result = CheckResult::new(valid)
            .with("bad-error-types", json!(bad))
            .with("error-types", json!(error_types))
            .with(
                "info-txn-causes",
                Value::Array(self.info_causes.values().cloned().collect()),
            )
            .with("worst-realtime-lag", self.lag_json());
        for (kind, (_, value, _)) in &found {
            result = result.with(kind, value.clone());
        }
        result.findings = findings;
        result.headline = self.headline(&found, budget);
        result
    }

    fn lag_json(&self) -> Value {
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

    fn headline(
        &self,
        found: &BTreeMap<&'static str, (usize, Value, Vec<String>)>,
        budget: &Budget,
    ) -> Vec<String> {
        let lag = match self.worst_lag {
            Some((lag, _, process, key)) => format!(
                "worst realtime lag {:.3} s (process {process}, key {:?})",
                lag as f64 / 1e9,
                self.key_name(key)
            ),
            None => "worst realtime lag 0 s".to_string(),
        };
        let mut lines = vec![format!(
            "{} ({} ok) over {}, {} returned {}; {lag}",
            plural(self.sends, "send"),
            self.sends_ok,
            plural(self.key_names.len(), "key"),
            plural(self.polls_ok, "ok poll"),
            plural(self.polled_msgs, "message"),
        )];
        if found.is_empty() {
            lines.push("no anomalies".to_string());
        } else {
            let counts: Vec<String> = TYPES
                .iter()
                .filter_map(|t| found.get(t).map(|(n, _, _)| format!("{t} {n}")))
                .collect();
            lines.push(format!("ANOMALIES: {}", counts.join(", ")));
        }
        if budget.cut {
            lines.push(format!(
                "analysis cut short after {:.1} s: results are partial",
                budget.limit.as_secs_f64()
            ));
        }
        lines
    }

    /// `inconsistent-offsets` and `duplicate`.
    fn report_offsets(&self, found: &mut BTreeMap<&'static str, (usize, Value, Vec<String>)>) {
        let mut inconsistent: Vec<(&(KeyId, i64), &OffsetObs)> = self
            .offsets
            .iter()
            .filter(|(_, o)| !o.others.is_empty())
            .collect();
        if !inconsistent.is_empty() {
            let count = inconsistent.len();
            inconsistent.sort_unstable_by(|(a, _), (b, _)| {
                self.cmp_keys(a.0, b.0).then_with(|| a.1.cmp(&b.1))
            });
            inconsistent.truncate(MAX_ERRS);
            let errs: Vec<Value> = inconsistent
                .iter()
                .map(|((key, offset), obs)| {
                    let mut values: Vec<&Msg> = std::iter::once(&obs.msg)
                        .chain(obs.others.iter().map(|(m, _)| m))
                        .collect();
                    values.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                    json!({
                        "key": self.key_name(*key),
                        "offset": offset,
                        "index": self.index(*key, *offset),
                        "values": values.iter().map(|m| m.to_json()).collect::<Vec<_>>(),
                        "ops": std::iter::once(obs.at)
                            .chain(obs.others.iter().map(|(_, at)| *at))
                            .map(|at| self.op_json(at))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            let sentences = inconsistent
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|((key, offset), obs)| {
                    let seen: Vec<String> = std::iter::once((&obs.msg, obs.at))
                        .chain(obs.others.iter().map(|(m, at)| (m, *at)))
                        .take(4)
                        .map(|(m, at)| format!("{m} from {}", self.describe(at)))
                        .collect();
                    format!(
                        "key {:?} held {} different messages at offset {offset}: {}",
                        self.key_name(*key),
                        obs.others.len() + 1,
                        join_and(&seen)
                    )
                })
                .collect();
            found.insert(
                "inconsistent-offsets",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }

        let mut duplicates: Vec<Duplicate> = self
            .msgs
            .iter()
            .filter(|(_, m)| !m.other_offsets.is_empty())
            .filter_map(|(k, m)| Some((k, m, m.offset?)))
            .collect();
        if !duplicates.is_empty() {
            let count = duplicates.len();
            duplicates.sort_unstable_by(|(a, am, _), (b, bm, _)| {
                am.other_offsets
                    .len()
                    .cmp(&bm.other_offsets.len())
                    .then_with(|| self.cmp_keys(a.0, b.0))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            duplicates.truncate(MAX_ERRS);
            let errs: Vec<Value> = duplicates
                .iter()
                .map(|((key, msg), m, first)| {
                    let mut offsets: Vec<i64> = std::iter::once(first.0)
                        .chain(m.other_offsets.iter().map(|(o, _)| *o))
                        .collect();
                    offsets.sort_unstable();
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "count": offsets.len(),
                        "offsets": offsets,
                        "ops": std::iter::once(first.1)
                            .chain(m.other_offsets.iter().map(|(_, at)| *at))
                            .map(|at| self.op_json(at))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            let sentences = duplicates
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|((key, msg), m, first)| {
                    let places: Vec<String> = std::iter::once(*first)
                        .chain(m.other_offsets.iter().copied())
                        .take(4)
                        .map(|(o, at)| format!("offset {o} in {}", self.describe(at)))
                        .collect();
                    format!(
                        "message {msg} of key {:?} appears at {} different offsets: {}",
                        self.key_name(*key),
                        m.other_offsets.len() + 1,
                        join_and(&places)
                    )
                })
                .collect();
            found.insert(
                "duplicate",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }
    }

    /// `lost-write`, `unseen` and `G1a` (sound only on a complete pass 1).
    fn report_messages(&self, found: &mut BTreeMap<&'static str, (usize, Value, Vec<String>)>) {
        let mut lost: Vec<Lost> = Vec::new();
        let mut unseen: Vec<(KeyId, &Msg, i64, At)> = Vec::new();
        let mut g1a: Vec<(KeyId, &Msg, At, At)> = Vec::new();
        for ((key, msg), m) in &self.msgs {
            if let Some((offset, at)) = m.send_ok {
                if m.read.is_none() {
                    unseen.push((*key, msg, offset, at));
                    if let Some(&max) = self.max_read.get(key) {
                        if offset <= max.0 {
                            lost.push((*key, msg, offset, at, max));
                        }
                    }
                }
            }
            if let (Some(fail), Some(read)) = (m.send_fail, m.read) {
                if m.send_ok.is_none() && !m.send_info {
                    g1a.push((*key, msg, fail, read));
                }
            }
        }

        if !lost.is_empty() {
            let count = lost.len();
            lost.sort_unstable_by(|a, b| {
                self.cmp_keys(a.0, b.0)
                    .then_with(|| a.2.cmp(&b.2))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            lost.truncate(MAX_ERRS);
            let errs: Vec<Value> = lost
                .iter()
                .map(|(key, msg, offset, at, (max, reader))| {
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "offset": offset,
                        "index": self.index(*key, *offset),
                        "max-read-offset": max,
                        "max-read-index": self.index(*key, *max),
                        "writer": self.op_json(*at),
                        "max-read": self.op_json(*reader),
                    })
                })
                .collect();
            let sentences = lost
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|(key, msg, offset, at, (max, reader))| {
                    format!(
                        "message {msg} sent to key {:?} was acknowledged at offset {offset} by \
                         {}, but no poll ever returned it, although {} read key {:?} up to \
                         offset {max}",
                        self.key_name(*key),
                        self.describe(*at),
                        self.describe(*reader),
                        self.key_name(*key)
                    )
                })
                .collect();
            found.insert(
                "lost-write",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }

        if !unseen.is_empty() {
            let count = unseen.len();
            unseen.sort_unstable_by(|a, b| {
                self.cmp_keys(a.0, b.0)
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            let mut per_key: Vec<(KeyId, usize, Vec<Value>)> = Vec::new();
            for (key, msg, _, _) in &unseen {
                match per_key.last_mut() {
                    Some((k, n, listed)) if k == key => {
                        *n += 1;
                        if listed.len() < MAX_UNSEEN_LISTED {
                            listed.push(msg.to_json());
                        }
                    }
                    _ => per_key.push((*key, 1, vec![msg.to_json()])),
                }
            }
            let counts: Map<String, Value> = per_key
                .iter()
                .map(|(k, n, _)| (self.key_name(*k).to_string(), json!(n)))
                .collect();
            let messages: Map<String, Value> = per_key
                .iter()
                .map(|(k, _, l)| (self.key_name(*k).to_string(), json!(l)))
                .collect();
            let value = json!({
                "count": count,
                "time": self.last_time as f64 / 1e9,
                "unseen": counts,
                "messages": messages,
            });
            // The latest acknowledged first: the most telling example.
            let mut examples: Vec<&(KeyId, &Msg, i64, At)> = unseen.iter().collect();
            examples.sort_unstable_by_key(|u| std::cmp::Reverse(u.3.done));
            let keys: Vec<String> = per_key
                .iter()
                .take(6)
                .map(|(k, n, _)| format!("{:?} ({n})", self.key_name(*k)))
                .collect();
            let more_keys = if per_key.len() > 6 { ", …" } else { "" };
            let sentences = examples
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .enumerate()
                .map(|(i, (key, msg, offset, at))| {
                    let tail = if i == 0 {
                        format!(
                            "; {count} acknowledged message{} in all were never polled, by key: \
                             {}{more_keys}",
                            if count == 1 { "" } else { "s" },
                            keys.join(", ")
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "message {msg} sent to key {:?} was acknowledged at offset {offset} by \
                         {} but no poll ever returned it, not even in the final phase{tail}",
                        self.key_name(*key),
                        self.describe(*at)
                    )
                })
                .collect();
            found.insert("unseen", (count, value, sentences));
        }

        if !g1a.is_empty() {
            let count = g1a.len();
            g1a.sort_unstable_by(|a, b| {
                a.3.done
                    .cmp(&b.3.done)
                    .then_with(|| self.cmp_keys(a.0, b.0))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            g1a.truncate(MAX_ERRS);
            let errs: Vec<Value> = g1a
                .iter()
                .map(|(key, msg, fail, read)| {
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "writer": self.op_json(*fail),
                        "reader": self.op_json(*read),
                    })
                })
                .collect();
            let sentences = g1a
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|(key, msg, fail, read)| {
                    let offset = self
                        .msgs
                        .get(&(*key, (*msg).clone()))
                        .and_then(|m| m.offset)
                        .map(|(o, _)| format!(" at offset {o}"))
                        .unwrap_or_default();
                    let error = self.history[fail.done as usize]
                        .error
                        .as_ref()
                        .map(|e| format!(" with error {e}"))
                        .unwrap_or_default();
                    format!(
                        "{} returned message {msg} of key {:?}{offset}, but its send failed \
                         ({}{error}): an aborted write was read",
                        self.describe(*read),
                        self.key_name(*key),
                        self.describe(*fail)
                    )
                })
                .collect();
            found.insert(
                "G1a",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }
    }

    /// The skip and non-monotonic types.
    fn report_order(&mut self, found: &mut BTreeMap<&'static str, (usize, Value, Vec<String>)>) {
        let mut all = std::mem::take(&mut self.order_errs);
        for kind in TYPES {
            let Some(mut errs) = all.remove(kind) else {
                continue;
            };
            let count = errs.len();
            let skip = kind.ends_with("skip");
            if skip {
                errs.sort_by_key(|e| (std::cmp::Reverse(e.delta), e.to.2.done));
            } else {
                errs.sort_by_key(|e| (e.delta, e.to.2.done));
            }
            errs.truncate(MAX_ORDER_ERRS);
            let json_errs: Vec<Value> = errs.iter().map(|e| self.order_json(e, skip)).collect();
            let sentences = errs
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|e| self.order_sentence(kind, e))
                .collect();
            found.insert(
                kind,
                (count, json!({"count": count, "errs": json_errs}), sentences),
            );
        }
    }

    fn order_json(&self, e: &OrderErr, skip: bool) -> Value {
        let mut map = Map::new();
        map.insert("key".into(), json!(self.key_name(e.key)));
        map.insert("delta".into(), json!(e.delta));
        map.insert("prev-offset".into(), json!(e.from.0));
        map.insert("prev-value".into(), e.from.1.to_json());
        map.insert("offset".into(), json!(e.to.0));
        map.insert("value".into(), e.to.1.to_json());
        if skip {
            let skipped: Vec<Value> = e
                .skipped
                .iter()
                .map(|o| json!([o, self.value_at(e.key, *o).map(Msg::to_json)]))
                .collect();
            map.insert("skipped".into(), Value::Array(skipped));
            map.insert("skipped-count".into(), json!(e.skipped_count));
        }
        if e.from.2 == e.to.2 {
            map.insert("op".into(), self.op_json(e.to.2));
        } else {
            map.insert("prev".into(), self.op_json(e.from.2));
            map.insert("op".into(), self.op_json(e.to.2));
        }
        Value::Object(map)
    }

    fn skipped_text(&self, e: &OrderErr) -> String {
        let named: Vec<String> = e
            .skipped
            .iter()
            .map(|o| match self.value_at(e.key, *o) {
                Some(m) => format!("{o} (message {m})"),
                None => o.to_string(),
            })
            .collect();
        let more = e.skipped_count.saturating_sub(named.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "offset{} {}{more}",
            if e.skipped_count == 1 { "" } else { "s" },
            named.join(", ")
        )
    }

    fn order_sentence(&self, kind: &str, e: &OrderErr) -> String {
        let key = self.key_name(e.key);
        let (fo, fm, fat) = &e.from;
        let (to, tm, tat) = &e.to;
        let process = self.history[tat.done as usize].process;
        match kind {
            "poll-skip" => format!(
                "process {process} polled key {key:?} up to offset {fo} (message {fm}) in {} \
                 and then from offset {to} (message {tm}) in {}, skipping existing {}",
                self.describe(*fat),
                self.describe(*tat),
                self.skipped_text(e)
            ),
            "nonmonotonic-poll" => format!(
                "process {process} polled key {key:?} up to offset {fo} (message {fm}) in {} \
                 and then went back to offset {to} (message {tm}) in {}",
                self.describe(*fat),
                self.describe(*tat)
            ),
            "int-poll-skip" => format!(
                "{} returned offset {fo} (message {fm}) of key {key:?} followed directly by \
                 offset {to} (message {tm}), skipping existing {}",
                self.describe(*tat),
                self.skipped_text(e)
            ),
            "int-nonmonotonic-poll" => format!(
                "{} returned offset {fo} (message {fm}) of key {key:?} followed by offset {to} \
                 (message {tm}), going backwards within one poll",
                self.describe(*tat)
            ),
            _ => format!(
                "process {process} sent message {tm} to key {key:?} and got offset {to} in {}, \
                 not above offset {fo} that its earlier send of message {fm} got in {}",
                self.describe(*tat),
                self.describe(*fat)
            ),
        }
    }
}

/// "1 key", "2 keys".
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A history builder: every op is an invocation and its completion, 1 ms apart.
    #[derive(Default)]
    struct H(Vec<Op>);

    impl H {
        fn push(&mut self, kind: OpType, p: u64, f: &str, value: Value) -> &mut H {
            let index = self.0.len() as u64;
            self.0.push(Op {
                index,
                time: index * 1_000_000,
                kind,
                process: Process::Client(p),
                f: f.into(),
                value,
                error: None,
                exception: None,
                final_read: false,
                node: (kind == OpType::Invoke).then(|| format!("n{}", p % 2)),
            });
            self
        }

        fn op(&mut self, p: u64, f: &str, inv: Value, kind: OpType, done: Value) -> &mut H {
            self.push(OpType::Invoke, p, f, inv).push(kind, p, f, done)
        }

        fn send(&mut self, p: u64, key: &str, msg: i64, offset: i64) -> &mut H {
            self.op(
                p,
                "send",
                json!([["send", key, msg]]),
                OpType::Ok,
                json!([["send", key, [offset, msg]]]),
            )
        }

        fn send_as(&mut self, p: u64, key: &str, msg: i64, kind: OpType) -> &mut H {
            let v = json!([["send", key, msg]]);
            self.op(p, "send", v.clone(), kind, v);
            if kind != OpType::Ok {
                self.0.last_mut().unwrap().error = Some(json!(["abort", "no"]));
            }
            self
        }

        fn poll(&mut self, p: u64, msgs: Value) -> &mut H {
            self.op(
                p,
                "poll",
                json!([["poll"]]),
                OpType::Ok,
                json!([["poll", msgs]]),
            )
        }

        fn assign(&mut self, p: u64, keys: Value) -> &mut H {
            self.op(p, "assign", keys.clone(), OpType::Ok, keys)
        }

        fn crash(&mut self, p: u64) -> &mut H {
            self.op(p, "crash", Value::Null, OpType::Info, Value::Null)
        }

        fn check(&self) -> CheckResult {
            check(&self.0)
        }
    }

    fn types(r: &CheckResult) -> Vec<String> {
        serde_json::from_value(r.fields["error-types"].clone()).unwrap()
    }

    fn findings(r: &CheckResult) -> String {
        r.findings.join("\n")
    }

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
    fn inconsistent_offsets_name_the_key_offset_messages_and_ops() {
        let mut h = H::default();
        h.send(0, "5", 1, 0) // ops 0, 1
            .send(1, "5", 2, 0) // ops 2, 3: same offset, other message
            .poll(2, json!({"5": [[0, 3]]})); // ops 4, 5: a third message
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert!(types(&r).contains(&"inconsistent-offsets".to_string()));
        let e = &r.fields["inconsistent-offsets"];
        assert_eq!(e["count"], 1);
        assert_eq!(e["errs"][0]["key"], "5");
        assert_eq!(e["errs"][0]["offset"], 0);
        assert_eq!(e["errs"][0]["values"], json!([1, 2, 3]));
        assert_eq!(e["errs"][0]["ops"][1]["index"], 3);
        assert_eq!(e["errs"][0]["ops"][1]["node"], "n1");
        let f = findings(&r);
        assert!(
            f.contains(
                "key \"5\" held 3 different messages at offset 0: 1 from send op 1 (process 0 → \
                 n0, at 0.001 s), 2 from send op 3 (process 1 → n1, at 0.003 s) and 3 from poll \
                 op 5 (process 2 → n0, at 0.005 s)"
            ),
            "{f}"
        );
    }

    #[test]
    fn a_message_at_two_offsets_is_a_duplicate() {
        let mut h = H::default();
        h.send(0, "1", 7, 0)
            .send(0, "1", 8, 1)
            .poll(1, json!({"1": [[0, 7], [1, 8], [2, 7]]}));
        let r = h.check();
        assert_eq!(types(&r), ["duplicate"]);
        let e = &r.fields["duplicate"]["errs"][0];
        assert_eq!(e["value"], 7);
        assert_eq!(e["count"], 2);
        assert_eq!(e["offsets"], json!([0, 2]));
        assert!(findings(&r).starts_with(
            "message 7 of key \"1\" appears at 2 different offsets: offset 0 in send op 1"
        ));
    }

    #[test]
    fn an_acknowledged_message_below_the_highest_read_is_lost() {
        let mut h = H::default();
        h.send(0, "3", 1, 0)
            .send(0, "3", 2, 1)
            .send(0, "3", 3, 2)
            .poll(1, json!({"3": [[0, 1]]}))
            // Another process starts at offset 2 (say, from a committed offset).
            .poll(2, json!({"3": [[2, 3]]}));
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(types(&r), ["lost-write", "unseen"]);
        let lost = &r.fields["lost-write"];
        assert_eq!(lost["count"], 1);
        assert_eq!(lost["errs"][0]["value"], 2);
        assert_eq!(lost["errs"][0]["offset"], 1);
        assert_eq!(lost["errs"][0]["max-read-offset"], 2);
        assert_eq!(lost["errs"][0]["max-read"]["index"], 9);
        let f = &r.findings[0];
        assert_eq!(
            f,
            "message 2 sent to key \"3\" was acknowledged at offset 1 by send op 3 (process 0 → \
             n0, at 0.003 s), but no poll ever returned it, although poll op 9 (process 2 → n0, \
             at 0.009 s) read key \"3\" up to offset 2"
        );
        assert_eq!(r.fields["unseen"]["unseen"], json!({"3": 1}));
    }

    #[test]
    fn messages_never_polled_are_unseen_but_not_lost() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "2", 1, 0)
            .poll(1, json!({"1": [[0, 1]]}));
        let r = h.check();
        assert_eq!(types(&r), ["unseen"]);
        assert_eq!(r.fields["bad-error-types"], json!(["unseen"]));
        let u = &r.fields["unseen"];
        assert_eq!(u["count"], 2);
        assert_eq!(u["unseen"], json!({"1": 1, "2": 1}));
        assert_eq!(u["messages"], json!({"1": [2], "2": [1]}));
        assert_eq!(u["time"], 0.007);
        let f = &r.findings[0];
        assert!(
            f.starts_with(
                "message 1 sent to key \"2\" was acknowledged at offset 0 by send op 5 (process \
                 0 → n0, at 0.005 s) but no poll ever returned it"
            ),
            "{f}"
        );
        assert!(
            f.ends_with(
                "2 acknowledged messages in all were never polled, by key: \"1\" (1), \"2\" (1)"
            ),
            "{f}"
        );
        assert_eq!(r.headline[1], "ANOMALIES: unseen 2");
    }

    #[test]
    fn reading_a_failed_send_is_g1a_but_an_indeterminate_one_is_fine() {
        let mut h = H::default();
        h.send_as(0, "1", 5, OpType::Fail)
            .send_as(0, "1", 6, OpType::Info)
            .poll(1, json!({"1": [[0, 5], [1, 6]]}));
        let r = h.check();
        assert_eq!(types(&r), ["G1a"]);
        let e = &r.fields["G1a"]["errs"][0];
        assert_eq!(
            (e["value"].clone(), e["writer"]["index"].clone()),
            (json!(5), json!(1))
        );
        assert_eq!(
            r.findings[0],
            "poll op 5 (process 1 → n1, at 0.005 s) returned message 5 of key \"1\" at offset 0, \
             but its send failed (send op 1 (process 0 → n0, at 0.001 s) with error \
             [\"abort\",\"no\"]): an aborted write was read"
        );
        assert_eq!(r.fields["info-txn-causes"], json!([["abort", "no"]]));
    }

    #[test]
    fn polls_jumping_over_existing_offsets_skip_but_gaps_that_never_existed_do_not() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .send(0, "1", 4, 7) // offsets 3…6 never existed
            .poll(1, json!({"1": [[0, 1]]}))
            .poll(1, json!({"1": [[2, 3], [7, 4]]}))
            .poll(2, json!({"1": [[1, 2]]}));
        let r = h.check();
        assert_eq!(types(&r), ["poll-skip"], "{}", findings(&r));
        let e = &r.fields["poll-skip"]["errs"][0];
        assert_eq!(e["delta"], 2);
        assert_eq!(e["skipped"], json!([[1, 2]]));
        assert_eq!(e["prev"]["index"], 9);
        assert_eq!(e["op"]["index"], 11);
        assert_eq!(
            r.findings[0],
            "process 1 polled key \"1\" up to offset 0 (message 1) in poll op 9 (process 1 → n1, \
             at 0.009 s) and then from offset 2 (message 3) in poll op 11 (process 1 → n1, at \
             0.011 s), skipping existing offset 1 (message 2)"
        );
    }

    #[test]
    fn a_single_poll_starting_anywhere_is_no_skip_and_offset_zero_works() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .poll(1, json!({"1": [[2, 3]]}))
            .poll(2, json!({"1": [[0, 1], [1, 2], [2, 3]]}));
        let r = h.check();
        assert_eq!(r.valid, Validity::Valid, "{}", findings(&r));
    }

    #[test]
    fn polls_going_back_are_nonmonotonic_and_assign_or_crash_resets_them() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .poll(1, json!({"1": [[0, 1], [1, 2]]}))
            .poll(1, json!({"1": [[1, 2]]})) // delta 0
            .assign(1, json!(["2"]))
            .assign(1, json!(["1", "2"]))
            .poll(1, json!({"1": [[0, 1]]})) // fresh after the assign dropped "1"
            .crash(1)
            .poll(1, json!({"1": [[0, 1]]})); // process 1's ops after its crash…
                                              // …would be a new process in a real history; here the crash's info ends process 1.
        let r = h.check();
        assert_eq!(types(&r), ["nonmonotonic-poll"], "{}", findings(&r));
        let e = &r.fields["nonmonotonic-poll"];
        assert_eq!(e["count"], 1);
        assert_eq!(e["errs"][0]["delta"], 0);
        assert_eq!(
            r.findings[0],
            "process 1 polled key \"1\" up to offset 1 (message 2) in poll op 5 (process 1 → n1, \
             at 0.005 s) and then went back to offset 1 (message 2) in poll op 7 (process 1 → n1, \
             at 0.007 s)"
        );
        // An assign that keeps the key keeps the state.
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .poll(1, json!({"1": [[0, 1]]}))
            .assign(1, json!(["1"]))
            .poll(1, json!({"1": [[0, 1]]}));
        assert_eq!(types(&h.check()), ["nonmonotonic-poll"]);
    }

    #[test]
    fn inside_one_poll_skips_and_reversals_are_internal_anomalies() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .poll(1, json!({"1": [[0, 1], [2, 3]]}))
            .poll(2, json!({"1": [[1, 2], [0, 1]]}))
            .poll(3, json!({"1": [[0, 1], [1, 2], [2, 3]]}));
        let r = h.check();
        assert_eq!(types(&r), ["int-nonmonotonic-poll", "int-poll-skip"]);
        assert_eq!(
            r.fields["int-poll-skip"]["errs"][0]["skipped"],
            json!([[1, 2]])
        );
        assert_eq!(r.fields["int-nonmonotonic-poll"]["errs"][0]["delta"], -1);
        let f = findings(&r);
        assert!(f.contains(
            "poll op 7 (process 1 → n1, at 0.007 s) returned offset 0 (message 1) of key \"1\" \
             followed directly by offset 2 (message 3), skipping existing offset 1 (message 2)"
        ), "{f}");
        assert!(f.contains("going backwards within one poll"), "{f}");
        // Sparse offsets inside one poll are fine.
        let mut h = H::default();
        h.send(0, "1", 1, 3)
            .send(0, "1", 2, 9)
            .poll(1, json!({"1": [[3, 1], [9, 2]]}));
        assert_eq!(h.check().valid, Validity::Valid);
    }

    #[test]
    fn a_later_send_with_an_earlier_offset_is_nonmonotonic_until_an_assign() {
        let mut h = H::default();
        h.send(0, "1", 1, 5)
            .send(0, "1", 2, 3)
            .assign(0, json!(["2"]))
            .send(0, "1", 3, 1)
            .send(0, "1", 4, 1) // same offset: also inconsistent, and 4 is lost
            .poll(1, json!({"1": [[1, 3], [3, 2], [5, 1]]}));
        let r = h.check();
        assert_eq!(
            types(&r),
            [
                "inconsistent-offsets",
                "lost-write",
                "nonmonotonic-send",
                "unseen"
            ],
            "{}",
            findings(&r)
        );
        let e = &r.fields["nonmonotonic-send"];
        assert_eq!(e["count"], 2);
        // Smallest delta first.
        assert_eq!(e["errs"][0]["delta"], -1); // offsets 1, 3, 5 are indices 0, 1, 2
        assert_eq!(e["errs"][1]["delta"], 0);
        assert!(findings(&r).contains(
            "process 0 sent message 2 to key \"1\" and got offset 3 in send op 3 (process 0 → n0, \
             at 0.003 s), not above offset 5 that its earlier send of message 1 got in send op 1"
        ));
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

//! The search for one partition: Wing & Gong's linked list of call/return entries,
//! lifted and unlifted in depth-first order, with Lowe's memoization (a cache of
//! (set of linearized operations, model state) pairs already explored) and Lowe's
//! just-in-time linearization (only calls before the first pending return are tried).
//!
//! This follows Porcupine's `checkSingle`, iteratively (no recursion, so 100k-op
//! partitions cannot overflow the stack), with three changes that keep it fast and
//! bounded: the set of linearized ops is hashed incrementally (Zobrist: one random
//! word per op, XORed in and out), the cache stores only the window of the bitset
//! between the first not-fully-linearized word and the last non-empty one, and the
//! search stops at a deadline or when the cache outgrows its share of a memory cap.
//!
//! Intervals are closed, as in Porcupine: entries are sorted by time with calls
//! before returns at equal times, so an op returning at t and one called at t are
//! concurrent.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use super::history::Operation;
use super::model::Model;

const NIL: u32 = u32::MAX;
/// Bytes reserved from the shared budget at a time.
const CHUNK: usize = 1 << 20;
/// How many distinct states are remembered per op for explanations.
pub(crate) const BLOCKED_STATES: usize = 4;

/// A memory budget shared by the searches of one check.
#[derive(Debug)]
pub struct MemoryBudget {
    cap: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> MemoryBudget {
        MemoryBudget {
            cap,
            used: AtomicUsize::new(0),
        }
    }

    /// Bytes currently reserved by running searches.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(&self, bytes: usize) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.cap {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Why a search stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It reached its deadline.
    Timeout,
    /// Its cache would have exceeded the memory cap.
    Memory,
    /// It was told to stop (another key was already invalid).
    Cancelled,
}

/// What the search of one partition found.
#[derive(Debug, Clone)]
pub struct SearchResult<S> {
    /// `Some(true)`: linearizable; `Some(false)`: not; `None`: stopped (see `stop`).
    pub linearizable: Option<bool>,
    /// Why it stopped undecided.
    pub stop: Option<Stop>,
    /// The complete linearization, or the longest linearizable prefix found, as
    /// indices into the partition's `ops`, in linearization order.
    pub linearization: Vec<usize>,
    /// The op whose return the longest prefix could not get past: no order of the
    /// ops linearized before it lets it (or any other pending op) take effect.
    pub barrier: Option<usize>,
    /// Distinct states (up to four) the search stood in when it reached the barrier's
    /// return, and whether there were more.
    pub barrier_states: Vec<S>,
    /// True if more states than those in `barrier_states` were seen there.
    pub barrier_states_truncated: bool,
    /// Entries in the cache at the end.
    pub cache_entries: usize,
    /// Approximate bytes the cache used.
    pub cache_bytes: usize,
    /// Search steps taken (lifts and backtracks).
    pub steps: u64,
}

/// FxHash-style hasher for states (fast, not DoS-resistant; states come from a
/// history, not an adversary).
#[derive(Default)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().unwrap()));
        }
        let mut tail = 0u64;
        for (i, b) in chunks.remainder().iter().enumerate() {
            tail |= (*b as u64) << (8 * i);
        }
        self.write_u64(tail ^ bytes.len() as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64)
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(SEED);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = FxHasher::default();
    state.hash(&mut h);
    splitmix(h.finish())
}

/// The set of linearized ops with a window `[low, high)` of words that are neither
/// full nor past the last set bit.
struct Bits {
    words: Vec<u64>,
    n: usize,
    low: usize,
    high: usize,
}

impl Bits {
    fn new(n: usize) -> Bits {
        Bits {
            words: vec![0; n.div_ceil(64)],
            n,
            low: 0,
            high: 0,
        }
    }
    fn full(&self, w: usize) -> u64 {
        let rem = self.n - w * 64;
        if rem >= 64 {
            u64::MAX
        } else {
            (1u64 << rem) - 1
        }
    }
    fn set(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.high = self.high.max(w + 1);
        while self.low < self.words.len() && self.words[self.low] == self.full(self.low) {
            self.low += 1;
        }
    }
    fn clear(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        self.low = self.low.min(w);
        while self.high > 0 && self.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }
    fn window(&self) -> &[u64] {
        &self.words[self.low..self.high.max(self.low)]
    }
}

/// Windows of up to this many words are stored inside the cache entry.
const INLINE: usize = 2;

struct CacheEntry<S> {
    hash: u64,
    low: u32,
    len: u32,
    /// The window itself when `len <= INLINE`, else `[offset into arena, 0]`.
    words: [u64; INLINE],
    state: S,
}

/// The cache of explored (linearized set, state) pairs: an open-addressing table of
/// `tag | entry index` words (tag = the hash's high 32 bits), so a miss costs one
/// memory access and a hit two; the entries hold the window and state inline.
struct Cache<S> {
    slots: Vec<u64>,
    entries: Vec<CacheEntry<S>>,
    arena: Vec<u64>,
    bytes: usize,
}

const TAG: u64 = 0xffff_ffff_0000_0000;

impl<S: Eq + Clone> Cache<S> {
    fn new() -> Cache<S> {
        Cache {
            slots: vec![0; 1024],
            entries: Vec::new(),
            arena: Vec::new(),
            bytes: 1024 * 8,
        }
    }

    fn same(&self, e: &CacheEntry<S>, low: usize, window: &[u64], state: &S) -> bool {
        if e.low as usize != low || e.len as usize != window.len() {
            return false;
        }
        let stored = if window.len() <= INLINE {
            &e.words[..window.len()]
        } else {
            let at = e.words[0] as usize;
            &self.arena[at..at + window.len()]
        };
        stored == window && e.state == *state
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let mask = size - 1;
        let mut slots = vec![0u64; size];
        for (index, e) in self.entries.iter().enumerate() {
            let mut at = e.hash as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = (e.hash & TAG) | (index as u64 + 1);
        }
        self.bytes += (size - self.slots.len()) * 8;
        self.slots = slots;
    }

    /// Insert (bits, state) unless present; true if inserted.
    fn insert(&mut self, hash: u64, bits: &Bits, state: &S, heap: usize) -> bool {
        let window = bits.window();
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            if slot & TAG == hash & TAG {
                let e = &self.entries[(slot & !TAG) as usize - 1];
                if e.hash == hash && self.same(e, bits.low, window, state) {
                    return false;
                }
            }
            at = (at + 1) & mask;
        }
        let index = self.entries.len();
        let mut words = [0u64; INLINE];
        if window.len() <= INLINE {
            words[..window.len()].copy_from_slice(window);
        } else {
            words[0] = self.arena.len() as u64;
            self.arena.extend_from_slice(window);
            self.bytes += window.len() * 8;
        }
        self.entries.push(CacheEntry {
            hash,
            low: bits.low as u32,
            len: window.len() as u32,
            words,
            state: state.clone(),
        });
        self.slots[at] = (hash & TAG) | (index as u64 + 1);
        self.bytes += std::mem::size_of::<CacheEntry<S>>() + heap;
        if self.entries.len() * 10 > self.slots.len() * 7 {
            self.grow();
        }
        true
    }
}

/// Search one partition's operations for a linearization.
///
/// `deadline` stops the search (result undecided, `Stop::Timeout`); the cache reserves
/// its memory from `budget` in 1 MiB chunks and stops (`Stop::Memory`) when the budget
/// is spent; setting `cancel` stops it too (`Stop::Cancelled`). Operations with
/// `ret: None` are pending until after every return.
pub fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    deadline: Option<Instant>,
    budget: &MemoryBudget,
    cancel: &AtomicBool,
) -> SearchResult<M::State> {
    let n = ops.len();
    // op ids in call order
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (ops[i].call, i));
    // entries: (time, kind, id) with calls (0) before returns (1) at equal times
    let mut entries: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
    for (id, &i) in order.iter().enumerate() {
        entries.push((ops[i].call, 0, id as u32));
        entries.push((ops[i].ret.unwrap_or(u64::MAX), 1, id as u32));
    }
    entries.sort_unstable();
    // node 0 is the head; entry k is node k + 1
    let nodes = 2 * n + 1;
    let mut next = vec![NIL; nodes];
    let mut prev = vec![NIL; nodes];
    let mut node_op = vec![0u32; nodes];
    let mut is_call = vec![false; nodes];
    let mut ret_node = vec![0u32; n];
    for (k, &(_, kind, id)) in entries.iter().enumerate() {
        let node = k + 1;
        node_op[node] = id;
        is_call[node] = kind == 0;
        if kind == 1 {
            ret_node[id as usize] = node as u32;
        }
        prev[node] = k as u32;
        next[k] = node as u32;
    }
    let zobrist: Vec<u64> = (0..n as u64)
        .map(|id| splitmix(id ^ 0xa076_1d64_78bd_642f))
        .collect();

    let mut bits = Bits::new(n);
    let mut set_hash = 0u64;
    let mut cache: Cache<M::State> = Cache::new();
    let mut reserved = 0usize;
    let mut calls: Vec<(u32, M::State)> = Vec::new();
    let mut state = model.init();
    let mut best: Vec<u32> = Vec::new();
    let mut common = 0usize;
    let mut barrier: Option<u32> = None;
    let mut blocked: Vec<Vec<M::State>> = vec![Vec::new(); n];
    let mut truncated = vec![false; n];
    let mut steps = 0u64;
    let mut stop = None;
    let mut decided = None;

    let mut entry = next[0];
    while next[0] != NIL {
        steps += 1;
        if steps & 1023 == 0 {
            if cancel.load(Ordering::Relaxed) {
                stop = Some(Stop::Cancelled);
                break;
            }
            if let Some(deadline) = deadline {
                if Instant::now() >= deadline {
                    stop = Some(Stop::Timeout);
                    break;
                }
            }
        }
        let e = entry as usize;
        let id = node_op[e] as usize;
        if is_call[e] {
            let op = &ops[order[id]];
            if let Some(new_state) = model.step(&state, &op.input, &op.output) {
                bits.set(id);
                set_hash ^= zobrist[id];
                let hash = set_hash ^ state_hash(&new_state);
                let heap = model.state_heap_bytes(&new_state);
                if cache.insert(hash, &bits, &new_state, heap) {
                    if cache.bytes > reserved {
                        let want = (cache.bytes - reserved).div_ceil(CHUNK) * CHUNK;
                        if !budget.reserve(want) {
                            stop = Some(Stop::Memory);
                            break;
                        }
                        reserved += want;
                    }
                    calls.push((entry, std::mem::replace(&mut state, new_state)));
                    // lift the call and its return out of the list
                    let r = ret_node[id] as usize;
                    next[prev[e] as usize] = next[e];
                    prev[next[e] as usize] = prev[e];
                    next[prev[r] as usize] = next[r];
                    if next[r] != NIL {
                        prev[next[r] as usize] = prev[r];
                    }
                    entry = next[0];
                } else {
                    bits.clear(id);
                    set_hash ^= zobrist[id];
                    entry = next[e];
                }
            } else {
                entry = next[e];
            }
        } else {
            // a return: every pending op before it was tried; backtrack
            let seen = &mut blocked[id];
            if !seen.contains(&state) {
                if seen.len() < BLOCKED_STATES {
                    seen.push(state.clone());
                } else {
                    truncated[id] = true;
                }
            }
            if calls.len() > best.len() || barrier.is_none() {
                best.truncate(common);
                best.extend(
                    calls[common..]
                        .iter()
                        .map(|(node, _)| node_op[*node as usize]),
                );
                common = calls.len();
                barrier = Some(id as u32);
            }
            let Some((top, previous)) = calls.pop() else {
                decided = Some(false);
                break;
            };
            common = common.min(calls.len());
            state = previous;
            let c = top as usize;
            let top_id = node_op[c] as usize;
            bits.clear(top_id);
            set_hash ^= zobrist[top_id];
            // unlift: return first, then the call
            let r = ret_node[top_id] as usize;
            next[prev[r] as usize] = r as u32;
            if next[r] != NIL {
                prev[next[r] as usize] = r as u32;
            }
            next[prev[c] as usize] = c as u32;
            prev[next[c] as usize] = c as u32;
            entry = next[c];
        }
    }
    if stop.is_none() && decided.is_none() {
        decided = Some(true);
        best = calls
            .iter()
            .map(|(node, _)| node_op[*node as usize])
            .collect();
        barrier = None;
    }
    budget.release(reserved);
    let (barrier_states, barrier_states_truncated) = match barrier {
        Some(b) => (
            std::mem::take(&mut blocked[b as usize]),
            truncated[b as usize],
        ),
        None => (Vec::new(), false),
    };
    SearchResult {
        linearizable: decided,
        stop,
        linearization: best.iter().map(|&id| order[id as usize]).collect(),
        barrier: barrier.map(|b| order[b as usize]),
        barrier_states,
        barrier_states_truncated,
        cache_entries: cache.entries.len(),
        cache_bytes: cache.bytes,
        steps,
    }
}

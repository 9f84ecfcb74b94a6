//! Turning straum ops into transactions: invocations paired with completions,
//! micro-ops decoded, keys and values interned as compact ids (compared exactly by
//! their JSON text, never through floating point).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::Value;

use super::pairing::{same_writes, Pending};
use super::TxnKind;
use crate::{Op, OpType, Process};

/// A fast, non-cryptographic hasher for the checker's integer-keyed maps (the
/// multiply-rotate hash rustc uses); inputs are ids, not attacker-chosen.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`FxHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// An interned key or value.
pub type Atom = u32;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Committed; its reads are known.
    Ok,
    /// Did not happen.
    Fail,
    /// May or may not have happened; only its writes are known.
    Info,
}

/// One micro-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    /// `["append", k, v]` or `["w", k, v]`.
    Write(Atom, Atom),
    /// A list-append read: the list (`None` for `null` or unknown).
    ReadList(Atom, Option<Vec<Atom>>),
    /// A register read: the value (`None` for `null`, the initial state).
    ReadReg(Atom, Option<Atom>),
}

impl Mop {
    /// The key the micro-op touches.
    pub fn key(&self) -> Atom {
        match self {
            Mop::Write(k, _) | Mop::ReadList(k, _) | Mop::ReadReg(k, _) => *k,
        }
    }
}

/// True when some key is touched by more than one of `mops` (only then can a
/// transaction contradict itself or read-then-write a key).
pub fn repeats_a_key(mops: &[Mop]) -> bool {
    (1..mops.len()).any(|j| mops[..j].iter().any(|m| m.key() == mops[j].key()))
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    /// The process that ran it.
    pub process: u64,
    /// Invocation time, ns.
    pub invoked: u64,
    /// Completion time, ns (`u64::MAX` when it never definitely completed).
    pub completed: u64,
    /// How it ended.
    pub status: Status,
    /// The quoted op (its completion, or its invocation when it never completed):
    /// history index, time and type, so explanations need no copy of the history.
    pub index: u64,
    /// The quoted op's time, ns.
    pub time: u64,
    /// The quoted op's type.
    pub recorded: OpType,
    /// Its micro-ops (the completion's for `ok`, the invocation's otherwise).
    pub mops: Vec<Mop>,
}

/// Atoms below this are the integers themselves; others index the interned names.
pub(super) const INTERNED: Atom = 1 << 31;

/// The printable form of an atom.
#[derive(Debug, Clone)]
enum Name {
    Int(i64),
    Text(Box<str>),
}

/// Interns JSON scalars: integers that fit an i64 by value, anything else by text.
#[derive(Debug, Default)]
pub struct Interner {
    ints: FastMap<i64, Atom>,
    texts: FastMap<String, Atom>,
    names: Vec<Name>,
}

impl Interner {
    fn atom(&mut self, value: &Value) -> Atom {
        if let Some(i) = value.as_i64() {
            // small non-negative integers are their own atom: no lookup at all
            if (0..INTERNED as i64).contains(&i) {
                return i as Atom;
            }
            let next = INTERNED + self.names.len() as Atom;
            return *self.ints.entry(i).or_insert_with(|| {
                self.names.push(Name::Int(i));
                next
            });
        }
        let text = value.to_string();
        if let Some(&a) = self.texts.get(&text) {
            return a;
        }
        let a = INTERNED + self.names.len() as Atom;
        self.names.push(Name::Text(text.clone().into_boxed_str()));
        self.texts.insert(text, a);
        a
    }

    /// The atom for a name interned elsewhere.
    fn intern(&mut self, name: &Name) -> Atom {
        let next = INTERNED + self.names.len() as Atom;
        let atom = match name {
            Name::Int(i) => *self.ints.entry(*i).or_insert(next),
            Name::Text(text) => *self.texts.entry(text.to_string()).or_insert(next),
        };
        if atom == next {
            self.names.push(name.clone());
        }
        atom
    }

    /// The atom's JSON text.
    pub fn name(&self, atom: Atom) -> String {
        if atom < INTERNED {
            return atom.to_string();
        }
        match &self.names[(atom - INTERNED) as usize] {
            Name::Int(i) => i.to_string(),
            Name::Text(t) => t.to_string(),
        }
    }

    /// A list of atoms as `[1 2 3]`, abridged.
    pub fn list(&self, atoms: &[Atom]) -> String {
        let text: Vec<String> = atoms.iter().map(|&a| self.name(a)).collect();
        crate::quote::abridge(&format!("[{}]", text.join(" "))).into_owned()
    }
}

/// Transactions decoded from a history.
#[derive(Debug, Default)]
pub struct Txns {
    /// Every transaction, in completion order.
    pub txns: Vec<Txn>,
    /// Keys and values.
    pub atoms: Interner,
    /// Completions (or invocations) that could not be decoded, with the reason, at
    /// most a few kept.
    pub malformed: Vec<String>,
    /// How many were malformed.
    pub malformed_count: usize,
    /// A transaction whose writes are unknown was dropped, so "nobody wrote this"
    /// cannot be concluded.
    pub writes_incomplete: bool,
    /// Invocations that came while their process had one open (see
    /// [`super::pairing`]).
    pub overlapping: usize,
}

pub(super) fn decode(
    value: &Value,
    kind: TxnKind,
    reads: bool,
    atoms: &mut Interner,
) -> Result<Vec<Mop>, String> {
    let Value::Array(mops) = value else {
        return Err(format!(
            "value is not a list of micro-ops: {}",
            crate::quote::abridge_json(value)
        ));
    };
    let mut out = Vec::with_capacity(mops.len());
    for mop in mops {
        let bad = || format!("malformed micro-op {}", crate::quote::abridge_json(mop));
        let Value::Array(parts) = mop else {
            return Err(bad());
        };
        // a read may leave its value out (Elle's tests write `[:r :x]`): nothing read
        let f = parts.first().and_then(Value::as_str).ok_or_else(bad)?;
        if parts.len() != 3 && !(parts.len() == 2 && f == "r") {
            return Err(bad());
        }
        let scalar = |v: &Value| !v.is_array() && !v.is_object() && !v.is_null();
        // keys may be compound (Jepsen's `[:anti 1]`): they are compared by their text
        if parts[1].is_null() {
            return Err(bad());
        }
        let k = atoms.atom(&parts[1]);
        let v = parts.get(2).unwrap_or(&Value::Null);
        out.push(match (kind, f) {
            (TxnKind::ListAppend, "append") if scalar(v) => Mop::Write(k, atoms.atom(v)),
            (TxnKind::RwRegister, "w") if scalar(v) => Mop::Write(k, atoms.atom(v)),
            (TxnKind::ListAppend, "r") => match v {
                Value::Null => Mop::ReadList(k, None),
                Value::Array(items) if reads && items.iter().all(scalar) => {
                    Mop::ReadList(k, Some(items.iter().map(|i| atoms.atom(i)).collect()))
                }
                _ if !reads => Mop::ReadList(k, None),
                _ => return Err(bad()),
            },
            (TxnKind::RwRegister, "r") => match v {
                Value::Null => Mop::ReadReg(k, None),
                v if scalar(v) && reads => Mop::ReadReg(k, Some(atoms.atom(v))),
                _ if !reads => Mop::ReadReg(k, None),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        });
    }
    Ok(out)
}

/// A completion's micro-ops: as recorded, or already decoded by [`decode_plain`].
pub(super) enum Reads<'a> {
    Value(&'a Value),
    Decoded(Vec<Mop>),
}

/// What pairing needs of an op besides its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub index: u64,
    pub time: u64,
    pub kind: OpType,
    pub process: u64,
}

impl Head {
    /// The head of a client op; `None` for the nemesis's.
    pub(super) fn of(op: &Op) -> Option<Head> {
        let Process::Client(process) = op.process else {
            return None;
        };
        Some(Head {
            index: op.index,
            time: op.time,
            kind: op.kind,
            process,
        })
    }
}

/// The fast path of [`decode`] for a completion's micro-ops given as JSON text,
/// taken only for the plain shape (`[["append", 1, 2], ["r", 1, [1 2]]]`: every
/// key and value an integer below 2^31, which is its own atom, so no interning is
/// needed and any thread may do it); `None` for anything else, which then goes
/// through [`decode`] and its rules and errors.
pub(super) fn decode_plain(text: &str, kind: TxnKind) -> Option<Vec<Mop>> {
    use serde_json::value::RawValue;
    let small = |n: u32| (n < INTERNED).then_some(n);
    let mops: Vec<(&str, u32, &RawValue)> = serde_json::from_str(text).ok()?;
    mops.into_iter()
        .map(|(f, k, v)| {
            let k = small(k)?;
            let v = v.get();
            Some(match (kind, f, v) {
                (TxnKind::ListAppend, "append", _) | (TxnKind::RwRegister, "w", _) => {
                    Mop::Write(k, small(v.parse().ok()?)?)
                }
                (TxnKind::ListAppend, "r", "null") => Mop::ReadList(k, None),
                (TxnKind::ListAppend, "r", _) => {
                    let list: Vec<u32> = serde_json::from_str(v).ok()?;
                    let list: Option<Vec<Atom>> = list.into_iter().map(small).collect();
                    Mop::ReadList(k, Some(list?))
                }
                (TxnKind::RwRegister, "r", "null") => Mop::ReadReg(k, None),
                (TxnKind::RwRegister, "r", _) => Mop::ReadReg(k, Some(small(v.parse().ok()?)?)),
                _ => return None,
            })
        })
        .collect()
}

/// Decode one transaction into `t`: its invocation (whose value is asked for only
/// when the completion's reads cannot be used) and its completion, if any, with its
/// value (needed only when it is `ok`).
pub(super) fn finish<'v>(
    invoke: Head,
    invoke_value: &dyn Fn() -> Cow<'v, Value>,
    comp: Option<(Head, Reads<'_>)>,
    kind: TxnKind,
    t: &mut Txns,
) {
    let comp_head = comp.as_ref().map(|c| c.0);
    let status = match comp_head.map(|c| c.kind) {
        Some(OpType::Ok) => Status::Ok,
        Some(OpType::Fail) => Status::Fail,
        _ => Status::Info,
    };
    let quoted = comp_head.unwrap_or(invoke);
    let completed = match (status, comp_head) {
        (Status::Info, _) | (_, None) => u64::MAX,
        (_, Some(c)) => c.time,
    };
    let mut txn = Txn {
        process: invoke.process,
        invoked: invoke.time,
        completed,
        status,
        index: quoted.index,
        time: quoted.time,
        recorded: quoted.kind,
        mops: Vec::new(),
    };
    if let (Status::Ok, Some((_, reads))) = (status, comp) {
        let decoded = match reads {
            Reads::Value(value) => decode(value, kind, true, &mut t.atoms),
            Reads::Decoded(mops) => Ok(mops),
        };
        match decoded {
            Ok(mops) => {
                txn.mops = mops;
                t.txns.push(txn);
                return;
            }
            Err(e) => {
                t.note(format!("op {}: {e}", quoted.index));
                txn.status = Status::Info;
                txn.completed = u64::MAX;
            }
        }
    }
    match decode(&invoke_value(), kind, false, &mut t.atoms) {
        Ok(mops) => {
            txn.mops = mops;
            t.txns.push(txn);
        }
        Err(e) => {
            t.note(format!("op {}: {e}", invoke.index));
            t.writes_incomplete = true;
        }
    }
}

impl Txns {
    pub(super) fn note(&mut self, what: String) {
        self.malformed_count += 1;
        if self.malformed.len() < 8 {
            self.malformed.push(what);
        }
    }

    /// Append `other` (decoded from later ops), renumbering its interned atoms.
    fn absorb(&mut self, mut other: Txns) {
        if !other.atoms.names.is_empty() {
            let remap: Vec<Atom> = other
                .atoms
                .names
                .iter()
                .map(|n| self.atoms.intern(n))
                .collect();
            let map = |a: &mut Atom| {
                if *a >= INTERNED && *a != Atom::MAX {
                    *a = remap[(*a - INTERNED) as usize];
                }
            };
            for txn in &mut other.txns {
                for mop in &mut txn.mops {
                    match mop {
                        Mop::Write(k, v) | Mop::ReadReg(k, Some(v)) => {
                            map(k);
                            map(v);
                        }
                        Mop::ReadReg(k, None) | Mop::ReadList(k, None) => map(k),
                        Mop::ReadList(k, Some(list)) => {
                            map(k);
                            list.iter_mut().for_each(map);
                        }
                    }
                }
            }
        }
        self.txns.append(&mut other.txns);
        self.merge_notes(
            other.malformed,
            other.malformed_count,
            other.writes_incomplete,
        );
    }

    /// Take on notes counted elsewhere.
    fn merge_notes(&mut self, malformed: Vec<String>, count: usize, incomplete: bool) {
        self.malformed_count += count;
        let room = 8usize.saturating_sub(self.malformed.len());
        self.malformed.extend(malformed.into_iter().take(room));
        self.writes_incomplete |= incomplete;
    }
}

/// An invocation (its head, with the time pairing gave it, and position) and its
/// completion's, if any.
type Pair = (Head, usize, Option<(Head, usize)>);

/// Pair the `txn` ops of `history` into transactions. Nemesis and other ops are
/// ignored; an invocation never completed counts as `info`; a completion that does
/// not decode is counted and falls back to its invocation as `info`; a process
/// with several invocations open is paired as [`super::pairing`] says. Long
/// histories are decoded on two threads.
pub fn transactions(history: &[Op], kind: TxnKind) -> Txns {
    let mut t = Txns::default();
    let mut open: Pending<usize> = Pending::default();
    let mut pairs: Vec<Pair> = Vec::new();
    // atoms for telling overlapping invocations apart (not the decoded ones)
    let mut scratch = Interner::default();
    for (i, op) in history.iter().enumerate() {
        let Some(mut head) = Head::of(op) else {
            continue;
        };
        if op.f != "txn" {
            continue;
        }
        if op.kind == OpType::Invoke {
            open.invoke(head, i);
            continue;
        }
        let shape = open
            .ambiguous(head.process)
            .then(|| decode(&op.value, kind, false, &mut scratch).ok())
            .flatten();
        let fits = |inv: &usize| {
            shape.as_ref().is_some_and(|c| {
                decode(&history[*inv].value, kind, false, &mut scratch)
                    .is_ok_and(|m| same_writes(&m, c))
            })
        };
        if let Some((inv_head, inv)) = open.complete(&mut head, fits) {
            pairs.push((inv_head, inv, Some((head, i))));
        } else {
            t.note(format!("op {}: a completion with no invocation", op.index));
            if op.kind == OpType::Ok {
                t.writes_incomplete = true;
            }
        }
    }
    let overlapping = open.overlapping;
    pairs.extend(open.rest().into_iter().map(|(head, inv)| (head, inv, None)));
    let decode_all = |chunk: &[Pair]| {
        let mut part = Txns::default();
        part.txns.reserve(chunk.len());
        for &(head, inv, comp) in chunk {
            let value = || Cow::Borrowed(&history[inv].value);
            let comp = comp.map(|(c, i)| (c, Reads::Value(&history[i].value)));
            finish(head, &value, comp, kind, &mut part);
        }
        part
    };
    let (first, second) = pairs.split_at(if pairs.len() > 20_000 {
        pairs.len() / 2
    } else {
        pairs.len()
    });
    let (a, b) = std::thread::scope(|scope| {
        let b = (!second.is_empty()).then(|| scope.spawn(|| decode_all(second)));
        (
            decode_all(first),
            b.map(|h| h.join().expect("decoding thread")),
        )
    });
    let pairing = std::mem::take(&mut t);
    t = a;
    t.merge_notes(
        pairing.malformed,
        pairing.malformed_count,
        pairing.writes_incomplete,
    );
    if let Some(b) = b {
        t.absorb(b);
    }
    t.overlapping = overlapping;
    t
}

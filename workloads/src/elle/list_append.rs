//! List-append inference: the version order of each key is its longest committed
//! read (every other read must be a prefix of it, else `incompatible-order`), and
//! from it ww, wr and rw dependencies; plus the anomalies visible without a graph:
//! G1a (aborted read), G1b (intermediate read), internal, duplicate-elements and
//! garbage-read (an element nobody appended).

use serde_json::json;

use super::graph::{kind, Edge, NO_ATOM};
use super::history::{repeats_a_key, Atom, FastMap, Mop, Status, Txns};
use super::{Deadline, Findings};

/// Who appended each (key, value): `Some(txn)`, or `None` when several did (then no
/// edge relies on it).
type Writers = FastMap<(Atom, Atom), Option<u32>>;

fn writers(t: &Txns, want: impl Fn(Status) -> bool) -> Writers {
    let count = t
        .txns
        .iter()
        .filter(|x| want(x.status))
        .map(|x| x.mops.len())
        .sum::<usize>();
    let mut w: Writers = FastMap::with_capacity_and_hasher(count / 2 + 16, Default::default());
    for (i, txn) in t.txns.iter().enumerate() {
        if !want(txn.status) {
            continue;
        }
        for mop in &txn.mops {
            if let Mop::Write(k, v) = *mop {
                w.entry((k, v))
                    .and_modify(|e| *e = None)
                    .or_insert(Some(i as u32));
            }
        }
    }
    w
}

/// For each read key, the appends (value, writer) its longest read does not show,
/// by transactions that may have committed: each came after every element that
/// read shows (Elle's `previously-appended-element`). Keys whose longest read shows
/// an element twice or one nobody appended are left alone (their order is already
/// in question), and so are values appended more than once.
fn unseen_appends(
    possible: &Writers,
    longest: &FastMap<Atom, (u32, &[Atom])>,
) -> FastMap<Atom, Vec<(Atom, u32)>> {
    // most keys' longest reads show every append: count first, look closer only at
    // keys with more appends than their longest read shows
    let mut appended: FastMap<Atom, u32> = FastMap::default();
    for &(k, _) in possible.keys() {
        if longest.contains_key(&k) {
            *appended.entry(k).or_default() += 1;
        }
    }
    // per such key, the values its longest read shows (`None`: the key is left alone)
    let mut shown: FastMap<Atom, Option<FastMap<Atom, ()>>> = FastMap::default();
    for (&k, &count) in &appended {
        let seen = longest[&k].1;
        if count as usize > seen.len() {
            let set: FastMap<Atom, ()> = seen.iter().map(|&v| (v, ())).collect();
            let usable =
                set.len() == seen.len() && seen.iter().all(|v| possible.contains_key(&(k, *v)));
            shown.insert(k, usable.then_some(set));
        }
    }
    let mut out: FastMap<Atom, Vec<(Atom, u32)>> = FastMap::default();
    if shown.is_empty() {
        return out;
    }
    for (&(k, v), writer) in possible {
        if let (Some(Some(set)), Some(w)) = (shown.get(&k), writer) {
            if !set.contains_key(&v) {
                out.entry(k).or_default().push((v, *w));
            }
        }
    }
    for list in out.values_mut() {
        list.sort_unstable();
    }
    out
}

/// A key's version order (its longest read) with what every read of a prefix of it
/// needs, computed once per key instead of once per read: the writer of each
/// position (so edges need no lookup by value) and how long a prefix is clean.
struct Order<'a> {
    /// The transaction that read the longest state.
    reader: u32,
    /// The longest read: the version order.
    order: &'a [Atom],
    /// Where this key's writers by position start in [`Orders::writers`].
    start: usize,
    /// Reads this long or shorter that are a prefix of `order` show only elements
    /// some possibly committed transaction appended, none twice: no G1a, no
    /// garbage-read, no duplicate-elements.
    clean: usize,
}

/// Every read key's [`Order`], and one flat list of writers by position (`NONE`
/// where no single possibly committed transaction appended that element).
struct Orders<'a> {
    keys: FastMap<Atom, Order<'a>>,
    writers: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl<'a> Orders<'a> {
    fn new(longest: FastMap<Atom, (u32, &'a [Atom])>, possible: &Writers) -> Orders<'a> {
        let total = longest.values().map(|(_, order)| order.len()).sum();
        let mut writers = Vec::with_capacity(total);
        let mut keys = FastMap::with_capacity_and_hasher(longest.len(), Default::default());
        for (k, (reader, order)) in longest {
            let start = writers.len();
            writers.extend(
                order
                    .iter()
                    .map(|v| possible.get(&(k, *v)).copied().flatten().unwrap_or(NONE)),
            );
            let missing = order
                .iter()
                .position(|v| !possible.contains_key(&(k, *v)))
                .unwrap_or(order.len());
            let clean = missing.min(first_repeat(order));
            keys.insert(
                k,
                Order {
                    reader,
                    order,
                    start,
                    clean,
                },
            );
        }
        Orders { keys, writers }
    }

    /// The writer of position `pos` of `order` (`None` past its end or when unknown).
    fn writer(&self, order: &Order, pos: usize) -> Option<u32> {
        (pos < order.order.len())
            .then(|| self.writers[order.start + pos])
            .filter(|&w| w != NONE)
    }

    /// The writer of the last element of a read `len` long (`None` for an empty read).
    fn last_writer(&self, order: &Order, len: usize) -> Option<u32> {
        len.checked_sub(1).and_then(|pos| self.writer(order, pos))
    }
}

/// The first position whose element appears earlier in `list` (`list.len()` if none).
fn first_repeat(list: &[Atom]) -> usize {
    if list.len() <= 32 {
        return (1..list.len())
            .find(|&j| list[..j].contains(&list[j]))
            .unwrap_or(list.len());
    }
    let mut seen: FastMap<Atom, ()> = FastMap::default();
    list.iter()
        .position(|v| seen.insert(*v, ()).is_some())
        .unwrap_or(list.len())
}

/// How many reads committed transactions made and how many appends any made.
fn mop_counts(t: &Txns) -> (usize, usize) {
    let (mut reads, mut appends) = (0, 0);
    for txn in &t.txns {
        for mop in &txn.mops {
            match mop {
                Mop::Write(..) => appends += 1,
                _ if txn.status == Status::Ok => reads += 1,
                _ => {}
            }
        }
    }
    (reads, appends)
}

fn reads(t: &Txns) -> impl Iterator<Item = (u32, Atom, &[Atom])> {
    t.txns
        .iter()
        .enumerate()
        .filter(|(_, x)| x.status == Status::Ok)
        .flat_map(|(i, x)| {
            x.mops.iter().filter_map(move |m| match m {
                Mop::ReadList(k, list) => Some((i as u32, *k, list.as_deref().unwrap_or(&[]))),
                _ => None,
            })
        })
}

/// Infer the dependency edges and record the non-cycle anomalies. `None` when the
/// deadline passed.
pub fn infer(t: &Txns, found: &mut Findings, deadline: &mut Deadline) -> Option<Vec<Edge>> {
    let possible = writers(t, |s| s != Status::Fail);
    let failed = writers(t, |s| s == Status::Fail);
    let mut steps = 0usize;
    internal(t, found);
    super::cases::lost_update(t, found);
    super::cases::future_read(t, found);
    // longest read per key
    let mut longest: FastMap<Atom, (u32, &[Atom])> = FastMap::default();
    for (i, k, list) in reads(t) {
        steps += 1;
        if deadline.over(steps) {
            return None;
        }
        let e = longest.entry(k).or_insert((i, list));
        if list.len() > e.1.len() {
            *e = (i, list);
        }
    }
    // An append no read shows comes after every element the longest read shows, so
    // the last element's writer and the readers of the longest state precede it
    // (transitively, whichever unseen append came first) — Elle's inference, which
    // finds write skew over keys no read shows appended
    let unseen = unseen_appends(&possible, &longest);
    let orders = Orders::new(longest, &possible);
    let mut broken: std::collections::HashSet<Atom> = Default::default();
    for (i, k, list) in reads(t) {
        steps += 1;
        if deadline.over(steps) {
            return None;
        }
        let key = &orders.keys[&k];
        let prefix = key.order[..list.len()] == *list;
        if prefix && list.len() <= key.clean {
            // a clean prefix: of the element checks only G1b can apply
            let writer = orders.last_writer(key, list.len());
            intermediate_read(t, found, i, k, list, writer);
        } else {
            check_elements(t, found, &possible, &failed, i, k, list);
        }
        if !prefix && broken.insert(k) {
            let j = key.reader;
            let sentence = format!(
                "{} read {} of key {}, and {} read {}: neither is a prefix of the other, so no single order of appends explains both",
                found.label(t, i), t.atoms.list(list),
                t.atoms.name(k), found.label(t, j), t.atoms.list(key.order)
            );
            let ex = json!({"key": found.atom(t, k), "values": [found.atoms(t, list), found.atoms(t, key.order)], "ops": [found.op(t, i), found.op(t, j)]});
            found.add_txns("incompatible-order", ex, sentence, t, &[i, j]);
        }
    }
    // at most one wr and one rw edge per read, one ww per append, plus the unseen
    let (read_count, append_count) = mop_counts(t);
    let unseen_count: usize = unseen.values().map(Vec::len).sum();
    let mut edges = Vec::with_capacity(2 * read_count + append_count + 2 * unseen_count + 16);
    for (i, k, list) in reads(t) {
        steps += 1;
        if deadline.over(steps) {
            return None;
        }
        if broken.contains(&k) {
            continue;
        }
        // every read of an unbroken key is a prefix of its order
        let key = &orders.keys[&k];
        let a = list.last().copied().unwrap_or(NO_ATOM);
        // wr: the writer of the last element precedes the reader
        if let Some(w) = orders.last_writer(key, list.len()) {
            edges.push(Edge {
                from: w,
                to: i,
                kind: kind::WR,
                key: k,
                a,
                b: NO_ATOM,
            });
        }
        // rw: a reader of the longest state precedes every append it does not show
        if list.len() == key.order.len() {
            for &(v, w) in unseen.get(&k).map_or(&[][..], Vec::as_slice) {
                edges.push(Edge {
                    from: i,
                    to: w,
                    kind: kind::RW,
                    key: k,
                    a,
                    b: v,
                });
            }
        }
        // rw: the reader precedes whoever appended the next element
        if let Some(w) = orders.writer(key, list.len()) {
            edges.push(Edge {
                from: i,
                to: w,
                kind: kind::RW,
                key: k,
                a,
                b: key.order[list.len()],
            });
        }
    }
    let mut keys: Vec<(&Atom, &Order)> = orders.keys.iter().collect();
    keys.sort_unstable_by_key(|(k, _)| **k);
    for &(&k, key) in &keys {
        // only a key with a failed append can have a dirty update
        let aborted = |v: &Atom| failed.contains_key(&(k, *v));
        if !broken.contains(&k) && !failed.is_empty() && key.order.iter().any(aborted) {
            dirty_update(t, found, &possible, &failed, k, key.order);
        }
    }
    for (&k, key) in keys {
        if broken.contains(&k) {
            continue;
        }
        let order = key.order;
        // ww: the last element's writer precedes every append no read shows
        if let Some(a) = orders.last_writer(key, order.len()) {
            for &(v, w) in unseen.get(&k).map_or(&[][..], Vec::as_slice) {
                edges.push(Edge {
                    from: a,
                    to: w,
                    kind: kind::WW,
                    key: k,
                    a: *order.last().expect("a last element"),
                    b: v,
                });
            }
        }
        for pos in 1..order.len() {
            steps += 1;
            if deadline.over(steps) {
                return None;
            }
            if let (Some(a), Some(b)) = (orders.writer(key, pos - 1), orders.writer(key, pos)) {
                edges.push(Edge {
                    from: a,
                    to: b,
                    kind: kind::WW,
                    key: k,
                    a: order[pos - 1],
                    b: order[pos],
                });
            }
        }
    }
    Some(edges)
}

/// dirty-update (Elle's `dirty-update-cases`): in a key's version order, an element
/// appended by a failed transaction is followed (past any indeterminate ones) by an
/// element a committed transaction appended on top of that aborted state.
fn dirty_update(
    t: &Txns,
    found: &mut Findings,
    possible: &Writers,
    failed: &Writers,
    k: Atom,
    order: &[Atom],
) {
    let mut aborted: Option<(u32, usize)> = None;
    for (pos, &v) in order.iter().enumerate() {
        // the one transaction, of any outcome, that appended v
        let anyone = match (possible.get(&(k, v)), failed.get(&(k, v))) {
            (Some(w), None) | (None, Some(w)) => *w,
            _ => None,
        };
        let Some(w) = anyone else {
            aborted = None;
            continue;
        };
        match t.txns[w as usize].status {
            Status::Fail => aborted = Some((w, pos)),
            Status::Info => {}
            Status::Ok => {
                if let Some((f, from)) = aborted.take() {
                    let values = &order[from..=pos];
                    let sentence = format!(
                        "key {}: {} appended {}, and failed, yet {} appended {} on top of it, as the version order {} shows",
                        t.atoms.name(k), found.label(t, f), t.atoms.name(order[from]), found.label(t, w), t.atoms.name(v), t.atoms.list(values)
                    );
                    let ex = json!({"key": found.atom(t, k), "values": found.atoms(t, values), "txns": [found.op(t, f), found.op(t, w)]});
                    found.add_txns("dirty-update", ex, sentence, t, &[f, w]);
                }
            }
        }
    }
}

/// G1a, G1b, duplicate-elements and garbage-read for one committed read.
fn check_elements(
    t: &Txns,
    found: &mut Findings,
    possible: &Writers,
    failed: &Writers,
    i: u32,
    k: Atom,
    list: &[Atom],
) {
    let key = || t.atoms.name(k);
    let repeated = if list.len() <= 32 {
        (1..list.len()).find_map(|j| list[..j].contains(&list[j]).then_some(list[j]))
    } else {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        sorted.windows(2).find(|p| p[0] == p[1]).map(|p| p[0])
    };
    if let Some(d) = repeated {
        let sentence = format!(
            "{} read {} of key {}, which holds {} more than once",
            found.label(t, i),
            t.atoms.list(list),
            key(),
            t.atoms.name(d)
        );
        let ex = json!({"op": found.op(t, i), "key": found.atom(t, k), "value": found.atoms(t, list), "duplicate": found.atom(t, d)});
        found.add_txns("duplicate-elements", ex, sentence, t, &[i]);
    }
    for &e in list {
        match (possible.get(&(k, e)), failed.get(&(k, e))) {
            (None, Some(Some(w))) => {
                let sentence = format!(
                    "{} read {} of key {}, including {}, which only {} appended, and it failed",
                    found.label(t, i),
                    t.atoms.list(list),
                    key(),
                    t.atoms.name(e),
                    found.label(t, *w)
                );
                let ex = json!({"op": found.op(t, i), "writer": found.op(t, *w), "key": found.atom(t, k), "element": found.atom(t, e)});
                found.add_txns("G1a", ex, sentence, t, &[i, *w]);
            }
            (None, None) if !t.writes_incomplete => {
                let sentence = format!(
                    "{} read {} of key {}, including {}, which no transaction appended",
                    found.label(t, i),
                    t.atoms.list(list),
                    key(),
                    t.atoms.name(e)
                );
                let ex = json!({"op": found.op(t, i), "key": found.atom(t, k), "element": found.atom(t, e)});
                found.add_txns("garbage-read", ex, sentence, t, &[i]);
            }
            _ => {}
        }
    }
    let last = list.last().and_then(|last| *possible.get(&(k, *last))?);
    intermediate_read(t, found, i, k, list, last);
}

/// G1b: the last element of a committed read came from `writer` (its one possibly
/// committed appender), which appended to the key again after it.
fn intermediate_read(
    t: &Txns,
    found: &mut Findings,
    i: u32,
    k: Atom,
    list: &[Atom],
    writer: Option<u32>,
) {
    let (Some(&last), Some(w)) = (list.last(), writer) else {
        return;
    };
    if w == i {
        return;
    }
    let mut after = false;
    for mop in &t.txns[w as usize].mops {
        match *mop {
            Mop::Write(k2, v) if k2 == k && v == last => after = true,
            Mop::Write(k2, v) if k2 == k && after => {
                let sentence = format!(
                    "{} read {} of key {}, ending in {}, an intermediate state of {}, which appended {} after it",
                    found.label(t, i), t.atoms.list(list),
                t.atoms.name(k), t.atoms.name(last), found.label(t, w), t.atoms.name(v)
                );
                let ex = json!({"op": found.op(t, i), "writer": found.op(t, w), "key": found.atom(t, k), "element": found.atom(t, last)});
                found.add_txns("G1b", ex, sentence, t, &[i, w]);
                return;
            }
            _ => {}
        }
    }
}

/// internal: a committed transaction's read disagrees with its own earlier reads and
/// appends of that key.
fn internal(t: &Txns, found: &mut Findings) {
    for (i, txn) in t.txns.iter().enumerate() {
        if txn.status != Status::Ok || !repeats_a_key(&txn.mops) {
            continue;
        }
        // key → (known full state?, expected state or suffix)
        let mut state: FastMap<Atom, (bool, Vec<Atom>)> = FastMap::default();
        for mop in &txn.mops {
            match mop {
                Mop::Write(k, v) => state.entry(*k).or_insert((false, Vec::new())).1.push(*v),
                Mop::ReadList(k, list) => {
                    let list = list.as_deref().unwrap_or(&[]);
                    if let Some((full, expected)) = state.get(k) {
                        let ok = if *full {
                            list == &expected[..]
                        } else {
                            list.ends_with(expected)
                        };
                        if !ok {
                            let shown = if *full {
                                t.atoms.list(expected)
                            } else {
                                format!("[… {}", &t.atoms.list(expected)[1..])
                            };
                            let sentence = format!(
                                "{} read {} of key {}, but its own earlier operations on that key imply {shown}",
                                found.label(t, i as u32), t.atoms.list(list),
                t.atoms.name(*k)
                            );
                            let ex = json!({"op": found.op(t, i as u32), "key": found.atom(t, *k), "value": found.atoms(t, list), "expected": shown});
                            found.add_txns("internal", ex, sentence, t, &[i as u32]);
                            break;
                        }
                    }
                    state.insert(*k, (true, list.to_vec()));
                }
                Mop::ReadReg(..) => {}
            }
        }
    }
}

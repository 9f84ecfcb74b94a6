//! Read-write-register inference (Elle's with `wfr-keys?`, as Maelstrom configures
//! it): versions of a key are ordered only by the initial nil (which precedes every
//! value) and by writes that follow reads inside one committed transaction; ww and
//! rw edges follow from that partial order, wr edges from reads of values a single
//! committed transaction wrote. Plus the anomalies visible without a graph: G1a,
//! G1b, internal, lost-update, cyclic-versions and garbage-read (a value nobody
//! wrote; Elle's register checker has no such check, but it is never a false alarm).

use std::collections::HashSet;

use serde_json::json;

use super::graph::{kind, Edge, NO_ATOM};
use super::history::{repeats_a_key, Atom, FastMap, Mop, Status, Txns};
use super::{cases, Deadline, Findings};

/// External reads (first access of the key is a read) and external writes (last
/// write of each key) of one transaction, in key order of first appearance.
struct Ext {
    reads: Vec<(Atom, Option<Atom>)>,
    writes: Vec<(Atom, Atom)>,
}

fn ext(mops: &[Mop]) -> Ext {
    let mut seen: HashSet<Atom> = HashSet::new();
    let mut reads = Vec::new();
    let mut writes: Vec<(Atom, Atom)> = Vec::new();
    for mop in mops {
        match *mop {
            Mop::ReadReg(k, v) => {
                if seen.insert(k) {
                    reads.push((k, v));
                }
            }
            Mop::Write(k, v) => {
                seen.insert(k);
                match writes.iter_mut().find(|(k2, _)| *k2 == k) {
                    Some(w) => w.1 = v,
                    None => writes.push((k, v)),
                }
            }
            Mop::ReadList(..) => {}
        }
    }
    Ext { reads, writes }
}

/// Infer the dependency edges and record the non-cycle anomalies. `None` when the
/// deadline passed.
pub fn infer(t: &Txns, found: &mut Findings, deadline: &mut Deadline) -> Option<Vec<Edge>> {
    let mut steps = 0usize;
    internal(t, found);
    cases::lost_update(t, found);
    let exts: Vec<Option<Ext>> = t
        .txns
        .iter()
        .map(|x| (x.status == Status::Ok).then(|| ext(&x.mops)))
        .collect();
    // (key, value) → committed external writer; None when several wrote it
    let mut writer: FastMap<(Atom, Atom), Option<u32>> = FastMap::default();
    // (key, value) → a failed writer; (key, value) → a writer that overwrote it
    let mut failed: FastMap<(Atom, Atom), u32> = FastMap::default();
    let mut intermediate: FastMap<(Atom, Atom), u32> = FastMap::default();
    let mut writes: FastMap<(Atom, Atom), u32> = FastMap::default();
    for (i, x) in t.txns.iter().enumerate() {
        let mut last: FastMap<Atom, Atom> = FastMap::default();
        for mop in &x.mops {
            if let Mop::Write(k, v) = *mop {
                if x.status == Status::Fail {
                    failed.insert((k, v), i as u32);
                }
                *writes.entry((k, v)).or_default() += 1;
                if let Some(prev) = last.insert(k, v) {
                    intermediate.insert((k, prev), i as u32);
                }
            }
        }
        if let Some(e) = &exts[i] {
            for &(k, v) in &e.writes {
                writer
                    .entry((k, v))
                    .and_modify(|w| *w = None)
                    .or_insert(Some(i as u32));
            }
        }
    }
    // G1a and G1b over every committed read
    for (i, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok {
            continue;
        }
        let i = i as u32;
        for mop in &x.mops {
            let Mop::ReadReg(k, Some(v)) = *mop else {
                continue;
            };
            if !writes.contains_key(&(k, v)) && !t.writes_incomplete {
                let sentence = format!(
                    "{} read {} from key {}, a value no transaction wrote",
                    found.label(t, i),
                    t.atoms.name(v),
                    t.atoms.name(k)
                );
                let ex =
                    json!({"op": found.op(t, i), "mop": ["r", found.atom(t, k), found.atom(t, v)]});
                found.add_txns("garbage-read", ex, sentence, t, &[i]);
            }
            // only when a single write of that value exists is its writer known
            if writes.get(&(k, v)) != Some(&1) {
                continue;
            }
            if let Some(&w) = failed.get(&(k, v)) {
                let sentence = format!(
                    "{} read {} from key {}, which only {} wrote, and it failed",
                    found.label(t, i),
                    t.atoms.name(v),
                    t.atoms.name(k),
                    found.label(t, w)
                );
                let ex = json!({"op": found.op(t, i), "writer": found.op(t, w), "mop": ["r", found.atom(t, k), found.atom(t, v)]});
                found.add_txns("G1a", ex, sentence, t, &[i, w]);
            }
            if let Some(&w) = intermediate.get(&(k, v)) {
                if w != i {
                    let sentence = format!(
                        "{} read {} from key {}, an intermediate value of {}, which wrote that key again afterwards",
                        found.label(t, i), t.atoms.name(v), t.atoms.name(k), found.label(t, w)
                    );
                    let ex = json!({"op": found.op(t, i), "writer": found.op(t, w), "mop": ["r", found.atom(t, k), found.atom(t, v)]});
                    found.add_txns("G1b", ex, sentence, t, &[i, w]);
                }
            }
        }
    }
    // version graphs: value → successors, per key; nil is NO_ATOM
    let mut versions: FastMap<Atom, FastMap<Atom, Vec<Atom>>> = FastMap::default();
    let mut readers: FastMap<(Atom, Atom), Vec<u32>> = FastMap::default();
    let mut edges = Vec::new();
    for (i, e) in exts.iter().enumerate() {
        steps += 1;
        if deadline.over(steps) {
            return None;
        }
        let Some(e) = e else { continue };
        for &(k, v) in &e.reads {
            let v = v.unwrap_or(NO_ATOM);
            readers.entry((k, v)).or_default().push(i as u32);
            if v != NO_ATOM {
                if let Some(&Some(w)) = writer.get(&(k, v)) {
                    edges.push(Edge {
                        from: w,
                        to: i as u32,
                        kind: kind::WR,
                        key: k,
                        a: v,
                        b: NO_ATOM,
                    });
                }
                if let Some(&(_, v2)) = e.writes.iter().find(|(k2, _)| *k2 == k) {
                    if v2 != v {
                        versions
                            .entry(k)
                            .or_default()
                            .entry(v)
                            .or_default()
                            .push(v2);
                    }
                }
            }
        }
    }
    // nil precedes every committed written value
    for (&(k, v), w) in &writer {
        if w.is_some() {
            versions
                .entry(k)
                .or_default()
                .entry(NO_ATOM)
                .or_default()
                .push(v);
        }
    }
    let mut keys: Vec<Atom> = versions.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let graph = &versions[&k];
        if let Some(cycle) = version_cycle(graph) {
            let names: Vec<String> = cycle.iter().map(|&v| t.atoms.name(v)).collect();
            let sentence = format!(
                "key {}: transactions that read one value and then wrote another order its versions in a cycle, {} → {}",
                t.atoms.name(k),
                names.join(" → "),
                names[0]
            );
            let ex = json!({"key": found.atom(t, k), "scc": found.atoms(t, &cycle)});
            found.add("cyclic-versions", ex, sentence);
            continue;
        }
        let mut sources: Vec<&Atom> = graph.keys().collect();
        sources.sort_unstable();
        for &v1 in sources {
            for &v2 in &graph[&v1] {
                steps += 1;
                if deadline.over(steps) {
                    return None;
                }
                let Some(&Some(w2)) = writer.get(&(k, v2)) else {
                    continue;
                };
                if let Some(&Some(w1)) = writer.get(&(k, v1)) {
                    edges.push(Edge {
                        from: w1,
                        to: w2,
                        kind: kind::WW,
                        key: k,
                        a: v1,
                        b: v2,
                    });
                }
                for &r in readers.get(&(k, v1)).map(Vec::as_slice).unwrap_or(&[]) {
                    edges.push(Edge {
                        from: r,
                        to: w2,
                        kind: kind::RW,
                        key: k,
                        a: v1,
                        b: v2,
                    });
                }
            }
        }
    }
    Some(edges)
}

/// A cycle in one key's version graph, if any (iterative colouring DFS).
fn version_cycle(graph: &FastMap<Atom, Vec<Atom>>) -> Option<Vec<Atom>> {
    let mut colour: FastMap<Atom, u8> = FastMap::default();
    let mut roots: Vec<Atom> = graph.keys().copied().collect();
    roots.sort_unstable();
    for root in roots {
        if colour.contains_key(&root) {
            continue;
        }
        let mut stack: Vec<(Atom, usize)> = vec![(root, 0)];
        colour.insert(root, 1);
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            let succ = graph.get(&v).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&w) = succ.get(*next) {
                *next += 1;
                match colour.get(&w) {
                    None => {
                        colour.insert(w, 1);
                        stack.push((w, 0));
                    }
                    Some(1) => {
                        let from = stack.iter().position(|(x, _)| *x == w).unwrap_or(0);
                        return Some(stack[from..].iter().map(|(x, _)| *x).collect());
                    }
                    _ => {}
                }
            } else {
                colour.insert(v, 2);
                stack.pop();
            }
        }
    }
    None
}

/// internal: a committed transaction's read disagrees with its own earlier write or
/// read of that key.
fn internal(t: &Txns, found: &mut Findings) {
    for (i, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok || !repeats_a_key(&x.mops) {
            continue;
        }
        let mut state: FastMap<Atom, Option<Atom>> = FastMap::default();
        for mop in &x.mops {
            match *mop {
                Mop::Write(k, v) => {
                    state.insert(k, Some(v));
                }
                Mop::ReadReg(k, v) => {
                    if let Some(&expected) = state.get(&k) {
                        if expected != v {
                            let show =
                                |a: Option<Atom>| a.map_or("nil".into(), |a| t.atoms.name(a));
                            let sentence = format!(
                                "{} read {} from key {}, but its own earlier operations on that key imply {}",
                                found.label(t, i as u32), show(v), t.atoms.name(k), show(expected)
                            );
                            let ex = json!({"op": found.op(t, i as u32), "mop": ["r", found.atom(t, k), v.map_or(serde_json::Value::Null, |v| found.atom(t, v))], "expected": expected.map_or(serde_json::Value::Null, |v| found.atom(t, v))});
                            found.add_txns("internal", ex, sentence, t, &[i as u32]);
                            break;
                        }
                    }
                    state.insert(k, v);
                }
                Mop::ReadList(..) => {}
            }
        }
    }
}

//! Read-write-register inference, as Elle's with `wfr-keys?`: versions of a key are
//! ordered only by writes that follow reads inside one transaction (a transaction
//! that read `v1` and then wrote `v2` puts `v1` before `v2`; `nil` is the initial
//! version). wr edges come from reads of values a single transaction wrote; ww from
//! the writer of the version read to the transaction that overwrote it; rw from
//! every reader of a version to the transactions that overwrote it. Also G1a, G1b,
//! internal, garbage-read and lost-update (two committed transactions overwrote the
//! same version they both read).

use std::collections::HashMap;

use serde_json::json;

use super::graph::{kind, Edge, NO_ATOM};
use super::history::{Atom, Mop, Status, Txns};
use super::{Deadline, Findings};

/// Who wrote each (key, value): `Some(txn)`, or `None` when several did.
type Writers = HashMap<(Atom, Atom), Option<u32>>;

fn writers(t: &Txns, want: impl Fn(Status) -> bool) -> Writers {
    let mut w: Writers = HashMap::new();
    for (i, txn) in t.txns.iter().enumerate() {
        if want(txn.status) {
            for mop in &txn.mops {
                if let Mop::Write(k, v) = *mop {
                    w.entry((k, v))
                        .and_modify(|e| *e = None)
                        .or_insert(Some(i as u32));
                }
            }
        }
    }
    w
}

/// A committed transaction's external reads (first read of a key, before it wrote
/// the key) and final writes, per key: (key, read version or NO_ATOM for nil, final
/// write if any).
fn summary(mops: &[Mop]) -> Vec<(Atom, Option<Atom>, Option<Atom>)> {
    let mut out: Vec<(Atom, Option<Atom>, Option<Atom>)> = Vec::new();
    for mop in mops {
        let (k, read, write) = match *mop {
            Mop::ReadReg(k, v) => (k, Some(v.unwrap_or(NO_ATOM)), None),
            Mop::Write(k, v) => (k, None, Some(v)),
            Mop::ReadList(..) => continue,
        };
        match out.iter_mut().find(|e| e.0 == k) {
            Some(e) => {
                if write.is_some() {
                    e.2 = write;
                }
            }
            None => out.push((k, read, write)),
        }
    }
    out
}

/// Infer the dependency edges and record the non-cycle anomalies. `None` when the
/// deadline passed.
pub fn infer(t: &Txns, found: &mut Findings, deadline: &mut Deadline) -> Option<Vec<Edge>> {
    let possible = writers(t, |s| s != Status::Fail);
    let failed = writers(t, |s| s == Status::Fail);
    let mut edges = Vec::new();
    // (key, version read) → committed txns that read it and then wrote (txn, value)
    let mut overwrote: HashMap<(Atom, Atom), Vec<(u32, Atom)>> = HashMap::new();
    let mut external: Vec<(u32, Atom, Atom)> = Vec::new();
    for (i, txn) in t.txns.iter().enumerate() {
        if deadline.over(i) {
            return None;
        }
        if txn.status != Status::Ok {
            continue;
        }
        let i = i as u32;
        internal(t, found, i);
        for (k, read, write) in summary(&txn.mops) {
            let Some(r) = read else { continue };
            external.push((i, k, r));
            if r != NO_ATOM {
                check_read(t, found, &possible, &failed, i, k, r);
                if let Some(Some(w)) = possible.get(&(k, r)) {
                    edges.push(Edge {
                        from: *w,
                        to: i,
                        kind: kind::WR,
                        key: k,
                        a: r,
                        b: NO_ATOM,
                    });
                    if let Some(v) = write {
                        edges.push(Edge {
                            from: *w,
                            to: i,
                            kind: kind::WW,
                            key: k,
                            a: r,
                            b: v,
                        });
                    }
                }
            }
            if let Some(v) = write {
                overwrote.entry((k, r)).or_default().push((i, v));
            }
        }
    }
    for (n, &(i, k, r)) in external.iter().enumerate() {
        if deadline.over(n) {
            return None;
        }
        for &(j, v) in overwrote.get(&(k, r)).map_or(&[][..], |v| &v[..]) {
            if j != i {
                edges.push(Edge {
                    from: i,
                    to: j,
                    kind: kind::RW,
                    key: k,
                    a: r,
                    b: v,
                });
            }
        }
    }
    let mut lost: Vec<(&(Atom, Atom), &Vec<(u32, Atom)>)> =
        overwrote.iter().filter(|(_, v)| v.len() > 1).collect();
    lost.sort_unstable_by_key(|(k, _)| **k);
    for (&(k, r), txns) in lost {
        let names: Vec<String> = txns.iter().map(|(j, _)| found.label(t, *j)).collect();
        let version = if r == NO_ATOM {
            "nil".to_string()
        } else {
            t.atoms.name(r)
        };
        let sentence = format!(
            "{} all read {version} from key {} and then wrote it, so all but one of their writes was lost",
            names.join(", "),
            t.atoms.name(k)
        );
        let ops: Vec<_> = txns.iter().map(|(j, _)| found.op(t, *j)).collect();
        let value = if r == NO_ATOM {
            serde_json::Value::Null
        } else {
            found.atom(t, r)
        };
        found.add(
            "lost-update",
            json!({"key": found.atom(t, k), "value": value, "txns": ops}),
            sentence,
        );
    }
    Some(edges)
}

fn check_read(
    t: &Txns,
    found: &mut Findings,
    possible: &Writers,
    failed: &Writers,
    i: u32,
    k: Atom,
    v: Atom,
) {
    let key = t.atoms.name(k);
    match (possible.get(&(k, v)), failed.get(&(k, v))) {
        (None, Some(Some(w))) => {
            let s = format!(
                "{} read {} from key {key}, which only {} wrote, and it failed",
                found.label(t, i),
                t.atoms.name(v),
                found.label(t, *w)
            );
            let ex = json!({"op": found.op(t, i), "writer": found.op(t, *w), "key": found.atom(t, k), "value": found.atom(t, v)});
            found.add("G1a", ex, s);
        }
        (None, None) if !t.writes_incomplete => {
            let s = format!(
                "{} read {} from key {key}, which no transaction wrote",
                found.label(t, i),
                t.atoms.name(v)
            );
            found.add(
                "garbage-read",
                json!({"op": found.op(t, i), "key": found.atom(t, k), "value": found.atom(t, v)}),
                s,
            );
        }
        (Some(Some(w)), _) if *w != i => {
            let writes: Vec<Atom> = t.txns[*w as usize]
                .mops
                .iter()
                .filter_map(|m| {
                    if let Mop::Write(k2, x) = *m {
                        (k2 == k).then_some(x)
                    } else {
                        None
                    }
                })
                .collect();
            if writes.last() != Some(&v) {
                let s = format!(
                    "{} read {} from key {key}, an intermediate value of {}, which later wrote {}",
                    found.label(t, i),
                    t.atoms.name(v),
                    found.label(t, *w),
                    t.atoms.name(*writes.last().expect("a write"))
                );
                let ex = json!({"op": found.op(t, i), "writer": found.op(t, *w), "key": found.atom(t, k), "value": found.atom(t, v)});
                found.add("G1b", ex, s);
            }
        }
        _ => {}
    }
}

/// internal: a read that disagrees with the transaction's own earlier read or write
/// of the key.
fn internal(t: &Txns, found: &mut Findings, i: u32) {
    let mut state: HashMap<Atom, Option<Atom>> = HashMap::new();
    for mop in &t.txns[i as usize].mops {
        match *mop {
            Mop::Write(k, v) => {
                state.insert(k, Some(v));
            }
            Mop::ReadReg(k, v) => {
                if let Some(&expected) = state.get(&k) {
                    if expected != v {
                        let show =
                            |x: Option<Atom>| x.map_or("nil".to_string(), |a| t.atoms.name(a));
                        let s = format!(
                            "{} read {} from key {}, but its own earlier operations on that key imply {}",
                            found.label(t, i),
                            show(v),
                            t.atoms.name(k),
                            show(expected)
                        );
                        let ex = json!({"op": found.op(t, i), "key": found.atom(t, k), "expected": show(expected)});
                        found.add("internal", ex, s);
                        return;
                    }
                }
                state.insert(k, v);
            }
            Mop::ReadList(..) => {}
        }
    }
}

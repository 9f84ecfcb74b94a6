//! Anomalies both workloads detect the same way, without the graph.

use serde_json::json;

use super::graph::NO_ATOM;
use super::history::{repeats_a_key, Atom, FastMap, Mop, Status, Txns};
use super::Findings;

/// A key and the state of it a transaction read.
type KeyState = (Atom, Vec<Atom>);

/// lost-update (Elle's `lost-update-cases`): two or more committed transactions read
/// the same state of a key before writing (appending to) it, so whichever committed
/// later overwrote an update it never saw. Assumes written values are unique, as the
/// generators make them.
pub fn lost_update(t: &Txns, found: &mut Findings) {
    // (key, state read) → transactions that read it and then wrote the key
    let mut groups: FastMap<KeyState, Vec<u32>> = FastMap::default();
    for (i, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok || !repeats_a_key(&x.mops) {
            continue;
        }
        let mut read: FastMap<Atom, Vec<Atom>> = FastMap::default();
        let mut wrote: Vec<Atom> = Vec::new();
        for mop in &x.mops {
            match mop {
                Mop::ReadList(k, list) => {
                    read.entry(*k)
                        .or_insert_with(|| list.clone().unwrap_or_default());
                }
                Mop::ReadReg(k, v) => {
                    read.entry(*k).or_insert_with(|| vec![v.unwrap_or(NO_ATOM)]);
                }
                Mop::Write(k, _) => {
                    if wrote.contains(k) {
                        continue;
                    }
                    wrote.push(*k);
                    if let Some(state) = read.get(k) {
                        groups
                            .entry((*k, state.clone()))
                            .or_default()
                            .push(i as u32);
                    }
                }
            }
        }
    }
    let mut cases: Vec<(KeyState, Vec<u32>)> =
        groups.into_iter().filter(|(_, v)| v.len() > 1).collect();
    cases.sort_unstable_by_key(|(_, txns)| txns[0]);
    for ((k, state), txns) in cases {
        let shown = if state == [NO_ATOM] {
            "nil".to_string()
        } else {
            t.atoms.list(&state)
        };
        let names: Vec<String> = txns.iter().map(|&x| found.describe(t, x)).collect();
        let sentence = format!(
            "{} committed transactions read key {} as {shown} and then each wrote it, so all but one of their updates were lost: {}",
            txns.len(),
            t.atoms.name(k),
            names.join("; ")
        );
        let value = if state == [NO_ATOM] {
            serde_json::Value::Null
        } else {
            found.atoms(t, &state)
        };
        let ops: Vec<_> = txns.iter().map(|&x| found.op(t, x)).collect();
        let ex = json!({"key": found.atom(t, k), "value": value, "txns": ops});
        found.add("lost-update", ex, sentence);
    }
}

/// future-read (Elle's list-append `op-future-read-case`): a committed transaction
/// read, in a key, an element it only appends later in the same transaction.
pub fn future_read(t: &Txns, found: &mut Findings) {
    for (i, x) in t.txns.iter().enumerate() {
        if x.status != Status::Ok || !repeats_a_key(&x.mops) {
            continue;
        }
        for (at, mop) in x.mops.iter().enumerate() {
            let Mop::Write(k, v) = *mop else { continue };
            let earlier = x.mops[..at].iter().find(|m| match m {
                Mop::ReadList(k2, Some(list)) => *k2 == k && list.contains(&v),
                _ => false,
            });
            let Some(Mop::ReadList(_, Some(list))) = earlier else {
                continue;
            };
            let i = i as u32;
            let sentence = format!(
                "{} read {} of key {}, which includes {}, an element it only appends later in the same transaction",
                found.label(t, i),
                t.atoms.list(list),
                t.atoms.name(k),
                t.atoms.name(v)
            );
            let ex = json!({"op": found.op(t, i), "mop": ["r", found.atom(t, k), found.atoms(t, list)], "element": found.atom(t, v)});
            found.add_txns("future-read", ex, sentence, t, &[i]);
            break;
        }
    }
}

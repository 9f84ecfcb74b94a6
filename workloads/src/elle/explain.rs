//! Explanations: every anomaly carries its transactions (process, times, micro-ops
//! abridged) and, for a cycle, one sentence per edge saying why it exists.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cycles::Cycle;
use super::graph::{kind, Edge, NO_ATOM};
use super::history::{Atom, Mop, Txns};
use super::TxnKind;

/// Edges of a cycle explained (the rest are counted).
pub const CYCLE_SHOWN: usize = 32;

/// Examples kept per anomaly type.
pub const EXAMPLES: usize = 8;

/// The anomalies found so far: per type a count and a few examples with their
/// explanations. Transactions are quoted from their decoded form, so a check needs
/// no copy of the history once it is decoded.
pub struct Findings {
    kind: TxnKind,
    /// Anomaly type → (how many, examples as JSON, sentences).
    pub found: BTreeMap<String, (usize, Vec<Value>, Vec<String>)>,
}

impl Findings {
    /// An empty collection for a `kind` history.
    pub fn new(kind: TxnKind) -> Findings {
        Findings {
            kind,
            found: BTreeMap::new(),
        }
    }

    /// Record one instance of `anomaly`.
    pub fn add(&mut self, anomaly: &str, example: Value, sentence: String) {
        let entry = self.found.entry(anomaly.to_string()).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(example);
            entry.2.push(sentence);
        }
    }

    /// Record one instance of `anomaly` whose sentence is followed by the
    /// transactions involved (process, times, micro-ops), for people to follow.
    pub fn add_txns(
        &mut self,
        anomaly: &str,
        example: Value,
        sentence: String,
        t: &Txns,
        txns: &[u32],
    ) {
        let kept = self.found.get(anomaly).is_none_or(|e| e.1.len() < EXAMPLES);
        let sentence = if kept {
            let described: Vec<String> = txns.iter().map(|&x| self.describe(t, x)).collect();
            format!("{sentence}. Transactions: {}", described.join("; "))
        } else {
            sentence
        };
        self.add(anomaly, example, sentence);
    }

    /// A transaction's name: `T` and its completion's history index.
    pub fn label(&self, t: &Txns, txn: u32) -> String {
        format!("T{}", t.txns[txn as usize].index)
    }

    /// A transaction for people: name, process, times and micro-ops (abridged).
    pub fn describe(&self, t: &Txns, txn: u32) -> String {
        let x = &t.txns[txn as usize];
        let done = if x.completed == u64::MAX {
            "?".to_string()
        } else {
            format!("{:.3}", x.completed as f64 / 1e9)
        };
        format!(
            "{} ({}, process {}, {:.3}–{done} s: {})",
            self.label(t, txn),
            x.recorded.name(),
            x.process,
            x.invoked as f64 / 1e9,
            crate::quote::abridge_json(&self.mops_value(t, txn))
        )
    }

    /// The micro-ops of a transaction as decoded from the op it quotes (the
    /// completion's for `ok`, the invocation's otherwise): `[["append", 1, 2], …]`.
    pub fn mops_value(&self, t: &Txns, txn: u32) -> Value {
        let write = match self.kind {
            TxnKind::ListAppend => "append",
            TxnKind::RwRegister => "w",
        };
        let mops = t.txns[txn as usize].mops.iter().map(|mop| match mop {
            Mop::Write(k, v) => json!([write, self.atom(t, *k), self.atom(t, *v)]),
            Mop::ReadList(k, list) => json!([
                "r",
                self.atom(t, *k),
                list.as_ref().map_or(Value::Null, |l| self.atoms(t, l))
            ]),
            Mop::ReadReg(k, v) => json!([
                "r",
                self.atom(t, *k),
                v.map_or(Value::Null, |v| self.atom(t, v))
            ]),
        });
        Value::Array(mops.collect())
    }

    /// The op behind a transaction, as Jepsen quotes it: index, time, type,
    /// process, `f` and the micro-ops, long strings abridged.
    pub fn op(&self, t: &Txns, txn: u32) -> Value {
        let x = &t.txns[txn as usize];
        crate::quote::abridge_strings(&json!({
            "index": x.index,
            "time": x.time,
            "type": x.recorded.name(),
            "process": x.process,
            "f": "txn",
            "value": self.mops_value(t, txn),
        }))
    }

    /// An atom as JSON.
    pub fn atom(&self, t: &Txns, a: Atom) -> Value {
        serde_json::from_str(&t.atoms.name(a)).unwrap_or(Value::Null)
    }

    /// A list of atoms as JSON.
    pub fn atoms(&self, t: &Txns, list: &[Atom]) -> Value {
        Value::Array(list.iter().map(|&a| self.atom(t, a)).collect())
    }

    /// Why one cycle edge exists, in one sentence.
    pub fn edge_sentence(&self, t: &Txns, txn_kind: TxnKind, e: &Edge, cited: u8) -> String {
        let (a, b) = (self.label(t, e.from), self.label(t, e.to));
        let key = if e.key == NO_ATOM {
            String::new()
        } else {
            t.atoms.name(e.key)
        };
        let val = |x: Atom| {
            if x == NO_ATOM {
                "nothing".to_string()
            } else {
                t.atoms.name(x)
            }
        };
        let (x, y) = (&t.txns[e.from as usize], &t.txns[e.to as usize]);
        match (cited, txn_kind) {
            (kind::WW, TxnKind::ListAppend) => format!(
                "{a} appended {} to key {key} and {b} appended {} after it in the version order, so {a} precedes {b} (ww)",
                val(e.a), val(e.b)
            ),
            (kind::WW, TxnKind::RwRegister) => format!(
                "{a} wrote {} to key {key}, which {b} read before writing {}, so {a} precedes {b} (ww)",
                val(e.a), val(e.b)
            ),
            (kind::WR, TxnKind::ListAppend) => format!(
                "{b} read key {key} up to {}, which {a} appended, so {a} precedes {b} (wr)",
                val(e.a)
            ),
            (kind::WR, TxnKind::RwRegister) => format!("{b} read {} from key {key}, which {a} wrote, so {a} precedes {b} (wr)", val(e.a)),
            (kind::RW, TxnKind::ListAppend) if e.a == NO_ATOM => format!(
                "{a} read key {key} as empty, which does not include {b}'s append of {}, so {a} precedes {b} (rw)",
                val(e.b)
            ),
            (kind::RW, TxnKind::ListAppend) => format!(
                "{a} read key {key} up to {}, which does not include {b}'s append of {}, later in the version order, so {a} precedes {b} (rw)",
                val(e.a), val(e.b)
            ),
            (kind::RW, TxnKind::RwRegister) => format!(
                "{a} read {} from key {key}, which {b} overwrote with {}, so {a} precedes {b} (rw)",
                if e.a == NO_ATOM { "nil".to_string() } else { val(e.a) }, val(e.b)
            ),
            (kind::PROCESS, _) => format!("{a} and {b} ran on process {}, {a} first, so {a} precedes {b} (process)", x.process),
            _ => format!(
                "{a} completed at {:.3} s, before {b} was invoked at {:.3} s, so {a} precedes {b} (realtime)",
                x.completed as f64 / 1e9, y.invoked as f64 / 1e9
            ),
        }
    }

    /// Record a cycle under its anomaly name.
    pub fn add_cycle(&mut self, t: &Txns, txn_kind: TxnKind, cycle: &Cycle) -> String {
        let name = cycle.anomaly();
        if let Some(entry) = self.found.get_mut(&name).filter(|e| e.1.len() >= EXAMPLES) {
            entry.0 += 1;
            return name;
        }
        // a long cycle is explained by its first edges only
        let shown = &cycle.steps[..cycle.steps.len().min(CYCLE_SHOWN)];
        let mut sentences = Vec::new();
        let mut steps = Vec::new();
        for (e, cited) in shown {
            sentences.push(self.edge_sentence(t, txn_kind, e, *cited));
            steps.push(json!({"type": kind_name(*cited), "from": self.label(t, e.from), "to": self.label(t, e.to)}));
        }
        let txns: Vec<String> = shown
            .iter()
            .map(|(e, _)| self.describe(t, e.from))
            .collect();
        let ops: Vec<Value> = shown.iter().map(|(e, _)| self.op(t, e.from)).collect();
        let names: Vec<String> = shown.iter().map(|(e, _)| self.label(t, e.from)).collect();
        let more = match cycle.steps.len() - shown.len() {
            0 => String::new(),
            n => format!(" (and {n} more edges)"),
        };
        let sentence = format!(
            "a cycle of {} transactions, {}{more}: {}{more}. Transactions: {}",
            cycle.steps.len(),
            names.join(" → "),
            sentences.join("; "),
            txns.join("; ")
        );
        self.add(
            &name,
            json!({"cycle": ops, "steps": steps, "explanation": sentences, "length": cycle.steps.len()}),
            sentence,
        );
        name
    }
}

/// An edge kind's name: ww, wr, rw, process, realtime.
pub fn kind_name(k: u8) -> &'static str {
    match k {
        kind::WW => "ww",
        kind::WR => "wr",
        kind::RW => "rw",
        kind::PROCESS => "process",
        _ => "realtime",
    }
}

//! A fast path for the `txn` lines straum's recorder writes: compact JSON with the
//! fields in the recorder's order (`index`, `time`, `type`, `process`, `f`, `value`,
//! then at most a `node`) and micro-ops of plain small integers. Such a line is
//! scanned once, its completion's micro-ops decoded as they are scanned, instead of
//! serde finding the value's end and then parsing it again. Anything else — other
//! field orders, whitespace, escapes, extra fields, big or negative numbers, other
//! ops — gives `None`, and [`super::stream`]'s serde parse decides the line. What
//! the fast path accepts it reads exactly as the serde parse does (tested against
//! it on generated and mutated lines).

use super::history::{Atom, Head, Mop, INTERNED};
use super::TxnKind;
use crate::OpType;

/// What the fast path makes of a line.
#[derive(Debug)]
pub(super) enum Fast<'a> {
    /// An invocation and its value's text.
    Invoke(Head, &'a str),
    /// An `ok` completion and its micro-ops.
    Ok(Head, Vec<Mop>),
    /// A `fail` or `info` completion (its value is not needed).
    Other(Head),
}

struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    /// Step over `literal` if it comes next.
    fn take(&mut self, literal: &[u8]) -> Option<()> {
        self.text[self.at..].starts_with(literal).then(|| {
            self.at += literal.len();
        })
    }

    /// A JSON unsigned integer that fits a u64: digits, no leading zero.
    fn uint(&mut self) -> Option<u64> {
        let digits = self.text[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || (digits > 1 && self.text[self.at] == b'0') {
            return None;
        }
        let mut n: u64 = 0;
        for &b in &self.text[self.at..self.at + digits] {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        self.at += digits;
        Some(n)
    }

    /// An integer that is its own atom.
    fn atom(&mut self) -> Option<Atom> {
        self.uint()
            .filter(|&n| n < u64::from(INTERNED))
            .map(|n| n as Atom)
    }
}

/// Read one line by the fast path, or `None` to leave it to serde.
pub(super) fn line(text: &str, kind: TxnKind) -> Option<Fast<'_>> {
    let mut c = Cursor {
        text: text.as_bytes(),
        at: 0,
    };
    c.take(b"{\"index\":")?;
    let index = c.uint()?;
    c.take(b",\"time\":")?;
    let time = c.uint()?;
    c.take(b",\"type\":\"")?;
    let op = [
        (&b"invoke\""[..], OpType::Invoke),
        (b"ok\"", OpType::Ok),
        (b"fail\"", OpType::Fail),
        (b"info\"", OpType::Info),
    ]
    .into_iter()
    .find_map(|(name, op)| c.take(name).map(|()| op))?;
    c.take(b",\"process\":")?;
    let process = c.uint()?;
    c.take(b",\"f\":\"txn\",\"value\":")?;
    let start = c.at;
    let mops = micro_ops(&mut c, kind, op == OpType::Ok)?;
    let value = &text[start..c.at];
    rest(&text[c.at..])?;
    let head = Head {
        index,
        time,
        kind: op,
        process,
    };
    Some(match op {
        OpType::Invoke => Fast::Invoke(head, value),
        OpType::Ok => Fast::Ok(head, mops),
        _ => Fast::Other(head),
    })
}

/// The end of the line after the value: `}`, or a plain `node` field and `}`.
fn rest(text: &str) -> Option<()> {
    if text == "}" {
        return Some(());
    }
    let node = text.strip_prefix(",\"node\":\"")?.strip_suffix("\"}")?;
    node.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .then_some(())
}

/// `[["r",k,…],["append",k,v],…]` (list-append) or with `"w"` (rw-register),
/// decoded when `keep`, else only scanned.
fn micro_ops(c: &mut Cursor, kind: TxnKind, keep: bool) -> Option<Vec<Mop>> {
    c.take(b"[")?;
    let mut mops = Vec::new();
    if c.take(b"]").is_some() {
        return Some(mops);
    }
    loop {
        c.take(b"[\"")?;
        let mop = if c.take(b"r\",").is_some() {
            let k = c.atom()?;
            c.take(b",")?;
            match kind {
                TxnKind::ListAppend if c.take(b"null").is_some() => Mop::ReadList(k, None),
                TxnKind::ListAppend => Mop::ReadList(k, Some(list(c)?)),
                TxnKind::RwRegister if c.take(b"null").is_some() => Mop::ReadReg(k, None),
                TxnKind::RwRegister => Mop::ReadReg(k, Some(c.atom()?)),
            }
        } else {
            match kind {
                TxnKind::ListAppend => c.take(b"append\",")?,
                TxnKind::RwRegister => c.take(b"w\",")?,
            }
            let k = c.atom()?;
            c.take(b",")?;
            Mop::Write(k, c.atom()?)
        };
        c.take(b"]")?;
        if keep {
            mops.push(mop);
        }
        if c.take(b",").is_none() {
            c.take(b"]")?;
            return Some(mops);
        }
    }
}

/// `[]` or `[a,b,…]` of small integers.
fn list(c: &mut Cursor) -> Option<Vec<Atom>> {
    c.take(b"[")?;
    let mut out = Vec::new();
    if c.take(b"]").is_some() {
        return Some(out);
    }
    loop {
        out.push(c.atom()?);
        if c.take(b",").is_none() {
            c.take(b"]")?;
            return Some(out);
        }
    }
}

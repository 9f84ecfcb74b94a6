//! Pairing invocations with completions, per process, including when a process
//! invokes again before its last invocation completed. Jepsen forbids that, but
//! Elle's own tests do it (five invocations on process 0, then their five
//! completions), and Elle checks such a history from its completions alone. So
//! do we, without inventing an order: a completion is paired with the open
//! invocation whose micro-ops it matches (else the oldest); every transaction
//! completed while several were open takes as its invocation time the start of
//! the process's busy stretch (its interval can only widen, so no real-time edge
//! is invented); and a failure that matches none is taken as indeterminate, since
//! which writes failed is not known.

use super::history::{FastMap, Head, Mop};
use crate::OpType;

/// A process's open invocations and since when it has had any.
struct Busy<T> {
    since: u64,
    open: Vec<(Head, T)>,
}

/// Invocations not yet completed, by process; `T` is whatever the caller keeps of
/// an invocation (its position in a history, or its micro-ops as text).
pub(super) struct Pending<T> {
    by_process: FastMap<u64, Busy<T>>,
    /// Invocations that came while their process already had one open.
    pub overlapping: usize,
}

impl<T> Default for Pending<T> {
    fn default() -> Pending<T> {
        Pending {
            by_process: FastMap::default(),
            overlapping: 0,
        }
    }
}

impl<T> Pending<T> {
    /// Record an invocation.
    pub(super) fn invoke(&mut self, head: Head, kept: T) {
        let busy = self.by_process.entry(head.process).or_insert(Busy {
            since: head.time,
            open: Vec::new(),
        });
        if busy.open.is_empty() {
            busy.since = head.time;
        } else {
            self.overlapping += 1;
        }
        busy.open.push((head, kept));
    }

    /// The invocation `completion` completes, if its process has one open. With
    /// several open, `matches` says which the completion's micro-ops fit; the first
    /// fitting one is taken, else the oldest (and a `fail` completion is then
    /// turned into `info`). The invocation's time returned is the start of the
    /// process's busy stretch.
    pub(super) fn complete(
        &mut self,
        completion: &mut Head,
        mut matches: impl FnMut(&T) -> bool,
    ) -> Option<(Head, T)> {
        let busy = self.by_process.get_mut(&completion.process)?;
        let at = if busy.open.len() > 1 {
            let found = busy.open.iter().position(|(_, kept)| matches(kept));
            if found.is_none() && completion.kind == OpType::Fail {
                completion.kind = OpType::Info;
            }
            found.unwrap_or(0)
        } else {
            0
        };
        let (mut head, kept) = busy.open.remove(at);
        head.time = busy.since;
        if busy.open.is_empty() {
            self.by_process.remove(&completion.process);
        }
        Some((head, kept))
    }

    /// Whether `process` has more than one invocation open (only then is a
    /// completion's match worth computing).
    pub(super) fn ambiguous(&self, process: u64) -> bool {
        self.by_process
            .get(&process)
            .is_some_and(|b| b.open.len() > 1)
    }

    /// The invocations never completed, in history order.
    pub(super) fn rest(self) -> Vec<(Head, T)> {
        let mut rest: Vec<(Head, T)> = self.by_process.into_values().flat_map(|b| b.open).collect();
        rest.sort_unstable_by_key(|(head, _)| head.index);
        rest
    }
}

/// True when two transactions' micro-ops agree but for what was read: same
/// functions on the same keys in the same order, same values written.
pub(super) fn same_writes(a: &[Mop], b: &[Mop]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Mop::Write(k, v), Mop::Write(k2, v2)) => k == k2 && v == v2,
            (Mop::ReadList(k, _), Mop::ReadList(k2, _)) => k == k2,
            (Mop::ReadReg(k, _), Mop::ReadReg(k2, _)) => k == k2,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(index: u64, time: u64, kind: OpType) -> Head {
        Head {
            index,
            time,
            kind,
            process: 0,
        }
    }

    #[test]
    fn one_open_invocation_pairs_as_before() {
        let mut p: Pending<&str> = Pending::default();
        p.invoke(head(0, 10, OpType::Invoke), "a");
        let mut c = head(1, 20, OpType::Fail);
        let (h, kept) = p.complete(&mut c, |_| false).unwrap();
        assert_eq!((h.index, h.time, kept), (0, 10, "a"));
        assert_eq!(c.kind, OpType::Fail);
        assert_eq!(p.overlapping, 0);
        assert!(p.complete(&mut head(2, 30, OpType::Ok), |_| true).is_none());
    }

    #[test]
    fn overlapping_invocations_pair_by_match_with_widened_times() {
        let mut p: Pending<&str> = Pending::default();
        p.invoke(head(0, 10, OpType::Invoke), "a");
        p.invoke(head(1, 20, OpType::Invoke), "b");
        p.invoke(head(2, 30, OpType::Invoke), "c");
        assert_eq!(p.overlapping, 2);
        assert!(p.ambiguous(0));
        let (h, kept) = p
            .complete(&mut head(3, 40, OpType::Ok), |k| *k == "b")
            .unwrap();
        assert_eq!((h.index, h.time, kept), (1, 10, "b"));
        // a failure that fits none is indeterminate, and takes the oldest
        let mut failed = head(4, 50, OpType::Fail);
        let (h, kept) = p.complete(&mut failed, |_| false).unwrap();
        assert_eq!((h.index, h.time, kept), (0, 10, "a"));
        assert_eq!(failed.kind, OpType::Info);
        // the last one left is unambiguous, but still inside the busy stretch
        let (h, _) = p.complete(&mut head(5, 60, OpType::Ok), |_| false).unwrap();
        assert_eq!((h.index, h.time), (2, 10));
        // a new stretch starts afresh
        p.invoke(head(6, 70, OpType::Invoke), "d");
        p.invoke(head(7, 80, OpType::Invoke), "e");
        let rest = p.rest();
        let kept: Vec<(u64, &str)> = rest.iter().map(|(h, k)| (h.index, *k)).collect();
        assert_eq!(kept, [(6, "d"), (7, "e")]);
    }

    #[test]
    fn writes_must_agree_reads_need_not() {
        let a = [Mop::Write(1, 2), Mop::ReadList(1, None)];
        let b = [Mop::Write(1, 2), Mop::ReadList(1, Some(vec![2]))];
        assert!(same_writes(&a, &b));
        assert!(!same_writes(
            &a,
            &[Mop::Write(1, 3), Mop::ReadList(1, None)]
        ));
        assert!(!same_writes(&a, &a[..1]));
    }
}

//! The transaction dependency graph: compact `u32` transaction ids, edges that
//! remember why they exist, a CSR adjacency with one kind bitmask per edge, the
//! process and real-time orders, and an iterative Tarjan SCC.

use super::history::{Atom, Status, Txn};
use super::Deadline;

/// Edge kinds, as bits.
pub mod kind {
    /// Write-write: the source's write precedes the target's in the version order.
    pub const WW: u8 = 1;
    /// Write-read: the target read the source's write.
    pub const WR: u8 = 2;
    /// Read-write (anti-dependency): the target overwrote what the source read.
    pub const RW: u8 = 4;
    /// Both ran on one process, the source first.
    pub const PROCESS: u8 = 8;
    /// The source completed before the target was invoked.
    pub const REALTIME: u8 = 16;
    /// The data dependencies.
    pub const DATA: u8 = WW | WR | RW;
}

/// "No value" in an edge's reason (e.g. a read of the empty list).
pub const NO_ATOM: Atom = Atom::MAX;

/// One dependency and why it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Earlier transaction.
    pub from: u32,
    /// Later transaction.
    pub to: u32,
    /// One kind bit.
    pub kind: u8,
    /// The key involved (data edges).
    pub key: Atom,
    /// ww: the source's value; wr: the value read; rw: the last value the source
    /// read ([`NO_ATOM`] for none).
    pub a: Atom,
    /// ww, rw: the target's value written.
    pub b: Atom,
}

/// A directed graph in compressed sparse rows.
pub struct Graph {
    /// Edge range of each vertex in `targets`.
    offsets: Vec<u32>,
    /// Target of each edge.
    targets: Vec<u32>,
    /// Kind of each edge, beside `targets` (what the SCC search filters on).
    kinds: Vec<u8>,
    /// Index of each CSR edge in the edge list (see [`Graph::edge`]).
    reasons: Vec<u32>,
    /// The edges, in insertion order: the first list, then the second (kept apart
    /// so two large lists are never copied into one).
    edges: Vec<Edge>,
    more: Vec<Edge>,
}

impl Graph {
    /// The graph over `n` vertices with these edges (self-edges dropped).
    pub fn new(n: usize, edges: Vec<Edge>) -> Graph {
        Graph::from_lists(n, edges, Vec::new())
    }

    /// The graph over `n` vertices with the edges of both lists, `first` then
    /// `second` in [`Graph::edge`]'s numbering (self-edges dropped).
    pub fn from_lists(n: usize, mut first: Vec<Edge>, mut second: Vec<Edge>) -> Graph {
        first.retain(|e| e.from != e.to);
        second.retain(|e| e.from != e.to);
        let all = || first.iter().chain(second.iter());
        let mut offsets = vec![0u32; n + 1];
        for e in all() {
            offsets[e.from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let count = first.len() + second.len();
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; count];
        let mut kinds = vec![0u8; count];
        let mut reasons = vec![0u32; count];
        for (i, e) in all().enumerate() {
            let slot = &mut fill[e.from as usize];
            targets[*slot as usize] = e.to;
            kinds[*slot as usize] = e.kind;
            reasons[*slot as usize] = i as u32;
            *slot += 1;
        }
        Graph {
            offsets,
            targets,
            kinds,
            reasons,
            edges: first,
            more: second,
        }
    }

    /// Edge number `i` (an index from [`Graph::out`] or [`Graph::slot`]).
    pub fn edge(&self, i: u32) -> Edge {
        let i = i as usize;
        match self.edges.get(i) {
            Some(e) => *e,
            None => self.more[i - self.edges.len()],
        }
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len() + self.more.len()
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when there are no edges at all.
    pub fn is_empty(&self) -> bool {
        self.edge_count() == 0
    }

    /// The CSR slots of `v`'s out-edges, for searches that resume where they were.
    pub fn slots(&self, v: u32) -> std::ops::Range<u32> {
        self.offsets[v as usize]..self.offsets[v as usize + 1]
    }

    /// The out-edge in CSR slot `i`: (target, edge number for [`Graph::edge`]).
    pub fn slot(&self, i: u32) -> (u32, u32) {
        (self.targets[i as usize], self.reasons[i as usize])
    }

    /// Out-edges of `v`: (target, edge number for [`Graph::edge`]).
    pub fn out(&self, v: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (s, e) = (
            self.offsets[v as usize] as usize,
            self.offsets[v as usize + 1] as usize,
        );
        (s..e).map(move |i| (self.targets[i], self.reasons[i]))
    }
}

/// Process edges: each committed transaction precedes the next transaction of the
/// same process, if it completed before that one was invoked (transactions a
/// process ran at once, against Jepsen's rule, are not ordered).
pub fn process_edges(txns: &[Txn], out: &mut Vec<Edge>) {
    let mut order: Vec<u32> = (0..txns.len() as u32)
        .filter(|&i| txns[i as usize].status != Status::Fail)
        .collect();
    order.sort_by_key(|&i| (txns[i as usize].process, txns[i as usize].invoked));
    for pair in order.windows(2) {
        let (a, b) = (&txns[pair[0] as usize], &txns[pair[1] as usize]);
        if a.process == b.process && a.status == Status::Ok && a.completed <= b.invoked {
            out.push(Edge {
                from: pair[0],
                to: pair[1],
                kind: kind::PROCESS,
                key: NO_ATOM,
                a: NO_ATOM,
                b: NO_ATOM,
            });
        }
    }
}

/// Real-time edges by one sweep over invocations and completions: each transaction
/// gets an edge from every member of the frontier (committed transactions no later
/// committed transaction is known to follow) at its invocation — enough for
/// reachability to equal the real-time order, without all pairs.
pub fn realtime_edges(txns: &[Txn], out: &mut Vec<Edge>, deadline: &mut Deadline) -> bool {
    // (time, 0 = completion first at equal times? no: invoke first, so equal
    // times are concurrent, the conservative choice)
    let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(txns.len() * 2);
    for (i, t) in txns.iter().enumerate() {
        if t.status == Status::Fail {
            continue;
        }
        events.push((t.invoked, 0, i as u32));
        if t.status == Status::Ok && t.completed != u64::MAX {
            events.push((t.completed, 1, i as u32));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<u32> = Vec::new();
    let mut in_frontier = vec![false; txns.len()];
    // the frontier each txn saw at invocation: a range into `seen`, and with it the
    // sources of that txn's edges (made once the sweep is done, in one allocation)
    let mut seen: Vec<u32> = Vec::new();
    let mut seen_at: Vec<(u32, u32)> = vec![(0, 0); txns.len()];
    for (n, &(_, what, i)) in events.iter().enumerate() {
        if deadline.over(n) {
            return false;
        }
        if what == 0 {
            let start = seen.len() as u32;
            seen.extend_from_slice(&frontier);
            seen_at[i as usize] = (start, seen.len() as u32);
        } else {
            let (s, e) = seen_at[i as usize];
            for &p in &seen[s as usize..e as usize] {
                in_frontier[p as usize] = false;
            }
            frontier.retain(|&f| in_frontier[f as usize]);
            frontier.push(i);
            in_frontier[i as usize] = true;
        }
    }
    out.reserve_exact(seen.len());
    for &(_, what, i) in &events {
        if what == 0 {
            let (s, e) = seen_at[i as usize];
            out.extend(seen[s as usize..e as usize].iter().map(|&f| Edge {
                from: f,
                to: i,
                kind: kind::REALTIME,
                key: NO_ATOM,
                a: NO_ATOM,
                b: NO_ATOM,
            }));
        }
    }
    true
}

/// Strongly connected components with more than one vertex, using only edges whose
/// kind is in `mask` (iterative Tarjan). `None` when the deadline passed.
pub fn sccs(graph: &Graph, mask: u8, deadline: &mut Deadline) -> Option<Vec<Vec<u32>>> {
    let n = graph.len();
    const UNSEEN: u32 = u32::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut calls: Vec<(u32, u32)> = Vec::new(); // (vertex, next CSR position)
    let mut next = 0u32;
    let mut out = Vec::new();
    let mut steps = 0usize;
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN {
            continue;
        }
        calls.push((root, graph.offsets[root as usize]));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            steps += 1;
            if deadline.over(steps) {
                return None;
            }
            let end = graph.offsets[v as usize + 1];
            let mut descended = false;
            while *pos < end {
                let i = *pos as usize;
                *pos += 1;
                if graph.kinds[i] & mask == 0 {
                    continue;
                }
                let w = graph.targets[i];
                if index[w as usize] == UNSEEN {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    calls.push((w, graph.offsets[w as usize]));
                    descended = true;
                    break;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            }
            if descended {
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("tarjan stack");
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    out.push(component);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(from: u32, to: u32, kind: u8) -> Edge {
        Edge {
            from,
            to,
            kind,
            key: 0,
            a: 0,
            b: 0,
        }
    }

    #[test]
    fn tarjan_finds_cycles_and_respects_the_mask() {
        let g = Graph::new(
            5,
            vec![
                e(0, 1, kind::WW),
                e(1, 2, kind::WR),
                e(2, 0, kind::RW),
                e(3, 4, kind::WW),
                e(4, 4, kind::WW),
            ],
        );
        let mut d = Deadline::none();
        assert_eq!(sccs(&g, kind::DATA, &mut d).unwrap(), vec![vec![0, 1, 2]]);
        assert!(sccs(&g, kind::WW | kind::WR, &mut d).unwrap().is_empty());
    }
}

//! Complete searches for the cycles snapshot isolation forbids and repeatable read
//! allows: `G-single` (exactly one rw edge) and `G-nonadjacent` (several rw edges,
//! no two in a row). The bounded searches of [`super::cycles`] try a few starting
//! edges per component and can miss such a cycle among many G2-items (Elle's
//! `unfindable-g-single` history is built to make them); these cannot.
//!
//! G-nonadjacent, and G-single with it, is found in linear time by
//! [`super::nonadjacent`]. This module holds the search for G-single alone (for
//! models that forbid it but allow G-nonadjacent) and the walk-closing both use:
//! for every rw edge a→b in a component, does b lead back to a over the path kinds
//! (ww, wr, and the process / real-time kinds of the variant searched)? Edges are
//! grouped by target, so one breadth-first search from each target b answers for
//! every rw edge into b, and it stops at the first source it reaches. Path edges
//! never lead backwards in a topological order of the path kinds (one as close to
//! completion order as can be), so only an rw edge that points backwards in it can
//! close a cycle, and the search from b never needs to look past the latest source
//! it could reach: in a mostly serial history both bounds leave little to search.
//! Still quadratic at worst, so every step looks at the deadline, and running out
//! of it is reported, never taken for "no cycle". The visited marks are
//! generation-stamped and reused, so a search allocates nothing; the buffers are
//! made once per check, on first use.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::cycles::{cite, Cycle};
use super::graph::{kind, Edge, Graph};
use super::history::FastMap;
use super::Deadline;

/// What a complete search ended with.
#[derive(Debug)]
pub enum Outcome {
    /// A cycle of the kind searched for.
    Found(Cycle),
    /// There is none in the component.
    Absent,
    /// The deadline passed first.
    OutOfTime,
}

/// Reusable buffers: per vertex and layer (layer 1: reached by an rw edge), the
/// stamp of the search that reached it and how; per vertex, the stamp of the search
/// for which it is the source of an rw edge into the current target.
#[derive(Default)]
pub struct Scratch {
    pub(super) stamp: u32,
    seen: [Vec<u32>; 2],
    /// (previous vertex, its layer, edge index) for each vertex reached.
    parent: [Vec<(u32, u8, u32)>; 2],
    pub(super) source: Vec<u32>,
    /// The rw edge from a source into the current target.
    pub(super) source_edge: Vec<u32>,
    queue: VecDeque<(u32, u8)>,
    rw: Vec<(u32, u32, u32)>,
    /// Each vertex's place in a topological order of the path kinds in the
    /// component searched, when they are acyclic there.
    rank: Vec<u32>,
    indegree: Vec<u32>,
    heap: BinaryHeap<Reverse<u32>>,
    /// The product graph's strongly connected component of each state 2v+layer
    /// (ids never reused), and the one a search is confined to (0: none).
    pub(super) state_comp: Vec<u32>,
    pub(super) within: u32,
    /// The product graph's Tarjan buffers.
    pub(super) tarjan: super::nonadjacent::Tarjan,
}

impl Scratch {
    pub(super) fn ready(&mut self, n: usize) {
        if self.source.len() < n {
            for layer in 0..2 {
                self.seen[layer] = vec![0; n];
                self.parent[layer] = vec![(0, 0, 0); n];
            }
            self.source = vec![0; n];
            self.source_edge = vec![0; n];
            self.rank = vec![0; n];
            self.indegree = vec![0; n];
            self.state_comp = vec![0; 2 * n];
            self.stamp = 0;
        }
    }
}

/// Search the component whose vertices have `member[v] == comp` for a cycle of one
/// rw edge and otherwise `path` kinds (`nonadjacent == false`), or of rw edges none
/// of which follows another (`nonadjacent == true`: see [`super::nonadjacent`],
/// which finds either kind in linear time, so this per-target search runs only for
/// models that forbid G-single but allow G-nonadjacent).
#[allow(clippy::too_many_arguments)]
pub fn search(
    graph: &Graph,
    member: &[u32],
    comp: u32,
    vertices: &[u32],
    path: u8,
    nonadjacent: bool,
    scratch: &mut Scratch,
    deadline: &mut Deadline,
    steps: &mut usize,
) -> Outcome {
    if nonadjacent {
        return super::nonadjacent::search(
            graph, member, comp, vertices, path, scratch, deadline, steps,
        );
    }
    scratch.ready(graph.len());
    scratch.within = 0;
    let ranked = match rank(
        graph, member, comp, vertices, path, scratch, deadline, steps,
    ) {
        Some(ranked) => ranked,
        None => return Outcome::OutOfTime,
    };
    let mut rw = std::mem::take(&mut scratch.rw);
    rw.clear();
    for &v in vertices {
        for (w, idx) in graph.out(v) {
            // an edge that is also ww or wr is cited as such, not as rw
            let k = graph.edge(idx).kind;
            if member[w as usize] != comp || k & kind::RW == 0 || k & path != 0 {
                continue;
            }
            // a forward rw edge can only close a cycle that also has a backward one
            if ranked && scratch.rank[w as usize] > scratch.rank[v as usize] {
                continue;
            }
            rw.push((w, v, idx));
        }
    }
    rw.sort_unstable();
    let mut outcome = Outcome::Absent;
    let mut at = 0;
    while at < rw.len() {
        let target = rw[at].0;
        let end = at + rw[at..].partition_point(|e| e.0 == target);
        scratch.stamp += 1;
        let stamp = scratch.stamp;
        let mut horizon = 0;
        for &(_, from, idx) in &rw[at..end] {
            scratch.source[from as usize] = stamp;
            scratch.source_edge[from as usize] = idx;
            horizon = horizon.max(scratch.rank[from as usize]);
        }
        // past the latest source, path edges lead only further away
        let horizon = if ranked { horizon } else { u32::MAX };
        at = end;
        match from_target(
            graph,
            member,
            comp,
            target,
            path,
            false,
            (stamp, horizon),
            scratch,
            deadline,
            steps,
        ) {
            Some(Ok(cycle)) => {
                outcome = Outcome::Found(cycle);
                break;
            }
            Some(Err(())) => {
                outcome = Outcome::OutOfTime;
                break;
            }
            None => {}
        }
    }
    scratch.rw = rw;
    outcome
}

/// One breadth-first search from `target` (entered by an rw edge, so layer 1) for
/// a source stamped `stamp` reached by a path edge (layer 0), not looking at
/// vertices ranked past `horizon`. `None`: no such source; `Some(Err(()))`: out of
/// time.
#[allow(clippy::too_many_arguments)]
pub(super) fn from_target(
    graph: &Graph,
    member: &[u32],
    comp: u32,
    target: u32,
    path: u8,
    nonadjacent: bool,
    (stamp, horizon): (u32, u32),
    s: &mut Scratch,
    deadline: &mut Deadline,
    steps: &mut usize,
) -> Option<Result<Cycle, ()>> {
    s.queue.clear();
    s.seen[1][target as usize] = stamp;
    s.queue.push_back((target, 1));
    while let Some((v, layer)) = s.queue.pop_front() {
        *steps += 1;
        if deadline.over(*steps) {
            return Some(Err(()));
        }
        for (w, idx) in graph.out(v) {
            if member[w as usize] != comp {
                continue;
            }
            let k = graph.edge(idx).kind;
            // a path edge leads to layer 0; an rw edge, only from layer 0, to layer 1
            let next = if k & path != 0 {
                0
            } else if nonadjacent && layer == 0 && k & kind::RW != 0 {
                1
            } else {
                continue;
            };
            if s.seen[next][w as usize] == stamp || s.rank[w as usize] > horizon {
                continue;
            }
            if s.within != 0 && s.state_comp[2 * w as usize + next] != s.within {
                continue;
            }
            s.seen[next][w as usize] = stamp;
            s.parent[next][w as usize] = (v, layer, idx);
            if next == 0 && s.source[w as usize] == stamp {
                return Some(Ok(close(graph, target, w, path, s)));
            }
            s.queue.push_back((w, next as u8));
        }
    }
    None
}

/// Rank the component's vertices in a topological order of the `path` edges
/// inside it, preferring completion order (the vertex ids) where it is free to
/// choose; `Some(false)` when those edges have a cycle there (then nothing is
/// pruned), `None` when out of time.
#[allow(clippy::too_many_arguments)]
fn rank(
    graph: &Graph,
    member: &[u32],
    comp: u32,
    vertices: &[u32],
    path: u8,
    s: &mut Scratch,
    deadline: &mut Deadline,
    steps: &mut usize,
) -> Option<bool> {
    let inside = |w: u32, idx: u32| member[w as usize] == comp && graph.edge(idx).kind & path != 0;
    // most histories are close to serial: completion order itself often is one
    let mut in_order = true;
    for &v in vertices {
        s.indegree[v as usize] = 0;
    }
    for &v in vertices {
        for (w, idx) in graph.out(v) {
            if inside(w, idx) {
                s.indegree[w as usize] += 1;
                in_order &= v < w;
            }
        }
    }
    if in_order {
        for &v in vertices {
            s.rank[v as usize] = v;
        }
        return Some(true);
    }
    // Kahn's algorithm, smallest id first
    s.heap.clear();
    for &v in vertices {
        if s.indegree[v as usize] == 0 {
            s.heap.push(Reverse(v));
        }
    }
    let mut next = 0u32;
    while let Some(Reverse(v)) = s.heap.pop() {
        *steps += 1;
        if deadline.over(*steps) {
            return None;
        }
        s.rank[v as usize] = next;
        next += 1;
        for (w, idx) in graph.out(v) {
            if inside(w, idx) {
                s.indegree[w as usize] -= 1;
                if s.indegree[w as usize] == 0 {
                    s.heap.push(Reverse(w));
                }
            }
        }
    }
    if (next as usize) < vertices.len() {
        // a cycle of path edges (a G0 or G1c): no order to prune by
        for &v in vertices {
            s.rank[v as usize] = 0;
        }
        return Some(false);
    }
    Some(true)
}

/// The cycle: the rw edge `source`→`target`, then the search's path back from
/// `target` to `source`, made simple.
pub(super) fn close(graph: &Graph, target: u32, source: u32, path: u8, s: &Scratch) -> Cycle {
    let mut back: Vec<(Edge, u8)> = Vec::new();
    let (mut v, mut layer) = (source, 0u8);
    while !(v == target && layer == 1) {
        let (prev, prev_layer, idx) = s.parent[layer as usize][v as usize];
        let e = graph.edge(idx);
        let cited = if layer == 0 {
            cite(e.kind, path).expect("a path kind")
        } else {
            kind::RW
        };
        back.push((e, cited));
        v = prev;
        layer = prev_layer;
    }
    back.reverse();
    let first = graph.edge(s.source_edge[source as usize]);
    let mut steps = vec![(first, kind::RW)];
    steps.extend(back);
    simple(steps)
}

/// True when two rw edges follow each other somewhere around the closed walk.
fn rw_adjacent(steps: &[(Edge, u8)]) -> bool {
    let n = steps.len();
    (0..n).any(|i| steps[i].1 == kind::RW && steps[(i + 1) % n].1 == kind::RW)
}

/// A closed walk with no two rw edges in a row that passes a vertex twice splits
/// there into two closed walks; where the walk joined them the edges were not both
/// rw, so at least one of the two has no rw edges in a row either. Keep that one
/// until the walk is a simple cycle.
fn simple(mut steps: Vec<(Edge, u8)>) -> Cycle {
    loop {
        let mut first_at: FastMap<u32, usize> = FastMap::default();
        let repeat = steps
            .iter()
            .enumerate()
            .find_map(|(j, (e, _))| first_at.insert(e.from, j).map(|i| (i, j)));
        let Some((i, j)) = repeat else {
            return Cycle { steps };
        };
        let inner: Vec<(Edge, u8)> = steps[i..j].to_vec();
        if !rw_adjacent(&inner) {
            steps = inner;
        } else {
            let mut outer: Vec<(Edge, u8)> = steps[j..].to_vec();
            outer.extend_from_slice(&steps[..i]);
            steps = outer;
        }
    }
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

    fn run(edges: Vec<Edge>, n: usize, nonadjacent: bool) -> Outcome {
        let g = Graph::new(n, edges);
        let member = vec![1u32; n];
        let all: Vec<u32> = (0..n as u32).collect();
        let mut s = Scratch::default();
        search(
            &g,
            &member,
            1,
            &all,
            kind::WW | kind::WR,
            nonadjacent,
            &mut s,
            &mut Deadline::none(),
            &mut 0,
        )
    }

    fn kinds(o: &Outcome) -> Vec<u8> {
        match o {
            Outcome::Found(c) => c.steps.iter().map(|s| s.1).collect(),
            other => panic!("no cycle: {other:?}"),
        }
    }

    #[test]
    fn one_rw_edge_closed_by_ww_and_wr_is_found() {
        let edges = vec![
            e(0, 1, kind::RW),
            e(1, 2, kind::WW),
            e(2, 0, kind::WR),
            // a decoy: rw into 1 from 3, which 1 cannot reach without rw
            e(3, 1, kind::RW),
            e(0, 3, kind::RW),
        ];
        let o = run(edges, 4, false);
        assert_eq!(kinds(&o), [kind::RW, kind::WW, kind::WR]);
        if let Outcome::Found(c) = &o {
            assert_eq!(c.anomaly(), "G-single-item");
        }
    }

    #[test]
    fn rw_cycles_with_adjacent_rw_edges_are_neither() {
        // 0 -rw-> 1 -rw-> 0 and 0 -rw-> 1 -ww-> 2 -rw-> 0: every cycle has rw twice
        // in a row (around the end)
        let edges = vec![
            e(0, 1, kind::RW),
            e(1, 0, kind::RW),
            e(1, 2, kind::WW),
            e(2, 0, kind::RW),
        ];
        assert!(matches!(run(edges.clone(), 3, false), Outcome::Absent));
        assert!(matches!(run(edges, 3, true), Outcome::Absent));
    }

    #[test]
    fn separated_rw_edges_are_g_nonadjacent_and_the_walk_is_made_simple() {
        // 0 -rw-> 1 -wr-> 2 -rw-> 3 -wr-> 0, plus a shortcut 1 -rw-> 0 that only a
        // walk with rw twice in a row could use
        let edges = vec![
            e(0, 1, kind::RW),
            e(1, 2, kind::WR),
            e(2, 3, kind::RW),
            e(3, 0, kind::WR),
            e(1, 0, kind::RW),
        ];
        assert!(matches!(run(edges.clone(), 4, false), Outcome::Absent));
        let o = run(edges, 4, true);
        let Outcome::Found(c) = &o else {
            panic!("{o:?}")
        };
        assert_eq!(c.anomaly(), "G-nonadjacent-item");
        assert_eq!(c.steps.len(), 4);
        for (i, (edge, _)) in c.steps.iter().enumerate() {
            assert_eq!(edge.to, c.steps[(i + 1) % 4].0.from);
        }
    }

    #[test]
    fn a_walk_through_a_vertex_twice_keeps_the_half_without_adjacent_rw() {
        // walk 0 -ww-> 1 -rw-> 2 -wr-> 3 -rw-> 1 -wr-> 0 has no rw twice in a row; at
        // 1 it splits into 1->2->3->1 (rw ... rw, adjacent around the end) and
        // 1->0->1 (wr, ww), which is kept
        let walk = vec![
            (e(0, 1, kind::WW), kind::WW),
            (e(1, 2, kind::RW), kind::RW),
            (e(2, 3, kind::WR), kind::WR),
            (e(3, 1, kind::RW), kind::RW),
            (e(1, 0, kind::WR), kind::WR),
        ];
        assert!(!rw_adjacent(&walk));
        let c = simple(walk);
        let kinds: Vec<u8> = c.steps.iter().map(|s| s.1).collect();
        assert_eq!(kinds, [kind::WR, kind::WW]);
        assert_eq!(c.anomaly(), "G1c");
    }

    #[test]
    fn a_search_out_of_time_says_so() {
        let g = Graph::new(2, vec![e(0, 1, kind::RW), e(1, 0, kind::WR)]);
        let mut late = Deadline::after(Some(std::time::Duration::ZERO));
        late.over(0);
        let mut s = Scratch::default();
        let o = search(
            &g,
            &[1, 1],
            1,
            &[0, 1],
            kind::WW | kind::WR,
            false,
            &mut s,
            &mut late,
            &mut 0,
        );
        assert!(matches!(o, Outcome::OutOfTime), "{o:?}");
        // the product-graph search too
        let o = search(
            &g,
            &[1, 1],
            1,
            &[0, 1],
            kind::WW | kind::WR,
            true,
            &mut s,
            &mut late,
            &mut 0,
        );
        assert!(matches!(o, Outcome::OutOfTime), "{o:?}");
    }

    #[test]
    fn forward_rw_edges_are_skipped_but_cycles_of_path_edges_disable_the_pruning() {
        // ids out of topological order (3 -ww-> 0): ranks come from Kahn's order,
        // and the one backward rw edge 2 -rw-> 3 closes 3 -> 0 -> 1 -> 2
        let edges = vec![
            e(3, 0, kind::WW),
            e(0, 1, kind::WR),
            e(1, 2, kind::WW),
            e(2, 3, kind::RW),
            e(0, 2, kind::RW), // forward: never a candidate
        ];
        let o = run(edges, 4, false);
        assert_eq!(kinds(&o), [kind::RW, kind::WW, kind::WR, kind::WW]);
        // with a ww cycle 0 <-> 1 there is no order; the G-single 1 -rw-> 2 -wr-> 1
        // is found all the same
        let edges = vec![
            e(0, 1, kind::WW),
            e(1, 0, kind::WW),
            e(1, 2, kind::RW),
            e(2, 1, kind::WR),
        ];
        assert_eq!(kinds(&run(edges, 3, false)), [kind::RW, kind::WR]);
    }
}

//! Cycle search inside each strongly connected component, and the naming of each
//! cycle found (G0, G1c, G-single-item, G-nonadjacent-item, G2-item, and their `-process` /
//! `-realtime` variants, as in Adya and Elle).
//!
//! Each search is a breadth-first search that closes a cycle through one chosen
//! edge, so the cycles found are short; every search step looks at the deadline.

use std::collections::{BTreeMap, VecDeque};

use super::exhaustive::{self, Outcome, Scratch};
use super::graph::{kind, Edge, Graph};
use super::Deadline;

/// A cycle: its edges in order, each labelled with the one kind it is cited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// (edge, the kind bit cited) in order; edge i's target is edge i+1's source.
    pub steps: Vec<(Edge, u8)>,
}

impl Cycle {
    /// The anomaly this cycle is an instance of.
    pub fn anomaly(&self) -> String {
        let kinds: Vec<u8> = self.steps.iter().map(|s| s.1).collect();
        let rw = kinds.iter().filter(|&&k| k == kind::RW).count();
        let base = if kinds
            .iter()
            .all(|&k| k & !(kind::WW | kind::PROCESS | kind::REALTIME) == 0)
        {
            "G0"
        } else if rw == 0 {
            "G1c"
        } else if rw == 1 {
            // every rw edge here is on one key (an item anti-dependency): Elle's
            // `-item` names, which repeatable read rules out as well
            "G-single-item"
        } else {
            let n = kinds.len();
            let adjacent = (0..n).any(|i| kinds[i] == kind::RW && kinds[(i + 1) % n] == kind::RW);
            if adjacent {
                "G2-item"
            } else {
                "G-nonadjacent-item"
            }
        };
        let suffix = if kinds.contains(&kind::REALTIME) {
            "-realtime"
        } else if kinds.contains(&kind::PROCESS) {
            "-process"
        } else {
            ""
        };
        format!("{base}{suffix}")
    }
}

/// The kind cited for an edge found with `allowed` kinds: the data kinds first
/// (ww, wr), then process, then real time, rw last, so a cycle is named for the
/// least it needs.
pub(super) fn cite(edge_kind: u8, allowed: u8) -> Option<u8> {
    let k = edge_kind & allowed;
    [kind::WW, kind::WR, kind::PROCESS, kind::REALTIME, kind::RW]
        .into_iter()
        .find(|&b| k & b != 0)
}

/// The searches run, in order of severity: (path kinds, first edge kind).
/// A first kind of 0 means "any path kind" (G0's pure ww cycle).
fn searches(extra: u8) -> Vec<(u8, u8)> {
    let plain = kind::WW | kind::WR;
    vec![
        (kind::WW | extra, kind::WW),
        (plain | extra, kind::WR),
        (plain | extra, kind::RW),
        (kind::DATA | extra, kind::RW),
    ]
}

/// Breadth-first search inside `member` from `start` back to `goal` over edges of
/// kinds `allowed`; the path's edges, or `None`.
#[allow(clippy::too_many_arguments)]
fn path(
    graph: &Graph,
    member: &[u32],
    comp: u32,
    stamp: u32,
    parent: &mut [(u32, u32)],
    seen: &mut [u32],
    start: u32,
    goal: u32,
    allowed: u8,
    deadline: &mut Deadline,
    steps: &mut usize,
) -> Option<Vec<(Edge, u8)>> {
    let mut queue = VecDeque::new();
    seen[start as usize] = stamp;
    queue.push_back(start);
    while let Some(v) = queue.pop_front() {
        *steps += 1;
        if deadline.over(*steps) {
            return None;
        }
        if v == goal {
            let mut out = Vec::new();
            let mut at = goal;
            while at != start {
                let (from, edge) = parent[at as usize];
                let e = graph.edge(edge);
                out.push((e, cite(e.kind, allowed).expect("cited kind")));
                at = from;
            }
            out.reverse();
            return Some(out);
        }
        for (w, idx) in graph.out(v) {
            if member[w as usize] != comp
                || seen[w as usize] == stamp
                || graph.edge(idx).kind & allowed == 0
            {
                continue;
            }
            seen[w as usize] = stamp;
            parent[w as usize] = (v, idx);
            queue.push_back(w);
        }
    }
    None
}

/// Cycles found, by anomaly name, at most `per_type` each; and whether the deadline
/// cut the search short.
pub struct Found {
    /// Anomaly name → cycles.
    pub cycles: BTreeMap<String, Vec<Cycle>>,
    /// The search stopped at the deadline.
    pub timed_out: bool,
}

/// Which cycle classes must be searched for completely (see [`exhaustive`]), not
/// only by the bounded searches: those the models forbid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Complete {
    /// G-single (one rw edge), e.g. for snapshot isolation.
    pub single: bool,
    /// G-nonadjacent (rw edges, none adjacent), e.g. for snapshot isolation.
    pub nonadjacent: bool,
}

/// Search every component for cycles. `extra` is the process/real-time kinds the
/// models need (0, PROCESS, or PROCESS|REALTIME); searches with them run only for
/// components where the plain searches found nothing of that shape. The classes in
/// `complete` are then searched for exhaustively where the bounded searches found
/// nothing as bad.
pub fn search(
    graph: &Graph,
    components: &[Vec<u32>],
    extra: u8,
    complete: Complete,
    per_type: usize,
    deadline: &mut Deadline,
) -> Found {
    let n = graph.len();
    let mut member = vec![0u32; n];
    let mut seen = vec![0u32; n];
    let mut parent = vec![(0u32, 0u32); n];
    let mut stamp = 0u32;
    let mut comp_stamp = 0u32;
    let mut found = Found {
        cycles: BTreeMap::new(),
        timed_out: false,
    };
    let mut steps = 0usize;
    let mut scratch = Scratch::default();
    // extra kinds searched: none, then process, then process+realtime
    let mut variants = vec![0u8];
    if extra & kind::PROCESS != 0 {
        variants.push(kind::PROCESS);
    }
    if extra & kind::REALTIME != 0 {
        variants.push(kind::PROCESS | kind::REALTIME);
    }
    'components: for comp in components {
        comp_stamp += 1;
        for &v in comp {
            member[v as usize] = comp_stamp;
        }
        let mut named: Vec<String> = Vec::new();
        for &variant in &variants {
            for (allowed, first) in searches(variant) {
                // a few starting edges per search and component bound the work
                let mut tries = 0;
                // and a step budget per search, so failed searches in a huge
                // component cost a few passes over it, not 64
                let budget_end = steps + 4 * comp.len() + 100_000;
                // an edge that also has a weaker kind is left to the weaker search
                let mut candidates: Vec<(u32, u32, u32)> = comp
                    .iter()
                    .flat_map(|&v| graph.out(v).map(move |(w, idx)| (v, w, idx)))
                    .filter(|&(_, w, idx)| {
                        member[w as usize] == comp_stamp
                            && cite(graph.edge(idx).kind, allowed | first) == Some(first)
                    })
                    .collect();
                // edges pointing back in completion order are the likeliest to close
                // a cycle: try them first
                candidates.sort_by_key(|&(v, w, _)| std::cmp::Reverse(v as i64 - w as i64));
                'edges: for (v, w, idx) in candidates {
                    {
                        let e = graph.edge(idx);
                        tries += 1;
                        if tries > 64 || steps > budget_end {
                            break 'edges;
                        }
                        stamp += 1;
                        let Some(rest) = path(
                            graph,
                            &member,
                            comp_stamp,
                            stamp,
                            &mut parent,
                            &mut seen,
                            w,
                            v,
                            allowed,
                            deadline,
                            &mut steps,
                        ) else {
                            if deadline.passed() {
                                found.timed_out = true;
                                break 'components;
                            }
                            continue;
                        };
                        let mut steps_ = vec![(e, first)];
                        steps_.extend(rest);
                        let cycle = Cycle { steps: steps_ };
                        let name = cycle.anomaly();
                        if named.contains(&name) {
                            continue;
                        }
                        // a variant search only reports cycles that need the extra edges
                        if variant != 0
                            && !(name.ends_with("-process") || name.ends_with("-realtime"))
                        {
                            continue;
                        }
                        named.push(name.clone());
                        let list = found.cycles.entry(name).or_default();
                        if list.len() < per_type {
                            list.push(cycle);
                        }
                        break 'edges;
                    }
                }
            }
            // a G-single or G-nonadjacent can hide among many G2-items, past the
            // bounded searches' reach; when the models forbid them, search them all
            let worse = |named: &[String], bases: &[&str]| {
                named.iter().any(|n| bases.iter().any(|b| n.starts_with(b)))
            };
            // the G-nonadjacent search finds G-singles too (in linear time), and every
            // model forbidding G-nonadjacent forbids G-single; the per-target
            // G-single search is for models that forbid only G-single
            let one = if complete.nonadjacent {
                (true, true, &["G0", "G1c", "G-single", "G-nonadjacent"][..])
            } else {
                (complete.single, false, &["G0", "G1c", "G-single"][..])
            };
            for (wanted, nonadjacent, bases) in [one] {
                if !wanted || worse(&named, bases) {
                    continue;
                }
                let path = kind::WW | kind::WR | variant;
                match exhaustive::search(
                    graph,
                    &member,
                    comp_stamp,
                    comp,
                    path,
                    nonadjacent,
                    &mut scratch,
                    deadline,
                    &mut steps,
                ) {
                    Outcome::Found(cycle) => {
                        let name = cycle.anomaly();
                        let needs_variant =
                            name.ends_with("-process") || name.ends_with("-realtime");
                        if named.contains(&name) || (variant != 0 && !needs_variant) {
                            continue;
                        }
                        named.push(name.clone());
                        let list = found.cycles.entry(name).or_default();
                        if list.len() < per_type {
                            list.push(cycle);
                        }
                    }
                    Outcome::Absent => {}
                    Outcome::OutOfTime => {
                        found.timed_out = true;
                        break 'components;
                    }
                }
            }
        }
        if named.is_empty() {
            // the bounded searches missed; a component always holds some cycle, so
            // close one through its first edge rather than call the component clean
            let all = kind::DATA | extra;
            let first = comp.iter().find_map(|&v| {
                graph
                    .out(v)
                    .find(|&(w, idx)| {
                        member[w as usize] == comp_stamp && graph.edge(idx).kind & all != 0
                    })
                    .map(|(w, idx)| (v, w, idx))
            });
            if let Some((v, w, idx)) = first {
                stamp += 1;
                let rest = path(
                    graph,
                    &member,
                    comp_stamp,
                    stamp,
                    &mut parent,
                    &mut seen,
                    w,
                    v,
                    all,
                    deadline,
                    &mut steps,
                );
                match rest {
                    Some(rest) => {
                        let e = graph.edge(idx);
                        let mut steps_ = vec![(e, cite(e.kind, all).expect("an allowed kind"))];
                        steps_.extend(rest);
                        let cycle = Cycle { steps: steps_ };
                        let list = found.cycles.entry(cycle.anomaly()).or_default();
                        if list.len() < per_type {
                            list.push(cycle);
                        }
                    }
                    None if deadline.passed() => {
                        found.timed_out = true;
                        break 'components;
                    }
                    None => {}
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::graph::sccs;

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

    fn names(edges: Vec<Edge>, n: usize, extra: u8) -> Vec<String> {
        let g = Graph::new(n, edges);
        let mut d = Deadline::none();
        let comps = sccs(&g, kind::DATA | extra, &mut d).unwrap();
        search(&g, &comps, extra, Complete::default(), 4, &mut d)
            .cycles
            .into_keys()
            .collect()
    }

    #[test]
    fn cycles_are_named_by_their_edges() {
        assert_eq!(
            names(vec![e(0, 1, kind::WW), e(1, 0, kind::WW)], 2, 0),
            ["G0"]
        );
        assert_eq!(
            names(vec![e(0, 1, kind::WW), e(1, 0, kind::WR)], 2, 0),
            ["G1c"]
        );
        assert_eq!(
            names(vec![e(0, 1, kind::RW), e(1, 0, kind::WR)], 2, 0),
            ["G-single-item"]
        );
        assert_eq!(
            names(vec![e(0, 1, kind::RW), e(1, 0, kind::RW)], 2, 0),
            ["G2-item"]
        );
        let nonadj = vec![
            e(0, 1, kind::RW),
            e(1, 2, kind::WR),
            e(2, 3, kind::RW),
            e(3, 0, kind::WR),
        ];
        assert_eq!(names(nonadj, 4, 0), ["G-nonadjacent-item"]);
        assert_eq!(
            names(
                vec![e(0, 1, kind::RW), e(1, 0, kind::REALTIME)],
                2,
                kind::PROCESS | kind::REALTIME
            ),
            ["G-single-item-realtime"]
        );
        assert_eq!(
            names(
                vec![e(0, 1, kind::WW), e(1, 0, kind::PROCESS)],
                2,
                kind::PROCESS
            ),
            ["G0-process"]
        );
        // without the real-time edges in the search there is no cycle
        assert!(names(vec![e(0, 1, kind::RW), e(1, 0, kind::REALTIME)], 2, 0).is_empty());
        assert!(names(vec![e(0, 1, kind::WW), e(1, 2, kind::WR)], 3, 0).is_empty());
    }

    #[test]
    fn every_component_yields_a_cycle_even_past_the_search_bounds() {
        // 80 rw edges into a hub whose only way back is a long rw chain: the bounded
        // G-single/G2 searches (64 starting edges each) can miss, the fallback cannot
        let mut edges = Vec::new();
        for i in 1..=80u32 {
            edges.push(e(i, 0, kind::RW));
            edges.push(e(i - 1, i, kind::RW));
        }
        let found = names(edges, 81, 0);
        assert!(!found.is_empty());
    }

    #[test]
    fn an_edge_with_several_kinds_is_cited_for_the_weakest() {
        assert_eq!(
            names(vec![e(0, 1, kind::RW | kind::WW), e(1, 0, kind::WW)], 2, 0),
            ["G0"]
        );
    }
}

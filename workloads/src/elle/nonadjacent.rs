//! The complete, linear-time search for the cycles snapshot isolation forbids
//! beyond G1: a cycle with rw edges, no two of them in a row (G-single when there
//! is one, G-nonadjacent when there are more). Cerone and Gotsman's
//! characterisation, which Elle's `PL-SI-cycle-exists` check also uses: such a
//! cycle exists iff (path ; rw?) is cyclic. Here that is the product graph whose
//! states are (transaction, layer): a path edge (ww, wr, and the variant's process
//! or real-time edges) leads to layer 0, an rw edge leads from layer 0 to layer 1.
//! A layer-1 state in a strongly connected component of that graph lies on a
//! closed walk through an rw edge with no rw edge after another; one breadth-first
//! search confined to that component closes it, and [`super::exhaustive`] makes
//! the walk a simple cycle. One iterative Tarjan over at most twice the
//! component's vertices and edges, every step looking at the deadline.

use super::exhaustive::{from_target, Outcome, Scratch};
use super::graph::{kind, Graph};
use super::Deadline;

/// Tarjan's buffers over product states 2v+layer, generation-stamped so they are
/// made once per check and never cleared.
#[derive(Default)]
pub struct Tarjan {
    generation: u32,
    visited: Vec<u32>,
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<u32>,
    /// (state, next CSR slot of its vertex)
    calls: Vec<(u32, u32)>,
    /// Component ids handed out so far.
    components: u32,
}

impl Tarjan {
    fn ready(&mut self, states: usize) {
        if self.visited.len() < states {
            self.visited = vec![0; states];
            self.index = vec![0; states];
            self.low = vec![0; states];
            self.on_stack = vec![false; states];
            self.generation = 0;
        }
        self.generation += 1;
        self.stack.clear();
        self.calls.clear();
    }
}

/// The product state an edge of kind `k` leads to from a state in `layer`, if any.
fn next_layer(k: u8, layer: u32, path: u8) -> Option<u32> {
    if k & path != 0 {
        Some(0)
    } else if layer == 0 && k & kind::RW != 0 {
        Some(1)
    } else {
        None
    }
}

/// Search the component whose vertices have `member[v] == comp` (listed in
/// `vertices`) for a cycle with at least one rw edge and no two rw edges in a row,
/// its other edges of `path` kinds. What is found may, once made simple, be a
/// G-single, a G-nonadjacent, or (rarely) a G0 / G1c.
#[allow(clippy::too_many_arguments)]
pub fn search(
    graph: &Graph,
    member: &[u32],
    comp: u32,
    vertices: &[u32],
    path: u8,
    s: &mut Scratch,
    deadline: &mut Deadline,
    steps: &mut usize,
) -> Outcome {
    s.ready(graph.len());
    let t = &mut s.tarjan;
    t.ready(2 * graph.len());
    let generation = t.generation;
    let mut next = 0u32;
    let mut found: Option<(u32, u32, u32, u32)> = None; // (source, target, edge, component)
    'roots: for &root in vertices {
        let root = 2 * root;
        if t.visited[root as usize] == generation {
            continue;
        }
        t.visited[root as usize] = generation;
        t.index[root as usize] = next;
        t.low[root as usize] = next;
        next += 1;
        t.stack.push(root);
        t.on_stack[root as usize] = true;
        t.calls.push((root, graph.slots(root / 2).start));
        while let Some(&(state, slot)) = t.calls.last() {
            *steps += 1;
            if deadline.over(*steps) {
                // leave no state marked on the stack for the next search
                for &x in &t.stack {
                    t.on_stack[x as usize] = false;
                }
                return Outcome::OutOfTime;
            }
            let (v, layer) = (state / 2, state % 2);
            let end = graph.slots(v).end;
            let mut at = slot;
            let mut descended = false;
            while at < end {
                let (w, idx) = graph.slot(at);
                at += 1;
                if member[w as usize] != comp {
                    continue;
                }
                let Some(l) = next_layer(graph.edge(idx).kind, layer, path) else {
                    continue;
                };
                let ws = 2 * w + l;
                if t.visited[ws as usize] != generation {
                    t.visited[ws as usize] = generation;
                    t.index[ws as usize] = next;
                    t.low[ws as usize] = next;
                    next += 1;
                    t.stack.push(ws);
                    t.on_stack[ws as usize] = true;
                    t.calls.last_mut().expect("a call").1 = at;
                    t.calls.push((ws, graph.slots(w).start));
                    descended = true;
                    break;
                } else if t.on_stack[ws as usize] {
                    let low = t.low[state as usize].min(t.index[ws as usize]);
                    t.low[state as usize] = low;
                }
            }
            if descended {
                continue;
            }
            t.calls.pop();
            if let Some(&(parent, _)) = t.calls.last() {
                let low = t.low[parent as usize].min(t.low[state as usize]);
                t.low[parent as usize] = low;
            }
            if t.low[state as usize] != t.index[state as usize] {
                continue;
            }
            // a component is complete: pop it, then look in it for an rw edge from
            // a layer-0 state to a layer-1 state
            t.components += 1;
            let id = t.components;
            let from = t
                .stack
                .iter()
                .rposition(|&x| x == state)
                .expect("on the stack");
            for &x in &t.stack[from..] {
                t.on_stack[x as usize] = false;
                s.state_comp[x as usize] = id;
            }
            if t.stack.len() - from > 1 {
                for &x in &t.stack[from..] {
                    if x % 2 != 0 {
                        continue;
                    }
                    let u = x / 2;
                    for (w, idx) in graph.out(u) {
                        let k = graph.edge(idx).kind;
                        if member[w as usize] == comp
                            && k & path == 0
                            && k & kind::RW != 0
                            && s.state_comp[2 * w as usize + 1] == id
                        {
                            found = Some((u, w, idx, id));
                            break;
                        }
                    }
                    if found.is_some() {
                        break;
                    }
                }
            }
            t.stack.truncate(from);
            if found.is_some() {
                for &x in &t.stack {
                    t.on_stack[x as usize] = false;
                }
                break 'roots;
            }
        }
    }
    let Some((source, target, edge, id)) = found else {
        return Outcome::Absent;
    };
    // close the walk inside that component: it cannot fail there
    s.stamp += 1;
    let stamp = s.stamp;
    s.source[source as usize] = stamp;
    s.source_edge[source as usize] = edge;
    s.within = id;
    let closed = from_target(
        graph,
        member,
        comp,
        target,
        path,
        true,
        (stamp, u32::MAX),
        s,
        deadline,
        steps,
    );
    s.within = 0;
    match closed {
        Some(Ok(cycle)) => Outcome::Found(cycle),
        Some(Err(())) => Outcome::OutOfTime,
        None => unreachable!("a walk inside a strongly connected component closes"),
    }
}

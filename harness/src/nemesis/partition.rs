//! The partition fault: cut node↔node links in one of several shapes. Only server
//! nodes are partitioned, never clients or services.
//!
//! A shape produces a *grudge*: for each node, the set of nodes it drops messages
//! from. Shapes (N nodes, shuffled from the seed):
//!
//! - `one`: one node cut off from all others, both ways;
//! - `majority`: the first ⌊N/2⌋ nodes against the rest, both ways;
//! - `minority-third`: ⌊(N−1)/3⌋ nodes against the rest (nothing when N ≤ 3);
//! - `majorities-ring`: every node still sees a majority, but no two nodes see the
//!   same one (Maelstrom's; directional);
//! - `bridge`: two halves that cannot talk, except through one node that sees both;
//! - `one-way`: a minority's messages to the majority are lost, the majority's to the
//!   minority still arrive (asymmetric).

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::{Fault, FaultContext};

/// A partition shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionShape {
    /// One node isolated.
    One,
    /// Halves.
    Majority,
    /// A third against the rest.
    MinorityThird,
    /// Overlapping majorities.
    MajoritiesRing,
    /// Halves joined by one node.
    Bridge,
    /// A minority that can hear but not be heard.
    OneWay,
}

impl PartitionShape {
    /// Every shape.
    pub const ALL: [PartitionShape; 6] = [
        PartitionShape::One,
        PartitionShape::Majority,
        PartitionShape::MinorityThird,
        PartitionShape::MajoritiesRing,
        PartitionShape::Bridge,
        PartitionShape::OneWay,
    ];

    /// The shape's name.
    pub fn name(self) -> &'static str {
        match self {
            PartitionShape::One => "one",
            PartitionShape::Majority => "majority",
            PartitionShape::MinorityThird => "minority-third",
            PartitionShape::MajoritiesRing => "majorities-ring",
            PartitionShape::Bridge => "bridge",
            PartitionShape::OneWay => "one-way",
        }
    }

    /// Parse a comma-separated list of shape names.
    pub fn parse_list(text: &str) -> Result<Vec<PartitionShape>, String> {
        if text.trim() == "all" {
            return Ok(PartitionShape::ALL.to_vec());
        }
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                PartitionShape::ALL
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| {
                        format!(
                            "--partition-shapes: unknown shape {name:?}; expected some of {}",
                            PartitionShape::ALL.map(|s| s.name()).join(", ")
                        )
                    })
            })
            .collect()
    }

    /// The grudge of this shape on `n` nodes: `grudge[d]` lists the nodes `d` drops
    /// messages from.
    pub fn grudge(self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        let mut nodes: Vec<usize> = (0..n).collect();
        nodes.shuffle(rng);
        let mut grudge = vec![Vec::new(); n];
        match self {
            PartitionShape::One => cut_between(&mut grudge, &nodes[..1.min(n)], &nodes[1.min(n)..]),
            PartitionShape::Majority => {
                let (a, b) = nodes.split_at(n / 2);
                cut_between(&mut grudge, a, b);
            }
            PartitionShape::MinorityThird => {
                let (a, b) = nodes.split_at(n.saturating_sub(1) / 3);
                cut_between(&mut grudge, a, b);
            }
            PartitionShape::MajoritiesRing => majorities_ring(&mut grudge, &nodes, rng),
            PartitionShape::Bridge => {
                if n >= 3 {
                    let (a, rest) = nodes.split_at(n / 2);
                    cut_between(&mut grudge, a, &rest[1..]);
                }
            }
            PartitionShape::OneWay => {
                let (minority, majority) = nodes.split_at(n.saturating_sub(1) / 2);
                for &d in majority {
                    grudge[d].extend_from_slice(minority);
                }
            }
        }
        for g in &mut grudge {
            g.sort_unstable();
            g.dedup();
        }
        grudge
    }
}

fn cut_between(grudge: &mut [Vec<usize>], a: &[usize], b: &[usize]) {
    for &x in a {
        grudge[x].extend_from_slice(b);
    }
    for &y in b {
        grudge[y].extend_from_slice(a);
    }
}

/// Maelstrom's majorities ring. For N ≤ 5: the shuffled nodes form a ring; each of the
/// N windows of ⌊N/2⌋+1 consecutive nodes makes its middle member drop everything
/// outside it. For larger N: a random graph in which every node is linked to enough
/// others to see a majority (itself included); each node drops the nodes it is not
/// linked to.
fn majorities_ring(grudge: &mut [Vec<usize>], ring: &[usize], rng: &mut ChaCha8Rng) {
    let n = ring.len();
    let majority = n / 2 + 1;
    if n <= 2 {
        return;
    }
    if n <= 5 {
        for start in 0..n {
            let window: Vec<usize> = (0..majority).map(|k| ring[(start + k) % n]).collect();
            let middle = window[majority / 2];
            grudge[middle].extend(ring.iter().copied().filter(|x| !window.contains(x)));
        }
        return;
    }
    let mut linked = vec![vec![false; n]; n];
    let mut degree = vec![0usize; n];
    for &node in ring {
        while degree[node] + 1 < majority {
            let candidates: Vec<usize> = (0..n)
                .filter(|&other| other != node && !linked[node][other])
                .collect();
            let least = candidates.iter().map(|&c| degree[c]).min().unwrap_or(0);
            let lightest: Vec<usize> = candidates
                .into_iter()
                .filter(|&c| degree[c] == least)
                .collect();
            let other = lightest[rng.gen_range(0..lightest.len())];
            linked[node][other] = true;
            linked[other][node] = true;
            degree[node] += 1;
            degree[other] += 1;
        }
    }
    for d in 0..n {
        grudge[d].extend((0..n).filter(|&s| s != d && !linked[d][s]));
    }
}

/// Partitions in shapes chosen uniformly from a list.
pub struct Partition {
    shapes: Vec<PartitionShape>,
}

impl Partition {
    /// A partition fault choosing among `shapes`.
    pub fn new(shapes: Vec<PartitionShape>) -> Partition {
        Partition { shapes }
    }
}

impl Fault for Partition {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-partition", "stop-partition")
    }

    fn start(&mut self, rng: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let faults = &mut *ctx.faults;
        let nodes = ctx.nodes;
        let shape = self.shapes[rng.gen_range(0..self.shapes.len())];
        let n = nodes.len();
        let grudge = shape.grudge(n, rng);
        let mut cut = vec![false; n * n];
        let mut described = Map::new();
        for (dest, sources) in grudge.iter().enumerate() {
            for &src in sources {
                cut[dest * n + src] = true;
            }
            if !sources.is_empty() {
                let names: Vec<Value> = sources.iter().map(|&s| json!(nodes[s])).collect();
                described.insert(nodes[dest].clone(), Value::Array(names));
            }
        }
        faults.cut = Some(cut);
        (
            json!(shape.name()),
            json!({"shape": shape.name(), "grudge": described}),
        )
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let faults = &mut *ctx.faults;
        faults.cut = None;
        json!("network-healed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Faults;
    use rand::SeedableRng;

    const SIZES: [usize; 5] = [1, 2, 3, 5, 25];

    fn grudge(shape: PartitionShape, n: usize, seed: u64) -> Vec<Vec<usize>> {
        shape.grudge(n, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    fn drops(g: &[Vec<usize>], dest: usize, src: usize) -> bool {
        g[dest].contains(&src)
    }

    fn is_symmetric(g: &[Vec<usize>]) -> bool {
        (0..g.len()).all(|d| g[d].iter().all(|&s| drops(g, s, d)))
    }

    /// Nodes `x` can still hear from, itself included.
    fn heard_by(g: &[Vec<usize>], x: usize) -> usize {
        g.len() - g[x].len()
    }

    #[test]
    fn no_node_ever_drops_itself() {
        for shape in PartitionShape::ALL {
            for n in SIZES {
                for seed in 0..5 {
                    let g = grudge(shape, n, seed);
                    assert_eq!(g.len(), n);
                    assert!((0..n).all(|x| !drops(&g, x, x)), "{shape:?} n={n}");
                }
            }
        }
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        for n in SIZES {
            let g = grudge(PartitionShape::One, n, 7);
            assert!(is_symmetric(&g));
            let isolated: Vec<usize> = (0..n).filter(|&x| g[x].len() == n - 1).collect();
            if n == 1 {
                assert!(g[0].is_empty());
            } else if n == 2 {
                assert_eq!(isolated.len(), 2, "two nodes cut apart");
            } else {
                assert_eq!(isolated.len(), 1, "n={n}");
                assert!((0..n)
                    .filter(|x| *x != isolated[0])
                    .all(|x| g[x] == vec![isolated[0]]));
            }
        }
    }

    #[test]
    fn majority_splits_into_halves() {
        for n in SIZES {
            let g = grudge(PartitionShape::Majority, n, 3);
            assert!(is_symmetric(&g));
            let small = (0..n).filter(|&x| heard_by(&g, x) == n / 2).count();
            let large = (0..n).filter(|&x| heard_by(&g, x) == n - n / 2).count();
            if n == 1 {
                assert!(g[0].is_empty());
            } else if n % 2 == 0 {
                assert_eq!((small, large), (n, n), "n={n}: equal halves");
            } else {
                assert_eq!((small, large), (n / 2, n - n / 2), "n={n}");
            }
        }
    }

    #[test]
    fn minority_third_cuts_a_third_and_nothing_below_four_nodes() {
        for n in SIZES {
            let g = grudge(PartitionShape::MinorityThird, n, 5);
            assert!(is_symmetric(&g));
            let minority = (n.saturating_sub(1)) / 3;
            let cut_off = (0..n).filter(|&x| g[x].len() == n - minority).count();
            assert_eq!(cut_off, minority, "n={n}");
            if n <= 3 {
                assert!(g.iter().all(Vec::is_empty));
            }
        }
    }

    #[test]
    fn majorities_ring_keeps_a_majority_for_everyone_with_distinct_views() {
        for n in SIZES {
            for seed in 0..10 {
                let g = grudge(PartitionShape::MajoritiesRing, n, seed);
                if n <= 2 {
                    assert!(g.iter().all(Vec::is_empty));
                    continue;
                }
                for x in 0..n {
                    assert!(heard_by(&g, x) > n / 2, "n={n} node {x} lost its majority");
                }
                if n == 5 {
                    let mut views: Vec<&Vec<usize>> = g.iter().collect();
                    views.sort();
                    views.dedup();
                    assert_eq!(views.len(), n, "every node sees a different majority");
                }
                if n > 5 {
                    assert!(g.iter().any(|v| !v.is_empty()), "something is cut");
                }
            }
        }
    }

    #[test]
    fn bridge_keeps_one_node_connected_to_both_halves() {
        for n in SIZES {
            let g = grudge(PartitionShape::Bridge, n, 9);
            assert!(is_symmetric(&g));
            if n < 3 {
                assert!(g.iter().all(Vec::is_empty));
                continue;
            }
            let bridges: Vec<usize> = (0..n).filter(|&x| g[x].is_empty()).collect();
            assert_eq!(bridges.len(), 1, "n={n}");
            assert!((0..n)
                .filter(|x| *x != bridges[0])
                .all(|x| !g[x].is_empty()));
        }
    }

    #[test]
    fn one_way_is_asymmetric() {
        for n in SIZES {
            let g = grudge(PartitionShape::OneWay, n, 11);
            let minority = (n.saturating_sub(1)) / 2;
            let deaf_to_minority = (0..n)
                .filter(|&x| g[x].len() == minority && minority > 0)
                .count();
            assert_eq!(
                deaf_to_minority,
                if minority > 0 { n - minority } else { 0 }
            );
            if minority > 0 {
                assert!(!is_symmetric(&g), "n={n}");
                let silent: Vec<usize> = g[(0..n).find(|&x| !g[x].is_empty()).unwrap()].clone();
                assert!(
                    silent.iter().all(|&m| g[m].is_empty()),
                    "the minority still hears"
                );
            }
        }
    }

    #[test]
    fn partition_fault_installs_and_describes_the_grudge() {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let mut p = Partition::new(vec![PartitionShape::One]);
        let mut faults = Faults::default();
        let mut ctx = FaultContext {
            faults: &mut faults,
            nodes: &nodes,
            actions: Vec::new(),
        };
        let (invoke, done) = p.start(&mut ChaCha8Rng::seed_from_u64(1), &mut ctx);
        assert!(ctx.actions.is_empty());
        assert_eq!(invoke, json!("one"));
        assert_eq!(done["shape"], "one");
        let cut = faults.cut.as_ref().unwrap();
        assert_eq!(cut.iter().filter(|c| **c).count(), 8);
        assert_eq!(done["grudge"].as_object().unwrap().len(), 5);
        let mut ctx = FaultContext {
            faults: &mut faults,
            nodes: &nodes,
            actions: Vec::new(),
        };
        assert_eq!(p.stop(&mut ctx), json!("network-healed"));
        assert!(faults.cut.is_none());
        assert_eq!(
            PartitionShape::parse_list("one, bridge"),
            Ok(vec![PartitionShape::One, PartitionShape::Bridge])
        );
        assert!(PartitionShape::parse_list("ring").is_err());
        assert_eq!(
            PartitionShape::parse_list("all"),
            Ok(PartitionShape::ALL.to_vec())
        );
    }
}

//! Maelstrom's broadcast topologies (§8.3): who each node is told its neighbours are.
//! Every topology is computed over the node ids in test order and sent whole to every
//! node; nodes are free to ignore it.

use serde_json::{Map, Value};

/// The names `--topology` accepts.
pub const NAMES: &[&str] = &["grid", "line", "total", "tree", "tree2", "tree3", "tree4"];

/// A topology shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// A square-ish grid, side ⌈√N⌉, filled row by row; neighbours down, up, right,
    /// left.
    Grid,
    /// A chain: first ↔ second ↔ … ↔ last.
    Line,
    /// Every node is a neighbour of every other node.
    Total,
    /// A heap-layout tree with this branching factor; neighbours are the parent
    /// first, then the children.
    Tree(usize),
}

impl Topology {
    /// Parse a `--topology` name; the empty string means the default, `grid`.
    pub fn parse(name: &str) -> Result<Topology, String> {
        match name {
            "" | "grid" => Ok(Topology::Grid),
            "line" => Ok(Topology::Line),
            "total" => Ok(Topology::Total),
            "tree" | "tree2" => Ok(Topology::Tree(2)),
            "tree3" => Ok(Topology::Tree(3)),
            "tree4" => Ok(Topology::Tree(4)),
            other => Err(format!(
                "unknown topology {other:?}; expected one of: {}",
                NAMES.join(", ")
            )),
        }
    }

    /// Each node's neighbours, in node order. `line` with fewer than two nodes is
    /// empty (the single node has no entry), as in Maelstrom; every other shape has
    /// one entry per node.
    pub fn neighbours(self, nodes: &[String]) -> Vec<(String, Vec<String>)> {
        let n = nodes.len();
        let indices: Vec<(usize, Vec<usize>)> = match self {
            Topology::Grid => {
                let side = ceil_sqrt(n);
                (0..n)
                    .map(|k| {
                        let (row, col) = (k / side, k % side);
                        let mut out = Vec::with_capacity(4);
                        if k + side < n {
                            out.push(k + side);
                        }
                        if row > 0 {
                            out.push(k - side);
                        }
                        if col + 1 < side && k + 1 < n {
                            out.push(k + 1);
                        }
                        if col > 0 {
                            out.push(k - 1);
                        }
                        (k, out)
                    })
                    .collect()
            }
            Topology::Line if n < 2 => Vec::new(),
            Topology::Line => (0..n)
                .map(|k| {
                    let mut out = Vec::with_capacity(2);
                    if k > 0 {
                        out.push(k - 1);
                    }
                    if k + 1 < n {
                        out.push(k + 1);
                    }
                    (k, out)
                })
                .collect(),
            Topology::Total => (0..n)
                .map(|k| (k, (0..n).filter(|&j| j != k).collect()))
                .collect(),
            Topology::Tree(branching) => (0..n)
                .map(|k| {
                    let mut out = Vec::with_capacity(branching + 1);
                    if k > 0 {
                        out.push((k - 1) / branching);
                    }
                    out.extend((branching * k + 1..=branching * k + branching).filter(|&c| c < n));
                    (k, out)
                })
                .collect(),
        };
        indices
            .into_iter()
            .map(|(k, out)| {
                (
                    nodes[k].clone(),
                    out.into_iter().map(|j| nodes[j].clone()).collect(),
                )
            })
            .collect()
    }

    /// The topology as the JSON object sent in a `topology` request.
    pub fn to_json(self, nodes: &[String]) -> Map<String, Value> {
        self.neighbours(nodes)
            .into_iter()
            .map(|(node, out)| {
                (
                    node,
                    Value::Array(out.into_iter().map(Value::from).collect()),
                )
            })
            .collect()
    }
}

/// The smallest `s` with `s * s >= n`.
fn ceil_sqrt(n: usize) -> usize {
    let mut s = (n as f64).sqrt() as usize;
    while s * s < n {
        s += 1;
    }
    while s > 0 && (s - 1) * (s - 1) >= n {
        s -= 1;
    }
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet, VecDeque};

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn render(t: Topology, n: usize) -> String {
        t.neighbours(&nodes(n))
            .iter()
            .map(|(node, out)| format!("{node}:[{}]", out.join(",")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn as_map(t: Topology, n: usize) -> BTreeMap<String, Vec<String>> {
        t.neighbours(&nodes(n)).into_iter().collect()
    }

    fn symmetric(t: Topology, n: usize) -> bool {
        let map = as_map(t, n);
        map.iter().all(|(a, out)| {
            out.iter()
                .all(|b| b != a && map.get(b).is_some_and(|back| back.contains(a)))
        })
    }

    fn connected(t: Topology, n: usize) -> bool {
        let map = as_map(t, n);
        let mut seen = HashSet::from(["n0".to_string()]);
        let mut queue = VecDeque::from(["n0".to_string()]);
        while let Some(a) = queue.pop_front() {
            for b in &map[&a] {
                if seen.insert(b.clone()) {
                    queue.push_back(b.clone());
                }
            }
        }
        seen.len() == n
    }

    fn edge_count(t: Topology, n: usize) -> usize {
        as_map(t, n).values().map(Vec::len).sum::<usize>() / 2
    }

    const SIZES: [usize; 5] = [1, 2, 3, 5, 25];

    #[test]
    fn parse_accepts_maelstrom_names_and_lists_them_on_error() {
        assert_eq!(Topology::parse(""), Ok(Topology::Grid));
        assert_eq!(Topology::parse("grid"), Ok(Topology::Grid));
        assert_eq!(Topology::parse("tree"), Ok(Topology::Tree(2)));
        assert_eq!(Topology::parse("tree2"), Ok(Topology::Tree(2)));
        assert_eq!(Topology::parse("tree3"), Ok(Topology::Tree(3)));
        assert_eq!(Topology::parse("tree4"), Ok(Topology::Tree(4)));
        assert_eq!(Topology::parse("line"), Ok(Topology::Line));
        assert_eq!(Topology::parse("total"), Ok(Topology::Total));
        let err = Topology::parse("ring").unwrap_err();
        assert!(err.contains("\"ring\""), "{err}");
        for name in NAMES {
            assert!(err.contains(name), "{err}");
            assert!(Topology::parse(name).is_ok());
        }
    }

    #[test]
    fn grid_matches_maelstrom() {
        assert_eq!(render(Topology::Grid, 1), "n0:[]");
        assert_eq!(render(Topology::Grid, 2), "n0:[n1] n1:[n0]");
        assert_eq!(render(Topology::Grid, 3), "n0:[n2,n1] n1:[n0] n2:[n0]");
        assert_eq!(
            render(Topology::Grid, 5),
            "n0:[n3,n1] n1:[n4,n2,n0] n2:[n1] n3:[n0,n4] n4:[n1,n3]"
        );
        let grid = as_map(Topology::Grid, 25);
        assert_eq!(grid.len(), 25);
        let mut degrees = BTreeMap::new();
        for out in grid.values() {
            *degrees.entry(out.len()).or_insert(0) += 1;
        }
        // 5×5: 4 corners, 12 edge cells, 9 inner cells.
        assert_eq!(degrees, BTreeMap::from([(2, 4), (3, 12), (4, 9)]));
        assert_eq!(grid["n0"], ["n5", "n1"]);
        assert_eq!(grid["n12"], ["n17", "n7", "n13", "n11"]);
        assert_eq!(grid["n24"], ["n19", "n23"]);
        assert_eq!(grid["n4"], ["n9", "n3"]);
        assert_eq!(edge_count(Topology::Grid, 25), 40);
        for n in SIZES {
            assert!(symmetric(Topology::Grid, n), "grid {n}");
            assert!(connected(Topology::Grid, n), "grid {n}");
        }
        assert_eq!(
            serde_json::to_string(&Topology::Grid.to_json(&nodes(1))).unwrap(),
            r#"{"n0":[]}"#
        );
    }

    #[test]
    fn line_is_a_chain_and_empty_below_two_nodes() {
        assert_eq!(render(Topology::Line, 1), "");
        assert!(Topology::Line.to_json(&nodes(1)).is_empty());
        assert_eq!(render(Topology::Line, 2), "n0:[n1] n1:[n0]");
        assert_eq!(render(Topology::Line, 3), "n0:[n1] n1:[n0,n2] n2:[n1]");
        assert_eq!(
            render(Topology::Line, 5),
            "n0:[n1] n1:[n0,n2] n2:[n1,n3] n3:[n2,n4] n4:[n3]"
        );
        for n in [2, 3, 5, 25] {
            assert!(symmetric(Topology::Line, n));
            assert!(connected(Topology::Line, n));
            assert_eq!(edge_count(Topology::Line, n), n - 1);
        }
        assert_eq!(as_map(Topology::Line, 25)["n24"], ["n23"]);
    }

    #[test]
    fn total_connects_everyone_in_node_order() {
        assert_eq!(render(Topology::Total, 1), "n0:[]");
        assert_eq!(render(Topology::Total, 2), "n0:[n1] n1:[n0]");
        assert_eq!(
            render(Topology::Total, 3),
            "n0:[n1,n2] n1:[n0,n2] n2:[n0,n1]"
        );
        assert_eq!(as_map(Topology::Total, 5)["n2"], ["n0", "n1", "n3", "n4"]);
        for n in SIZES {
            let map = as_map(Topology::Total, n);
            assert_eq!(map.len(), n);
            assert!(map.values().all(|out| out.len() == n - 1));
            assert!(symmetric(Topology::Total, n));
        }
    }

    #[test]
    fn trees_use_heap_layout_parent_first() {
        assert_eq!(render(Topology::Tree(2), 1), "n0:[]");
        assert_eq!(render(Topology::Tree(2), 2), "n0:[n1] n1:[n0]");
        assert_eq!(render(Topology::Tree(2), 3), "n0:[n1,n2] n1:[n0] n2:[n0]");
        assert_eq!(
            render(Topology::Tree(2), 5),
            "n0:[n1,n2] n1:[n0,n3,n4] n2:[n0] n3:[n1] n4:[n1]"
        );
        assert_eq!(
            render(Topology::Tree(3), 5),
            "n0:[n1,n2,n3] n1:[n0,n4] n2:[n0] n3:[n0] n4:[n1]"
        );
        assert_eq!(
            render(Topology::Tree(4), 5),
            "n0:[n1,n2,n3,n4] n1:[n0] n2:[n0] n3:[n0] n4:[n0]"
        );
        let tree4 = as_map(Topology::Tree(4), 25);
        assert_eq!(tree4["n5"], ["n1", "n21", "n22", "n23", "n24"]);
        assert_eq!(
            as_map(Topology::Tree(3), 25)["n7"],
            ["n2", "n22", "n23", "n24"]
        );
        assert_eq!(as_map(Topology::Tree(2), 25)["n11"], ["n5", "n23", "n24"]);
        for b in [2, 3, 4] {
            for n in SIZES {
                let t = Topology::Tree(b);
                let map = as_map(t, n);
                assert_eq!(map.len(), n);
                assert!(symmetric(t, n), "tree{b} {n}");
                assert!(connected(t, n), "tree{b} {n}");
                assert_eq!(edge_count(t, n), n - 1, "tree{b} {n}");
                assert!(map.values().all(|out| out.len() <= b + 1));
            }
        }
    }

    #[test]
    fn ceil_sqrt_is_exact() {
        let expected = [
            (0, 1),
            (1, 1),
            (2, 2),
            (4, 2),
            (5, 3),
            (9, 3),
            (10, 4),
            (25, 5),
            (26, 6),
        ];
        for (n, s) in expected {
            assert_eq!(ceil_sqrt(n), s, "{n}");
        }
    }
}

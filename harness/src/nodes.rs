//! What the core knows about each node's process between faults: which incarnation is
//! current, whether it is down (killed), paused, or being initialised again after a
//! restart, and the deliveries held for it meanwhile.

use std::collections::VecDeque;

use crate::backend::{Generation, Nanos, NodeIndex};
use crate::net::Addr;

/// Most deliveries held for one paused or re-initialising node before the run stops.
pub const MAX_HELD: usize = 1_000_000;

/// A restarted node waiting for its `init_ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reinit {
    /// The client that sent `init`.
    pub client: Addr,
    /// When the node must have answered.
    pub deadline: Nanos,
}

#[derive(Debug, Default)]
struct NodeState {
    generation: Generation,
    down: bool,
    paused: bool,
    reinit: Option<Reinit>,
    held: VecDeque<Vec<u8>>,
}

/// The state of every node's process.
#[derive(Debug)]
pub struct NodeStates {
    nodes: Vec<NodeState>,
    /// Nodes with a re-initialisation pending, so the loop's every-turn question
    /// "any deadline?" costs nothing with a thousand nodes and no restarts.
    reinitialising: usize,
}

impl NodeStates {
    /// `count` nodes, all up in generation 0.
    pub fn new(count: usize) -> NodeStates {
        NodeStates {
            nodes: (0..count).map(|_| NodeState::default()).collect(),
            reinitialising: 0,
        }
    }

    /// True if an event from `generation` of `node` is about the live process (not a
    /// killed one or an earlier incarnation).
    pub fn is_live(&self, node: NodeIndex, generation: Generation) -> bool {
        let state = &self.nodes[node];
        state.generation == generation && !state.down
    }

    /// True while the node may be handed deliveries directly.
    pub fn accepts(&self, node: NodeIndex) -> bool {
        let state = &self.nodes[node];
        !state.paused && state.reinit.is_none()
    }

    /// True while the node is paused.
    pub fn is_paused(&self, node: NodeIndex) -> bool {
        self.nodes[node].paused
    }

    /// Keep a delivery until the node accepts again; `Err` with the count when too
    /// many are held.
    pub fn hold(&mut self, node: NodeIndex, line: Vec<u8>) -> Result<(), usize> {
        let held = &mut self.nodes[node].held;
        if held.len() >= MAX_HELD {
            return Err(held.len());
        }
        held.push_back(line);
        Ok(())
    }

    /// The deliveries held for a node that accepts again, in order.
    pub fn release(&mut self, node: NodeIndex) -> VecDeque<Vec<u8>> {
        if self.accepts(node) {
            std::mem::take(&mut self.nodes[node].held)
        } else {
            VecDeque::new()
        }
    }

    /// The node was killed: it is down and whatever was held for it is lost.
    pub fn killed(&mut self, node: NodeIndex) {
        let state = &mut self.nodes[node];
        state.down = true;
        state.paused = false;
        self.reinitialising -= usize::from(state.reinit.take().is_some());
        state.held.clear();
    }

    /// The node was started again as `generation` and sent `init`.
    pub fn restarted(&mut self, node: NodeIndex, generation: Generation, reinit: Reinit) {
        let state = &mut self.nodes[node];
        state.generation = generation;
        state.down = false;
        self.reinitialising += usize::from(state.reinit.replace(reinit).is_none());
    }

    /// A killed node runs again as `generation` and needs no re-initialisation (a
    /// real system's process, Mode B).
    pub fn restarted_ready(&mut self, node: NodeIndex, generation: Generation) {
        let state = &mut self.nodes[node];
        state.generation = generation;
        state.down = false;
    }

    /// The node was paused or resumed.
    pub fn set_paused(&mut self, node: NodeIndex, paused: bool) {
        self.nodes[node].paused = paused;
    }

    /// The node's pending re-initialisation, if any.
    pub fn reinit(&self, node: NodeIndex) -> Option<Reinit> {
        self.nodes[node].reinit
    }

    /// The restarted node answered `init`.
    pub fn reinitialised(&mut self, node: NodeIndex) {
        self.reinitialising -= usize::from(self.nodes[node].reinit.take().is_some());
    }

    /// The earliest re-initialisation deadline and its node.
    pub fn next_reinit_deadline(&self) -> Option<(Nanos, NodeIndex)> {
        if self.reinitialising == 0 {
            return None;
        }
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.reinit.map(|r| (r.deadline, i)))
            .min()
    }

    /// The node's current incarnation.
    pub fn generation(&self, node: NodeIndex) -> Generation {
        self.nodes[node].generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_while_paused_or_reinitialising_and_forgets_when_killed() {
        let mut nodes = NodeStates::new(2);
        assert!(nodes.accepts(0) && nodes.is_live(0, 0));
        nodes.set_paused(0, true);
        nodes.hold(0, b"a".to_vec()).unwrap();
        assert!(nodes.release(0).is_empty(), "nothing released while paused");
        nodes.set_paused(0, false);
        assert_eq!(nodes.release(0), VecDeque::from([b"a".to_vec()]));

        nodes.killed(1);
        assert!(!nodes.is_live(1, 0));
        let reinit = Reinit {
            client: Addr::Client(9),
            deadline: 10,
        };
        nodes.restarted(1, 1, reinit);
        assert!(nodes.is_live(1, 1) && !nodes.is_live(1, 0));
        assert!(!nodes.accepts(1));
        nodes.hold(1, b"b".to_vec()).unwrap();
        assert_eq!(nodes.next_reinit_deadline(), Some((10, 1)));
        nodes.reinitialised(1);
        assert_eq!(nodes.release(1).len(), 1);
    }
}

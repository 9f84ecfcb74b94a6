//! The kill fault: SIGKILL the target nodes' process groups; on stop, start them again
//! and send `init` before anything else reaches them. Whatever a node kept in memory
//! is gone; what it wrote to its data directory (`STRAUM_NODE_DATA_DIR`) survives.
//! Messages that arrive for a killed node are lost.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Fault, FaultContext, ProcessAction, Targets};
use crate::backend::NodeIndex;

/// Crash and restart.
pub struct Kill {
    targets: Vec<Targets>,
    killed: Vec<NodeIndex>,
}

impl Kill {
    /// Killing nodes chosen by one of `targets` each time.
    pub fn new(targets: Vec<Targets>) -> Kill {
        Kill {
            targets,
            killed: Vec::new(),
        }
    }
}

impl Fault for Kill {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-kill", "stop-kill")
    }

    fn start(&mut self, rng: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let targets = self.targets[rng.gen_range(0..self.targets.len())];
        self.killed = targets.choose(ctx.nodes.len(), rng);
        ctx.actions
            .extend(self.killed.iter().map(|&n| ProcessAction::Kill(n)));
        let names: Vec<&str> = self.killed.iter().map(|&n| ctx.nodes[n].as_str()).collect();
        (json!(targets.name()), json!({"killed": names}))
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let names: Vec<&str> = self.killed.iter().map(|&n| ctx.nodes[n].as_str()).collect();
        ctx.actions
            .extend(self.killed.drain(..).map(ProcessAction::Restart));
        json!({"restarted": names})
    }
}

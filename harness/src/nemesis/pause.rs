//! The pause fault: SIGSTOP the target nodes' process groups; on stop, SIGCONT them.
//! Messages for a paused node wait and are delivered, in order, once it resumes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Fault, FaultContext, ProcessAction, Targets};
use crate::backend::NodeIndex;

/// Freeze and thaw.
pub struct Pause {
    targets: Vec<Targets>,
    paused: Vec<NodeIndex>,
}

impl Pause {
    /// Pausing nodes chosen by one of `targets` each time.
    pub fn new(targets: Vec<Targets>) -> Pause {
        Pause {
            targets,
            paused: Vec::new(),
        }
    }
}

impl Fault for Pause {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-pause", "stop-pause")
    }

    fn start(&mut self, rng: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let targets = self.targets[rng.gen_range(0..self.targets.len())];
        self.paused = targets.choose(ctx.nodes.len(), rng);
        ctx.actions
            .extend(self.paused.iter().map(|&n| ProcessAction::Pause(n)));
        let names: Vec<&str> = self.paused.iter().map(|&n| ctx.nodes[n].as_str()).collect();
        (json!(targets.name()), json!({"paused": names}))
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let names: Vec<&str> = self.paused.iter().map(|&n| ctx.nodes[n].as_str()).collect();
        ctx.actions
            .extend(self.paused.drain(..).map(ProcessAction::Resume));
        json!({"resumed": names})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Faults;
    use rand::SeedableRng;

    #[test]
    fn targets_pick_the_right_number_of_nodes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Targets::One.choose(5, &mut rng).len(), 1);
        assert_eq!(Targets::Minority.choose(5, &mut rng).len(), 2);
        assert_eq!(Targets::Minority.choose(2, &mut rng).len(), 1);
        assert_eq!(Targets::Majority.choose(5, &mut rng).len(), 3);
        assert_eq!(Targets::All.choose(5, &mut rng), vec![0, 1, 2, 3, 4]);
        assert_eq!(Targets::Majority.choose(1, &mut rng), vec![0]);
    }

    #[test]
    fn pause_then_resume_the_same_nodes() {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let mut faults = Faults::default();
        let mut ctx = FaultContext {
            faults: &mut faults,
            nodes: &nodes,
            actions: Vec::new(),
        };
        let mut pause = Pause::new(vec![Targets::Majority]);
        let (_, started) = pause.start(&mut ChaCha8Rng::seed_from_u64(4), &mut ctx);
        assert_eq!(started["paused"].as_array().unwrap().len(), 3);
        let paused: Vec<ProcessAction> = std::mem::take(&mut ctx.actions);
        let stopped = pause.stop(&mut ctx);
        assert_eq!(stopped["resumed"], started["paused"]);
        let resumed: Vec<ProcessAction> = ctx.actions.clone();
        for (p, r) in paused.iter().zip(&resumed) {
            match (p, r) {
                (ProcessAction::Pause(a), ProcessAction::Resume(b)) => assert_eq!(a, b),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

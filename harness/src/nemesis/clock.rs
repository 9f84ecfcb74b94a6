//! The clock fault: bump the target nodes' wall clocks by up to `--clock-skew` ms
//! (each node its own offset, either way, at least a tenth of the skew) and, when it
//! stops, strobe them back to real time. The offsets are carried out through
//! libfaketime (see [`crate::faketime`]); the completion values name every node's
//! offset, so each change is in the history and shaded in the plots.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::{Fault, FaultContext, ProcessAction, Targets};
use crate::backend::NodeIndex;

/// Skew and reset.
pub struct Clock {
    targets: Vec<Targets>,
    skew_ms: u64,
    skewed: Vec<NodeIndex>,
}

impl Clock {
    /// Skewing nodes chosen by one of `targets` each time, by up to `skew_ms`.
    pub fn new(targets: Vec<Targets>, skew_ms: u64) -> Clock {
        Clock {
            targets,
            skew_ms: skew_ms.max(1),
            skewed: Vec::new(),
        }
    }
}

impl Fault for Clock {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-clock", "stop-clock")
    }

    fn start(&mut self, rng: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let targets = self.targets[rng.gen_range(0..self.targets.len())];
        self.skewed = targets.choose(ctx.nodes.len(), rng);
        let mut offsets = Map::new();
        for &node in &self.skewed {
            let magnitude = rng.gen_range((self.skew_ms / 10).max(1)..=self.skew_ms) as i64;
            let offset = if rng.gen_bool(0.5) {
                magnitude
            } else {
                -magnitude
            };
            ctx.actions.push(ProcessAction::SetClock(node, offset));
            offsets.insert(ctx.nodes[node].clone(), json!(offset));
        }
        (json!(targets.name()), json!({"offsets-ms": offsets}))
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let names: Vec<&str> = self.skewed.iter().map(|&n| ctx.nodes[n].as_str()).collect();
        let value = json!({"reset": names});
        ctx.actions
            .extend(self.skewed.drain(..).map(|n| ProcessAction::SetClock(n, 0)));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Faults;
    use rand::SeedableRng;

    #[test]
    fn skews_stay_within_the_limit_and_stop_resets_the_same_nodes() {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let mut faults = Faults::default();
        let mut ctx = FaultContext {
            faults: &mut faults,
            nodes: &nodes,
            actions: Vec::new(),
        };
        let mut clock = Clock::new(vec![Targets::All], 2_000);
        let (_, started) = clock.start(&mut ChaCha8Rng::seed_from_u64(3), &mut ctx);
        let offsets = started["offsets-ms"].as_object().unwrap();
        assert_eq!(offsets.len(), 5);
        for action in std::mem::take(&mut ctx.actions) {
            let ProcessAction::SetClock(node, ms) = action else {
                panic!("{action:?}")
            };
            assert!((200..=2_000).contains(&ms.abs()), "{ms}");
            assert_eq!(offsets[&nodes[node]], json!(ms));
        }
        let stopped = clock.stop(&mut ctx);
        assert_eq!(stopped["reset"].as_array().unwrap().len(), 5);
        assert!(ctx
            .actions
            .iter()
            .all(|a| matches!(a, ProcessAction::SetClock(_, 0))));
    }
}

//! The drop fault: while on, each node↔node message is lost with a fixed probability.

use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Fault, FaultContext};

/// Random message loss.
pub struct Drop {
    rate: f64,
}

impl Drop {
    /// Loss with probability `rate` while on.
    pub fn new(rate: f64) -> Drop {
        Drop { rate }
    }
}

impl Fault for Drop {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-drop", "stop-drop")
    }

    fn start(&mut self, _: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let faults = &mut *ctx.faults;
        faults.drop_rate = self.rate;
        (json!(self.rate), json!({"drop-rate": self.rate}))
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let faults = &mut *ctx.faults;
        faults.drop_rate = 0.0;
        json!("network-healed")
    }
}

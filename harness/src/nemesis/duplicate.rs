//! The duplicate fault: while on, each node↔node message is delivered twice with a
//! fixed probability; the copy gets its own id and an independent latency draw.

use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Fault, FaultContext};

/// Random message duplication.
pub struct Duplicate {
    rate: f64,
}

impl Duplicate {
    /// Duplication with probability `rate` while on.
    pub fn new(rate: f64) -> Duplicate {
        Duplicate { rate }
    }
}

impl Fault for Duplicate {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-duplicate", "stop-duplicate")
    }

    fn start(&mut self, _: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let faults = &mut *ctx.faults;
        faults.duplicate_rate = self.rate;
        (json!(self.rate), json!({"duplicate-rate": self.rate}))
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let faults = &mut *ctx.faults;
        faults.duplicate_rate = 0.0;
        json!("network-healed")
    }
}

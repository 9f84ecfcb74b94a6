//! The latency fault: while on, a node↔node message's latency is 10 × its normal draw
//! plus a uniform jitter in [0, 10 × max(mean latency, 10 ms)), so messages are both
//! slower and reordered.

use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Fault, FaultContext};
use crate::net::SlowLinks;

/// Latency multiplier while slowed.
const FACTOR: u64 = 10;
/// Smallest latency the jitter is scaled from, so slowing a 0 ms network still
/// reorders it.
const MIN_BASE_MS: u64 = 10;

/// Slow, reordering links.
pub struct Slow {
    mean_ms: u64,
}

impl Slow {
    /// Slowing a network whose mean latency is `mean_ms`.
    pub fn new(mean_ms: u64) -> Slow {
        Slow { mean_ms }
    }
}

impl Fault for Slow {
    fn functions(&self) -> (&'static str, &'static str) {
        ("start-latency", "stop-latency")
    }

    fn start(&mut self, _: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value) {
        let faults = &mut *ctx.faults;
        let jitter_ms = FACTOR * self.mean_ms.max(MIN_BASE_MS);
        faults.slow = Some(SlowLinks {
            factor: FACTOR,
            jitter: jitter_ms * 1_000_000,
        });
        (
            json!(FACTOR),
            json!({"factor": FACTOR, "jitter-ms": jitter_ms}),
        )
    }

    fn stop(&mut self, ctx: &mut FaultContext) -> Value {
        let faults = &mut *ctx.faults;
        faults.slow = None;
        json!("network-healed")
    }
}

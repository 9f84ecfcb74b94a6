//! Colours and line styles shared by the plots, the timeline and the Lamport diagram.

use straum_workloads::OpType;

/// `ok` completions (Jepsen's blue).
pub const OK: &str = "#81BFFC";
/// `info` completions (orange).
pub const INFO: &str = "#FFA400";
/// `fail` completions (pink).
pub const FAIL: &str = "#FF1E90";
/// Invocations that never completed.
pub const OPEN: &str = "#BBBBBB";

/// The colour of a completion kind.
pub fn completion(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => OK,
        OpType::Info => INFO,
        OpType::Fail => FAIL,
        OpType::Invoke => OPEN,
    }
}

/// The shading of a fault period: partitions as in Maelstrom, other faults in other
/// light colours.
pub fn fault(kind: &str) -> &'static str {
    match kind {
        "partition" => "#E9DCA0",
        "drop" => "#CFE8CF",
        "latency" => "#DDD3EE",
        "duplicate" => "#F2D7BE",
        "clock" => "#F6E0EA",
        _ => "#E0E0E0",
    }
}

/// Colours of the latency quantile lines, matching [`QUANTILES`].
pub const QUANTILE_COLOURS: [&str; 4] = ["#1B9E77", "#D95F02", "#7570B3", "#E7298A"];

/// The latency quantiles plotted.
pub const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 1.0];

/// Dash patterns telling operation functions apart on line plots (cycled).
pub const DASHES: [&str; 5] = ["", "7 3", "2 2", "9 3 2 3", "4 4"];

/// The dash pattern of the `i`th function, as an attribute (empty for solid).
pub fn dash(i: usize) -> String {
    match DASHES[i % DASHES.len()] {
        "" => String::new(),
        d => format!(" stroke-dasharray=\"{d}\""),
    }
}

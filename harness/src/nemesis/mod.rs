//! Fault injection. Each fault is one module implementing [`Fault`]; the [`Nemesis`]
//! schedules every requested fault independently, Maelstrom-style: start at the
//! beginning of the main phase, then alternate stop/start after uniform random delays
//! in [0, 2 × `--nemesis-interval`), all drawn from the seed. Every start and stop is
//! recorded in the history (process `nemesis`) with its exact shape.

mod clock;
mod drop;
mod duplicate;
mod kill;
pub mod partition;
mod pause;
mod slow;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::backend::{Nanos, NodeIndex};
use crate::net::Faults;
use crate::seed::Stream;

pub use partition::PartitionShape;

/// Something to do to a node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessAction {
    /// SIGKILL its process group.
    Kill(NodeIndex),
    /// Start it again and send it `init`.
    Restart(NodeIndex),
    /// SIGSTOP it.
    Pause(NodeIndex),
    /// SIGCONT it.
    Resume(NodeIndex),
    /// Set its wall clock this many ms off real time (0 resets it).
    SetClock(NodeIndex, i64),
}

/// What a fault acts on: the network's fault settings and the node processes.
pub struct FaultContext<'a> {
    /// Network faults in force.
    pub faults: &'a mut Faults,
    /// Node ids.
    pub nodes: &'a [String],
    /// Process actions for the core to carry out.
    pub actions: Vec<ProcessAction>,
}

/// A fault that can be switched on and off.
pub trait Fault {
    /// The history functions for starting and stopping it, e.g.
    /// `("start-partition", "stop-partition")`.
    fn functions(&self) -> (&'static str, &'static str);

    /// Switch the fault on. Returns the invocation value and the completion value (the
    /// exact shape of what was done).
    fn start(&mut self, rng: &mut ChaCha8Rng, ctx: &mut FaultContext) -> (Value, Value);

    /// Switch the fault off. Returns the completion value.
    fn stop(&mut self, ctx: &mut FaultContext) -> Value;
}

/// Which nodes a process fault hits, chosen per start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// One random node.
    One,
    /// A random minority (⌊(N−1)/2⌋ nodes, at least one).
    Minority,
    /// A random majority (⌊N/2⌋+1 nodes).
    Majority,
    /// Every node.
    All,
}

impl Targets {
    /// Every target kind.
    pub const ALL: [Targets; 4] = [
        Targets::One,
        Targets::Minority,
        Targets::Majority,
        Targets::All,
    ];

    /// The target kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Targets::One => "one",
            Targets::Minority => "minority",
            Targets::Majority => "majority",
            Targets::All => "all",
        }
    }

    /// Parse a comma-separated list of target kinds.
    pub fn parse_list(text: &str) -> Result<Vec<Targets>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                Targets::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
                    format!(
                        "--nemesis-targets: unknown target {name:?}; expected some of one, minority, majority, all"
                    )
                })
            })
            .collect()
    }

    /// Choose the nodes (sorted indices) among `n`.
    pub fn choose(self, n: usize, rng: &mut ChaCha8Rng) -> Vec<NodeIndex> {
        use rand::seq::SliceRandom;
        let count = match self {
            Targets::One => 1,
            Targets::Minority => (n.saturating_sub(1) / 2).max(1),
            Targets::Majority => n / 2 + 1,
            Targets::All => n,
        }
        .min(n);
        let mut nodes: Vec<NodeIndex> = (0..n).collect();
        nodes.shuffle(rng);
        nodes.truncate(count);
        nodes.sort_unstable();
        nodes
    }
}

/// What the user asked for with `--nemesis` and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisSpec {
    /// Fault names in the order given.
    pub faults: Vec<String>,
    /// Mean seconds between nemesis operations.
    pub interval_secs: f64,
    /// Partition shapes to choose from.
    pub shapes: Vec<PartitionShape>,
    /// Loss probability while the drop fault is on.
    pub drop_rate: f64,
    /// Duplication probability while the duplicate fault is on.
    pub duplicate_rate: f64,
    /// Mean node↔node latency (the latency fault scales it).
    pub latency_mean_ms: u64,
    /// Which nodes process faults (kill, pause, clock) hit.
    pub targets: Vec<Targets>,
    /// Largest clock offset the clock fault sets, in ms (`--clock-skew`).
    pub clock_skew_ms: u64,
    /// Fault starts to leave out, numbered from 0 in the order they come due
    /// (`--nemesis-skip`, written by `straum sim --shrink`). A skipped start still
    /// draws its random choices, against scratch settings, so the rest of the schedule
    /// is unchanged.
    pub skip: Vec<u32>,
}

/// Every fault name `--nemesis` accepts.
pub const FAULT_NAMES: &[&str] = &[
    "partition",
    "drop",
    "latency",
    "duplicate",
    "kill",
    "pause",
    "clock",
];

impl NemesisSpec {
    /// No faults.
    pub fn none() -> NemesisSpec {
        NemesisSpec {
            faults: Vec::new(),
            interval_secs: 10.0,
            shapes: PartitionShape::ALL.to_vec(),
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            latency_mean_ms: 0,
            targets: Targets::ALL.to_vec(),
            clock_skew_ms: 10_000,
            skip: Vec::new(),
        }
    }

    /// Parse a comma-separated `--nemesis` value (spaces around commas allowed).
    pub fn parse_faults(text: &str) -> Result<Vec<String>, String> {
        let mut faults = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !FAULT_NAMES.contains(&name) {
                return Err(format!(
                    "--nemesis: unknown fault {name:?}; expected a comma-separated list of {}",
                    FAULT_NAMES.join(", ")
                ));
            }
            if !faults.iter().any(|f| f == name) {
                faults.push(name.to_string());
            }
        }
        Ok(faults)
    }
}

/// One start or stop, for the history.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisEvent {
    /// `start-partition`, `stop-drop`, …
    pub f: &'static str,
    /// The invocation's value.
    pub invoke_value: Value,
    /// The completion's value.
    pub completion_value: Value,
}

/// A context over scratch settings, for skipped fault starts: their effects (and
/// process actions) go nowhere.
fn scratch<'a>(faults: &'a mut Faults, nodes: &'a [String]) -> FaultContext<'a> {
    FaultContext {
        faults,
        nodes,
        actions: Vec::new(),
    }
}

struct Scheduled {
    fault: Box<dyn Fault>,
    rng: ChaCha8Rng,
    active: bool,
    /// The current start was skipped (it acted on scratch settings).
    skipped: bool,
    next_at: Option<Nanos>,
}

/// Schedules the requested faults.
pub struct Nemesis {
    scheduled: Vec<Scheduled>,
    interval: f64,
    skip: Vec<u32>,
    /// Fault starts that came due so far.
    starts: u32,
    /// What skipped starts and their stops act on.
    scratch: Faults,
}

impl Nemesis {
    /// A nemesis for `spec`, its random choices drawn from `seed`.
    pub fn new(spec: &NemesisSpec, seed: u64) -> Nemesis {
        let scheduled = spec
            .faults
            .iter()
            .enumerate()
            .map(|(i, name)| Scheduled {
                fault: build(name, spec),
                rng: Stream::Nemesis.sub_rng(seed, i as u64),
                active: false,
                skipped: false,
                next_at: None,
            })
            .collect();
        Nemesis {
            scheduled,
            interval: spec.interval_secs,
            skip: spec.skip.clone(),
            starts: 0,
            scratch: Faults::default(),
        }
    }

    /// True when no fault was requested.
    pub fn is_empty(&self) -> bool {
        self.scheduled.is_empty()
    }

    /// Start scheduling: every fault's first start is due at `now`.
    pub fn begin(&mut self, now: Nanos) {
        for s in &mut self.scheduled {
            s.next_at = Some(now);
        }
    }

    /// When the next start or stop is due.
    pub fn next_due(&self) -> Option<Nanos> {
        self.scheduled.iter().filter_map(|s| s.next_at).min()
    }

    /// Perform every start/stop due at `now`.
    pub fn fire_due(&mut self, now: Nanos, ctx: &mut FaultContext) -> Vec<NemesisEvent> {
        let mut events = Vec::new();
        for s in &mut self.scheduled {
            if s.next_at.is_none_or(|at| at > now) {
                continue;
            }
            let (start_f, stop_f) = s.fault.functions();
            if s.active && s.skipped {
                s.fault.stop(&mut scratch(&mut self.scratch, ctx.nodes));
            } else if s.active {
                let value = s.fault.stop(ctx);
                events.push(NemesisEvent {
                    f: stop_f,
                    invoke_value: Value::Null,
                    completion_value: value,
                });
            } else {
                s.skipped = self.skip.contains(&self.starts);
                self.starts += 1;
                if s.skipped {
                    s.fault
                        .start(&mut s.rng, &mut scratch(&mut self.scratch, ctx.nodes));
                } else {
                    let (invoke_value, completion_value) = s.fault.start(&mut s.rng, ctx);
                    events.push(NemesisEvent {
                        f: start_f,
                        invoke_value,
                        completion_value,
                    });
                }
            }
            s.active = !s.active;
            let delay = s.rng.gen_range(0.0..2.0 * self.interval);
            s.next_at = Some(now + (delay * 1e9) as Nanos);
        }
        events
    }

    /// Fault starts that came due so far (skipped ones included).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The faults in force, by name (`partition`, `kill`, …).
    pub fn active(&self) -> Vec<&'static str> {
        self.scheduled
            .iter()
            .filter(|s| s.active)
            .map(|s| s.fault.functions().0.trim_start_matches("start-"))
            .collect()
    }

    /// Stop scheduling; faults in force stay in force.
    pub fn end_schedule(&mut self) {
        for s in &mut self.scheduled {
            s.next_at = None;
        }
    }

    /// Stop scheduling and switch every active fault off.
    pub fn heal_all(&mut self, ctx: &mut FaultContext) -> Vec<NemesisEvent> {
        self.end_schedule();
        let mut events = Vec::new();
        for s in &mut self.scheduled {
            if s.active && s.skipped {
                s.active = false;
                s.fault.stop(&mut scratch(&mut self.scratch, ctx.nodes));
            } else if s.active {
                s.active = false;
                let value = s.fault.stop(ctx);
                events.push(NemesisEvent {
                    f: s.fault.functions().1,
                    invoke_value: Value::Null,
                    completion_value: value,
                });
            }
        }
        events
    }
}

fn build(name: &str, spec: &NemesisSpec) -> Box<dyn Fault> {
    match name {
        "partition" => Box::new(partition::Partition::new(spec.shapes.clone())),
        "drop" => Box::new(drop::Drop::new(spec.drop_rate)),
        "latency" => Box::new(slow::Slow::new(spec.latency_mean_ms)),
        "duplicate" => Box::new(duplicate::Duplicate::new(spec.duplicate_rate)),
        "kill" => Box::new(kill::Kill::new(spec.targets.clone())),
        "pause" => Box::new(pause::Pause::new(spec.targets.clone())),
        "clock" => Box::new(clock::Clock::new(spec.targets.clone(), spec.clock_skew_ms)),
        other => unreachable!("fault names are validated at parse time: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(faults: &[&str]) -> NemesisSpec {
        NemesisSpec {
            faults: faults.iter().map(|f| f.to_string()).collect(),
            interval_secs: 1.0,
            shapes: PartitionShape::ALL.to_vec(),
            drop_rate: 0.3,
            duplicate_rate: 0.2,
            latency_mean_ms: 10,
            targets: Targets::ALL.to_vec(),
            clock_skew_ms: 10_000,
            skip: Vec::new(),
        }
    }

    fn schedule(seed: u64) -> Vec<(Nanos, &'static str, Value)> {
        schedule_skipping(seed, &[])
    }

    fn schedule_skipping(seed: u64, skip: &[u32]) -> Vec<(Nanos, &'static str, Value)> {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let spec = NemesisSpec {
            skip: skip.to_vec(),
            ..spec(&["partition", "drop"])
        };
        let mut nemesis = Nemesis::new(&spec, seed);
        let mut faults = Faults::default();
        nemesis.begin(0);
        let mut out = Vec::new();
        while let Some(at) = nemesis.next_due() {
            if at > 30_000_000_000 {
                break;
            }
            let mut ctx = FaultContext {
                faults: &mut faults,
                nodes: &nodes,
                actions: Vec::new(),
            };
            for e in nemesis.fire_due(at, &mut ctx) {
                out.push((at, e.f, e.completion_value));
            }
        }
        let mut ctx = FaultContext {
            faults: &mut faults,
            nodes: &nodes,
            actions: Vec::new(),
        };
        for e in nemesis.heal_all(&mut ctx) {
            out.push((0, e.f, e.completion_value));
        }
        assert!(faults.cut.is_none() && faults.drop_rate == 0.0, "healed");
        out
    }

    #[test]
    fn a_skipped_start_and_its_stop_vanish_and_the_rest_of_the_schedule_stays() {
        let all = schedule(3);
        let skipped = schedule_skipping(3, &[2]);
        let starts: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].1.starts_with("start-"))
            .collect();
        let gone = starts[2];
        let stop = all[gone].1.replace("start-", "stop-");
        let stop_at = (gone + 1..all.len()).find(|&i| all[i].1 == stop).unwrap();
        let expected: Vec<_> = (0..all.len())
            .filter(|&i| i != gone && i != stop_at)
            .map(|i| all[i].clone())
            .collect();
        assert_eq!(skipped, expected);
    }

    #[test]
    fn schedules_alternate_are_seeded_and_heal() {
        let a = schedule(3);
        assert_eq!(a, schedule(3));
        assert_ne!(a, schedule(4));
        assert_eq!(a[0].0, 0);
        let partition: Vec<&str> = a
            .iter()
            .map(|e| e.1)
            .filter(|f| f.ends_with("partition"))
            .collect();
        assert!(partition.len() > 4);
        for pair in partition.windows(2) {
            assert_ne!(pair[0], pair[1], "starts and stops alternate");
        }
        assert_eq!(partition.last(), Some(&"stop-partition"));
    }

    #[test]
    fn parses_fault_lists() {
        assert_eq!(
            NemesisSpec::parse_faults("partition , drop,partition"),
            Ok(vec!["partition".to_string(), "drop".to_string()])
        );
        assert!(NemesisSpec::parse_faults("kill,pause").is_ok());
        assert!(NemesisSpec::parse_faults("explode").is_err());
    }
}

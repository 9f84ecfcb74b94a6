//! straum-workloads: one module per workload — its RPCs, generator, client mapping and
//! checker — plus the history types and the checkers every run shares.
//!
//! Everything here is pure: no I/O, no clock, no threads. The harness drives a
//! [`Workload`] through its trait and feeds the recorded history back to its checker.
//! Adding a workload means one new module and one line in [`REGISTRY`].

pub mod broadcast;
pub mod checkers;
pub mod counter;
pub mod echo;
pub mod elle;
pub mod g_set;
pub mod history;
pub mod kafka;
pub mod lease;
pub mod lin_kv;
pub mod linearizable;
pub mod quote;
pub mod rpc;
pub mod set_full;
pub mod topology;
pub mod txn;
pub mod unique_ids;
mod verdict;
mod workload;

pub use history::{Op, OpType, Process};
pub use verdict::Validity;
pub use workload::{
    CheckResult, ClientId, Completion, Invocation, NetEvent, NetEventKind, ReportPage, Step,
    Workload, WorkloadOptions,
};

/// A workload's name and constructor.
pub struct WorkloadEntry {
    /// The name given to `-w`.
    pub name: &'static str,
    /// Builds the workload for one run, or says which option is wrong.
    pub build: fn(&WorkloadOptions) -> Result<Box<dyn Workload>, String>,
}

/// Every workload straum can run.
pub const REGISTRY: &[WorkloadEntry] = &[
    WorkloadEntry {
        name: "echo",
        build: echo::build,
    },
    WorkloadEntry {
        name: "unique-ids",
        build: unique_ids::build,
    },
    WorkloadEntry {
        name: "broadcast",
        build: broadcast::build,
    },
    WorkloadEntry {
        name: "g-set",
        build: g_set::build,
    },
    WorkloadEntry {
        name: "g-counter",
        build: counter::build_g,
    },
    WorkloadEntry {
        name: "pn-counter",
        build: counter::build_pn,
    },
    WorkloadEntry {
        name: "kafka",
        build: kafka::build,
    },
    WorkloadEntry {
        name: "lin-kv",
        build: lin_kv::build,
    },
    WorkloadEntry {
        name: "lease",
        build: lease::build,
    },
    WorkloadEntry {
        name: "txn-list-append",
        build: txn::build_list_append,
    },
    WorkloadEntry {
        name: "txn-rw-register",
        build: txn::build_rw_register,
    },
];

/// Workload names Maelstrom accepts that straum does not run yet.
pub const PLANNED: &[&str] = &[];

/// Build the workload called `name`, or explain why there is none (unknown name,
/// or options the workload rejects).
pub fn build(name: &str, options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    if let Some(entry) = REGISTRY.iter().find(|entry| entry.name == name) {
        return (entry.build)(options);
    }
    let known: Vec<&str> = REGISTRY.iter().map(|entry| entry.name).collect();
    if PLANNED.contains(&name) {
        Err(format!(
            "workload {name} is not implemented in straum yet; available: {}",
            known.join(", ")
        ))
    } else {
        Err(format!(
            "unknown workload {name:?}; expected one of: {}",
            known.join(", ")
        ))
    }
}

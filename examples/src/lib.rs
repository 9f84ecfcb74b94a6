//! Example nodes written with `straum-node`, one module per workload, each also built
//! as a binary (`src/bin/`, a thin wrapper over the stdio runtime). Each must pass
//! its workload under straum (and under faults where the workload allows them), as
//! processes (`straum test --bin`) and in the simulator (`straum sim --node`), which
//! finds them in [`NODES`].

use straum_node::{Init, Node};

pub mod broadcast;
pub mod broadcast_flood;
pub mod broadcast_tree;
pub mod echo;
pub mod g_counter;
pub mod g_set;
pub mod kafka;
pub mod lease;
pub mod lin_kv;
pub mod pn_counter;
pub mod txn_list_append;
pub mod txn_rw_register;
pub mod unique_ids;

/// Builds one node of an example for the cluster `Init` describes.
pub type Factory = fn(&Init) -> Box<dyn Node>;

/// An example node the simulator can run.
#[derive(Clone, Copy)]
pub struct Example {
    /// Its name (`--node NAME`); the binary of the same name runs it as a process.
    pub name: &'static str,
    /// The workload it is written for.
    pub workload: &'static str,
    /// The arguments the binary needs to behave the same (e.g. `--durable`).
    pub args: &'static [&'static str],
    /// Builds a node.
    pub factory: Factory,
}

/// Every example node, by name.
pub const NODES: &[Example] = &[
    Example {
        name: "broadcast",
        workload: "broadcast",
        args: &[],
        factory: |_| Box::new(broadcast::Broadcast::default()),
    },
    Example {
        name: "broadcast-no-retry",
        workload: "broadcast",
        args: &[],
        factory: |_| Box::new(broadcast::Broadcast::without_retries()),
    },
    Example {
        name: "broadcast-flood",
        workload: "broadcast",
        args: &[],
        factory: |_| Box::new(broadcast_flood::FloodingBroadcast::default()),
    },
    Example {
        name: "broadcast-tree",
        workload: "broadcast",
        args: &[],
        factory: |_| Box::new(broadcast_tree::TreeBroadcast::default()),
    },
    Example {
        name: "lease",
        workload: "lease",
        args: &[],
        factory: |_| Box::new(lease::LeaseNode::default()),
    },
    Example {
        name: "lease-unchecked",
        workload: "lease",
        args: &[],
        factory: |_| Box::new(lease::LeaseNode::unchecked()),
    },
    Example {
        name: "echo",
        workload: "echo",
        args: &[],
        factory: |_| Box::new(echo::Echo),
    },
    Example {
        name: "g-counter",
        workload: "g-counter",
        args: &[],
        factory: |_| Box::new(g_counter::Counter::default()),
    },
    Example {
        name: "g-set",
        workload: "g-set",
        args: &[],
        factory: |_| Box::new(g_set::GSet::default()),
    },
    Example {
        name: "kafka",
        workload: "kafka",
        args: &[],
        factory: |_| Box::new(kafka::Kafka::default()),
    },
    Example {
        name: "lin-kv",
        workload: "lin-kv",
        args: &[],
        factory: |init| Box::new(lin_kv::Raft::new(init)),
    },
    Example {
        name: "pn-counter",
        workload: "pn-counter",
        args: &[],
        factory: |_| Box::new(pn_counter::PnCounter::default()),
    },
    Example {
        name: "txn-list-append",
        workload: "txn-list-append",
        args: &[],
        factory: |_| Box::new(txn_list_append::ListAppend::default()),
    },
    Example {
        name: "txn-rw-register",
        workload: "txn-rw-register",
        args: &[],
        factory: |init| Box::new(txn_rw_register::TxnNode::new(init)),
    },
    Example {
        name: "unique-ids",
        workload: "unique-ids",
        args: &[],
        factory: |init| Box::new(unique_ids::UniqueIds::new(init, false)),
    },
    Example {
        name: "unique-ids-durable",
        workload: "unique-ids",
        args: &["--durable"],
        factory: |init| Box::new(unique_ids::UniqueIds::new(init, true)),
    },
];

/// The example called `name`.
pub fn example(name: &str) -> Option<&'static Example> {
    NODES.iter().find(|example| example.name == name)
}

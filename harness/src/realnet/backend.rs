//! Mode B's [`Backend`]: the system under test runs as real processes in network
//! namespaces on a bridge ([`Cluster`], [`DbCluster`]); client adapters
//! ([`ClientPool`]) perform the workload's operations against it; partitions are
//! nftables rules, kill and pause are signals. The core drives it exactly as it drives
//! Mode A's processes: the same generator, nemesis schedule, history and checkers.
//!
//! Everything it made is removed by [`RealBackend::stop_all`] (also on drop, after a
//! node crashed, and after SIGINT/SIGTERM, which arrive as events); what a SIGKILLed
//! straum leaves is found by name by `straum clean`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use straum_workloads::Invocation;

use crate::backend::{
    Backend, BackendEvent, DeliveryError, Generation, Nanos, NodeDiagnostics, NodeIndex,
};
use crate::process::poller::{Poller, WAKE_KEY};
use crate::process::{register_interrupt_sink, unregister_interrupt_sink};

use super::adapter::request_line;
use super::clients::{ClientPool, ClientSpec};
use super::cluster::Cluster;
use super::db::{DbCluster, DbSpec};
use super::nft;

/// How often the database processes are checked for unexpected exits while
/// nothing else happens.
const EXIT_CHECK: Duration = Duration::from_millis(20);

/// Everything Mode B needs to start.
#[derive(Debug, Clone)]
pub struct RealSpec {
    /// Names the namespaces (`straum-<run>-<node>`); short and unique per run.
    pub run_name: String,
    /// The nodes, in order.
    pub node_ids: Vec<String>,
    /// The system under test.
    pub db: DbSpec,
    /// The client adapters.
    pub client: ClientSpec,
    /// Client workers.
    pub workers: usize,
}

/// Why Mode B could not start.
#[derive(Debug)]
pub enum StartError {
    /// SIGINT/SIGTERM arrived while the cluster was being set up (it was removed).
    Interrupted,
    /// Something failed; the sentence says what. What was made is removed.
    Failed(String),
}

/// The real system on a real network.
pub struct RealBackend {
    start: Instant,
    poller: Arc<Poller>,
    interrupted: Arc<AtomicBool>,
    clients: ClientPool,
    db: DbCluster,
    cluster: Cluster,
    ready: VecDeque<BackendEvent>,
    round: Vec<u64>,
    grudge_installed: bool,
    stopped: bool,
}

impl RealBackend {
    /// Create the cluster, start the system in it and wait until every node is
    /// ready. On any error (or an interrupt) everything made so far is removed.
    pub fn start(spec: &RealSpec) -> Result<RealBackend, StartError> {
        let poller = Arc::new(
            Poller::new()
                .map_err(|e| StartError::Failed(format!("could not create a poller: {e}")))?,
        );
        let interrupted = Arc::new(AtomicBool::new(false));
        // Before anything exists outside this process, so that a signal during set-up
        // comes here and is cleaned up after instead of ending straum on the spot.
        register_interrupt_sink(poller.waker(), Arc::clone(&interrupted));
        let failed = |e: String| {
            unregister_interrupt_sink();
            if interrupted.load(Ordering::Acquire) {
                StartError::Interrupted
            } else {
                StartError::Failed(e)
            }
        };
        let cluster = Cluster::create(&spec.run_name, &spec.node_ids).map_err(&failed)?;
        let flag = Arc::clone(&interrupted);
        // On error `cluster` drops here and is torn down.
        let db = DbCluster::start(&cluster, &spec.db, &|| flag.load(Ordering::Acquire))
            .map_err(&failed)?;
        Ok(RealBackend {
            start: Instant::now(),
            clients: ClientPool::new(spec.client.clone(), spec.workers),
            poller,
            interrupted,
            db,
            cluster,
            ready: VecDeque::new(),
            round: Vec::new(),
            grudge_installed: false,
            stopped: false,
        })
    }

    /// The cluster the system runs in (addresses, namespaces).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// One round: wait for adapter output up to `timeout`, read it, check the
    /// database processes for exits.
    fn poll(&mut self, timeout: Duration) {
        self.round.clear();
        let waited = self.poller.wait(&mut self.round, timeout.min(EXIT_CHECK));
        if waited.is_ok() {
            let round = std::mem::take(&mut self.round);
            for &key in round.iter().filter(|&&k| k != WAKE_KEY) {
                self.clients
                    .on_readable(&self.poller, key as usize, &mut self.ready);
            }
            self.round = round;
        }
        for (node, generation, status) in self.db.poll_exits() {
            self.ready.push_back(BackendEvent::Exited {
                node,
                generation,
                status,
            });
        }
    }
}

impl Backend for RealBackend {
    fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    fn deliver(&mut self, _node: NodeIndex, _line: &[u8]) -> Result<(), DeliveryError> {
        // The core sends nothing to nodes that perform no Maelstrom protocol.
        Ok(())
    }

    fn wait(&mut self, until: Nanos) -> Option<BackendEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.interrupted.swap(false, Ordering::AcqRel) {
                return Some(BackendEvent::Interrupted {
                    signal: "SIGINT/SIGTERM",
                });
            }
            let now = self.now();
            if now >= until {
                return None;
            }
            self.poll(Duration::from_nanos(until - now));
        }
    }

    fn diagnostics(&self, node: NodeIndex) -> NodeDiagnostics {
        NodeDiagnostics {
            stderr_tail: self.db.log_tail(node),
            log_path: Some(self.db.log_path(node)),
        }
    }

    fn stop_all(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.clients.stop_all(&self.poller);
        self.db.stop_all();
        if let Err(e) = self.cluster.teardown() {
            eprintln!("straum: could not remove all of the real network: {e} (`straum clean` removes leftovers)");
        }
        unregister_interrupt_sink();
    }

    fn kill(&mut self, node: NodeIndex) {
        self.db.kill(node);
    }

    fn restart(&mut self, node: NodeIndex) -> Result<Generation, String> {
        self.db.restart(node)
    }

    fn pause(&mut self, node: NodeIndex) {
        self.db.pause(node);
    }

    fn resume(&mut self, node: NodeIndex) {
        self.db.resume(node);
    }

    fn set_clock_offset(&mut self, node: NodeIndex, offset_ms: i64) -> Result<(), String> {
        self.db.set_clock_offset(node, offset_ms)
    }

    fn write_blocked_for(&self, _node: NodeIndex) -> Option<Nanos> {
        None
    }

    fn performs_operations(&self) -> bool {
        true
    }

    fn perform(&mut self, worker: usize, op: u64, node: NodeIndex, invocation: &Invocation) {
        let line = request_line(
            invocation,
            &self.cluster.nodes()[node].id,
            &self.db.client_addr(node),
        );
        if let Err(e) = self.clients.send(&self.poller, worker, op, &line) {
            self.ready.push_back(BackendEvent::Performed {
                worker,
                op,
                reply: Err(e),
            });
        }
    }

    fn retire_client(&mut self, worker: usize) {
        self.clients.retire(&self.poller, worker);
    }

    fn set_grudge(&mut self, cut: Option<&[bool]>) -> Result<(), String> {
        match cut {
            Some(cut) => {
                nft::apply_grudge(&self.cluster, cut)?;
                self.grudge_installed = true;
            }
            None if self.grudge_installed => {
                nft::clear_grudge(&self.cluster)?;
                self.grudge_installed = false;
            }
            None => {}
        }
        Ok(())
    }
}

impl Drop for RealBackend {
    fn drop(&mut self) {
        self.stop_all();
    }
}

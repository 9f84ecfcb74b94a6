//! The system under test's processes (`--db-start`, etcd say): one per node, each
//! started with `sh -c` inside its node's network namespace, in a process group of
//! its own, working in the node's data directory (kept across restarts), with
//! stdout and stderr appended to `node-logs/<id>.log`.
//!
//! [`DbCluster::start`] starts them all, then polls each node's readiness (the
//! `--db-ready` command inside the namespace, or a TCP connect from the host) until
//! every node is ready; the nemesis then kills, restarts, pauses and resumes them,
//! [`DbCluster::poll_exits`] tells which exited by themselves, and
//! [`DbCluster::stop_all`] (also on drop) ends them all.
//!
//! Every process gets `PR_SET_PDEATHSIG` (SIGKILL), which the kernel ties to the
//! *thread* that started it: call [`DbCluster::start`] and [`DbCluster::restart`]
//! from a thread that lives as long as the cluster (the one that holds it), or the
//! processes die with the thread. A group is signalled only while its leader is
//! unreaped (running or a zombie), so a recycled pid is never signalled.

mod shell;
pub mod template;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use straum_workloads::quote::abridge_to;

use super::cluster::Cluster;
use crate::process::stderr::{log_tail, restart_marker};
use shell::{has_ended, kill_and_reap, shell_in, signal_group, Outcome, Short};
pub use template::{check_template, PLACEHOLDERS};

/// How long one ready attempt may run before it is killed.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);
/// Pause between two rounds of ready attempts.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long [`DbCluster::stop_all`] waits for the stop commands and the processes.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// The error of a start that was interrupted.
const INTERRUPTED: &str = "interrupted while waiting for the nodes to be ready";
/// Log lines quoted in an error, and the characters they are abridged to.
const QUOTED_LINES: usize = 10;
const QUOTED_LOG_CHARS: usize = 2500;

/// How to run the system under test (from `--db-start`/`--db-ready`/`--db-stop`).
/// The commands are [templates](template) run with `sh -c` inside the node's
/// namespace, with `STRAUM_NODE`, `STRAUM_NODE_IP` and `STRAUM_NODE_DATA_DIR` set.
#[derive(Debug, Clone)]
pub struct DbSpec {
    /// The command starting one node's process.
    pub start: String,
    /// Polled until it exits 0; `None`: a TCP connect to `{ip}:{port}` from the host.
    pub ready: Option<String>,
    /// Run at the end before SIGKILL; `None`: SIGTERM the process group.
    pub stop: Option<String>,
    /// How long all nodes together may take to be ready at start.
    pub ready_timeout: Duration,
    /// `{port}`, e.g. 2379.
    pub client_port: u16,
    /// `{peer_port}`, e.g. 2380.
    pub peer_port: u16,
    /// Where `<id>.log` gets each node's stdout and stderr (appended; a restart
    /// marker line before each restarted incarnation's output).
    pub log_dir: PathBuf,
    /// Where each node's data directory `<id>/` is made (mode 0700 when new); it
    /// survives restarts.
    pub data_dir: PathBuf,
    /// Per-node wall clocks (the clock fault): the start command runs under
    /// libfaketime reading its node's clock file. `None` leaves clocks alone.
    pub clocks: Option<crate::faketime::Clocks>,
}

/// One node's process and what it is run with.
struct DbNode {
    id: String,
    netns: String,
    ip: Ipv4Addr,
    data: PathBuf,
    log: PathBuf,
    start: String,
    ready: Option<String>,
    stop: Option<String>,
    generation: u32,
    /// The current incarnation's group leader, until it is reaped.
    child: Option<Child>,
}

/// The system under test's processes, one per node of a [`Cluster`]; stopped by
/// [`DbCluster::stop_all`] or on drop.
pub struct DbCluster {
    spec: DbSpec,
    nodes: Vec<DbNode>,
}

impl DbCluster {
    /// Start every node's process, then poll the readiness of all of them until all
    /// are ready or `ready_timeout` passes. `interrupted` is checked between polls:
    /// when it returns true everything is stopped and the result is `Err("interrupted
    /// …")`. A bad template is refused before anything starts. If a node's process
    /// exits meanwhile, or on timeout, everything is stopped and the error names the
    /// node(s), the exit status or ready command and its last output, and the end of
    /// the log.
    pub fn start(
        cluster: &Cluster,
        spec: &DbSpec,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<DbCluster, String> {
        let mut db = DbCluster::prepare(cluster, spec)?;
        for i in 0..db.nodes.len() {
            db.spawn(i, 0)?; // on error, `db` drops here and stops the others
        }
        db.wait_ready(interrupted)?;
        Ok(db)
    }

    /// Check the templates, make the directories and fill in every node's commands.
    fn prepare(cluster: &Cluster, spec: &DbSpec) -> Result<DbCluster, String> {
        for (flag, t) in [
            ("--db-start", Some(&spec.start)),
            ("--db-ready", spec.ready.as_ref()),
            ("--db-stop", spec.stop.as_ref()),
        ] {
            if let Some(t) = t {
                check_template(t).map_err(|e| format!("{flag}: {e}"))?;
            }
        }
        let absolute =
            |dir: &Path| std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()));
        let (log_dir, data_dir) = (absolute(&spec.log_dir)?, absolute(&spec.data_dir)?);
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| format!("could not create {}: {e}", log_dir.display()))?;
        let all = cluster.nodes();
        let joined = |f: &dyn Fn(&super::cluster::Node) -> String| {
            all.iter().map(f).collect::<Vec<_>>().join(",")
        };
        let mut values = template::Values {
            port: spec.client_port.to_string(),
            peer_port: spec.peer_port.to_string(),
            host_ip: cluster.host_ip().to_string(),
            cluster: joined(&|n| format!("{}=http://{}:{}", n.id, n.ip, spec.peer_port)),
            peers: joined(&|n| format!("{}:{}", n.ip, spec.client_port)),
            peer_ips: joined(&|n| n.ip.to_string()),
            ..Default::default()
        };
        let mut nodes = Vec::with_capacity(all.len());
        for node in all {
            let data = data_dir.join(&node.id);
            // Private (0700), as etcd wants its data directory (it warns otherwise).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&data)
                .map_err(|e| format!("could not create {}: {e}", data.display()))?;
            values.node.clone_from(&node.id);
            values.ip = node.ip.to_string();
            values.data = data.to_string_lossy().into_owned();
            let fill = |t: &String| template::expand(t, &values);
            nodes.push(DbNode {
                id: node.id.clone(),
                netns: node.netns.clone(),
                ip: node.ip,
                log: log_dir.join(format!("{}.log", node.id)),
                start: fill(&spec.start)?,
                ready: spec.ready.as_ref().map(fill).transpose()?,
                stop: spec.stop.as_ref().map(fill).transpose()?,
                data,
                generation: 0,
                child: None,
            });
        }
        Ok(DbCluster {
            spec: spec.clone(),
            nodes,
        })
    }

    /// Start incarnation `generation` of node `i`'s process (a restart marker first
    /// in the log when it is not the first).
    fn spawn(&mut self, i: usize, generation: u32) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let id = node.id.as_str();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| format!("could not open {}: {e}", node.log.display()))?;
        if generation > 0 {
            let _ = writeln!(log, "{}", restart_marker(id, generation));
        }
        let err = log
            .try_clone()
            .map_err(|e| format!("could not open {}: {e}", node.log.display()))?;
        let mut env = env_of(node).to_vec();
        if let Some(clocks) = &self.spec.clocks {
            let faked = clocks
                .environment(id)
                .map_err(|e| format!("could not set up the clock of node {id}: {e}"))?;
            env.extend(
                faked
                    .into_iter()
                    .map(|(k, v)| (k, v.to_string_lossy().into_owned())),
            );
        }
        let mut cmd = shell_in(&node.netns, &node.start, &env, &node.data);
        let child =
            cmd.stdout(log).stderr(err).spawn().map_err(|e| {
                format!("could not start node {id} (`{}`): {e}", quote(&node.start))
            })?;
        node.child = Some(child);
        node.generation = generation;
        Ok(())
    }

    /// Poll readiness in rounds over the nodes not yet ready (see [`DbCluster::start`]).
    fn wait_ready(&mut self, interrupted: &dyn Fn() -> bool) -> Result<(), String> {
        let started = Instant::now();
        let deadline = started + self.spec.ready_timeout;
        let mut ready = vec![false; self.nodes.len()];
        let mut last: Vec<Option<Outcome>> = vec![None; self.nodes.len()];
        loop {
            if interrupted() {
                return Err(INTERRUPTED.into());
            }
            self.refuse_exits()?;
            let pending: Vec<usize> = (0..ready.len()).filter(|&i| !ready[i]).collect();
            if pending.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.not_ready(&pending, &last, started.elapsed()));
            }
            let limit = ATTEMPT_LIMIT.min(deadline - now).max(POLL_EVERY);
            let mut running = Vec::new();
            for &i in &pending {
                match self.attempt(i, limit) {
                    Attempt::Done(outcome) => last[i] = Some(outcome),
                    Attempt::Running(short) => running.push((i, short)),
                }
            }
            while !running.is_empty() {
                if interrupted() {
                    running.into_iter().for_each(|(_, s)| s.abandon());
                    return Err(INTERRUPTED.into());
                }
                running.retain_mut(|(i, short)| match short.poll() {
                    Some(outcome) => {
                        last[*i] = Some(outcome);
                        false
                    }
                    None => true,
                });
                if !running.is_empty() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            for &i in &pending {
                ready[i] = last[i].as_ref().is_some_and(|o| o.ok);
            }
            if ready.iter().any(|r| !r) {
                std::thread::sleep(POLL_EVERY);
            }
        }
    }

    /// Start one readiness check of node `i`: its ready command, or a TCP connect.
    fn attempt(&self, i: usize, limit: Duration) -> Attempt {
        let node = &self.nodes[i];
        let Some(ready) = &node.ready else {
            let addr = SocketAddr::from((node.ip, self.spec.client_port));
            let result = TcpStream::connect_timeout(&addr, limit.min(Duration::from_secs(1)));
            return Attempt::Done(Outcome {
                ok: result.is_ok(),
                status: match result {
                    Ok(_) => "connected".into(),
                    Err(e) => format!("could not connect ({e})"),
                },
                output: String::new(),
            });
        };
        let cmd = shell_in(&node.netns, ready, &env_of(node), &node.data);
        match Short::start(cmd, limit) {
            Ok(short) => Attempt::Running(short),
            Err(e) => Attempt::Done(Outcome {
                ok: false,
                status: e,
                output: String::new(),
            }),
        }
    }

    /// `Err` naming the first node whose process has ended, with its log's end.
    fn refuse_exits(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            let Some(child) = node.child.as_mut().filter(|c| has_ended(c)) else {
                continue;
            };
            let status = kill_and_reap(child).map_or("ended".into(), crate::process::describe_exit);
            node.child = None;
            let (id, start) = (&self.nodes[i].id, &self.nodes[i].start);
            return Err(format!(
                "node {id}'s process {status} while waiting for the nodes to be ready \
                 (`{}`); {}",
                quote(start),
                self.quoted_tail(i)
            ));
        }
        Ok(())
    }

    /// The timeout's error: who is not ready, and for the first of them the check,
    /// its last outcome and the log's end.
    fn not_ready(&self, pending: &[usize], last: &[Option<Outcome>], waited: Duration) -> String {
        let names: Vec<&str> = pending.iter().map(|&i| self.nodes[i].id.as_str()).collect();
        let first = pending[0];
        let node = &self.nodes[first];
        let check = match &node.ready {
            Some(ready) => format!("the ready command `{}`", quote(ready)),
            None => format!(
                "a TCP connect to {} (no ready command)",
                self.client_addr(first)
            ),
        };
        let outcome = match &last[first] {
            None => "was never tried".to_string(),
            Some(o) if o.output.is_empty() => format!("last {}, printing nothing", o.status),
            Some(o) => format!("last {}, printing: {}", o.status, o.output),
        };
        format!(
            "timed out after {:.1} s waiting for node{} {} to be ready (ready timeout {} s); \
             for {}, {check} {outcome}; {}",
            waited.as_secs_f64(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.spec.ready_timeout.as_secs_f64(),
            node.id,
            self.quoted_tail(first)
        )
    }

    /// `its log (PATH) ends: …` with node `i`'s last lines of its current incarnation.
    fn quoted_tail(&self, i: usize) -> String {
        let tail = self.log_tail(i);
        let from = tail.len().saturating_sub(QUOTED_LINES);
        let text = if tail.is_empty() {
            "(empty)".to_string()
        } else {
            format!("\n    {}", tail[from..].join("\n    "))
        };
        format!(
            "its log {} ends: {}",
            self.log_path(i).display(),
            abridge_to(&text, QUOTED_LOG_CHARS)
        )
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes (never, for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `node`'s id.
    pub fn node_id(&self, node: usize) -> &str {
        &self.nodes[node].id
    }

    /// `ip:client_port` of node `node`.
    pub fn client_addr(&self, node: usize) -> String {
        format!("{}:{}", self.nodes[node].ip, self.spec.client_port)
    }

    /// Node `node`'s current incarnation: 0 at start, one more at each restart.
    pub fn generation(&self, node: usize) -> u32 {
        self.nodes[node].generation
    }

    /// The pid (and process group id) of node `node`'s current incarnation, until
    /// it is killed or its exit is taken by [`DbCluster::poll_exits`].
    pub fn pid(&self, node: usize) -> Option<u32> {
        self.nodes[node].child.as_ref().map(Child::id)
    }

    /// SIGCONT then SIGKILL node `node`'s process group and reap it (also when it
    /// had exited by itself, which is then not reported). Idempotent.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Start node `node`'s command again (same command, same data directory) as the
    /// next generation, which is returned; the old incarnation is killed first if it
    /// is still there. Returns at once, without waiting for readiness.
    pub fn restart(&mut self, node: usize) -> Result<u32, String> {
        self.kill(node);
        let next = self.nodes[node].generation + 1;
        self.spawn(node, next)?;
        Ok(next)
    }

    /// Move node `node`'s wall clock `offset_ms` off real time (0 resets it); the
    /// running process sees it at once (its clock file is re-read on every call).
    pub fn set_clock_offset(&self, node: usize, offset_ms: i64) -> Result<(), String> {
        let clocks = self
            .spec
            .clocks
            .as_ref()
            .ok_or("the nodes were not started under libfaketime")?;
        clocks
            .set_offset(&self.nodes[node].id, offset_ms)
            .map_err(|e| e.to_string())
    }

    /// SIGSTOP node `node`'s process group (if it runs).
    pub fn pause(&mut self, node: usize) {
        self.signal(node, libc::SIGSTOP);
    }

    /// SIGCONT node `node`'s process group (if it runs).
    pub fn resume(&mut self, node: usize) {
        self.signal(node, libc::SIGCONT);
    }

    fn signal(&mut self, node: usize, signal: i32) {
        if let Some(child) = &self.nodes[node].child {
            signal_group(child.id(), signal);
        }
    }

    /// One readiness check of node `node` now (its ready command, at most 5 s, or a
    /// TCP connect): `Err` says how it failed and what it printed.
    pub fn check_ready(&self, node: usize) -> Result<(), String> {
        let outcome = match self.attempt(node, ATTEMPT_LIMIT) {
            Attempt::Done(outcome) => outcome,
            Attempt::Running(short) => short.wait(),
        };
        match outcome {
            Outcome { ok: true, .. } => Ok(()),
            Outcome { status, output, .. } if output.is_empty() => Err(status),
            Outcome { status, output, .. } => Err(format!("{status}: {output}")),
        }
    }

    /// Without blocking: the current incarnations that have exited since last asked,
    /// as (node, generation, status in words such as `exited with status 1`); what
    /// is left of their process groups is killed. Incarnations ended by
    /// [`DbCluster::kill`], [`DbCluster::restart`] or [`DbCluster::stop_all`] are not
    /// reported.
    pub fn poll_exits(&mut self) -> Vec<(usize, u32, String)> {
        let mut exits = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if let Some(child) = node.child.as_mut().filter(|c| has_ended(c)) {
                let status =
                    kill_and_reap(child).map_or("ended".into(), crate::process::describe_exit);
                node.child = None;
                exits.push((i, node.generation, status));
            }
        }
        exits
    }

    /// The last lines of node `node`'s log written by its current generation.
    pub fn log_tail(&self, node: usize) -> Vec<String> {
        let n = &self.nodes[node];
        log_tail(&n.log, &n.id, n.generation)
    }

    /// Node `node`'s log file.
    pub fn log_path(&self, node: usize) -> PathBuf {
        self.nodes[node].log.clone()
    }

    /// End every live node: its stop command (inside the namespace, at most 10 s)
    /// or else SIGTERM to its group (after SIGCONT, so a paused one can act on it);
    /// wait at most 10 s in all for them to end, then SIGKILL what is left, and
    /// reap everything. A failing stop command is reported on stderr. Idempotent;
    /// also done on drop.
    pub fn stop_all(&mut self) {
        let deadline = Instant::now() + STOP_LIMIT;
        let mut stops = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(pid) = node.child.as_ref().map(Child::id) else {
                continue;
            };
            signal_group(pid, libc::SIGCONT);
            let started = node.stop.as_ref().map(|stop| {
                Short::start(
                    shell_in(&node.netns, stop, &env_of(node), &node.data),
                    STOP_LIMIT,
                )
            });
            match started {
                Some(Ok(short)) => stops.push((i, short)),
                Some(Err(e)) => {
                    eprintln!("straum: stopping node {}: {e}", node.id);
                    signal_group(pid, libc::SIGTERM);
                }
                None => signal_group(pid, libc::SIGTERM),
            }
        }
        loop {
            stops.retain_mut(|(i, short)| match short.poll() {
                Some(Outcome { ok: true, .. }) => false,
                Some(Outcome { status, output, .. }) => {
                    let node = &self.nodes[*i];
                    eprintln!(
                        "straum: stopping node {}: `{}` {status}: {output}",
                        node.id,
                        quote(node.stop.as_deref().unwrap_or_default())
                    );
                    false
                }
                None => true,
            });
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut().filter(|c| has_ended(c)) {
                    kill_and_reap(child);
                    node.child = None;
                }
            }
            let live = self.nodes.iter().any(|n| n.child.is_some());
            if (!live && stops.is_empty()) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stops.into_iter().for_each(|(_, short)| short.abandon());
        for node in 0..self.nodes.len() {
            self.kill(node);
        }
    }
}

impl Drop for DbCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// A readiness check: finished at once (TCP) or a command still running.
enum Attempt {
    Done(Outcome),
    Running(Short),
}

/// The environment every command of `node` gets.
fn env_of(node: &DbNode) -> [(&'static str, String); 3] {
    [
        ("STRAUM_NODE", node.id.clone()),
        ("STRAUM_NODE_IP", node.ip.to_string()),
        (
            straum_node::DATA_DIR_VARIABLE,
            node.data.to_string_lossy().into_owned(),
        ),
    ]
}

/// A command for an error message, abridged.
fn quote(command: &str) -> std::borrow::Cow<'_, str> {
    abridge_to(command, 200)
}

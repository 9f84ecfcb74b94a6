//! Spawned node processes on wall-clock time: the production [`Backend`].
//!
//! Each node is a process in its own process group (so a shell wrapper's children die
//! with it) that dies with the harness (parent-death signal). Every node's stdout,
//! stderr, stdin and exit are watched by one poller (epoll) on the core's own thread:
//! no thread per node, so node count costs file descriptors, not threads. Reads are
//! non-blocking and fair — one chunk per ready node per round, and no new round while
//! the core still has events to take — which is the back-pressure on a node that
//! floods. Deliveries queue per node and are written in batches without blocking; a
//! node that stops reading leaves them queued, which the stalled-reader watchdog sees.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::backend::{
    Backend, BackendEvent, DeliveryError, Generation, Nanos, NodeDiagnostics, NodeIndex,
};
use crate::faketime::Clocks;
use crate::wire::{parse_line, LineError};

mod limits;
pub(crate) mod lines;
pub(crate) mod poller;
pub(crate) mod spawn;
pub(crate) mod stderr;
mod stdin;

pub use limits::ensure_room_for;
use lines::{quote, trim_line_end, LineFramer, Piece};
use poller::{Interest, Poller, Waker, WAKE_KEY};
use spawn::{kill_group, signal_group};
use stderr::{log_tail, StderrEcho};
use stdin::{Flushed, Outbox};

/// Bytes read from one node's stdout or stderr per round.
const CHUNK_BYTES: usize = 64 * 1024;
/// Events handed to the core between two flushes of the queued deliveries.
const FLUSH_EVERY: usize = 256;
/// Most bytes read from a node's pipes once it has exited, before its exit is told.
const DRAIN_AT_EXIT: usize = 1 << 20;

/// How to start the nodes.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The node program.
    pub bin: PathBuf,
    /// Arguments passed to every node.
    pub args: Vec<String>,
    /// Node ids, in order; node i is `node_ids[i]`.
    pub node_ids: Vec<String>,
    /// Where `<id>.log` files go.
    pub log_dir: PathBuf,
    /// The nodes' working directory.
    pub work_dir: PathBuf,
    /// Longest accepted stdout line in bytes; longer lines are rejected unread.
    pub max_line_bytes: usize,
    /// Echo node stderr to the harness's stderr too.
    pub echo_stderr: bool,
    /// Where each node gets a data directory `<dir>/<id>` that survives restarts,
    /// passed in the environment variable `STRAUM_NODE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// The run's seed, passed in `STRAUM_NODE_SEED` so SDK nodes seed their
    /// `Context::rng` from it.
    pub seed: Option<u64>,
}

/// The environment variable naming a node's data directory.
pub use straum_node::DATA_DIR_VARIABLE;

/// Which of a process's descriptors a poller key is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Stdout = 0,
    Stderr = 1,
    Stdin = 2,
    Exit = 3,
}

const SOURCES: usize = 4;

fn key(slot: usize, source: Source) -> u64 {
    (slot * SOURCES + source as usize) as u64
}

fn source_of(key: u64) -> (usize, Source) {
    let key = key as usize;
    let source = match key % SOURCES {
        0 => Source::Stdout,
        1 => Source::Stderr,
        2 => Source::Stdin,
        _ => Source::Exit,
    };
    (key / SOURCES, source)
}

/// One incarnation of a node.
struct Proc {
    node: NodeIndex,
    generation: Generation,
    pid: i32,
    child: Child,
    /// Still the node's incarnation (false once a restart replaced it: its output is
    /// no longer the node's).
    current: bool,
    exited: bool,
    stdin: Option<ChildStdin>,
    /// The poller watches stdin for room (only while deliveries wait).
    stdin_watched: bool,
    outbox: Outbox,
    dirty: bool,
    stdout: Option<ChildStdout>,
    framer: LineFramer,
    /// The piped stderr when it is echoed; behind a cell so that
    /// [`Backend::diagnostics`] can catch a dying node's last words through `&self`.
    stderr: RefCell<Option<(ChildStderr, StderrEcho)>>,
    pidfd: Option<OwnedFd>,
    log_path: PathBuf,
}

/// Node processes on wall-clock time.
pub struct ProcessBackend {
    start: Instant,
    spec: SpawnSpec,
    clocks: Option<Clocks>,
    poller: Arc<Poller>,
    /// Keys of the current round's events, so they can be handled with `&mut self`.
    round: Vec<u64>,
    exits: Vec<usize>,
    procs: Vec<Option<Proc>>,
    free_slots: Vec<usize>,
    /// The slot of each node's current incarnation.
    slot_of: Vec<usize>,
    ready: VecDeque<BackendEvent>,
    dirty: Vec<usize>,
    chunk: Vec<u8>,
    interrupted: Arc<AtomicBool>,
    served_since_flush: usize,
    stopped: bool,
}

impl ProcessBackend {
    /// Spawn every node. On error, nodes already started are stopped.
    pub fn spawn(spec: &SpawnSpec) -> Result<ProcessBackend, String> {
        ProcessBackend::spawn_with_clocks(spec, None)
    }

    /// Spawn every node, each under libfaketime with its own clock if `clocks` is
    /// given (the clock fault). Refuses before starting any when this process's limits
    /// cannot hold them all ([`ensure_room_for`]).
    pub fn spawn_with_clocks(
        spec: &SpawnSpec,
        clocks: Option<Clocks>,
    ) -> Result<ProcessBackend, String> {
        ensure_room_for(spec.node_ids.len(), spec.echo_stderr)?;
        let poller =
            Arc::new(Poller::new().map_err(|e| format!("could not create a poller: {e}"))?);
        let interrupted = Arc::new(AtomicBool::new(false));
        register_interrupt_sink(poller.waker(), Arc::clone(&interrupted));
        let count = spec.node_ids.len();
        let mut backend = ProcessBackend {
            start: Instant::now(),
            spec: spec.clone(),
            clocks,
            poller,
            round: Vec::new(),
            exits: Vec::new(),
            procs: Vec::with_capacity(count),
            free_slots: Vec::new(),
            slot_of: Vec::with_capacity(count),
            ready: VecDeque::new(),
            dirty: Vec::new(),
            chunk: vec![0; CHUNK_BYTES],
            interrupted,
            served_since_flush: 0,
            stopped: false,
        };
        for index in 0..count {
            let slot = backend.spawn_node(index, 0)?;
            backend.slot_of.push(slot);
        }
        Ok(backend)
    }

    fn spawn_node(&mut self, index: NodeIndex, generation: Generation) -> Result<usize, String> {
        let spawned = spawn::spawn(&self.spec, index, generation, self.clocks.as_ref())?;
        let slot = self.free_slots.pop().unwrap_or(self.procs.len());
        let id = &self.spec.node_ids[index];
        // Every descriptor added here is deleted from the poller before it is closed
        // (`close_stdout`, `read_stderr_once`, `close_stdin`, `reap`, `release`).
        let watch = |fd: i32, source: Source| {
            self.poller
                .add(fd, Interest::Read, key(slot, source))
                .map_err(|e| format!("could not watch node {id}: {e}"))
        };
        watch(spawned.stdout.as_raw_fd(), Source::Stdout)?;
        if let Some((pipe, _)) = &spawned.stderr {
            watch(pipe.as_raw_fd(), Source::Stderr)?;
        }
        watch(spawned.pidfd.as_raw_fd(), Source::Exit)?;
        let stderr = spawned
            .stderr
            .map(|(pipe, log)| (pipe, StderrEcho::new(log, id.clone())));
        let proc = Proc {
            node: index,
            generation,
            pid: spawned.child.id() as i32,
            child: spawned.child,
            current: true,
            exited: false,
            stdin: Some(spawned.stdin),
            stdin_watched: false,
            outbox: Outbox::default(),
            dirty: false,
            stdout: Some(spawned.stdout),
            framer: LineFramer::new(self.spec.max_line_bytes),
            stderr: RefCell::new(stderr),
            pidfd: Some(spawned.pidfd),
            log_path: self.spec.log_dir.join(format!("{id}.log")),
        };
        if slot == self.procs.len() {
            self.procs.push(Some(proc));
        } else {
            self.procs[slot] = Some(proc);
        }
        Ok(slot)
    }

    fn current(&self, node: NodeIndex) -> &Proc {
        self.procs[self.slot_of[node]]
            .as_ref()
            .expect("a node's current slot holds its process")
    }

    fn current_mut(&mut self, node: NodeIndex) -> &mut Proc {
        self.procs[self.slot_of[node]]
            .as_mut()
            .expect("a node's current slot holds its process")
    }

    /// Write what waits for every node that has deliveries queued.
    fn flush_all(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let now = self.now();
        let mut dirty = std::mem::take(&mut self.dirty);
        for slot in dirty.drain(..) {
            let Some(proc) = self.procs[slot].as_mut() else {
                continue;
            };
            proc.dirty = false;
            let Some(stdin) = proc.stdin.as_mut() else {
                continue;
            };
            match proc.outbox.flush(stdin, now) {
                Flushed::All => {
                    if proc.stdin_watched {
                        proc.stdin_watched = false;
                        self.poller.delete(stdin.as_raw_fd());
                    }
                }
                Flushed::Blocked => {
                    if !proc.stdin_watched {
                        let added = self.poller.add(
                            stdin.as_raw_fd(),
                            Interest::Write,
                            key(slot, Source::Stdin),
                        );
                        proc.stdin_watched = added.is_ok();
                    }
                }
                Flushed::Closed => close_stdin(&self.poller, proc),
            }
        }
        self.dirty = dirty;
    }

    /// One round of the poller: wait up to `timeout`, then read one chunk from every
    /// ready pipe, note writable stdins, and reap exited processes (after their
    /// output, so nothing a node printed before dying is lost).
    fn poll(&mut self, timeout: Duration) {
        self.round.clear();
        if let Err(e) = self.poller.wait(&mut self.round, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                // Nothing sensible is left to wait on; let the core's deadlines run.
                std::thread::sleep(timeout.min(Duration::from_millis(10)));
            }
            return;
        }
        let round = std::mem::take(&mut self.round);
        for &key in &round {
            if key == WAKE_KEY {
                continue; // the interrupt flag says why
            }
            let (slot, source) = source_of(key);
            match source {
                Source::Stdout => {
                    self.read_stdout(slot);
                }
                Source::Stderr => {
                    self.read_stderr(slot);
                }
                Source::Stdin => self.mark_dirty(slot),
                Source::Exit => self.exits.push(slot),
            }
        }
        self.round = round;
        self.flush_all();
        let mut exits = std::mem::take(&mut self.exits);
        for slot in exits.drain(..) {
            self.reap(slot);
        }
        self.exits = exits;
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(proc) = self.procs[slot].as_mut() {
            if !proc.dirty {
                proc.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Read one chunk of a node's stdout and turn its complete lines into events.
    /// Returns false once there is nothing more to read now.
    fn read_stdout(&mut self, slot: usize) -> bool {
        let Some(proc) = self.procs[slot].as_mut() else {
            return false;
        };
        let Some(stdout) = proc.stdout.as_mut() else {
            return false;
        };
        let read = match stdout.read(&mut self.chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => return true,
            Err(_) => 0,
        };
        let (node, generation, current) = (proc.node, proc.generation, proc.current);
        let max = self.spec.max_line_bytes;
        let ready = &mut self.ready;
        let mut emit = |piece: Piece<'_>| {
            if current {
                if let Some(event) = line_event(node, piece, max) {
                    ready.push_back(event);
                }
            }
        };
        if read == 0 {
            proc.framer.finish(&mut emit);
            close_stdout(&self.poller, proc);
            if current {
                self.ready
                    .push_back(BackendEvent::StdoutClosed { node, generation });
            }
            return false;
        }
        proc.framer.feed(&self.chunk[..read], &mut emit);
        true
    }

    /// Read one chunk of a node's stderr into its log; false once nothing is left now.
    fn read_stderr(&mut self, slot: usize) -> bool {
        match self.procs[slot].as_mut() {
            Some(proc) => read_stderr_once(&self.poller, proc.stderr.get_mut(), &mut self.chunk),
            None => false,
        }
    }

    /// A process's pidfd is readable: collect its status, drain what it printed, and
    /// tell the core.
    fn reap(&mut self, slot: usize) {
        let Some(proc) = self.procs[slot].as_mut() else {
            return;
        };
        if proc.exited {
            return;
        }
        let status = match proc.child.try_wait() {
            Ok(None) => return,
            Ok(Some(status)) => describe_exit(status),
            Err(e) => format!("could not be waited for ({e})"),
        };
        proc.exited = true;
        if let Some(pidfd) = proc.pidfd.take() {
            self.poller.delete(pidfd.as_raw_fd());
        }
        let (node, generation, current) = (proc.node, proc.generation, proc.current);
        let mut drained = 0;
        while drained < DRAIN_AT_EXIT && self.read_stdout(slot) {
            drained += CHUNK_BYTES;
        }
        while drained < 2 * DRAIN_AT_EXIT && self.read_stderr(slot) {
            drained += CHUNK_BYTES;
        }
        self.ready.push_back(BackendEvent::Exited {
            node,
            generation,
            status,
        });
        if !current {
            self.release(slot);
        }
    }

    /// Forget a process that is no longer any node's: close what is left of it.
    fn release(&mut self, slot: usize) {
        if let Some(mut proc) = self.procs[slot].take() {
            close_all(&self.poller, &mut proc);
            self.free_slots.push(slot);
        }
    }
}

/// The event for one piece of a node's stdout (`None` for a blank line).
fn line_event(node: NodeIndex, piece: Piece<'_>, max_line_bytes: usize) -> Option<BackendEvent> {
    match piece {
        Piece::Line(text) => {
            if text.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            Some(match parse_line(text) {
                Ok(envelope) => BackendEvent::Output { node, envelope },
                Err(reason) => BackendEvent::BadLine {
                    node,
                    line: quote(text),
                    reason,
                },
            })
        }
        Piece::TooLong { start, read, ended } => Some(BackendEvent::BadLine {
            node,
            line: quote(trim_line_end(start)),
            reason: LineError::NotJson(format!(
                "a line passed the {max_line_bytes}-byte limit (--max-line-bytes) after \
                 {read} bytes{}",
                if ended { "" } else { " without a newline" }
            )),
        }),
    }
}

/// Read one chunk of a node's piped stderr into its log, closing the pipe at its end;
/// false once nothing is left to read now.
fn read_stderr_once(
    poller: &Poller,
    stderr: &mut Option<(ChildStderr, StderrEcho)>,
    chunk: &mut [u8],
) -> bool {
    let Some((pipe, echo)) = stderr.as_mut() else {
        return false;
    };
    match pipe.read(chunk) {
        Ok(n) if n > 0 => {
            echo.feed(&chunk[..n]);
            true
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) if e.kind() == ErrorKind::Interrupted => true,
        _ => {
            echo.finish();
            if let Some((pipe, _)) = stderr.take() {
                poller.delete(pipe.as_raw_fd());
            }
            false
        }
    }
}

/// Close every descriptor the harness holds for `proc` (its exit status stays).
fn close_all(poller: &Poller, proc: &mut Proc) {
    close_stdin(poller, proc);
    close_stdout(poller, proc);
    if let Some((pipe, _)) = proc.stderr.get_mut().take() {
        poller.delete(pipe.as_raw_fd());
    }
    if let Some(pidfd) = proc.pidfd.take() {
        poller.delete(pidfd.as_raw_fd());
    }
}

fn close_stdin(poller: &Poller, proc: &mut Proc) {
    if let Some(stdin) = proc.stdin.take() {
        if proc.stdin_watched {
            poller.delete(stdin.as_raw_fd());
        }
    }
    proc.stdin_watched = false;
}

fn close_stdout(poller: &Poller, proc: &mut Proc) {
    if let Some(stdout) = proc.stdout.take() {
        poller.delete(stdout.as_raw_fd());
    }
}

/// An exit status in words: "exited with status 3", "was killed by signal 9 (SIGKILL)".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(signal) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        None => "ended".to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

impl Backend for ProcessBackend {
    fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    fn deliver(&mut self, node: NodeIndex, line: &[u8]) -> Result<(), DeliveryError> {
        let slot = self.slot_of[node];
        let proc = self.current_mut(node);
        if !proc.outbox.push(line) {
            return Err(DeliveryError::InboxFull {
                queued: proc.outbox.queued_lines(),
            });
        }
        self.mark_dirty(slot);
        Ok(())
    }

    fn wait(&mut self, until: Nanos) -> Option<BackendEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                self.served_since_flush += 1;
                if self.served_since_flush >= FLUSH_EVERY {
                    self.served_since_flush = 0;
                    self.flush_all();
                }
                return Some(event);
            }
            self.served_since_flush = 0;
            self.flush_all();
            if self.interrupted.swap(false, Ordering::AcqRel) {
                return Some(BackendEvent::Interrupted {
                    signal: "SIGINT/SIGTERM",
                });
            }
            let now = self.now();
            // Before sleeping, let the nodes just written to run once: what they answer
            // is then read in one round with the rest, not each in a wake-up of its own
            // (a context switch per few messages was most of the harness's CPU).
            if now < until {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
                self.poll(Duration::ZERO);
                if !self.ready.is_empty() {
                    continue;
                }
            }
            self.poll(Duration::from_nanos(until.saturating_sub(now)));
            if self.ready.is_empty()
                && self.now() >= until
                && !self.interrupted.load(Ordering::Acquire)
            {
                return None;
            }
        }
    }

    fn diagnostics(&self, node: NodeIndex) -> NodeDiagnostics {
        let proc = self.current(node);
        // Give a dying node a moment to finish its last words, then read them.
        std::thread::sleep(Duration::from_millis(50));
        let mut chunk = vec![0; CHUNK_BYTES];
        let mut stderr = proc.stderr.borrow_mut();
        for _ in 0..DRAIN_AT_EXIT / CHUNK_BYTES {
            if !read_stderr_once(&self.poller, &mut stderr, &mut chunk) {
                break;
            }
        }
        NodeDiagnostics {
            stderr_tail: log_tail(&proc.log_path, &self.spec.node_ids[node], proc.generation),
            log_path: Some(proc.log_path.clone()),
        }
    }

    fn stop_all(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for proc in self.procs.iter().flatten().filter(|p| !p.exited) {
            kill_group(proc.pid);
        }
        // Reap every node so that no child outlives the run.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && self.procs.iter().flatten().any(|p| !p.exited) {
            self.poll(Duration::from_millis(10));
            self.ready.clear();
        }
        let unreaped: Vec<i32> = self
            .procs
            .iter()
            .flatten()
            .filter(|p| !p.exited)
            .map(|p| p.pid)
            .collect();
        crate::orphans::kill_adopted(&unreaped, Duration::from_secs(2));
        unregister_interrupt_sink();
        // Keep every node's entry: diagnostics may still be asked for.
        for proc in self.procs.iter_mut().flatten() {
            close_all(&self.poller, proc);
        }
    }

    fn kill(&mut self, node: NodeIndex) {
        let proc = self.current(node);
        if !proc.exited {
            kill_group(proc.pid);
        }
    }

    fn restart(&mut self, node: NodeIndex) -> Result<Generation, String> {
        let old_slot = self.slot_of[node];
        let poller = Arc::clone(&self.poller);
        let old = self.current_mut(node);
        if !old.exited {
            kill_group(old.pid);
        }
        old.current = false;
        let generation = old.generation + 1;
        if old.exited {
            self.release(old_slot);
        } else {
            // Only its exit is still of interest; what it printed is not the node's.
            close_stdin(&poller, old);
            close_stdout(&poller, old);
        }
        let slot = self.spawn_node(node, generation)?;
        self.slot_of[node] = slot;
        Ok(generation)
    }

    fn pause(&mut self, node: NodeIndex) {
        let proc = self.current(node);
        if !proc.exited {
            signal_group(proc.pid, libc::SIGSTOP);
        }
    }

    fn resume(&mut self, node: NodeIndex) {
        let proc = self.current(node);
        if !proc.exited {
            signal_group(proc.pid, libc::SIGCONT);
        }
    }

    fn set_clock_offset(&mut self, node: NodeIndex, offset_ms: i64) -> Result<(), String> {
        let clocks = self
            .clocks
            .as_ref()
            .ok_or("the nodes were not started under libfaketime")?;
        clocks
            .set_offset(&self.spec.node_ids[node], offset_ms)
            .map_err(|e| e.to_string())
    }

    fn write_blocked_for(&self, node: NodeIndex) -> Option<Nanos> {
        self.current(node).outbox.stalled_for(self.now())
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Where SIGINT/SIGTERM go while a backend runs: a way to wake its poller and a flag.
type InterruptSink = (Arc<Waker>, Arc<AtomicBool>);

static INTERRUPT_SINK: Mutex<Option<InterruptSink>> = Mutex::new(None);
static HANDLER: OnceLock<()> = OnceLock::new();

/// Route SIGINT/SIGTERM into the running backend's event stream.
pub(crate) fn register_interrupt_sink(waker: Arc<Waker>, flag: Arc<AtomicBool>) {
    HANDLER.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            let sink = INTERRUPT_SINK.lock().unwrap_or_else(|e| e.into_inner());
            match sink.as_ref() {
                Some((waker, flag)) => {
                    flag.store(true, Ordering::Release);
                    waker.wake();
                }
                None => std::process::exit(130),
            }
        });
    });
    *INTERRUPT_SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some((waker, flag));
}

pub(crate) fn unregister_interrupt_sink() {
    *INTERRUPT_SINK.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Resolve `--bin` the way Maelstrom does (canonical absolute path), or say why not.
pub fn resolve_bin(bin: &Path) -> Result<PathBuf, String> {
    let path = bin
        .canonicalize()
        .map_err(|e| format!("--bin {}: {e}", bin.display()))?;
    let meta = std::fs::metadata(&path).map_err(|e| format!("--bin {}: {e}", bin.display()))?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() {
        return Err(format!("--bin {}: not a file", bin.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "--bin {}: not executable (try chmod +x)",
            bin.display()
        ));
    }
    Ok(path)
}

//! Spawned node processes on wall-clock time: the production [`Backend`].
//!
//! Each node is a process in its own process group (so a shell wrapper's children die
//! with it), with four helper threads: a stdout reader that parses lines into envelopes,
//! a stderr reader that writes `node-logs/<id>.log`, a writer fed through a bounded
//! inbox (so a node that stops reading cannot block the core), and a waiter that
//! reports the exit. Every event reaches the core through one bounded channel.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, LineWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::backend::{
    Backend, BackendEvent, DeliveryError, Generation, Nanos, NodeDiagnostics, NodeIndex,
};
use crate::faketime::Clocks;
use crate::wire::{parse_line, LineError};

/// Lines of stderr kept per node for error reports.
const STDERR_TAIL_LINES: usize = 32;
/// Characters of an offending line quoted in a report.
const QUOTED_LINE_CHARS: usize = 500;
/// Lines that may wait for a node that is slow to read its stdin.
const INBOX_CAPACITY: usize = 65_536;
/// Events that may wait for the core before readers block (backpressure on nodes).
const EVENT_CAPACITY: usize = 16_384;

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

struct NodeProcess {
    pid: i32,
    generation: Generation,
    inbox: Sender<Vec<u8>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    log_path: PathBuf,
    /// Nanoseconds since the backend started (+1) at which the current write to the
    /// node's stdin began, or 0 when no write is blocked.
    write_blocked_since: Arc<AtomicU64>,
    exited: Arc<AtomicBool>,
}

/// Node processes on wall-clock time.
pub struct ProcessBackend {
    start: Instant,
    spec: SpawnSpec,
    events: Receiver<BackendEvent>,
    event_sender: Sender<BackendEvent>,
    nodes: Vec<NodeProcess>,
    stopped: bool,
    clocks: Option<Clocks>,
}

impl ProcessBackend {
    /// Spawn every node. On error, nodes already started are stopped.
    pub fn spawn(spec: &SpawnSpec) -> Result<ProcessBackend, String> {
        ProcessBackend::spawn_with_clocks(spec, None)
    }

    /// Spawn every node, each under libfaketime with its own clock if `clocks` is
    /// given (the clock fault).
    pub fn spawn_with_clocks(
        spec: &SpawnSpec,
        clocks: Option<Clocks>,
    ) -> Result<ProcessBackend, String> {
        let (tx, events) = crossbeam_channel::bounded(EVENT_CAPACITY);
        register_interrupt_sink(tx.clone());
        let mut backend = ProcessBackend {
            start: Instant::now(),
            spec: spec.clone(),
            events,
            event_sender: tx,
            nodes: Vec::new(),
            stopped: false,
            clocks,
        };
        for index in 0..spec.node_ids.len() {
            let node = backend.spawn_node(index, 0)?;
            backend.nodes.push(node);
        }
        Ok(backend)
    }

    fn spawn_node(&self, index: NodeIndex, generation: Generation) -> Result<NodeProcess, String> {
        spawn_node(
            &self.spec,
            index,
            generation,
            &self.event_sender,
            self.start,
            self.clocks.as_ref(),
        )
    }
}

fn spawn_node(
    spec: &SpawnSpec,
    index: NodeIndex,
    generation: Generation,
    events: &Sender<BackendEvent>,
    start: Instant,
    clocks: Option<&Clocks>,
) -> Result<NodeProcess, String> {
    let id = spec.node_ids[index].as_str();
    let mut command = Command::new(&spec.bin);
    if let Some(clocks) = clocks {
        let env = clocks
            .environment(id)
            .map_err(|e| format!("could not set up the clock of node {id}: {e}"))?;
        command.envs(env);
    }
    if let Some(data_dir) = &spec.data_dir {
        let dir = data_dir.join(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        command.env(DATA_DIR_VARIABLE, dir);
    }
    if let Some(seed) = spec.seed {
        command.env(straum_node::SEED_VARIABLE, seed.to_string());
    }
    command
        .args(&spec.args)
        .current_dir(&spec.work_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it makes the kernel kill the node if the
    // harness dies without running its teardown (e.g. SIGKILL).
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {} for node {id}: {e}", spec.bin.display()))?;
    let pid = child.id() as i32;
    let log_path = spec.log_dir.join(format!("{id}.log"));
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("could not open {}: {e}", log_path.display()))?;
    if generation > 0 {
        let _ = writeln!(
            log,
            "--- straum restarted {id} (generation {generation}) ---"
        );
    }
    let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
    let write_blocked_since = Arc::new(AtomicU64::new(0));
    let exited = Arc::new(AtomicBool::new(false));

    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (inbox, inbox_rx) = crossbeam_channel::bounded(INBOX_CAPACITY);
    let blocked = Arc::clone(&write_blocked_since);
    spawn_thread(format!("{id} stdin"), move || {
        write_stdin(stdin, inbox_rx, blocked, start)
    });
    let tx = events.clone();
    let max = spec.max_line_bytes;
    spawn_thread(format!("{id} stdout"), move || {
        read_stdout(index, generation, stdout, max, tx)
    });
    let tail = Arc::clone(&stderr_tail);
    let echo = spec.echo_stderr.then(|| id.to_string());
    spawn_thread(format!("{id} stderr"), move || {
        read_stderr(stderr, log, tail, echo)
    });
    let tx = events.clone();
    let done = Arc::clone(&exited);
    spawn_thread(format!("{id} waiter"), move || {
        wait_for_exit(index, generation, child, done, tx)
    });
    Ok(NodeProcess {
        pid,
        generation,
        inbox,
        stderr_tail,
        log_path,
        write_blocked_since,
        exited,
    })
}

fn spawn_thread(name: String, body: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name)
        .stack_size(256 * 1024)
        .spawn(body)
        .expect("spawning a thread");
}

fn write_stdin(
    stdin: std::process::ChildStdin,
    inbox: Receiver<Vec<u8>>,
    blocked_since: Arc<AtomicU64>,
    start: Instant,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, stdin);
    let write = |out: &mut BufWriter<_>, line: Option<&[u8]>| {
        blocked_since.store(start.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
        let result = match line {
            Some(line) => out.write_all(line),
            None => out.flush(),
        };
        blocked_since.store(0, Ordering::Relaxed);
        result.is_ok()
    };
    while let Ok(line) = inbox.recv() {
        if !write(&mut out, Some(&line)) {
            return;
        }
        while let Ok(line) = inbox.try_recv() {
            if !write(&mut out, Some(&line)) {
                return;
            }
        }
        if !write(&mut out, None) {
            return;
        }
    }
}

fn read_stdout(
    node: NodeIndex,
    generation: Generation,
    stdout: std::process::ChildStdout,
    max_line_bytes: usize,
    events: Sender<BackendEvent>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let event = match read_capped_line(&mut reader, &mut line, max_line_bytes) {
            Ok(LineRead::Eof) | Err(_) => {
                let _ = events.send(BackendEvent::StdoutClosed { node, generation });
                return;
            }
            Ok(LineRead::TooLong { read, ended }) => {
                let event = BackendEvent::BadLine {
                    node,
                    line: quote(&line),
                    reason: LineError::NotJson(format!(
                        "a line passed the {max_line_bytes}-byte limit (--max-line-bytes) after \
                         {read} bytes{}",
                        if ended { "" } else { " without a newline" }
                    )),
                };
                if events.send(event).is_err() {
                    return;
                }
                if !ended && !matches!(discard_rest_of_line(&mut reader), Ok(true)) {
                    let _ = events.send(BackendEvent::StdoutClosed { node, generation });
                    return;
                }
                continue;
            }
            Ok(LineRead::Line) => {
                let text = trim_line_end(&line);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match parse_line(text) {
                    Ok(envelope) => BackendEvent::Output { node, envelope },
                    Err(reason) => BackendEvent::BadLine {
                        node,
                        line: quote(text),
                        reason,
                    },
                }
            }
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

enum LineRead {
    Line,
    Eof,
    /// The line passed the limit after this many bytes; it is reported at once, while
    /// the node may still be writing it. `ended` says whether its newline was read.
    TooLong {
        read: usize,
        ended: bool,
    },
}

/// Read up to and including the next `\n` into `line`, holding at most `max` bytes in
/// memory. A line that grows past `max` is reported as soon as it does, with its first
/// bytes kept for the quote; [`discard_rest_of_line`] skips what remains of it.
fn read_capped_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(if line.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let used = chunk.len();
        if line.len() + used > max {
            let read = line.len() + used;
            let room = QUOTED_LINE_CHARS.saturating_sub(line.len()).min(used);
            line.extend_from_slice(&chunk[..room]);
            reader.consume(used);
            return Ok(LineRead::TooLong { read, ended: done });
        }
        line.extend_from_slice(chunk);
        reader.consume(used);
        if done {
            return Ok(LineRead::Line);
        }
    }
}

/// Skip to just past the next `\n`; false at end of input.
fn discard_rest_of_line(reader: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(false);
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(true);
            }
            None => {
                let used = available.len();
                reader.consume(used);
            }
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() > QUOTED_LINE_CHARS {
        let cut: String = text.chars().take(QUOTED_LINE_CHARS).collect();
        format!("{cut}…")
    } else {
        text.into_owned()
    }
}

fn read_stderr(
    stderr: std::process::ChildStderr,
    log: File,
    tail: Arc<Mutex<VecDeque<String>>>,
    echo_as: Option<String>,
) {
    let mut log = LineWriter::new(log);
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.by_ref().take(1 << 20).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let _ = log.write_all(&buf);
        let text = String::from_utf8_lossy(trim_line_end(&buf)).into_owned();
        if let Some(id) = &echo_as {
            eprintln!("{id} stderr: {text}");
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}

fn wait_for_exit(
    node: NodeIndex,
    generation: Generation,
    mut child: Child,
    exited: Arc<AtomicBool>,
    events: Sender<BackendEvent>,
) {
    let status = match child.wait() {
        Ok(status) => describe_exit(status),
        Err(e) => format!("could not be waited for ({e})"),
    };
    exited.store(true, Ordering::Release);
    let _ = events.send(BackendEvent::Exited {
        node,
        generation,
        status,
    });
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

    fn deliver(&mut self, node: NodeIndex, line: Vec<u8>) -> Result<(), DeliveryError> {
        match self.nodes[node].inbox.try_send(line) {
            // A node whose stdin closed has exited or is exiting; its exit is reported.
            Ok(()) | Err(TrySendError::Disconnected(_)) => Ok(()),
            Err(TrySendError::Full(_)) => Err(DeliveryError::InboxFull {
                queued: INBOX_CAPACITY,
            }),
        }
    }

    fn wait(&mut self, until: Nanos) -> Option<BackendEvent> {
        let deadline = self.start + std::time::Duration::from_nanos(until);
        match self.events.recv_deadline(deadline) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                None
            }
        }
    }

    fn diagnostics(&self, node: NodeIndex) -> NodeDiagnostics {
        let process = &self.nodes[node];
        // Give the stderr reader a moment to catch the last words of a dying node.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let tail = process
            .stderr_tail
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        NodeDiagnostics {
            stderr_tail: tail.iter().cloned().collect(),
            log_path: Some(process.log_path.clone()),
        }
    }

    fn stop_all(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for node in &self.nodes {
            kill_group(node.pid);
        }
        // Wait until every node's waiter has reaped it, so no child outlives the run;
        // drain events meanwhile so no reader blocks on a full channel.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while Instant::now() < deadline
            && !self.nodes.iter().all(|n| n.exited.load(Ordering::Acquire))
        {
            let _ = self
                .events
                .recv_timeout(std::time::Duration::from_millis(10));
        }
        let nodes: Vec<i32> = self.nodes.iter().map(|n| n.pid).collect();
        crate::orphans::kill_adopted(&nodes, std::time::Duration::from_secs(2));
        unregister_interrupt_sink();
    }

    fn kill(&mut self, node: NodeIndex) {
        kill_group(self.nodes[node].pid);
    }

    fn restart(&mut self, node: NodeIndex) -> Result<Generation, String> {
        let old = &self.nodes[node];
        kill_group(old.pid);
        let generation = old.generation + 1;
        let process = self.spawn_node(node, generation)?;
        self.nodes[node] = process;
        Ok(generation)
    }

    fn pause(&mut self, node: NodeIndex) {
        signal_group(self.nodes[node].pid, libc::SIGSTOP);
    }

    fn resume(&mut self, node: NodeIndex) {
        signal_group(self.nodes[node].pid, libc::SIGCONT);
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
        let since = self.nodes[node].write_blocked_since.load(Ordering::Relaxed);
        (since != 0).then(|| (self.now() + 1).saturating_sub(since))
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn kill_group(pid: i32) {
    signal_group(pid, libc::SIGCONT);
    signal_group(pid, libc::SIGKILL);
}

fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the node leads.
    unsafe {
        libc::kill(-pid, signal);
    }
}

static INTERRUPT_SINK: Mutex<Option<Sender<BackendEvent>>> = Mutex::new(None);
static HANDLER: OnceLock<()> = OnceLock::new();

/// Route SIGINT/SIGTERM into the running backend's event stream.
fn register_interrupt_sink(events: Sender<BackendEvent>) {
    HANDLER.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            let sink = INTERRUPT_SINK.lock().unwrap_or_else(|e| e.into_inner());
            match sink.as_ref() {
                Some(events) => {
                    let _ = events.try_send(BackendEvent::Interrupted {
                        signal: "SIGINT/SIGTERM",
                    });
                }
                None => std::process::exit(130),
            }
        });
    });
    *INTERRUPT_SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(events);
}

fn unregister_interrupt_sink() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_capped_line(&mut reader, &mut line, max).unwrap() {
                LineRead::Eof => return out,
                LineRead::Line => {
                    out.push(String::from_utf8(trim_line_end(&line).to_vec()).unwrap())
                }
                LineRead::TooLong { read, ended } => {
                    out.push(format!("too long: {read}+"));
                    if !ended {
                        discard_rest_of_line(&mut reader).unwrap();
                    }
                }
            }
        }
    }

    #[test]
    fn capped_reader_splits_lines_and_skips_oversized_ones() {
        assert_eq!(
            read_all(b"ab\r\ncdefghij\nk\nlast", 5),
            vec!["ab", "too long: 8+", "k", "last"]
        );
        assert_eq!(read_all(b"", 5), Vec::<String>::new());
    }
}

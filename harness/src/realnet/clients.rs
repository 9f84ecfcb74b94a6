//! Mode B's clients: one client-adapter process per worker (`--client CMD`), started
//! on the worker's first operation and thrown away after an indeterminate one, as
//! Jepsen reopens its clients. Requests go to the adapter's stdin, one line each;
//! its stdout is read without blocking through the backend's poller and framed into
//! lines; its stderr goes straight into `node-logs/client-<worker>.log`.
//!
//! An adapter is hostile input like a node: a line that is not a reply, a reply
//! when nothing was asked, or an adapter that dies before it ever answered (a
//! broken command) stops the run with an error naming the worker, the command and
//! what was expected. One that dies after it has answered before leaves its current
//! operation indeterminate (`info`), and the next operation starts a new one.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::BackendEvent;
use crate::process::describe_exit;
use crate::process::lines::{quote, LineFramer, Piece};
use crate::process::poller::{Interest, Poller};
use crate::process::spawn::{die_with_parent, kill_group, set_nonblocking};
use crate::process::stderr::{log_tail, restart_marker};

use super::adapter::{parse_reply, Reply};

/// Bytes read from an adapter's stdout at a time.
const CHUNK_BYTES: usize = 16 * 1024;
/// Longest reply line accepted from an adapter.
const MAX_REPLY_BYTES: usize = 16 << 20;
/// How long an adapter that closed its stdout may take to exit before it is killed
/// (so that its own exit status can be told).
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// How to start the client adapters.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The command, run with `sh -c` in straum's working directory; it gets
    /// `STRAUM_WORKER` (the worker's number) in its environment.
    pub command: String,
    /// Where `client-<worker>.log` (the adapters' stderr) goes.
    pub log_dir: PathBuf,
}

/// One running adapter.
struct Adapter {
    child: Child,
    pid: i32,
    stdin: ChildStdin,
    stdout: ChildStdout,
    framer: LineFramer,
    /// The operation it is performing, if any.
    op: Option<u64>,
    /// Replies it has given; 0 means it never worked.
    answered: u64,
}

/// Every worker's adapter.
pub struct ClientPool {
    spec: ClientSpec,
    adapters: Vec<Option<Adapter>>,
    /// Adapters started so far per worker, for the log's markers.
    started: Vec<u32>,
    chunk: Vec<u8>,
}

impl ClientPool {
    /// A pool for `workers` workers; no adapter runs until it is needed.
    pub fn new(spec: ClientSpec, workers: usize) -> ClientPool {
        ClientPool {
            spec,
            adapters: (0..workers).map(|_| None).collect(),
            started: vec![0; workers],
            chunk: vec![0; CHUNK_BYTES],
        }
    }

    /// The poller key of `worker`'s adapter stdout.
    pub fn key(worker: usize) -> u64 {
        worker as u64
    }

    /// Send `line` (a request with its newline) for operation `op` to `worker`'s
    /// adapter, starting one if it has none. `Err` when it cannot be started or
    /// written to.
    pub fn send(
        &mut self,
        poller: &Poller,
        worker: usize,
        op: u64,
        line: &[u8],
    ) -> Result<(), String> {
        if self.adapters[worker].is_none() {
            let adapter = self.spawn(poller, worker)?;
            self.adapters[worker] = Some(adapter);
        }
        let adapter = self.adapters[worker].as_mut().expect("just ensured");
        adapter.op = Some(op);
        // One operation at a time and a request is small, so the pipe has room: the
        // write does not block on an adapter that reads its requests.
        if let Err(e) = adapter.stdin.write_all(line) {
            // It died since its last answer; its exit is told when its stdout ends.
            if e.kind() != ErrorKind::BrokenPipe {
                return Err(format!(
                    "could not write to the client adapter of worker {worker}: {e}"
                ));
            }
        }
        Ok(())
    }

    fn spawn(&mut self, poller: &Poller, worker: usize) -> Result<Adapter, String> {
        let log_path = self.log_path(worker);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("could not open {}: {e}", log_path.display()))?;
        self.started[worker] += 1;
        if self.started[worker] > 1 {
            let _ = writeln!(
                log,
                "{}",
                restart_marker(&client_name(worker), self.started[worker] - 1)
            );
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.spec.command)
            .env("STRAUM_WORKER", worker.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0);
        die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|e| {
            format!(
                "could not start the client adapter (--client {:?}): {e}",
                self.spec.command
            )
        })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let watched = set_nonblocking(stdout.as_raw_fd())
            .and_then(|()| poller.add(stdout.as_raw_fd(), Interest::Read, Self::key(worker)));
        if let Err(e) = watched {
            kill_group(child.id() as i32);
            let _ = child.wait();
            return Err(format!(
                "could not watch the client adapter of worker {worker}: {e}"
            ));
        }
        Ok(Adapter {
            pid: child.id() as i32,
            child,
            stdin,
            stdout,
            framer: LineFramer::new(MAX_REPLY_BYTES),
            op: None,
            answered: 0,
        })
    }

    /// `worker`'s adapter has output (or ended): turn its lines into events.
    pub fn on_readable(
        &mut self,
        poller: &Poller,
        worker: usize,
        events: &mut VecDeque<BackendEvent>,
    ) {
        let Some(adapter) = self.adapters[worker].as_mut() else {
            return;
        };
        let read = match adapter.stdout.read(&mut self.chunk) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            Err(_) => 0,
        };
        let command = &self.spec.command;
        let mut emit = |piece: Piece<'_>| {
            let event = match piece {
                Piece::Line(line) if line.iter().all(u8::is_ascii_whitespace) => return,
                Piece::Line(line) => match (adapter.op.take(), parse_reply(line)) {
                    (Some(op), Ok(reply)) => {
                        adapter.answered += 1;
                        BackendEvent::Performed {
                            worker,
                            op,
                            reply: Ok(reply),
                        }
                    }
                    (Some(op), Err(why)) => BackendEvent::Performed {
                        worker,
                        op,
                        reply: Err(refusal(worker, command, &why)),
                    },
                    (None, _) => BackendEvent::Performed {
                        worker,
                        op: u64::MAX,
                        reply: Err(refusal(
                            worker,
                            command,
                            &format!(
                                "it printed a line while no operation was asked of it: {}",
                                quote(line)
                            ),
                        )),
                    },
                },
                Piece::TooLong { start, read, .. } => BackendEvent::Performed {
                    worker,
                    op: adapter.op.take().unwrap_or(u64::MAX),
                    reply: Err(refusal(
                        worker,
                        command,
                        &format!(
                            "a reply passed {MAX_REPLY_BYTES} bytes after {read} bytes: {}",
                            quote(start)
                        ),
                    )),
                },
            };
            events.push_back(event);
        };
        if read > 0 {
            adapter.framer.feed(&self.chunk[..read], &mut emit);
            return;
        }
        adapter.framer.finish(&mut emit);
        let mut adapter = self.adapters[worker].take().expect("still there");
        poller.delete(adapter.stdout.as_raw_fd());
        let status = exit_status(&mut adapter);
        let Some(op) = adapter.op else {
            return; // it ended between operations; the next one starts another
        };
        let tail = log_tail(
            &self.log_path(worker),
            &client_name(worker),
            self.started[worker] - 1,
        );
        let last_words = tail.last().map(|l| format!(": {l}")).unwrap_or_default();
        let reply = if adapter.answered == 0 {
            Err(format!(
                "the client adapter of worker {worker} (--client {:?}) {status} before it \
                 answered any operation{last_words} (full log: {})",
                self.spec.command,
                self.log_path(worker).display()
            ))
        } else {
            Ok(Reply::Info(serde_json::Value::from(format!(
                "the client adapter {status} during the operation{last_words}"
            ))))
        };
        events.push_back(BackendEvent::Performed { worker, op, reply });
    }

    /// Throw `worker`'s adapter away (after an indeterminate operation).
    pub fn retire(&mut self, poller: &Poller, worker: usize) {
        if let Some(mut adapter) = self.adapters[worker].take() {
            poller.delete(adapter.stdout.as_raw_fd());
            kill_group(adapter.pid);
            let _ = adapter.child.wait();
        }
    }

    /// Stop every adapter.
    pub fn stop_all(&mut self, poller: &Poller) {
        for worker in 0..self.adapters.len() {
            self.retire(poller, worker);
        }
    }

    fn log_path(&self, worker: usize) -> PathBuf {
        self.spec
            .log_dir
            .join(format!("{}.log", client_name(worker)))
    }
}

impl Drop for ClientPool {
    fn drop(&mut self) {
        for adapter in self.adapters.iter_mut().flatten() {
            kill_group(adapter.pid);
            let _ = adapter.child.wait();
        }
    }
}

/// The name a worker's adapter goes by in logs.
fn client_name(worker: usize) -> String {
    format!("client-{worker}")
}

/// The error for an unusable adapter line.
fn refusal(worker: usize, command: &str, why: &str) -> String {
    format!("the client adapter of worker {worker} (--client {command:?}) answered something straum cannot use: {why}")
}

/// How an adapter that closed its stdout ended, in words (killed if it lingers).
fn exit_status(adapter: &mut Adapter) -> String {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match adapter.child.try_wait() {
            Ok(Some(status)) => return describe_exit(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                kill_group(adapter.pid);
                let _ = adapter.child.wait();
                return "closed its stdout".into();
            }
            Err(e) => return format!("could not be waited for ({e})"),
        }
    }
}

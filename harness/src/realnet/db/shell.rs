//! Running `sh -c COMMAND` inside a node's namespace, in a process group of its own
//! that dies with the thread that started it (`PR_SET_PDEATHSIG`), and the short
//! commands (ready, stop) whose output is captured, bounded, into an anonymous file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::describe_exit;
use crate::realnet::cluster::exec_in_netns;

/// Bytes of a short command's output read back (its beginning; then abridged).
const CAPTURE_BYTES: u64 = 16 * 1024;

/// `sh -c command` inside `netns`, with `env`, working directory `dir`, stdin closed,
/// its own process group and the parent-death signal (SIGKILL).
pub(super) fn shell_in(netns: &str, command: &str, env: &[(&str, String)], dir: &Path) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(command).current_dir(dir);
    for (key, value) in env {
        sh.env(key, value);
    }
    let mut cmd = exec_in_netns(netns, &sh);
    cmd.stdin(Stdio::null()).process_group(0);
    // SAFETY: prctl is async-signal-safe; the kernel then kills the process when the
    // thread that started it (or the whole harness) dies without stopping it.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// Send `signal` to the process group `pgid` leads.
pub(super) fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group only.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Whether `child` has ended, without reaping it: while it is a zombie its pid (and
/// so its process group's id) cannot be reused, so its group can still be signalled.
pub(super) fn has_ended(child: &Child) -> bool {
    // SAFETY: waitid(2) on our own child with WNOWAIT only inspects it; `info` is a
    // zeroed plain C struct the kernel fills in.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // ECHILD: already reaped (nothing left to wait for).
        r != 0 || info.si_pid() != 0
    }
}

/// SIGCONT and SIGKILL `child`'s group (before reaping, see [`has_ended`]), reap it,
/// then wait (at most 1 s) until no member of the group is left, so that its
/// ports are free for the next incarnation.
pub(super) fn kill_and_reap(child: &mut Child) -> Option<std::process::ExitStatus> {
    let pgid = child.id();
    signal_group(pgid, libc::SIGCONT);
    signal_group(pgid, libc::SIGKILL);
    let status = child.wait().ok();
    wait_group_gone(pgid, Duration::from_secs(1));
    status
}

/// Wait until process group `pgid` has no member (or `limit` passes).
pub(super) fn wait_group_gone(pgid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    // SAFETY: kill(2) with signal 0 only checks that the group exists.
    while unsafe { libc::kill(-(pgid as libc::pid_t), 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How a short command ended.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its status in words (`exited with status 1`, `killed after 5 s`).
    pub status: String,
    /// The end of its stdout and stderr, abridged.
    pub output: String,
}

/// A short command running, its output going to an anonymous file.
pub(super) struct Short {
    child: Child,
    out: File,
    deadline: Instant,
    limit: Duration,
}

impl Short {
    /// Start `cmd` (from [`shell_in`]), to be killed after `limit`.
    pub fn start(mut cmd: Command, limit: Duration) -> Result<Short, String> {
        let out =
            tempfile::tempfile().map_err(|e| format!("could not make a scratch file: {e}"))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("could not make a scratch file: {e}"))?;
        let child = cmd
            .stdout(Stdio::from(out.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("could not run `ip netns exec … sh -c …`: {e}"))?;
        Ok(Short {
            child,
            out,
            deadline: Instant::now() + limit,
            limit,
        })
    }

    /// Its outcome once it has ended (killing it, as a group, past its limit); `None`
    /// while it runs.
    pub fn poll(&mut self) -> Option<Outcome> {
        let timed_out = Instant::now() >= self.deadline;
        if !timed_out && !has_ended(&self.child) {
            return None;
        }
        // Kill the group before reaping: the leader may be gone and a child left.
        let status = kill_and_reap(&mut self.child);
        let status = match status {
            _ if timed_out => format!("was killed after {} s", self.limit.as_secs_f64()),
            Some(status) => describe_exit(status),
            None => "could not be waited for".to_string(),
        };
        Some(Outcome {
            ok: !timed_out && status == "exited with status 0",
            status,
            output: read_start(&mut self.out),
        })
    }

    /// Wait for its outcome, checking every 10 ms.
    pub fn wait(mut self) -> Outcome {
        loop {
            if let Some(outcome) = self.poll() {
                return outcome;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kill it now (its outcome is not wanted).
    pub fn abandon(mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// The first [`CAPTURE_BYTES`] of `file`, quoted (lossy, trimmed, abridged).
fn read_start(file: &mut File) -> String {
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = file.by_ref().take(CAPTURE_BYTES).read_to_end(&mut bytes);
    }
    crate::realnet::quote_output(&bytes)
}

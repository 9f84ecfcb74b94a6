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
use crate::process::spawn::die_with_parent;
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
    die_with_parent(&mut cmd);
    cmd
}

/// Send `signal` to the process group `pgid` leads.
pub(super) fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group only.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Where a child is, found without reaping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Exited, a zombie: its pid (so its group's id) cannot be reused yet.
    Ended,
    /// Already reaped (not by us): its pid may belong to someone else now.
    Gone,
}

fn state(child: &Child) -> State {
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
        match (r, info.si_pid()) {
            (0, 0) => State::Running,
            (0, _) => State::Ended,
            _ => State::Gone,
        }
    }
}

/// Whether `child` has ended (or is gone), without reaping it.
pub(super) fn has_ended(child: &Child) -> bool {
    state(child) != State::Running
}

/// SIGCONT and SIGKILL `child`'s group (only while the child is unreaped, so that
/// its id is still the group's), reap it, then wait (at most 1 s) until no member of
/// the group is left, so that its ports are free for the next incarnation.
pub(super) fn kill_and_reap(child: &mut Child) -> Option<std::process::ExitStatus> {
    let pgid = child.id();
    if state(child) == State::Gone {
        return None;
    }
    signal_group(pgid, libc::SIGCONT);
    signal_group(pgid, libc::SIGKILL);
    let status = child.wait().ok();
    wait_group_gone(pgid, Duration::from_secs(1));
    status
}

/// Wait until process group `pgid` has no live member (or `limit` passes), reaping
/// the members re-parented to us (when we are a child subreaper). Zombies do not
/// count: they hold no port, and an init that reaps slowly keeps them for a second.
fn wait_group_gone(pgid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    let group = -(pgid as libc::pid_t);
    loop {
        // SAFETY: waitpid(2) on our children in that group only, without blocking;
        // kill(2) with signal 0 only checks that the group exists.
        let exists = unsafe {
            while libc::waitpid(group, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            libc::kill(group, 0) == 0
        };
        if !exists || !has_live_member(pgid) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process other than a zombie is in process group `pgid` (per `/proc`).
fn has_live_member(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // After the command's `)`: state, ppid, pgrp, …
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, r)| r)
                .split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
            pgrp == Some(pgid) && !matches!(state, "Z" | "X")
        })
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
    reaped: bool,
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
            reaped: false,
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
        self.reaped = true;
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

    /// Kill it now (its outcome is not wanted); dropping it does the same.
    pub fn abandon(self) {}
}

impl Drop for Short {
    fn drop(&mut self) {
        if !self.reaped {
            kill_and_reap(&mut self.child);
        }
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

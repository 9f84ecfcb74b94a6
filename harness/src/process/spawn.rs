//! Starting one node process: its own process group, the parent-death signal, piped
//! stdin and stdout made non-blocking on the harness's side, stderr straight into its
//! log (or through a pipe when it is echoed), and a pidfd that becomes readable
//! when it exits — everything the poller needs, no thread per node.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};

use super::SpawnSpec;
use crate::faketime::Clocks;

/// A started node with the harness's ends of its pipes.
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// Its stdin, non-blocking.
    pub stdin: ChildStdin,
    /// Its stdout, non-blocking.
    pub stdout: ChildStdout,
    /// With `echo_stderr`: its stderr, non-blocking, and the log to copy it into.
    /// Otherwise the node writes its stderr into the log itself.
    pub stderr: Option<(ChildStderr, File)>,
    /// Readable once it has exited.
    pub pidfd: OwnedFd,
}

/// Start node `index` of `spec`.
pub fn spawn(
    spec: &SpawnSpec,
    index: usize,
    generation: u32,
    clocks: Option<&Clocks>,
) -> Result<Spawned, String> {
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
        command.env(super::DATA_DIR_VARIABLE, dir);
    }
    if let Some(seed) = spec.seed {
        command.env(straum_node::SEED_VARIABLE, seed.to_string());
    }
    command
        .args(&spec.args)
        .current_dir(&spec.work_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0);
    // The fork this implies is cheap: the harness is one small process with a
    // handful of threads.
    die_with_parent(&mut command);
    let log_path = spec.log_dir.join(format!("{id}.log"));
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("could not open {}: {e}", log_path.display()))?;
    if generation > 0 {
        use std::io::Write;
        let _ = writeln!(log, "{}", super::stderr::restart_marker(id, generation));
    }
    let echo_log = if spec.echo_stderr {
        command.stderr(Stdio::piped());
        Some(log)
    } else {
        command.stderr(Stdio::from(log));
        None
    };
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {} for node {id}: {e}", spec.bin.display()))?;
    let pidfd = match pidfd_open(child.id() as i32) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "could not watch node {id}'s process (pidfd_open, Linux ≥ 5.3): {e}"
            ));
        }
    };
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = echo_log.map(|log| (child.stderr.take().expect("stderr is piped"), log));
    let piped = [stdin.as_raw_fd(), stdout.as_raw_fd()];
    for fd in piped
        .into_iter()
        .chain(stderr.as_ref().map(|(pipe, _)| pipe.as_raw_fd()))
    {
        set_nonblocking(fd).map_err(|e| format!("could not set up node {id}'s pipes: {e}"))?;
    }
    Ok(Spawned {
        child,
        stdin,
        stdout,
        stderr,
        pidfd,
    })
}

/// Make `command`'s process die (SIGKILL) when the thread that starts it dies — the
/// harness's core thread, so also when the harness is killed without running its
/// teardown. Every process straum starts gets this.
pub(crate) fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub(crate) fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; only O_NONBLOCK is added. The pipe's other
    // end, the node's, is a separate open file description and stays blocking.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// SIGKILL a node's process group (after SIGCONT, so a paused group dies at once).
pub fn kill_group(pid: i32) {
    signal_group(pid, libc::SIGCONT);
    signal_group(pid, libc::SIGKILL);
}

/// Send `signal` to the process group node `pid` leads.
pub fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the node leads.
    unsafe {
        libc::kill(-pid, signal);
    }
}

//! Checking, before anything is spawned, that this process may open the files and
//! start the processes N nodes need: raise a soft limit where the hard one (or
//! privilege) allows, otherwise refuse with the limit's name and how to raise it —
//! never a half-started run.

/// Descriptors the harness holds per node: its stdin and stdout pipes and a pidfd
/// (a node writes its stderr into its log itself).
pub const FDS_PER_NODE: u64 = 3;
/// Descriptors more per node when its stderr is echoed: the pipe and the log.
pub const FDS_PER_ECHOED_STDERR: u64 = 2;
/// Descriptors the harness needs besides its nodes (history, journal, poller, …).
const FDS_BESIDES_NODES: u64 = 64;
/// Processes the harness's user may need besides the nodes themselves.
const PROCESSES_BESIDES_NODES: u64 = 64;

/// Make sure `nodes` nodes can be started (with their stderr echoed if
/// `echo_stderr`); `Err` says which limit forbids it.
pub fn ensure_room_for(nodes: usize, echo_stderr: bool) -> Result<(), String> {
    let nodes = nodes as u64;
    let per_node = FDS_PER_NODE
        + if echo_stderr {
            FDS_PER_ECHOED_STDERR
        } else {
            0
        };
    let files = nodes * per_node + FDS_BESIDES_NODES;
    ensure(
        libc::RLIMIT_NOFILE,
        "RLIMIT_NOFILE",
        "open files",
        files,
        "ulimit -n",
    )
    .map_err(|e| format!("{e}; {per_node} per node for {nodes} nodes"))?;
    // RLIMIT_NPROC counts every process and thread of the user, not only ours: a
    // node program with several threads needs more than one each. Root is exempt.
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        let processes = nodes + PROCESSES_BESIDES_NODES;
        ensure(
            libc::RLIMIT_NPROC,
            "RLIMIT_NPROC",
            "processes",
            processes,
            "ulimit -u",
        )?;
    }
    Ok(())
}

fn ensure(
    resource: libc::__rlimit_resource_t,
    name: &str,
    what: &str,
    needed: u64,
    command: &str,
) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return Ok(());
    }
    if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= needed {
        return Ok(());
    }
    // Raising the soft limit up to the hard one is always allowed; past it only with
    // CAP_SYS_RESOURCE, which setrlimit tells us by failing.
    let raised = libc::rlimit {
        rlim_cur: needed,
        rlim_max: if limit.rlim_max == libc::RLIM_INFINITY {
            limit.rlim_max
        } else {
            limit.rlim_max.max(needed)
        },
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(resource, &raised) } == 0 {
        return Ok(());
    }
    Err(format!(
        "this run needs {needed} {what} but {name} allows {} (hard limit {}); raise it \
         before starting straum, e.g. `{command} {needed}` (as root, or in \
         /etc/security/limits.conf), or run fewer nodes",
        limit.rlim_cur,
        show(limit.rlim_max)
    ))
}

fn show(limit: libc::rlim_t) -> String {
    if limit == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        limit.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modest_run_fits_and_an_impossible_one_is_refused_by_name() {
        assert_eq!(ensure_room_for(3, true), Ok(()));
        // More descriptors than the kernel's own ceiling (fs.nr_open): no privilege
        // can grant them, so the refusal must name the limit and the command.
        let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(1 << 20);
        let too_many = (nr_open / FDS_PER_NODE + 1) as usize;
        let refusal = ensure_room_for(too_many, false).unwrap_err();
        assert!(refusal.contains("RLIMIT_NOFILE"), "{refusal}");
        assert!(refusal.contains("ulimit -n"), "{refusal}");
    }
}

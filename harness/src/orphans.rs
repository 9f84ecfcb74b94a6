//! Processes that escape their node's process group. A node's grandchild that calls
//! `setsid()` and ignores SIGTERM/SIGHUP survives a kill of the node's group; as a
//! child subreaper straum inherits every such orphan when its parent dies, so at
//! teardown they are all straum's own children, and are killed and reaped here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Make this process the subreaper of everything it spawns (Linux ≥ 3.4), so that
/// orphaned descendants are re-parented to it instead of to init. Only the `straum`
/// binary does this: it then owns every child it has, which [`kill_adopted`] relies on.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
    let done = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
    SUBREAPER.store(done, Ordering::Release);
}

/// Kill and reap every child of this process except the pids in `keep` (node
/// processes that their own waiter threads reap), repeating while killing one
/// re-parents its children to us, for at most `limit`. Returns how many were killed.
/// Does nothing unless [`become_subreaper`] succeeded.
pub fn kill_adopted(keep: &[i32], limit: Duration) -> usize {
    if !SUBREAPER.load(Ordering::Acquire) {
        // A library user's process may have children of its own: leave them alone.
        return 0;
    }
    let me = std::process::id() as i32;
    let deadline = Instant::now() + limit;
    let mut killed = 0;
    loop {
        let orphans: Vec<i32> = children_of(me)
            .into_iter()
            .filter(|pid| !keep.contains(pid))
            .collect();
        if orphans.is_empty() || Instant::now() >= deadline {
            return killed;
        }
        for pid in orphans {
            // SAFETY: kill(2) and waitpid(2) on a child of ours; the group kill covers
            // an orphan that leads a session of its own.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            killed += 1;
        }
    }
}

/// Pids whose parent is `parent`, read from /proc.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; fields after it are fixed.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_parent() {
        let me = std::process::id() as i32;
        let parent = std::os::unix::process::parent_id() as i32;
        assert_eq!(parent_of(me), Some(parent));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(children_of(me).contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

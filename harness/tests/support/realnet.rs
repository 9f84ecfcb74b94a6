//! What every real-network test needs: the gate (skip with a note without root and
//! tools, fail under CI), one test at a time, and checks that nothing is left.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use straum::realnet::{clean, is_straum_link, is_straum_netns, preflight};

static SERIAL: Mutex<()> = Mutex::new(());

/// Held by a real-network test: one test at a time, and when it ends (passed or
/// failed) every straum object still present is removed.
pub struct RealnetGuard {
    _serial: MutexGuard<'static, ()>,
}

impl Drop for RealnetGuard {
    fn drop(&mut self) {
        let cleaned = clean::clean();
        if !cleaned.netns.is_empty() || !cleaned.links.is_empty() {
            eprintln!("cleaned up after a test: {cleaned:?}");
        }
    }
}

/// The guard, or `None` (with a note; a failure under CI) when Mode B cannot run:
/// no root, no `ip`/`nft`, or a missing `extra` program (e.g. python3, etcd).
pub fn realnet_or_skip(extra: &[&str]) -> Option<RealnetGuard> {
    let mut problems = preflight::problems();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for program in extra {
        if preflight::find_on_path(program, &path).is_none() {
            problems.push(format!("{program} is not installed"));
        }
    }
    if !problems.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the real-network tests as root with everything they need: {}",
            problems.join("; ")
        );
        eprintln!(
            "note: skipping a real-network test: {}",
            problems.join("; ")
        );
        return None;
    }
    Some(RealnetGuard {
        _serial: SERIAL.lock().unwrap_or_else(|e| e.into_inner()),
    })
}

/// Every namespace and host link named like straum's.
pub fn leftovers() -> Vec<String> {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_straum_netns(n))
        .map(|n| format!("netns {n}"))
        .collect();
    found.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .filter(|n| is_straum_link(n) || n.starts_with("st-"))
            .map(|n| format!("link {n}")),
    );
    found
}

/// Live processes whose working directory is inside `dir` (a test's scratch
/// directory: straum, its client adapters and the database nodes all work there).
pub fn processes_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or(dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            let alive = !state.starts_with('Z') && !state.starts_with('X');
            (alive && cwd.starts_with(&dir)).then(|| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                format!(
                    "{} {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                )
            })
        })
        .collect()
}

//! `straum clean`: remove what a killed straum left behind — every network
//! namespace named `straum-…` (after killing the processes still inside) and every
//! host link named like straum's bridges and veths (`st-<6 hex>[-h<i>]`).
//!
//! Safe to run when there is nothing: it prints that and succeeds. It removes the
//! objects of *every* straum on the machine, running or not; run it when none is.

use std::process::Command;

use clap::Args;

use super::{host_links, is_straum_link, is_straum_netns, netns_names, run};

/// Flags of `straum clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {}

/// What [`clean`] removed, and what it could not.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Namespaces deleted.
    pub netns: Vec<String>,
    /// Host links deleted.
    pub links: Vec<String>,
    /// Processes killed, with the namespace they were in.
    pub killed: Vec<(String, u32)>,
    /// What could not be listed or removed.
    pub errors: Vec<String>,
}

/// Remove every straum namespace and link (see the module's doc).
pub fn clean() -> Cleaned {
    let mut cleaned = Cleaned::default();
    let namespaces: Vec<String> = match netns_names() {
        Ok(names) => names.into_iter().filter(|n| is_straum_netns(n)).collect(),
        Err(e) => {
            cleaned.errors.push(e);
            Vec::new()
        }
    };
    for ns in &namespaces {
        for pid in kill_processes_in(ns) {
            cleaned.killed.push((ns.clone(), pid));
        }
    }
    match host_links() {
        Ok(links) => {
            // Veths before bridges is not needed: deleting a bridge frees its ports.
            for link in links.into_iter().filter(|l| is_straum_link(l)) {
                match run(Command::new("ip").args(["link", "del", &link])) {
                    Ok(_) => cleaned.links.push(link),
                    // Gone meanwhile (a veth whose namespace end went first): fine.
                    Err(_) if !still_there(&link) => {}
                    Err(e) => cleaned.errors.push(e),
                }
            }
        }
        Err(e) => cleaned.errors.push(e),
    }
    for ns in namespaces {
        match run(Command::new("ip").args(["netns", "del", &ns])) {
            Ok(_) => cleaned.netns.push(ns),
            Err(e) => cleaned.errors.push(e),
        }
    }
    cleaned
}

/// Whether a host link named `link` still exists.
fn still_there(link: &str) -> bool {
    host_links().map_or(true, |links| links.iter().any(|l| l == link))
}

/// SIGKILL every process in namespace `ns` (per `ip netns pids`), except this one;
/// returns the pids signalled. Lines that are not pids are ignored.
pub fn kill_processes_in(ns: &str) -> Vec<u32> {
    let Ok(out) = run(Command::new("ip").args(["netns", "pids", ns])) else {
        return Vec::new();
    };
    let pids = parse_pids(&out, std::process::id());
    for &pid in &pids {
        // SAFETY: kill(2) with a positive pid signals that one process only.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    pids
}

/// The pids in `ip netns pids` output `out`, one a line: lines that are not a pid,
/// pid 0 and 1, pids beyond `pid_t`, and `me` are left out.
fn parse_pids(out: &[u8], me: u32) -> Vec<u32> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|&pid| pid > 1 && pid != me && pid <= i32::MAX as u32)
        .collect()
}

/// `straum clean`: remove, print what was removed; exit 0, or 1 when something
/// could not be removed (or Mode B cannot run here at all).
pub fn run_command(_args: &CleanArgs) -> i32 {
    if let Err(e) = super::preflight::require() {
        eprintln!("straum clean: {e}");
        return 1;
    }
    let cleaned = clean();
    for (ns, pid) in &cleaned.killed {
        println!("killed process {pid} in {ns}");
    }
    for link in &cleaned.links {
        println!("removed link {link}");
    }
    for ns in &cleaned.netns {
        println!("removed network namespace {ns}");
    }
    if cleaned.links.is_empty() && cleaned.netns.is_empty() && cleaned.killed.is_empty() {
        println!("nothing of straum's to remove");
    }
    for e in &cleaned.errors {
        eprintln!("straum clean: {e}");
    }
    i32::from(!cleaned.errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_pids_of_others_are_killed() {
        let out = b"42\n1\n0\n-5\n7 8\nabc\n4294967295\n2147483648\n 99 \n\xff\n77\n";
        assert_eq!(parse_pids(out, 77), vec![42, 99]);
        assert!(parse_pids(b"", 1).is_empty());
    }
}

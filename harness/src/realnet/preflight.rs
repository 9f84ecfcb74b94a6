//! The refusals Mode B makes before it touches the network: missing privileges,
//! missing tools (naming the Debian package that provides each), and link faults
//! (latency, drop) on a kernel without `tc netem`.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// Capability bit of CAP_NET_ADMIN (links, addresses, nftables).
pub const CAP_NET_ADMIN: u32 = 12;

/// Capability bit of CAP_SYS_ADMIN (`ip netns add` mounts the namespace).
pub const CAP_SYS_ADMIN: u32 = 21;

/// The tools Mode B shells out to, each with the Debian package providing it.
pub const TOOLS: [(&str, &str); 2] = [("ip", "iproute2"), ("nft", "nftables")];

/// The effective capability set from the text of `/proc/self/status` (its `CapEff:`
/// line, hexadecimal), or `None` when there is no such line or it does not parse.
pub fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// What is missing among the privileges, as sentences, from `/proc/self/status`'s
/// text (empty when nothing is).
pub fn missing_privileges(status: &str) -> Vec<String> {
    let Some(caps) = effective_capabilities(status) else {
        return vec!["cannot read the effective capabilities (CapEff in /proc/self/status)".into()];
    };
    let mut missing = Vec::new();
    for (bit, name, why) in [
        (
            CAP_NET_ADMIN,
            "CAP_NET_ADMIN",
            "to create links and nftables rules",
        ),
        (
            CAP_SYS_ADMIN,
            "CAP_SYS_ADMIN",
            "to create network namespaces",
        ),
    ] {
        if caps & (1 << bit) == 0 {
            missing.push(format!("{name} ({why}): run as root"));
        }
    }
    missing
}

/// `tool`'s path in the directories of `path` (a `PATH` value), if it is there and
/// executable.
pub fn find_on_path(tool: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(tool))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What is missing among the tools, as sentences naming the Debian package.
pub fn missing_tools(path: &OsStr) -> Vec<String> {
    TOOLS
        .iter()
        .filter(|(tool, _)| find_on_path(tool, path).is_none())
        .map(|(tool, package)| {
            format!("`{tool}` is not on PATH (Debian package {package}: apt-get install {package})")
        })
        .collect()
}

/// Everything that stops Mode B on this machine, as sentences (empty when nothing).
pub fn problems() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut problems = missing_privileges(&status);
    problems.extend(missing_tools(&std::env::var_os("PATH").unwrap_or_default()));
    problems
}

/// Refuse at once, with one message naming everything missing, unless Mode B can run.
pub fn require() -> Result<(), String> {
    let problems = problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "real networking needs what this machine lacks: {}",
            problems.join("; ")
        ))
    }
}

/// Whether the kernel can do `tc netem` (see [`probe_netem`]).
pub fn netem_available() -> Result<bool, String> {
    probe_netem().map(|refusal| refusal.is_none())
}

/// Try `tc netem` for real, in a scratch namespace `straum-probe-<pid>` (deleted
/// after; `straum clean` finds it if straum dies in between), by adding a netem
/// qdisc to its loopback: `None` when that works, else what `tc` said (abridged).
/// `Err` when the probe itself could not run (no namespace, no `tc`).
pub fn probe_netem() -> Result<Option<String>, String> {
    if find_on_path("tc", &std::env::var_os("PATH").unwrap_or_default()).is_none() {
        return Err("`tc` is not on PATH (Debian package iproute2)".into());
    }
    let probe = format!("{}probe-{}", super::NETNS_PREFIX, std::process::id());
    super::run(Command::new("ip").args(["netns", "add", &probe]))?;
    let tried = Command::new("ip")
        .args([
            "netns", "exec", &probe, "tc", "qdisc", "add", "dev", "lo", "root",
        ])
        .args(["netem", "delay", "1ms"])
        .output();
    let deleted = super::run(Command::new("ip").args(["netns", "del", &probe]));
    let tried = tried.map_err(|e| format!("could not run `tc` in {probe}: {e}"))?;
    deleted?;
    if tried.status.success() {
        return Ok(None);
    }
    let stderr = super::quote_output(&tried.stderr);
    if stderr.starts_with("exec of") {
        // `ip netns exec` could not start tc at all (it says so, status 1).
        return Err(format!(
            "could not run `tc` (Debian package iproute2): {stderr}"
        ));
    }
    Ok(Some(stderr))
}

/// Refuse the faults among `faults` (nemesis names) that real links cannot do here:
/// `latency` and `drop` need `tc netem`. Ok when none of them is asked for, or
/// when the kernel has netem.
pub fn refuse_link_faults(faults: &[&str]) -> Result<(), String> {
    let asked: Vec<&str> = faults
        .iter()
        .copied()
        .filter(|f| matches!(*f, "latency" | "drop"))
        .collect();
    if asked.is_empty() {
        return Ok(());
    }
    match probe_netem() {
        Ok(None) => Ok(()),
        Ok(Some(tc_said)) => Err(format!("{} (tc said: {tc_said})", netem_refusal(&asked))),
        Err(e) => Err(format!(
            "{} (and the probe for netem failed: {e})",
            netem_refusal(&asked)
        )),
    }
}

/// The message refusing `asked` link faults for want of netem.
fn netem_refusal(asked: &[&str]) -> String {
    format!(
        "the {} fault{} on real links need{} the kernel's netem qdisc (sch_netem, \
         used through `tc qdisc … netem`), which this kernel lacks; leave {} out of \
         --nemesis with --net real, or run on a kernel with sch_netem",
        asked.join(" and "),
        if asked.len() == 1 { "" } else { "s" },
        if asked.len() == 1 { "s" } else { "" },
        if asked.len() == 1 { "it" } else { "them" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
    const USER: &str = "Name:\tx\nCapEff:\t0000000000000000\n";

    #[test]
    fn capabilities_are_read_from_cap_eff() {
        assert_eq!(effective_capabilities(ROOT), Some(0x1ff_ffff_ffff));
        assert!(missing_privileges(ROOT).is_empty());
        let user = missing_privileges(USER);
        assert_eq!(user.len(), 2, "{user:?}");
        assert!(user[0].contains("CAP_NET_ADMIN"), "{user:?}");
        // CAP_NET_ADMIN alone does not make namespaces.
        let net_admin_only = format!("CapEff:\t{:016x}\n", 1u64 << CAP_NET_ADMIN);
        let missing = missing_privileges(&net_admin_only);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("CAP_SYS_ADMIN"), "{missing:?}");
        assert_eq!(missing_privileges("CapEff:\tzz\n").len(), 1);
        assert_eq!(missing_privileges("").len(), 1);
    }

    #[test]
    fn missing_tools_name_their_debian_package() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let missing = missing_tools(dir.path().as_os_str());
        assert_eq!(missing.len(), 2);
        assert!(missing[0].contains("iproute2") && missing[1].contains("nftables"));
        let ip = dir.path().join("ip");
        std::fs::write(&ip, "#!/bin/sh\n").unwrap();
        // Not executable yet: still missing.
        assert_eq!(missing_tools(dir.path().as_os_str()).len(), 2);
        std::fs::set_permissions(&ip, std::fs::Permissions::from_mode(0o755)).unwrap();
        let missing = missing_tools(dir.path().as_os_str());
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("`nft`"), "{missing:?}");
    }

    #[test]
    fn faults_that_need_no_netem_are_never_refused() {
        assert!(refuse_link_faults(&[]).is_ok());
        assert!(refuse_link_faults(&["partition", "kill", "pause"]).is_ok());
        let msg = netem_refusal(&["latency", "drop"]);
        assert!(
            msg.contains("latency and drop faults") && msg.contains("sch_netem"),
            "{msg}"
        );
    }
}

//! A real network for a run: a Linux bridge in the host's namespace and, per node,
//! a network namespace joined to it by a veth pair, with its own private address.
//!
//! Layout for run `R`, tag `T` (six hex digits from `R`) and subnet `10.200.X.0/24`:
//!
//! - bridge `st-T`, address `10.200.X.1/24` (the host's side: clients, services);
//! - node `i`: namespace `straum-R-<node>`, veth host end `st-T-h<i>` (a port of
//!   the bridge), namespace end `eth0` at `10.200.X.(i+2)/24`, loopback up.
//!
//! `X` is chosen so that `10.200.X.0/24` overlaps no route (any table) and no
//! address of the host, under a lock so that two straums starting together do not
//! pick the same. IPv6 address generation is off on `eth0`, so nodes talk IPv4
//! only and a partition's IPv4 rules ([`super::nft`]) leave no way around them.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

use serde_json::Value;

use super::{host_links, netns_names, parse_json_list, run, LINK_PREFIX, NETNS_PREFIX};

/// The /16 the per-run /24s come from.
const BASE: [u8; 2] = [10, 200];

/// Most nodes a cluster holds (addresses .2 … .251 of its /24).
pub const MAX_NODES: usize = 250;

/// Longest run name kept in namespace names (the rest is cut).
const MAX_RUN_CHARS: usize = 48;

/// Longest node name kept in namespace names.
const MAX_NODE_CHARS: usize = 32;

/// The lock serializing subnet choice and creation among straums on one machine.
const LOCK_PATH: &str = "/run/lock/straum-realnet.lock";

/// One node's part of a [`Cluster`].
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's id as given (e.g. `n1`).
    pub id: String,
    /// Its network namespace, `straum-<run>-<node>`.
    pub netns: String,
    /// The host end of its veth, a port of the bridge.
    pub host_veth: String,
    /// Its address on `eth0` inside the namespace.
    pub ip: Ipv4Addr,
}

/// A bridge and one namespace per node; removed by [`Cluster::teardown`] or on drop.
#[derive(Debug)]
pub struct Cluster {
    run: String,
    tag: String,
    bridge: String,
    subnet: Ipv4Addr,
    nodes: Vec<Node>,
    /// Namespaces, veths and bridge made so far, for teardown after a partial create.
    made_netns: Vec<String>,
    made_links: Vec<String>,
    torn_down: bool,
}

impl Cluster {
    /// Create the bridge and one namespace per node of `node_ids` for run
    /// `run_name`. Refuses (see [`super::preflight::require`]) without privileges or
    /// tools, when a namespace of that name already exists (a leftover: `straum
    /// clean`), or when no free /24 is left in 10.200.0.0/16. Whatever was made
    /// before an error is removed again.
    pub fn create(run_name: &str, node_ids: &[impl AsRef<str>]) -> Result<Cluster, String> {
        let planned = plan(run_name, node_ids)?;
        super::preflight::require()?;
        let _lock = Lock::take()?;
        let existing_netns: HashSet<String> = netns_names()?.into_iter().collect();
        if let Some((_, ns)) = planned.iter().find(|(_, ns)| existing_netns.contains(ns)) {
            return Err(format!(
                "network namespace {ns} already exists: another run of that name, or a \
                 leftover (`straum clean` removes those)"
            ));
        }
        let links: HashSet<String> = host_links()?.into_iter().collect();
        let tag = (0u32..64)
            .map(|attempt| short_tag(run_name, attempt))
            .find(|tag| !links.contains(&format!("{LINK_PREFIX}{tag}")))
            .ok_or("no free bridge name (64 tags tried)")?;
        let occupied = occupied_networks()?;
        let start = u8::from_str_radix(&tag[..2], 16).unwrap_or(0);
        let third = (0..=255u8)
            .map(|k| start.wrapping_add(k))
            .find(|&x| {
                let net = u32::from(Ipv4Addr::new(BASE[0], BASE[1], x, 0));
                !occupied.iter().any(|&(a, len)| overlaps(net, 24, a, len))
            })
            .ok_or("every 10.200.X.0/24 overlaps a route or address of this machine")?;

        let mut cluster = Cluster {
            run: run_name.to_string(),
            bridge: format!("{LINK_PREFIX}{tag}"),
            tag,
            subnet: Ipv4Addr::new(BASE[0], BASE[1], third, 0),
            nodes: Vec::new(),
            made_netns: Vec::new(),
            made_links: Vec::new(),
            torn_down: false,
        };
        // On error, `cluster` drops here and removes what was made.
        cluster.build(planned)?;
        Ok(cluster)
    }

    /// Make the bridge, then each node's namespace and veth.
    fn build(&mut self, planned: Vec<(String, String)>) -> Result<(), String> {
        let bridge = self.bridge.clone();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        self.made_links.push(bridge.clone());
        let host_cidr = format!("{}/24", self.host_ip());
        ip(&["addr", "add", &host_cidr, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for (i, (id, netns)) in planned.into_iter().enumerate() {
            let host_veth = format!("{}-h{i}", self.bridge);
            let addr = self.address(i);
            ip(&["netns", "add", &netns])?;
            self.made_netns.push(netns.clone());
            ip(&[
                "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
            ])?;
            self.made_links.push(host_veth.clone());
            ip(&["link", "set", &host_veth, "master", &bridge, "up"])?;
            let cidr = format!("{addr}/24");
            for args in [
                &["link", "set", "lo", "up"][..],
                &["link", "set", "eth0", "addrgenmode", "none"],
                &["addr", "add", &cidr, "dev", "eth0"],
                &["link", "set", "eth0", "up"],
            ] {
                let mut full = vec!["-n", netns.as_str()];
                full.extend_from_slice(args);
                ip(&full)?;
            }
            self.nodes.push(Node {
                id,
                netns,
                host_veth,
                ip: addr,
            });
        }
        Ok(())
    }

    /// The run name given to [`Cluster::create`].
    pub fn run_name(&self) -> &str {
        &self.run
    }

    /// The six-hex-digit tag in the names of this cluster's links.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The bridge's name, `st-<tag>`.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The nodes, in the order given.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes (never, for a created cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The cluster's /24 network address.
    pub fn subnet(&self) -> Ipv4Addr {
        self.subnet
    }

    /// The host's address on the bridge: how nodes reach clients and services.
    pub fn host_ip(&self) -> Ipv4Addr {
        let [a, b, c, _] = self.subnet.octets();
        Ipv4Addr::new(a, b, c, 1)
    }

    /// Node `i`'s address. Panics when there is no node `i`.
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        self.nodes[i].ip
    }

    /// Node `i`'s namespace name. Panics when there is no node `i`.
    pub fn netns(&self, i: usize) -> &str {
        &self.nodes[i].netns
    }

    /// The address the `i`th node gets.
    fn address(&self, i: usize) -> Ipv4Addr {
        let [a, b, c, _] = self.subnet.octets();
        Ipv4Addr::new(a, b, c, 2 + i as u8)
    }

    /// `cmd` made to run inside node `i`'s namespace: `ip netns exec NS program
    /// args…`, keeping `cmd`'s environment changes and working directory (stdio is
    /// the caller's to set on the result). `ip netns exec` rather than `setns` in a
    /// `pre_exec` hook: it also gives the program the namespace's own `/sys` and any
    /// `/etc/netns/NS` files, needs no unsafe code, and costs one exec.
    /// Panics when there is no node `i`.
    pub fn exec_in(&self, i: usize, cmd: &Command) -> Command {
        exec_in_netns(&self.nodes[i].netns, cmd)
    }

    /// Remove everything: kill what still runs in the namespaces, delete the veths,
    /// the bridge and the namespaces. Idempotent; objects already gone (say, removed
    /// by `straum clean`) are skipped. Errors name what could not be removed.
    pub fn teardown(&mut self) -> Result<(), String> {
        if self.torn_down {
            return Ok(());
        }
        let mut errors = Vec::new();
        let netns_now: HashSet<String> = netns_names()
            .map_err(|e| errors.push(e))
            .unwrap_or_default()
            .into_iter()
            .collect();
        for ns in self.made_netns.iter().filter(|ns| netns_now.contains(*ns)) {
            super::clean::kill_processes_in(ns);
        }
        let links_now: HashSet<String> = host_links()
            .map_err(|e| errors.push(e))
            .unwrap_or_default()
            .into_iter()
            .collect();
        // Veths first (deleting one end removes the pair), then the bridge.
        for link in self
            .made_links
            .iter()
            .rev()
            .filter(|l| links_now.contains(*l))
        {
            if let Err(e) = ip(&["link", "del", link]) {
                errors.push(e);
            }
        }
        for ns in self.made_netns.iter().filter(|ns| netns_now.contains(*ns)) {
            if let Err(e) = ip(&["netns", "del", ns]) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            self.torn_down = true;
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!(
                "straum: tearing down the real network of run {}: {e}",
                self.run
            );
        }
    }
}

/// `cmd` made to run inside the namespace `netns`, as [`Cluster::exec_in`] (for
/// holders of a namespace's name that do not hold the [`Cluster`]).
pub fn exec_in_netns(netns: &str, cmd: &Command) -> Command {
    let mut wrapped = Command::new("ip");
    wrapped
        .args(["netns", "exec", netns])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The (node id, namespace name) of each node, checking what can be checked without
/// touching the system: usable names, 1 to [`MAX_NODES`] nodes, no namespace twice.
fn plan(run_name: &str, node_ids: &[impl AsRef<str>]) -> Result<Vec<(String, String)>, String> {
    let run_part = sanitize(run_name, MAX_RUN_CHARS);
    if run_part.is_empty() {
        return Err(format!("run name {run_name:?} has no usable characters"));
    }
    if node_ids.is_empty() || node_ids.len() > MAX_NODES {
        return Err(format!(
            "a real-network cluster has 1 to {MAX_NODES} nodes, not {}",
            node_ids.len()
        ));
    }
    let mut netns_seen = HashSet::new();
    let mut planned = Vec::with_capacity(node_ids.len());
    for id in node_ids {
        let id = id.as_ref();
        let node_part = sanitize(id, MAX_NODE_CHARS);
        if node_part.is_empty() {
            return Err(format!("node id {id:?} has no usable characters"));
        }
        let netns = format!("{NETNS_PREFIX}{run_part}-{node_part}");
        if !netns_seen.insert(netns.clone()) {
            return Err(format!("node ids give the namespace {netns} twice"));
        }
        planned.push((id.to_string(), netns));
    }
    Ok(planned)
}

/// Run `ip` with `args`.
fn ip(args: &[&str]) -> Result<Vec<u8>, String> {
    run(Command::new("ip").args(args))
}

/// `text` with every character other than ASCII letters, digits, `_`, `.` and `-`
/// replaced by `-`, cut to `max` characters.
fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Six hex digits from `run` and `attempt` (FNV-1a): short enough that
/// `st-<tag>-h<i>` fits IFNAMSIZ (15 characters) for up to 1000 nodes.
fn short_tag(run: &str, attempt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in run.bytes().chain(attempt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:06x}", (hash ^ (hash >> 32)) & 0xff_ffff)
}

/// Whether `a/alen` and `b/blen` share an address.
fn overlaps(a: u32, alen: u8, b: u32, blen: u8) -> bool {
    let len = alen.min(blen).min(32);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

/// `a.b.c.d/len` or `a.b.c.d` (a /32) as a network; `None` for anything else
/// (`default`, IPv6, garbage).
fn parse_network(text: &str) -> Option<(u32, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, len.parse::<u8>().ok().filter(|&l| l <= 32)?),
        None => (text, 32),
    };
    Some((u32::from(addr.parse::<Ipv4Addr>().ok()?), len))
}

/// Every IPv4 network the host uses: route destinations in all tables except the
/// default route, and its addresses with their prefixes.
fn occupied_networks() -> Result<Vec<(u32, u8)>, String> {
    let routes = run(Command::new("ip").args(["-json", "route", "show", "table", "all"]))?;
    let mut occupied: Vec<(u32, u8)> = parse_json_list("ip -json route show table all", &routes)?
        .iter()
        .filter_map(|r| r.get("dst").and_then(Value::as_str))
        .filter_map(parse_network)
        .collect();
    let addrs = run(Command::new("ip").args(["-json", "-4", "addr", "show"]))?;
    for link in parse_json_list("ip -json -4 addr show", &addrs)? {
        for info in link
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let local = info.get("local").and_then(Value::as_str);
            let len = info.get("prefixlen").and_then(Value::as_u64);
            if let (Some(local), Some(len)) = (local, len) {
                if let Some((addr, _)) = parse_network(local) {
                    occupied.push((addr, len.min(32) as u8));
                }
            }
        }
    }
    Ok(occupied)
}

/// An exclusive `flock` on [`LOCK_PATH`], released on drop (the file closes).
struct Lock {
    _file: std::fs::File,
}

impl Lock {
    fn take() -> Result<Lock, String> {
        if let Some(dir) = std::path::Path::new(LOCK_PATH).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH)
            .map_err(|e| format!("could not open the lock {LOCK_PATH}: {e}"))?;
        // SAFETY: flock on a descriptor this function owns for the call's duration.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "could not lock {LOCK_PATH}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_and_fit_linux_limits() {
        assert_eq!(
            sanitize("2026-12-02T21:00:00.1", 48),
            "2026-12-02T21-00-00.1"
        );
        assert_eq!(sanitize("../n1 ; rm", 48), "..-n1---rm");
        assert_eq!(sanitize("ün", 48), "n");
        assert_eq!(sanitize(&"x".repeat(100), 48).len(), 48);
        let tag = short_tag("some run", 0);
        assert_eq!(tag.len(), 6);
        assert_ne!(tag, short_tag("some run", 1));
        let longest = format!("{LINK_PREFIX}{tag}-h{}", MAX_NODES - 1);
        assert!(longest.len() <= 15, "{longest}");
        assert!(super::super::is_straum_link(&longest));
    }

    #[test]
    fn bad_node_lists_are_refused_before_anything_is_made() {
        let ok = plan("2026-12-02 21:00", &["n1", "n2"]).unwrap();
        assert_eq!(
            ok[1],
            ("n2".to_string(), "straum-2026-12-02-21-00-n2".to_string())
        );
        assert!(plan("r", &[] as &[&str])
            .unwrap_err()
            .contains("1 to 250 nodes"));
        let many: Vec<String> = (0..=MAX_NODES).map(|i| format!("n{i}")).collect();
        assert!(plan("r", &many).is_err());
        assert!(plan("r", &many[..MAX_NODES]).is_ok());
        assert!(plan("::", &["n1"]).unwrap_err().contains("run name"));
        assert!(plan("r", &["n1", "ü"]).unwrap_err().contains("node id"));
        // Distinct ids that sanitize to the same namespace.
        assert!(plan("r", &["n 1", "n:1"]).unwrap_err().contains("twice"));
    }

    #[test]
    fn networks_parse_and_overlap_as_prefixes() {
        assert_eq!(parse_network("10.200.3.0/24"), Some((0x0ac8_0300, 24)));
        assert_eq!(parse_network("10.200.3.7"), Some((0x0ac8_0307, 32)));
        for bad in ["default", "fe80::/64", "10.0.0.0/33", "10.0.0/8", ""] {
            assert_eq!(parse_network(bad), None, "{bad}");
        }
        let net = |t| parse_network(t).unwrap();
        let (a, alen) = net("10.200.3.0/24");
        for (other, expect) in [
            ("10.0.0.0/8", true),
            ("10.200.3.9", true),
            ("10.200.0.0/22", true),
            ("10.200.4.0/24", false),
            ("10.200.2.255", false),
            ("192.168.0.0/16", false),
            ("0.0.0.0/0", true),
        ] {
            let (b, blen) = net(other);
            assert_eq!(overlaps(a, alen, b, blen), expect, "{other}");
        }
    }
}

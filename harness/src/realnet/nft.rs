//! A partition on real links: the grudge as nftables rules, one table `inet straum`
//! per node namespace whose input chain drops packets from the addresses of the
//! nodes that node holds a grudge against.
//!
//! The grudge is Mode A's cut matrix ([`crate::net`]): `cut[dest * n + src]` means
//! dest drops what src sends. Only `dest`'s namespace gets a rule for that pair, so
//! one-way shapes stay one-way: src still hears dest. The host (clients, services,
//! on the bridge address) is never cut.
//!
//! Each node's table is replaced in one `nft -f -` transaction (`add table` then
//! `delete table` then the new table), so there is no moment with half a grudge on
//! a node; clearing deletes the table.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::Command;

use super::cluster::Cluster;
use super::run_with_input;

/// The nftables family and name of straum's table in each namespace.
pub const TABLE: &str = "inet straum";

/// The ruleset replacing straum's table with one dropping input from `sources`
/// (an empty list leaves no table at all).
pub fn ruleset(sources: &[Ipv4Addr]) -> String {
    // `add` first so that `delete` succeeds whether or not the table existed.
    let mut text = format!("add table {TABLE}\ndelete table {TABLE}\n");
    if !sources.is_empty() {
        let set: Vec<String> = sources.iter().map(Ipv4Addr::to_string).collect();
        let _ = write!(
            text,
            "table {TABLE} {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tip saddr {{ {} }} drop\n\
             \t}}\n\
             }}\n",
            set.join(", ")
        );
    }
    text
}

/// The grudge of `cut` (n×n, `cut[dest * n + src]`) per destination: the sources
/// each node drops. Errors when `cut` is not n×n; a node never drops itself.
pub fn sources_per_node(cut: &[bool], n: usize) -> Result<Vec<Vec<usize>>, String> {
    if cut.len() != n * n {
        return Err(format!(
            "a grudge on {n} nodes needs {1} entries, not {0}",
            cut.len(),
            n * n
        ));
    }
    Ok((0..n)
        .map(|dest| {
            (0..n)
                .filter(|&src| src != dest && cut[dest * n + src])
                .collect()
        })
        .collect())
}

/// Install the grudge `cut` (n×n, `cut[dest * n + src]`: dest drops from src) on
/// `cluster`, replacing any grudge before it. Nodes that drop from nobody lose their
/// table. On error the grudge may be partly installed; [`clear_grudge`] undoes it.
pub fn apply_grudge(cluster: &Cluster, cut: &[bool]) -> Result<(), String> {
    let sources = sources_per_node(cut, cluster.len())?;
    for (dest, srcs) in sources.iter().enumerate() {
        let ips: Vec<Ipv4Addr> = srcs.iter().map(|&s| cluster.node_ip(s)).collect();
        load(cluster, dest, &ruleset(&ips))?;
    }
    Ok(())
}

/// Remove straum's table from every node's namespace: every link heals.
pub fn clear_grudge(cluster: &Cluster) -> Result<(), String> {
    let mut errors = Vec::new();
    for i in 0..cluster.len() {
        if let Err(e) = load(cluster, i, &ruleset(&[])) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The addresses node `i`'s table drops input from, read back with `nft -j list
/// table inet straum` (empty when there is no table): what is in force, for reports
/// and tests.
pub fn installed_sources(cluster: &Cluster, i: usize) -> Result<Vec<Ipv4Addr>, String> {
    let mut list = Command::new("nft");
    list.args(["-j", "list", "ruleset"]);
    let out = super::run(&mut cluster.exec_in(i, &list))?;
    let value: serde_json::Value = serde_json::from_slice(&out).map_err(|_| {
        format!(
            "`nft -j list ruleset` in {} printed something other than JSON: {}",
            cluster.netns(i),
            super::quote_output(&out)
        )
    })?;
    let mut sources = Vec::new();
    let items = value.get("nftables").and_then(|v| v.as_array());
    for item in items.into_iter().flatten() {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        if rule.get("table").and_then(|t| t.as_str()) != Some("straum") {
            continue;
        }
        collect_addresses(
            rule.get("expr").unwrap_or(&serde_json::Value::Null),
            &mut sources,
        );
    }
    sources.sort_unstable();
    sources.dedup();
    Ok(sources)
}

/// Every string in `value` (nested) that parses as an IPv4 address.
fn collect_addresses(value: &serde_json::Value, out: &mut Vec<Ipv4Addr>) {
    match value {
        serde_json::Value::String(s) => out.extend(s.parse::<Ipv4Addr>().ok()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_addresses(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_addresses(v, out)),
        _ => {}
    }
}

/// Load `rules` into node `i`'s namespace with `nft -f -`.
fn load(cluster: &Cluster, i: usize, rules: &str) -> Result<(), String> {
    let mut nft = Command::new("nft");
    nft.args(["-f", "-"]);
    run_with_input(&mut cluster.exec_in(i, &nft), Some(rules.as_bytes()))
        .map(drop)
        .map_err(|e| format!("in {}: {e}", cluster.netns(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_grudge_only_deletes_the_table() {
        assert_eq!(
            ruleset(&[]),
            "add table inet straum\ndelete table inet straum\n"
        );
        let text = ruleset(&[Ipv4Addr::new(10, 200, 1, 2), Ipv4Addr::new(10, 200, 1, 4)]);
        assert!(text.starts_with("add table inet straum\ndelete table inet straum\n"));
        assert!(
            text.contains("ip saddr { 10.200.1.2, 10.200.1.4 } drop"),
            "{text}"
        );
        assert!(text.contains("hook input"), "{text}");
    }

    #[test]
    fn the_cut_matrix_is_read_dest_major_and_one_way_stays_one_way() {
        let n = 3;
        let mut cut = vec![false; n * n];
        cut[2 * n] = true; // n2 drops from n0
        cut[n + 1] = true; // n1 "drops from itself": ignored
        let sources = sources_per_node(&cut, n).unwrap();
        assert_eq!(sources, vec![vec![], vec![], vec![0]]);
        assert!(sources_per_node(&cut, 2).is_err());
    }
}

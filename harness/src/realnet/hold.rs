//! `straum realnet-hold` (hidden): create a cluster, start a `sleep` inside each
//! node's namespace, print one JSON line describing it, and hold it until SIGINT or
//! SIGTERM (then tear it down). For tests and debugging: SIGKILL it and what is
//! left is what a crashed straum leaves, which `straum clean` must remove.

use std::io::Write;
use std::process::{Command, Stdio};

use clap::Args;
use serde_json::json;

use super::cluster::Cluster;

/// Flags of `straum realnet-hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// The run name the namespaces are named after.
    #[arg(long)]
    pub run: String,
    /// Comma-separated node ids.
    #[arg(long, default_value = "n1,n2,n3")]
    pub nodes: String,
}

/// Run `straum realnet-hold`: 0 after a clean teardown on a signal, 1 on errors.
pub fn run_command(args: &HoldArgs) -> i32 {
    let ids: Vec<&str> = args.nodes.split(',').filter(|s| !s.is_empty()).collect();
    let (signalled, wait) = crossbeam_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = signalled.try_send(());
    }) {
        eprintln!("straum realnet-hold: cannot handle signals: {e}");
        return 1;
    }
    let mut cluster = match Cluster::create(&args.run, &ids) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("straum realnet-hold: {e}");
            return 1;
        }
    };
    let mut sleepers = Vec::new();
    for i in 0..cluster.len() {
        let mut sleep = Command::new("sleep");
        sleep.arg("100000");
        match cluster
            .exec_in(i, &sleep)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(child) => sleepers.push(child),
            Err(e) => {
                eprintln!(
                    "straum realnet-hold: cannot start sleep in {}: {e}",
                    cluster.netns(i)
                );
                return 1;
            }
        }
    }
    let nodes: Vec<_> = cluster
        .nodes()
        .iter()
        .map(|n| json!({"id": n.id, "netns": n.netns, "veth": n.host_veth, "ip": n.ip.to_string()}))
        .collect();
    let line = json!({
        "bridge": cluster.bridge(),
        "host_ip": cluster.host_ip().to_string(),
        "nodes": nodes,
        "sleepers": sleepers.iter().map(|c| c.id()).collect::<Vec<_>>(),
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    drop(stdout);
    let _ = wait.recv();
    // Teardown kills the sleepers (they are in the namespaces); reap them.
    let result = cluster.teardown();
    for mut child in sleepers {
        let _ = child.wait();
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("straum realnet-hold: {e}");
            1
        }
    }
}

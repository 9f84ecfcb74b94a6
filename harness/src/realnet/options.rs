//! `straum test`'s Mode B flags (`--net real`, `--db-start`, `--client`, …) and
//! their validation.

use std::time::Duration;

use clap::Args;

use super::db::check_template;

/// Faults Mode B can inject on real processes and links here.
const REAL_FAULTS: [&str; 4] = ["partition", "kill", "pause", "clock"];

/// Mode B's flags of `straum test`.
#[derive(Debug, Clone, Args)]
pub struct RealNetArgs {
    /// The network: `simulated` (Mode A: node programs over stdio, Maelstrom's
    /// network model) or `real` (Mode B: the system --db-start starts, one network
    /// namespace per node, clients from --client; needs root).
    #[arg(long, default_value = "simulated", value_name = "simulated|real")]
    pub net: String,
    /// Mode B: how to start one node of the system under test, run with `sh -c`
    /// inside the node's namespace; placeholders {node} {ip} {port} {peer_port}
    /// {data} {cluster} {peers} {peer_ips} {host_ip}.
    #[arg(long, value_name = "CMD")]
    pub db_start: Option<String>,
    /// Mode B: a command that succeeds once a node is ready (polled; same
    /// placeholders). Default: a TCP connection to {ip}:{port} succeeds.
    #[arg(long, value_name = "CMD")]
    pub db_ready: Option<String>,
    /// Mode B: how to stop a node at the end (same placeholders). Default: SIGTERM.
    #[arg(long, value_name = "CMD")]
    pub db_stop: Option<String>,
    /// Mode B: seconds every node has to become ready.
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    pub db_ready_timeout: f64,
    /// Mode B: the port clients connect to ({port}).
    #[arg(long, default_value = "2379", value_name = "PORT")]
    pub db_port: u16,
    /// Mode B: the port nodes talk to each other on ({peer_port}).
    #[arg(long, default_value = "2380", value_name = "PORT")]
    pub db_peer_port: u16,
    /// Mode B: the client adapter, run with `sh -c` once per worker (one JSON
    /// request per line on stdin, one reply per line on stdout; see README).
    #[arg(long, value_name = "CMD")]
    pub client: Option<String>,
}

/// Mode B's validated settings.
#[derive(Debug, Clone)]
pub struct RealNetConfig {
    /// `--db-start`.
    pub db_start: String,
    /// `--db-ready`.
    pub db_ready: Option<String>,
    /// `--db-stop`.
    pub db_stop: Option<String>,
    /// `--db-ready-timeout`.
    pub ready_timeout: Duration,
    /// `--db-port`.
    pub port: u16,
    /// `--db-peer-port`.
    pub peer_port: u16,
    /// `--client`.
    pub client: String,
}

impl RealNetArgs {
    /// `None` for Mode A; Mode B's settings otherwise. Problems are added to `errors`:
    /// a missing --db-start or --client, a bad template, a --bin (Mode B tests the
    /// system --db-start starts), and faults or latency real links cannot do here.
    pub fn validate(
        &self,
        bin_given: bool,
        faults: &[String],
        latency_ms: u64,
        errors: &mut Vec<String>,
    ) -> Option<RealNetConfig> {
        match self.net.as_str() {
            "simulated" => {
                let mode_b_only = [
                    ("--db-start", self.db_start.is_some()),
                    ("--db-ready", self.db_ready.is_some()),
                    ("--db-stop", self.db_stop.is_some()),
                    ("--client", self.client.is_some()),
                ];
                for (flag, _) in mode_b_only.iter().filter(|(_, given)| *given) {
                    errors.push(format!("{flag} is for --net real (Mode B)"));
                }
                return None;
            }
            "real" => {}
            other => {
                errors.push(format!("--net expects simulated or real, got {other:?}"));
                return None;
            }
        }
        if bin_given {
            errors.push(
                "--bin is for --net simulated; with --net real the system under test is \
                 what --db-start starts"
                    .into(),
            );
        }
        let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let (db_start, client) = (given(&self.db_start), given(&self.client));
        for (flag, value) in [("--db-start", &db_start), ("--client", &client)] {
            if value.is_none() {
                errors.push(format!("--net real needs {flag} CMD"));
            }
        }
        for (flag, template) in [
            ("--db-start", &self.db_start),
            ("--db-ready", &self.db_ready),
            ("--db-stop", &self.db_stop),
        ] {
            if let Some(Err(e)) = template.as_deref().map(check_template) {
                errors.push(format!("{flag}: {e}"));
            }
        }
        let ready_timeout = Duration::try_from_secs_f64(self.db_ready_timeout)
            .ok()
            .filter(|d| !d.is_zero());
        if ready_timeout.is_none() {
            errors.push(format!(
                "--db-ready-timeout must be a positive number of seconds, got {}",
                self.db_ready_timeout
            ));
        }
        refuse_unreal_faults(faults, latency_ms, errors);
        Some(RealNetConfig {
            db_start: db_start?,
            db_ready: self.db_ready.clone(),
            db_stop: self.db_stop.clone(),
            ready_timeout: ready_timeout?,
            port: self.db_port,
            peer_port: self.db_peer_port,
            client: client?,
        })
    }
}

/// Mode B does partition (nftables), kill and pause (signals) and clock
/// (libfaketime). Latency and drop need `tc netem`, which is probed for and refused
/// with the kernel's reason where absent; duplicate is refused by name.
fn refuse_unreal_faults(faults: &[String], latency_ms: u64, errors: &mut Vec<String>) {
    let mut link_faults: Vec<&str> = faults
        .iter()
        .map(String::as_str)
        .filter(|f| matches!(*f, "latency" | "drop"))
        .collect();
    if latency_ms > 0 && !link_faults.contains(&"latency") {
        link_faults.push("latency");
    }
    if !link_faults.is_empty() {
        match super::preflight::refuse_link_faults(&link_faults) {
            // netem exists, but straum does not drive it yet.
            Ok(()) => errors.push(format!(
                "--net real does not inject {} yet (only {})",
                link_faults.join(" or "),
                REAL_FAULTS.join(", ")
            )),
            Err(e) => errors.push(e),
        }
    }
    for fault in faults {
        let fault = fault.as_str();
        if REAL_FAULTS.contains(&fault) || matches!(fault, "latency" | "drop") {
            continue;
        }
        errors.push(format!(
            "the {fault} fault is a network-model fault of --net simulated; --net real \
             injects {}",
            REAL_FAULTS.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(net: &str) -> RealNetArgs {
        RealNetArgs {
            net: net.into(),
            db_start: Some("db --listen {ip}:{port}".into()),
            db_ready: None,
            db_stop: None,
            db_ready_timeout: 5.0,
            db_port: 2379,
            db_peer_port: 2380,
            client: Some("adapter".into()),
        }
    }

    #[test]
    fn simulated_needs_none_of_mode_b_and_refuses_its_flags() {
        let mut errors = Vec::new();
        assert!(args("simulated")
            .validate(true, &[], 0, &mut errors)
            .is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("--db-start is for --net real"));
        let mut errors = Vec::new();
        let plain = RealNetArgs {
            db_start: None,
            client: None,
            ..args("simulated")
        };
        assert!(plain.validate(true, &[], 0, &mut errors).is_none());
        assert!(errors.is_empty());
    }

    #[test]
    fn real_needs_a_start_command_and_a_client_and_no_bin() {
        let mut errors = Vec::new();
        let config = args("real").validate(false, &["partition".into()], 0, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(config.unwrap().client, "adapter");
        let missing = RealNetArgs {
            db_start: None,
            client: None,
            ..args("real")
        };
        let mut errors = Vec::new();
        assert!(missing.validate(true, &[], 0, &mut errors).is_none());
        let text = errors.join("\n");
        for expected in [
            "--bin is for --net simulated",
            "--db-start CMD",
            "--client CMD",
        ] {
            assert!(text.contains(expected), "{text}");
        }
        let mut errors = Vec::new();
        args("virtual").validate(false, &[], 0, &mut errors);
        assert!(errors[0].contains("simulated or real"));
    }

    #[test]
    fn faults_real_links_cannot_do_are_refused_by_name() {
        let mut errors = Vec::new();
        let faults: Vec<String> = ["partition", "kill", "pause", "clock", "duplicate"]
            .map(String::from)
            .to_vec();
        args("real").validate(false, &faults, 0, &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("duplicate fault is a network-model fault"));
    }
}

//! Mode B's groundwork: real network namespaces on a real Linux bridge.
//!
//! Not yet wired into `straum test` (there is no `--net real` yet). What exists:
//!
//! - [`cluster`]: a bridge plus one network namespace, veth pair and private address
//!   per node, torn down on [`cluster::Cluster::teardown`] or drop;
//! - [`nft`]: a partition's grudge as nftables rules inside the namespaces;
//! - [`preflight`]: the refusals (privileges, `ip`/`nft`, `tc netem`);
//! - [`clean`]: `straum clean`, which removes what a killed straum left behind;
//! - [`adapter`]: the client-adapter protocol (requests, replies, completions);
//! - [`db`]: the system under test's processes, one per node, inside the namespaces.
//!
//! Every object straum creates carries a prefix so that [`clean`] can find it:
//! namespaces are `straum-<run>-<node>` ([`NETNS_PREFIX`]), links (the bridge
//! `st-<tag>` and the host ends of the veths `st-<tag>-h<i>`) start with
//! [`LINK_PREFIX`] followed by a six-hex-digit tag.
//!
//! `ip` and `nft` are shelled out to (JSON output where they have it) rather than
//! linked: their output is treated as hostile input, parsed strictly and quoted
//! abridged in errors.

pub mod adapter;
pub mod backend;
pub mod clean;
pub mod clients;
pub mod cluster;
pub mod db;
pub mod hold;
pub mod nft;
pub mod options;
pub mod preflight;

use std::process::{Command, Stdio};

use straum_workloads::quote::abridge_to;

/// Prefix of every network namespace straum creates.
pub const NETNS_PREFIX: &str = "straum-";

/// Prefix of every link (bridge, veth) straum creates in the host's namespace.
pub const LINK_PREFIX: &str = "st-";

/// How many characters of a tool's output an error quotes.
const QUOTED_CHARS: usize = 300;

/// Whether `name` has the shape of a link straum creates: `st-` + six lowercase hex
/// digits, optionally `-h` + 1–3 digits (a veth's host end). Narrower than the
/// prefix alone so that `straum clean` leaves other tools' `st-…` links alone.
pub fn is_straum_link(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(LINK_PREFIX) else {
        return false;
    };
    let (tag, suffix) = rest.split_at(rest.len().min(6));
    if tag.len() != 6 || !tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return false;
    }
    match suffix.strip_prefix("-h") {
        None => suffix.is_empty(),
        Some(digits) => {
            (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// Whether `name` has the shape of a namespace straum creates.
pub fn is_straum_netns(name: &str) -> bool {
    name.strip_prefix(NETNS_PREFIX)
        .is_some_and(|rest| !rest.is_empty())
}

/// Tool output quoted for an error message: lossy UTF-8, trimmed, abridged.
pub(crate) fn quote_output(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    abridge_to(text.trim(), QUOTED_CHARS).into_owned()
}

/// Describe `cmd` for error messages: program and arguments, abridged.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    abridge_to(&parts.join(" "), 200).into_owned()
}

/// Run `cmd` (stdin closed), returning its stdout, or an error naming the command,
/// its exit status and its stderr (abridged).
pub(crate) fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    run_with_input(cmd, None)
}

/// Run `cmd` with `input` on stdin (closed when `None`), as [`run`].
pub(crate) fn run_with_input(cmd: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
    use std::io::Write;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let what = describe(cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not run `{what}`: {e}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A tool that exits early closes its end; its status tells why.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("could not wait for `{what}`: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`{what}` failed ({}): {}",
            out.status,
            quote_output(&out.stderr)
        ))
    }
}

/// Parse a tool's JSON output, treating empty output as `[]` (what `ip -json netns
/// list` prints when there is nothing).
pub(crate) fn parse_json_list(what: &str, stdout: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    match serde_json::from_slice::<serde_json::Value>(stdout) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(_) | Err(_) => Err(format!(
            "`{what}` printed something other than a JSON list: {}",
            quote_output(stdout)
        )),
    }
}

/// The names of the host namespace's links (`ip -json link show`).
pub(crate) fn host_links() -> Result<Vec<String>, String> {
    let out = run(Command::new("ip").args(["-json", "link", "show"]))?;
    Ok(parse_json_list("ip -json link show", &out)?
        .iter()
        .filter_map(|l| l.get("ifname").and_then(|n| n.as_str()).map(str::to_owned))
        .collect())
}

/// The names of the named network namespaces (`ip -json netns list`).
pub(crate) fn netns_names() -> Result<Vec<String>, String> {
    let out = run(Command::new("ip").args(["-json", "netns", "list"]))?;
    Ok(parse_json_list("ip -json netns list", &out)?
        .iter()
        .filter_map(|l| l.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_straum_creates_are_recognized_and_others_are_not() {
        assert!(is_straum_link("st-0a1b2c"));
        assert!(is_straum_link("st-0a1b2c-h0"));
        assert!(is_straum_link("st-0a1b2c-h249"));
        for other in [
            "st-",
            "st-0a1b2",
            "st-0A1B2C",
            "st-0a1b2cd",
            "st-0a1b2c-h",
            "st-0a1b2c-h1000",
            "st-0a1b2c-x1",
            "eth0",
            "st-wlan0",
        ] {
            assert!(!is_straum_link(other), "{other}");
        }
        assert!(is_straum_netns("straum-run-n1"));
        assert!(!is_straum_netns("straum-"));
        assert!(!is_straum_netns("docker-1"));
    }

    #[test]
    fn empty_json_output_is_an_empty_list_and_garbage_is_refused() {
        assert!(parse_json_list("x", b"\n").unwrap().is_empty());
        assert_eq!(
            parse_json_list("x", b"[{\"name\":\"a\"}]").unwrap().len(),
            1
        );
        let err = parse_json_list("x", &b"{".repeat(5000)).unwrap_err();
        assert!(err.len() < 600, "{err}");
    }
}

//! Command templates (`--db-start`, `--db-ready`, `--db-stop`): shell commands with
//! `{name}` placeholders filled in per node. `{{` and `}}` are literal braces (a
//! shell's `${VAR}` is written `${{VAR}}`); any other brace, and any unknown name,
//! is refused naming it, so that a typo is an error before anything starts rather
//! than a command that runs with a hole in it.

use straum_workloads::quote::abridge_to;

/// Every placeholder a template may use, with what it stands for.
pub const PLACEHOLDERS: [(&str, &str); 9] = [
    ("node", "the node's id (n1, n2, …)"),
    ("ip", "the node's IP address"),
    ("port", "the client port"),
    ("peer_port", "the peer port"),
    ("data", "the node's data directory (absolute)"),
    ("host_ip", "the host's address on the bridge"),
    (
        "cluster",
        "every node as id=http://IP:PEER_PORT, comma-separated (etcd's --initial-cluster)",
    ),
    (
        "peers",
        "every node's IP:PORT (client port), comma-separated",
    ),
    ("peer_ips", "every node's IP, comma-separated"),
];

/// The values of the placeholders for one node.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// `{node}`.
    pub node: String,
    /// `{ip}`.
    pub ip: String,
    /// `{port}`.
    pub port: String,
    /// `{peer_port}`.
    pub peer_port: String,
    /// `{data}`.
    pub data: String,
    /// `{host_ip}`.
    pub host_ip: String,
    /// `{cluster}`.
    pub cluster: String,
    /// `{peers}`.
    pub peers: String,
    /// `{peer_ips}`.
    pub peer_ips: String,
}

impl Values {
    /// The value of placeholder `name`, if it is one.
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "node" => &self.node,
            "ip" => &self.ip,
            "port" => &self.port,
            "peer_port" => &self.peer_port,
            "data" => &self.data,
            "host_ip" => &self.host_ip,
            "cluster" => &self.cluster,
            "peers" => &self.peers,
            "peer_ips" => &self.peer_ips,
            _ => return None,
        })
    }
}

/// Check `template`'s placeholders and braces without filling anything in: `Err`
/// names an unknown placeholder (listing the known ones) or a stray brace.
pub fn check_template(template: &str) -> Result<(), String> {
    expand(template, &Values::default()).map(drop)
}

/// `template` with every placeholder replaced by its value from `values` (as is: no
/// quoting) and `{{`/`}}` by single braces; errors as [`check_template`].
pub fn expand(template: &str, values: &Values) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let offset = template.len() - rest.len() + at;
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err(stray(template, offset, '}'));
        }
        let name_len = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len() - 1);
        let name = &tail[1..1 + name_len];
        if name.is_empty() || !tail[1 + name_len..].starts_with('}') {
            return Err(stray(template, offset, '{'));
        }
        let Some(value) = values.get(name) else {
            return Err(format!(
                "unknown placeholder {{{name}}} in the command {}; known: {}; write {{{{ \
                 and }}}} for literal braces",
                quote(template),
                known()
            ));
        };
        out.push_str(value);
        rest = &tail[name_len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The known placeholders, as `{node}, {ip}, …`.
fn known() -> String {
    PLACEHOLDERS
        .iter()
        .map(|(name, _)| format!("{{{name}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn stray(template: &str, offset: usize, brace: char) -> String {
    let what = if brace == '{' { "begins" } else { "ends" };
    format!(
        "a `{brace}` that {what} no placeholder at byte {offset} of the command {}: write \
         {brace}{brace} for a literal brace (a shell's ${{VAR}} as ${{{{VAR}}}}); \
         placeholders: {}",
        quote(template),
        known()
    )
}

fn quote(template: &str) -> String {
    format!("`{}`", abridge_to(template, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            node: "n2".into(),
            ip: "10.200.7.3".into(),
            port: "2379".into(),
            peer_port: "2380".into(),
            data: "/tmp/x/node-data/n2".into(),
            host_ip: "10.200.7.1".into(),
            cluster: "n1=http://10.200.7.2:2380,n2=http://10.200.7.3:2380".into(),
            peers: "10.200.7.2:2379,10.200.7.3:2379".into(),
            peer_ips: "10.200.7.2,10.200.7.3".into(),
        }
    }

    #[test]
    fn every_placeholder_is_filled_in() {
        let t = "db --name {node} --at {ip}:{port} --peer {ip}:{peer_port} --data {data} \
                 --host {host_ip} --cluster {cluster} --peers {peers} --ips {peer_ips} {node}";
        assert_eq!(
            expand(t, &values()).unwrap(),
            "db --name n2 --at 10.200.7.3:2379 --peer 10.200.7.3:2380 --data \
             /tmp/x/node-data/n2 --host 10.200.7.1 --cluster \
             n1=http://10.200.7.2:2380,n2=http://10.200.7.3:2380 --peers \
             10.200.7.2:2379,10.200.7.3:2379 --ips 10.200.7.2,10.200.7.3 n2"
        );
        for (name, _) in PLACEHOLDERS {
            let t = format!("{{{name}}}");
            check_template(&t).unwrap();
            assert_eq!(expand(&t, &values()).unwrap(), values().get(name).unwrap());
        }
        assert_eq!(expand("", &values()).unwrap(), "");
        assert_eq!(expand("ü {node}ü", &values()).unwrap(), "ü n2ü");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            expand("echo ${{STRAUM_NODE}} {{}} {{{node}}} }}}}", &values()).unwrap(),
            "echo ${STRAUM_NODE} {} {n2} }}"
        );
        assert_eq!(expand("{{node}}", &values()).unwrap(), "{node}");
        check_template("awk '{{print $1}}'").unwrap();
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_refused_by_name() {
        let err = check_template("etcd --name {nodes} --x {ip}").unwrap_err();
        assert!(err.contains("unknown placeholder {nodes}"), "{err}");
        assert!(err.contains("`etcd --name {nodes} --x {ip}`"), "{err}");
        for (name, _) in PLACEHOLDERS {
            assert!(err.contains(&format!("{{{name}}}")), "{name}: {err}");
        }
        assert!(err.contains("{{"), "{err}");
        assert!(check_template("{Node}").unwrap_err().contains("{Node}"));
        for bad in [
            "echo ${HOME}",
            "{ echo; }",
            "{",
            "x}",
            "{}",
            "{node",
            "{no de}",
        ] {
            let err = check_template(bad).unwrap_err();
            assert!(
                err.contains("no placeholder at byte") || err.contains("unknown placeholder"),
                "{bad}: {err}"
            );
        }
        let err = check_template("sh -c 'x }'").unwrap_err();
        assert!(
            err.contains("`}` that ends no placeholder at byte 9"),
            "{err}"
        );
        let err = check_template(&format!("{} {{bad}}", "x".repeat(5000))).unwrap_err();
        assert!(err.len() < 800, "{err}");
    }
}

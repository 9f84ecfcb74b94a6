//! `index.html`: the run at a glance — summary, checker verdicts, seed and reproduce
//! command, the plots, and links to every file of the run directory.

use std::fmt::Write as _;

use super::svg::escape;

/// What the index shows.
pub struct IndexView<'a> {
    /// The end-of-run summary text, shown preformatted.
    pub summary: &'a str,
    /// (checker name, verdict word, short detail) rows.
    pub checkers: &'a [(String, String, String)],
    /// The run's seed.
    pub seed: u64,
    /// The command that reproduces the run.
    pub reproduce: &'a str,
    /// File names (relative to the run directory) to link to, in order.
    pub files: &'a [String],
    /// (file name, title) of the checkers' pages, linked under the verdicts.
    pub pages: &'a [(String, String)],
}

/// Plots embedded as images when present among the files, with their captions.
const EMBEDDED: [(&str, &str); 3] = [
    ("latency-raw.svg", "Raw latency"),
    ("latency-quantiles.svg", "Latency quantiles"),
    ("rate.svg", "Throughput"),
];

const STYLE: &str =
    "body{font-family:Helvetica,Arial,sans-serif;font-size:14px;margin:20px;max-width:1100px}\n\
pre{background:#f6f6f6;padding:10px;overflow-x:auto}\n\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}\n\
.valid{color:#1a7f37;font-weight:bold}.invalid{color:#cf222e;font-weight:bold}\
.unknown{color:#9a6700;font-weight:bold}\n\
img{max-width:100%;border:1px solid #ddd;margin:8px 0}\n";

/// A file name as a link target: bytes other than unreserved characters and `/`
/// percent-encoded (then XML-escaped by the caller).
pub fn href(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn verdict_class(word: &str) -> &'static str {
    match word.to_ascii_lowercase().as_str() {
        "valid" | "true" | "pass" | "ok" => "valid",
        "invalid" | "false" | "fail" => "invalid",
        _ => "unknown",
    }
}

/// The index page, as polyglot HTML (also well-formed XML).
pub fn index_html(view: &IndexView) -> String {
    let mut out = String::with_capacity(8192 + view.summary.len());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>straum run, seed {}</title><style>{STYLE}</style></head><body>\n\
         <h1>straum run</h1>\n<h2>Summary</h2>\n<pre>{}</pre>\n",
        view.seed,
        escape(view.summary.trim_matches('\n'))
    );
    out.push_str("<h2>Checkers</h2>\n<table><thead><tr><th>checker</th><th>verdict</th><th>detail</th></tr></thead><tbody>\n");
    for (name, verdict, detail) in view.checkers {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(name),
            verdict_class(verdict),
            escape(verdict),
            escape(detail)
        );
    }
    out.push_str("</tbody></table>\n");
    if !view.pages.is_empty() {
        out.push_str("<h2>What the checkers found</h2>\n<ul>\n");
        for (name, title) in view.pages {
            let _ = writeln!(
                out,
                "<li><a href=\"{}\">{}</a></li>",
                escape(&href(name)),
                escape(title)
            );
        }
        out.push_str("</ul>\n");
    }
    let _ = write!(
        out,
        "<h2>Reproduce</h2>\n<p>Seed <code>{}</code></p>\n<pre>{}</pre>\n",
        view.seed,
        escape(view.reproduce)
    );
    let has = |name: &str| view.files.iter().any(|f| f == name);
    let plots: Vec<_> = EMBEDDED.iter().filter(|(f, _)| has(f)).collect();
    if !plots.is_empty() || has("timeline.html") || has("messages.svg") {
        out.push_str("<h2>Plots</h2>\n<p>");
        if has("timeline.html") {
            out.push_str("<a href=\"timeline.html\">Timeline of operations</a> ");
        }
        if has("messages.svg") {
            out.push_str("<a href=\"messages.svg\">Messages (Lamport diagram)</a>");
        }
        out.push_str("</p>\n");
        for (file, caption) in plots {
            let _ = writeln!(
                out,
                "<figure><a href=\"{file}\"><img src=\"{file}\" alt=\"{caption}\"/></a><figcaption>{caption}</figcaption></figure>"
            );
        }
    }
    out.push_str("<h2>Files</h2>\n<ul>\n");
    for file in view.files {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a></li>",
            escape(&href(file)),
            escape(file)
        );
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::assert_well_formed;

    #[test]
    fn index_is_well_formed_and_escaped() {
        let checkers = vec![
            (
                "workload".to_string(),
                "INVALID".to_string(),
                "lost <3> & \"x\"".to_string(),
            ),
            ("stats".to_string(), "valid".to_string(), String::new()),
        ];
        let files: Vec<String> = [
            "latency-raw.svg",
            "rate.svg",
            "timeline.html",
            "odd name&.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let html = index_html(&IndexView {
            summary: "echo on 3 nodes\n</pre><script>x</script>",
            checkers: &checkers,
            seed: 42,
            reproduce: "straum test -w echo --seed 42 --bin './a b' && echo \"ok\"",
            files: &files,
            pages: &[("lin-key-0.html".into(), "key 0 & more".into())],
        });
        assert_well_formed(&html);
        assert!(html.contains("<a href=\"lin-key-0.html\">key 0 &amp; more</a>"));
        assert!(!html.contains("<script"));
        assert!(html.contains("<img src=\"latency-raw.svg\""));
        assert!(html.contains("<img src=\"rate.svg\""));
        assert!(!html.contains("<img src=\"latency-quantiles.svg\""));
        assert!(html.contains("href=\"odd%20name%26.txt\">odd name&amp;.txt</a>"));
        assert!(html.contains("class=\"invalid\">INVALID"));
        assert!(html.contains("lost &lt;3&gt; &amp; &quot;x&quot;"));
        assert!(html.contains("Seed <code>42</code>"));
    }
}

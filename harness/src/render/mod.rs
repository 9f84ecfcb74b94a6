//! Rendering a run for people: SVG plots of latency and throughput with fault periods
//! shaded ([`plots`]), an HTML timeline of every operation ([`timeline`]), a paged
//! Lamport diagram of the network journal ([`lamport`]) and an index page tying them
//! together ([`index`]). Everything is self-contained text (no scripts, external styles
//! or fonts); the only I/O is writing the output files into the run directory and
//! streaming the journal.

mod axes;
pub mod faults;
pub mod index;
pub mod lamport;
mod ops;
mod palette;
pub mod plots;
pub mod svg;
#[cfg(test)]
mod testing;
pub mod timeline;

use std::path::Path;

use straum_workloads::{Op, ReportPage};

pub use faults::{fault_periods, FaultPeriod};

/// File name of the raw latency plot.
pub const LATENCY_RAW: &str = "latency-raw.svg";
/// File name of the latency quantile plot.
pub const LATENCY_QUANTILES: &str = "latency-quantiles.svg";
/// File name of the throughput plot.
pub const RATE: &str = "rate.svg";
/// File name of the index page.
pub const INDEX: &str = "index.html";

/// Everything the rendered views are drawn from.
pub struct RunView<'a> {
    /// The run's history.
    pub history: &'a [Op],
    /// The network journal (`net-journal.jsonl`), if there is one.
    pub journal: Option<&'a Path>,
    /// The harness-clock time (ns) at which the main phase began, as given to
    /// [`crate::journal::read`], so message times line up with the history's.
    pub journal_origin: u64,
    /// The end-of-run summary text.
    pub summary: &'a str,
    /// (checker name, verdict word, short detail) rows for the index.
    pub checkers: Vec<(String, String, String)>,
    /// The run's seed.
    pub seed: u64,
    /// The command that reproduces the run.
    pub reproduce: &'a str,
    /// Other files of the run directory (relative names) for the index to link to.
    pub files: Vec<String>,
    /// Pages the checkers drew (a failing key's operations, an anomaly's cycle), written
    /// as they are and listed first on the index.
    pub pages: Vec<&'a ReportPage>,
}

/// Whether a checker's page name is a plain file name: `[A-Za-z0-9._-]`, not hidden,
/// not one of the views' own names.
fn is_page_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && ![
            INDEX,
            LATENCY_RAW,
            LATENCY_QUANTILES,
            RATE,
            "timeline.html",
            "messages.svg",
        ]
        .contains(&name)
}

/// Write every view into `dir`: `latency-raw.svg`, `latency-quantiles.svg`,
/// `rate.svg`, `timeline.html` (+ pages), `messages.svg` (+ pages, when the journal
/// exists), the checkers' pages, and last `index.html`, which links to these and to
/// `view.files`. Returns the names written, in that order.
pub fn write_all(dir: &Path, view: &RunView) -> std::io::Result<Vec<String>> {
    let periods = fault_periods(view.history);
    let mut written = Vec::new();
    let mut pages = Vec::new();
    for page in &view.pages {
        if !is_page_name(&page.name) || pages.iter().any(|(n, _)| *n == page.name) {
            eprintln!("straum: skipping a checker page with an unusable name");
            continue;
        }
        std::fs::write(dir.join(&page.name), &page.text)?;
        pages.push((page.name.clone(), page.title.clone()));
    }
    for (name, text) in [
        (LATENCY_RAW, plots::latency_raw(view.history, &periods)),
        (
            LATENCY_QUANTILES,
            plots::latency_quantiles(view.history, &periods),
        ),
        (RATE, plots::rate(view.history, &periods)),
    ] {
        std::fs::write(dir.join(name), text)?;
        written.push(name.to_string());
    }
    written.extend(timeline::write(dir, view.history, &periods)?);
    if let Some(journal) = view.journal.filter(|j| j.is_file()) {
        written.extend(lamport::write(dir, journal, view.journal_origin)?);
    }
    let mut files: Vec<String> = view.files.clone();
    files.extend(written.iter().cloned());
    files.extend(pages.iter().map(|(name, _)| name.clone()));
    files.retain(|f| f != INDEX);
    files.sort();
    files.dedup();
    let html = index::index_html(&index::IndexView {
        summary: view.summary,
        checkers: &view.checkers,
        seed: view.seed,
        reproduce: view.reproduce,
        files: &files,
        pages: &pages,
    });
    written.extend(pages.into_iter().map(|(name, _)| name));
    std::fs::write(dir.join(INDEX), html)?;
    written.push(INDEX.to_string());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::{assert_well_formed, sample_history};

    #[test]
    fn write_all_writes_and_links_everything() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("net-journal.jsonl");
        std::fs::write(
            &journal,
            "{\"t\":5,\"e\":\"send\",\"id\":1,\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"echo\",\"echo\":\"<&>\"}}\n\
             {\"t\":9,\"e\":\"recv\",\"id\":1,\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"echo\",\"echo\":\"<&>\"}}\n",
        )
        .unwrap();
        let history = sample_history(300, 5);
        let page = ReportPage {
            name: "lin-key-3.html".into(),
            title: "key 3 <breaks>".into(),
            text: "<!DOCTYPE html><html><body>key 3</body></html>".into(),
        };
        let hidden = ReportPage {
            name: "../escape.html".into(),
            ..page.clone()
        };
        let clash = ReportPage {
            name: "index.html".into(),
            ..page.clone()
        };
        let view = RunView {
            history: &history,
            journal: Some(&journal),
            journal_origin: 0,
            summary: "echo on 1 node",
            checkers: vec![("workload".into(), "valid".into(), String::new())],
            seed: 7,
            reproduce: "straum test -w echo --seed 7",
            files: vec!["net-journal.jsonl".into(), "history.txt".into()],
            pages: vec![&page, &hidden, &clash],
        };
        let written = write_all(dir.path(), &view).unwrap();
        assert_eq!(
            written,
            [
                "latency-raw.svg",
                "latency-quantiles.svg",
                "rate.svg",
                "timeline.html",
                "messages.svg",
                "lin-key-3.html",
                "index.html"
            ]
        );
        assert!(!dir.path().join("../escape.html").exists());
        assert!(!dir.path().parent().unwrap().join("escape.html").exists());
        for name in &written {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert_well_formed(&text);
        }
        let index = std::fs::read_to_string(dir.path().join(INDEX)).unwrap();
        for name in [
            "history.txt",
            "net-journal.jsonl",
            "messages.svg",
            "timeline.html",
        ] {
            assert!(
                index.contains(&format!("<a href=\"{name}\">{name}</a>")),
                "{name}"
            );
        }
        assert!(
            index.contains("<a href=\"lin-key-3.html\">key 3 &lt;breaks&gt;</a>"),
            "the checker's page is linked by its title"
        );
        let view = RunView {
            journal: None,
            history: &[],
            pages: Vec::new(),
            ..view
        };
        let empty = tempfile::tempdir().unwrap();
        let written = write_all(empty.path(), &view).unwrap();
        assert!(!written.contains(&"messages.svg".to_string()));
        for name in &written {
            assert_well_formed(&std::fs::read_to_string(empty.path().join(name)).unwrap());
        }
    }
}

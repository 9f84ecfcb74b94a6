//! `timeline.html`: every client operation as a box in its process's column, from
//! invocation (top) to completion (bottom), coloured by how it completed, with the
//! nemesis's ops in their own column and fault periods as bands behind. Positioned
//! `<div>`s in polyglot HTML (also well-formed XML); large histories are split into
//! pages of [`PAGE_OPS`] operations linked to each other.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use straum_workloads::lease::Hold;
use straum_workloads::{Op, OpType, Process};

use super::axes::nice_step;
use super::faults::{self, FaultPeriod};
use super::ops::{self, Pair};
use super::palette;
use super::svg::{escape_into, truncate};

/// Operations per page.
pub const PAGE_OPS: usize = 5_000;
/// Pixels the median operation of a page is drawn tall, if the page allows.
const TARGET_OP_PX: f64 = 20.0;
/// The smallest box drawn.
const MIN_OP_PX: f64 = 3.0;
/// The tallest page.
const MAX_PAGE_PX: f64 = 50_000.0;
/// Width of a process column.
const COL_PX: f64 = 90.0;
/// Width of the time labels on the left.
const GUTTER_PX: f64 = 80.0;
/// At most this many characters of a value are shown in a tooltip.
const VALUE_CHARS: usize = 300;

/// The file name of page `i` (0-based): `timeline.html`, `timeline-2.html`, …
pub fn file_name(i: usize) -> String {
    if i == 0 {
        "timeline.html".to_string()
    } else {
        format!("timeline-{}.html", i + 1)
    }
}

/// A nemesis operation: its invocation and completion records merged.
struct NemesisOp<'a> {
    time: u64,
    f: &'a str,
    value: &'a Value,
    result: Option<&'a Value>,
}

fn nemesis_ops(history: &[Op]) -> Vec<NemesisOp<'_>> {
    let mut out: Vec<NemesisOp> = Vec::new();
    for op in history.iter().filter(|op| op.process == Process::Nemesis) {
        match out.last_mut() {
            Some(last) if last.result.is_none() && last.f == op.f && last.time == op.time => {
                last.result = Some(&op.value);
            }
            _ => out.push(NemesisOp {
                time: op.time,
                f: &op.f,
                value: &op.value,
                result: None,
            }),
        }
    }
    out
}

fn json_short(value: &Value) -> String {
    truncate(&value.to_string(), VALUE_CHARS)
}

fn seconds(ns: u64) -> String {
    format!("{:.6} s", ns as f64 / 1e9)
}

fn op_title(pair: &Pair) -> String {
    let inv = pair.invoke;
    let mut t = format!(
        "process {}: {}\ninvoked {}",
        inv.process,
        inv.f,
        seconds(inv.time)
    );
    match (pair.done, pair.latency_ns()) {
        (Some(done), Some(lat)) => {
            let _ = write!(
                t,
                " → {} {} ({:.3} ms)",
                done.kind.name(),
                seconds(done.time),
                lat as f64 / 1e6
            );
        }
        _ => t.push_str(", never completed"),
    }
    if let Some(node) = &inv.node {
        let _ = write!(t, "\nnode {node}");
    }
    let _ = write!(t, "\nvalue: {}", json_short(&inv.value));
    if let Some(done) = pair.done {
        let _ = write!(t, "\nresult: {}", json_short(&done.value));
        if let Some(error) = &done.error {
            let _ = write!(t, "\nerror: {}", json_short(error));
        }
        if let Some(exception) = &done.exception {
            let _ = write!(t, "\nexception: {}", truncate(exception, VALUE_CHARS));
        }
    }
    t
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;font-size:12px;margin:10px}\n\
nav{margin:8px 0}nav a,nav span{margin-right:14px}\n\
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #999}\n\
.cols{position:sticky;top:0;z-index:5;background:white;height:22px;border-bottom:1px solid #999}\n\
.cols div{position:absolute;top:4px;width:86px;text-align:center;font-weight:bold}\n\
.tl{position:relative}\n\
.o{position:absolute;width:86px;overflow:hidden;font-size:10px;line-height:11px;box-sizing:border-box;\
border:1px solid rgba(0,0,0,0.3);border-radius:2px;padding-left:2px;white-space:nowrap;z-index:2}\n\
.o:hover{outline:2px solid black;z-index:4}\n\
.ok{background:#81BFFC}.info{background:#FFA400}.fail{background:#FF1E90}.open{background:#BBBBBB}\n\
.nem{background:#DDDDDD}\n\
.band{position:absolute;left:0;right:0;z-index:0;opacity:0.6}\n\
.hold{position:absolute;width:88px;z-index:1;background:rgba(46,139,87,0.2);border-left:3px solid #2E8B57;box-sizing:border-box}\n\
.tick{position:absolute;left:0;right:0;border-top:1px solid #eee;font-size:10px;color:#666;z-index:1}\n";

fn nav(out: &mut String, page: usize, pages: usize) {
    out.push_str("<nav>");
    if page > 0 {
        let _ = write!(
            out,
            "<a href=\"{}\">← previous page</a>",
            file_name(page - 1)
        );
    }
    let _ = write!(out, "<span>page {} of {pages}</span>", page + 1);
    if page + 1 < pages {
        let _ = write!(out, "<a href=\"{}\">next page →</a>", file_name(page + 1));
    }
    out.push_str("<a href=\"index.html\">run index</a></nav>\n");
}

fn class(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => "ok",
        OpType::Info => "info",
        OpType::Fail => "fail",
        OpType::Invoke => "open",
    }
}

/// Everything one page shows.
struct Page<'p, 'a> {
    index: usize,
    count: usize,
    first_op: usize,
    total_ops: usize,
    pairs: &'p [Pair<'a>],
    nemesis: Vec<&'p NemesisOp<'a>>,
    periods: &'p [FaultPeriod],
    /// Lease holds (lease workload), shaded in their holder's column.
    holds: &'p [Hold],
    /// Page time window, ns.
    lo: u64,
    hi: u64,
}

fn render_page(page: &Page) -> String {
    let mut processes: Vec<u64> = page
        .pairs
        .iter()
        .filter_map(|p| match p.invoke.process {
            Process::Client(c) => Some(c),
            Process::Nemesis => None,
        })
        .collect();
    processes.sort_unstable();
    processes.dedup();
    let has_nemesis = !page.nemesis.is_empty();
    let columns = processes.len() + usize::from(has_nemesis);
    let width = GUTTER_PX + COL_PX * columns.max(1) as f64;
    let span = page.hi.saturating_sub(page.lo) as f64;
    let mut latencies: Vec<u64> = page.pairs.iter().filter_map(Pair::latency_ns).collect();
    latencies.sort_unstable();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(1_000_000);
    let mut scale = TARGET_OP_PX / (median.max(1_000) as f64);
    if span * scale > MAX_PAGE_PX {
        scale = MAX_PAGE_PX / span;
    }
    let y = |t: u64| t.saturating_sub(page.lo) as f64 * scale;
    let height = span * scale + 2.0 * TARGET_OP_PX;
    let column = |process: Process| match process {
        Process::Client(c) => processes.binary_search(&c).unwrap_or(0),
        Process::Nemesis => processes.len(),
    };
    let left = |col: usize| GUTTER_PX + col as f64 * COL_PX + 2.0;

    let mut out = String::with_capacity(256 * page.pairs.len() + 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>Timeline, page {} of {}</title><style>{STYLE}</style></head><body>\n",
        page.index + 1,
        page.count
    );
    nav(&mut out, page.index, page.count);
    let _ = writeln!(
        out,
        "<p>Operations {}–{} of {}, {} s to {} s; 1 px = {:.3} ms. Hover over a box for its details.</p>",
        page.first_op + usize::from(!page.pairs.is_empty()),
        page.first_op + page.pairs.len(),
        page.total_ops,
        format_args!("{:.3}", page.lo as f64 / 1e9),
        format_args!("{:.3}", page.hi as f64 / 1e9),
        1.0 / scale / 1e6
    );
    out.push_str("<div class=\"legend\"><span class=\"ok\">ok</span><span class=\"info\">info</span><span class=\"fail\">fail</span><span class=\"open\">never completed</span>");
    if !page.holds.is_empty() {
        out.push_str("<span class=\"hold\" style=\"position:static\">holds a lease</span>");
    }
    for kind in faults::kinds(page.periods) {
        let _ = write!(out, "<span style=\"background:{}\">", palette::fault(kind));
        escape_into(&mut out, kind);
        out.push_str("</span>");
    }
    out.push_str("</div>\n");
    let _ = write!(
        out,
        "<div class=\"cols\" style=\"width:{width:.0}px\"><div style=\"left:0px;width:{GUTTER_PX:.0}px\">time</div>"
    );
    for (i, p) in processes.iter().enumerate() {
        let _ = write!(out, "<div style=\"left:{:.0}px\">{p}</div>", left(i));
    }
    if has_nemesis {
        let _ = write!(
            out,
            "<div style=\"left:{:.0}px\">nemesis</div>",
            left(processes.len())
        );
    }
    out.push_str("</div>\n");
    let _ = writeln!(
        out,
        "<div class=\"tl\" style=\"width:{width:.0}px;height:{height:.0}px\">"
    );
    for p in page.periods {
        if p.end_ns < page.lo || p.start_ns > page.hi {
            continue;
        }
        let (a, b) = (p.start_ns.max(page.lo), p.end_ns.min(page.hi));
        let _ = write!(
            out,
            "<div class=\"band\" style=\"top:{:.1}px;height:{:.1}px;background:{}\" title=\"",
            y(a),
            (y(b) - y(a)).max(1.0),
            palette::fault(&p.kind)
        );
        escape_into(
            &mut out,
            &format!("{} {} – {}", p.kind, seconds(p.start_ns), seconds(p.end_ns)),
        );
        out.push_str("\"></div>\n");
    }
    for h in page.holds {
        if h.end < page.lo || h.start > page.hi {
            continue;
        }
        let Ok(col) = processes.binary_search(&h.process) else {
            continue;
        };
        let (a, b) = (h.start.max(page.lo), h.end.min(page.hi));
        let _ = write!(
            out,
            "<div class=\"hold\" style=\"left:{:.0}px;top:{:.1}px;height:{:.1}px\" title=\"",
            left(col) - 1.0,
            y(a),
            (y(b) - y(a)).max(1.0)
        );
        let how = if h.released { "released" } else { "lapsed" };
        escape_into(
            &mut out,
            &format!(
                "process {} holds lock {} (token {}) {} – {}, {how}",
                h.process,
                h.lock,
                h.token,
                seconds(h.start),
                seconds(h.end)
            ),
        );
        out.push_str("\"></div>\n");
    }
    let step_s = nice_step(60.0 / scale / 1e9);
    let decimals = (-step_s.log10().floor()).clamp(0.0, 9.0) as usize;
    let step_ns = (step_s * 1e9).max(1.0) as u64;
    let mut t = page.lo.div_ceil(step_ns) * step_ns;
    while t <= page.hi {
        let _ = writeln!(
            out,
            "<div class=\"tick\" style=\"top:{:.1}px\">{:.decimals$} s</div>",
            y(t),
            t as f64 / 1e9
        );
        t += step_ns;
    }
    for pair in page.pairs {
        let end = pair.done.map_or(page.hi, |d| d.time);
        let top = y(pair.invoke.time);
        let h = (y(end) - top).max(MIN_OP_PX);
        let _ = write!(
            out,
            "<div class=\"o {}\" style=\"left:{:.0}px;top:{top:.1}px;height:{h:.1}px\" title=\"",
            class(pair.outcome()),
            left(column(pair.invoke.process))
        );
        escape_into(&mut out, &op_title(pair));
        out.push_str("\">");
        if h >= 11.0 {
            escape_into(&mut out, &truncate(&pair.invoke.f, 16));
        }
        out.push_str("</div>\n");
    }
    for n in &page.nemesis {
        let _ = write!(
            out,
            "<div class=\"o nem\" style=\"left:{:.0}px;top:{:.1}px;height:{:.1}px\" title=\"",
            left(processes.len()),
            y(n.time),
            TARGET_OP_PX.max(11.0)
        );
        let mut title = format!(
            "{} at {}\nvalue: {}",
            n.f,
            seconds(n.time),
            json_short(n.value)
        );
        if let Some(result) = n.result {
            let _ = write!(title, "\nresult: {}", json_short(result));
        }
        escape_into(&mut out, &title);
        out.push_str("\">");
        escape_into(&mut out, &truncate(n.f, 16));
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
    nav(&mut out, page.index, page.count);
    out.push_str("</body></html>\n");
    out
}

/// Render every page of the timeline, handing each (file name, HTML) to `sink` in
/// order; there is always at least one page.
pub fn for_each_page(
    history: &[Op],
    periods: &[FaultPeriod],
    mut sink: impl FnMut(String, String) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let pairs = ops::pairs(history);
    let nemesis = nemesis_ops(history);
    let holds = straum_workloads::lease::holds(history);
    let end = ops::end_time(history);
    let chunks: Vec<&[Pair]> = if pairs.is_empty() {
        vec![&[]]
    } else {
        pairs.chunks(PAGE_OPS).collect()
    };
    let count = chunks.len();
    let starts: Vec<u64> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| if i == 0 { 0 } else { c[0].invoke.time })
        .collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let lo = starts[i];
        let next = starts.get(i + 1).copied();
        let mut hi = chunk
            .iter()
            .map(|p| p.done.map_or(p.invoke.time, |d| d.time))
            .max()
            .unwrap_or(end);
        if next.is_none() {
            hi = hi.max(end);
        }
        let nemesis: Vec<&NemesisOp> = nemesis
            .iter()
            .filter(|n| n.time >= lo && next.is_none_or(|next| n.time < next))
            .collect();
        if let Some(last) = nemesis.last() {
            hi = hi.max(last.time);
        }
        let page = Page {
            index: i,
            count,
            first_op: i * PAGE_OPS,
            total_ops: pairs.len(),
            pairs: chunk,
            nemesis,
            periods,
            holds: &holds,
            lo,
            hi: hi.max(lo),
        };
        sink(file_name(i), render_page(&page))?;
    }
    Ok(())
}

/// Write `timeline.html` (and further pages) into `dir`; returns the file names.
pub fn write(dir: &Path, history: &[Op], periods: &[FaultPeriod]) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for_each_page(history, periods, |name, html| {
        std::fs::write(dir.join(&name), html)?;
        names.push(name);
        Ok(())
    })?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::faults::fault_periods;
    use crate::render::testing::{assert_well_formed, client, sample_history};

    fn pages(history: &[Op]) -> Vec<(String, String)> {
        let periods = fault_periods(history);
        let mut pages = Vec::new();
        for_each_page(history, &periods, |n, h| {
            pages.push((n, h));
            Ok(())
        })
        .unwrap();
        pages
    }

    #[test]
    fn timeline_is_well_formed_with_faults_and_titles() {
        let mut history = sample_history(200, 10);
        history[1].value = serde_json::json!("</div><script>alert(\"x\")</script>&");
        let pages = pages(&history);
        assert_eq!(pages.len(), 1);
        let (name, html) = &pages[0];
        assert_eq!(name, "timeline.html");
        assert_well_formed(html);
        assert!(!html.contains("<script"));
        assert!(html.contains("class=\"band\""));
        assert!(html.contains(">nemesis</div>"));
        assert!(html.contains("class=\"o fail\""));
        assert!(html.contains("error: [11,&quot;temporarily unavailable&quot;]"));
    }

    #[test]
    fn large_histories_are_paged_and_linked() {
        let history = sample_history(12_000, 60);
        let pages = pages(&history);
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[2].0, "timeline-3.html");
        for (i, (_, html)) in pages.iter().enumerate() {
            assert_well_formed(html);
            assert!(html.contains(&format!("page {} of 3", i + 1)));
            assert!(html.len() < 3_000_000, "page {i}: {} bytes", html.len());
        }
        assert!(pages[0].1.contains("href=\"timeline-2.html\""));
        assert!(pages[1].1.contains("href=\"timeline.html\""));
        assert!(pages[1].1.contains("href=\"timeline-3.html\""));
        assert!(!pages[2].1.contains("next page"));
    }

    #[test]
    fn lease_holds_are_shaded_in_the_holders_column() {
        let mut acquire = client(0, 5, OpType::Invoke, 3, "acquire");
        acquire.value = serde_json::json!({"lock":1,"ttl":50});
        let mut ok = client(1, 10, OpType::Ok, 3, "acquire");
        ok.value = serde_json::json!({"lock":1,"ttl":50,"token":9});
        let html = &pages(&[acquire, ok])[0].1;
        assert_well_formed(html);
        assert!(html.contains("process 3 holds lock 1 (token 9)"), "{html}");
        assert!(html.contains("lapsed"));
    }

    #[test]
    fn empty_and_open_ops() {
        let pages0 = pages(&[]);
        assert_eq!(pages0.len(), 1);
        assert_well_formed(&pages0[0].1);
        let open = pages(&[client(0, 5, OpType::Invoke, 0, "read")]);
        assert!(open[0].1.contains("class=\"o open\""));
        assert!(open[0].1.contains("never completed"));
    }
}

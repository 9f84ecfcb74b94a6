//! A picture of a key that is not linearizable, in the spirit of Porcupine's
//! visualizer and Knossos' `linear.svg`: one lane per process around the failure, each
//! operation a bar from invocation to completion coloured by outcome, the longest
//! linearization found drawn as numbered points joined by a line, and the operation
//! where it breaks marked. Hovering a bar shows its values and the state after it.
//!
//! The page is self-contained HTML with inline SVG and CSS (no scripts), so it opens
//! from a run directory in any browser.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::history::Outcome;
use super::report::{KeyResult, OpView, Timeline};
use crate::quote::{abridge, escape_xml as escape};
use crate::Validity;

/// Linearization steps before the break whose operations set the window shown.
const STEPS_SHOWN: usize = 12;
/// Most operations drawn; the ones nearest the break are kept.
const MAX_OPS: usize = 300;
/// Width of the plot area, pixels.
const PLOT_WIDTH: f64 = 1100.0;
/// Left margin for the lane labels, pixels.
const LEFT: f64 = 70.0;
/// Height of one lane, pixels.
const LANE: f64 = 34.0;
/// Height of an operation's bar, pixels.
const BAR: f64 = 20.0;
/// Space above the first lane (axis), pixels.
const TOP: f64 = 40.0;
/// Characters of an operation's description drawn inside its bar.
const LABEL_CHARS: usize = 40;

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;font-size:14px;margin:20px}\n\
p.why{background:#fff4f4;border-left:4px solid #cf222e;padding:8px 12px;max-width:1100px}\n\
p.unknown{background:#fff8e6;border-left:4px solid #9a6700;padding:8px 12px;max-width:1100px}\n\
svg text{font-size:11px}\n\
.op rect{stroke:#555;stroke-width:1}.op:hover rect{stroke:#000;stroke-width:2.5}\n\
.ok rect{fill:#b7e4c7}.info rect{fill:#ffe0a3}.fail rect{fill:#e0e0e0}\n\
.outside rect{fill-opacity:.45;stroke-dasharray:3 2}\n\
.break rect{stroke:#cf222e;stroke-width:3}\n\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n\
tr.break td{background:#fff4f4;color:#cf222e}\n\
.legend span{display:inline-block;width:14px;height:10px;border:1px solid #555;margin:0 4px 0 12px}\n";

/// The page for one key's result, or `None` when there is nothing to draw (a valid
/// key, or a result without visualizer data).
pub fn key_page(result: &KeyResult) -> Option<String> {
    if result.valid == Validity::Valid {
        return None;
    }
    let timeline = result.timeline.as_ref()?;
    let window = Window::around(timeline);
    let mut out = String::with_capacity(16_384 + 400 * window.ops.len());
    let verdict = match result.valid {
        Validity::Invalid => "not linearizable",
        _ => "unknown",
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>key {key}: {verdict}</title><style>{STYLE}</style></head><body>\n\
         <h1>key {key}: {verdict}</h1>\n",
        key = escape(&abridge(&result.key)),
    );
    if let Some(failure) = &result.failure {
        let _ = writeln!(out, "<p class=\"why\">{}</p>", escape(&failure.explanation));
    } else if let Some(reason) = &result.reason {
        let _ = writeln!(out, "<p class=\"unknown\">{}</p>", escape(reason));
    }
    let _ = writeln!(
        out,
        "<p>{} of {} operations linearized. Showing {} operations of {} processes \
         from {} to {}{}.</p>",
        timeline.linearization.len(),
        timeline.ops.len(),
        window.ops.len(),
        window.lanes.len(),
        timeline.clock.show(window.from),
        timeline.clock.show(window.to),
        if window.truncated {
            format!(" (the {MAX_OPS} nearest the break)")
        } else {
            String::new()
        }
    );
    out.push_str(
        "<p class=\"legend\"><span style=\"background:#b7e4c7\"></span>ok\
         <span style=\"background:#ffe0a3\"></span>indeterminate (info)\
         <span style=\"background:#e0e0e0\"></span>failed\
         <span style=\"background:#fff;border:3px solid #cf222e\"></span>where it breaks\
         <span style=\"background:#fff;border-top:2px solid #0969da;height:0\"></span>\
         longest linearization (numbered points)\
         <span style=\"background:#ddd;opacity:.5;border-style:dashed\"></span>\
         not in it</p>\n",
    );
    draw_svg(&mut out, timeline, &window);
    steps_table(&mut out, timeline);
    out.push_str("</body></html>\n");
    Some(out)
}

/// The ops drawn and the time span they cover.
struct Window {
    /// Op ids drawn, in call order.
    ops: Vec<usize>,
    /// Processes with an op drawn, lane order.
    lanes: BTreeMap<u64, usize>,
    from: u64,
    to: u64,
    truncated: bool,
    /// Linearization step (0-based) of each op id in the linearization.
    step: Vec<Option<usize>>,
    /// Linearization point of each op id in the linearization.
    point: Vec<Option<u64>>,
}

impl Window {
    fn around(timeline: &Timeline) -> Window {
        let ops = &timeline.ops;
        let lin = &timeline.linearization;
        let mut step = vec![None; ops.len()];
        let mut point = vec![None; ops.len()];
        // Greedy points: each op as early as its call and its predecessor allow. A
        // linearization respects real time, so this never passes an op's return.
        let mut at = 0;
        for (k, &id) in lin.iter().enumerate() {
            at = ops[id].call.max(at);
            step[id] = Some(k);
            point[id] = Some(at);
        }
        let focus: Vec<usize> = lin[lin.len().saturating_sub(STEPS_SHOWN)..]
            .iter()
            .copied()
            .chain(timeline.break_op)
            .collect();
        let from = focus
            .iter()
            .map(|&id| ops[id].call)
            .min()
            .unwrap_or_else(|| ops.iter().map(|o| o.call).min().unwrap_or(0));
        let to = focus
            .iter()
            .map(|&id| ops[id].ret.unwrap_or(ops[id].call))
            .max()
            .unwrap_or_else(|| {
                ops.iter()
                    .map(|o| o.ret.unwrap_or(o.call))
                    .max()
                    .unwrap_or(0)
            })
            .max(from + 1);
        let mut shown: Vec<usize> = (0..ops.len())
            .filter(|&id| ops[id].call <= to && ops[id].ret.is_none_or(|r| r >= from))
            .collect();
        let truncated = shown.len() > MAX_OPS;
        if truncated {
            let centre = timeline.break_op.map_or(to, |b| ops[b].call);
            shown.sort_by_key(|&id| ops[id].call.abs_diff(centre));
            shown.truncate(MAX_OPS);
        }
        shown.sort_by_key(|&id| (ops[id].call, id));
        let mut lanes = BTreeMap::new();
        for &id in &shown {
            lanes.insert(ops[id].process, 0);
        }
        for (lane, slot) in lanes.values_mut().enumerate() {
            *slot = lane;
        }
        Window {
            ops: shown,
            lanes,
            from,
            to,
            truncated,
            step,
            point,
        }
    }

    /// Pixel x of time `t`, clamped to a little past the window's edges.
    fn x(&self, t: u64) -> f64 {
        let span = (self.to - self.from) as f64;
        let frac = (t as f64 - self.from as f64) / span;
        LEFT + frac.clamp(-0.03, 1.03) * PLOT_WIDTH
    }

    fn lane_y(&self, process: u64) -> f64 {
        TOP + self.lanes[&process] as f64 * LANE
    }
}

fn draw_svg(out: &mut String, timeline: &Timeline, w: &Window) {
    let width = LEFT + PLOT_WIDTH + 120.0;
    let height = TOP + w.lanes.len() as f64 * LANE + 20.0;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\">"
    );
    // axis: five ticks
    for i in 0..=4 {
        let t = w.from + (w.to - w.from) * i / 4;
        let x = w.x(t);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            TOP - 16.0,
            height - 16.0,
            escape(&timeline.clock.show(t))
        );
    }
    for (&process, &lane) in &w.lanes {
        let y = TOP + lane as f64 * LANE;
        let _ = writeln!(
            out,
            "<text x=\"6\" y=\"{:.1}\">process {process}</text>",
            y + BAR / 2.0 + 4.0
        );
    }
    for &id in &w.ops {
        draw_op(out, timeline, w, &timeline.ops[id]);
    }
    draw_linearization(out, timeline, w);
    out.push_str("</svg>\n");
}

fn draw_op(out: &mut String, timeline: &Timeline, w: &Window, op: &OpView) {
    let clock = timeline.clock;
    let y = w.lane_y(op.process);
    let x1 = w.x(op.call);
    let x2 = op
        .ret
        .map_or(LEFT + PLOT_WIDTH * 1.03, |r| w.x(r))
        .max(x1 + 5.0);
    let outcome = match op.outcome {
        Outcome::Ok => "ok",
        Outcome::Info => "info",
        Outcome::Fail => "fail",
    };
    let mut class = vec![outcome];
    if w.step[op.id].is_none() {
        class.push("outside");
    }
    if timeline.break_op == Some(op.id) {
        class.push("break");
    }
    let returned = op
        .ret
        .map_or("never returned".to_string(), |r| clock.show(r));
    let placement = match w.step[op.id] {
        Some(k) => format!(
            "step {} of the linearization; state after: {}",
            k + 1,
            timeline.states[k]
        ),
        None if timeline.break_op == Some(op.id) => {
            "no linearization of the operations before it can take this one".to_string()
        }
        None => "not in the longest linearization found".to_string(),
    };
    let _ = write!(
        out,
        "<g class=\"op {}\"><title>process {} · {}\ninvoked {} · returned {}\n{}</title>\
         <rect x=\"{x1:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"3\"/>",
        class.join(" "),
        op.process,
        escape(&op.description),
        escape(&clock.show(op.call)),
        escape(&returned),
        escape(&placement),
        x2 - x1
    );
    let room = ((x2 - x1 - 6.0) / 6.0).max(0.0) as usize;
    if room >= 4 {
        let label = abridge_chars(&op.description, room.min(LABEL_CHARS));
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x1 + 3.0,
            y + BAR / 2.0 + 4.0,
            escape(&label)
        );
    }
    out.push_str("</g>\n");
}

/// The linearization points of the ops drawn, in order, joined by a line and
/// numbered; the break op gets a red cross at its return.
fn draw_linearization(out: &mut String, timeline: &Timeline, w: &Window) {
    let mut points: Vec<(usize, f64, f64)> = w
        .ops
        .iter()
        .filter_map(|&id| {
            let k = w.step[id]?;
            let x = w.x(w.point[id]?);
            Some((k, x, w.lane_y(timeline.ops[id].process) + BAR / 2.0))
        })
        .collect();
    points.sort_by_key(|p| p.0);
    if points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .map(|(_, x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" \
             stroke-opacity=\".8\"/>",
            path.join(" ")
        );
    }
    for (k, x, y) in &points {
        let _ = writeln!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#0969da\"><title>step {}: \
             state after {}</title></circle><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#0969da\">{}</text>",
            k + 1,
            escape(&timeline.states[*k]),
            x + 3.0,
            y - BAR / 2.0 - 2.0,
            k + 1
        );
    }
    if let Some(id) = timeline.break_op {
        let op = &timeline.ops[id];
        if w.lanes.contains_key(&op.process) {
            let x = op.ret.map_or(LEFT + PLOT_WIDTH, |r| w.x(r));
            let y = w.lane_y(op.process) + BAR / 2.0;
            let _ = writeln!(
                out,
                "<path d=\"M{:.1},{:.1}l10,10m0,-10l-10,10\" stroke=\"#cf222e\" stroke-width=\"3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#cf222e\">breaks here</text>",
                x - 5.0,
                y - 5.0,
                x + 8.0,
                y + BAR
            );
        }
    }
}

/// The last steps of the linearization and the op that breaks it, as a table.
fn steps_table(out: &mut String, timeline: &Timeline) {
    let lin = &timeline.linearization;
    let first = lin.len().saturating_sub(STEPS_SHOWN);
    out.push_str(
        "<h2>The end of the longest linearization</h2>\n<table><thead><tr><th>step</th>\
         <th>process</th><th>operation</th><th>invoked</th><th>returned</th>\
         <th>state after</th></tr></thead><tbody>\n",
    );
    let clock = timeline.clock;
    let row = |out: &mut String, class: &str, step: &str, op: &OpView, state: &str| {
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{step}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            op.process,
            escape(&op.description),
            escape(&clock.show(op.call)),
            escape(&op.ret.map_or("never".into(), |r| clock.show(r))),
            escape(state)
        );
    };
    for (k, &id) in lin.iter().enumerate().skip(first) {
        row(
            out,
            "",
            &(k + 1).to_string(),
            &timeline.ops[id],
            &timeline.states[k],
        );
    }
    if let Some(id) = timeline.break_op {
        row(
            out,
            "break",
            "breaks",
            &timeline.ops[id],
            "no state explains it",
        );
    }
    out.push_str("</tbody></table>\n");
}

fn abridge_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::super::history::Clock;
    use super::*;

    fn op(id: usize, process: u64, call: u64, ret: Option<u64>) -> OpView {
        OpView {
            id,
            source: id as u64,
            process,
            call,
            ret,
            outcome: if ret.is_some() {
                Outcome::Ok
            } else {
                Outcome::Info
            },
            description: format!("write({id}) <op>"),
        }
    }

    fn result(ops: Vec<OpView>, linearization: Vec<usize>, break_op: usize) -> KeyResult {
        let states = linearization.iter().map(|id| id.to_string()).collect();
        KeyResult {
            key: "k<1>".into(),
            valid: Validity::Invalid,
            analyzer: "wgl",
            op_count: ops.len(),
            linearized: linearization.len(),
            failure: None,
            reason: None,
            cache_entries: 0,
            cache_bytes: 0,
            time_ms: 0.0,
            timeline: Some(Timeline {
                ops,
                linearization,
                states,
                break_op: Some(break_op),
                clock: Clock::Nanos,
            }),
        }
    }

    #[test]
    fn many_pending_ops_are_cut_to_those_nearest_the_break() {
        // 400 ops that never return overlap everything; then two that do
        let mut ops: Vec<OpView> = (0..400)
            .map(|id| op(id, 100 + id as u64, id as u64 * 1000, None))
            .collect();
        ops.push(op(400, 1, 500_000, Some(600_000)));
        ops.push(op(401, 2, 700_000, Some(800_000)));
        let page = key_page(&result(ops, vec![400], 401)).unwrap();
        assert_eq!(page.matches("<g class=\"op ").count(), MAX_OPS);
        assert!(page.contains("(the 300 nearest the break)"));
        assert!(page.contains("never returned"));
        assert!(page.contains("<g class=\"op ok outside break\">"));
        assert!(page.contains("<h1>key k&lt;1&gt;: not linearizable</h1>"));
        assert!(page.contains("write(401) &lt;op&gt;"));
        assert!(!page.contains("<op>"));
    }

    #[test]
    fn points_follow_the_linearization_within_each_op() {
        // p1's op [0, 100] is linearized after p2's [50, 60]: its point is at 50
        let ops = vec![
            op(0, 1, 0, Some(100)),
            op(1, 2, 50, Some(60)),
            op(2, 3, 200, Some(300)),
        ];
        let timeline = result(ops, vec![1, 0], 2).timeline.unwrap();
        let w = Window::around(&timeline);
        assert_eq!(w.point, vec![Some(50), Some(50), None]);
        assert_eq!(w.step, vec![Some(1), Some(0), None]);
        assert_eq!(w.ops, vec![0, 1, 2]);
        assert_eq!(w.lanes.len(), 3);
        assert_eq!((w.from, w.to), (0, 300));
    }
}

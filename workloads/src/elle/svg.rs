//! Drawing a cycle as SVG: transactions as boxes around a circle with their
//! micro-ops, labelled arrows between them, all text XML-escaped.

use std::fmt::Write;

use super::cycles::Cycle;
use super::explain::kind_name;
use super::graph::kind;
use super::history::Txns;
use super::{Findings, TxnKind};
use crate::quote::escape_xml as escape;

/// Longest cycle drawn; longer ones are only explained in text.
pub const MAX_DRAWN: usize = 24;

/// Micro-op lines shown per transaction box.
const LINES: usize = 6;
const BOX_W: f64 = 240.0;
const LINE_H: f64 = 14.0;

fn colour(k: u8) -> &'static str {
    match k {
        kind::WW => "#c0392b",
        kind::WR => "#2471a3",
        kind::RW => "#d68910",
        kind::PROCESS => "#7d3c98",
        _ => "#117a65",
    }
}

/// The SVG page for one cycle.
pub fn draw(found: &Findings, t: &Txns, txn_kind: TxnKind, cycle: &Cycle) -> String {
    let n = cycle.steps.len();
    let radius = (70.0 * n as f64).max(170.0);
    let box_h = 22.0 + LINE_H * (LINES as f64 + 1.0);
    let (w, h) = (2.0 * radius + BOX_W + 80.0, 2.0 * radius + box_h + 140.0);
    let (cx, cy) = (w / 2.0, h / 2.0 + 20.0);
    let at = |i: usize| {
        let angle = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"monospace\" font-size=\"11\">\n<defs>"
    );
    for k in [kind::WW, kind::WR, kind::RW, kind::PROCESS, kind::REALTIME] {
        let _ = write!(
            s,
            "<marker id=\"m{k}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            colour(k)
        );
    }
    let _ = writeln!(
        s,
        "</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"20\" font-size=\"14\">{}: {} transactions in a cycle</text>",
        escape(&cycle.anomaly()),
        n
    );
    // arrows first, boxes over them
    for (i, (e, cited)) in cycle.steps.iter().enumerate() {
        let (x1, y1) = at(i);
        let (x2, y2) = at((i + 1) % n);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // stop at the box edges (an ellipse around each box, near enough)
        let shrink = |ux: f64, uy: f64| {
            let (a, b) = (BOX_W / 2.0 + 4.0, box_h / 2.0 + 4.0);
            1.0 / ((ux / a).powi(2) + (uy / b).powi(2)).sqrt()
        };
        let (ux, uy) = (dx / len, dy / len);
        let r = shrink(ux, uy).min(len / 2.0 - 5.0).max(0.0);
        let (sx, sy, ex, ey) = (x1 + ux * r, y1 + uy * r, x2 - ux * r, y2 - uy * r);
        let _ = writeln!(
            s,
            "<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{ex:.1}\" y2=\"{ey:.1}\" stroke=\"{c}\" stroke-width=\"2\" marker-end=\"url(#m{cited})\"/>",
            c = colour(*cited)
        );
        let label = found.edge_sentence(t, txn_kind, e, *cited);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\" font-weight=\"bold\" text-anchor=\"middle\">{}<title>{}</title></text>",
            (sx + ex) / 2.0 - uy * 12.0,
            (sy + ey) / 2.0 + ux * 12.0,
            colour(*cited),
            kind_name(*cited),
            escape(&label)
        );
    }
    for (i, (e, _)) in cycle.steps.iter().enumerate() {
        let (x, y) = at(i);
        let (left, top) = (x - BOX_W / 2.0, y - box_h / 2.0);
        let _ = writeln!(
            s,
            "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{BOX_W}\" height=\"{box_h:.1}\" rx=\"4\" fill=\"#f8f9f9\" stroke=\"#444\"/>"
        );
        let title = found.describe(t, e.from);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">{}<title>{}</title></text>",
            left + 6.0,
            top + 15.0,
            escape(&crate::quote::abridge_to(&title, 34)),
            escape(&title)
        );
        let mops = found.mops_value(t, e.from);
        let lines: Vec<String> = match mops.as_array() {
            Some(items) => items
                .iter()
                .map(|m| crate::quote::abridge_to(&m.to_string(), 32).into_owned())
                .collect(),
            None => vec![crate::quote::abridge_to(&mops.to_string(), 32).into_owned()],
        };
        for (j, line) in lines.iter().take(LINES).enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                left + 10.0,
                top + 15.0 + LINE_H * (j as f64 + 1.0),
                escape(line)
            );
        }
        if lines.len() > LINES {
            let more = format!("… {} more micro-ops", lines.len() - LINES);
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\">{more}</text>",
                left + 10.0,
                top + 15.0 + LINE_H * (LINES as f64 + 1.0)
            );
        }
    }
    for (j, (e, cited)) in cycle.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.1}\" fill=\"{}\">{}</text>",
            h - 14.0 * (n - j) as f64,
            colour(*cited),
            escape(&crate::quote::abridge_to(
                &found.edge_sentence(t, txn_kind, e, *cited),
                160
            ))
        );
    }
    s.push_str("</svg>\n");
    s
}

//! The performance plots (Jepsen's `:perf` checker, as SVG): raw latencies, latency
//! quantiles and completion rates over time, with fault periods shaded.

use std::fmt::Write as _;

use straum_workloads::{Op, OpType};

use super::axes::{self, legend, Frame, Scale, Swatch};
use super::faults::{self, FaultPeriod};
use super::ops::{self, Pair};
use super::palette;
use super::svg::{num, Svg};

/// At most this many points are drawn on the raw latency plot; more are sampled
/// evenly (indeterminate and failed ops keep up to half the budget).
pub const MAX_POINTS: usize = 20_000;

/// Marker shapes for operation functions on the raw latency plot: path data relative
/// to the point, and whether it is filled (otherwise a round-capped stroke, a dot).
const SHAPES: [(&str, bool); 6] = [
    ("h.01", false),
    ("m-2.3-2.3h4.6v4.6h-4.6z", true),
    ("m0-3.2l3 5.2h-6z", true),
    ("m0-3.4l3.4 3.4-3.4 3.4-3.4-3.4z", true),
    ("m0 3.2l3-5.2h-6z", true),
    ("m-1-3h2v2h2v2h-2v2h-2v-2h-2v-2h2z", true),
];

/// Completion kinds in drawing order (rarer ones on top).
const KINDS: [OpType; 3] = [OpType::Ok, OpType::Info, OpType::Fail];

fn shape_paint(shape: usize, colour: &str) -> String {
    if SHAPES[shape % SHAPES.len()].1 {
        format!("fill=\"{colour}\" fill-opacity=\"0.8\"")
    } else {
        format!(
            "fill=\"none\" stroke=\"{colour}\" stroke-width=\"5\" stroke-linecap=\"round\" stroke-opacity=\"0.8\""
        )
    }
}

/// Seconds of the history's span, never 0 (so scales stay finite).
fn duration_s(history: &[Op]) -> f64 {
    let d = ops::end_time(history) as f64 / 1e9;
    if d > 0.0 {
        d
    } else {
        1.0
    }
}

/// The width of a time bucket: a round number of seconds giving about 60 buckets,
/// at least 0.1 s.
pub fn bucket_width(duration_s: f64) -> f64 {
    axes::nice_step((duration_s / 60.0).max(0.1))
}

/// Time buckets of [`bucket_width`] covering `[0, duration]`; the remainder is
/// merged into the last bucket so that no bucket is a sliver.
struct Buckets {
    dt: f64,
    count: usize,
    duration: f64,
}

impl Buckets {
    fn new(duration: f64) -> Buckets {
        let dt = bucket_width(duration);
        Buckets {
            dt,
            count: ((duration / dt).floor() as usize).max(1),
            duration,
        }
    }

    /// The bucket of time `t` (s).
    fn of(&self, t: f64) -> usize {
        ((t / self.dt).max(0.0) as usize).min(self.count - 1)
    }

    /// Start and length (s) of bucket `b`.
    fn span(&self, b: usize) -> (f64, f64) {
        let start = b as f64 * self.dt;
        if b + 1 == self.count {
            (start, (self.duration - start).max(self.dt))
        } else {
            (start, self.dt)
        }
    }

    /// The middle of bucket `b` (s).
    fn mid(&self, b: usize) -> f64 {
        let (start, len) = self.span(b);
        start + len / 2.0
    }
}

/// Shade the fault periods over the plot area.
fn shade(svg: &mut Svg, frame: &Frame, periods: &[FaultPeriod]) {
    for p in periods {
        let (a, b) = (p.start_ns as f64 / 1e9, p.end_ns as f64 / 1e9);
        let (x0, x1) = (frame.px(a), frame.px(b));
        svg.rect_titled(
            x0,
            frame.top,
            (x1 - x0).max(1.0),
            frame.height,
            &format!(
                "fill=\"{}\" fill-opacity=\"0.7\" class=\"fault {}\"",
                palette::fault(&p.kind),
                super::svg::escape(&p.kind)
            ),
            &format!("{} {a:.3} s – {b:.3} s", p.kind),
        );
    }
}

fn fault_legend(entries: &mut Vec<(Swatch, String)>, periods: &[FaultPeriod]) {
    let kinds = faults::kinds(periods);
    if !kinds.is_empty() {
        entries.push((Swatch::Heading, "faults".into()));
        for kind in kinds {
            entries.push((Swatch::Fill(palette::fault(kind).into()), kind.to_string()));
        }
    }
}

fn completion_legend(entries: &mut Vec<(Swatch, String)>) {
    entries.push((Swatch::Heading, "completion".into()));
    for kind in KINDS {
        entries.push((
            Swatch::Fill(palette::completion(kind).into()),
            kind.name().into(),
        ));
    }
}

/// A plot's canvas with title, clip path and shading, ready for data.
fn canvas(title: &str, subtitle: &str, frame: &Frame, periods: &[FaultPeriod]) -> Svg {
    let mut svg = Svg::new(axes::WIDTH, axes::HEIGHT, title);
    frame.clip_def(&mut svg);
    frame.title(&mut svg, title, subtitle);
    svg.raw("<g clip-path=\"url(#plot-area)\">\n");
    shade(&mut svg, frame, periods);
    svg
}

/// Points evenly sampled from `items`, at most `cap` of them, in order.
pub fn sample<T: Copy>(items: &[T], cap: usize) -> Vec<T> {
    if items.len() <= cap {
        return items.to_vec();
    }
    (0..cap).map(|i| items[i * items.len() / cap]).collect()
}

#[derive(Clone, Copy)]
struct Point {
    t: f64,
    ms: f64,
    kind: OpType,
    f: usize,
}

fn latency_points(pairs: &[Pair], fs: &[&str]) -> Vec<Point> {
    pairs
        .iter()
        .filter_map(|p| {
            Some(Point {
                t: p.invoke.time as f64 / 1e9,
                ms: p.latency_ns()? as f64 / 1e6,
                kind: p.done?.kind,
                f: fs.binary_search(&p.invoke.f.as_str()).unwrap_or(0),
            })
        })
        .collect()
}

/// `latency-raw.svg`: every completed client op's latency (ms, log scale) against its
/// invocation time (s), coloured by completion kind, shaped by function, fault periods
/// shaded. Zero latencies sit on the bottom edge.
pub fn latency_raw(history: &[Op], periods: &[FaultPeriod]) -> String {
    let pairs = ops::pairs(history);
    let fs = ops::functions(&pairs);
    let points = latency_points(&pairs, &fs);
    let (oks, others): (Vec<Point>, Vec<Point>) = points.iter().partition(|p| p.kind == OpType::Ok);
    let mut shown = sample(&others, MAX_POINTS / 2);
    shown.extend(sample(&oks, MAX_POINTS - shown.len()));
    let positive = shown.iter().map(|p| p.ms).filter(|ms| *ms > 0.0);
    let min = positive.clone().fold(f64::INFINITY, f64::min);
    let max = positive.fold(0.0, f64::max);
    let frame = Frame::standard(
        Scale::Linear {
            lo: 0.0,
            hi: duration_s(history),
        },
        if min.is_finite() {
            Scale::log_covering(min, max)
        } else {
            Scale::Log { lo: 1.0, hi: 10.0 }
        },
    );
    let subtitle = if shown.len() < points.len() {
        format!(
            "{} completed ops, {} shown (evenly sampled)",
            points.len(),
            shown.len()
        )
    } else {
        format!("{} completed ops", points.len())
    };
    let mut svg = canvas("Raw latency", &subtitle, &frame, periods);
    for kind in KINDS {
        for (fi, _) in fs.iter().enumerate() {
            let mut d = String::new();
            let shape = SHAPES[fi % SHAPES.len()].0;
            for p in shown.iter().filter(|p| p.kind == kind && p.f == fi) {
                let _ = write!(d, "M{} {}{shape}", num(frame.px(p.t)), num(frame.py(p.ms)));
            }
            if !d.is_empty() {
                svg.path(&d, &shape_paint(fi, palette::completion(kind)));
            }
        }
    }
    svg.raw("</g>\n");
    if points.is_empty() {
        frame.note(&mut svg, "no completed client operations");
    }
    frame.axes(&mut svg, "time (s)", "latency (ms)");
    let mut entries = Vec::new();
    completion_legend(&mut entries);
    if !fs.is_empty() {
        entries.push((Swatch::Heading, "f".into()));
        for (i, f) in fs.iter().enumerate() {
            entries.push((
                Swatch::Marker(SHAPES[i % SHAPES.len()].0.into(), shape_paint(i, "#555")),
                f.to_string(),
            ));
        }
    }
    fault_legend(&mut entries, periods);
    legend(
        &mut svg,
        frame.left + frame.width + 25.0,
        frame.top + 5.0,
        &entries,
    );
    svg.finish()
}

/// The `q` quantile (nearest rank) of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A path through `points` (x, y in pixels), broken where a point is missing; a lone
/// point becomes a zero-length segment, which round caps draw as a dot.
fn polyline(points: impl Iterator<Item = Option<(f64, f64)>>) -> String {
    let mut d = String::new();
    let mut run = 0;
    for point in points {
        match point {
            Some((x, y)) => {
                let _ = write!(
                    d,
                    "{}{} {}",
                    if run > 0 { "L" } else { "M" },
                    num(x),
                    num(y)
                );
                run += 1;
            }
            None => {
                if run == 1 {
                    d.push_str("h0");
                }
                run = 0;
            }
        }
    }
    if run == 1 {
        d.push_str("h0");
    }
    d
}

const LINE: &str =
    "fill=\"none\" stroke-width=\"1.6\" stroke-linecap=\"round\" stroke-linejoin=\"round\"";

/// `latency-quantiles.svg`: per time bucket (by invocation time, see
/// [`bucket_width`]) and function, the 0.5, 0.95, 0.99 and 1 quantiles of completed
/// ops' latencies (ms, log scale) as lines; colour is the quantile, dash the function.
pub fn latency_quantiles(history: &[Op], periods: &[FaultPeriod]) -> String {
    let duration = duration_s(history);
    let bk = Buckets::new(duration);
    let buckets = bk.count;
    let pairs = ops::pairs(history);
    let fs = ops::functions(&pairs);
    let points = latency_points(&pairs, &fs);
    let mut cells: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); buckets]; fs.len()];
    for p in &points {
        let b = bk.of(p.t);
        cells[p.f][b].push(p.ms);
    }
    // quantiles[f][q][bucket]
    let mut quantiles: Vec<Vec<Vec<Option<f64>>>> = Vec::new();
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for row in &mut cells {
        let mut per_q = vec![vec![None; buckets]; palette::QUANTILES.len()];
        for (b, cell) in row.iter_mut().enumerate() {
            if cell.is_empty() {
                continue;
            }
            cell.sort_by(f64::total_cmp);
            for (qi, q) in palette::QUANTILES.iter().enumerate() {
                let v = quantile(cell, *q);
                if v > 0.0 {
                    min = min.min(v);
                }
                max = max.max(v);
                per_q[qi][b] = Some(v);
            }
        }
        quantiles.push(per_q);
    }
    let frame = Frame::standard(
        Scale::Linear {
            lo: 0.0,
            hi: duration,
        },
        if min.is_finite() {
            Scale::log_covering(min, max)
        } else {
            Scale::Log { lo: 1.0, hi: 10.0 }
        },
    );
    let subtitle = format!(
        "{} completed ops in {} s buckets by invocation time",
        points.len(),
        axes::tick_label(bk.dt)
    );
    let mut svg = canvas("Latency quantiles", &subtitle, &frame, periods);
    for (fi, per_q) in quantiles.iter().enumerate() {
        for (qi, series) in per_q.iter().enumerate() {
            let d = polyline(series.iter().enumerate().map(|(b, v)| {
                let t = bk.mid(b);
                v.map(|v| (frame.px(t), frame.py(v)))
            }));
            if !d.is_empty() {
                svg.path(
                    &d,
                    &format!(
                        "{LINE} stroke=\"{}\"{}",
                        palette::QUANTILE_COLOURS[qi],
                        palette::dash(fi)
                    ),
                );
            }
        }
    }
    svg.raw("</g>\n");
    if points.is_empty() {
        frame.note(&mut svg, "no completed client operations");
    }
    frame.axes(&mut svg, "time (s)", "latency (ms)");
    let mut entries = vec![(Swatch::Heading, "quantile".to_string())];
    for (qi, q) in palette::QUANTILES.iter().enumerate() {
        entries.push((
            Swatch::Line(palette::QUANTILE_COLOURS[qi].into(), String::new()),
            axes::tick_label(*q),
        ));
    }
    function_legend(&mut entries, &fs);
    fault_legend(&mut entries, periods);
    legend(
        &mut svg,
        frame.left + frame.width + 25.0,
        frame.top + 5.0,
        &entries,
    );
    svg.finish()
}

fn function_legend(entries: &mut Vec<(Swatch, String)>, fs: &[&str]) {
    if !fs.is_empty() {
        entries.push((Swatch::Heading, "f".into()));
        for (i, f) in fs.iter().enumerate() {
            entries.push((Swatch::Line("#555".into(), palette::dash(i)), f.to_string()));
        }
    }
}

/// `rate.svg`: completions per second over time (by completion time, see
/// [`bucket_width`]), one line per function and completion kind; colour is the kind,
/// dash the function.
pub fn rate(history: &[Op], periods: &[FaultPeriod]) -> String {
    let duration = duration_s(history);
    let bk = Buckets::new(duration);
    let pairs = ops::pairs(history);
    let fs = ops::functions(&pairs);
    // counts[f][kind][bucket]
    let mut counts = vec![vec![vec![0u64; bk.count]; KINDS.len()]; fs.len()];
    let mut total = 0;
    for p in &pairs {
        let Some(done) = p.done else { continue };
        let fi = fs.binary_search(&p.invoke.f.as_str()).unwrap_or(0);
        let ki = KINDS.iter().position(|k| *k == done.kind).unwrap_or(0);
        let b = bk.of(done.time as f64 / 1e9);
        counts[fi][ki][b] += 1;
        total += 1;
    }
    let rate = |b: usize, c: u64| c as f64 / bk.span(b).1;
    let max = counts
        .iter()
        .flatten()
        .flat_map(|series| series.iter().enumerate().map(|(b, c)| rate(b, *c)))
        .fold(0.0, f64::max);
    let frame = Frame::standard(
        Scale::Linear {
            lo: 0.0,
            hi: duration,
        },
        Scale::linear_from_zero(max * 1.05),
    );
    let subtitle = format!(
        "{total} completions in {} s buckets by completion time",
        axes::tick_label(bk.dt)
    );
    let mut svg = canvas("Throughput", &subtitle, &frame, periods);
    for (fi, per_kind) in counts.iter().enumerate() {
        for (ki, series) in per_kind.iter().enumerate() {
            if series.iter().all(|c| *c == 0) {
                continue;
            }
            let d = polyline(
                series
                    .iter()
                    .enumerate()
                    .map(|(b, c)| Some((frame.px(bk.mid(b)), frame.py(rate(b, *c))))),
            );
            svg.path(
                &d,
                &format!(
                    "{LINE} stroke=\"{}\"{}",
                    palette::completion(KINDS[ki]),
                    palette::dash(fi)
                ),
            );
        }
    }
    svg.raw("</g>\n");
    if total == 0 {
        frame.note(&mut svg, "no completed client operations");
    }
    frame.axes(&mut svg, "time (s)", "completions per second");
    let mut entries = Vec::new();
    completion_legend(&mut entries);
    function_legend(&mut entries, &fs);
    fault_legend(&mut entries, periods);
    legend(
        &mut svg,
        frame.left + frame.width + 25.0,
        frame.top + 5.0,
        &entries,
    );
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::faults::fault_periods;
    use crate::render::testing::{assert_well_formed, sample_history};

    #[test]
    fn plots_are_well_formed_and_shade_partitions() {
        let history = sample_history(500, 20);
        let periods = fault_periods(&history);
        assert_eq!(periods.len(), 1);
        for svg in [
            latency_raw(&history, &periods),
            latency_quantiles(&history, &periods),
            rate(&history, &periods),
        ] {
            assert_well_formed(&svg);
            assert!(svg.contains("class=\"fault partition\""));
            assert!(svg.contains("#E9DCA0"));
            assert!(svg.contains(">partition</text>"), "legend names the fault");
            assert!(svg.contains(">read</text>") && svg.contains(">write</text>"));
        }
    }

    #[test]
    fn empty_history_gives_valid_empty_plots() {
        for svg in [
            latency_raw(&[], &[]),
            latency_quantiles(&[], &[]),
            rate(&[], &[]),
        ] {
            assert_well_formed(&svg);
            assert!(svg.contains("no completed client operations"));
            assert!(!svg.contains("class=\"fault"));
        }
    }

    #[test]
    fn raw_plot_is_capped_and_deterministic() {
        let history = sample_history(30_000, 60);
        let a = latency_raw(&history, &[]);
        assert_eq!(a, latency_raw(&history, &[]));
        assert!(a.contains(&format!("{MAX_POINTS} shown")));
        let markers = a.matches('M').count();
        assert!(markers <= MAX_POINTS + 50, "{markers} markers");
        assert!(a.len() < 1_500_000, "{} bytes", a.len());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(sample(&[1, 2, 3, 4], 2), vec![1, 3]);
    }
}

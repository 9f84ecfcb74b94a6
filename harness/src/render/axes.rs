//! Plot frames: linear and logarithmic scales, tick choice, axes with labels and a
//! legend column, drawn with [`Svg`].

use super::svg::{num, Svg};

/// A mapping from data values to one pixel dimension.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    /// Linear over `[lo, hi]`.
    Linear {
        /// Smallest value shown.
        lo: f64,
        /// Largest value shown.
        hi: f64,
    },
    /// Base-10 logarithmic over `[lo, hi]`, both positive.
    Log {
        /// Smallest value shown.
        lo: f64,
        /// Largest value shown.
        hi: f64,
    },
}

impl Scale {
    /// Where `v` falls, 0 at `lo` and 1 at `hi` (values are clamped).
    pub fn fraction(&self, v: f64) -> f64 {
        let f = match *self {
            Scale::Linear { lo, hi } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()),
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The values worth a tick mark.
    pub fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { lo, hi } => linear_ticks(lo, hi, 8),
            Scale::Log { lo, hi } => log_ticks(lo, hi),
        }
    }

    /// A logarithmic scale from the decade at or below `min` to the decade at or above
    /// `max` (at least one decade); `min` is clamped to be positive.
    pub fn log_covering(min: f64, max: f64) -> Scale {
        let min = if min > 0.0 && min.is_finite() {
            min
        } else {
            1.0
        };
        let max = if max.is_finite() { max.max(min) } else { min };
        let lo = 10f64.powf(min.log10().floor());
        let mut hi = 10f64.powf(max.log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        Scale::Log { lo, hi }
    }

    /// A linear scale from 0 to a round number at or above `max`.
    pub fn linear_from_zero(max: f64) -> Scale {
        let max = if max > 0.0 && max.is_finite() {
            max
        } else {
            1.0
        };
        let step = nice_step(max / 5.0);
        Scale::Linear {
            lo: 0.0,
            hi: (max / step).ceil() * step,
        }
    }
}

/// The smallest of 1, 2, 5 × 10^k at or above `raw` (positive).
pub fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 || raw.is_infinite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * magnitude >= raw * (1.0 - 1e-9) {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

/// Round values between `lo` and `hi`, about `target` of them.
pub fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Powers of ten between `lo` and `hi`, with 2× and 5× when the range is short.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let multiples: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut ticks = Vec::new();
    for e in a..=b {
        for m in multiples {
            let v = m * 10f64.powi(e);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                ticks.push(v);
            }
        }
    }
    ticks
}

/// A tick value for people: no float noise, no trailing zeros.
pub fn tick_label(v: f64) -> String {
    if v.abs() >= 1e6 {
        return format!("{v:.0e}");
    }
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// The whole canvas of a plot, in pixels.
pub const WIDTH: f64 = 1000.0;
/// Canvas height.
pub const HEIGHT: f64 = 500.0;

/// A plot area with its scales.
pub struct Frame {
    /// Left edge of the plot area.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Horizontal scale.
    pub x: Scale,
    /// Vertical scale.
    pub y: Scale,
}

impl Frame {
    /// The standard plot area of a [`WIDTH`] × [`HEIGHT`] canvas, leaving room for the
    /// title above and the legend on the right.
    pub fn standard(x: Scale, y: Scale) -> Frame {
        Frame {
            left: 70.0,
            top: 50.0,
            width: 720.0,
            height: 390.0,
            x,
            y,
        }
    }

    /// Pixel column of data `x`.
    pub fn px(&self, x: f64) -> f64 {
        self.left + self.x.fraction(x) * self.width
    }

    /// Pixel row of data `y` (up is larger).
    pub fn py(&self, y: f64) -> f64 {
        self.top + (1.0 - self.y.fraction(y)) * self.height
    }

    /// Declare the clip path `plot-area` for drawing inside the frame.
    pub fn clip_def(&self, svg: &mut Svg) {
        svg.raw(&format!(
            "<defs><clipPath id=\"plot-area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>\n",
            num(self.left),
            num(self.top),
            num(self.width),
            num(self.height)
        ));
    }

    /// Title and subtitle above the plot.
    pub fn title(&self, svg: &mut Svg, title: &str, subtitle: &str) {
        svg.text(
            self.left + self.width / 2.0,
            22.0,
            "text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\"",
            title,
        );
        if !subtitle.is_empty() {
            svg.text(
                self.left + self.width / 2.0,
                40.0,
                "text-anchor=\"middle\" font-size=\"11\" fill=\"#555\"",
                subtitle,
            );
        }
    }

    /// Grid lines, tick marks, tick labels, axis labels and the frame border.
    pub fn axes(&self, svg: &mut Svg, x_label: &str, y_label: &str) {
        let (bottom, right) = (self.top + self.height, self.left + self.width);
        for v in self.x.ticks() {
            let x = self.px(v);
            svg.line(x, self.top, x, bottom, "stroke=\"#e4e4e4\"");
            svg.line(x, bottom, x, bottom + 5.0, "stroke=\"black\"");
            svg.text(x, bottom + 18.0, "text-anchor=\"middle\"", &tick_label(v));
        }
        for v in self.y.ticks() {
            let y = self.py(v);
            svg.line(self.left, y, right, y, "stroke=\"#e4e4e4\"");
            svg.line(self.left - 5.0, y, self.left, y, "stroke=\"black\"");
            svg.text(
                self.left - 8.0,
                y + 4.0,
                "text-anchor=\"end\"",
                &tick_label(v),
            );
        }
        svg.rect(
            self.left,
            self.top,
            self.width,
            self.height,
            "fill=\"none\" stroke=\"black\"",
        );
        svg.text(
            self.left + self.width / 2.0,
            bottom + 40.0,
            "text-anchor=\"middle\"",
            x_label,
        );
        let (lx, ly) = (18.0, self.top + self.height / 2.0);
        svg.text(
            lx,
            ly,
            &format!(
                "text-anchor=\"middle\" transform=\"rotate(-90 {} {})\"",
                num(lx),
                num(ly)
            ),
            y_label,
        );
    }

    /// A note in the middle of the plot area (e.g. "no operations").
    pub fn note(&self, svg: &mut Svg, text: &str) {
        svg.text(
            self.left + self.width / 2.0,
            self.top + self.height / 2.0,
            "text-anchor=\"middle\" fill=\"#888\" font-size=\"14\"",
            text,
        );
    }
}

/// What a legend entry shows beside its label.
pub enum Swatch {
    /// A section heading (no swatch, bold).
    Heading,
    /// A filled square.
    Fill(String),
    /// A line segment, with a dash attribute (see [`super::palette::dash`]).
    Line(String, String),
    /// A marker drawn with path data relative to its centre, filled or (for the
    /// round-cap dot) stroked.
    Marker(String, String),
}

/// Draw `entries` as a column starting at (`x`, `y`).
pub fn legend(svg: &mut Svg, x: f64, y: f64, entries: &[(Swatch, String)]) {
    let mut y = y;
    for (swatch, label) in entries {
        match swatch {
            Swatch::Heading => {
                y += 6.0;
                svg.text(x, y + 4.0, "font-weight=\"bold\"", label);
            }
            Swatch::Fill(colour) => {
                svg.rect(
                    x,
                    y - 5.0,
                    14.0,
                    10.0,
                    &format!("fill=\"{colour}\" stroke=\"#999\" stroke-width=\"0.5\""),
                );
                svg.text(x + 20.0, y + 4.0, "", label);
            }
            Swatch::Line(colour, dash) => {
                svg.line(
                    x,
                    y,
                    x + 16.0,
                    y,
                    &format!("stroke=\"{colour}\" stroke-width=\"2\"{dash}"),
                );
                svg.text(x + 22.0, y + 4.0, "", label);
            }
            Swatch::Marker(shape, paint) => {
                svg.path(&format!("M{} {}{shape}", num(x + 7.0), num(y)), paint);
                svg.text(x + 20.0, y + 4.0, "", label);
            }
        }
        y += 17.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            linear_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(log_ticks(1.0, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(1.0, 10.0), vec![1.0, 2.0, 5.0, 10.0]);
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(20.0), "20");
        assert_eq!(nice_step(0.03), 0.05);
    }

    #[test]
    fn log_scale_covers_decades() {
        match Scale::log_covering(3.0, 420.0) {
            Scale::Log { lo, hi } => assert_eq!((lo, hi), (1.0, 1000.0)),
            _ => unreachable!(),
        }
        let s = Scale::log_covering(0.0, 0.0);
        assert!(s.fraction(5.0) >= 0.0);
    }
}

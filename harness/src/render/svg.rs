//! A tiny SVG writer: escaping, truncation, number formatting and the few elements the
//! plots and diagrams draw. Everything it writes is well-formed XML as long as raw
//! markup handed to [`Svg::raw`] is.

use std::fmt::Write as _;

pub use straum_workloads::quote::{escape_xml as escape, escape_xml_into as escape_into};

/// `text` cut to at most `max_chars` characters, ending in `…` when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// A coordinate with one decimal, as SVG attributes want it.
pub fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let text = format!("{v:.1}");
    match text.strip_suffix(".0") {
        Some("-0") => "0".to_string(),
        Some(whole) => whole.to_string(),
        None => text,
    }
}

/// A `<text>` element at (`x`, `y`) with raw `attrs`; `content` is escaped.
pub fn text_element(x: f64, y: f64, attrs: &str, content: &str) -> String {
    let mut out = format!("<text x=\"{}\" y=\"{}\" {attrs}>", num(x), num(y));
    escape_into(&mut out, content);
    out.push_str("</text>\n");
    out
}

/// An SVG document under construction.
pub struct Svg {
    out: String,
}

impl Svg {
    /// A document `width` × `height` pixels whose `<title>` is `title`, with the
    /// xlink namespace declared (for links) and a default sans-serif font.
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::with_capacity(1 << 16);
        let (w, h) = (num(width), num(height));
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" \
             xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" \
             width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
             font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n<title>"
        );
        escape_into(&mut out, title);
        out.push_str("</title>\n");
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"white\"/>"
        );
        Svg { out }
    }

    /// Append raw markup; the caller guarantees it is well-formed and escaped.
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    /// A rectangle; `attrs` is raw attribute text such as `fill="#eee"`.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}/>",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
    }

    /// A rectangle with a hover tooltip.
    pub fn rect_titled(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str, title: &str) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}><title>",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
        escape_into(&mut self.out, title);
        self.out.push_str("</title></rect>\n");
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attrs}/>",
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
    }

    /// Text at (`x`, `y`); `content` is escaped.
    pub fn text(&mut self, x: f64, y: f64, attrs: &str, content: &str) {
        self.out.push_str(&text_element(x, y, attrs, content));
    }

    /// A path with data `d` (numbers and commands only).
    pub fn path(&mut self, d: &str, attrs: &str) {
        let _ = writeln!(self.out, "<path d=\"{d}\" {attrs}/>");
    }

    /// A link around `label` text (SVG 2 `href` and SVG 1.1 `xlink:href`).
    pub fn link_text(&mut self, href: &str, x: f64, y: f64, attrs: &str, label: &str) {
        let href = escape(href);
        let _ = write!(self.out, "<a href=\"{href}\" xlink:href=\"{href}\">");
        self.text(x, y, attrs, label);
        self.out.push_str("</a>\n");
    }

    /// Take what has been written so far (for streaming to a file), leaving the
    /// document open.
    pub fn drain(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// How many bytes are buffered.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Close the document and return (the rest of) its text.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_handles_markup_quotes_and_controls() {
        assert_eq!(
            escape("</svg><script>\"a\" & 'b'\u{1}"),
            "&lt;/svg&gt;&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;\u{FFFD}"
        );
        assert_eq!(escape("tab\tok"), "tab\tok");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ääää", 2), "ä…");
    }

    #[test]
    fn numbers_have_one_decimal_at_most() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.25), "1.2");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(f64::NAN), "0");
    }
}

//! `messages.svg`: the Lamport diagram of the network journal (Maelstrom's, without its
//! 10 000-event cap). Participants are columns; each journal send or delivery is one
//! vertical step; each delivered message is an arrow from its send to its delivery.
//! Long runs are split into pages (`messages.svg`, `messages-2.svg`, …) of at most
//! [`MESSAGES_PER_PAGE`] arrows, linked to each other, up to [`MAX_PAGES`] pages. The
//! journal is streamed twice (once to lay out pages and collect participants, once to
//! draw); only the messages in flight are held in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::Value;
use straum_workloads::{NetEvent, NetEventKind};

use super::svg::{escape_into, num, text_element, truncate, Svg};

/// Arrows per page.
pub const MESSAGES_PER_PAGE: usize = 5_000;
/// Most pages drawn (a million messages); a longer journal's diagram stops there —
/// every message stays in `net-journal.jsonl`.
pub const MAX_PAGES: usize = 200;
/// A page also ends after this many steps per arrow it may hold, so that sends that
/// are never delivered (partitions) cannot make a page arbitrarily long.
pub const STEPS_PER_MESSAGE: usize = 3;
/// Vertical pixels per journal event.
const STEP_PX: f64 = 20.0;
/// Space above the first step (title, links, names).
const TOP_PX: f64 = 90.0;
/// Space below the last step.
const BOTTOM_PX: f64 = 60.0;
/// Left margin (time labels).
const LEFT_PX: f64 = 80.0;
/// Right margin.
const RIGHT_PX: f64 = 20.0;
/// The narrowest canvas (Maelstrom's width).
const MIN_WIDTH: f64 = 1200.0;
/// The narrowest column.
const MIN_COLUMN_PX: f64 = 110.0;
/// Participant names are repeated every this many steps.
const NAMES_EVERY: usize = 50;
/// Most participants whose names are repeated down a page; past it only the time is
/// (a row of 2,000 names every 50 steps made a 1,000-node run's pages 57 MB each).
const REPEAT_NAMES_UP_TO: usize = 64;
/// Longest arrow label, in characters.
const LABEL_CHARS: usize = 48;
/// Longest body shown in a tooltip, in characters.
const TITLE_CHARS: usize = 2_000;
/// Error bodies.
const ERROR_COLOUR: &str = "#FF1E90";
/// Messages to or from a client.
const CLIENT_COLOUR: &str = "#81BFFC";
/// Other messages.
const OTHER_COLOUR: &str = "black";

/// The file name of page `i` (0-based): `messages.svg`, `messages-2.svg`, …
pub fn file_name(i: usize) -> String {
    if i == 0 {
        "messages.svg".to_string()
    } else {
        format!("messages-{}.svg", i + 1)
    }
}

/// True for client ids: `c` followed by digits.
pub fn is_client(name: &str) -> bool {
    name.len() > 1 && name.starts_with('c') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Order participants as Maelstrom does: clients (`c0, c1, …` numerically), then names
/// ending in digits (servers, `n…`, by prefix then number), then the rest (services)
/// by name.
pub fn order_participants(names: &mut [String]) {
    fn key(name: &str) -> (u8, &str, u128, &str) {
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, number) = name.split_at(name.len() - digits);
        let number = number.parse::<u128>().unwrap_or(u128::MAX);
        if is_client(name) {
            (0, "", number, name)
        } else if digits > 0 {
            (1, prefix, number, name)
        } else {
            (2, "", 0, name)
        }
    }
    names.sort_by(|a, b| key(a).cmp(&key(b)));
}

/// True for Maelstrom's `init` and `init_ok` bodies, which the diagram leaves out.
fn is_init(body: &str) -> bool {
    if !body.contains("init") {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Type {
        #[serde(rename = "type", default)]
        kind: Option<Value>,
    }
    matches!(
        serde_json::from_str::<Type>(body).ok().and_then(|t| t.kind),
        Some(Value::String(s)) if s == "init" || s == "init_ok"
    )
}

/// Append `value` to `out` as EDN (maps as `{:k v, …}`), stopping early once `out` is
/// longer than `limit` bytes.
fn edn(value: &Value, out: &mut String, limit: usize) {
    if out.len() > limit {
        return;
    }
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => out.push_str(&value.to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if out.len() > limit {
                    break;
                }
                if i > 0 {
                    out.push(' ');
                }
                edn(item, out, limit);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if out.len() > limit {
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                keyword(k, out);
                out.push(' ');
                edn(v, out, limit);
            }
            out.push('}');
        }
    }
}

fn keyword(key: &str, out: &mut String) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "-_?!*+./".contains(c));
    if plain {
        out.push(':');
        out.push_str(key);
    } else {
        out.push_str(&Value::from(key).to_string());
    }
}

/// The arrow label of a body: its `type` and the rest as EDN (without `type`,
/// `msg_id`, `in_reply_to`), or for errors `type` and `text`; at most 48 characters.
pub fn label(body: &Value) -> String {
    let kind = match body.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "?".to_string(),
    };
    let mut text = kind.clone();
    if kind == "error" {
        if let Some(t) = body.get("text") {
            text.push(' ');
            match t {
                Value::String(s) => text.push_str(s),
                other => text.push_str(&other.to_string()),
            }
        }
    } else if let Value::Object(map) = body {
        let mut rest = map.clone();
        for k in ["type", "msg_id", "in_reply_to"] {
            rest.remove(k);
        }
        if !rest.is_empty() {
            text.push(' ');
            edn(&Value::Object(rest), &mut text, LABEL_CHARS * 4);
        }
    }
    truncate(&text, LABEL_CHARS)
}

/// Where an event landed.
enum Placed {
    /// A send at (page, step).
    Send,
    /// A delivery at (page, step) of a message sent at `from` (page, step, time).
    Arrow { from: (usize, usize, u64) },
    /// Anything else that takes a step (a delivery whose send is unknown).
    Lone,
}

/// Assigns journal events to pages and steps; both passes run the same layout.
struct Layout {
    per_page: usize,
    pending: HashMap<u64, (usize, usize, u64)>,
    page: usize,
    steps: usize,
    msgs: usize,
    started: bool,
}

impl Layout {
    fn new(per_page: usize) -> Layout {
        Layout {
            per_page,
            pending: HashMap::new(),
            page: 0,
            steps: 0,
            msgs: 0,
            started: false,
        }
    }

    /// Place `event`; `None` for events that take no step (losses, init messages).
    /// Returns (page, step, what).
    fn place(&mut self, event: &NetEvent) -> Option<(usize, usize, Placed)> {
        if event.kind == NetEventKind::Drop {
            self.pending.remove(&event.id);
            return None;
        }
        if is_init(&event.body) {
            return None;
        }
        if !self.started {
            self.started = true;
        } else if self.msgs >= self.per_page || self.steps >= STEPS_PER_MESSAGE * self.per_page {
            self.page += 1;
            self.steps = 0;
            self.msgs = 0;
        }
        let step = self.steps;
        self.steps += 1;
        let placed = match event.kind {
            NetEventKind::Send => {
                self.pending.insert(event.id, (self.page, step, event.time));
                Placed::Send
            }
            _ => match self.pending.remove(&event.id) {
                Some(from) => {
                    self.msgs += 1;
                    Placed::Arrow { from }
                }
                None => Placed::Lone,
            },
        };
        Some((self.page, step, placed))
    }
}

/// A page's extent.
#[derive(Default, Clone, Copy)]
struct PageSize {
    steps: usize,
    msgs: usize,
}

/// Pass 1: page sizes and participants.
fn survey(events: impl Iterator<Item = NetEvent>, per_page: usize) -> (Vec<PageSize>, Vec<String>) {
    let mut layout = Layout::new(per_page);
    let mut pages: Vec<PageSize> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for event in events {
        let Some((page, step, placed)) = layout.place(&event) else {
            continue;
        };
        if page >= MAX_PAGES {
            break;
        }
        if pages.len() <= page {
            pages.push(PageSize::default());
        }
        pages[page].steps = step + 1;
        if let Placed::Arrow { .. } = placed {
            pages[page].msgs += 1;
        }
        for name in [&event.src, &event.dest] {
            if !names.contains(name) {
                names.insert(name.clone());
            }
        }
    }
    let mut names: Vec<String> = names.into_iter().collect();
    order_participants(&mut names);
    (pages, names)
}

/// Draws pages, streaming each to its file.
struct Painter<'d> {
    dir: &'d Path,
    names: Vec<String>,
    columns: HashMap<String, usize>,
    sizes: Vec<PageSize>,
    width: f64,
    column_px: f64,
    current: Option<(usize, BufWriter<File>, Svg)>,
    first_msg: usize,
    written: Vec<String>,
}

impl Painter<'_> {
    fn x(&self, name: &str) -> f64 {
        let i = self.columns.get(name).copied().unwrap_or(0);
        LEFT_PX + (i as f64 + 0.5) * self.column_px
    }

    fn y(step: usize) -> f64 {
        TOP_PX + (step as f64 + 0.5) * STEP_PX
    }

    fn names_row(&self, y: f64, time: Option<u64>) -> String {
        let mut row = String::new();
        let names = if time.is_some() && self.names.len() > REPEAT_NAMES_UP_TO {
            &[][..]
        } else {
            &self.names[..]
        };
        for name in names {
            row.push_str(&text_element(
                self.x(name),
                y,
                "text-anchor=\"middle\" font-weight=\"bold\" fill=\"#444\"",
                name,
            ));
        }
        if let Some(t) = time {
            row.push_str(&text_element(
                LEFT_PX - 8.0,
                y,
                "text-anchor=\"end\" fill=\"#888\" font-size=\"10\"",
                &format!("{:.3} s", t as f64 / 1e9),
            ));
        }
        row
    }

    fn nav(&self, svg: &mut Svg, page: usize, y: f64) {
        let count = self.sizes.len();
        svg.text(LEFT_PX, y, "", &format!("page {} of {count}", page + 1));
        if page > 0 {
            svg.link_text(
                &file_name(page - 1),
                LEFT_PX + 110.0,
                y,
                "fill=\"#0645AD\" text-decoration=\"underline\"",
                "← previous page",
            );
        }
        if page + 1 < count {
            svg.link_text(
                &file_name(page + 1),
                LEFT_PX + 240.0,
                y,
                "fill=\"#0645AD\" text-decoration=\"underline\"",
                "next page →",
            );
        }
    }

    fn open(&mut self, page: usize) -> std::io::Result<()> {
        let size = self.sizes.get(page).copied().unwrap_or_default();
        let height = TOP_PX + size.steps as f64 * STEP_PX + BOTTOM_PX;
        let count = self.sizes.len().max(1);
        let mut svg = Svg::new(
            self.width,
            height,
            &format!("Messages, page {} of {count}", page + 1),
        );
        let mut defs = String::from("<defs>");
        for (id, colour) in [
            ("ah-error", ERROR_COLOUR),
            ("ah-client", CLIENT_COLOUR),
            ("ah-other", OTHER_COLOUR),
        ] {
            defs.push_str(&format!(
                "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"{colour}\"/></marker>"
            ));
        }
        defs.push_str("</defs>\n");
        svg.raw(&defs);
        svg.text(
            LEFT_PX,
            22.0,
            "font-size=\"16\" font-weight=\"bold\"",
            &if size.msgs == 0 {
                "Messages: none delivered".to_string()
            } else {
                format!(
                    "Messages {}–{}",
                    self.first_msg + 1,
                    self.first_msg + size.msgs
                )
            },
        );
        self.nav(&mut svg, page, 44.0);
        let bottom = height - BOTTOM_PX + 10.0;
        for name in &self.names {
            let x = self.x(name);
            svg.line(x, TOP_PX - 10.0, x, bottom, "stroke=\"#ccc\"");
        }
        svg.raw(&self.names_row(TOP_PX - 16.0, None));
        if self.names.is_empty() {
            svg.text(
                LEFT_PX,
                TOP_PX + 20.0,
                "fill=\"#888\"",
                "no network messages",
            );
        }
        let name = file_name(page);
        let out = BufWriter::new(File::create(self.dir.join(&name))?);
        self.written.push(name);
        self.current = Some((page, out, svg));
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if let Some((page, mut out, mut svg)) = self.current.take() {
            let size = self.sizes.get(page).copied().unwrap_or_default();
            let height = TOP_PX + size.steps as f64 * STEP_PX + BOTTOM_PX;
            self.nav(&mut svg, page, height - 20.0);
            out.write_all(svg.finish().as_bytes())?;
            out.flush()?;
            self.first_msg += size.msgs;
        }
        Ok(())
    }

    /// The drawing surface for `page`, switching files when the page changes.
    fn page(&mut self, page: usize) -> std::io::Result<&mut Svg> {
        if self.current.as_ref().map(|c| c.0) != Some(page) {
            self.close()?;
            self.open(page)?;
        }
        let (_, out, svg) = self.current.as_mut().expect("page just opened");
        if svg.len() > 1 << 16 {
            out.write_all(svg.drain().as_bytes())?;
        }
        Ok(svg)
    }

    fn draw(
        &mut self,
        event: &NetEvent,
        page: usize,
        step: usize,
        placed: Placed,
    ) -> std::io::Result<()> {
        self.page(page)?;
        if step > 0 && step.is_multiple_of(NAMES_EVERY) {
            // Repeat the names (or, for many participants, the time alone) so long
            // pages stay legible.
            let row = self.names_row(Self::y(step) - STEP_PX / 2.0 + 2.0, Some(event.time));
            self.page(page)?.raw(&row);
        }
        let Placed::Arrow { from } = placed else {
            return Ok(());
        };
        let (x1, x2) = (self.x(&event.src), self.x(&event.dest));
        let y2 = Self::y(step);
        let (from_page, from_step, sent) = from;
        let same_page = from_page == page;
        let y1 = if same_page {
            Self::y(from_step)
        } else {
            TOP_PX - 4.0
        };
        let body: Value = serde_json::from_str(&event.body).unwrap_or(Value::Null);
        let is_error = body.get("type").and_then(Value::as_str) == Some("error");
        let (colour, marker) = if is_error {
            (ERROR_COLOUR, "ah-error")
        } else if is_client(&event.src) || is_client(&event.dest) {
            (CLIENT_COLOUR, "ah-client")
        } else {
            (OTHER_COLOUR, "ah-other")
        };
        let mut g = String::with_capacity(512);
        g.push_str("<g class=\"msg\"><title>");
        let mut title = format!(
            "{} → {} {}\nsent {:.6} s, delivered {:.6} s",
            event.src,
            event.dest,
            truncate(&event.body, TITLE_CHARS),
            sent as f64 / 1e9,
            event.time as f64 / 1e9
        );
        if !same_page {
            title.push_str(&format!(" (sent on page {})", from_page + 1));
        }
        escape_into(&mut g, &title);
        g.push_str("</title>");
        let dash = if same_page {
            ""
        } else {
            " stroke-dasharray=\"5 3\""
        };
        let stroke = format!(
            "stroke=\"{colour}\" stroke-width=\"1.2\" fill=\"none\" marker-end=\"url(#{marker})\"{dash}"
        );
        let (lx, ly, angle);
        if (x1 - x2).abs() < 1.0 {
            // To itself: a loop out to the right.
            g.push_str(&format!(
                "<path d=\"M{} {}C{} {} {} {} {} {}\" {stroke}/>",
                num(x1),
                num(y1),
                num(x1 + 40.0),
                num(y1),
                num(x2 + 40.0),
                num(y2),
                num(x2),
                num(y2)
            ));
            (lx, ly, angle) = (x1 + 34.0, (y1 + y2) / 2.0, 0.0);
        } else {
            g.push_str(&format!(
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {stroke}/>",
                num(x1),
                num(y1),
                num(x2),
                num(y2)
            ));
            let mut a = (y2 - y1).atan2(x2 - x1).to_degrees();
            if a > 90.0 {
                a -= 180.0;
            } else if a < -90.0 {
                a += 180.0;
            }
            (lx, ly, angle) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 3.0, a);
        }
        g.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" transform=\"rotate({} {} {})\" text-anchor=\"middle\" font-size=\"10\" fill=\"{colour}\">",
            num(lx),
            num(ly),
            num(angle),
            num(lx),
            num(ly)
        ));
        escape_into(&mut g, &label(&body));
        g.push_str("</text></g>\n");
        self.page(page)?.raw(&g);
        Ok(())
    }
}

/// Write the diagram of the events `events()` yields (called twice) into `dir`, at
/// most `per_page` arrows a page; returns the file names written (at least one).
pub fn write_events<I>(
    dir: &Path,
    mut events: impl FnMut() -> std::io::Result<I>,
    per_page: usize,
) -> std::io::Result<Vec<String>>
where
    I: Iterator<Item = NetEvent>,
{
    let per_page = per_page.max(1);
    let (sizes, names) = survey(events()?, per_page);
    let count = names.len().max(1) as f64;
    let width = (LEFT_PX + RIGHT_PX + count * MIN_COLUMN_PX).max(MIN_WIDTH);
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let mut painter = Painter {
        dir,
        columns,
        column_px: (width - LEFT_PX - RIGHT_PX) / count,
        width,
        names,
        sizes,
        current: None,
        first_msg: 0,
        written: Vec::new(),
    };
    let mut layout = Layout::new(per_page);
    for event in events()? {
        let Some((page, step, placed)) = layout.place(&event) else {
            continue;
        };
        if page >= painter.sizes.len() {
            // The journal grew between the passes; stop at what was surveyed.
            break;
        }
        painter.draw(&event, page, step, placed)?;
    }
    if painter.written.is_empty() {
        painter.open(0)?;
    }
    painter.close()?;
    Ok(painter.written)
}

/// Write `messages.svg` (and `messages-2.svg`, …) for the journal at `journal`, whose
/// times are shifted so that `origin` (harness clock, ns) is 0; returns the file names.
pub fn write(dir: &Path, journal: &Path, origin: u64) -> std::io::Result<Vec<String>> {
    write_events(
        dir,
        || crate::journal::read(journal, origin),
        MESSAGES_PER_PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::assert_well_formed;
    use serde_json::json;

    fn line(t: u64, e: &str, id: u64, src: &str, dest: &str, body: &Value) -> String {
        json!({"t": t, "e": e, "id": id, "src": src, "dest": dest, "body": body}).to_string() + "\n"
    }

    /// A journal: init exchanges, then `n` delivered messages alternating between
    /// client requests, replies, gossip between nodes and a service call, with one
    /// hostile error body and one lost message.
    fn journal(dir: &Path, n: u64) -> std::path::PathBuf {
        let mut text = String::new();
        let mut id = 0;
        let mut t = 0;
        for node in ["n0", "n1", "n10", "n2"] {
            let body = json!({"type": "init", "msg_id": 1, "node_id": node, "node_ids": []});
            text += &line(t, "send", id, "c0", node, &body);
            text += &line(t + 1, "recv", id, "c0", node, &body);
            let ok = json!({"type": "init_ok", "in_reply_to": 1});
            text += &line(t + 2, "send", id + 1, node, "c0", &ok);
            text += &line(t + 3, "recv", id + 1, node, "c0", &ok);
            id += 2;
            t += 4;
        }
        let lost = json!({"type": "gossip", "messages": [1]});
        text += &line(t, "send", id, "n0", "n1", &lost);
        text += &line(t, "drop", id, "n0", "n1", &lost);
        id += 1;
        for i in 0..n {
            let (src, dest, body) = match i % 5 {
                0 => (
                    "c12",
                    "n1",
                    json!({"type": "broadcast", "message": i, "msg_id": i}),
                ),
                1 => (
                    "n1",
                    "c12",
                    json!({"type": "broadcast_ok", "in_reply_to": i}),
                ),
                2 => (
                    "n1",
                    "n10",
                    json!({"type": "gossip", "messages": [i, i + 1], "seen": {"n2": true}}),
                ),
                3 => (
                    "n2",
                    "lin-kv",
                    json!({"type": "read", "key": "k", "msg_id": i}),
                ),
                _ if i == 4 => (
                    "n2",
                    "c3",
                    json!({"type": "error", "code": 13, "text": "</svg><script>alert(\"x\")</script>&"}),
                ),
                _ => (
                    "lin-kv",
                    "n2",
                    json!({"type": "read_ok", "value": "\"<&>'", "in_reply_to": i}),
                ),
            };
            text += &line(t, "send", id, src, dest, &body);
            text += &line(t + 1_000, "recv", id, src, dest, &body);
            id += 1;
            t += 2_000;
        }
        let path = dir.join("net-journal.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_thousand_participants_are_named_once_per_page_not_every_fifty_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..1_000u64 {
            let body = json!({"type": "gossip", "messages": [i]});
            let (src, dest) = (format!("n{}", i % 500), format!("n{}", 500 + i % 500));
            text += &line(i * 10, "send", i, &src, &dest, &body);
            text += &line(i * 10 + 5, "recv", i, &src, &dest, &body);
        }
        let path = dir.path().join("net-journal.jsonl");
        std::fs::write(&path, text).unwrap();
        let pages = write(dir.path(), &path, 0).unwrap();
        let svg = std::fs::read_to_string(dir.path().join(&pages[0])).unwrap();
        assert_well_formed(&svg);
        // n499 is a column name: once at the top, not again every 50 steps.
        assert_eq!(svg.matches(">n499<").count(), 1);
        assert!(svg.contains(" s</text>"), "the time is still repeated");
    }

    #[test]
    fn participants_are_ordered_like_maelstrom() {
        let mut names: Vec<String> = ["lin-kv", "n10", "c2", "n2", "c10", "seq-kv", "n1", "c1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        order_participants(&mut names);
        assert_eq!(
            names,
            ["c1", "c2", "c10", "n1", "n2", "n10", "lin-kv", "seq-kv"]
        );
    }

    #[test]
    fn labels_follow_maelstrom() {
        assert_eq!(
            label(&json!({"type": "echo", "echo": "hi", "msg_id": 3})),
            "echo {:echo \"hi\"}"
        );
        assert_eq!(
            label(&json!({"type": "read_ok", "in_reply_to": 3})),
            "read_ok"
        );
        assert_eq!(
            label(&json!({"type": "error", "code": 11, "text": "busy"})),
            "error busy"
        );
        let long = label(&json!({"type": "read_ok", "messages": (0..1000).collect::<Vec<_>>()}));
        assert_eq!(long.chars().count(), 48);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn small_journal_draws_every_message_and_escapes_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal(dir.path(), 10);
        let files = write(dir.path(), &path, 0).unwrap();
        assert_eq!(files, ["messages.svg"]);
        let svg = std::fs::read_to_string(dir.path().join("messages.svg")).unwrap();
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<g class=\"msg\">").count(), 10);
        assert!(!svg.contains("init_ok") && !svg.contains("\"init\""));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&lt;/svg&gt;&lt;script&gt;"));
        assert!(svg.contains(ERROR_COLOUR) && svg.contains(CLIENT_COLOUR));
        assert!(svg.contains("stroke=\"black\""));
        assert!(svg.contains("c12 → n1 {&quot;"));
        assert!(svg.contains("&quot;type&quot;:&quot;broadcast&quot;"));
        assert!(svg.contains("page 1 of 1"));
        assert!(!svg.contains("next page"));
        let c12 = svg.find(">c12</text>").unwrap();
        assert!(c12 < svg.find(">n1</text>").unwrap());
        assert!(svg.find(">n10</text>").unwrap() < svg.find(">lin-kv</text>").unwrap());
    }

    #[test]
    fn twelve_thousand_messages_make_three_linked_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal(dir.path(), 12_000);
        let files = write(dir.path(), &path, 0).unwrap();
        assert_eq!(files, ["messages.svg", "messages-2.svg", "messages-3.svg"]);
        let pages: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
            .collect();
        for (i, svg) in pages.iter().enumerate() {
            assert_well_formed(svg);
            assert!(svg.contains(&format!("page {} of 3", i + 1)));
        }
        let arrows: Vec<usize> = pages
            .iter()
            .map(|s| s.matches("<g class=\"msg\">").count())
            .collect();
        assert_eq!(arrows, [5_000, 5_000, 2_000]);
        assert!(pages[0].contains("href=\"messages-2.svg\""));
        assert!(pages[1].contains("href=\"messages.svg\""));
        assert!(pages[1].contains("xlink:href=\"messages-3.svg\""));
        assert!(pages[2].contains("href=\"messages-2.svg\""));
        assert!(!pages[2].contains("next page"));
        assert!(pages[1].contains("Messages 5001–10000"));
    }

    #[test]
    fn arrows_crossing_a_page_start_at_its_top() {
        let dir = tempfile::tempdir().unwrap();
        let body = json!({"type": "gossip"});
        let events = || -> std::io::Result<std::vec::IntoIter<NetEvent>> {
            let ev = |kind, id| NetEvent {
                time: id * 10,
                kind,
                id,
                src: "n0".into(),
                dest: "n1".into(),
                body: body.to_string(),
            };
            Ok(vec![
                ev(NetEventKind::Send, 1),
                ev(NetEventKind::Send, 2),
                ev(NetEventKind::Recv, 1),
                ev(NetEventKind::Recv, 2),
            ]
            .into_iter())
        };
        let files = write_events(dir.path(), events, 1).unwrap();
        // Page 1: send 1, send 2, delivery 1 (full); page 2: delivery 2.
        assert_eq!(files.len(), 2);
        let second = std::fs::read_to_string(dir.path().join(&files[1])).unwrap();
        assert_well_formed(&second);
        assert!(second.contains("stroke-dasharray"));
        assert!(second.contains("(sent on page 1)"));
    }

    #[test]
    fn empty_journal_gives_one_empty_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net-journal.jsonl");
        std::fs::write(&path, "").unwrap();
        let files = write(dir.path(), &path, 0).unwrap();
        assert_eq!(files, ["messages.svg"]);
        let svg = std::fs::read_to_string(dir.path().join("messages.svg")).unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("no network messages"));
    }
}

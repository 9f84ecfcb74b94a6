//! A node's stderr. By default the node writes it straight into `node-logs/<id>.log`
//! (the harness holds no descriptor for it and copies nothing); with `--log-stderr`
//! it comes through a pipe, is appended to the log and echoed as `<id> stderr: …`.
//! Error reports read the log's last lines back.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::lines::{quote, trim_line_end};

/// Lines of stderr quoted in an error report.
pub const TAIL_LINES: usize = 32;
/// How far back from the log's end the tail is looked for.
const TAIL_BYTES: u64 = 64 * 1024;
/// Bytes of an unfinished line kept for echoing; the log gets all of it.
const PARTIAL_LIMIT: usize = 4096;

/// The line straum writes into a log before a restarted node's output.
pub fn restart_marker(id: &str, generation: u32) -> String {
    format!("--- straum restarted {id} (generation {generation}) ---")
}

/// Echoes a piped stderr line by line while appending it to the log.
pub struct StderrEcho {
    log: Option<File>,
    partial: Vec<u8>,
    echo_as: String,
}

impl StderrEcho {
    /// Append to `log`, echoing each line as `<echo_as> stderr: …`.
    pub fn new(log: File, echo_as: String) -> StderrEcho {
        StderrEcho {
            log: Some(log),
            partial: Vec::new(),
            echo_as,
        }
    }

    /// Take one chunk the node wrote.
    pub fn feed(&mut self, chunk: &[u8]) {
        if let Some(log) = &mut self.log {
            // A failing disk must not stop the run; the log just ends there.
            if log.write_all(chunk).is_err() {
                self.log = None;
            }
        }
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(end + 1);
            rest = after;
            self.extend_partial(line);
            self.echo_partial();
        }
        self.extend_partial(rest);
    }

    /// At end of input: echo the unfinished last line.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.echo_partial();
        }
    }

    fn extend_partial(&mut self, piece: &[u8]) {
        let room = PARTIAL_LIMIT.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&piece[..piece.len().min(room)]);
    }

    fn echo_partial(&mut self) {
        eprintln!(
            "{} stderr: {}",
            self.echo_as,
            quote(trim_line_end(&self.partial))
        );
        self.partial.clear();
    }
}

/// The last [`TAIL_LINES`] lines of the log at `path` written by the incarnation
/// `generation` of node `id` (after its restart marker), each cut to a readable length.
pub fn log_tail(path: &Path, id: &str, generation: u32) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = length.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if from > 0 {
        lines.remove(0); // it may begin mid-line
    }
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if generation > 0 {
        let marker = restart_marker(id, generation);
        if let Some(at) = lines.iter().rposition(|l| *l == marker.as_bytes()) {
            lines.drain(..=at);
        }
    }
    let skip = lines.len().saturating_sub(TAIL_LINES);
    lines[skip..]
        .iter()
        .map(|line| quote(trim_line_end(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines_of_the_current_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n0.log");
        let mut text = String::from("first life\n");
        text.push_str(&restart_marker("n0", 1));
        text.push('\n');
        for i in 0..40 {
            text.push_str(&format!("line {i}\r\n"));
        }
        text.push_str("last words");
        std::fs::write(&path, &text).unwrap();
        let tail = log_tail(&path, "n0", 1);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.first().unwrap(), "line 9");
        assert_eq!(tail.last().unwrap(), "last words");
        std::fs::write(&path, format!("a\n{}\nb\n", restart_marker("n0", 1))).unwrap();
        assert_eq!(log_tail(&path, "n0", 1), vec!["b"]);
        assert_eq!(log_tail(&path, "n0", 0).len(), 3);
        assert!(log_tail(&dir.path().join("missing.log"), "n0", 0).is_empty());
    }

    #[test]
    fn echo_mode_logs_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n0.log");
        let mut echo = StderrEcho::new(File::create(&path).unwrap(), "n0".into());
        echo.feed(b"one\ntw");
        echo.feed(b"o\n");
        echo.feed(b"end");
        echo.finish();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nend");
    }
}

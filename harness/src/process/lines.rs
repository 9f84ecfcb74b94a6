//! Framing a node's stdout into lines as chunks arrive from a non-blocking pipe.
//!
//! Complete lines inside a chunk are handed out as slices of it (no copy); only the
//! unfinished tail of a chunk is kept, and never more than the line-length limit: a
//! line that grows past it is reported at once, with its first bytes kept for the
//! quote, and the rest of it is skipped as it arrives.

/// Characters of an offending line quoted in a report.
pub const QUOTED_LINE_CHARS: usize = 500;

/// What the framer found in a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// One complete line, without its `\n` or `\r\n`.
    Line(&'a [u8]),
    /// A line passed the limit after `read` bytes; `start` is its beginning, for the
    /// quote. `ended` says whether its newline had been read.
    TooLong {
        /// The first bytes of the line.
        start: &'a [u8],
        /// How many bytes of it had been read when it passed the limit.
        read: usize,
        /// Whether its newline was read.
        ended: bool,
    },
}

/// The unfinished end of a node's stdout.
#[derive(Debug)]
pub struct LineFramer {
    max: usize,
    partial: Vec<u8>,
    /// Skipping the rest of an oversized line, up to its newline.
    discarding: bool,
}

/// Capacity kept for the partial line between chunks; more is released.
const KEEP_CAPACITY: usize = 4096;

impl LineFramer {
    /// A framer for lines of at most `max` bytes (newline included).
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            max,
            partial: Vec::new(),
            discarding: false,
        }
    }

    /// Split `chunk` into pieces, calling `each` for every line finished (or oversized)
    /// in it; keep the unfinished tail for the next chunk.
    pub fn feed(&mut self, mut chunk: &[u8], mut each: impl FnMut(Piece<'_>)) {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            let used = newline.map_or(chunk.len(), |end| end + 1);
            let (piece, rest) = chunk.split_at(used);
            chunk = rest;
            if self.discarding {
                self.discarding = newline.is_none();
                continue;
            }
            let read = self.partial.len() + used;
            if read > self.max {
                let room = QUOTED_LINE_CHARS
                    .saturating_sub(self.partial.len())
                    .min(used);
                self.partial.extend_from_slice(&piece[..room]);
                each(Piece::TooLong {
                    start: &self.partial,
                    read,
                    ended: newline.is_some(),
                });
                self.clear_partial();
                self.discarding = newline.is_none();
                continue;
            }
            if newline.is_none() {
                self.partial.extend_from_slice(piece);
                continue;
            }
            if self.partial.is_empty() {
                each(Piece::Line(trim_line_end(piece)));
            } else {
                self.partial.extend_from_slice(piece);
                each(Piece::Line(trim_line_end(&self.partial)));
                self.clear_partial();
            }
        }
    }

    /// At end of input: the unfinished last line, if there is one.
    pub fn finish(&mut self, each: impl FnOnce(Piece<'_>)) {
        if !self.partial.is_empty() && !self.discarding {
            each(Piece::Line(trim_line_end(&self.partial)));
        }
        self.clear_partial();
        self.discarding = false;
    }

    fn clear_partial(&mut self) {
        self.partial.clear();
        if self.partial.capacity() > KEEP_CAPACITY {
            self.partial.shrink_to(KEEP_CAPACITY);
        }
    }
}

/// `line` without its trailing `\n` / `\r\n`.
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// A line as text cut to a readable length, for reports.
pub fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() > QUOTED_LINE_CHARS {
        let cut: String = text.chars().take(QUOTED_LINE_CHARS).collect();
        format!("{cut}…")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut framer = LineFramer::new(max);
        let mut out = Vec::new();
        let mut record = |piece: Piece<'_>| match piece {
            Piece::Line(line) => out.push(String::from_utf8(line.to_vec()).unwrap()),
            Piece::TooLong { start, read, ended } => out.push(format!(
                "too long: {} after {read}{}",
                String::from_utf8_lossy(trim_line_end(start)),
                if ended { "" } else { "+" }
            )),
        };
        for chunk in chunks {
            framer.feed(chunk, &mut record);
        }
        framer.finish(&mut record);
        out
    }

    #[test]
    fn splits_lines_across_chunks_and_keeps_the_last_unfinished_one() {
        assert_eq!(
            frame(&[b"ab\r\ncd", b"ef\n", b"\n", b"k\nla", b"st"], 100),
            vec!["ab", "cdef", "", "k", "last"]
        );
        assert_eq!(frame(&[], 5), Vec::<String>::new());
    }

    #[test]
    fn reports_an_oversized_line_as_soon_as_it_passes_the_limit_and_skips_its_rest() {
        // "cdefghij\n" passes 5 bytes in its second chunk, before its newline arrives.
        assert_eq!(
            frame(&[b"ab\ncde", b"fgh", b"ij\nk\n"], 5),
            vec!["ab", "too long: cdefgh after 6+", "k"]
        );
        assert_eq!(
            frame(&[b"abcdefgh\nok\n"], 5),
            vec!["too long: abcdefgh after 9", "ok"]
        );
        // Exactly at the limit is accepted.
        assert_eq!(frame(&[b"abcd\n"], 5), vec!["abcd"]);
        // An oversized last line without a newline is not reported twice.
        assert_eq!(
            frame(&[b"abcdefgh"], 5),
            vec!["too long: abcdefgh after 8+"]
        );
    }

    #[test]
    fn keeps_no_more_than_the_quote_of_an_oversized_line() {
        let mut framer = LineFramer::new(1000);
        let big = vec![b'x'; 100_000];
        let mut reports = 0;
        framer.feed(&big, |piece| {
            assert!(
                matches!(piece, Piece::TooLong { start, .. } if start.len() <= QUOTED_LINE_CHARS)
            );
            reports += 1;
        });
        framer.feed(&big, |_| reports += 1);
        assert_eq!(reports, 1);
        assert!(framer.partial.capacity() <= KEEP_CAPACITY);
    }
}

//! What waits to be written to a node's stdin: deliveries appended by the core, written
//! in batches when the poller comes round, never blocking it. A node that stops
//! reading leaves bytes here; how long they have waited without progress is what the
//! stalled-reader watchdog sees, and a bound on queued lines protects the harness.

use std::io::{ErrorKind, Write};

use crate::backend::Nanos;

/// Lines that may wait for a node that is slow to read its stdin.
pub const INBOX_CAPACITY: usize = 65_536;
/// Capacity kept once everything queued has been written; more is released, so that
/// a thousand idle nodes do not each hold the largest batch they were ever sent.
const KEEP_CAPACITY: usize = 8 * 1024;

/// Pending output for one node's stdin.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    /// How much of `bytes` has been written.
    written: usize,
    /// Complete lines not yet fully written.
    queued_lines: usize,
    /// When writing last made progress while bytes were waiting (`None`: nothing
    /// waits, or the last attempt wrote everything).
    waiting_since: Option<Nanos>,
    /// The node closed its stdin: further lines are dropped.
    closed: bool,
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was written.
    All,
    /// The pipe is full; the rest waits until it is writable.
    Blocked,
    /// The node's stdin is closed; what was queued is dropped.
    Closed,
}

impl Outbox {
    /// Queue one line (with its newline); false when [`INBOX_CAPACITY`] lines already
    /// wait. A closed stdin swallows the line: the node has exited or is exiting, and
    /// its exit is reported.
    pub fn push(&mut self, line: &[u8]) -> bool {
        if self.closed {
            return true;
        }
        if self.queued_lines >= INBOX_CAPACITY {
            return false;
        }
        self.bytes.extend_from_slice(line);
        self.queued_lines += 1;
        true
    }

    /// Whether anything waits to be written.
    pub fn is_pending(&self) -> bool {
        self.written < self.bytes.len()
    }

    /// How many lines wait.
    pub fn queued_lines(&self) -> usize {
        self.queued_lines
    }

    /// How long the bytes waiting have made no progress, at `now`.
    pub fn stalled_for(&self, now: Nanos) -> Option<Nanos> {
        self.waiting_since.map(|since| now.saturating_sub(since))
    }

    /// Write as much as the pipe takes without blocking.
    pub fn flush(&mut self, pipe: &mut impl Write, now: Nanos) -> Flushed {
        let mut progressed = false;
        while self.is_pending() {
            match pipe.write(&self.bytes[self.written..]) {
                Ok(0) => return self.close(),
                Ok(n) => {
                    let done = &self.bytes[self.written..self.written + n];
                    self.queued_lines -= memchr::memchr_iter(b'\n', done).count();
                    self.written += n;
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if progressed || self.waiting_since.is_none() {
                        self.waiting_since = Some(now);
                    }
                    self.compact();
                    return Flushed::Blocked;
                }
                Err(_) => return self.close(),
            }
        }
        self.bytes.clear();
        self.written = 0;
        self.waiting_since = None;
        if self.bytes.capacity() > KEEP_CAPACITY {
            self.bytes.shrink_to(KEEP_CAPACITY);
        }
        Flushed::All
    }

    /// Drop what was written from the front once it is most of the buffer.
    fn compact(&mut self) {
        if self.written > self.bytes.len() / 2 {
            self.bytes.drain(..self.written);
            self.written = 0;
        }
    }

    fn close(&mut self) -> Flushed {
        self.closed = true;
        self.bytes = Vec::new();
        self.written = 0;
        self.queued_lines = 0;
        self.waiting_since = None;
        Flushed::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe that takes `room` bytes, then would block.
    struct Pipe {
        taken: Vec<u8>,
        room: usize,
        broken: bool,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.broken {
                return Err(ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room).min(3);
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_what_fits_counts_lines_and_times_the_stall() {
        let mut outbox = Outbox::default();
        let mut pipe = Pipe {
            taken: Vec::new(),
            room: 5,
            broken: false,
        };
        assert!(outbox.push(b"ab\n"));
        assert!(outbox.push(b"cdef\n"));
        assert_eq!(outbox.flush(&mut pipe, 10), Flushed::Blocked);
        assert_eq!(
            (pipe.taken.as_slice(), outbox.queued_lines()),
            (&b"ab\ncd"[..], 1)
        );
        assert_eq!(outbox.stalled_for(25), Some(15));
        // No progress: the stall keeps its start.
        assert_eq!(outbox.flush(&mut pipe, 30), Flushed::Blocked);
        assert_eq!(outbox.stalled_for(40), Some(30));
        pipe.room = 100;
        assert_eq!(outbox.flush(&mut pipe, 50), Flushed::All);
        assert_eq!(pipe.taken, b"ab\ncdef\n");
        assert_eq!((outbox.queued_lines(), outbox.stalled_for(60)), (0, None));
    }

    #[test]
    fn refuses_past_capacity_and_swallows_lines_once_closed() {
        let mut outbox = Outbox::default();
        for _ in 0..INBOX_CAPACITY {
            assert!(outbox.push(b"x\n"));
        }
        assert!(!outbox.push(b"x\n"));
        let mut pipe = Pipe {
            taken: Vec::new(),
            room: 0,
            broken: true,
        };
        assert_eq!(outbox.flush(&mut pipe, 1), Flushed::Closed);
        assert!(outbox.push(b"y\n"));
        assert!(!outbox.is_pending());
    }
}

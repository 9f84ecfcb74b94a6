//! The analysis clock: every pass asks it, once per op, whether the time is up.

use std::time::{Duration, Instant};

/// Pass 1's name in the cut-short sentence.
pub(super) const COLLECTING: &str = "collecting observations";
/// How many ops pass between two looks at the clock.
const CLOCK_EVERY: u32 = 1024;

/// The clock the analysis answers to.
pub(super) struct Budget {
    start: Instant,
    /// How long the analysis may take.
    pub(super) limit: Duration,
    ticks: u32,
    /// The time ran out.
    pub(super) cut: bool,
    /// Where the analysis stopped: (pass, ops done in it).
    pub(super) stopped_at: Option<(&'static str, usize)>,
    /// For tests: the time is up at this op of whichever pass reaches it first.
    #[cfg(test)]
    out_at: Option<usize>,
}

impl Budget {
    /// A clock running from now, up after `limit`.
    pub(super) fn new(limit: Duration) -> Budget {
        Budget {
            start: Instant::now(),
            limit,
            ticks: 0,
            cut: false,
            stopped_at: None,
            #[cfg(test)]
            out_at: None,
        }
    }

    /// For tests: a clock that is up at op `done` of the first pass reaching it.
    #[cfg(test)]
    pub(super) fn up_at(done: usize) -> Budget {
        Budget {
            out_at: Some(done),
            ..Budget::new(Duration::from_secs(3600))
        }
    }

    /// Whether pass 1 ran to the end.
    pub(super) fn collected_all(&self) -> bool {
        !matches!(self.stopped_at, Some((COLLECTING, _)))
    }

    /// True once the time is up (looked at every [`CLOCK_EVERY`] calls).
    pub(super) fn over(&mut self, pass: &'static str, done: usize) -> bool {
        if self.cut {
            return true;
        }
        #[cfg(test)]
        if self.out_at.is_some_and(|n| done >= n) {
            self.cut = true;
            self.stopped_at = Some((pass, done));
            return true;
        }
        if self.ticks == 0 && self.start.elapsed() >= self.limit {
            self.cut = true;
            self.stopped_at = Some((pass, done));
        }
        self.ticks = (self.ticks + 1) % CLOCK_EVERY;
        self.cut
    }
}

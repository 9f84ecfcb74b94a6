//! Live progress while a test runs: a one-line bar on a terminal (indicatif), plain
//! log lines every few seconds otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A snapshot of a running test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// `init`, `setup`, `running`, `recovery`, `final reads`.
    pub phase: &'static str,
    /// Seconds into the main phase.
    pub elapsed: f64,
    /// Length of the main phase in seconds.
    pub total: f64,
    /// Operations invoked so far.
    pub invoked: u64,
    /// Completions so far, by kind.
    pub ok: u64,
    /// Failed operations.
    pub fail: u64,
    /// Indeterminate operations.
    pub info: u64,
    /// Faults in force.
    pub faults: Vec<&'static str>,
}

impl Progress {
    fn line(&self) -> String {
        let rate = if self.elapsed > 0.0 {
            self.invoked as f64 / self.elapsed.min(self.total.max(0.001))
        } else {
            0.0
        };
        let faults = if self.faults.is_empty() {
            "none".to_string()
        } else {
            self.faults.join(", ")
        };
        format!(
            "{} {:.1}/{:.0} s · {rate:.0} ops/s · ok {} fail {} info {} · faults: {faults}",
            self.phase, self.elapsed, self.total, self.ok, self.fail, self.info
        )
    }
}

/// Where progress goes.
pub trait ProgressSink {
    /// A new snapshot (called a few times a second).
    fn update(&mut self, progress: &Progress);
    /// The run is over; clear any live display.
    fn finish(&mut self);
}

/// The display for this process: a bar on a terminal, plain lines otherwise.
pub fn for_stderr() -> Box<dyn ProgressSink> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(Lines::default())
    }
}

struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
                .expect("a valid template")
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        Bar { bar }
    }
}

impl ProgressSink for Bar {
    fn update(&mut self, progress: &Progress) {
        let fraction = if progress.total > 0.0 {
            (progress.elapsed / progress.total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.bar.set_position((fraction * 1000.0) as u64);
        self.bar.set_message(progress.line());
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Plain lines, at most one every [`LINE_INTERVAL`] and on every phase change.
#[derive(Default)]
struct Lines {
    last: Option<(Instant, &'static str)>,
}

/// How often plain progress lines are printed.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

impl ProgressSink for Lines {
    fn update(&mut self, progress: &Progress) {
        let due = match self.last {
            None => true,
            Some((at, phase)) => phase != progress.phase || at.elapsed() >= LINE_INTERVAL,
        };
        if due {
            self.last = Some((Instant::now(), progress.phase));
            eprintln!("straum: {}", progress.line());
        }
    }

    fn finish(&mut self) {}
}

/// A sink that shows nothing (tests, benchmarks).
pub struct Silent;

impl ProgressSink for Silent {
    fn update(&mut self, _: &Progress) {}
    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_phase_time_rate_counts_and_faults() {
        let p = Progress {
            phase: "running",
            elapsed: 2.0,
            total: 10.0,
            invoked: 100,
            ok: 90,
            fail: 3,
            info: 2,
            faults: vec!["partition"],
        };
        assert_eq!(
            p.line(),
            "running 2.0/10 s · 50 ops/s · ok 90 fail 3 info 2 · faults: partition"
        );
    }
}

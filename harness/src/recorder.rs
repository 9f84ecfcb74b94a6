//! Records the history as it happens: every op is appended to `history.jsonl` the
//! moment it is recorded (so a crash or interrupt never loses it) and kept for the
//! checkers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::Value;
use straum_workloads::{Op, OpType, Process};

/// The history of a run, journaled to disk as it grows.
pub struct HistoryRecorder {
    ops: Vec<Op>,
    journal: Option<BufWriter<File>>,
}

/// The fields of an op that the recorder does not assign itself.
pub struct OpRecord {
    /// Nanoseconds since the main phase began.
    pub time: u64,
    /// Invocation or completion kind.
    pub kind: OpType,
    /// Who.
    pub process: Process,
    /// Function.
    pub f: &'static str,
    /// Value.
    pub value: Value,
    /// Error, on fail/info.
    pub error: Option<Value>,
    /// Client exception class, on info.
    pub exception: Option<String>,
    /// `:final? true`.
    pub final_read: bool,
    /// Target node, on invocations.
    pub node: Option<String>,
}

impl HistoryRecorder {
    /// A recorder journaling to `path` (created or truncated).
    pub fn create(path: &Path) -> std::io::Result<HistoryRecorder> {
        Ok(HistoryRecorder {
            ops: Vec::new(),
            journal: Some(BufWriter::new(File::create(path)?)),
        })
    }

    /// A recorder that only keeps ops in memory (tests, analysis of stored runs).
    pub fn in_memory() -> HistoryRecorder {
        HistoryRecorder {
            ops: Vec::new(),
            journal: None,
        }
    }

    /// Append an op; returns its index.
    pub fn record(&mut self, record: OpRecord) -> u64 {
        let index = self.ops.len() as u64;
        let op = Op {
            index,
            time: record.time,
            kind: record.kind,
            process: record.process,
            f: record.f.to_string(),
            value: record.value,
            error: record.error,
            exception: record.exception,
            final_read: record.final_read,
            node: record.node,
        };
        if let Some(journal) = &mut self.journal {
            // A failing disk must not stop the run; the history stays in memory.
            if serde_json::to_writer(&mut *journal, &op).is_err()
                || journal.write_all(b"\n").is_err()
            {
                self.journal = None;
            }
        }
        self.ops.push(op);
        index
    }

    /// Flush the journal to disk.
    pub fn flush(&mut self) {
        if let Some(journal) = &mut self.journal {
            let _ = journal.flush();
        }
    }

    /// The ops recorded so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Finish recording and hand over the ops.
    pub fn finish(mut self) -> Vec<Op> {
        self.flush();
        self.ops
    }
}

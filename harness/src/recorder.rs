//! Records the history as it happens. A run's recorder appends every op to
//! `history.jsonl` the moment it is recorded — so a crash or interrupt never loses it —
//! and keeps nothing else in memory, so a long run stays bounded; the checkers read
//! the file back when the run is over.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use straum_workloads::{Op, OpType, Process};

/// The history of a run.
pub struct HistoryRecorder {
    next_index: u64,
    journal: Option<(PathBuf, BufWriter<File>)>,
    /// Ops kept in memory: all of them for an in-memory recorder, or those recorded
    /// after the journal failed (a full disk must not lose the history).
    kept: Vec<Op>,
    journal_failed: bool,
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
            next_index: 0,
            journal: Some((path.to_path_buf(), BufWriter::new(File::create(path)?))),
            kept: Vec::new(),
            journal_failed: false,
        })
    }

    /// A recorder that only keeps ops in memory (tests, benchmarks).
    pub fn in_memory() -> HistoryRecorder {
        HistoryRecorder {
            next_index: 0,
            journal: None,
            kept: Vec::new(),
            journal_failed: false,
        }
    }

    /// Append an op; returns its index.
    pub fn record(&mut self, record: OpRecord) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
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
        match &mut self.journal {
            Some((_, out)) if !self.journal_failed => {
                let written =
                    serde_json::to_writer(&mut *out, &op).is_ok() && out.write_all(b"\n").is_ok();
                if !written {
                    eprintln!("straum: cannot append to history.jsonl; keeping the rest in memory");
                    self.journal_failed = true;
                    self.kept.push(op);
                }
            }
            _ => self.kept.push(op),
        }
        index
    }

    /// Flush the journal to disk.
    pub fn flush(&mut self) {
        if let Some((_, out)) = &mut self.journal {
            let _ = out.flush();
        }
    }

    /// Finish recording and hand over every op: read back from the journal (plus any
    /// kept in memory), or the in-memory ones.
    pub fn finish(mut self) -> Vec<Op> {
        self.flush();
        let Some((path, _)) = self.journal.take() else {
            return self.kept;
        };
        let mut ops = read(&path).unwrap_or_else(|e| {
            eprintln!("straum: {e}");
            Vec::new()
        });
        ops.truncate(self.next_index as usize - self.kept.len());
        ops.extend(self.kept);
        ops
    }
}

/// Read a `history.jsonl` back.
pub fn read(path: &Path) -> Result<Vec<Op>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time: u64) -> OpRecord {
        OpRecord {
            time,
            kind: OpType::Invoke,
            process: Process::Client(0),
            f: "echo",
            value: Value::from("x"),
            error: None,
            exception: None,
            final_read: false,
            node: Some("n0".into()),
        }
    }

    #[test]
    fn a_journaled_history_is_on_disk_as_it_grows_and_read_back_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut recorder = HistoryRecorder::create(&path).unwrap();
        assert_eq!(recorder.record(record(1)), 0);
        assert_eq!(recorder.record(record(2)), 1);
        assert!(recorder.kept.is_empty(), "nothing is held in memory");
        recorder.flush();
        assert_eq!(read(&path).unwrap().len(), 2);
        let ops = recorder.finish();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].time, 2);
        assert_eq!(ops[1].index, 1);
    }

    #[test]
    fn an_in_memory_history_keeps_its_ops() {
        let mut recorder = HistoryRecorder::in_memory();
        recorder.record(record(5));
        assert_eq!(recorder.finish().len(), 1);
    }
}

//! Checking a history file without holding it: one thread parses lines, another
//! pairs and decodes them into compact transactions as they arrive, so memory is
//! that of the decoded transactions (a few tens of bytes per micro-op), not of the
//! history's JSON values. Only what the check uses is parsed: an invocation's
//! micro-ops stay text until its completion turns out not to be `ok`.

use std::borrow::Cow;
use std::io::BufRead;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::fastline::{self, Fast};
use super::history::{decode, decode_plain, finish, Head, Mop, Reads, Txns};
use super::pairing::{same_writes, Pending};
use super::{check_transactions, ElleOptions, TxnKind};
use crate::linearizable::formats::ParseError;
use crate::{CheckResult, OpType};

/// Lines handed from the parsing thread to the decoding one at a time.
const BATCH: usize = 4096;

/// The fields of a `history.jsonl` line the check reads (the rest are skipped).
#[derive(Deserialize)]
struct Line<'a> {
    index: u64,
    time: u64,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(borrow)]
    process: &'a RawValue,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

/// A client's `txn` op, as far as it is needed.
#[derive(Debug, PartialEq)]
enum Event {
    /// An invocation, its micro-ops as JSON text.
    Invoke(Head, Box<str>),
    /// A completion, its micro-ops decoded or its value parsed when it is `ok`
    /// (else null).
    Complete(Head, Completed),
}

/// A completion's value, as far as the parser took it.
#[derive(Debug, PartialEq)]
enum Completed {
    Decoded(Vec<Mop>),
    Value(Value),
}

/// Parse line `number` into an event: `None` for blank lines and ops that are not a
/// client's `txn`. The recorder's own lines take the fast path, the rest serde's.
fn event(number: usize, text: &str, kind: TxnKind) -> Result<Option<Event>, ParseError> {
    Ok(Some(match fastline::line(text, kind) {
        Some(Fast::Invoke(head, value)) => Event::Invoke(head, value.into()),
        Some(Fast::Ok(head, mops)) => Event::Complete(head, Completed::Decoded(mops)),
        Some(Fast::Other(head)) => Event::Complete(head, Completed::Value(Value::Null)),
        None => return event_by_serde(number, text, kind),
    }))
}

/// [`event`] by serde alone: any JSON the history format allows.
fn event_by_serde(number: usize, text: &str, kind: TxnKind) -> Result<Option<Event>, ParseError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let error = |message: String| ParseError {
        line: number,
        message,
    };
    let line: Line = serde_json::from_str(text)
        .map_err(|e| error(format!("expected a history op as JSON: {e}")))?;
    let process = match line.process.get() {
        "\"nemesis\"" => return Ok(None),
        p => p.parse::<u64>().map_err(|_| {
            error(format!(
                "expected the process to be an integer or \"nemesis\", found {}",
                crate::quote::abridge_to(p, 40)
            ))
        })?,
    };
    if line.f != "txn" {
        return Ok(None);
    }
    let head = Head {
        index: line.index,
        time: line.time,
        kind: line.kind,
        process,
    };
    let raw = line.value.map_or("null", RawValue::get);
    Ok(Some(match line.kind {
        OpType::Invoke => Event::Invoke(head, raw.into()),
        OpType::Ok => Event::Complete(
            head,
            match decode_plain(raw, kind) {
                Some(mops) => Completed::Decoded(mops),
                None => {
                    Completed::Value(serde_json::from_str(raw).map_err(|e| error(e.to_string()))?)
                }
            },
        ),
        _ => Event::Complete(head, Completed::Value(Value::Null)),
    }))
}

/// Pairs events into transactions and decodes each as soon as it completes, by the
/// rules of [`super::history::transactions`]: an invocation never completed counts
/// as `info`, and a process with several open is paired as [`super::pairing`] says.
struct Decoder {
    kind: TxnKind,
    t: Txns,
    open: Pending<Box<str>>,
}

fn parsed(text: &str) -> Cow<'static, Value> {
    Cow::Owned(serde_json::from_str(text).unwrap_or(Value::Null))
}

impl Decoder {
    fn push(&mut self, event: Event) {
        match event {
            Event::Invoke(head, text) => self.open.invoke(head, text),
            Event::Complete(mut head, value) => {
                let (kind, atoms) = (self.kind, &mut self.t.atoms);
                // only a process with several invocations open needs the match
                let shape = if self.open.ambiguous(head.process) {
                    match &value {
                        Completed::Decoded(mops) => Some(mops.clone()),
                        Completed::Value(v) => decode(v, kind, false, atoms).ok(),
                    }
                } else {
                    None
                };
                let mut fits = |text: &str| {
                    shape.as_ref().is_some_and(|c| {
                        decode(&parsed(text), kind, false, atoms).is_ok_and(|m| same_writes(&m, c))
                    })
                };
                match self.open.complete(&mut head, |text| fits(text)) {
                    Some((invoke, text)) => {
                        let recorded;
                        let reads = match value {
                            Completed::Decoded(mops) => Reads::Decoded(mops),
                            Completed::Value(value) => {
                                recorded = value;
                                Reads::Value(&recorded)
                            }
                        };
                        let comp = Some((head, reads));
                        finish(invoke, &|| parsed(&text), comp, self.kind, &mut self.t);
                    }
                    None => {
                        self.t.note(format!(
                            "op {}: a completion with no invocation",
                            head.index
                        ));
                        if head.kind == OpType::Ok {
                            self.t.writes_incomplete = true;
                        }
                    }
                }
            }
        }
    }

    /// The transactions: completed ones in completion order, then those never
    /// completed in invocation order.
    fn finish(self) -> Txns {
        let mut t = self.t;
        t.overlapping = self.open.overlapping;
        for (invoke, text) in self.open.rest() {
            finish(invoke, &|| parsed(&text), None, self.kind, &mut t);
        }
        t
    }
}

/// Threads parsing lines (the slowest stage); the decoder is one more.
const PARSERS: usize = 2;

/// Read up to [`BATCH`] lines into one string (one allocation, freed by whichever
/// parser gets it); `None` at the end.
fn read_chunk<R: BufRead>(reader: &mut R, first: usize) -> Result<Option<String>, ParseError> {
    let mut chunk = String::with_capacity(BATCH * 128);
    for number in first..first + BATCH {
        match reader.read_line(&mut chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(ParseError {
                    line: number,
                    message: format!("cannot read the history: {e}"),
                })
            }
        }
    }
    Ok((!chunk.is_empty()).then_some(chunk))
}

/// Check a `history.jsonl` read from `reader` (see [`super::check`]), streaming:
/// the history is never in memory as a whole. Chunks of lines go round-robin to
/// [`PARSERS`] threads and their events come back to the decoder in file order.
/// A line that is not an op is an error naming it.
pub fn check_jsonl<R: BufRead + Send>(
    mut reader: R,
    kind: TxnKind,
    options: &ElleOptions,
) -> Result<CheckResult, ParseError> {
    let started = Instant::now();
    let mut decoder = Decoder {
        kind,
        t: Txns::default(),
        open: Pending::default(),
    };
    let outcome = std::thread::scope(|scope| {
        let mut to_parsers = Vec::new();
        let mut from_parsers = Vec::new();
        for _ in 0..PARSERS {
            let (send_chunk, chunks) = sync_channel::<(usize, String)>(2);
            let (send_events, events) = sync_channel::<Result<Vec<Event>, ParseError>>(2);
            scope.spawn(move || {
                for (first, chunk) in chunks {
                    let parsed: Result<Vec<Event>, ParseError> = chunk
                        .lines()
                        .enumerate()
                        .filter_map(|(i, line)| event(first + i, line, kind).transpose())
                        .collect();
                    if send_events.send(parsed).is_err() {
                        return;
                    }
                }
            });
            to_parsers.push(send_chunk);
            from_parsers.push(events);
        }
        // the reader runs ahead of the decoder by at most a few chunks per parser
        let reader = scope.spawn(move || {
            let mut first = 1;
            for n in 0.. {
                match read_chunk(&mut reader, first) {
                    Ok(Some(chunk)) => {
                        let lines = chunk.lines().count();
                        if to_parsers[n % PARSERS].send((first, chunk)).is_err() {
                            return Ok(());
                        }
                        first += lines;
                    }
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        let mut n = 0;
        let decoded = loop {
            match from_parsers[n % PARSERS].recv() {
                Ok(Ok(events)) => events.into_iter().for_each(|e| decoder.push(e)),
                Ok(Err(e)) => break Err(e),
                Err(_) => break Ok(()), // every chunk has been parsed
            }
            n += 1;
        };
        // parsers blocked on a full channel stop once nobody listens, then the reader
        drop(from_parsers);
        decoded.and(reader.join().expect("the history reader"))
    });
    outcome?;
    Ok(check_transactions(decoder.finish(), kind, options, started))
}

#[cfg(test)]
#[path = "tests_fastline.rs"]
mod tests_fastline;

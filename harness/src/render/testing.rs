//! Test helpers: history builders and a strict XML well-formedness check.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;
use straum_workloads::{Op, OpType, Process};

/// A client op.
pub fn client(index: u64, time: u64, kind: OpType, process: u64, f: &str) -> Op {
    Op {
        index,
        time,
        kind,
        process: Process::Client(process),
        f: f.to_string(),
        value: Value::Null,
        error: None,
        exception: None,
        final_read: false,
        node: None,
    }
}

/// A nemesis op (always `info`).
pub fn nemesis(index: u64, time: u64, f: &str) -> Op {
    Op {
        process: Process::Nemesis,
        ..client(index, time, OpType::Info, 0, f)
    }
}

/// A history of `n` client ops spread over `seconds`, over 4 processes, with every
/// seventh failing and every eleventh indeterminate, and a partition in the middle.
pub fn sample_history(n: u64, seconds: u64) -> Vec<Op> {
    let span = seconds * 1_000_000_000;
    let mut history = Vec::new();
    let mut index = 0;
    let mut push = |history: &mut Vec<Op>, op: Op| {
        history.push(Op { index, ..op });
        index += 1;
    };
    for i in 0..n {
        let t = span * i / n.max(1);
        if i == n / 3 {
            push(&mut history, nemesis(0, t, "start-partition"));
            push(&mut history, nemesis(0, t, "start-partition"));
        }
        if i == 2 * n / 3 {
            push(&mut history, nemesis(0, t, "stop-partition"));
            push(&mut history, nemesis(0, t, "stop-partition"));
        }
        let f = if i % 2 == 0 { "read" } else { "write" };
        let mut invoke = client(0, t, OpType::Invoke, i % 4, f);
        invoke.value = Value::from(i);
        push(&mut history, invoke);
        let kind = if i % 7 == 0 {
            OpType::Fail
        } else if i % 11 == 0 {
            OpType::Info
        } else {
            OpType::Ok
        };
        let mut done = client(0, t + 1_000_000 + (i % 13) * 3_000_000, kind, i % 4, f);
        done.value = Value::from(i);
        if kind == OpType::Fail {
            done.error = Some(serde_json::json!([11, "temporarily unavailable"]));
        }
        push(&mut history, done);
    }
    history
}

/// Parse `text` completely, failing on any malformed markup, unbalanced or mismatched
/// tags, bad references or duplicate attributes; returns the number of elements.
pub fn assert_well_formed(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0;
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed at {}: {e}", reader.buffer_position()));
        match event {
            Event::Start(e) => {
                if stack.is_empty() {
                    roots += 1;
                }
                for a in e.attributes() {
                    a.expect("attribute")
                        .unescape_value()
                        .expect("attribute value");
                }
                stack.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                elements += 1;
            }
            Event::Empty(e) => {
                if stack.is_empty() {
                    roots += 1;
                }
                for a in e.attributes() {
                    a.expect("attribute")
                        .unescape_value()
                        .expect("attribute value");
                }
                elements += 1;
            }
            Event::End(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
            }
            Event::Text(t) => {
                let text = t.unescape().expect("text references");
                if stack.is_empty() {
                    assert!(text.trim().is_empty(), "text outside the root: {text:?}");
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
    elements
}

//! A history builder and helpers for the checker's unit tests.

use serde_json::{json, Value};

use super::check;
use crate::history::{Op, OpType, Process};
use crate::CheckResult;

/// A history builder: every op is an invocation and its completion, 1 ms apart.
#[derive(Default)]
pub(super) struct H(pub(super) Vec<Op>);

impl H {
    pub(super) fn push(&mut self, kind: OpType, p: u64, f: &str, value: Value) -> &mut H {
        let index = self.0.len() as u64;
        self.0.push(Op {
            index,
            time: index * 1_000_000,
            kind,
            process: Process::Client(p),
            f: f.into(),
            value,
            error: None,
            exception: None,
            final_read: false,
            node: (kind == OpType::Invoke).then(|| format!("n{}", p % 2)),
        });
        self
    }

    pub(super) fn op(&mut self, p: u64, f: &str, inv: Value, kind: OpType, done: Value) -> &mut H {
        self.push(OpType::Invoke, p, f, inv).push(kind, p, f, done)
    }

    pub(super) fn send(&mut self, p: u64, key: &str, msg: i64, offset: i64) -> &mut H {
        self.op(
            p,
            "send",
            json!([["send", key, msg]]),
            OpType::Ok,
            json!([["send", key, [offset, msg]]]),
        )
    }

    pub(super) fn send_as(&mut self, p: u64, key: &str, msg: i64, kind: OpType) -> &mut H {
        let v = json!([["send", key, msg]]);
        self.op(p, "send", v.clone(), kind, v);
        if kind != OpType::Ok {
            self.0.last_mut().unwrap().error = Some(json!(["abort", "no"]));
        }
        self
    }

    pub(super) fn poll(&mut self, p: u64, msgs: Value) -> &mut H {
        self.op(
            p,
            "poll",
            json!([["poll"]]),
            OpType::Ok,
            json!([["poll", msgs]]),
        )
    }

    pub(super) fn assign(&mut self, p: u64, keys: Value) -> &mut H {
        self.op(p, "assign", keys.clone(), OpType::Ok, keys)
    }

    pub(super) fn crash(&mut self, p: u64) -> &mut H {
        self.op(p, "crash", Value::Null, OpType::Info, Value::Null)
    }

    pub(super) fn check(&self) -> CheckResult {
        check(&self.0)
    }
}

pub(super) fn types(r: &CheckResult) -> Vec<String> {
    serde_json::from_value(r.fields["error-types"].clone()).unwrap()
}

pub(super) fn findings(r: &CheckResult) -> String {
    r.findings.join("\n")
}

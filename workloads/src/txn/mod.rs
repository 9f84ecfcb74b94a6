//! The transactional workloads `txn-list-append` and `txn-rw-register` (Maelstrom
//! §8.7–8.8): clients send `txn` requests, each a list of micro-ops `[f, k, v]` —
//! reads `["r", k, null]` and writes (`["append", k, v]` or `["w", k, v]`) — and the
//! node answers `txn_ok` with the same transaction, reads filled in. The history is
//! judged by the Elle-class checker ([`crate::elle`]) against `--consistency-models`
//! (default `strict-serializable`).
//!
//! * [`generator`]: the transaction stream (lengths, read/write mix, biased keys,
//!   unique values per key, key retirement);
//! * [`schema`]: the per-kind part — the write micro-op's name and the reply
//!   micro-op shapes.
//!
//! History shape (the checker's contract): every client op has `f = "txn"`; an
//! invocation's value is the transaction with `null` reads; `ok` carries the node's
//! reply transaction (after the schema check); `fail` a definite error (e.g. 30
//! txn-conflict) and `info` an indefinite one, a timeout or a malformed reply, both
//! with the invoked transaction. The idempotent set is empty, clients are reusable
//! and there is no final phase.

pub mod generator;
pub mod schema;

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::elle::{self, ElleOptions, TxnKind};
use crate::history::Op;
use crate::rpc::{malformed, ErrorStyle, Rpc};
use crate::{CheckResult, ClientId, Completion, Invocation, Step, Workload, WorkloadOptions};

pub use generator::TxnGenerator;
pub use schema::validate_txn;

/// Active keys when `--key-count` is not given.
pub const DEFAULT_KEY_COUNT: usize = 10;
/// Writes per key when `--max-writes-per-key` is not given.
pub const DEFAULT_MAX_WRITES_PER_KEY: usize = 16;
/// Micro-ops per transaction at most, when `--max-txn-length` is not given.
pub const DEFAULT_MAX_TXN_LENGTH: usize = 4;
/// The consistency model checked when `--consistency-models` is not given.
pub const DEFAULT_MODEL: &str = "strict-serializable";

/// A transactional workload of either kind.
#[derive(Debug)]
pub struct Txn {
    kind: TxnKind,
    generator: TxnGenerator,
    checker: ElleOptions,
}

/// Build `txn-list-append`.
pub fn build_list_append(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Txn::new(TxnKind::ListAppend, options)?))
}

/// Build `txn-rw-register`.
pub fn build_rw_register(options: &WorkloadOptions) -> Result<Box<dyn Workload>, String> {
    Ok(Box::new(Txn::new(TxnKind::RwRegister, options)?))
}

impl Txn {
    /// The workload of `kind` for these options; refuses zero counts and unknown
    /// consistency models.
    pub fn new(kind: TxnKind, options: &WorkloadOptions) -> Result<Txn, String> {
        let name = schema::workload_name(kind);
        let key_count = options.key_count.unwrap_or(DEFAULT_KEY_COUNT);
        let max_writes = options
            .max_writes_per_key
            .unwrap_or(DEFAULT_MAX_WRITES_PER_KEY);
        let max_len = options.max_txn_length.unwrap_or(DEFAULT_MAX_TXN_LENGTH);
        for (flag, value) in [
            ("--key-count", key_count),
            ("--max-writes-per-key", max_writes),
            ("--max-txn-length", max_len),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1 for {name}"));
            }
        }
        let models = elle::parse_models(
            options
                .consistency_models
                .as_deref()
                .unwrap_or(DEFAULT_MODEL),
        )
        .map_err(|e| format!("--consistency-models for {name}: {e}"))?;
        let mut checker = ElleOptions::default();
        checker.models = models;
        checker.timeout = options.checker_timeout.or(checker.timeout);
        Ok(Txn {
            kind,
            generator: TxnGenerator::new(
                key_count,
                max_writes as u64,
                max_len,
                schema::write_f(kind),
            ),
            checker,
        })
    }

    /// The options the checker runs with.
    pub fn checker_options(&self) -> &ElleOptions {
        &self.checker
    }
}

impl Workload for Txn {
    fn name(&self) -> &'static str {
        schema::workload_name(self.kind)
    }

    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Option<Invocation> {
        Some(Invocation::new("txn", self.generator.next(rng)))
    }

    fn rpcs(&self) -> &'static [Rpc] {
        std::slice::from_ref(schema::txn_rpc(self.kind))
    }

    fn invoke(&mut self, _: ClientId, op: &Invocation) -> Step {
        let mut body = Map::new();
        body.insert("txn".into(), op.value.clone());
        body.insert("type".into(), Value::from("txn"));
        Step::Send(body)
    }

    fn reply(&mut self, _: ClientId, op: &Invocation, reply: &Map<String, Value>) -> Step {
        let checked = schema::txn_rpc(self.kind)
            .validate(reply)
            .and_then(|()| validate_txn(self.kind, &reply["txn"]));
        Step::Done(match checked {
            Ok(()) => Completion::ok(reply["txn"].clone()),
            Err(reason) => malformed(op, reply, &reason),
        })
    }

    fn error_style(&self) -> ErrorStyle {
        ErrorStyle::WithErrors { idempotent: &[] }
    }

    fn client_reusable(&self) -> bool {
        true
    }

    fn default_rpc_timeout(&self, _latency_ms: u64) -> Duration {
        Duration::from_secs(5)
    }

    fn check(&self, history: &[Op]) -> CheckResult {
        elle::check(history, self.kind, &self.checker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType;
    use rand::SeedableRng;
    use serde_json::json;

    fn options() -> WorkloadOptions {
        WorkloadOptions {
            node_count: 2,
            concurrency: 4,
            ..WorkloadOptions::default()
        }
    }

    fn done(step: Step) -> Completion {
        match step {
            Step::Done(c) => c,
            Step::Send(b) => panic!("expected a completion, got a request {b:?}"),
        }
    }

    fn reply_to(w: &mut Txn, op: &Invocation, reply: Value) -> Completion {
        done(w.reply(0, op, reply.as_object().unwrap()))
    }

    #[test]
    fn options_are_validated_and_models_default_to_strict_serializable() {
        let w = Txn::new(TxnKind::ListAppend, &options()).unwrap();
        assert_eq!(w.checker_options().models, ["strict-serializable"]);
        assert_eq!(w.name(), "txn-list-append");
        let mut o = options();
        o.consistency_models = Some("read-committed".into());
        o.checker_timeout = Some(Duration::from_secs(3));
        let w = Txn::new(TxnKind::RwRegister, &o).unwrap();
        assert_eq!(w.checker_options().models, ["read-committed"]);
        assert_eq!(w.checker_options().timeout, Some(Duration::from_secs(3)));
        assert_eq!(w.name(), "txn-rw-register");
        o.consistency_models = Some("serialisable-ish".into());
        let err = Txn::new(TxnKind::RwRegister, &o).unwrap_err();
        assert!(
            err.starts_with("--consistency-models for txn-rw-register: ")
                && err.contains("serialisable-ish"),
            "{err}"
        );
        for zero in [
            WorkloadOptions {
                key_count: Some(0),
                ..options()
            },
            WorkloadOptions {
                max_writes_per_key: Some(0),
                ..options()
            },
            WorkloadOptions {
                max_txn_length: Some(0),
                ..options()
            },
        ] {
            assert!(Txn::new(TxnKind::ListAppend, &zero).is_err());
        }
    }

    #[test]
    fn the_generator_makes_txn_ops_of_the_kinds_micro_ops() {
        let mut o = options();
        o.max_txn_length = Some(2);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (kind, write) in [(TxnKind::ListAppend, "append"), (TxnKind::RwRegister, "w")] {
            let mut w = Txn::new(kind, &o).unwrap();
            let mut fs = std::collections::BTreeSet::new();
            for _ in 0..1000 {
                let op = w.next_op(&mut rng).unwrap();
                assert_eq!(op.f, "txn");
                let txn = op.value.as_array().unwrap();
                assert!((1..=2).contains(&txn.len()));
                for m in txn {
                    fs.insert(m[0].as_str().unwrap().to_string());
                    assert!(m[1].as_u64().unwrap() < 1000);
                }
            }
            assert_eq!(fs, ["r".to_string(), write.to_string()].into());
        }
    }

    #[test]
    fn requests_and_replies_map_to_maelstroms_shapes() {
        let mut w = Txn::new(TxnKind::ListAppend, &options()).unwrap();
        let op = Invocation::new("txn", json!([["append", 3, 1], ["r", 3, null]]));
        let Step::Send(body) = w.invoke(7, &op) else {
            panic!("no request")
        };
        assert_eq!(
            Value::Object(body),
            json!({"txn":[["append",3,1],["r",3,null]],"type":"txn"})
        );
        let ok = reply_to(
            &mut w,
            &op,
            json!({"type":"txn_ok","txn":[["append",3,1],["r",3,[1]]],"in_reply_to":1,"msg_id":9}),
        );
        assert_eq!(ok.kind, OpType::Ok);
        assert_eq!(ok.value, json!([["append", 3, 1], ["r", 3, [1]]]));

        // Malformed replies are indeterminate with the invoked transaction.
        for bad in [
            json!({"type":"txn_ok","txn":[["append",3,1],["r",3,["x"]]]}),
            json!({"type":"txn_ok","txn":null}),
            json!({"type":"txn_ok"}),
            json!({"type":"txn_ok","txn":[],"extra":1}),
            json!({"type":"read_ok","txn":[]}),
        ] {
            let c = reply_to(&mut w, &op, bad.clone());
            assert_eq!(c.kind, OpType::Info, "{bad}");
            assert_eq!(c.exception.as_deref(), Some("malformed-rpc-response"));
            assert_eq!(c.value, op.value);
            let error = c.error.unwrap();
            assert!(
                error.as_str().unwrap().contains("Malformed RPC response"),
                "{error}"
            );
        }

        // Errors: definite ones fail, indefinite ones and timeouts are info.
        let style = w.error_style();
        let conflict = style.on_error(&op, Some(30), Some("conflict"));
        assert_eq!(conflict.kind, OpType::Fail);
        assert_eq!(conflict.error, Some(json!(["txn-conflict", "conflict"])));
        assert_eq!(conflict.value, op.value);
        assert_eq!(style.on_error(&op, Some(11), None).kind, OpType::Fail);
        assert_eq!(style.on_error(&op, Some(13), None).kind, OpType::Info);
        assert_eq!(style.on_error(&op, Some(1000), None).kind, OpType::Info);
        assert_eq!(style.on_timeout(&op).kind, OpType::Info);
        assert!(w.client_reusable());
        assert!(!w.has_final_phase());
    }

    #[test]
    fn rw_register_accepts_any_scalar_read() {
        let mut w = Txn::new(TxnKind::RwRegister, &options()).unwrap();
        let op = Invocation::new("txn", json!([["r", 1, null], ["w", 1, 2]]));
        let ok = reply_to(
            &mut w,
            &op,
            json!({"type":"txn_ok","txn":[["r",1,"anything"],["w",1,2]]}),
        );
        assert_eq!(ok.kind, OpType::Ok);
        let bad = reply_to(
            &mut w,
            &op,
            json!({"type":"txn_ok","txn":[["r",1,[1]],["w",1,2]]}),
        );
        assert_eq!(bad.kind, OpType::Info);
    }
}

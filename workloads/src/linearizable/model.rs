//! Sequential specifications: the [`Model`] trait and the two models straum ships, a
//! compare-and-set register ([`CasRegister`], lin-kv and Jepsen's etcd test) and
//! Porcupine's key-value model ([`KvModel`], `get`/`put`/`append`).
//!
//! A model describes one partition (one key): the checker splits a history by key
//! before searching, so a model's state is a single value, not a map.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification, in the manner of Porcupine's `Model`.
///
/// `step` must be a pure function: it returns the state after the operation, or
/// `None` when the operation with that output is impossible in `state`.
pub trait Model: Sync {
    /// The state of one partition; equal states must hash equally.
    type State: Clone + Eq + Hash + Send + Debug;
    /// What a client asked for.
    type Input: Send + Sync + Debug;
    /// What it was told (including "unknown" for operations that never returned).
    type Output: Send + Sync + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `input` returned `output` in `state`, or `None` if impossible.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
    /// An operation for people, e.g. `cas(1, 2) -> ok`.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String;
    /// A state for people, e.g. `4` or `nil`.
    fn describe_state(&self, state: &Self::State) -> String;
    /// Approximate heap bytes a stored state uses beyond its inline size (for the
    /// checker's memory cap).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }
    /// A short phrase for an operation in an explanation: `read 2`, `wrote 4`.
    fn narrate_operation(&self, input: &Self::Input, output: &Self::Output) -> String {
        self.describe_operation(input, output)
    }
    /// Where the state lives, for explanations: `the register`, `the value`.
    fn state_noun(&self) -> &'static str {
        "the state"
    }
}

/// A compare-and-set register operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CasInput {
    /// Read the current value.
    Read,
    /// Set the value.
    Write(i64),
    /// Set the value to `.1` if it is `.0`.
    Cas(i64, i64),
}

/// What a register operation returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CasOutput {
    /// A write or cas that succeeded.
    Ok,
    /// A read that returned this value (`None`: nil).
    Read(Option<i64>),
    /// A cas that definitely did not happen because the value was not `from`
    /// (Porcupine's etcd model; straum's own histories drop failed ops instead).
    CasFailed,
    /// The operation never returned (`info`): it may or may not have taken effect.
    Unknown,
}

/// A compare-and-set register starting at nil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasRegister {
    /// Knossos' rule: a read that returned nil is accepted in any state. Off in
    /// Porcupine's etcd model, where a nil read means "the key does not exist".
    pub nil_read_matches_any: bool,
}

impl CasRegister {
    /// Knossos' `cas-register` as Maelstrom's lin-kv checks it: a nil read matches
    /// any state.
    pub fn knossos() -> CasRegister {
        CasRegister {
            nil_read_matches_any: true,
        }
    }

    /// Porcupine's `etcdModel`: a nil read requires the register to be nil.
    pub fn etcd() -> CasRegister {
        CasRegister {
            nil_read_matches_any: false,
        }
    }
}

fn show(value: Option<i64>) -> String {
    match value {
        Some(v) => v.to_string(),
        None => "nil".to_string(),
    }
}

impl Model for CasRegister {
    type State = Option<i64>;
    type Input = CasInput;
    type Output = CasOutput;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &CasInput,
        output: &CasOutput,
    ) -> Option<Option<i64>> {
        match (input, output) {
            (CasInput::Read, CasOutput::Read(Some(v))) => (*state == Some(*v)).then_some(*state),
            (CasInput::Read, CasOutput::Read(None)) => {
                (self.nil_read_matches_any || state.is_none()).then_some(*state)
            }
            (CasInput::Read, _) => Some(*state),
            (CasInput::Write(_), CasOutput::CasFailed) => None,
            (CasInput::Write(v), _) => Some(Some(*v)),
            (CasInput::Cas(from, to), CasOutput::Ok) => {
                (*state == Some(*from)).then_some(Some(*to))
            }
            (CasInput::Cas(from, _), CasOutput::CasFailed) => {
                (*state != Some(*from)).then_some(*state)
            }
            (CasInput::Cas(from, to), _) => {
                // unknown: it happened if it could, else it was a no-op
                Some(if *state == Some(*from) {
                    Some(*to)
                } else {
                    *state
                })
            }
        }
    }

    fn describe_operation(&self, input: &CasInput, output: &CasOutput) -> String {
        let outcome = match output {
            CasOutput::Ok => "ok".to_string(),
            CasOutput::Read(v) => show(*v),
            CasOutput::CasFailed => "fail".to_string(),
            CasOutput::Unknown => "unknown".to_string(),
        };
        match input {
            CasInput::Read => format!("read() -> {outcome}"),
            CasInput::Write(v) => format!("write({v}) -> {outcome}"),
            CasInput::Cas(from, to) => format!("cas({from}, {to}) -> {outcome}"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        show(*state)
    }

    fn narrate_operation(&self, input: &CasInput, output: &CasOutput) -> String {
        match (input, output) {
            (CasInput::Read, CasOutput::Read(v)) => format!("read {}", show(*v)),
            (CasInput::Read, _) => "read (no result)".to_string(),
            (CasInput::Write(v), CasOutput::Unknown) => format!("may have written {v}"),
            (CasInput::Write(v), _) => format!("wrote {v}"),
            (CasInput::Cas(from, to), CasOutput::Ok) => format!("set {from} to {to}"),
            (CasInput::Cas(from, to), CasOutput::CasFailed) => {
                format!("failed to set {from} to {to}")
            }
            (CasInput::Cas(from, to), _) => format!("may have set {from} to {to}"),
        }
    }

    fn state_noun(&self) -> &'static str {
        "the register"
    }
}

/// A key-value operation of Porcupine's KV model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the key's value.
    Get,
    /// Replace the key's value.
    Put(String),
    /// Append to the key's value.
    Append(String),
}

/// What a KV operation returned: for `get` the value, `None` when unknown (and for
/// `put`/`append`, which return nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvOutput(pub Option<String>);

/// Porcupine's `kvModel` for one key: the value starts as the empty string, `get`
/// must return it, `put` replaces it and `append` concatenates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: &KvOutput) -> Option<String> {
        match input {
            KvInput::Get => match &output.0 {
                Some(value) => (value == state).then(|| state.clone()),
                None => Some(state.clone()),
            },
            KvInput::Put(value) => Some(value.clone()),
            KvInput::Append(value) => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                Some(next)
            }
        }
    }

    fn describe_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        match input {
            KvInput::Get => match &output.0 {
                Some(value) => format!("get() -> {value:?}"),
                None => "get() -> unknown".to_string(),
            },
            KvInput::Put(value) => format!("put({value:?})"),
            KvInput::Append(value) => format!("append({value:?})"),
        }
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }

    fn state_heap_bytes(&self, state: &String) -> usize {
        state.capacity()
    }

    fn narrate_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        match input {
            KvInput::Get => match &output.0 {
                Some(value) => format!("got {value:?}"),
                None => "got nothing known".to_string(),
            },
            KvInput::Put(value) => format!("put {value:?}"),
            KvInput::Append(value) => format!("appended {value:?}"),
        }
    }

    fn state_noun(&self) -> &'static str {
        "the value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_register_steps() {
        let m = CasRegister::knossos();
        assert_eq!(
            m.step(&None, &CasInput::Write(3), &CasOutput::Ok),
            Some(Some(3))
        );
        assert_eq!(
            m.step(&Some(3), &CasInput::Cas(3, 4), &CasOutput::Ok),
            Some(Some(4))
        );
        assert_eq!(m.step(&Some(2), &CasInput::Cas(3, 4), &CasOutput::Ok), None);
        assert_eq!(
            m.step(&Some(2), &CasInput::Read, &CasOutput::Read(Some(2))),
            Some(Some(2))
        );
        assert_eq!(
            m.step(&Some(2), &CasInput::Read, &CasOutput::Read(Some(1))),
            None
        );
        // Knossos: a nil read is accepted anywhere; etcd: only when nil
        assert_eq!(
            m.step(&Some(2), &CasInput::Read, &CasOutput::Read(None)),
            Some(Some(2))
        );
        let etcd = CasRegister::etcd();
        assert_eq!(
            etcd.step(&Some(2), &CasInput::Read, &CasOutput::Read(None)),
            None
        );
        assert_eq!(
            etcd.step(&None, &CasInput::Read, &CasOutput::Read(None)),
            Some(None)
        );
        // a failed cas asserts the value was not `from`; an unknown one may apply
        assert_eq!(
            etcd.step(&Some(3), &CasInput::Cas(3, 4), &CasOutput::CasFailed),
            None
        );
        assert_eq!(
            etcd.step(&Some(1), &CasInput::Cas(3, 4), &CasOutput::CasFailed),
            Some(Some(1))
        );
        assert_eq!(
            etcd.step(&Some(3), &CasInput::Cas(3, 4), &CasOutput::Unknown),
            Some(Some(4))
        );
        assert_eq!(
            etcd.step(&Some(1), &CasInput::Cas(3, 4), &CasOutput::Unknown),
            Some(Some(1))
        );
    }

    #[test]
    fn kv_model_steps() {
        let m = KvModel;
        let s = m
            .step(&m.init(), &KvInput::Append("x".into()), &KvOutput(None))
            .unwrap();
        let s = m
            .step(&s, &KvInput::Append("y".into()), &KvOutput(None))
            .unwrap();
        assert_eq!(s, "xy");
        assert!(m
            .step(&s, &KvInput::Get, &KvOutput(Some("x".into())))
            .is_none());
        assert_eq!(
            m.step(&s, &KvInput::Put("z".into()), &KvOutput(None))
                .unwrap(),
            "z"
        );
        assert_eq!(
            m.describe_operation(&KvInput::Get, &KvOutput(Some("a".into()))),
            "get() -> \"a\""
        );
    }
}

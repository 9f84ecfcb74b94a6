//! The order anomalies pass 2 finds ([`super::walk`]):
//!
//! * `poll-skip` / `nonmonotonic-poll`: a poll of a key starts more than one index
//!   after / not after where the process's previous poll of it ended;
//! * `int-poll-skip` / `int-nonmonotonic-poll`: the same between neighbours in one
//!   poll's list;
//! * `nonmonotonic-send`: a send got an offset not above the process's previous one
//!   for the key.

use serde_json::{json, Map, Value};

use super::analysis::{Analysis, At, KeyId};
use super::explain::Found;
use super::msg::Msg;
use super::walk::Last;
use super::{MAX_ORDER_ERRS, MAX_SENTENCES_PER_TYPE, MAX_SKIPPED_LISTED, TYPES};

/// One order anomaly: from one message of a key to the next, in one poll or between
/// two polls or sends of a process.
pub(super) struct OrderErr {
    key: KeyId,
    /// How many places in the version order the step moved (1 is right).
    delta: i64,
    /// (offset, message, op) before and after the step.
    from: (i64, Msg, At),
    to: (i64, Msg, At),
    /// Existing offsets jumped over (at most [`MAX_SKIPPED_LISTED`]), and how many.
    skipped: Vec<i64>,
    skipped_count: usize,
}

impl<'a> Analysis<'a> {
    /// Record an order anomaly of type `kind`.
    pub(super) fn push_err(&mut self, kind: &'static str, err: OrderErr) {
        self.order_errs.entry(kind).or_default().push(err);
    }

    /// The anomaly of stepping from `from` to `to` in `key`'s version order.
    pub(super) fn order_err(&self, key: KeyId, from: &Last, to: &Last, skip: bool) -> OrderErr {
        let (mut skipped, mut skipped_count) = (Vec::new(), 0);
        if skip {
            let range = from.index + 1..to.index;
            skipped_count = range.len();
            skipped = self.orders[key as usize][range]
                .iter()
                .take(MAX_SKIPPED_LISTED)
                .copied()
                .collect();
        }
        OrderErr {
            key,
            delta: to.index as i64 - from.index as i64,
            from: (from.offset, from.msg.clone(), from.at),
            to: (to.offset, to.msg.clone(), to.at),
            skipped,
            skipped_count,
        }
    }

    /// The skip and non-monotonic types.
    pub(super) fn report_order(&mut self, found: &mut Found) {
        let mut all = std::mem::take(&mut self.order_errs);
        for kind in TYPES {
            let Some(mut errs) = all.remove(kind) else {
                continue;
            };
            let count = errs.len();
            let skip = kind.ends_with("skip");
            if skip {
                errs.sort_by_key(|e| (std::cmp::Reverse(e.delta), e.to.2.done));
            } else {
                errs.sort_by_key(|e| (e.delta, e.to.2.done));
            }
            errs.truncate(MAX_ORDER_ERRS);
            let json_errs: Vec<Value> = errs.iter().map(|e| self.order_json(e, skip)).collect();
            let sentences = errs
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|e| self.order_sentence(kind, e))
                .collect();
            found.insert(
                kind,
                (count, json!({"count": count, "errs": json_errs}), sentences),
            );
        }
    }

    /// One example as JSON (Maelstrom's fields).
    fn order_json(&self, e: &OrderErr, skip: bool) -> Value {
        let mut map = Map::new();
        map.insert("key".into(), json!(self.key_name(e.key)));
        map.insert("delta".into(), json!(e.delta));
        map.insert("prev-offset".into(), json!(e.from.0));
        map.insert("prev-value".into(), e.from.1.to_json());
        map.insert("offset".into(), json!(e.to.0));
        map.insert("value".into(), e.to.1.to_json());
        if skip {
            let skipped: Vec<Value> = e
                .skipped
                .iter()
                .map(|o| json!([o, self.value_at(e.key, *o).map(Msg::to_json)]))
                .collect();
            map.insert("skipped".into(), Value::Array(skipped));
            map.insert("skipped-count".into(), json!(e.skipped_count));
        }
        if e.from.2 == e.to.2 {
            map.insert("op".into(), self.op_json(e.to.2));
        } else {
            map.insert("prev".into(), self.op_json(e.from.2));
            map.insert("op".into(), self.op_json(e.to.2));
        }
        Value::Object(map)
    }

    /// "offsets 3 (message 7), 4 (message 8) and 2 more".
    fn skipped_text(&self, e: &OrderErr) -> String {
        let named: Vec<String> = e
            .skipped
            .iter()
            .map(|o| match self.value_at(e.key, *o) {
                Some(m) => format!("{o} (message {m})"),
                None => o.to_string(),
            })
            .collect();
        let more = e.skipped_count.saturating_sub(named.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "offset{} {}{more}",
            if e.skipped_count == 1 { "" } else { "s" },
            named.join(", ")
        )
    }

    /// One example in a sentence.
    fn order_sentence(&self, kind: &str, e: &OrderErr) -> String {
        let key = self.key_name(e.key);
        let (fo, fm, fat) = &e.from;
        let (to, tm, tat) = &e.to;
        let process = self.history[tat.done as usize].process;
        match kind {
            "poll-skip" => format!(
                "process {process} polled key {key:?} up to offset {fo} (message {fm}) in {} \
                 and then from offset {to} (message {tm}) in {}, skipping existing {}",
                self.describe(*fat),
                self.describe(*tat),
                self.skipped_text(e)
            ),
            "nonmonotonic-poll" => format!(
                "process {process} polled key {key:?} up to offset {fo} (message {fm}) in {} \
                 and then went back to offset {to} (message {tm}) in {}",
                self.describe(*fat),
                self.describe(*tat)
            ),
            "int-poll-skip" => format!(
                "{} returned offset {fo} (message {fm}) of key {key:?} followed directly by \
                 offset {to} (message {tm}), skipping existing {}",
                self.describe(*tat),
                self.skipped_text(e)
            ),
            "int-nonmonotonic-poll" => format!(
                "{} returned offset {fo} (message {fm}) of key {key:?} followed by offset {to} \
                 (message {tm}), going backwards within one poll",
                self.describe(*tat)
            ),
            _ => format!(
                "process {process} sent message {tm} to key {key:?} and got offset {to} in {}, \
                 not above offset {fo} that its earlier send of message {fm} got in {}",
                self.describe(*tat),
                self.describe(*fat)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testkit::{findings, types, H};
    use crate::Validity;

    #[test]
    fn polls_jumping_over_existing_offsets_skip_but_gaps_that_never_existed_do_not() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .send(0, "1", 4, 7) // offsets 3…6 never existed
            .poll(1, json!({"1": [[0, 1]]}))
            .poll(1, json!({"1": [[2, 3], [7, 4]]}))
            .poll(2, json!({"1": [[1, 2]]}));
        let r = h.check();
        assert_eq!(types(&r), ["poll-skip"], "{}", findings(&r));
        let e = &r.fields["poll-skip"]["errs"][0];
        assert_eq!(e["delta"], 2);
        assert_eq!(e["skipped"], json!([[1, 2]]));
        assert_eq!(e["prev"]["index"], 9);
        assert_eq!(e["op"]["index"], 11);
        assert_eq!(
            r.findings[0],
            "process 1 polled key \"1\" up to offset 0 (message 1) in poll op 9 (process 1 → n1, \
             at 0.009 s) and then from offset 2 (message 3) in poll op 11 (process 1 → n1, at \
             0.011 s), skipping existing offset 1 (message 2)"
        );
    }

    #[test]
    fn a_single_poll_starting_anywhere_is_no_skip_and_offset_zero_works() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .poll(1, json!({"1": [[2, 3]]}))
            .poll(2, json!({"1": [[0, 1], [1, 2], [2, 3]]}));
        let r = h.check();
        assert_eq!(r.valid, Validity::Valid, "{}", findings(&r));
    }

    #[test]
    fn polls_going_back_are_nonmonotonic_and_assign_or_crash_resets_them() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .poll(1, json!({"1": [[0, 1], [1, 2]]}))
            .poll(1, json!({"1": [[1, 2]]})) // delta 0
            .assign(1, json!(["2"]))
            .assign(1, json!(["1", "2"]))
            .poll(1, json!({"1": [[0, 1]]})) // fresh after the assign dropped "1"
            .crash(1)
            .poll(1, json!({"1": [[0, 1]]})); // process 1's ops after its crash…
                                              // …would be a new process in a real history; here the crash's info ends process 1.
        let r = h.check();
        assert_eq!(types(&r), ["nonmonotonic-poll"], "{}", findings(&r));
        let e = &r.fields["nonmonotonic-poll"];
        assert_eq!(e["count"], 1);
        assert_eq!(e["errs"][0]["delta"], 0);
        assert_eq!(
            r.findings[0],
            "process 1 polled key \"1\" up to offset 1 (message 2) in poll op 5 (process 1 → n1, \
             at 0.005 s) and then went back to offset 1 (message 2) in poll op 7 (process 1 → n1, \
             at 0.007 s)"
        );
        // An assign that keeps the key keeps the state.
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .poll(1, json!({"1": [[0, 1]]}))
            .assign(1, json!(["1"]))
            .poll(1, json!({"1": [[0, 1]]}));
        assert_eq!(types(&h.check()), ["nonmonotonic-poll"]);
    }

    #[test]
    fn inside_one_poll_skips_and_reversals_are_internal_anomalies() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "1", 3, 2)
            .poll(1, json!({"1": [[0, 1], [2, 3]]}))
            .poll(2, json!({"1": [[1, 2], [0, 1]]}))
            .poll(3, json!({"1": [[0, 1], [1, 2], [2, 3]]}));
        let r = h.check();
        assert_eq!(types(&r), ["int-nonmonotonic-poll", "int-poll-skip"]);
        assert_eq!(
            r.fields["int-poll-skip"]["errs"][0]["skipped"],
            json!([[1, 2]])
        );
        assert_eq!(r.fields["int-nonmonotonic-poll"]["errs"][0]["delta"], -1);
        let f = findings(&r);
        assert!(f.contains(
            "poll op 7 (process 1 → n1, at 0.007 s) returned offset 0 (message 1) of key \"1\" \
             followed directly by offset 2 (message 3), skipping existing offset 1 (message 2)"
        ), "{f}");
        assert!(f.contains("going backwards within one poll"), "{f}");
        // Sparse offsets inside one poll are fine.
        let mut h = H::default();
        h.send(0, "1", 1, 3)
            .send(0, "1", 2, 9)
            .poll(1, json!({"1": [[3, 1], [9, 2]]}));
        assert_eq!(h.check().valid, Validity::Valid);
    }

    #[test]
    fn a_later_send_with_an_earlier_offset_is_nonmonotonic_until_an_assign() {
        let mut h = H::default();
        h.send(0, "1", 1, 5)
            .send(0, "1", 2, 3)
            .assign(0, json!(["2"]))
            .send(0, "1", 3, 1)
            .send(0, "1", 4, 1) // same offset: also inconsistent, and 4 is lost
            .poll(1, json!({"1": [[1, 3], [3, 2], [5, 1]]}));
        let r = h.check();
        assert_eq!(
            types(&r),
            [
                "inconsistent-offsets",
                "lost-write",
                "nonmonotonic-send",
                "unseen"
            ],
            "{}",
            findings(&r)
        );
        let e = &r.fields["nonmonotonic-send"];
        assert_eq!(e["count"], 2);
        // Smallest delta first.
        assert_eq!(e["errs"][0]["delta"], -1); // offsets 1, 3, 5 are indices 0, 1, 2
        assert_eq!(e["errs"][1]["delta"], 0);
        assert!(findings(&r).contains(
            "process 0 sent message 2 to key \"1\" and got offset 3 in send op 3 (process 0 → n0, \
             at 0.003 s), not above offset 5 that its earlier send of message 1 got in send op 1"
        ));
    }
}

//! Reads of messages no send could have written:
//!
//! * `G1a` (aborted read): an ok poll returned a message whose every send failed;
//! * `phantom`: an ok poll returned a message no client ever tried to send to that key
//!   — no send of it to the key was even invoked (Elle's and Jepsen's read of a value
//!   never written; Jepsen's queue checkers call it "unexpected"). A send that ended
//!   `info` or `fail` was an attempt and may have happened, so its message is never a
//!   phantom; a message sent only to another key is a phantom on this one.

use serde_json::{json, Value};

use super::analysis::{Analysis, At, KeyId};
use super::explain::{join_and, Found};
use super::msg::Msg;
use super::{MAX_ERRS, MAX_SENTENCES_PER_TYPE};

/// A phantom: key, message, the offset it was read at, and the first poll returning it.
type Phantom<'m> = (KeyId, &'m Msg, i64, At);

impl<'a> Analysis<'a> {
    /// `G1a` (only if pass 1 is `complete`: it is sound only then) and `phantom` (also
    /// on a partial pass 1, judged against the sends seen so far).
    pub(super) fn report_unwritten_reads(&self, found: &mut Found, complete: bool) {
        let mut g1a: Vec<(KeyId, &Msg, At, At)> = Vec::new();
        let mut phantoms: Vec<Phantom> = Vec::new();
        for ((key, msg), m) in &self.msgs {
            let Some(read) = m.read else {
                continue;
            };
            if !m.attempted {
                let offset = m.offset.map_or(0, |(o, _)| o);
                phantoms.push((*key, msg, offset, read));
            } else if let Some(fail) = m.send_fail {
                if complete && m.send_ok.is_none() && !m.send_info {
                    g1a.push((*key, msg, fail, read));
                }
            }
        }
        self.report_phantoms(found, phantoms);

        if !g1a.is_empty() {
            let count = g1a.len();
            g1a.sort_unstable_by(|a, b| {
                a.3.done
                    .cmp(&b.3.done)
                    .then_with(|| self.cmp_keys(a.0, b.0))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            g1a.truncate(MAX_ERRS);
            let errs: Vec<Value> = g1a
                .iter()
                .map(|(key, msg, fail, read)| {
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "writer": self.op_json(*fail),
                        "reader": self.op_json(*read),
                    })
                })
                .collect();
            let sentences = g1a
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|(key, msg, fail, read)| {
                    let offset = self
                        .msgs
                        .get(&(*key, (*msg).clone()))
                        .and_then(|m| m.offset)
                        .map(|(o, _)| format!(" at offset {o}"))
                        .unwrap_or_default();
                    let error = self.history[fail.done as usize]
                        .error
                        .as_ref()
                        .map(|e| format!(" with error {e}"))
                        .unwrap_or_default();
                    format!(
                        "{} returned message {msg} of key {:?}{offset}, but its send failed \
                         ({}{error}): an aborted write was read",
                        self.describe(*read),
                        self.key_name(*key),
                        self.describe(*fail)
                    )
                })
                .collect();
            found.insert(
                "G1a",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }
    }

    /// `phantom`: the earliest reads first.
    fn report_phantoms(&self, found: &mut Found, mut phantoms: Vec<Phantom>) {
        if phantoms.is_empty() {
            return;
        }
        let count = phantoms.len();
        phantoms.sort_unstable_by(|a, b| {
            a.3.done
                .cmp(&b.3.done)
                .then_with(|| self.cmp_keys(a.0, b.0))
                .then_with(|| a.2.cmp(&b.2))
                .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
        });
        phantoms.truncate(MAX_ERRS);
        let errs: Vec<Value> = phantoms
            .iter()
            .map(|(key, msg, offset, read)| {
                json!({
                    "key": self.key_name(*key),
                    "offset": offset,
                    "index": self.index(*key, *offset),
                    "value": msg.to_json(),
                    "reader": self.op_json(*read),
                })
            })
            .collect();
        let sentences = phantoms
            .iter()
            .take(MAX_SENTENCES_PER_TYPE)
            .map(|(key, msg, offset, read)| {
                let elsewhere: Vec<String> = (0..self.key_names.len() as KeyId)
                    .filter(|k| k != key)
                    .filter(|k| {
                        self.msgs
                            .get(&(*k, (*msg).clone()))
                            .is_some_and(|m| m.attempted)
                    })
                    .take(4)
                    .map(|k| format!("{:?}", self.key_name(k)))
                    .collect();
                let elsewhere = if elsewhere.is_empty() {
                    String::new()
                } else {
                    let keys = if elsewhere.len() == 1 { "key" } else { "keys" };
                    format!(" (it was sent to {keys} {})", join_and(&elsewhere))
                };
                format!(
                    "{} returned message {msg} at offset {offset} of key {:?}, but no client \
                     ever sent {msg} to key {:?}{elsewhere}: a message nobody wrote was read",
                    self.describe(*read),
                    self.key_name(*key),
                    self.key_name(*key)
                )
            })
            .collect();
        found.insert(
            "phantom",
            (count, json!({"count": count, "errs": errs}), sentences),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::budget::Budget;
    use super::super::check_within;
    use super::super::testkit::{findings, types, H};
    use crate::history::OpType;
    use crate::Validity;

    #[test]
    fn reading_a_failed_send_is_g1a_but_an_indeterminate_one_is_fine() {
        let mut h = H::default();
        h.send_as(0, "1", 5, OpType::Fail)
            .send_as(0, "1", 6, OpType::Info)
            .poll(1, json!({"1": [[0, 5], [1, 6]]}));
        let r = h.check();
        assert_eq!(types(&r), ["G1a"]);
        let e = &r.fields["G1a"]["errs"][0];
        assert_eq!(
            (e["value"].clone(), e["writer"]["index"].clone()),
            (json!(5), json!(1))
        );
        assert_eq!(
            r.findings[0],
            "poll op 5 (process 1 → n1, at 0.005 s) returned message 5 of key \"1\" at offset 0, \
             but its send failed (send op 1 (process 0 → n0, at 0.001 s) with error \
             [\"abort\",\"no\"]): an aborted write was read"
        );
        assert_eq!(r.fields["info-txn-causes"], json!([["abort", "no"]]));
    }

    #[test]
    fn a_poll_returning_a_message_nobody_sent_is_a_phantom() {
        let mut h = H::default();
        h.send(0, "3", 1, 0) // ops 0, 1
            .poll(1, json!({"3": [[0, 1], [1, -40]]})); // ops 2, 3
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(types(&r), ["phantom"], "{}", findings(&r));
        assert_eq!(r.fields["bad-error-types"], json!(["phantom"]));
        let e = &r.fields["phantom"];
        assert_eq!(e["count"], 1);
        assert_eq!(
            (
                &e["errs"][0]["key"],
                &e["errs"][0]["offset"],
                &e["errs"][0]["value"]
            ),
            (&json!("3"), &json!(1), &json!(-40))
        );
        let reader = &e["errs"][0]["reader"];
        assert_eq!(
            (&reader["index"], &reader["process"], &reader["time"]),
            (&json!(3), &json!(1), &json!(3_000_000))
        );
        assert_eq!(
            r.findings[0],
            "poll op 3 (process 1 → n1, at 0.003 s) returned message -40 at offset 1 of key \
             \"3\", but no client ever sent -40 to key \"3\": a message nobody wrote was read"
        );
        assert_eq!(r.headline[1], "ANOMALIES: phantom 1");
    }

    #[test]
    fn messages_whose_send_was_attempted_are_never_phantoms() {
        let mut h = H::default();
        h.send_as(0, "1", 5, OpType::Info) // may have happened
            .send_as(2, "1", 6, OpType::Fail) // did not happen: G1a, not phantom
            .push(OpType::Invoke, 4, "send", json!([["send", "1", 7]])) // never completed
            .poll(1, json!({"1": [[0, 5], [1, 6], [2, 7]]}));
        let r = h.check();
        assert_eq!(types(&r), ["G1a"], "{}", findings(&r));
        assert_eq!(r.fields["G1a"]["errs"][0]["value"], 6);
    }

    #[test]
    fn a_message_sent_to_another_key_is_a_phantom_on_this_one() {
        let mut h = H::default();
        h.send(0, "1", 9, 0) // ops 0, 1
            .poll(1, json!({"1": [[0, 9]], "2": [[0, 9]]})); // ops 2, 3
        let r = h.check();
        assert_eq!(types(&r), ["phantom"], "{}", findings(&r));
        let e = &r.fields["phantom"];
        assert_eq!(e["count"], 1);
        assert_eq!(e["errs"][0]["key"], "2");
        assert_eq!(
            r.findings[0],
            "poll op 3 (process 1 → n1, at 0.003 s) returned message 9 at offset 0 of key \
             \"2\", but no client ever sent 9 to key \"2\" (it was sent to key \"1\"): a \
             message nobody wrote was read"
        );
    }

    #[test]
    fn cut_short_phantoms_are_counted_against_the_sends_seen_so_far() {
        let mut h = H::default();
        h.poll(1, json!({"1": [[0, 4]]})) // ops 0, 1
            .send(0, "1", 4, 0); // ops 2, 3: the send, after the cut
        let r = check_within(&h.0, Budget::up_at(2));
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(types(&r), ["phantom"]);
        assert_eq!(r.fields["phantom"]["count"], 1);
        assert!(
            r.findings[0].starts_with("the analysis was cut short")
                && r.findings[0].ends_with(
                    "lost or unseen messages were not looked for; phantoms are judged only \
                     against the sends seen so far"
                ),
            "{}",
            r.findings[0]
        );
        assert!(r.findings[1].contains("no client ever sent 4 to key \"1\""));
        assert!(r.headline.last().unwrap().contains("cut short"));
        // The whole history has the send.
        assert_eq!(h.check().valid, Validity::Valid);
    }
}

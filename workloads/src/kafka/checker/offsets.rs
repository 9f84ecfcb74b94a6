//! The offset anomalies of pass 1's observations:
//!
//! * `inconsistent-offsets`: one (key, offset) observed with different messages;
//! * `duplicate`: one (key, message) observed at different offsets.

use serde_json::{json, Value};

use super::analysis::{Analysis, At, KeyId, MsgObs, OffsetObs};
use super::explain::{join_and, Found};
use super::msg::Msg;
use super::{MAX_ERRS, MAX_SENTENCES_PER_TYPE};

/// A duplicated message: its (key, message), what is known of it, and its first offset.
type Duplicate<'m> = (&'m (KeyId, Msg), &'m MsgObs, (i64, At));

impl<'a> Analysis<'a> {
    /// `inconsistent-offsets` and `duplicate`.
    pub(super) fn report_offsets(&self, found: &mut Found) {
        let mut inconsistent: Vec<(&(KeyId, i64), &OffsetObs)> = self
            .offsets
            .iter()
            .filter(|(_, o)| !o.others.is_empty())
            .collect();
        if !inconsistent.is_empty() {
            let count = inconsistent.len();
            inconsistent.sort_unstable_by(|(a, _), (b, _)| {
                self.cmp_keys(a.0, b.0).then_with(|| a.1.cmp(&b.1))
            });
            inconsistent.truncate(MAX_ERRS);
            let errs: Vec<Value> = inconsistent
                .iter()
                .map(|((key, offset), obs)| {
                    let mut values: Vec<&Msg> = std::iter::once(&obs.msg)
                        .chain(obs.others.iter().map(|(m, _)| m))
                        .collect();
                    values.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                    json!({
                        "key": self.key_name(*key),
                        "offset": offset,
                        "index": self.index(*key, *offset),
                        "values": values.iter().map(|m| m.to_json()).collect::<Vec<_>>(),
                        "ops": std::iter::once(obs.at)
                            .chain(obs.others.iter().map(|(_, at)| *at))
                            .map(|at| self.op_json(at))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            let sentences = inconsistent
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|((key, offset), obs)| {
                    let seen: Vec<String> = std::iter::once((&obs.msg, obs.at))
                        .chain(obs.others.iter().map(|(m, at)| (m, *at)))
                        .take(4)
                        .map(|(m, at)| format!("{m} from {}", self.describe(at)))
                        .collect();
                    format!(
                        "key {:?} held {} different messages at offset {offset}: {}",
                        self.key_name(*key),
                        obs.others.len() + 1,
                        join_and(&seen)
                    )
                })
                .collect();
            found.insert(
                "inconsistent-offsets",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }

        let mut duplicates: Vec<Duplicate> = self
            .msgs
            .iter()
            .filter(|(_, m)| !m.other_offsets.is_empty())
            .filter_map(|(k, m)| Some((k, m, m.offset?)))
            .collect();
        if !duplicates.is_empty() {
            let count = duplicates.len();
            duplicates.sort_unstable_by(|(a, am, _), (b, bm, _)| {
                am.other_offsets
                    .len()
                    .cmp(&bm.other_offsets.len())
                    .then_with(|| self.cmp_keys(a.0, b.0))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            duplicates.truncate(MAX_ERRS);
            let errs: Vec<Value> = duplicates
                .iter()
                .map(|((key, msg), m, first)| {
                    let mut offsets: Vec<i64> = std::iter::once(first.0)
                        .chain(m.other_offsets.iter().map(|(o, _)| *o))
                        .collect();
                    offsets.sort_unstable();
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "count": offsets.len(),
                        "offsets": offsets,
                        "ops": std::iter::once(first.1)
                            .chain(m.other_offsets.iter().map(|(_, at)| *at))
                            .map(|at| self.op_json(at))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            let sentences = duplicates
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|((key, msg), m, first)| {
                    let places: Vec<String> = std::iter::once(*first)
                        .chain(m.other_offsets.iter().copied())
                        .take(4)
                        .map(|(o, at)| format!("offset {o} in {}", self.describe(at)))
                        .collect();
                    format!(
                        "message {msg} of key {:?} appears at {} different offsets: {}",
                        self.key_name(*key),
                        m.other_offsets.len() + 1,
                        join_and(&places)
                    )
                })
                .collect();
            found.insert(
                "duplicate",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testkit::{findings, types, H};
    use crate::Validity;

    #[test]
    fn inconsistent_offsets_name_the_key_offset_messages_and_ops() {
        let mut h = H::default();
        h.send(0, "5", 1, 0) // ops 0, 1
            .send(1, "5", 2, 0) // ops 2, 3: same offset, other message
            .poll(2, json!({"5": [[0, 3]]})); // ops 4, 5: a third message
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert!(types(&r).contains(&"inconsistent-offsets".to_string()));
        let e = &r.fields["inconsistent-offsets"];
        assert_eq!(e["count"], 1);
        assert_eq!(e["errs"][0]["key"], "5");
        assert_eq!(e["errs"][0]["offset"], 0);
        assert_eq!(e["errs"][0]["values"], json!([1, 2, 3]));
        assert_eq!(e["errs"][0]["ops"][1]["index"], 3);
        assert_eq!(e["errs"][0]["ops"][1]["node"], "n1");
        let f = findings(&r);
        assert!(
            f.contains(
                "key \"5\" held 3 different messages at offset 0: 1 from send op 1 (process 0 → \
                 n0, at 0.001 s), 2 from send op 3 (process 1 → n1, at 0.003 s) and 3 from poll \
                 op 5 (process 2 → n0, at 0.005 s)"
            ),
            "{f}"
        );
    }

    #[test]
    fn a_message_at_two_offsets_is_a_duplicate() {
        let mut h = H::default();
        h.send(0, "1", 7, 0)
            .send(0, "1", 8, 1)
            .poll(1, json!({"1": [[0, 7], [1, 8], [2, 7]]}));
        let r = h.check();
        assert_eq!(types(&r), ["duplicate"]);
        let e = &r.fields["duplicate"]["errs"][0];
        assert_eq!(e["value"], 7);
        assert_eq!(e["count"], 2);
        assert_eq!(e["offsets"], json!([0, 2]));
        assert!(findings(&r).starts_with(
            "message 7 of key \"1\" appears at 2 different offsets: offset 0 in send op 1"
        ));
    }
}

//! Reads of messages no send could have written:
//!
//! * `G1a` (aborted read): an ok poll returned a message whose every send failed.

use serde_json::{json, Value};

use super::analysis::{Analysis, At, KeyId};
use super::explain::Found;
use super::msg::Msg;
use super::{MAX_ERRS, MAX_SENTENCES_PER_TYPE};

impl<'a> Analysis<'a> {
    /// `G1a` (sound only on a complete pass 1).
    pub(super) fn report_aborted_reads(&self, found: &mut Found) {
        let mut g1a: Vec<(KeyId, &Msg, At, At)> = Vec::new();
        for ((key, msg), m) in &self.msgs {
            if let (Some(fail), Some(read)) = (m.send_fail, m.read) {
                if m.send_ok.is_none() && !m.send_info {
                    g1a.push((*key, msg, fail, read));
                }
            }
        }

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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testkit::{types, H};
    use crate::history::OpType;

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
}

//! The message anomalies of pass 1's observations (sound only on a complete pass 1):
//!
//! * `lost-write`: an acknowledged message at or below the highest offset any ok poll
//!   read for its key, which no ok poll returned;
//! * `unseen`: acknowledged messages no ok poll ever returned.

use serde_json::{json, Map, Value};

use super::analysis::{Analysis, At, KeyId};
use super::explain::Found;
use super::msg::Msg;
use super::{MAX_ERRS, MAX_SENTENCES_PER_TYPE, MAX_UNSEEN_LISTED};

/// A lost write: key, message, offset, its send, and the highest read (offset, poll).
type Lost<'m> = (KeyId, &'m Msg, i64, At, (i64, At));

impl<'a> Analysis<'a> {
    /// `lost-write` and `unseen`.
    pub(super) fn report_lost(&self, found: &mut Found) {
        let mut lost: Vec<Lost> = Vec::new();
        let mut unseen: Vec<(KeyId, &Msg, i64, At)> = Vec::new();
        for ((key, msg), m) in &self.msgs {
            if let Some((offset, at)) = m.send_ok {
                if m.read.is_none() {
                    unseen.push((*key, msg, offset, at));
                    if let Some(&max) = self.max_read.get(key) {
                        if offset <= max.0 {
                            lost.push((*key, msg, offset, at, max));
                        }
                    }
                }
            }
        }

        if !lost.is_empty() {
            let count = lost.len();
            lost.sort_unstable_by(|a, b| {
                self.cmp_keys(a.0, b.0)
                    .then_with(|| a.2.cmp(&b.2))
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            lost.truncate(MAX_ERRS);
            let errs: Vec<Value> = lost
                .iter()
                .map(|(key, msg, offset, at, (max, reader))| {
                    json!({
                        "key": self.key_name(*key),
                        "value": msg.to_json(),
                        "offset": offset,
                        "index": self.index(*key, *offset),
                        "max-read-offset": max,
                        "max-read-index": self.index(*key, *max),
                        "writer": self.op_json(*at),
                        "max-read": self.op_json(*reader),
                    })
                })
                .collect();
            let sentences = lost
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .map(|(key, msg, offset, at, (max, reader))| {
                    format!(
                        "message {msg} sent to key {:?} was acknowledged at offset {offset} by \
                         {}, but no poll ever returned it, although {} read key {:?} up to \
                         offset {max}",
                        self.key_name(*key),
                        self.describe(*at),
                        self.describe(*reader),
                        self.key_name(*key)
                    )
                })
                .collect();
            found.insert(
                "lost-write",
                (count, json!({"count": count, "errs": errs}), sentences),
            );
        }

        if !unseen.is_empty() {
            let count = unseen.len();
            unseen.sort_unstable_by(|a, b| {
                self.cmp_keys(a.0, b.0)
                    .then_with(|| a.1.sort_key().cmp(&b.1.sort_key()))
            });
            let mut per_key: Vec<(KeyId, usize, Vec<Value>)> = Vec::new();
            for (key, msg, _, _) in &unseen {
                match per_key.last_mut() {
                    Some((k, n, listed)) if k == key => {
                        *n += 1;
                        if listed.len() < MAX_UNSEEN_LISTED {
                            listed.push(msg.to_json());
                        }
                    }
                    _ => per_key.push((*key, 1, vec![msg.to_json()])),
                }
            }
            let counts: Map<String, Value> = per_key
                .iter()
                .map(|(k, n, _)| (self.key_name(*k).to_string(), json!(n)))
                .collect();
            let messages: Map<String, Value> = per_key
                .iter()
                .map(|(k, _, l)| (self.key_name(*k).to_string(), json!(l)))
                .collect();
            let value = json!({
                "count": count,
                "time": self.last_time as f64 / 1e9,
                "unseen": counts,
                "messages": messages,
            });
            // The latest acknowledged first: the most telling example.
            let mut examples: Vec<&(KeyId, &Msg, i64, At)> = unseen.iter().collect();
            examples.sort_unstable_by_key(|u| std::cmp::Reverse(u.3.done));
            let keys: Vec<String> = per_key
                .iter()
                .take(6)
                .map(|(k, n, _)| format!("{:?} ({n})", self.key_name(*k)))
                .collect();
            let more_keys = if per_key.len() > 6 { ", …" } else { "" };
            let sentences = examples
                .iter()
                .take(MAX_SENTENCES_PER_TYPE)
                .enumerate()
                .map(|(i, (key, msg, offset, at))| {
                    let tail = if i == 0 {
                        format!(
                            "; {count} acknowledged message{} in all were never polled, by key: \
                             {}{more_keys}",
                            if count == 1 { "" } else { "s" },
                            keys.join(", ")
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "message {msg} sent to key {:?} was acknowledged at offset {offset} by \
                         {} but no poll ever returned it, not even in the final phase{tail}",
                        self.key_name(*key),
                        self.describe(*at)
                    )
                })
                .collect();
            found.insert("unseen", (count, value, sentences));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testkit::{types, H};
    use crate::Validity;

    #[test]
    fn an_acknowledged_message_below_the_highest_read_is_lost() {
        let mut h = H::default();
        h.send(0, "3", 1, 0)
            .send(0, "3", 2, 1)
            .send(0, "3", 3, 2)
            .poll(1, json!({"3": [[0, 1]]}))
            // Another process starts at offset 2 (say, from a committed offset).
            .poll(2, json!({"3": [[2, 3]]}));
        let r = h.check();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(types(&r), ["lost-write", "unseen"]);
        let lost = &r.fields["lost-write"];
        assert_eq!(lost["count"], 1);
        assert_eq!(lost["errs"][0]["value"], 2);
        assert_eq!(lost["errs"][0]["offset"], 1);
        assert_eq!(lost["errs"][0]["max-read-offset"], 2);
        assert_eq!(lost["errs"][0]["max-read"]["index"], 9);
        let f = &r.findings[0];
        assert_eq!(
            f,
            "message 2 sent to key \"3\" was acknowledged at offset 1 by send op 3 (process 0 → \
             n0, at 0.003 s), but no poll ever returned it, although poll op 9 (process 2 → n0, \
             at 0.009 s) read key \"3\" up to offset 2"
        );
        assert_eq!(r.fields["unseen"]["unseen"], json!({"3": 1}));
    }

    #[test]
    fn messages_never_polled_are_unseen_but_not_lost() {
        let mut h = H::default();
        h.send(0, "1", 1, 0)
            .send(0, "1", 2, 1)
            .send(0, "2", 1, 0)
            .poll(1, json!({"1": [[0, 1]]}));
        let r = h.check();
        assert_eq!(types(&r), ["unseen"]);
        assert_eq!(r.fields["bad-error-types"], json!(["unseen"]));
        let u = &r.fields["unseen"];
        assert_eq!(u["count"], 2);
        assert_eq!(u["unseen"], json!({"1": 1, "2": 1}));
        assert_eq!(u["messages"], json!({"1": [2], "2": [1]}));
        assert_eq!(u["time"], 0.007);
        let f = &r.findings[0];
        assert!(
            f.starts_with(
                "message 1 sent to key \"2\" was acknowledged at offset 0 by send op 5 (process \
                 0 → n0, at 0.005 s) but no poll ever returned it"
            ),
            "{f}"
        );
        assert!(
            f.ends_with(
                "2 acknowledged messages in all were never polled, by key: \"1\" (1), \"2\" (1)"
            ),
            "{f}"
        );
        assert_eq!(r.headline[1], "ANOMALIES: unseen 2");
    }
}

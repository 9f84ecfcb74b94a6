//! Writing JSON values as EDN, for `results.edn` and `history.txt` (Maelstrom's formats).

use serde_json::Value;

/// How object keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Keys that look like Clojure keywords become keywords (`:valid?`); result maps.
    Keywords,
    /// Keys stay strings; data values.
    Strings,
}

/// `value` as EDN text on one line. In results, the string `"unknown"` under `valid?`
/// is the keyword `:unknown`.
pub fn to_edn(value: &Value, keys: Keys) -> String {
    let mut out = String::new();
    write_value(&mut out, value, keys, false);
    out
}

fn write_value(out: &mut String, value: &Value, keys: Keys, is_validity: bool) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) if is_validity && s == "unknown" => out.push_str(":unknown"),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item, keys, false);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if keys == Keys::Keywords && is_keyword(key) {
                    out.push(':');
                    out.push_str(key);
                } else {
                    write_string(out, key);
                }
                out.push(' ');
                write_value(out, item, keys, key == "valid?");
            }
            out.push('}');
        }
    }
}

fn is_keyword(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "?*!_+<>=.-".contains(c))
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_use_keywords_and_unknown_validity() {
        let v = json!({"valid?": "unknown", "stats": {"ok-count": 3, "by-f": {"echo": {"valid?": true}}},
                        "range": [1, "a\"b"], "x": null, "0.5": 1.5});
        assert_eq!(
            to_edn(&v, Keys::Keywords),
            r#"{"0.5" 1.5, :range [1 "a\"b"], :stats {:by-f {:echo {:valid? true}}, :ok-count 3}, :valid? :unknown, :x nil}"#
        );
        assert_eq!(
            to_edn(&json!({"k": "unknown"}), Keys::Strings),
            r#"{"k" "unknown"}"#
        );
    }
}

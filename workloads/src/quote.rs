//! Quoting node output for people: every report, finding and page that shows what a
//! node wrote shows at most [`QUOTE_CHARS`] characters of it and says how long the
//! whole was. The full text stays in the history and the journal.

use std::borrow::Cow;

/// Characters of node output quoted before the rest is elided.
pub const QUOTE_CHARS: usize = 200;

/// `text` itself when short; otherwise its first [`QUOTE_CHARS`] characters followed
/// by "… (N bytes)".
pub fn abridge(text: &str) -> Cow<'_, str> {
    abridge_to(text, QUOTE_CHARS)
}

/// [`abridge`] with a limit of `chars` characters.
pub fn abridge_to(text: &str, chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &text[..cut], text.len())),
    }
}

/// A JSON value as compact text, abridged.
pub fn abridge_json(value: &serde_json::Value) -> String {
    abridge(&value.to_string()).into_owned()
}

/// A copy of `value` with every string longer than [`QUOTE_CHARS`] characters
/// abridged, for the files people read (results, history.txt); the shape is kept.
pub fn abridge_strings(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(abridge(text).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(abridge_strings).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, v)| (abridge(key).into_owned(), abridge_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `text` made safe for XML and HTML element content and attribute values: the five
/// markup characters become entities, and characters XML does not allow (controls
/// other than tab, newline and carriage return; U+FFFE, U+FFFF) become U+FFFD.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_xml_into(&mut out, text);
    out
}

/// [`escape_xml`], appending to `out` (no allocation of its own).
pub fn escape_xml_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_xml_covers_markup_and_control_characters() {
        assert_eq!(
            super::escape_xml("<a & \"b\" 'c'>\u{1}\n"),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;\u{FFFD}\n"
        );
    }

    use super::*;

    #[test]
    fn short_text_is_untouched_and_long_text_says_its_length() {
        assert_eq!(abridge("hello"), "hello");
        let long = "é".repeat(300);
        let quoted = abridge(&long);
        assert!(quoted.starts_with(&"é".repeat(200)));
        assert!(quoted.ends_with("… (600 bytes)"), "{quoted}");
        assert_eq!(abridge(&"x".repeat(200)), "x".repeat(200));
    }

    #[test]
    fn strings_inside_values_are_abridged_and_the_shape_kept() {
        let value = serde_json::json!({"a": ["z".repeat(1000), 7], "b": "short"});
        let quoted = abridge_strings(&value);
        assert_eq!(quoted["b"], "short");
        assert_eq!(quoted["a"][1], 7);
        assert!(quoted["a"][0].as_str().unwrap().ends_with("… (1000 bytes)"));
    }
}

//! A reader for the one-line EDN maps of Jepsen/Elle histories: keywords, strings,
//! integers (big ones kept exactly), decimals, nil, booleans, characters, vectors,
//! lists, sets and nested maps, with a nesting limit so hostile input cannot exhaust
//! the stack.

/// One EDN value of the subset Jepsen's op maps use.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Edn {
    Keyword(String),
    Str(String),
    Int(i64),
    /// An integer too large for an i64, or a decimal, exactly as written.
    BigInt(String),
    Nil,
    Bool(bool),
    /// `[…]`, `(…)` or `#{…}`.
    Vector(Vec<Edn>),
    /// A nested `{…}` (nemesis values, errors).
    Map(Vec<(Edn, Edn)>),
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_EDN_DEPTH: usize = 64;

fn skip_blank(chars: &mut Chars) {
    while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
        chars.next();
    }
}

/// One EDN value after its first character `c`.
fn edn_value(c: char, chars: &mut Chars, depth: usize) -> Result<Edn, String> {
    Ok(match c {
        '"' => {
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("expected a closing \" in a string".to_string()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c) => s.push(c),
                        None => return Err("expected a character after \\".to_string()),
                    },
                    Some(c) => s.push(c),
                }
            }
            Edn::Str(s)
        }
        '#' if chars.peek() == Some(&'{') => {
            chars.next();
            Edn::Vector(edn_items('}', chars, depth)?)
        }
        '{' => {
            let items = edn_items('}', chars, depth)?;
            if items.len() % 2 != 0 {
                return Err("expected a value for every key of a nested map".to_string());
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            Edn::Map(pairs)
        }
        '[' | '(' => {
            let close = if c == '[' { ']' } else { ')' };
            Edn::Vector(edn_items(close, chars, depth)?)
        }
        '\\' => {
            // a character literal, kept as a one-character string
            let mut word = String::new();
            while chars
                .peek()
                .is_some_and(|c| !c.is_whitespace() && !matches!(c, ',' | '}' | ']' | ')'))
            {
                word.push(chars.next().unwrap());
            }
            Edn::Str(word)
        }
        c => {
            let mut word = String::from(c);
            while chars.peek().is_some_and(|c| {
                !c.is_whitespace() && !matches!(c, ',' | '}' | ']' | ')' | '[' | '(' | '"')
            }) {
                word.push(chars.next().unwrap());
            }
            if let Some(name) = word.strip_prefix(':') {
                Edn::Keyword(name.to_string())
            } else if word == "nil" {
                Edn::Nil
            } else if word == "true" || word == "false" {
                Edn::Bool(word == "true")
            } else if let Ok(i) = word.parse() {
                Edn::Int(i)
            } else if let Some(digits) = big_integer(&word) {
                Edn::BigInt(digits)
            } else if word.parse::<f64>().is_ok_and(f64::is_finite)
                && serde_json::from_str::<serde_json::Number>(&word).is_ok()
            {
                // a decimal, kept exactly as written
                Edn::BigInt(word)
            } else {
                return Err(format!(
                    "expected a keyword, string, integer, vector or nil, got {word:?}"
                ));
            }
        }
    })
}

/// The values of a collection up to `close`, one level deeper.
fn edn_items(close: char, chars: &mut Chars, depth: usize) -> Result<Vec<Edn>, String> {
    if depth >= MAX_EDN_DEPTH {
        return Err(format!("nested deeper than {MAX_EDN_DEPTH} levels"));
    }
    let mut items = Vec::new();
    loop {
        skip_blank(chars);
        match chars.next() {
            None => return Err(format!("expected {close} to close a collection")),
            Some(d) if d == close => return Ok(items),
            Some(d) => items.push(edn_value(d, chars, depth + 1)?),
        }
    }
}

/// `123456789012345678901234567890` or `…N` (Clojure's bigint suffix) as digits.
fn big_integer(word: &str) -> Option<String> {
    let digits = word.strip_suffix('N').unwrap_or(word);
    let body = digits.strip_prefix('-').unwrap_or(digits);
    (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_string())
}

/// Parse a one-line EDN map of keywords to keywords, strings, integers, booleans,
/// nil or vectors of those.
pub(super) fn edn_map(line: &str) -> Result<Vec<(String, Edn)>, String> {
    let mut chars = line.trim().chars().peekable();
    if chars.next() != Some('{') {
        return Err("expected an EDN map starting with {".to_string());
    }
    let mut pairs = Vec::new();
    let mut key: Option<String> = None;
    loop {
        skip_blank(&mut chars);
        let value = match chars.next() {
            None => return Err("expected } at the end of the map".to_string()),
            Some('}') => {
                if key.is_some() {
                    return Err("expected a value after the last key".to_string());
                }
                break;
            }
            Some(c) => edn_value(c, &mut chars, 0)?,
        };
        match key.take() {
            None => match value {
                Edn::Keyword(k) => key = Some(k),
                other => return Err(format!("expected a keyword as map key, got {other:?}")),
            },
            Some(k) => pairs.push((k, value)),
        }
    }
    if chars.any(|c| !c.is_whitespace()) {
        return Err("expected nothing after the map".to_string());
    }
    Ok(pairs)
}

/// An EDN value as JSON: keywords become their names, big integers exact numbers.
pub(super) fn edn_json(value: &Edn) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Edn::Keyword(k) => Value::String(k.clone()),
        Edn::Str(s) => Value::String(s.clone()),
        Edn::Int(i) => Value::from(*i),
        Edn::BigInt(digits) => serde_json::from_str(digits).unwrap_or(Value::Null),
        Edn::Nil => Value::Null,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Vector(items) => Value::Array(items.iter().map(edn_json).collect()),
        Edn::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    let key = match edn_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, edn_json(v))
                })
                .collect(),
        ),
    }
}

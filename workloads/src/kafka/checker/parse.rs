//! Reading the parts of kafka op values (anything malformed is skipped, never a panic).

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A key as text: strings as they are, numbers by their digits.
pub(super) fn key_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// `[["send", k, x]]` → (k, x).
pub(super) fn send_parts(value: &Value) -> Option<(Cow<'_, str>, &Value)> {
    let micro = value.get(0)?.as_array()?;
    if micro.first()?.as_str()? != "send" {
        return None;
    }
    Some((key_text(micro.get(1)?)?, micro.get(2)?))
}

/// `[["poll", {k: [[o, m], …]}]]` → the map.
pub(super) fn poll_msgs(value: &Value) -> Option<&Map<String, Value>> {
    let micro = value.get(0)?.as_array()?;
    if micro.first()?.as_str()? != "poll" {
        return None;
    }
    micro.get(1)?.as_object()
}

/// `[o, m]` with an exact integer offset.
pub(super) fn pair(entry: &Value) -> Option<(i64, &Value)> {
    let pair = entry.as_array()?;
    if pair.len() != 2 {
        return None;
    }
    Some((pair[0].as_i64()?, &pair[1]))
}

/// A poll's list for one key (empty if it is not a list).
pub(super) fn entries(list: &Value) -> &[Value] {
    list.as_array().map_or(&[], Vec::as_slice)
}

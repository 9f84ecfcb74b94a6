//! A checker's verdict: valid, invalid, or unknown (Maelstrom's `:valid?`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Maelstrom's three-valued `:valid?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// The history satisfies the checker.
    Valid,
    /// The checker found a violation.
    Invalid,
    /// The checker could not decide.
    Unknown,
}

impl Validity {
    /// Maelstrom's rule for combining checkers: false if any is false, else unknown if
    /// any is unknown, else true.
    pub fn combine(verdicts: impl IntoIterator<Item = Validity>) -> Validity {
        let mut combined = Validity::Valid;
        for verdict in verdicts {
            match verdict {
                Validity::Invalid => return Validity::Invalid,
                Validity::Unknown => combined = Validity::Unknown,
                Validity::Valid => {}
            }
        }
        combined
    }

    /// The verdict for a boolean.
    pub fn from_bool(valid: bool) -> Validity {
        if valid {
            Validity::Valid
        } else {
            Validity::Invalid
        }
    }

    /// A word for people: `valid`, `INVALID`, `unknown`.
    pub fn word(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "unknown",
        }
    }
}

/// JSON form: `true`, `false`, or `"unknown"`.
impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Validity, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Validity::Valid),
            serde_json::Value::Bool(false) => Ok(Validity::Invalid),
            _ => Ok(Validity::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Validity::*;
    use super::*;

    #[test]
    fn combine_follows_maelstrom() {
        assert_eq!(Validity::combine([Valid, Unknown, Valid]), Unknown);
        assert_eq!(Validity::combine([Unknown, Invalid]), Invalid);
        assert_eq!(Validity::combine([]), Valid);
        assert_eq!(serde_json::to_string(&Unknown).unwrap(), "\"unknown\"");
    }
}

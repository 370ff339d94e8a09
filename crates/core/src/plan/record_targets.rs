//! The values of a DNS record: one host (a CNAME or an alias) or one or more addresses (an A or
//! AAAA record set), compared as a set.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One or more values of a DNS record. Two are equal when they hold the same values in any order
/// (a record set is unordered); written as a string when there is one value, as a list otherwise.
#[derive(Debug, Clone, Eq)]
pub struct RecordTargets(Vec<String>);

impl RecordTargets {
    /// The values as given (never empty once validated by the plan).
    pub fn new(values: Vec<String>) -> Self {
        Self(values)
    }

    /// The values, in the order given.
    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// The only value, when there is exactly one.
    pub fn single(&self) -> Option<&str> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// True when both hold the same values, case and a trailing dot aside, in any order.
    pub fn same_as(&self, other: &RecordTargets) -> bool {
        self.normalised() == other.normalised()
    }

    /// True when any value of `self` is among `other`'s (case and a trailing dot aside).
    pub fn overlaps(&self, other: &RecordTargets) -> bool {
        let theirs = other.normalised();
        self.normalised().iter().any(|v| theirs.contains(v))
    }

    fn normalised(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .map(|t| t.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn sorted(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.0.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

impl PartialEq for RecordTargets {
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

/// A single value equals the string; a set of several never does.
impl PartialEq<str> for RecordTargets {
    fn eq(&self, other: &str) -> bool {
        self.single() == Some(other)
    }
}

impl PartialEq<&str> for RecordTargets {
    fn eq(&self, other: &&str) -> bool {
        self.single() == Some(*other)
    }
}

impl fmt::Display for RecordTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

impl From<&str> for RecordTargets {
    fn from(v: &str) -> Self {
        Self(vec![v.to_string()])
    }
}

impl From<String> for RecordTargets {
    fn from(v: String) -> Self {
        Self(vec![v])
    }
}

impl From<Vec<String>> for RecordTargets {
    fn from(v: Vec<String>) -> Self {
        Self(v)
    }
}

impl Serialize for RecordTargets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.single() {
            Some(one) => s.serialize_str(one),
            None => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RecordTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a target, or a list of targets")]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(v) => Self(vec![v]),
            OneOrMany::Many(v) => Self(v),
        })
    }
}

impl schemars::JsonSchema for RecordTargets {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RecordTargets".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A record's value, or a list of values (A/AAAA record sets).",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_compare_in_any_order_and_serialise_as_written() {
        let a = RecordTargets::new(vec!["198.51.100.11".into(), "198.51.100.10".into()]);
        let b = RecordTargets::new(vec!["198.51.100.10".into(), "198.51.100.11".into()]);
        assert_eq!(a, b);
        assert_ne!(a, RecordTargets::from("198.51.100.10"));
        assert_ne!(a, "198.51.100.10");
        assert_eq!(RecordTargets::from("lb"), "lb");
        assert!(a.overlaps(&RecordTargets::from("198.51.100.10")));
        assert!(RecordTargets::from("LB.example.com.").same_as(&"lb.example.com".into()));
        assert_eq!(a.to_string(), "198.51.100.11, 198.51.100.10");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"["198.51.100.11","198.51.100.10"]"#
        );
        assert_eq!(
            serde_json::to_string(&RecordTargets::from("lb")).unwrap(),
            r#""lb""#
        );
        let back: RecordTargets = serde_json::from_str(r#""lb""#).unwrap();
        assert_eq!(back, "lb");
        let back: RecordTargets = serde_json::from_str(r#"["x","y"]"#).unwrap();
        assert_eq!(back.values(), ["x", "y"]);
        let err = serde_json::from_str::<RecordTargets>("3").unwrap_err();
        assert!(
            err.to_string().contains("a target, or a list of targets"),
            "{err}"
        );
    }
}

//! Human durations (`30s`, `5m`, `2h`, `1h30m`) for the plan file and flags.

use std::time::Duration;

/// The longest duration a plan or flag may give: 30 days. Anything longer is a typo, and bounding it
/// keeps every deadline computed from it (start + RTO x overrun, TTL waits) far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses `30s`, `5m`, `2h`, `1h30m`, `250ms`; a bare number is rejected so units are never guessed,
/// and anything longer than [`MAX_DURATION`] is rejected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "duration `{t}` has no unit: write e.g. `{t}s`, `{t}m` or `{t}h`"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| format!("invalid duration `{t}`: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "duration `{t}` is too long: the most is {}",
            format_duration(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// Formats a duration compactly to the millisecond: `1h2m3s`, `45s`, `1.525s`, `250ms`. Nothing is
/// rounded away, so two figures compared in one sentence never contradict the comparison.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    // Minutes stand between hours and seconds even when zero: `1h0m2.032s`, never `1h2.032s`.
    if m > 0 || (h > 0 && (s > 0 || frac > 0)) {
        out.push_str(&format!("{m}m"));
    }
    if frac > 0 {
        let f = format!("{frac:03}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    } else if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Formats a duration so that [`parse_duration`] reads it back exactly (`1s525ms`).
fn format_parseable(d: Duration) -> String {
    let ms = Duration::from_millis(d.as_millis() as u64);
    if ms.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(ms).to_string().replace(' ', "")
}

/// The JSON Schema of a human duration, for `#[schemars(with = "HumanDuration")]` on `Duration`
/// fields read through [`serde_human`]: a string with its unit, as [`parse_duration`] reads it.
pub struct HumanDuration;

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with its unit: `250ms`, `30s`, `5m`, `2h`, `1h30m` (at most 30 days; a bare number is refused).",
            "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$"
        })
    }
}

/// Serde adapter for `Duration` fields written as human durations.
pub mod serde_human {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as `30s`-style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_parseable(*d))
    }

    /// Deserialises from `30s`-style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for `Option<Duration>` fields written as human durations.
pub mod serde_human_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as `30s`-style text or nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_parseable(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises from `30s`-style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_bare_numbers() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(0)), "0ms");
    }

    #[test]
    fn keeps_milliseconds_so_a_miss_never_reads_as_met() {
        assert_eq!(format_duration(Duration::from_millis(1525)), "1.525s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(62_050)), "1m2.05s");
        assert_eq!(
            format_duration(Duration::from_millis(3_602_032)),
            "1h0m2.032s"
        );
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_ne!(
            format_duration(Duration::from_millis(1001)),
            format_duration(Duration::from_secs(1))
        );
    }

    #[test]
    fn serialised_durations_read_back_exactly() {
        for ms in [0, 1, 999, 1000, 1525, 62_050, 3_723_004] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_parseable(d)).unwrap(), d, "{ms}ms");
        }
    }

    #[test]
    fn rejects_durations_beyond_the_maximum() {
        let e = parse_duration("18446744073709551615s").unwrap_err();
        assert!(e.contains("invalid") || e.contains("too long"), "{e}");
        assert!(parse_duration("31days").unwrap_err().contains("too long"));
        assert_eq!(parse_duration("30days").unwrap(), MAX_DURATION);
    }
}

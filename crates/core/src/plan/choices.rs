//! Choices `aegis-dr init` could not make: it writes them as `"<choose> a | b"` strings, and a plan
//! holding one is refused (naming its line) until the user has made it.

use super::validate::line_of;
use crate::error::{Error, Result};

/// How a value `aegis-dr init` left for the user begins.
pub const CHOICE_MARK: &str = "<choose>";

/// The marked value offering `options` (`"<choose> a | b"`; with none, `"<choose> ..."`).
pub fn choice_value(options: &[String]) -> String {
    if options.is_empty() {
        format!("{CHOICE_MARK} ...")
    } else {
        format!("{CHOICE_MARK} {}", options.join(" | "))
    }
}

/// Refuses plan text holding a value that is still a marked choice, naming the first one's key and
/// line.
pub(super) fn refuse_unmade(text: &str) -> Result<()> {
    let Ok(value) = toml::from_str::<toml::Table>(text) else {
        return Ok(()); // the typed parse names the syntax error
    };
    let mut found = Vec::new();
    walk(&toml::Value::Table(value), "", &mut found);
    let Some((key, marked)) = found.first() else {
        return Ok(());
    };
    let line = text
        .find(&serde_json::to_string(marked).unwrap_or_default())
        .map(|at| format!("line {}: ", line_of(text, at)))
        .unwrap_or_default();
    let more = match found.len() {
        1 => String::new(),
        n => format!(" ({} more after it)", n - 1),
    };
    Err(Error::config(format!(
        "{line}{key}: a choice `aegis-dr init` left for you is not made yet (`{marked}`): replace it with one of the options (the comment above it says what to weigh){more}"
    )))
}

fn walk(v: &toml::Value, at: &str, found: &mut Vec<(String, String)>) {
    match v {
        toml::Value::String(s) if s.starts_with(CHOICE_MARK) => {
            found.push((at.to_string(), s.clone()));
        }
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                walk(v, &key, found);
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_choice_is_refused_with_its_key_and_line() {
        let text = format!(
            "[plan]\nname = \"x\"\n\n[[databases]]\nname = \"a\"\ndr = {:?}\n",
            choice_value(&["b".into(), "c".into()])
        );
        let e = refuse_unmade(&text).unwrap_err().to_string();
        assert!(e.contains("line 6: databases[0].dr"), "{e}");
        assert!(e.contains("<choose> b | c"), "{e}");
        assert!(refuse_unmade("[plan]\nname = \"x\"\n").is_ok());
    }
}

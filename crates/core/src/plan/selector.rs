//! Label selectors: which workloads of a namespace a `[[workloads]]` entry names by label.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An equality-based label selector (`app=api,tier!=batch`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LabelSelector {
    /// `key=value` requirements.
    pub equals: Vec<(String, String)>,
    /// `key!=value` requirements.
    pub not_equals: Vec<(String, String)>,
}

impl LabelSelector {
    /// Parses `k=v,k2!=v2` (also `k==v`).
    pub fn parse(text: &str) -> std::result::Result<LabelSelector, String> {
        let mut sel = LabelSelector::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v, neg) = if let Some((k, v)) = part.split_once("!=") {
                (k, v, true)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, v, false)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, v, false)
            } else {
                return Err(format!("`{part}` is not `key=value` or `key!=value`"));
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                return Err(format!("`{k}` is not a valid label key"));
            }
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!("`{v}` is not a valid label value"));
            }
            if neg {
                sel.not_equals.push((k.into(), v.into()));
            } else {
                sel.equals.push((k.into(), v.into()));
            }
        }
        Ok(sel)
    }

    /// True when `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.equals.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self
                .not_equals
                .iter()
                .all(|(k, v)| labels.get(k) != Some(v))
    }

    /// The selector in Kubernetes query syntax.
    pub fn to_query(&self) -> String {
        let eq = self.equals.iter().map(|(k, v)| format!("{k}={v}"));
        let ne = self.not_equals.iter().map(|(k, v)| format!("{k}!={v}"));
        eq.chain(ne).collect::<Vec<_>>().join(",")
    }
}

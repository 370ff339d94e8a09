//! A provider's settings as its crate reads them: `[providers.<p>]` plan-wide, `[sites.<site>.<p>]`
//! over it for one site's resources, checked against the keys the provider knows, every error
//! naming the table the offending key came from.

use std::collections::BTreeSet;

use super::{Plan, ProviderName, ProviderSettings, SiteRole};
use crate::error::{Error, Result};

/// The settings of one provider in force for one site (or plan-wide), checked: only known keys,
/// every value a string.
#[derive(Debug, Clone)]
pub struct CheckedSettings {
    provider: String,
    site: Option<SiteRole>,
    values: ProviderSettings,
    from_site: BTreeSet<String>,
}

/// `sites.<site>.<provider>` or `providers.<provider>`.
pub fn settings_table(provider: &str, site: Option<SiteRole>) -> String {
    match site {
        Some(s) => format!("sites.{s}.{provider}"),
        None => format!("providers.{provider}"),
    }
}

fn check_table(t: &ProviderSettings, at: &str, keys: &[&str], label: &str) -> Result<()> {
    for (k, v) in t {
        if !keys.contains(&k.as_str()) {
            return Err(Error::config(format!(
                "{at}.{k}: not {label} setting (known: {})",
                keys.join(", ")
            )));
        }
        if !v.is_str() {
            return Err(Error::config(format!("{at}.{k}: must be a string")));
        }
    }
    Ok(())
}

impl Plan {
    /// The settings of `provider` for `site` (`None`: plan-wide), checked against `keys`; `label`
    /// names the provider in errors (`an AWS`: "providers.aws.x: not an AWS setting").
    pub fn checked_provider_settings(
        &self,
        provider: &str,
        site: Option<SiteRole>,
        keys: &[&str],
        label: &str,
    ) -> Result<CheckedSettings> {
        let name = ProviderName(provider.to_string());
        if let Some(t) = self.providers.get(&name) {
            check_table(t, &settings_table(provider, None), keys, label)?;
        }
        let mut from_site = BTreeSet::new();
        if let Some(s) = site {
            if let Some(t) = self.site(s).settings.get(&name) {
                check_table(t, &settings_table(provider, site), keys, label)?;
                from_site = t.keys().cloned().collect();
            }
        }
        Ok(CheckedSettings {
            provider: provider.to_string(),
            site,
            values: self.provider_settings(&name, site),
            from_site,
        })
    }
}

impl CheckedSettings {
    /// The value of `key`, when set.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// The table `key` came from (the site's when it set it), for error messages.
    pub fn origin(&self, key: &str) -> String {
        if self.from_site.contains(key) {
            settings_table(&self.provider, self.site)
        } else {
            settings_table(&self.provider, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_named_by_the_table_they_came_from() {
        let plan = Plan::parse(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n\
             [sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n\
             [providers.x]\nk = \"wide\"\nj = \"wide\"\n[sites.dr.x]\nk = \"dr\"\n",
        )
        .expect("plan");
        let s = plan
            .checked_provider_settings("x", Some(SiteRole::Dr), &["k", "j"], "an X")
            .expect("settings");
        assert_eq!(s.get("k").as_deref(), Some("dr"));
        assert_eq!(
            (s.origin("k").as_str(), s.origin("j").as_str()),
            ("sites.dr.x", "providers.x")
        );
        let e = plan
            .checked_provider_settings("x", None, &["k"], "an X")
            .expect_err("j unknown");
        assert!(
            e.to_string()
                .contains("providers.x.j: not an X setting (known: k)"),
            "{e}"
        );
    }
}

//! The plan's AWS settings: `[providers.aws]` for every AWS resource, `[sites.<site>.aws]` over it for
//! one site's resources. Keys: `region` (a site's AWS region, when the site itself is on another
//! cloud), `profile` (a shared-config profile), `role_arn` with optional `external_id` (a role
//! assumed with the profile's or the environment's credentials), `endpoint_url` (an emulator).

use aegis_dr_core::{plan::settings_table, Error, Plan, Result, SiteRole};

const KEYS: &[&str] = &[
    "region",
    "profile",
    "role_arn",
    "external_id",
    "endpoint_url",
];

/// AWS settings in force for one site (or, without a site, for Route 53).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region of the site's AWS resources.
    pub region: Option<String>,
    /// Shared-config profile.
    pub profile: Option<String>,
    /// Role to assume.
    pub role_arn: Option<String>,
    /// External id of the role.
    pub external_id: Option<String>,
    /// Endpoint of every service (an emulator).
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    /// The settings of `site` (`None`: the plan-wide ones), checked: unknown keys, wrong types and
    /// malformed values name their table and key.
    pub fn of(plan: &Plan, site: Option<SiteRole>) -> Result<AwsSettings> {
        let t = plan.checked_provider_settings("aws", site, KEYS, "an AWS")?;
        let get = |k: &str| t.get(k);
        let s = AwsSettings {
            region: get("region"),
            profile: get("profile"),
            role_arn: get("role_arn"),
            external_id: get("external_id"),
            endpoint_url: get("endpoint_url"),
        };
        let at = settings_table("aws", site);
        if let Some(r) = &s.role_arn {
            if !(r.starts_with("arn:aws") && r.contains(":role/")) {
                return Err(Error::config(format!(
                    "{at}.role_arn: `{r}` is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"
                )));
            }
        }
        if s.external_id.is_some() && s.role_arn.is_none() {
            return Err(Error::config(format!(
                "{at}.external_id: only used with `role_arn`"
            )));
        }
        if let Some(u) = &s.endpoint_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Error::config(format!(
                    "{at}.endpoint_url: `{u}` must start with http:// or https://"
                )));
            }
        }
        if let Some(r) = &s.region {
            if !valid_region(r) {
                return Err(Error::config(format!(
                    "{at}.region: `{r}` is not an AWS region (like us-east-1)"
                )));
            }
        }
        Ok(s)
    }
}

/// The AWS region of `site`: its `[sites.<site>.aws] region`, else the site's own region when the
/// site is on AWS (or played by the simulated estate, which then speaks for AWS).
pub fn region_of(plan: &Plan, site: SiteRole) -> Result<String> {
    if let Some(r) = AwsSettings::of(plan, Some(site))?.region {
        return Ok(r);
    }
    let s = plan.site(site);
    if s.provider.as_str() != "aws" {
        return Err(Error::config(format!(
            "sites.{site}.aws.region: AWS serves resources at the {site} site, which is on `{}`: set the AWS region of those resources in [sites.{site}.aws]",
            s.provider
        )));
    }
    if !valid_region(&s.region) {
        return Err(Error::config(format!(
            "sites.{site}.region: `{}` is not an AWS region (like us-east-1)",
            s.region
        )));
    }
    Ok(s.region.clone())
}

/// True for names shaped like AWS regions (`us-east-1`, `us-gov-west-1`).
pub(crate) fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_validated() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "eastus",
            "us-east-1a",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    fn plan(extra: &str) -> Plan {
        Plan::parse(&format!(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
             [sites.dr]\nprovider = \"azure\"\nregion = \"westeurope\"\n{extra}"
        ))
        .expect("plan parses")
    }

    #[test]
    fn site_settings_override_plan_wide_ones_and_bad_keys_are_named() {
        let p = plan(
            "[sites.dr.aws]\nregion = \"eu-west-1\"\nprofile = \"dr\"\n[providers.aws]\nprofile = \"prod\"\n",
        );
        assert_eq!(region_of(&p, SiteRole::Dr).expect("region"), "eu-west-1");
        assert_eq!(
            AwsSettings::of(&p, Some(SiteRole::Dr))
                .expect("settings")
                .profile
                .as_deref(),
            Some("dr")
        );
        assert_eq!(
            AwsSettings::of(&p, Some(SiteRole::Primary))
                .expect("settings")
                .profile
                .as_deref(),
            Some("prod")
        );
        let e =
            AwsSettings::of(&plan("[providers.aws]\nprofil = \"x\"\n"), None).expect_err("typo");
        assert!(
            e.to_string()
                .contains("providers.aws.profil: not an AWS setting"),
            "{e}"
        );
        let e = AwsSettings::of(
            &plan("[sites.dr.aws]\nrole_arn = \"admin\"\n"),
            Some(SiteRole::Dr),
        )
        .expect_err("bad arn");
        assert!(e.to_string().contains("sites.dr.aws.role_arn"), "{e}");
        let e = region_of(&plan(""), SiteRole::Dr).expect_err("azure site has no AWS region");
        assert!(e.to_string().contains("[sites.dr.aws]"), "{e}");
    }
}

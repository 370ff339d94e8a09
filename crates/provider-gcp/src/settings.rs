//! The plan's GCP settings: `[providers.gcp]` for every GCP resource, `[sites.<site>.gcp]` over it
//! for one site's resources. Keys: `project` (the project id), `location` (a site's GKE cluster
//! location, a region or a zone; the site's `region` when absent), `endpoint` (every API at one
//! base URL: a simulator or a private endpoint; `AEGIS_DR_GCP_ENDPOINT` does the same from the
//! environment) and `credentials_file` (a service-account key or `authorized_user` file instead of
//! Application Default Credentials).

use aegis_dr_core::{plan::settings_table, Error, Plan, Result, SiteRole};

const KEYS: &[&str] = &["project", "location", "endpoint", "credentials_file"];

/// The environment variable that points every GCP API at one endpoint.
pub const ENDPOINT_ENV: &str = "AEGIS_DR_GCP_ENDPOINT";

/// GCP settings in force for one site (or, without a site, plan-wide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    /// Project id.
    pub project: Option<String>,
    /// GKE cluster location of the site.
    pub location: Option<String>,
    /// One endpoint for every API, when overridden.
    pub endpoint: Option<String>,
    /// A credentials file instead of ADC.
    pub credentials_file: Option<String>,
}

/// True for a project id: 6 to 30 lowercase letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen.
fn is_project_id(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl GcpSettings {
    /// The settings of `site` (`None`: the plan-wide ones), checked: unknown keys, wrong types and
    /// malformed values name their table and key.
    pub fn of(plan: &Plan, site: Option<SiteRole>) -> Result<GcpSettings> {
        let t = plan.checked_provider_settings("gcp", site, KEYS, "a GCP")?;
        let get = |k: &str| t.get(k);
        let at_of = |k: &str| t.origin(k);
        let endpoint =
            get("endpoint").or_else(|| std::env::var(ENDPOINT_ENV).ok().filter(|v| !v.is_empty()));
        if let Some(e) = &endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(Error::config(format!(
                    "{}.endpoint: `{e}` must start with https:// (or http:// for a local simulator)",
                    at_of("endpoint")
                )));
            }
        }
        let s = GcpSettings {
            project: get("project"),
            location: get("location").or_else(|| site.map(|st| plan.site(st).region.clone())),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            credentials_file: get("credentials_file"),
        };
        if let Some(p) = &s.project {
            if !is_project_id(p) {
                return Err(Error::config(format!(
                    "{}.project: `{p}` is not a project id (6-30 lowercase letters, digits and '-', starting with a letter)",
                    at_of("project")
                )));
            }
        }
        if let Some(l) = &s.location {
            if l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(Error::config(format!(
                    "{}.location: `{l}` is not a GCP region or zone",
                    at_of("location")
                )));
            }
        }
        Ok(s)
    }

    /// The project of this site's resources (or the plan-wide one), or an error naming the setting
    /// to add for `what`.
    pub fn project(&self, site: Option<SiteRole>, what: &str) -> Result<String> {
        self.project.clone().ok_or_else(|| {
            Error::config(format!(
                "{what}: no GCP project: set `project` in [{}] (or [providers.gcp])",
                settings_table("gcp", site)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &str) -> Plan {
        Plan::parse(&format!(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"gcp\"\nregion = \"us-central1\"\n\
             [sites.dr]\nprovider = \"gcp\"\nregion = \"us-east1\"\n{extra}"
        ))
        .expect("plan parses")
    }

    #[test]
    fn site_settings_override_plan_wide_ones_and_bad_values_are_named() {
        let p = plan("[providers.gcp]\nproject = \"aegis-prod\"\n[sites.dr.gcp]\nlocation = \"us-east1-b\"\n");
        let dr = GcpSettings::of(&p, Some(SiteRole::Dr)).expect("settings");
        assert_eq!(dr.location.as_deref(), Some("us-east1-b"));
        assert_eq!(
            dr.project(Some(SiteRole::Dr), "x").expect("project"),
            "aegis-prod"
        );
        let pr = GcpSettings::of(&p, Some(SiteRole::Primary)).expect("settings");
        assert_eq!(
            pr.location.as_deref(),
            Some("us-central1"),
            "the site's region"
        );
        for (extra, want) in [
            (
                "[providers.gcp]\nproject_id = \"x\"\n",
                "providers.gcp.project_id: not a GCP setting",
            ),
            (
                "[providers.gcp]\nproject = \"Aegis Prod\"\n",
                "providers.gcp.project: `Aegis Prod` is not a project id",
            ),
            (
                "[sites.dr.gcp]\nendpoint = \"sqladmin.googleapis.com\"\n",
                "sites.dr.gcp.endpoint: `sqladmin.googleapis.com` must start with https://",
            ),
            (
                "[sites.dr.gcp]\nlocation = \"US East\"\n",
                "sites.dr.gcp.location: `US East`",
            ),
            (
                "[providers.gcp]\nproject = 7\n",
                "providers.gcp.project: must be a string",
            ),
        ] {
            let e = GcpSettings::of(&plan(extra), Some(SiteRole::Dr)).expect_err(extra);
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = GcpSettings::of(&plan(""), None)
            .expect("defaults")
            .project(None, "databases.orders")
            .expect_err("no project");
        assert!(
            e.to_string().contains("databases.orders: no GCP project"),
            "{e}"
        );
    }
}

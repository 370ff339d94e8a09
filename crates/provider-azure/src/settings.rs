//! The plan's Azure settings: `[providers.azure]` for every Azure resource, `[sites.<site>.azure]`
//! over it for one site's resources. Keys: `subscription_id`, `resource_group`, `cloud` (`public`,
//! `usgov`, `china`), `resource_manager_endpoint` (a sovereign or private endpoint, or the
//! simulator; `AZURE_RESOURCE_MANAGER_ENDPOINT` does the same from the environment), `credential`
//! (`auto`, `environment`, `workload-identity`, `managed-identity`, `azure-cli`) and `client_id` (a
//! user-assigned managed identity).

use aegis_dr_core::{plan::settings_table, Error, Plan, Result, SiteRole};
use azure_core::cloud::CloudConfiguration;

use crate::credential::CredentialKind;

const KEYS: &[&str] = &[
    "subscription_id",
    "resource_group",
    "cloud",
    "resource_manager_endpoint",
    "credential",
    "client_id",
];

/// A subscription's resource group: where a resource lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Subscription id (a GUID).
    pub subscription: String,
    /// Resource group name.
    pub name: String,
}

impl ResourceGroup {
    /// `/subscriptions/{s}/resourceGroups/{rg}`.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.name
        )
    }

    /// The id of `provider_path` (`Microsoft.Sql/servers/x`) in this group.
    pub fn resource(&self, provider_path: &str) -> String {
        format!("{}/providers/{provider_path}", self.id())
    }
}

/// Azure settings in force for one site (or, without a site, plan-wide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// Subscription of the resources.
    pub subscription_id: Option<String>,
    /// Resource group of the resources.
    pub resource_group: Option<String>,
    /// Resource Manager endpoint, from `cloud` or `resource_manager_endpoint`.
    pub endpoint: String,
    /// Token scope of that cloud's Resource Manager.
    pub scope: String,
    /// Which cloud, for the credentials' authority.
    pub cloud: CloudConfiguration,
    /// Which credentials.
    pub credential: CredentialKind,
    /// User-assigned managed identity.
    pub client_id: Option<String>,
}

/// True for a GUID (`8-4-4-4-12` hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl AzureSettings {
    /// The settings of `site` (`None`: the plan-wide ones), checked: unknown keys, wrong types and
    /// malformed values name their table and key.
    pub fn of(plan: &Plan, site: Option<SiteRole>) -> Result<AzureSettings> {
        let t = plan.checked_provider_settings("azure", site, KEYS, "an Azure")?;
        let get = |k: &str| t.get(k);
        let at_of = |k: &str| t.origin(k);
        let (default_endpoint, scope, cloud) = match get("cloud").as_deref().unwrap_or("public") {
            "public" => (
                "https://management.azure.com",
                "https://management.azure.com/.default",
                CloudConfiguration::AzurePublic,
            ),
            "usgov" => (
                "https://management.usgovcloudapi.net",
                "https://management.usgovcloudapi.net/.default",
                CloudConfiguration::AzureGovernment,
            ),
            "china" => (
                "https://management.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/.default",
                CloudConfiguration::AzureChina,
            ),
            other => {
                return Err(Error::config(format!(
                    "{}.cloud: `{other}` is not one of public, usgov, china",
                    at_of("cloud")
                )))
            }
        };
        let endpoint = get("resource_manager_endpoint")
            .or_else(|| {
                std::env::var("AZURE_RESOURCE_MANAGER_ENDPOINT")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .unwrap_or_else(|| default_endpoint.to_string());
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(Error::config(format!(
                "{}.resource_manager_endpoint: `{endpoint}` must start with https:// (or http:// for a local simulator)",
                at_of("resource_manager_endpoint")
            )));
        }
        let credential = match get("credential") {
            None => CredentialKind::Auto,
            Some(c) => CredentialKind::parse(&c).ok_or_else(|| {
                Error::config(format!(
                    "{}.credential: `{c}` is not one of auto, environment, workload-identity, managed-identity, azure-cli",
                    at_of("credential")
                ))
            })?,
        };
        let s = AzureSettings {
            subscription_id: get("subscription_id"),
            resource_group: get("resource_group"),
            endpoint,
            scope: scope.to_string(),
            cloud,
            credential,
            client_id: get("client_id"),
        };
        if let Some(id) = &s.subscription_id {
            if !is_guid(id) {
                return Err(Error::config(format!(
                    "{}.subscription_id: `{id}` is not a subscription id (a GUID)",
                    at_of("subscription_id")
                )));
            }
        }
        if let Some(id) = &s.client_id {
            if !is_guid(id) {
                return Err(Error::config(format!(
                    "{}.client_id: `{id}` is not a client id (a GUID)",
                    at_of("client_id")
                )));
            }
        }
        if let Some(rg) = &s.resource_group {
            if rg.is_empty() || rg.len() > 90 || rg.ends_with('.') {
                return Err(Error::config(format!(
                    "{}.resource_group: `{rg}` is not a resource group name",
                    at_of("resource_group")
                )));
            }
        }
        Ok(s)
    }

    /// The resource group of this site's resources (or the plan-wide one), or an error naming the
    /// setting to add for `what`.
    pub fn group(&self, site: Option<SiteRole>, what: &str) -> Result<ResourceGroup> {
        let at = settings_table("azure", site);
        let sub = self.subscription_id.clone().ok_or_else(|| {
            Error::config(format!(
                "{what}: no Azure subscription: set `subscription_id` in [{at}] (or [providers.azure])"
            ))
        })?;
        let rg = self.resource_group.clone().ok_or_else(|| {
            Error::config(format!(
                "{what}: no resource group: set `resource_group` in [{at}] (or [providers.azure])"
            ))
        })?;
        Ok(ResourceGroup {
            subscription: sub,
            name: rg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &str) -> Plan {
        Plan::parse(&format!(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"azure\"\nregion = \"eastus\"\n\
             [sites.dr]\nprovider = \"azure\"\nregion = \"westus\"\n{extra}"
        ))
        .expect("plan parses")
    }

    #[test]
    fn site_settings_override_plan_wide_ones_and_bad_values_are_named() {
        let p = plan(
            "[providers.azure]\nsubscription_id = \"00000000-0000-0000-0000-000000000001\"\nresource_group = \"prod\"\n[sites.dr.azure]\nresource_group = \"dr\"\n",
        );
        let dr = AzureSettings::of(&p, Some(SiteRole::Dr)).expect("settings");
        assert_eq!(dr.group(Some(SiteRole::Dr), "x").expect("rg").name, "dr");
        let pr = AzureSettings::of(&p, Some(SiteRole::Primary)).expect("settings");
        assert_eq!(pr.group(None, "x").expect("rg").name, "prod");
        assert_eq!(pr.scope, "https://management.azure.com/.default");
        for (extra, want) in [
            (
                "[providers.azure]\nsubscription = \"x\"\n",
                "providers.azure.subscription: not an Azure setting",
            ),
            (
                "[providers.azure]\nsubscription_id = \"prod\"\n",
                "providers.azure.subscription_id: `prod` is not a subscription id",
            ),
            (
                "[sites.dr.azure]\ncloud = \"mars\"\n",
                "sites.dr.azure.cloud: `mars`",
            ),
            (
                "[providers.azure]\ncredential = \"password\"\n",
                "providers.azure.credential: `password`",
            ),
            (
                "[providers.azure]\nresource_manager_endpoint = \"management.azure.com\"\n",
                "must start with https://",
            ),
        ] {
            let p = plan(extra);
            let e = AzureSettings::of(&p, Some(SiteRole::Dr)).expect_err(extra);
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = AzureSettings::of(&plan(""), None)
            .expect("defaults")
            .group(None, "databases.orders")
            .expect_err("no subscription");
        assert!(
            e.to_string()
                .contains("databases.orders: no Azure subscription"),
            "{e}"
        );
    }
}

//! `[discovery]`: the scope `aegis-dr init` read the estate in, kept for `drift` and `watch`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The scope `aegis-dr init` read the estate in (`[discovery]`), kept so `aegis-dr drift` reads
/// the same resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// Only resources carrying all these tags (key to value). Default: none (no tag filter).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Only resources whose name contains this text. Default: none (no name filter).
    pub name_contains: Option<String>,
    /// A self-managed PostgreSQL pair to read: the variables holding each side's connection string
    /// (`[discovery.postgres]`; the strings themselves are never written). Default: none.
    pub postgres: Option<PostgresDiscovery>,
    /// Providers read besides the sites' own (resources on another cloud: a database pair on `gcp`
    /// while both sites are on `aws`). Default: none.
    #[serde(default)]
    pub also_read: Vec<super::ProviderName>,
}

/// The PostgreSQL pair `init` reads (`[discovery.postgres]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresDiscovery {
    /// Environment variable holding the connection string of the primary site's server. Required.
    pub primary_dsn_env: String,
    /// Environment variable holding the connection string of the DR site's server. Required.
    pub dr_dsn_env: String,
    /// Environment variable holding the password, when the connection strings have none. Default:
    /// none.
    pub password_env: Option<String>,
}

//! `[discovery]`: the scope `aegis-dr init` read the estate in, kept for `drift` and `watch`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The scope `aegis-dr init` read the estate in (`[discovery]`), kept so `aegis-dr drift` reads
/// the same resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// Only resources carrying all these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Only resources whose name contains this.
    pub name_contains: Option<String>,
    /// A self-managed PostgreSQL pair to read: the variables holding each side's connection
    /// string (`[discovery.postgres]`; the strings themselves are never written).
    pub postgres: Option<PostgresDiscovery>,
    /// Providers read besides the sites' own (resources on another cloud: a database pair on
    /// `gcp` while both sites are on `aws`).
    #[serde(default)]
    pub also_read: Vec<super::ProviderName>,
}

/// The PostgreSQL pair `init` reads (`[discovery.postgres]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresDiscovery {
    /// The variable holding the primary site's server's connection string.
    pub primary_dsn_env: String,
    /// The variable holding the DR site's server's connection string.
    pub dr_dsn_env: String,
    /// The variable holding the password, when the connection strings have none.
    pub password_env: Option<String>,
}

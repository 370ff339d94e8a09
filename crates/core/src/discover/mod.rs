//! Discovery: what `aegis-dr init` and `aegis-dr drift` read of an estate.
//!
//! A provider that can read its estate answers `Backend::discover` (in `provider`) with a
//! [`Discovery`]: plan entries it inferred, each value with where it came from ([`Pick::Known`]) or a
//! choice it could not make ([`Pick::Choose`]), the evidence of which site serves now, and what it
//! saw but left out. [`Draft`] turns the discoveries of one estate into a commented plan file (or
//! JSON); [`drift()`] compares a plan with them.

use std::collections::BTreeMap;

use crate::plan::{Plan, PoolSize, ProviderName, RecordTargets, SiteRole, WorkloadKind};

mod draft;
mod drift;
pub mod names;
mod pools;
mod records;

pub use draft::Draft;
pub use drift::{drift, Drift, DriftKind};
pub use pools::{cluster_pick, pool_entries, PoolRead};
pub use records::{record_entries, RecordRead};

/// A value `init` writes: inferred, with where from, or a choice left to the user.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    /// Inferred from the estate.
    Known {
        /// The value.
        value: toml::Value,
        /// Where it came from (`ReadReplicaSourceDBInstanceIdentifier of orders-dr`).
        from: String,
    },
    /// Not inferable: the user must choose.
    Choose {
        /// The candidates init saw (may be empty: then the user names one).
        options: Vec<String>,
        /// What to weigh, in a sentence.
        why: String,
    },
}

impl Pick {
    /// An inferred value.
    pub fn known(value: impl Into<toml::Value>, from: impl Into<String>) -> Pick {
        Pick::Known {
            value: value.into(),
            from: from.into(),
        }
    }

    /// A choice between `options`.
    pub fn choose(options: Vec<String>, why: impl Into<String>) -> Pick {
        Pick::Choose {
            options,
            why: why.into(),
        }
    }

    /// The value as written in the plan (a choice as its marked string).
    pub fn value(&self) -> toml::Value {
        match self {
            Pick::Known { value, .. } => value.clone(),
            Pick::Choose { options, .. } => toml::Value::String(crate::plan::choice_value(options)),
        }
    }
}

/// A pool size as a plan value (`{ min = 1, max = 3, desired = 2 }`).
pub fn size_value(size: PoolSize) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("min".into(), i64::from(size.min).into());
    t.insert("max".into(), i64::from(size.max).into());
    t.insert("desired".into(), i64::from(size.desired).into());
    toml::Value::Table(t)
}

/// Record targets as a plan value: one string, or an array for an address set.
pub fn targets_value(targets: &[String]) -> toml::Value {
    match targets {
        [one] => toml::Value::String(one.clone()),
        many => toml::Value::Array(many.iter().cloned().map(toml::Value::String).collect()),
    }
}

/// Names as a plan array (`["a", "b"]`).
pub fn list_value(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
}

/// The plan's arrays of resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// `[[databases]]`
    Databases,
    /// `[[dns_records]]`
    DnsRecords,
    /// `[[node_pools]]`
    NodePools,
    /// `[[workloads]]`
    Workloads,
    /// `[[recovery_servers]]`
    RecoveryServers,
}

impl Table {
    /// Every table, in the order a plan lists them.
    pub const ALL: [Table; 5] = [
        Table::Databases,
        Table::DnsRecords,
        Table::NodePools,
        Table::Workloads,
        Table::RecoveryServers,
    ];

    /// The table's key in the plan file.
    pub fn key(self) -> &'static str {
        match self {
            Table::Databases => "databases",
            Table::DnsRecords => "dns_records",
            Table::NodePools => "node_pools",
            Table::Workloads => "workloads",
            Table::RecoveryServers => "recovery_servers",
        }
    }
}

/// What the estate holds now, for [`drift()`]: identifiers as the plan writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// A replicating pair (or a primary whose DR side is not known: `dr` none).
    Database {
        /// The instance serving writes now.
        primary: String,
        /// Its replica at the other site, when there is exactly one.
        dr: Option<String>,
    },
    /// A record and what it points at now.
    Record {
        /// Record name.
        name: String,
        /// Its targets now.
        targets: RecordTargets,
    },
    /// A node pool and its size now.
    Pool {
        /// Pool name.
        name: String,
        /// Its site.
        site: SiteRole,
        /// Its size now.
        size: PoolSize,
    },
    /// A workload present at one or both sites, with its replicas at each.
    Workload {
        /// Namespace.
        namespace: String,
        /// Kind.
        kind: WorkloadKind,
        /// Name.
        name: String,
        /// Replicas at each site where it exists.
        replicas: BTreeMap<SiteRole, u32>,
    },
    /// A recovery-service source server.
    RecoveryServer {
        /// Its id.
        id: String,
    },
}

/// One plan entry inferred from the estate.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The array it belongs to.
    pub table: Table,
    /// Keys and values, in the order they are written.
    pub fields: Vec<(String, Pick)>,
    /// A comment written above the entry.
    pub comment: Option<String>,
    /// What the estate holds now.
    pub observed: Observed,
}

impl Entry {
    /// An entry of `table` holding `observed`, with no fields yet.
    pub fn new(table: Table, observed: Observed) -> Entry {
        Entry {
            table,
            fields: Vec::new(),
            comment: None,
            observed,
        }
    }

    /// Adds a key.
    pub fn with(mut self, key: &str, pick: Pick) -> Entry {
        self.fields.push((key.to_string(), pick));
        self
    }

    /// Sets the comment above the entry.
    pub fn commented(mut self, comment: impl Into<String>) -> Entry {
        self.comment = Some(comment.into());
        self
    }

    /// The value of `key`, if written.
    pub fn get(&self, key: &str) -> Option<&Pick> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, p)| p)
    }
}

/// Evidence that `site` serves production now.
#[derive(Debug, Clone, PartialEq)]
pub struct Serving {
    /// The site the evidence points at.
    pub site: SiteRole,
    /// The evidence, in a sentence.
    pub why: String,
}

/// What one provider found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// The provider that read it.
    pub provider: ProviderName,
    /// The tables it read in full (drift compares only these).
    pub covers: Vec<Table>,
    /// Plan entries, in the order found.
    pub entries: Vec<Entry>,
    /// Evidence of which site serves.
    pub serving: Vec<Serving>,
    /// Keys of a site this provider inferred (`cluster`), by site.
    pub site_keys: BTreeMap<SiteRole, Vec<(String, Pick)>>,
    /// Keys of `[sites.<site>.<provider>]` it inferred (a GKE cluster's `location`), by site.
    pub site_settings: BTreeMap<SiteRole, Vec<(String, Pick)>>,
    /// Keys of `[checks]` it inferred (`config_maps`).
    pub checks: Vec<(String, Pick)>,
    /// What it saw and left out, and why (one sentence each).
    pub skipped: Vec<String>,
}

impl Discovery {
    /// An empty discovery by `provider`, covering `covers`.
    pub fn new(provider: ProviderName, covers: Vec<Table>) -> Discovery {
        Discovery {
            provider,
            covers,
            entries: Vec::new(),
            serving: Vec::new(),
            site_keys: BTreeMap::new(),
            site_settings: BTreeMap::new(),
            checks: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// Where the controller reads drift from: discovery through the providers' backends, which
/// the core cannot reach (the `aegis-dr` crate's registry can).
#[async_trait::async_trait]
pub trait DriftSource: Send + Sync {
    /// The plan's drift now (an error when the estate could not be read).
    async fn drift(&self) -> crate::error::Result<Vec<Drift>>;
}

/// What discovery reads: filters on the resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Only resources carrying all these tags (`key`, `value`), where the provider has tags.
    pub tags: Vec<(String, String)>,
    /// Only resources whose name contains this.
    pub name_contains: Option<String>,
}

impl Scope {
    /// True when a resource named `name` is in scope by name.
    pub fn admits_name(&self, name: &str) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|part| name.contains(part))
    }

    /// True when a resource with these tags is in scope (by tags only).
    pub fn admits_tags<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let tags: Vec<(&str, &str)> = tags.into_iter().collect();
        self.tags
            .iter()
            .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
    }
}

impl From<&crate::plan::DiscoverySettings> for Scope {
    fn from(s: &crate::plan::DiscoverySettings) -> Scope {
        Scope {
            tags: s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            name_contains: s.name_contains.clone(),
        }
    }
}

/// What a backend discovers from.
#[derive(Debug, Clone)]
pub struct DiscoverContext {
    /// The provider's name.
    pub name: ProviderName,
    /// The plan skeleton: both sites (provider, region, cluster contexts) and provider settings;
    /// no resources.
    pub plan: Plan,
    /// What to read.
    pub scope: Scope,
}

//! aegis-dr's PostgreSQL provider (`provider = "postgres"` on a `[[databases]]` pair): two
//! self-managed servers in streaming replication, on any host or cloud.
//!
//! - **Status** from the servers' own views: `pg_is_in_recovery()`, `pg_stat_wal_receiver`,
//!   WAL positions (lag in bytes and time), `pg_stat_archiver` (backup age).
//! - **Fence**: the application's login roles lose `LOGIN` (what each had is recorded in
//!   `aegis_dr.fence`) and their sessions end; lifting restores what was recorded.
//! - **Planned promotion**: fence, flush and read the old primary's last WAL position, wait until
//!   the standby has replayed it, `pg_promote`, lift the fence on the new primary (a write).
//! - **Forced promotion**: behind the RPO gate, refused while the old primary takes writes.
//! - **Rejoin**: the instance's `rejoin` command (`pg_rewind` on its host), then a check that it
//!   streams from the new primary; never without consent when writes may be discarded.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
pub mod conninfo;
mod discover;
mod failover;
mod observe;
mod permissions;
mod rejoin;
pub mod settings;
pub mod tls;

use std::sync::Arc;

use aegis_dr_core::{
    clock::Clock,
    discover::{DiscoverContext, Discovery},
    plan::Plan,
    provider::{
        Backend, BuildContext, Capabilities, Clients, DatabaseFailover, Permissions, ProviderSet,
    },
    Error, Result,
};
use async_trait::async_trait;

pub use failover::PostgresDatabases;
use settings::Pair;

/// The registry entry of `postgres`.
#[derive(Debug, Clone, Copy)]
pub struct PostgresBackend;

/// What the provider does.
pub const CAPABILITIES: Capabilities = Capabilities {
    planned_promotion: true,
    forced_promotion: true,
    sync_dry_run: true,
    dns_health_checks: false,
    recovery_service: false,
    integrity_check: false,
    snapshots: false,
};

fn env_lookup(v: &str) -> Option<String> {
    std::env::var(v).ok()
}

impl PostgresDatabases {
    /// The pairs of `plan` (its `postgres` view), their settings checked and variables read
    /// through `lookup`.
    pub fn for_plan(
        plan: &Plan,
        clock: Clock,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PostgresDatabases> {
        check_resources(plan)?;
        let pairs = plan
            .databases
            .iter()
            .map(|d| Pair::of(&format!("databases.{}", d.name), d, lookup))
            .collect::<Result<Vec<_>>>()?;
        Ok(PostgresDatabases {
            pairs: Arc::new(pairs),
            clock,
        })
    }

    /// The provider set `postgres`.
    pub fn set(self) -> ProviderSet {
        let clients = Clients {
            database: Some(Arc::new(self) as Arc<dyn DatabaseFailover>),
            ..Clients::default()
        };
        ProviderSet::of_clients("postgres", clients, CAPABILITIES)
    }
}

/// Only database pairs are PostgreSQL's; anything else naming it is a mistake in the plan.
fn check_resources(plan: &Plan) -> Result<()> {
    let other = [
        (
            "dns_records",
            plan.dns_records.first().map(|r| r.name.clone()),
        ),
        (
            "node_pools",
            plan.node_pools.first().map(|r| r.name.clone()),
        ),
        (
            "recovery_servers",
            plan.recovery_servers.first().map(|r| r.name.clone()),
        ),
        (
            "health_endpoints",
            plan.health_endpoints.first().map(|r| r.name.clone()),
        ),
    ];
    for (table, name) in other {
        if let Some(n) = name {
            return Err(Error::config(format!(
                "{table} (`{n}`).provider: `postgres` serves database pairs only; name the cloud or `sim` for it"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Backend for PostgresBackend {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn validate(&self, ctx: &BuildContext) -> Result<()> {
        PostgresDatabases::for_plan(&ctx.plan, ctx.clock, &env_lookup).map(|_| ())
    }

    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet> {
        Ok(PostgresDatabases::for_plan(&ctx.plan, ctx.clock, &env_lookup)?.set())
    }

    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions> {
        check_resources(&ctx.plan)?;
        permissions::document(&ctx.plan)
    }

    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        discover::discover(ctx).await
    }
}

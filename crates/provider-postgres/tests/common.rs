//! A pair of real servers and the plan naming them.

use std::time::Duration;

use aegis_dr_core::{
    clock::Clock,
    plan::{Plan, ProviderName},
    provider::{DatabaseRef, ProviderSet},
    SiteRole,
};
use aegis_dr_provider_postgres::PostgresDatabases;
use aegis_dr_test_servers::postgres::{PgOptions, PgPair, PgServer};

/// Longest a conformance wait takes.
pub const WITHIN: Duration = Duration::from_secs(60);

/// A pair and its provider.
pub struct World {
    pub pg: PgPair,
    pub plan: Plan,
    pub db: PostgresDatabases,
}

/// The plan of `pg` with `extra` options (`, key = "value", ...`).
pub fn plan_text(pg: &PgPair, extra: &str) -> String {
    plan_text_with(pg, "app", extra, None)
}

/// The plan of `pg` with these application roles, options and (optionally) another rejoin
/// command for the primary site's instance.
pub fn plan_text_with(
    pg: &PgPair,
    roles: &str,
    extra: &str,
    rejoin_primary: Option<Vec<String>>,
) -> String {
    format!(
        "[plan]\nname = \"pg\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"east\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"west\"\n{}",
        pg.database_entry(roles, extra, rejoin_primary)
    )
}

/// Starts a pair (on a blocking thread) and builds the provider over it.
pub async fn world(opts: PgOptions, extra: &str) -> World {
    let pg = tokio::task::spawn_blocking(move || PgPair::start(opts))
        .await
        .expect("start the pair");
    let (plan, db) = provider(&plan_text(&pg, extra));
    World { pg, plan, db }
}

/// The plan `text` and its postgres provider.
pub fn provider(text: &str) -> (Plan, PostgresDatabases) {
    let plan = Plan::parse(text).expect("plan");
    let db = PostgresDatabases::for_plan(
        &plan.for_provider(&ProviderName("postgres".into())),
        Clock::new(),
        &|v| std::env::var(v).ok(),
    )
    .expect("provider");
    (plan, db)
}

impl World {
    pub fn set(&self) -> ProviderSet {
        self.db.clone().set()
    }

    pub fn at(&self, site: SiteRole) -> DatabaseRef {
        let d = &self.plan.databases[0];
        DatabaseRef {
            database: d.name.clone(),
            instance: d.instance(site).to_string(),
            site,
        }
    }
}

/// Connects to `s` as `user`.
pub async fn client(
    pg: &PgPair,
    s: &PgServer,
    user: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(&pg.dsn(s, user), tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(c)
}

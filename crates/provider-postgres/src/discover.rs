//! `aegis-dr init` and `drift` on a self-managed PostgreSQL pair: which of the two servers is the
//! primary (`pg_is_in_recovery()`), whether the standby streams from it (`pg_stat_wal_receiver`),
//! and the login roles the fence could stop. Connection strings stay in their variables.

use std::{collections::BTreeMap, time::Duration};

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery, Entry, Observed, Pick, Serving, Table},
    plan::{DatabaseSpec, Rejoin},
    Error, Result, SiteRole,
};

use crate::{
    client::{connect, map_err},
    settings::instance,
};

/// What one server says of itself.
struct Seen {
    address: String,
    standby: bool,
    receiver: Option<String>,
    sender: Option<String>,
    roles: Vec<String>,
}

const READ: &str = "SELECT pg_is_in_recovery(),
  (SELECT status FROM pg_stat_wal_receiver),
  (SELECT count(*) FROM pg_stat_wal_receiver),
  (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),
  (SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles
     WHERE rolcanlogin AND NOT rolsuper AND NOT rolreplication AND rolname <> current_user
       AND rolname NOT LIKE 'pg\\_%')";

/// Reads the pair named in `[discovery.postgres]`.
pub(crate) async fn discover(ctx: &DiscoverContext) -> Result<Discovery> {
    let Some(pg) = ctx.plan.discovery.as_ref().and_then(|d| d.postgres.clone()) else {
        return Err(Error::config(
            "[discovery.postgres]: name the variables holding the two servers' connection strings (init --postgres-dsn-envs PRIMARY_VAR,DR_VAR)",
        ));
    };
    let mut options = BTreeMap::new();
    options.insert("primary_dsn_env".to_string(), pg.primary_dsn_env.clone());
    options.insert("dr_dsn_env".to_string(), pg.dr_dsn_env.clone());
    if let Some(p) = &pg.password_env {
        options.insert("primary_password_env".to_string(), p.clone());
        options.insert("dr_password_env".to_string(), p.clone());
    }
    let spec = DatabaseSpec {
        name: "discovery".into(),
        provider: ctx.name.clone(),
        primary: "primary".into(),
        dr: "dr".into(),
        engine: Some("postgres".into()),
        options: options.clone(),
        rejoin: Rejoin::default(),
    };
    let lookup = |k: &str| std::env::var(k).ok();
    let mut seen = BTreeMap::new();
    for site in [SiteRole::Primary, SiteRole::Dr] {
        let i = instance(
            "discovery.postgres",
            &spec,
            site,
            Duration::from_secs(5),
            &lookup,
        )?;
        let c = connect(&i).await?;
        let row = c
            .query_one(READ, &[])
            .await
            .map_err(|e| map_err(&i.address, "read its role", e))?;
        let roles: String = row.get(4);
        let receivers: i64 = row.get(2);
        let receiver: Option<String> = row.get(1);
        // A receiver whose status this role may not read: unknown, never "not streaming".
        if receivers > 0 && receiver.is_none() {
            return Err(Error::config(format!(
                "{}: pg_stat_wal_receiver hides its status from `{}` (grant it pg_monitor; `aegis-dr permissions --provider postgres` prints the grants)",
                i.address, i.user
            )));
        }
        seen.insert(
            site,
            Seen {
                address: i.address.clone(),
                standby: row.get(0),
                receiver,
                sender: row.get(3),
                roles: roles
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect(),
            },
        );
    }
    let mut d = Discovery::new(ctx.name.clone(), vec![Table::Databases]);
    let (p, r) = (&seen[&SiteRole::Primary], &seen[&SiteRole::Dr]);
    let primary_now = match (p.standby, r.standby) {
        (false, true) => Some(SiteRole::Primary),
        (true, false) => Some(SiteRole::Dr),
        _ => None,
    };
    let both = vec![p.address.clone(), r.address.clone()];
    let mut e = match primary_now {
        Some(site) => {
            let (w, s) = (&seen[&site], &seen[&site.other()]);
            d.serving.push(Serving {
                site,
                why: format!("PostgreSQL {} accepts writes (pg_is_in_recovery() = false) and {} is in recovery", w.address, s.address),
            });
            let streams = s.receiver.as_deref() == Some("streaming");
            Entry::new(
                Table::Databases,
                Observed::Database { primary: w.address.clone(), dr: streams.then(|| s.address.clone()) },
            )
            .commented(if streams {
                format!("{} streams from {} (pg_stat_wal_receiver: streaming)", s.address, s.sender.as_deref().unwrap_or("?"))
            } else {
                format!(
                    "{} is in recovery but does not stream (pg_stat_wal_receiver: {}): the pair is not protected now",
                    s.address,
                    s.receiver.as_deref().unwrap_or("no receiver")
                )
            })
            .with("name", Pick::known(format!("pg-{}", p.address.replace(':', "-")), "the primary site's server address"))
            .with("primary", Pick::known(p.address.as_str(), "the primary site's connection string (host:port)"))
            .with("dr", Pick::known(r.address.as_str(), "the DR site's connection string (host:port)"))
        }
        None => {
            let state = if p.standby {
                "both are in recovery"
            } else {
                "both accept writes"
            };
            d.skipped.push(format!(
                "PostgreSQL {} and {}: {state}; no pair to read",
                p.address, r.address
            ));
            Entry::new(Table::Databases, Observed::Database { primary: p.address.clone(), dr: None })
                .with("name", Pick::known(format!("pg-{}", p.address.replace(':', "-")), "the primary site's server address"))
                .with("primary", Pick::choose(both, format!(
                    "{state} (pg_is_in_recovery() on each): nothing says which is the primary; name the server that should take writes, and fix replication before any failover")))
                .with("dr", Pick::known(r.address.as_str(), "the DR site's connection string (host:port)"))
        }
    };
    e = e.with("engine", Pick::known("postgres", "a PostgreSQL server"));
    for (k, v) in &options {
        e = e.with(
            &format!("options.{k}"),
            Pick::known(v.as_str(), "--postgres-dsn-envs / --postgres-password-env"),
        );
    }
    let mut roles: Vec<String> = p.roles.iter().chain(&r.roles).cloned().collect();
    roles.sort();
    roles.dedup();
    e = e.with(
        "options.app_roles",
        Pick::choose(roles, "the application's login roles, which the fence stops (comma-separated): init lists every login role that is neither a superuser, a replication role nor aegis-dr's own; only you know which are the application's"),
    );
    d.entries.push(e);
    Ok(d)
}

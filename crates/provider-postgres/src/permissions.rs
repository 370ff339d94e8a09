//! `aegis-dr permissions --provider postgres`: the SQL that gives aegis-dr's role what the plan's
//! pairs need, and nothing more.

use aegis_dr_core::{plan::Plan, provider::Permissions, Result};

use crate::failover::ident;

/// The SQL for every pair of `plan`.
pub fn document(plan: &Plan) -> Result<Permissions> {
    let mut sql = String::from(
        "-- aegis-dr's PostgreSQL permissions. Run as a superuser on each pair's primary: roles and\n\
         -- grants are cluster-wide and reach the standby through replication.\n",
    );
    let mut notes = Vec::new();
    for d in &plan.databases {
        let user = d
            .options
            .get("primary_user")
            .cloned()
            .unwrap_or_else(|| "aegis_dr".to_string());
        let db = d
            .options
            .get("primary_dbname")
            .cloned()
            .unwrap_or_else(|| user.clone());
        let roles: Vec<&str> = d
            .options
            .get("app_roles")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let u = ident(&user);
        sql.push_str(&format!(
            "\n-- database pair `{name}` ({primary} -> {dr})\n\
             CREATE ROLE {u} LOGIN;  -- if it does not exist; set its password out of band\n\
             -- status: pg_stat_replication, pg_stat_wal_receiver, pg_stat_archiver, pg_control_system()\n\
             GRANT pg_monitor TO {u};\n\
             -- the fence ends the application's sessions\n\
             GRANT pg_signal_backend TO {u};\n\
             -- promotion, and the checkpoint that lets pg_rewind see the new timeline (PostgreSQL 15+)\n\
             GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO {u};\n\
             GRANT pg_checkpoint TO {u};\n\
             -- the fence and its record: schema aegis_dr in database {dbq}\n\
             GRANT CREATE ON DATABASE {dbq} TO {u};\n\
             -- the fence takes LOGIN from (and gives it back to) these roles only\n\
             ALTER ROLE {u} CREATEROLE;\n",
            name = d.name,
            primary = d.primary,
            dr = d.dr,
            dbq = ident(&db),
        ));
        for r in &roles {
            sql.push_str(&format!(
                "GRANT {} TO {u} WITH ADMIN OPTION;  -- PostgreSQL 16+: CREATEROLE alters only roles it administers\n",
                ident(r)
            ));
        }
        if roles.is_empty() {
            notes.push(format!(
                "databases.{}: no app_roles in the plan, so no role to fence is named",
                d.name
            ));
        }
    }
    notes.push(
        "CREATEROLE lets the role alter other non-superuser roles (PostgreSQL 15 and older: any of them); the application's roles must not be superusers, or the fence cannot stop them".into(),
    );
    notes.push(
        "the rejoin command runs on the instance's host as its OS user; its pg_rewind connects to the new primary as a superuser or as a role with EXECUTE on pg_ls_dir, pg_stat_file, pg_read_binary_file (PostgreSQL's pg_rewind documentation), not as aegis-dr's role".into(),
    );
    Ok(Permissions {
        format: "PostgreSQL SQL",
        document: sql,
        notes,
    })
}

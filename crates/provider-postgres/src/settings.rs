//! A pair's settings, from its `options`: each instance's connection (a libpq connection string in
//! an environment variable, or host/port/user/dbname with the password from a variable or a
//! password file; TLS as libpq's `sslmode`), the application roles the fence shuts out, and the
//! time limits. Read and checked once, when the provider is built; errors name the option.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aegis_dr_core::{
    duration::parse_duration,
    plan::{DatabaseSpec, Rejoin},
    Error, Result, SiteRole,
};
use rustls::ClientConfig;

use crate::{conninfo, tls};

/// Per-instance option names (after `primary_` or `dr_`).
const INSTANCE_KEYS: &[&str] = &[
    "dsn_env",
    "host",
    "port",
    "user",
    "dbname",
    "password_env",
    "passfile",
    "sslmode",
    "sslrootcert",
];

/// Pair-wide option names.
const PAIR_KEYS: &[&str] = &[
    "app_roles",
    "connect_timeout",
    "catch_up_timeout",
    "promote_timeout",
    "backup_age_query",
];

/// How to reach one instance.
#[derive(Clone)]
pub struct Instance {
    /// Its name in the plan.
    pub name: String,
    /// Its site.
    pub site: SiteRole,
    /// tokio-postgres's connection settings (password included).
    pub config: tokio_postgres::Config,
    /// TLS for it.
    pub tls: Arc<ClientConfig>,
    /// `host:port`, as the plan names it (no secret).
    pub address: String,
    /// The role aegis-dr connects as.
    pub user: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} as {})", self.name, self.address, self.user)
    }
}

/// One database pair of the plan, resolved.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The pair's name.
    pub name: String,
    /// The primary site's instance.
    pub primary: Instance,
    /// The DR site's instance.
    pub dr: Instance,
    /// The login roles of the application: the fence stops them.
    pub app_roles: Vec<String>,
    /// Rejoin commands per site.
    pub rejoin: Rejoin,
    /// Longest a planned promotion waits for the standby to replay the fenced primary's last WAL.
    pub catch_up_timeout: Duration,
    /// Longest `pg_promote` waits.
    pub promote_timeout: Duration,
    /// A query answering the age of the newest backup in seconds (instead of WAL archiving).
    pub backup_age_query: Option<String>,
}

impl Pair {
    /// The instance at `site`.
    pub fn at(&self, site: SiteRole) -> &Instance {
        match site {
            SiteRole::Primary => &self.primary,
            SiteRole::Dr => &self.dr,
        }
    }
}

fn duration(
    at: &str,
    opts: &BTreeMap<String, String>,
    key: &str,
    default: u64,
) -> Result<Duration> {
    match opts.get(key) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => match parse_duration(v) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(Error::config(format!(
                "{at}.options.{key}: must be more than 0"
            ))),
            Err(e) => Err(Error::config(format!("{at}.options.{key}: {e}"))),
        },
    }
}

/// A valid role name for the fence (letters, digits, `_`, `$`, `-`, `.`; quoted in SQL).
fn role_name_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 63
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_$-.".contains(c))
}

/// Reads the variable `var`, naming the option that asked for it.
fn env(at: &str, key: &str, var: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    lookup(var).ok_or_else(|| {
        Error::config(format!(
            "{at}.options.{key}: the variable `{var}` is not set in aegis-dr's environment"
        ))
    })
}

pub(crate) fn instance(
    at: &str,
    d: &DatabaseSpec,
    site: SiteRole,
    connect_timeout: Duration,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Instance> {
    let prefix = format!("{site}_");
    let opt = |k: &str| d.options.get(&format!("{prefix}{k}")).cloned();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let from = |k: &str| format!("{at}.options.{prefix}{k}");
    if let Some(var) = opt("dsn_env") {
        let text = env(at, &format!("{prefix}dsn_env"), &var, lookup)?;
        keys = conninfo::parse(&text).map_err(|e| {
            Error::config(format!(
                "{}: the connection string in `{var}`: {e}",
                from("dsn_env")
            ))
        })?;
    } else if opt("host").is_none() {
        return Err(Error::config(format!(
            "{at}.options: name how to reach `{}`: `{prefix}dsn_env` (a variable holding a libpq connection string) or `{prefix}host`",
            d.instance(site)
        )));
    }
    for k in [
        "host",
        "port",
        "user",
        "dbname",
        "sslmode",
        "sslrootcert",
        "passfile",
    ] {
        if let Some(v) = opt(k) {
            keys.insert(k.to_string(), v);
        }
    }
    if let Some(var) = opt("password_env") {
        keys.insert(
            "password".into(),
            env(at, &format!("{prefix}password_env"), &var, lookup)?,
        );
    }
    let host = keys
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let port: u16 = match keys.get("port") {
        None => 5432,
        Some(p) => p
            .parse()
            .map_err(|_| Error::config(format!("{}: `{p}` is not a port", from("port"))))?,
    };
    let user = keys.get("user").cloned().ok_or_else(|| {
        Error::config(format!(
            "{}: name the role aegis-dr connects as",
            from("user")
        ))
    })?;
    let dbname = keys.get("dbname").cloned().unwrap_or_else(|| user.clone());
    if !keys.contains_key("password") {
        if let Some(path) = keys.get("passfile") {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::config(format!("{}: `{path}`: {e}", from("passfile"))))?;
            if let Some(p) = conninfo::passfile_password(&text, &host, port, &dbname, &user) {
                keys.insert("password".into(), p);
            }
        }
    }
    let mode_name = keys.get("sslmode").map(String::as_str).unwrap_or("prefer");
    let mode = tls::SslMode::parse(mode_name).ok_or_else(|| {
        Error::config(format!(
            "{}: `{mode_name}` is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)",
            from("sslmode")
        ))
    })?;
    let tls = tls::client_config(mode, keys.get("sslrootcert").map(String::as_str))
        .map_err(|e| Error::config(format!("{}: {e}", from("sslmode"))))?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&host)
        .port(port)
        .user(&user)
        .dbname(&dbname)
        .ssl_mode(mode.wire())
        .connect_timeout(match keys.get("connect_timeout") {
            Some(s) => Duration::from_secs(s.parse().map_err(|_| {
                Error::config(format!(
                    "{}: connect_timeout `{s}` is not a number of seconds",
                    from("dsn_env")
                ))
            })?),
            None => connect_timeout,
        })
        .application_name(
            keys.get("application_name")
                .map(String::as_str)
                .unwrap_or("aegis-dr"),
        );
    if let Some(p) = keys.get("password") {
        config.password(p);
    }
    Ok(Instance {
        name: d.instance(site).to_string(),
        site,
        config,
        tls,
        address: format!("{host}:{port}"),
        user,
    })
}

impl Pair {
    /// Checks and resolves the pair `d` (`at`: `databases.NAME`), reading variables through `lookup`.
    pub fn of(at: &str, d: &DatabaseSpec, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Pair> {
        for k in d.options.keys() {
            let known = PAIR_KEYS.contains(&k.as_str())
                || ["primary_", "dr_"].iter().any(|p| {
                    k.strip_prefix(p)
                        .is_some_and(|rest| INSTANCE_KEYS.contains(&rest))
                });
            if !known {
                return Err(Error::config(format!(
                    "{at}.options.{k}: not a PostgreSQL option (known: {}, and per instance primary_/dr_ + {})",
                    PAIR_KEYS.join(", "),
                    INSTANCE_KEYS.join(", ")
                )));
            }
        }
        let app_roles: Vec<String> = d
            .options
            .get("app_roles")
            .map(|s| {
                s.split(',')
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if app_roles.is_empty() {
            return Err(Error::config(format!(
                "{at}.options.app_roles: name the application's login roles (comma-separated): the fence stops them logging in and ends their sessions"
            )));
        }
        if let Some(r) = app_roles.iter().find(|r| !role_name_ok(r)) {
            return Err(Error::config(format!(
                "{at}.options.app_roles: `{r}` is not a role name aegis-dr fences (letters, digits, `_`, `$`, `-`, `.`)"
            )));
        }
        let connect_timeout = duration(at, &d.options, "connect_timeout", 5)?;
        let primary = instance(at, d, SiteRole::Primary, connect_timeout, lookup)?;
        let dr = instance(at, d, SiteRole::Dr, connect_timeout, lookup)?;
        for i in [&primary, &dr] {
            if app_roles.contains(&i.user) {
                return Err(Error::config(format!(
                    "{at}.options.app_roles: `{}` is the role aegis-dr connects to `{}` as; the fence would shut aegis-dr out",
                    i.user, i.name
                )));
            }
        }
        Ok(Pair {
            name: d.name.clone(),
            primary,
            dr,
            app_roles,
            rejoin: d.rejoin.clone(),
            catch_up_timeout: duration(at, &d.options, "catch_up_timeout", 60)?,
            promote_timeout: duration(at, &d.options, "promote_timeout", 60)?,
            backup_age_query: d.options.get("backup_age_query").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use aegis_dr_core::Plan;

    use super::Pair;

    fn pair(options: &str, vars: &[(&str, &str)]) -> Result<Pair, String> {
        let plan = Plan::parse(&format!(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n\
             [[databases]]\nname = \"orders\"\nprovider = \"postgres\"\nprimary = \"east\"\ndr = \"west\"\noptions = {{ {options} }}\n"
        ))
        .map_err(|e| e.to_string())?;
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Pair::of("databases.orders", &plan.databases[0], &move |v| {
            vars.iter().find(|(k, _)| k == v).map(|(_, x)| x.clone())
        })
        .map_err(|e| e.to_string())
    }

    const BOTH: &str = "primary_dsn_env = \"P\", dr_dsn_env = \"D\", app_roles = \"app\"";

    #[test]
    fn connections_come_from_variables_never_quoted_in_errors() {
        let p = pair(
            BOTH,
            &[
                (
                    "P",
                    "postgresql://aegis:s3cret@db1:6432/orders?sslmode=require",
                ),
                ("D", "host=db2 user=aegis"),
            ],
        )
        .expect("pair");
        assert_eq!(
            (p.primary.address.as_str(), p.primary.user.as_str()),
            ("db1:6432", "aegis")
        );
        assert_eq!(p.dr.address, "db2:5432");
        assert!(!format!("{p:?}").contains("s3cret"), "{p:?}");
        let e = pair(
            BOTH,
            &[
                ("P", "host=db1 user=a password=s3cret bogus=1"),
                ("D", "host=db2 user=a"),
            ],
        )
        .unwrap_err();
        assert!(
            e.contains("databases.orders.options.primary_dsn_env")
                && e.contains("`bogus`")
                && !e.contains("s3cret"),
            "{e}"
        );
        let e = pair(BOTH, &[("P", "host=db1 user=a")]).unwrap_err();
        assert!(e.contains("dr_dsn_env: the variable `D` is not set"), "{e}");
    }

    #[test]
    fn bad_options_are_named() {
        let e = pair(
            "primary_host = \"a\", dr_host = \"b\", primary_user = \"x\", dr_user = \"x\"",
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("options.app_roles: name the application's login roles"),
            "{e}"
        );
        let e = pair("primary_host = \"a\", dr_host = \"b\", primary_user = \"x\", dr_user = \"x\", app_roles = \"x\"", &[]).unwrap_err();
        assert!(e.contains("the role aegis-dr connects to `east` as"), "{e}");
        let e = pair("primary_hots = \"a\", app_roles = \"app\"", &[]).unwrap_err();
        assert!(
            e.contains("options.primary_hots: not a PostgreSQL option"),
            "{e}"
        );
        let e = pair("dr_host = \"b\", dr_user = \"x\", app_roles = \"app\"", &[]).unwrap_err();
        assert!(e.contains("name how to reach `east`"), "{e}");
        let e = pair("primary_host = \"a\", primary_user = \"x\", primary_sslmode = \"verify-full\", dr_host = \"b\", dr_user = \"x\", app_roles = \"app\"", &[]).unwrap_err();
        assert!(
            e.contains("primary_sslmode: sslmode verify-ca and verify-full need `sslrootcert`"),
            "{e}"
        );
        let e = pair("primary_host = \"a\", primary_user = \"x\", primary_sslmode = \"strict\", dr_host = \"b\", dr_user = \"x\", app_roles = \"app\"", &[]).unwrap_err();
        assert!(e.contains("`strict` is not an sslmode"), "{e}");
        let e = pair("primary_host = \"a\", primary_user = \"x\", primary_port = \"99999\", dr_host = \"b\", dr_user = \"x\", app_roles = \"app\"", &[]).unwrap_err();
        assert!(e.contains("primary_port: `99999` is not a port"), "{e}");
        let e = pair("primary_host = \"a\", primary_user = \"x\", dr_host = \"b\", dr_user = \"x\", app_roles = \"app\", catch_up_timeout = \"soon\"", &[]).unwrap_err();
        assert!(e.contains("options.catch_up_timeout"), "{e}");
    }

    #[test]
    fn a_rejoin_command_is_a_postgres_pairs_own() {
        let e = Plan::parse(
            "[plan]\nname = \"p\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n\
             [[databases]]\nname = \"orders\"\nprimary = \"east\"\ndr = \"west\"\n[databases.rejoin.primary]\ncommand = [\"x\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("(`orders`, line 10).rejoin: only `postgres` pairs"),
            "{e}"
        );
    }
}

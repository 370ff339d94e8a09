//! A database instance's `rejoin` command: what makes a former primary replicate from the new one
//! when only its host can (PostgreSQL's `pg_rewind` or a fresh base backup). aegis-dr runs it with
//! its argv, environment and secrets handled like a command hook's, then checks the result itself.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::SiteRole;
use crate::{
    duration::parse_duration,
    error::{Error, Result},
};

/// The provider whose pairs rejoin through a command.
pub const POSTGRES: &str = "postgres";

/// One instance's rejoin command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejoinCommand {
    /// The program and its arguments (no shell).
    pub argv: Vec<String>,
    /// Variables set for it.
    pub env: BTreeMap<String, String>,
    /// Variables of aegis-dr's environment passed on whose values are secrets: replaced by
    /// `[redacted]` in everything aegis-dr records of its output.
    pub secret_env: Vec<String>,
    /// Folder it starts in (default: aegis-dr's).
    pub workdir: Option<String>,
    /// Longest it may take (default 10 min); it is killed after.
    pub timeout: Duration,
}

/// The rejoin commands of a pair, per site (an instance without one cannot be re-protected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejoin {
    /// Makes the primary site's instance a replica of the DR one.
    pub primary: Option<RejoinCommand>,
    /// Makes the DR site's instance a replica of the primary one.
    pub dr: Option<RejoinCommand>,
}

impl Rejoin {
    /// The command of the instance at `site`.
    pub fn at(&self, site: SiteRole) -> Option<&RejoinCommand> {
        match site {
            SiteRole::Primary => self.primary.as_ref(),
            SiteRole::Dr => self.dr.as_ref(),
        }
    }

    /// True when neither instance has one.
    pub fn is_empty(&self) -> bool {
        self.primary.is_none() && self.dr.is_none()
    }
}

/// The rejoin commands of a `postgres` pair (`rejoin = { primary = { ... }, dr = { ... } }`): what
/// makes a former primary replicate from the new one (`pg_rewind` or a fresh base backup).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Rejoin")]
#[serde(deny_unknown_fields)]
pub(super) struct RawRejoin {
    /// Command that makes the primary site's instance a replica of the DR one. Default: none
    /// (that instance cannot be re-protected).
    primary: Option<RawRejoinCommand>,
    /// Command that makes the DR site's instance a replica of the primary one. Default: none
    /// (that instance cannot be re-protected).
    dr: Option<RawRejoinCommand>,
}

/// One instance's rejoin command, run like a command hook; aegis-dr checks the result itself.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "RejoinCommand")]
#[serde(deny_unknown_fields)]
struct RawRejoinCommand {
    /// The program and its arguments, run without a shell
    /// (`["/usr/local/bin/pg-rejoin", "orders"]`). Required.
    command: Vec<String>,
    /// Variables set for the program (names of letters, digits and `_`). Default: none.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Names of variables of aegis-dr's environment whose values are secrets, replaced by
    /// `[redacted]` in everything aegis-dr records of the output. Default: none.
    #[serde(default)]
    secret_env: Vec<String>,
    /// Folder the program starts in. Default: aegis-dr's working folder.
    workdir: Option<String>,
    /// Longest the command may take before it is killed, a duration greater than zero
    /// (`"10m"`). Default: `10m`.
    timeout: Option<String>,
}

fn is_var_name(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn command(at: &str, raw: RawRejoinCommand) -> Result<RejoinCommand> {
    if raw.command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(Error::config(format!(
            "{at}.command: name the program and its arguments, e.g. [\"/usr/local/bin/pg-rejoin\", \"orders\"]"
        )));
    }
    for v in raw.secret_env.iter().chain(raw.env.keys()) {
        if !is_var_name(v) {
            return Err(Error::config(format!("{at}: `{v}` is not a variable name")));
        }
    }
    let timeout = match raw.timeout.as_deref() {
        None => Duration::from_secs(600),
        Some(t) => parse_duration(t).map_err(|e| Error::config(format!("{at}.timeout: {e}")))?,
    };
    if timeout.is_zero() {
        return Err(Error::config(format!("{at}.timeout: must be more than 0")));
    }
    Ok(RejoinCommand {
        argv: raw.command,
        env: raw.env,
        secret_env: raw.secret_env,
        workdir: raw.workdir,
        timeout,
    })
}

/// Checks a pair's `rejoin` table (`at` names the pair, `provider` its provider).
pub(super) fn rejoin(at: &str, provider: &str, raw: Option<RawRejoin>) -> Result<Rejoin> {
    let Some(raw) = raw else {
        return Ok(Rejoin::default());
    };
    if provider != POSTGRES {
        return Err(Error::config(format!(
            "{at}.rejoin: only `postgres` pairs rejoin through a command (this pair's provider is `{provider}`, which re-protects through its own API)"
        )));
    }
    Ok(Rejoin {
        primary: raw
            .primary
            .map(|c| command(&format!("{at}.rejoin.primary"), c))
            .transpose()?,
        dr: raw
            .dr
            .map(|c| command(&format!("{at}.rejoin.dr"), c))
            .transpose()?,
    })
}

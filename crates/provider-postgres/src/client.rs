//! Connections (one per call: a failover talks to servers that may be restarting) and the mapping
//! of PostgreSQL's errors onto aegis-dr's kinds, every error naming the instance.

use std::time::Duration;

use aegis_dr_core::{
    clock::Clock,
    retry::{await_condition, RetryPolicy, WaitPolicy},
    Error, ErrorKind, Result,
};
use tokio_postgres::{error::SqlState, Client};

use crate::{settings::Instance, tls::MakeRustls};

/// Maps a tokio-postgres error on `instance`: a refused, reset or timed-out connection is
/// `Unreachable` (and retryable), a server starting up or shutting down too; authentication and
/// privileges are `PermissionDenied`; anything else the server answered is `Provider`.
pub fn map_err(instance: &str, doing: &str, e: tokio_postgres::Error) -> Error {
    let (kind, text) = match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            let kind = if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                || *code == SqlState::INSUFFICIENT_PRIVILEGE
            {
                ErrorKind::PermissionDenied
            } else if *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::TOO_MANY_CONNECTIONS
            {
                ErrorKind::Unreachable
            } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
                ErrorKind::InvalidState
            } else if *code == SqlState::INVALID_CATALOG_NAME {
                ErrorKind::Config
            } else {
                ErrorKind::Provider
            };
            (kind, format!("{} (SQLSTATE {})", db.message(), code.code()))
        }
        None => {
            // Connection-level: refused, reset, timed out, closed. The chain holds the cause.
            let mut text = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                text = format!("{text}: {s}");
                src = s.source();
            }
            (ErrorKind::Unreachable, text)
        }
    };
    let err = Error::new(kind, format!("PostgreSQL `{instance}`: {doing}: {text}"))
        .with_resource(instance.to_string());
    if kind == ErrorKind::Unreachable {
        err.temporary()
    } else {
        err
    }
}

/// Connects to `i`; the connection's task ends when the client is dropped.
pub async fn connect(i: &Instance) -> Result<Client> {
    let (client, conn) = i
        .config
        .connect(MakeRustls(i.tls.clone()))
        .await
        .map_err(|e| {
            map_err(
                &i.name,
                &format!("connect to {} as {}", i.address, i.user),
                e,
            )
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// An LSN (`16/B374D848`) as a number.
pub fn lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Polls `f` on `clock` until it answers a value or `within` passes ("exceeded max wait"); polls
/// that fail transiently (a server restarting) are retried, not fatal.
pub async fn wait_until<T, F, Fut>(clock: &Clock, what: &str, within: Duration, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    // Short polls: a catch-up or a promotion on a healthy pair takes tens of milliseconds, and the
    // failover waits on them.
    let wait = WaitPolicy {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(25),
        deadline_ms: clock.now_ms() + within.as_millis() as u64,
    };
    let retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    };
    await_condition(retry, wait, clock, what, |_| {}, f).await
}

#[cfg(test)]
mod tests {
    use super::lsn;

    #[test]
    fn lsns_are_ordered_numbers() {
        assert_eq!(lsn("0/0"), Some(0));
        assert_eq!(lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert!(lsn("1/FFFFFFFF") < lsn("2/0"));
        assert_eq!(lsn("nonsense"), None);
    }
}

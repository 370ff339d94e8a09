//! Re-protection: the former primary becomes a standby of the new one. Only its host can do that
//! (`pg_rewind`, or a fresh base backup), so aegis-dr runs the instance's `rejoin` command, then
//! checks through SQL that it streams from the new primary. After a forced promotion the rewind
//! may throw away writes the old primary made that never reached the standby: that needs consent.

use std::time::Duration;

use aegis_dr_core::{
    plan::RejoinCommand,
    provider::{ReverseReplicationRequest, SyncReport},
    Error, ErrorKind, Result,
};

use crate::{
    client::{map_err, wait_until},
    failover::PostgresDatabases,
    observe::Observed,
    settings::Instance,
};

/// What the new primary records of its latest promotion.
struct Promotion {
    instance: String,
    mode: String,
    from_lsn: Option<u64>,
}

/// Whether rejoining may discard writes, in words, with the WAL bytes concerned when known.
struct Divergence {
    safe: bool,
    bytes: Option<u64>,
    text: String,
}

fn divergence(
    source: &Instance,
    target: &Instance,
    p: Option<&Promotion>,
    t: Option<&Observed>,
) -> Divergence {
    let t_lsn = t.and_then(|o| o.lsn);
    match p {
        Some(p) if p.mode == "planned" && p.instance == source.name => Divergence {
            safe: true,
            bytes: Some(0),
            text: format!(
                "`{}` was promoted by a planned failover: every write the application made on `{}` before its fence is on `{}`",
                source.name, target.name, source.name
            ),
        },
        Some(p) if p.instance == source.name => match (p.from_lsn, t_lsn) {
            (Some(from), Some(at)) if at <= from => Divergence {
                safe: true,
                bytes: Some(0),
                text: format!(
                    "`{}` ends at or before the point `{}` was promoted from: nothing to discard",
                    target.name, source.name
                ),
            },
            (Some(from), Some(at)) => Divergence {
                safe: false,
                bytes: Some(at - from),
                text: format!(
                    "`{}` was promoted by a forced failover; `{}` holds {} bytes of WAL written after that point, which never reached it: rejoining discards them",
                    source.name,
                    target.name,
                    at - from
                ),
            },
            _ => Divergence {
                safe: false,
                bytes: None,
                text: format!(
                    "`{}` was promoted by a forced failover and `{}` cannot be read: writes it made after that point may be discarded by rejoining (how many is unknown)",
                    source.name, target.name
                ),
            },
        },
        _ => Divergence {
            safe: false,
            bytes: None,
            text: format!(
                "`{}` holds no record of a planned promotion from `{}`: rejoining may discard writes only `{}` holds (how many is unknown)",
                source.name, target.name, target.name
            ),
        },
    }
}

async fn latest_promotion(c: &tokio_postgres::Client, i: &Instance) -> Result<Option<Promotion>> {
    let rows = c
        .query(
            "SELECT instance, mode, from_lsn::text FROM aegis_dr.promotion ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            return Ok(None)
        }
        Err(e) => return Err(map_err(&i.name, "read its promotion record", e)),
    };
    Ok(rows.first().map(|r| Promotion {
        instance: r.get(0),
        mode: r.get(1),
        from_lsn: r
            .get::<_, Option<String>>(2)
            .as_deref()
            .and_then(crate::client::lsn),
    }))
}

/// Runs a rejoin command; the error says how it ended and its last line of stderr (secrets hidden).
async fn run(cmd: &RejoinCommand, at: &str, source: &Instance, target: &Instance) -> Result<()> {
    let secrets: Vec<String> = cmd
        .secret_env
        .iter()
        .map(|v| {
            std::env::var(v).map_err(|_| {
                Error::config(format!(
                    "{at}.secret_env: `{v}` is not set in aegis-dr's environment"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let (host, port) = source
        .address
        .rsplit_once(':')
        .unwrap_or((source.address.as_str(), "5432"));
    let mut c = tokio::process::Command::new(&cmd.argv[0]);
    c.args(&cmd.argv[1..])
        .envs(&cmd.env)
        .env("AEGIS_REJOIN_INSTANCE", &target.name)
        .env("AEGIS_REJOIN_SOURCE", &source.name)
        .env("AEGIS_REJOIN_SOURCE_HOST", host)
        .env("AEGIS_REJOIN_SOURCE_PORT", port)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &cmd.workdir {
        c.current_dir(dir);
    }
    let shown = cmd.argv.join(" ");
    let child = c
        .spawn()
        .map_err(|e| Error::config(format!("{at}.command: cannot start `{}`: {e}", cmd.argv[0])))?;
    let out = match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(Error::new(
                ErrorKind::HookFailed,
                format!("{at}: `{shown}`: {e}"),
            ))
        }
        Err(_) => {
            return Err(Error::new(
                ErrorKind::HookFailed,
                format!(
                    "{at}: `{shown}` did not finish within {} (killed); `{}` is not re-protected",
                    aegis_dr_core::duration::format_duration(cmd.timeout),
                    target.name
                ),
            )
            .with_resource(target.name.clone()))
        }
    };
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        stderr = stderr.replace(s.as_str(), "[redacted]");
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    let how = match out.status.code() {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".into(),
    };
    Err(Error::new(
        ErrorKind::HookFailed,
        format!(
            "{at}: `{shown}` ended with {how}{last}; `{}` is not re-protected (fix the host and run the failback again: it resumes here)",
            target.name
        ),
    )
    .with_resource(target.name.clone()))
}

fn pending(t: &Observed, s: &Observed) -> u64 {
    match (s.lsn, t.lsn) {
        (Some(a), Some(b)) => a.saturating_sub(b),
        _ => 0,
    }
}

/// Makes `req.target` a standby of `req.source` (or says what that would do, with `dry_run`).
pub async fn reverse(p: &PostgresDatabases, req: &ReverseReplicationRequest) -> Result<SyncReport> {
    let (pair, source) = p.resolve(&req.source)?;
    let (_, target) = p.resolve(&req.target)?;
    let (sc, so) = p.look(pair, source).await?;
    if so.standby {
        return Err(Error::new(
            ErrorKind::InvalidState,
            format!(
                "PostgreSQL `{}` is a standby: nothing can replicate from it as a primary",
                source.name
            ),
        )
        .with_resource(source.name.clone()));
    }
    let to = p.look(pair, target).await.ok().map(|(_, o)| o);
    if let Some(t) = to.as_ref().filter(|t| t.streams_from(&so)) {
        return Ok(SyncReport {
            pending_changes: pending(t, &so),
            estimated_catch_up: Duration::ZERO,
            dry_run: req.dry_run,
            summary: Some(format!(
                "`{}` already streams from `{}`",
                target.name, source.name
            )),
        });
    }
    let promo = latest_promotion(&sc, source).await?;
    let div = divergence(source, target, promo.as_ref(), to.as_ref());
    let at = format!("databases.{}.rejoin.{}", pair.name, target.site);
    let cmd = pair.rejoin.at(target.site);
    let what = match cmd {
        Some(c) => format!("runs `{}`", c.argv.join(" ")),
        None => format!("needs a rejoin command ({at}), which the plan lacks"),
    };
    if req.dry_run {
        return Ok(SyncReport {
            pending_changes: div.bytes.unwrap_or(0),
            estimated_catch_up: Duration::ZERO,
            dry_run: true,
            summary: Some(format!(
                "`{}` {what} to stream from `{}`; {}",
                target.name, source.name, div.text
            )),
        });
    }
    if !div.safe && !req.accept_data_loss {
        return Err(Error::refused(format!(
            "{}; pass --accept-data-loss to rejoin `{}` anyway",
            div.text, target.name
        ))
        .with_resource(target.name.clone()));
    }
    let cmd = cmd.ok_or_else(|| {
        Error::config(format!(
            "{at}: `{}` must become a standby of `{}`, which only its host can do: give it a rejoin command (pg_rewind or a base backup)",
            target.name, source.name
        ))
    })?;
    // pg_rewind reads the source's timeline from its control file, which a promotion updates only
    // at its next checkpoint: without one, it sees "the same timeline" and rewinds nothing.
    sc.batch_execute("CHECKPOINT")
        .await
        .map_err(|e| map_err(&source.name, "checkpoint before the rejoin", e))?;
    run(cmd, &at, source, target).await?;
    let lag = wait_until(
        &p.clock,
        &format!("`{}` to stream from `{}`", target.name, source.name),
        cmd.timeout,
        || async {
            let (_, so) = p.look(pair, source).await?;
            let (_, t) = p.look(pair, target).await?;
            Ok(t.streams_from(&so).then(|| pending(&t, &so)))
        },
    )
    .await
    .map_err(|e| {
        e.context(format!(
            "the rejoin command of `{}` succeeded, but it does not stream from `{}`",
            target.name, source.name
        ))
    })?;
    Ok(SyncReport {
        pending_changes: lag,
        estimated_catch_up: Duration::ZERO,
        dry_run: false,
        summary: Some(format!(
            "`{}` streams from `{}`{}",
            target.name,
            source.name,
            if div.safe {
                String::new()
            } else {
                format!(" (consented: {})", div.text)
            }
        )),
    })
}

//! What `aegis-dr check` verifies beside the runbook's six checks: that every command hook can start
//! (its program and working folder exist), that every HTTP hook, Prometheus hook and notification
//! sink can be reached (a TCP connection, nothing sent), and that the estate is whole.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use futures_util::future::join_all;

use crate::{
    checks::{CheckResult, CheckStatus},
    duration::format_duration,
    estate::{Estate, Verdict},
    notify::{redact_url, sink_url},
    plan::{HookAction, NotificationSink, Plan},
    provider::Providers,
};

/// How long a reachability probe waits for its TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn result(name: &str, description: &str, problems: Vec<String>, ok: String) -> CheckResult {
    CheckResult {
        name: name.into(),
        description: description.into(),
        status: if problems.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        evidence: if problems.is_empty() {
            ok
        } else {
            problems.join("; ")
        },
    }
}

/// True when `p` is a file someone may execute.
fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where `program` would start from `dir`: a path with a folder in it from `dir`, a bare name on `PATH`.
pub fn find_program(program: &str, dir: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let p = dir.join(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// Problems that stop a command hook from starting: a missing working folder or program.
pub fn hook_start_problems(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for h in &plan.hooks {
        let HookAction::Command { argv, workdir, .. } = &h.action else {
            continue;
        };
        let dir = PathBuf::from(workdir.as_deref().unwrap_or("."));
        if !dir.is_dir() {
            out.push(format!(
                "hook `{}`: its working folder {} does not exist",
                h.name,
                dir.display()
            ));
            continue;
        }
        if find_program(&argv[0], &dir).is_none() {
            out.push(format!(
                "hook `{}`: program `{}` {}",
                h.name,
                argv[0],
                if argv[0].contains('/') {
                    format!("is not an executable file (from {})", dir.display())
                } else {
                    "is not found on PATH".to_string()
                }
            ));
        }
    }
    out
}

/// Opens (and closes) a TCP connection to `url`'s host and port; the error names the redacted URL.
async fn reachable(url: &str) -> std::result::Result<(), String> {
    let shown = redact_url(url);
    let u = reqwest::Url::parse(url).map_err(|e| format!("{shown}: not a URL ({e})"))?;
    let host = u
        .host_str()
        .ok_or_else(|| format!("{shown}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = u
        .port_or_known_default()
        .ok_or_else(|| format!("{shown}: no port"))?;
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{shown}: cannot connect: {e}")),
        Err(_) => Err(format!(
            "{shown}: no connection within {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Every recovery server's recovery points, newest first with their ages (the points
/// `--recovery-point` chooses from); a server with none fails, a newest point older than the
/// region-outage RPO warns.
pub async fn recovery_points(plan: &Plan, providers: &Providers) -> CheckResult {
    let rpo = plan.targets(crate::IncidentClass::RegionOutage).rpo;
    let mut status = CheckStatus::Pass;
    let mut evidence = Vec::new();
    for s in &plan.recovery_servers {
        let points = match providers.recovery(&s.provider) {
            Ok(rs) => rs.recovery_points(&s.source_server_id).await,
            Err(e) => Err(e),
        };
        match points {
            Ok(mut p) if !p.is_empty() => {
                p.sort_by_key(|x| x.age);
                if p[0].age > rpo {
                    status = status.max(CheckStatus::Warn);
                }
                let shown: Vec<String> = p
                    .iter()
                    .take(5)
                    .map(|x| format!("{} ({} old)", x.id, format_duration(x.age)))
                    .collect();
                let more = p.len().saturating_sub(5);
                evidence.push(format!(
                    "{}: {}{}",
                    s.name,
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} older")
                    } else {
                        String::new()
                    }
                ));
            }
            Ok(_) => {
                status = CheckStatus::Fail;
                evidence.push(format!("{}: no recovery point", s.name));
            }
            Err(e) => {
                status = CheckStatus::Fail;
                evidence.push(format!("{}: unknown ({e})", s.name));
            }
        }
    }
    CheckResult {
        name: "recovery-points".into(),
        description: "every recovery server's recovery points, newest first with their ages".into(),
        status,
        evidence: if evidence.is_empty() {
            "no recovery servers".into()
        } else {
            evidence.join("; ")
        },
    }
}

/// The plan's own warnings ([`Plan::warnings`]): a warning each, never a failure.
pub fn plan(plan: &Plan) -> CheckResult {
    let w = plan.warnings();
    CheckResult {
        name: "plan".into(),
        description: "the plan can do what it claims (sites in two regions, something to move)"
            .into(),
        status: if w.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Warn
        },
        evidence: if w.is_empty() {
            "no warnings".into()
        } else {
            w.join("; ")
        },
    }
}

/// Command hooks can start; HTTP and Prometheus hooks' servers take connections.
pub async fn hooks(plan: &Plan) -> CheckResult {
    let mut problems = hook_start_problems(plan);
    let urls: Vec<(&str, &str)> = plan
        .hooks
        .iter()
        .filter_map(|h| match &h.action {
            HookAction::Http { url, .. } | HookAction::Prometheus { url, .. } => {
                Some((h.name.as_str(), url.as_str()))
            }
            _ => None,
        })
        .collect();
    for (name, res) in join_all(
        urls.iter()
            .map(|(name, url)| async move { (*name, reachable(url).await) }),
    )
    .await
    {
        if let Err(e) = res {
            problems.push(format!("hook `{name}`: {e}"));
        }
    }
    let n = plan.hooks.len();
    result(
        "hooks",
        "every hook's program and working folder exist; its server takes connections",
        problems,
        if n == 0 {
            "no hooks".into()
        } else {
            format!("{n} hook(s) can start")
        },
    )
}

/// Every sink can be written or reached (nothing is sent).
pub async fn sinks(plan: &Plan, plan_dir: &Path) -> CheckResult {
    let probes = plan.notifications.iter().map(|s| async move {
        match s {
            NotificationSink::Stdout { .. } => Ok(()),
            NotificationSink::File { path, .. } => {
                let p = plan_dir.join(path);
                // The nearest folder that exists must be a writable folder (the sink creates the rest).
                let mut dir = p.parent().map(Path::to_path_buf);
                while let Some(d) = dir.clone().filter(|d| !d.exists()) {
                    dir = d.parent().map(Path::to_path_buf);
                }
                match dir.map(std::fs::metadata) {
                    Some(Ok(m)) if m.is_dir() && !m.permissions().readonly() => {
                        if p.exists()
                            && std::fs::metadata(&p).is_ok_and(|m| m.permissions().readonly())
                        {
                            Err(format!("file {}: read-only", p.display()))
                        } else {
                            Ok(())
                        }
                    }
                    _ => Err(format!("file {}: no writable folder for it", p.display())),
                }
            }
            NotificationSink::Webhook {
                url,
                url_env,
                format,
                ..
            } => match sink_url(url.as_deref(), url_env.as_deref(), *format) {
                Ok(u) => reachable(&u).await.map_err(|e| format!("webhook {e}")),
                Err(e) => Err(format!("webhook: {e}")),
            },
        }
    });
    let problems: Vec<String> = join_all(probes)
        .await
        .into_iter()
        .filter_map(|r| r.err())
        .collect();
    let n = plan.notifications.len();
    result(
        "sinks",
        "every notification sink can be written or reached (nothing is sent)",
        problems,
        if n == 0 {
            "no sinks: nobody is told of a run".into()
        } else {
            format!("{n} sink(s) reachable")
        },
    )
}

/// The estate serves whole from one site; split or unknown fails.
pub fn estate(e: &Estate) -> CheckResult {
    let mut r = result(
        "estate",
        "one writable database per pair, and DNS on the site that has it",
        match e.verdict {
            Verdict::Whole => Vec::new(),
            _ => vec![e.headline()],
        },
        e.headline(),
    );
    // A plan with no database and no record has nothing that says where it serves: a warning.
    if e.databases.is_empty() && e.dns.is_empty() && e.problems.len() == 1 {
        r.status = CheckStatus::Warn;
    }
    if r.status == CheckStatus::Pass && !e.notes.is_empty() {
        r.status = CheckStatus::Warn;
        r.evidence = format!("{}; {}", r.evidence, e.notes.join("; "));
    }
    r
}

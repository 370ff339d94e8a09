//! Validated configuration: the raw arguments checked and combined with the plan file.

use std::path::PathBuf;

use aegis_dr::{
    journal::{Operation, RunFlags},
    store::State,
    Error, IncidentClass, Plan, Result,
};

use crate::args::{Cli, Command, K8sArgs, K8sMode, OperationArg, OutputFormat, RunArgs};

/// What to do, validated.
#[derive(Debug)]
pub enum Action {
    /// `check`.
    Check,
    /// `plan` (and `--dry-run`).
    Plan {
        operation: Operation,
        class: IncidentClass,
    },
    /// `failover`, `failback`, `drill`.
    Run {
        operation: Operation,
        class: IncidentClass,
        /// Gate overrides.
        flags: RunFlags,
        /// Skip the confirmation.
        yes: bool,
        /// Resume this run.
        resume: Option<String>,
        /// Abandon this interrupted run first.
        abandon: Option<aegis_dr::orchestrator::Abandon>,
        /// True when `--class` was given.
        class_given: bool,
        /// `--recovery-point`.
        recovery_point: Option<String>,
    },
    /// `estate`.
    Estate,
    /// `drift`.
    Drift,
    /// `rollback RUN_ID` or `rollback --resume RUN_ID`.
    Rollback {
        /// The stopped run to undo.
        run_id: Option<String>,
        /// The rollback to resume.
        resume: Option<String>,
        /// Skip the confirmation.
        yes: bool,
    },
    /// `status`.
    Status(Option<String>),
    /// `report`.
    Report(Option<String>),
    /// `permissions` (and `iam-policy`): only this provider's, when given; to files in a folder.
    Permissions(Option<String>, Option<PathBuf>),
    /// `watch`.
    Watch {
        /// Leader-election identity.
        identity: String,
        /// Where `/metrics` is served.
        listen: std::net::SocketAddr,
    },
    /// `triggers test`.
    TriggersTest,
    /// `state migrate --to`.
    StateMigrate(String),
    /// `pause`, `resume`, `skip`, `approve`, `reject`.
    Control {
        /// The run.
        run_id: String,
        /// Who asks.
        by: String,
        command: aegis_dr::control::Command,
    },
}

/// Which `k8s` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sModeKind {
    Stage,
    Cutover,
    Failback,
}

#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
impl K8sModeKind {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            K8sModeKind::Stage => "stage",
            K8sModeKind::Cutover => "cutover",
            K8sModeKind::Failback => "failback",
        }
    }
}

/// One cluster of a `k8s` command.
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct ClusterRef {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: String,
}

/// A validated `k8s` command.
#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct K8sConfig {
    pub mode: K8sModeKind,
    /// Source cluster.
    pub source: ClusterRef,
    /// Destination cluster.
    pub dest: ClusterRef,
    /// Change nothing.
    pub dry_run: bool,
    /// Skip confirmation.
    pub yes: bool,
    /// Rollout timeout.
    pub timeout: std::time::Duration,
    /// `pv-migrate` flags when PVC data is migrated back.
    pub pv_migrate: Option<Vec<String>>,
}

/// The validated configuration of one invocation.
#[derive(Debug)]
pub struct Config {
    /// The plan, with `--provider` applied.
    pub plan: Plan,
    /// Folder the plan file is in (relative notification paths start there).
    pub plan_dir: PathBuf,
    /// The plan file.
    pub config_path: PathBuf,
    /// Where runs keep their state: a folder or a store.
    pub state: State,
    /// Output format.
    pub output: OutputFormat,
    /// The action.
    pub action: Action,
    /// Logs go to stderr (`--log-level` or `RUST_LOG`).
    pub logs: bool,
}

fn class(text: &str) -> Result<IncidentClass> {
    text.parse()
        .map_err(|e: String| Error::config(format!("--class: {e}")))
}

fn control_action(c: &Command) -> Result<Action> {
    use aegis_dr::control::Command as C;
    let by = |b: &Option<String>| b.clone().unwrap_or_else(aegis_dr::control::operator);
    let (run_id, by, command) = match c {
        Command::Pause {
            run_id,
            reason,
            by: b,
        } => (
            run_id,
            by(b),
            C::Pause {
                reason: reason.clone(),
            },
        ),
        Command::Resume { run_id, by: b } => (run_id, by(b), C::Resume),
        Command::Skip {
            run_id,
            step,
            reason,
            force,
            by: b,
        } => (
            run_id,
            by(b),
            C::Skip {
                step: step.as_str().into(),
                reason: reason.clone(),
                force: *force,
            },
        ),
        Command::Approve {
            run_id,
            step,
            by: b,
        } => (
            run_id,
            by(b),
            C::Approve {
                step: step.as_deref().map(Into::into),
            },
        ),
        Command::Reject {
            run_id,
            step,
            reason,
            by: b,
        } => (
            run_id,
            by(b),
            C::Reject {
                step: step.as_deref().map(Into::into),
                reason: reason.clone(),
            },
        ),
        _ => return Err(Error::config("not a control command")),
    };
    if by.trim().is_empty() {
        return Err(Error::config("--by: must not be empty"));
    }
    Ok(Action::Control {
        run_id: run_id.clone(),
        by,
        command,
    })
}

fn run_action(op: Operation, a: &RunArgs) -> Result<Action> {
    let class = class(a.class.as_deref().unwrap_or("region-outage"))?;
    // A failback given a point first relaunches the DR instances from it (the DRS backout), also
    // on a resume after a backed-out failback; a failover or drill keeps the point it started with.
    if a.recovery_point.is_some() && a.resume.is_some() && op != Operation::Failback {
        return Err(Error::config(
            "--recovery-point: a resumed failover or drill keeps the recovery point it started with",
        ));
    }
    if a.dry_run && a.resume.is_some() {
        return Err(Error::config("--dry-run and --resume cannot be combined"));
    }
    if a.dry_run {
        return Ok(Action::Plan {
            operation: op,
            class,
        });
    }
    Ok(Action::Run {
        operation: op,
        class,
        flags: RunFlags {
            accept_data_loss: a.accept_data_loss,
            force: a.force,
            primary_unreachable: a.primary_unreachable,
            ignore_checks: a.ignore_checks,
        },
        yes: a.yes,
        resume: a.resume.clone(),
        abandon: a
            .abandon
            .clone()
            .map(|run_id| aegis_dr::orchestrator::Abandon {
                run_id,
                reason: a.reason.clone().unwrap_or_default(),
            }),
        class_given: a.class.is_some(),
        recovery_point: a.recovery_point.clone(),
    })
}

fn k8s_config(mode: K8sModeKind, a: &K8sArgs, pv: Option<Vec<String>>) -> Result<K8sConfig> {
    let ns_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let dest_ns = a
        .dest_namespace
        .clone()
        .unwrap_or_else(|| a.source_namespace.clone());
    for (flag, n) in [
        ("--source-namespace", &a.source_namespace),
        ("--dest-namespace", &dest_ns),
    ] {
        if !ns_ok(n) {
            return Err(Error::config(format!(
                "{flag}: `{n}` is not a valid namespace name (lowercase letters, digits, `-`)"
            )));
        }
    }
    for (flag, p) in [
        ("--source-kubeconfig", &a.source_kubeconfig),
        ("--dest-kubeconfig", &a.dest_kubeconfig),
    ] {
        if let Some(p) = p {
            if !p.is_file() {
                return Err(Error::config(format!(
                    "{flag}: {} does not exist",
                    p.display()
                )));
            }
        }
    }
    let timeout = aegis_dr::duration::parse_duration(&a.timeout)
        .map_err(|e| Error::config(format!("--timeout: {e}")))?;
    if a.source_kubeconfig == a.dest_kubeconfig
        && a.source_context == a.dest_context
        && a.source_namespace == dest_ns
    {
        return Err(Error::config(
            "--dest-namespace: source and destination are the same cluster and namespace",
        ));
    }
    Ok(K8sConfig {
        mode,
        source: ClusterRef {
            kubeconfig: a.source_kubeconfig.clone(),
            context: a.source_context.clone(),
            namespace: a.source_namespace.clone(),
        },
        dest: ClusterRef {
            kubeconfig: a.dest_kubeconfig.clone(),
            context: a.dest_context.clone(),
            namespace: dest_ns,
        },
        dry_run: a.dry_run,
        yes: a.yes,
        timeout,
        pv_migrate: pv,
    })
}

impl Config {
    /// Validates the `k8s` command, which needs no plan file.
    pub fn k8s_from_cli(cli: &Cli) -> Result<Option<K8sConfig>> {
        let Command::K8s { mode } = &cli.command else {
            return Ok(None);
        };
        let cfg = match mode {
            K8sMode::Stage(a) => k8s_config(K8sModeKind::Stage, a, None)?,
            K8sMode::Cutover(a) => k8s_config(K8sModeKind::Cutover, a, None)?,
            K8sMode::Failback(f) => {
                if f.pv_migrate_flags.is_some() && !f.reverse_migrate_pvc_data {
                    return Err(Error::config(
                        "--pv-migrate-flags: only with --reverse-migrate-pvc-data",
                    ));
                }
                let pv = f.reverse_migrate_pvc_data.then(|| {
                    f.pv_migrate_flags
                        .as_deref()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                });
                k8s_config(K8sModeKind::Failback, &f.common, pv)?
            }
        };
        Ok(Some(cfg))
    }

    /// Validates `cli` and loads the plan it names.
    pub fn from_cli(cli: &Cli) -> Result<Config> {
        let action = match &cli.command {
            Command::Check => Action::Check,
            Command::Plan {
                operation,
                class: c,
            } => Action::Plan {
                operation: match operation {
                    OperationArg::Failover => Operation::Failover,
                    OperationArg::Failback => Operation::Failback,
                    OperationArg::Drill => Operation::Drill,
                },
                class: class(c)?,
            },
            Command::Failover(a) => run_action(Operation::Failover, a)?,
            Command::Failback(a) => run_action(Operation::Failback, a)?,
            Command::Drill(a) => run_action(Operation::Drill, a)?,
            Command::Estate => Action::Estate,
            Command::Drift => Action::Drift,
            Command::Init(_) => return Err(Error::config("init writes a plan; it reads none")),
            Command::Rollback(a) => Action::Rollback {
                run_id: a.run_id.clone(),
                resume: a.resume.clone(),
                yes: a.yes,
            },
            Command::Status { run_id } => Action::Status(run_id.clone()),
            Command::Report { run_id } => Action::Report(run_id.clone()),
            Command::Permissions { out_dir } => {
                Action::Permissions(cli.provider.clone(), out_dir.clone())
            }
            Command::IamPolicy => Action::Permissions(Some("aws".into()), None),
            Command::Watch { identity, listen } => Action::Watch {
                identity: identity
                    .clone()
                    .unwrap_or_else(aegis_dr::controller::default_identity),
                listen: match listen {
                    Some(l) => l.parse().map_err(|_| {
                        Error::config(format!("--listen: `{l}` is not an IP:PORT address"))
                    })?,
                    // Checked when the plan is loaded (below).
                    None => "0.0.0.0:0".parse().map_err(|_| Error::config("--listen"))?,
                },
            },
            Command::Triggers { .. } => Action::TriggersTest,
            Command::State {
                command: crate::args::StateCommand::Migrate { to },
            } => Action::StateMigrate(to.clone()),
            Command::Pause { .. }
            | Command::Resume { .. }
            | Command::Skip { .. }
            | Command::Approve { .. }
            | Command::Reject { .. } => control_action(&cli.command)?,
            Command::K8s { .. }
            | Command::Providers
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Schema
            | Command::Reference { .. } => return Err(Error::config("this command takes no plan")),
        };
        if cli.output == OutputFormat::Html
            && !matches!(action, Action::Plan { .. } | Action::Report(_))
        {
            return Err(Error::config(
                "--output html: only `plan` (and `--dry-run`) and `report` draw HTML",
            ));
        }
        let mut plan = Plan::load(&cli.config)?;
        let uses = |plan: &Plan, p: &str| plan.provider_names().iter().any(|n| n.as_str() == p);
        match (&action, &cli.provider) {
            // `permissions --provider P` of a plan that uses P: only P's part of it.
            (Action::Permissions(..), Some(p)) if uses(&plan, p) => {}
            // Otherwise the plan moves whole onto P (for `permissions`: what it would need there).
            (_, Some(p)) => plan = plan.with_provider(p)?,
            _ => {}
        }
        if let Some(p) = &cli.provider {
            if aegis_dr::registry::descriptor(p).is_none() {
                return Err(Error::config(format!(
                    "--provider: unknown provider `{p}` (`aegis-dr providers` lists them)"
                )));
            }
        }
        aegis_dr::registry::check_names(&plan)?;
        let mut action = action;
        if let (Action::Watch { listen, .. }, Command::Watch { listen: None, .. }) =
            (&mut action, &cli.command)
        {
            *listen = plan.watch.listen.parse().map_err(|_| {
                Error::config(format!(
                    "watch.listen: `{}` is not an IP:PORT address",
                    plan.watch.listen
                ))
            })?;
        }
        let plan_dir = cli
            .config
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        // `--state` / `AEGIS_STATE`, `--state-dir`, the plan's `[state] url` (a folder in it is
        // beside the plan), then `.aegis` beside the plan.
        let state = match (&cli.state, &cli.state_dir, &plan.state.url) {
            (Some(s), _, _) => aegis_dr::open_state(s, &plan.state)?,
            (None, Some(d), _) => State::Folder(d.clone()),
            (None, None, Some(u)) if u.contains("://") => aegis_dr::open_state(u, &plan.state)
                .map_err(|e| Error::config(format!("state.url: {}", e.message())))?,
            (None, None, Some(u)) => State::Folder(plan_dir.join(u)),
            (None, None, None) => State::Folder(plan_dir.join(".aegis")),
        };
        Ok(Config {
            plan,
            config_path: cli.config.clone(),
            plan_dir,
            state,
            output: cli.output,
            action,
            logs: cli.log_level.is_some() || std::env::var_os("RUST_LOG").is_some(),
        })
    }
}

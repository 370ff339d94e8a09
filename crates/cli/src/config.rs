//! Validated configuration: the raw arguments checked and combined with the plan file.

use std::path::PathBuf;

use aegis_dr::{
    journal::{Operation, RunFlags},
    Error, IncidentClass, Plan, Result,
};

use crate::args::{Cli, Command, OperationArg, OutputFormat, RunArgs};

/// What to do, validated.
#[derive(Debug)]
pub enum Action {
    /// `check`.
    Check,
    /// `plan` (and `--dry-run`).
    Plan {
        /// Operation.
        operation: Operation,
        /// Class.
        class: IncidentClass,
    },
    /// `failover`, `failback`, `drill`.
    Run {
        /// Operation.
        operation: Operation,
        /// Class.
        class: IncidentClass,
        /// Gate overrides.
        flags: RunFlags,
        /// Skip the confirmation.
        yes: bool,
        /// Resume this run.
        resume: Option<String>,
    },
    /// `status`.
    Status(Option<String>),
    /// `report`.
    Report(Option<String>),
}

/// The validated configuration of one invocation.
#[derive(Debug)]
pub struct Config {
    /// The plan, with `--provider` applied.
    pub plan: Plan,
    /// Folder the plan file is in (relative notification paths start there).
    pub plan_dir: PathBuf,
    /// State folder.
    pub state_dir: PathBuf,
    /// Output format.
    pub output: OutputFormat,
    /// The action.
    pub action: Action,
}

fn class(text: &str) -> Result<IncidentClass> {
    text.parse()
        .map_err(|e: String| Error::config(format!("--class: {e}")))
}

fn run_action(op: Operation, a: &RunArgs) -> Result<Action> {
    let class = class(&a.class)?;
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
    })
}

impl Config {
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
            Command::Status { run_id } => Action::Status(run_id.clone()),
            Command::Report { run_id } => Action::Report(run_id.clone()),
        };
        let mut plan = Plan::load(&cli.config)?;
        if let Some(p) = &cli.provider {
            plan = plan.with_provider(p)?;
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
        let state_dir = cli
            .state_dir
            .clone()
            .unwrap_or_else(|| plan_dir.join(".aegis"));
        Ok(Config {
            plan,
            plan_dir,
            state_dir,
            output: cli.output,
            action,
        })
    }
}

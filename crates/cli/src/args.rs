//! Raw command-line arguments, parsed by clap. `config.rs` turns them into a validated config.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Disaster-recovery failover and failback, run as a plan.
#[derive(Debug, Parser)]
#[command(
    name = "aegis-dr",
    version = env!("AEGIS_DR_VERSION"),
    about = "Disaster-recovery failover and failback across clouds, run as a plan: check, plan, failover, failback, drill.",
    propagate_version = true
)]
pub struct Cli {
    /// Plan file.
    #[arg(
        long,
        global = true,
        default_value = "aegis.toml",
        env = "AEGIS_CONFIG"
    )]
    pub config: PathBuf,
    /// Where runs keep journals, reports, locks and the simulated world: `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix`, or a folder (default: the plan's `[state] url`,
    /// else `.aegis` beside the plan).
    #[arg(long, global = true, env = "AEGIS_STATE", conflicts_with = "state_dir")]
    pub state: Option<String>,
    /// A state folder (as `--state FOLDER`).
    #[arg(long, global = true, env = "AEGIS_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Run the whole plan on this provider, overriding the plan (`sim`, `aws`, `azure`, `gcp`);
    /// for `permissions`, print only this provider's.
    #[arg(long, global = true)]
    pub provider: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Log to stderr at this level and above (`RUST_LOG` refines it per module, e.g.
    /// `aegis_dr_core::layer=debug` for every provider call); no logs without either.
    #[arg(long, global = true, value_enum)]
    pub log_level: Option<LogLevel>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Global flags only the commands that read a plan use: `k8s` and `providers` neither list them in
/// their help nor accept them on the command line.
const PLAN_FLAGS: [&str; 4] = ["config", "state", "state_dir", "provider"];

/// Commands that read no plan.
const PLANLESS: [&str; 6] = [
    "k8s",
    "providers",
    "completions",
    "man",
    "schema",
    "reference",
];

/// The command line as users see it: the plan flags hidden from the commands that read no plan
/// (what `--help`, completions and the manual page describe).
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| PLAN_FLAGS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    // A subcommand's own copy of a global flag stops the visible one propagating into it (and,
    // being global itself, the hidden copy propagates to its subcommands).
    cmd.mut_subcommands(|sc| {
        if PLANLESS.contains(&sc.get_name()) {
            sc.args(hidden.iter().cloned())
        } else {
            sc
        }
    })
}

/// Parses `argv` (exiting with clap's usage error or help as `Parser::parse_from` does); a plan flag
/// given on the command line to a command that reads no plan is a usage error.
pub fn parse(argv: Vec<std::ffi::OsString>) -> Cli {
    let mut cmd = command();
    let matches = cmd
        .try_get_matches_from_mut(argv)
        .unwrap_or_else(|e| e.exit());
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(id) = PLANLESS
            .contains(&name)
            .then(|| explicit_plan_flag(&matches).or_else(|| explicit_plan_flag(sub)))
            .flatten()
        {
            cmd.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--{}: `{name}` reads no plan and does not use it",
                    id.replace('_', "-")
                ),
            )
            .exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// The first plan flag given on the command line (not by its environment variable or default).
fn explicit_plan_flag(m: &clap::ArgMatches) -> Option<&'static str> {
    PLAN_FLAGS.into_iter().find(|id| {
        m.try_get_raw(id).is_ok_and(|v| v.is_some())
            && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    })
}

/// `aegis-dr init`'s sites, scope and output.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Both sites on AWS: the primary's region, then the DR's (`us-east-1,us-west-2`).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["primary", "dr"])]
    pub aws_regions: Vec<String>,
    /// The primary site as `PROVIDER:REGION` (with --dr), for sites on two providers.
    #[arg(long, requires = "dr")]
    pub primary: Option<String>,
    /// The DR site as `PROVIDER:REGION` (with --primary).
    #[arg(long, requires = "primary")]
    pub dr: Option<String>,
    /// Kubernetes workloads: the primary cluster's kubeconfig context, then the DR's.
    #[arg(long, value_delimiter = ',', value_name = "PRIMARY,DR")]
    pub kube_contexts: Vec<String>,
    /// Kubernetes workloads: the primary cluster's kubeconfig file, then the DR's (default:
    /// $KUBECONFIG or ~/.kube/config for both).
    #[arg(long, value_delimiter = ',', value_name = "PRIMARY,DR")]
    pub kubeconfigs: Vec<std::path::PathBuf>,
    /// A self-managed PostgreSQL pair: the variables holding the primary's and the DR's
    /// connection strings (the strings are never written; the names are, in `[discovery]`).
    #[arg(long, value_delimiter = ',', value_name = "PRIMARY_VAR,DR_VAR")]
    pub postgres_dsn_envs: Vec<String>,
    /// The variable holding the PostgreSQL password, when the connection strings have none.
    #[arg(long, value_name = "VAR", requires = "postgres_dsn_envs")]
    pub postgres_password_env: Option<String>,
    /// Only resources with this tag, `KEY=VALUE` (repeat: all must match); kept in `[discovery]`.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Only resources whose name contains this; kept in `[discovery]`.
    #[arg(long, value_name = "TEXT")]
    pub name_contains: Option<String>,
    /// The plan's name (default: the primary site's provider and region).
    #[arg(long)]
    pub name: Option<String>,
    /// Read AWS with this shared-config profile (written as `[providers.aws] profile`).
    #[arg(long)]
    pub aws_profile: Option<String>,
    /// The Azure subscription to read (written as `[providers.azure] subscription_id`).
    #[arg(long, value_name = "ID")]
    pub azure_subscription: Option<String>,
    /// Azure resource groups: the primary site's, the DR's, and optionally the one holding the
    /// Traffic Manager profiles and DNS zones (`[sites.<site>.azure]`, `[providers.azure]`).
    #[arg(long, value_delimiter = ',', value_name = "PRIMARY,DR[,SHARED]")]
    pub azure_resource_groups: Vec<String>,
    /// The GCP project to read (written as `[providers.gcp] project`).
    #[arg(long, value_name = "PROJECT")]
    pub gcp_project: Option<String>,
    /// Providers to read besides the sites' own, for resources on another cloud (a database
    /// pair on `gcp` while both sites are on `aws`); kept in `[discovery]`.
    #[arg(long, value_delimiter = ',', value_name = "PROVIDER")]
    pub also_read: Vec<String>,
    /// Print the plan on stdout instead of writing `--config`.
    #[arg(long)]
    pub stdout: bool,
    /// Overwrite `--config` when it exists.
    #[arg(long, conflicts_with = "stdout")]
    pub force: bool,
}

/// The generated pages of the book's reference (`aegis-dr reference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReferencePage {
    /// Every command and flag (`docs/src/reference/cli.md`).
    Cli,
    /// Every plan key (`docs/src/reference/plan.md`).
    Plan,
}

/// Shells `aegis-dr completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables and text for people.
    Text,
    /// One JSON document on stdout.
    Json,
    /// One self-contained HTML page on stdout (`plan` and `report` only).
    Html,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings (escalations, failed notifications, skipped steps) and errors.
    Warn,
    /// Runs, steps and retries.
    Info,
    /// Every provider call.
    Debug,
    /// Everything, the libraries' too.
    Trace,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pre-failover checks (the six a failover runs first, and the plan, hooks, sinks,
    /// recovery points and estate), exit 1 when any fails.
    Check,
    /// Show the step graph and its estimate against the RTO, without side effects.
    Plan {
        /// Which operation to plan.
        #[arg(long, value_enum, default_value_t = OperationArg::Failover)]
        operation: OperationArg,
        /// Incident class.
        #[arg(long, default_value = "region-outage")]
        class: String,
    },
    /// Fail over to the DR site.
    Failover(RunArgs),
    /// Fail back to the primary site.
    Failback(RunArgs),
    /// Failover, verify, failback: a complete drill.
    Drill(RunArgs),
    /// Undo what a stopped failover changed, in reverse, as a run of its own (journaled and
    /// resumable like any run).
    Rollback(RollbackArgs),
    /// Where each resource of the plan serves now (database roles and fences, DNS targets, pool
    /// sizes, workload replicas) and whether the estate is whole or split (exit 1 unless whole).
    Estate,
    /// Write a plan from the estate that exists: reads the sites' providers with the credentials a
    /// run uses and writes a commented plan to `--config` (never over a file without --force);
    /// what it cannot infer is a marked choice that `plan` refuses until it is made.
    Init(InitArgs),
    /// Compare the plan with the estate now (what `init` reads, in the plan's `[discovery]`
    /// scope) and list what the plan misses or names wrongly (exit 1 on drift).
    Drift,
    /// List runs, or show one run's steps.
    Status {
        /// Run id (default: list all runs).
        run_id: Option<String>,
    },
    /// Print a run's report (default: the newest run).
    Report {
        /// Run id.
        run_id: Option<String>,
    },
    /// Pause a running run: no new step starts until `resume` (running steps finish).
    Pause {
        /// Run id.
        run_id: String,
        /// Why (journaled).
        #[arg(long, default_value = "paused by the operator")]
        reason: String,
        /// Who asks (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// Let a paused run start steps again.
    Resume {
        /// Run id.
        run_id: String,
        /// Who asks (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// Skip a step of a run (stopping it if it is running); a safety step needs --force. On a run
    /// that is not running, the skip applies when it is resumed.
    Skip {
        /// Run id.
        run_id: String,
        /// Step id, as `aegis-dr status RUN_ID` shows it.
        step: String,
        /// Why (journaled, in every report).
        #[arg(long)]
        reason: String,
        /// Allow skipping a safety step (gates, fencing, backup, verification, safety hooks).
        #[arg(long)]
        force: bool,
        /// Who asks (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve a run's approval hook (default: every one waiting).
    Approve {
        /// Run id.
        run_id: String,
        /// The approval hook's step id.
        #[arg(long)]
        step: Option<String>,
        /// Who approves (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// Reject a run's approval hook (default: every one waiting): the hook fails, the run stops.
    Reject {
        /// Run id.
        run_id: String,
        /// The approval hook's step id.
        #[arg(long)]
        step: Option<String>,
        /// Why (journaled).
        #[arg(long)]
        reason: String,
        /// Who rejects (default: $USER@host).
        #[arg(long)]
        by: Option<String>,
    },
    /// The DR controller: evaluate the plan's triggers against Prometheus, run the checks
    /// periodically, act (notify, failover after approval, failover) while leader; serves
    /// `/metrics` and `/healthz`. Stops on SIGTERM or Ctrl-C.
    Watch {
        /// This replica's name in the leader election (default: $HOSTNAME and the pid).
        #[arg(long)]
        identity: Option<String>,
        /// Serve `/metrics` and `/healthz` here instead of the plan's `watch.listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    /// The plan's triggers.
    Triggers {
        /// What to do with them.
        #[command(subcommand)]
        command: TriggersCommand,
    },
    /// Where runs keep their state.
    State {
        /// What to do with it.
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print the least-privilege permissions the plan needs of each provider, in its own format
    /// (AWS: an IAM policy; Kubernetes: RBAC); `--provider P` prints only P's.
    Permissions {
        /// Write each provider's document to a file of its own in this folder
        /// (`<provider>.json`, `<provider>.yaml`) instead of stdout.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Print the AWS IAM policy the plan needs (`permissions --provider aws`).
    IamPolicy,
    /// List the providers aegis-dr knows and which this build has (no plan needed).
    Providers,
    /// Print shell completions (no plan needed): `aegis-dr completions bash >
    /// /etc/bash_completion.d/aegis-dr`, `... zsh > "${fpath[1]}/_aegis-dr"`, `... fish >
    /// ~/.config/fish/completions/aegis-dr.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print a manual page, roff (no plan needed): `aegis-dr man > aegis-dr.1; man -l aegis-dr.1`;
    /// `aegis-dr man failover` prints the page of one command (`aegis-dr-failover(1)`).
    Man {
        /// The command whose page to print (default: aegis-dr's own, which lists them all).
        command: Option<String>,
    },
    /// Print the plan file's JSON Schema (no plan needed), for TOML language servers: taplo and
    /// Even Better TOML complete and check a plan with it (`#:schema ./aegis-dr.schema.json` atop
    /// the plan, or a `[[rule]]` in `.taplo.toml`). `aegis-dr check` checks what no schema can.
    Schema,
    /// Print a page of the book's reference, Markdown, generated from this build (no plan needed):
    /// every command and flag (`cli`) or every plan key (`plan`).
    #[command(hide = true)]
    Reference {
        /// The page.
        #[arg(value_enum)]
        page: ReferencePage,
    },
    /// Move a namespace between two clusters: stage, cutover, failback (no plan file needed).
    /// DR-Syncer's `--mode=Stage|Cutover|Failback` stands for the mode.
    K8s {
        /// The mode.
        #[command(subcommand)]
        mode: K8sMode,
    },
}

/// Subcommands of `aegis-dr triggers`.
#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// Evaluate every trigger once and print its value and verdict; act on nothing.
    Test,
}

/// Subcommands of `aegis-dr state`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Copy every run (journal and reports) and the state files from this plan's state (`--state`,
    /// `--state-dir`, `[state] url`) to another: a bucket (`s3://`, `gs://`, `az://`) or a folder.
    /// Nothing is deleted; running it again finishes a copy that stopped halfway.
    Migrate {
        /// Where to copy to.
        #[arg(long, value_name = "URL_OR_FOLDER")]
        to: String,
    },
}

/// Modes of `aegis-dr k8s`.
#[derive(Debug, Subcommand)]
pub enum K8sMode {
    /// Copy Deployments, StatefulSets, ConfigMaps, Secrets, Services and Ingresses to the destination,
    /// workloads held at 0 replicas with their original counts recorded; re-running updates what changed.
    Stage(K8sArgs),
    /// Scale the destination up to the source's current counts (recorded on the source), then the source to 0.
    Cutover(K8sArgs),
    /// Scale the destination to 0 and the source back to its recorded counts; clear the annotations.
    Failback(K8sFailbackArgs),
}

/// Clusters and namespaces of `aegis-dr k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Kubeconfig of the source (production) cluster (default: KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub source_kubeconfig: Option<PathBuf>,
    /// Kubeconfig of the destination (DR) cluster.
    #[arg(long)]
    pub dest_kubeconfig: Option<PathBuf>,
    /// Context in the source kubeconfig.
    #[arg(long)]
    pub source_context: Option<String>,
    /// Context in the destination kubeconfig.
    #[arg(long)]
    pub dest_context: Option<String>,
    /// Namespace at the source.
    #[arg(long)]
    pub source_namespace: String,
    /// Namespace at the destination (default: the source namespace).
    #[arg(long)]
    pub dest_namespace: Option<String>,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required off a terminal for cutover and failback).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How long to wait for each rollout.
    #[arg(long, default_value = "10m")]
    pub timeout: String,
}

/// Flags of `aegis-dr k8s failback`.
#[derive(Debug, Args)]
pub struct K8sFailbackArgs {
    /// Clusters and namespaces.
    #[command(flatten)]
    pub common: K8sArgs,
    /// Migrate PVC data from the destination back to the source with `pv-migrate` first
    /// (`--reverse-migrate-pvc-data=true|false` as DR-Syncer writes it is accepted too).
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub reverse_migrate_pvc_data: bool,
    /// Extra flags for `pv-migrate` (one string, split on whitespace).
    #[arg(long, allow_hyphen_values = true)]
    pub pv_migrate_flags: Option<String>,
}

/// Operations for `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    Failover,
    Failback,
    Drill,
}

/// Flags of `failover`, `failback` and `drill`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Incident class: region-outage (default), database-corruption, network-partition,
    /// compute-failure. A failback takes the class of the failover it undoes.
    #[arg(long)]
    pub class: Option<String>,
    /// Promote even when replication lag exceeds the class's RPO.
    #[arg(long)]
    pub accept_data_loss: bool,
    /// Run even when the estimate exceeds the RTO (failback: before the primary is stable).
    #[arg(long)]
    pub force: bool,
    /// The primary site is down: fail over without draining or fencing it.
    #[arg(long)]
    pub primary_unreachable: bool,
    /// Proceed although pre-failover checks fail.
    #[arg(long)]
    pub ignore_checks: bool,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Only show what would run (same as `plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Launch the recovery servers from this recovery point instead of their newest: an RFC 3339
    /// time (each server's newest point taken at or before it) or a recovery snapshot id. On
    /// `failback` (also with `--resume` after a backed-out failback): first relaunch the DR
    /// recovery instances from it, replacing the ones there, then fail back.
    #[arg(long, value_name = "TIME|ID")]
    pub recovery_point: Option<String>,
    /// Continue a run that was interrupted.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Give up on an interrupted run (journaled in it, with --reason) and start a new one.
    #[arg(
        long,
        value_name = "RUN_ID",
        requires = "reason",
        conflicts_with = "resume"
    )]
    pub abandon: Option<String>,
    /// Why the run given to --abandon is given up on.
    #[arg(long, requires = "abandon")]
    pub reason: Option<String>,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The stopped failover (or drill stopped in its failover phase) to undo.
    #[arg(required_unless_present = "resume")]
    pub run_id: Option<String>,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Continue a rollback that stopped.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "run_id")]
    pub resume: Option<String>,
}

//! The subcommands: each takes the validated config, prints its result and returns the exit code.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::Path,
    sync::Arc,
};

use aegis_dr::{
    checks::{overall, run_checks, CheckStatus},
    clock::Clock,
    duration::format_duration,
    journal::{Operation, RunStatus},
    notify::Notifier,
    orchestrator::{Orchestrator, PlanPreview, RunRequest},
    report::Report,
    store::State,
    Error, ErrorKind, Result,
};
use serde_json::json;

use crate::{
    args::OutputFormat,
    config::{Action, Config},
    progress::{LiveProgress, PlainProgress},
};

/// `println!` that ends the process quietly when stdout is closed (`aegis-dr plan | head`), as a
/// Unix tool does on SIGPIPE, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}
pub(crate) use outln;

/// Exit codes.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An operation or check failed.
    pub const FAILED: u8 = 1;
    /// Usage or config error.
    pub const USAGE: u8 = 2;
    /// Refused by a safety gate.
    pub const REFUSED: u8 = 3;
}

/// The exit code for an error.
pub fn code_for(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Config => exit::USAGE,
        ErrorKind::Refused => exit::REFUSED,
        _ => exit::FAILED,
    }
}

pub(crate) fn print_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    if serde_json::to_writer_pretty(&mut out, v).is_err() || writeln!(out).is_err() {
        std::process::exit(0);
    }
}

/// Runs the configured action.
pub async fn run(cfg: Config) -> Result<u8> {
    match &cfg.action {
        Action::Check => check(&cfg).await,
        Action::Plan { operation, class } => plan(&cfg, *operation, *class).await,
        Action::Run { .. } => run_operation(&cfg).await,
        Action::Estate => crate::estate::estate(&cfg).await,
        Action::Drift => crate::init::drift(&cfg).await,
        Action::Rollback {
            run_id,
            resume,
            yes,
        } => rollback(&cfg, run_id.as_deref(), resume.as_deref(), *yes).await,
        Action::Status(id) => status(&cfg, id.as_deref()).await,
        Action::Report(id) => report(&cfg, id.as_deref()),
        Action::Permissions(only, out_dir) => {
            permissions(&cfg, only.as_deref(), out_dir.as_deref())
        }
        Action::Control {
            run_id,
            by,
            command,
        } => control(&cfg, run_id, by, command.clone()),
        Action::Watch { identity, listen } => crate::watch::watch(&cfg, identity, *listen).await,
        Action::TriggersTest => {
            crate::watch::triggers_test(&cfg, cfg.output == OutputFormat::Json).await
        }
        Action::StateMigrate(to) => crate::state::migrate(&cfg, to),
    }
}

/// `aegis-dr pause|resume|skip|approve|reject`: hands the request to the run.
fn control(
    cfg: &Config,
    run_id: &str,
    by: &str,
    command: aegis_dr::control::Command,
) -> Result<u8> {
    use aegis_dr::control::Delivery;
    let what = command.describe();
    let delivery = aegis_dr::control::send(&cfg.state, run_id, by, command)?;
    let how = match delivery {
        Delivery::Live => "sent to the running run (it journals it within a second)".to_string(),
        Delivery::Journaled => format!(
            "journaled in the stopped run: it applies when the run is resumed (`--resume {run_id}`)"
        ),
    };
    match cfg.output {
        OutputFormat::Json => print_json(&json!({
            "run_id": run_id,
            "request": what,
            "by": by,
            "delivery": match delivery { Delivery::Live => "live", Delivery::Journaled => "journaled" },
        })),
        OutputFormat::Text | OutputFormat::Html => outln!("{run_id}: {what}: {how}"),
    }
    Ok(exit::OK)
}

/// `aegis-dr permissions` (and `iam-policy`): each provider's least-privilege document on stdout,
/// what it cannot scope on stderr.
fn permissions(cfg: &Config, only: Option<&str>, out_dir: Option<&Path>) -> Result<u8> {
    let all = aegis_dr::permissions_for(&cfg.plan, only)?;
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        for (name, p) in &all {
            let json = serde_json::from_str::<serde_json::Value>(&p.document).is_ok();
            let ext = if json {
                "json"
            } else if p.format.ends_with("SQL") {
                "sql"
            } else {
                "yaml"
            };
            let file = dir.join(format!("{name}.{ext}"));
            aegis_dr::write_atomic(&file, p.document.as_bytes())?;
            outln!("{name}: {} -> {}", p.format, file.display());
            for note in &p.notes {
                eprintln!("note: {name}: {note}");
            }
        }
        return Ok(exit::OK);
    }
    // Documents of different formats are never run together on stdout.
    if all.len() > 1 && cfg.output != OutputFormat::Json {
        let which: Vec<String> = all
            .iter()
            .map(|(n, p)| format!("{n}: {}", p.format))
            .collect();
        return Err(Error::config(format!(
            "the plan needs the permissions of {} providers ({}): print one with `--provider P`, write a file each with `--out-dir DIR`, or all as one JSON document with `--output json`",
            all.len(),
            which.join("; ")
        )));
    }
    if all.is_empty() {
        eprintln!(
            "note: the plan runs on the simulated estate only: no provider permissions are needed"
        );
    }
    match cfg.output {
        OutputFormat::Json => print_json(&json!({
            "plan": cfg.plan.name,
            "providers": all.iter().map(|(name, p)| json!({
                "provider": name.as_str(),
                "format": p.format,
                // JSON documents stay JSON; others (RBAC YAML) are text.
                "document": serde_json::from_str::<serde_json::Value>(&p.document)
                    .unwrap_or_else(|_| json!(p.document)),
                "notes": p.notes,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Text | OutputFormat::Html => {
            for (name, p) in &all {
                outln!("{}", p.document.trim_end());
                for note in &p.notes {
                    eprintln!("note: {name}: {note}");
                }
            }
        }
    }
    Ok(exit::OK)
}

/// `aegis-dr providers`: every provider aegis-dr knows, and whether this build has it.
pub fn providers(output: OutputFormat) -> Result<u8> {
    use aegis_dr::registry::{Implementation, REGISTRY};
    let state = |i: &Implementation| match i {
        Implementation::Simulated | Implementation::Backend(_) => "built in",
        Implementation::FeatureOff => "not in this build",
    };
    match output {
        OutputFormat::Json => print_json(&json!(REGISTRY
            .iter()
            .map(|d| json!({
                "name": d.name,
                "feature": d.feature,
                "available": state(&d.implementation) == "built in",
                "state": state(&d.implementation),
                "serves": d.serves,
            }))
            .collect::<Vec<_>>())),
        OutputFormat::Text | OutputFormat::Html => {
            outln!(
                "{:<11} {:<18} {:<11} SERVES",
                "PROVIDER",
                "STATE",
                "FEATURE"
            );
            for d in REGISTRY {
                outln!(
                    "{:<11} {:<18} {:<11} {}",
                    d.name,
                    state(&d.implementation),
                    d.feature.unwrap_or("-"),
                    d.serves
                );
            }
        }
    }
    Ok(exit::OK)
}

/// `aegis-dr k8s stage|cutover|failback`.
#[cfg(feature = "kubernetes")]
pub async fn k8s(k: crate::config::K8sConfig, output: OutputFormat) -> Result<u8> {
    use crate::config::K8sModeKind;
    use aegis_dr::kubernetes::{
        client_for,
        migration::{Endpoint, Migration, PvMigrate},
    };
    if k.mode != K8sModeKind::Stage && !k.dry_run && !k.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::refused(format!(
                "`k8s {}` scales production workloads and needs confirmation: pass --yes when not running on a terminal",
                k.mode.as_str()
            )));
        }
        eprint!("This runs `k8s {}` from namespace `{}` to `{}`. Type the destination namespace to confirm: ", k.mode.as_str(), k.source.namespace, k.dest.namespace);
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::io("stdin", e))?;
        if line.trim() != k.dest.namespace {
            return Err(Error::refused(
                "confirmation did not match: nothing was done",
            ));
        }
    }
    let endpoint = |c: &crate::config::ClusterRef, what: &'static str| {
        let c = c.clone();
        async move {
            Ok::<_, Error>(Endpoint {
                client: client_for(c.kubeconfig.as_deref(), c.context.as_deref(), what).await?,
                namespace: c.namespace.clone(),
                kubeconfig: c.kubeconfig.clone(),
                context: c.context.clone(),
            })
        }
    };
    let migration = Migration {
        source: endpoint(&k.source, "--source-kubeconfig").await?,
        dest: endpoint(&k.dest, "--dest-kubeconfig").await?,
        dry_run: k.dry_run,
        timeout: k.timeout,
        clock: Clock::new(),
    };
    let pv = k.pv_migrate.clone().map(|flags| PvMigrate { flags });
    let actions = match k.mode {
        K8sModeKind::Stage => migration.stage().await?,
        K8sModeKind::Cutover => migration.cutover().await?,
        K8sModeKind::Failback => migration.failback(pv.as_ref()).await?,
    };
    match output {
        OutputFormat::Json => print_json(&json!({
            "operation": format!("k8s-{}", k.mode.as_str()),
            "status": "succeeded",
            "dry_run": k.dry_run,
            "source": { "kubeconfig": k.source.kubeconfig, "context": k.source.context, "namespace": k.source.namespace },
            "dest": { "kubeconfig": k.dest.kubeconfig, "context": k.dest.context, "namespace": k.dest.namespace },
            "actions": actions,
        })),
        OutputFormat::Text | OutputFormat::Html => {
            outln!(
                "k8s {}{}: {} -> {}",
                k.mode.as_str(),
                if k.dry_run {
                    " (dry run: nothing changed)"
                } else {
                    ""
                },
                k.source.namespace,
                k.dest.namespace
            );
            for a in &actions {
                let reps = a
                    .replicas
                    .map(|(f, t)| format!(" {f} -> {t}"))
                    .unwrap_or_default();
                outln!(
                    "  {:<6} {:<11} {:<14} {}{reps}{}",
                    a.side,
                    a.action,
                    a.kind,
                    a.name,
                    a.note
                        .as_ref()
                        .map(|n| format!("  ({n})"))
                        .unwrap_or_default()
                );
            }
            if actions.is_empty() {
                outln!("  nothing to do");
            }
        }
    }
    Ok(exit::OK)
}

async fn orchestrator(cfg: &Config) -> Result<Orchestrator> {
    let clock = Clock::new();
    let providers = aegis_dr::providers_for(&cfg.plan, &cfg.state, clock).await?;
    let mut notifier = Notifier::new(
        cfg.plan.notifications.clone(),
        cfg.plan_dir.clone(),
        cfg.output == OutputFormat::Json,
    );
    let live = (!cfg.logs && std::io::stderr().is_terminal())
        .then(|| Arc::new(LiveProgress::stderr(clock)));
    // The stdout sink writes around the live display, never into a progress line.
    if let Some(live) = live.clone() {
        let json = cfg.output == OutputFormat::Json;
        notifier = notifier.with_printer(Arc::new(move |line: &str| {
            live.suspend(|| {
                if json {
                    std::io::stderr().write_all(line.as_bytes())
                } else {
                    std::io::stdout().write_all(line.as_bytes())
                }
            })
        }));
    }
    let mut o = Orchestrator::new(cfg.plan.clone(), providers, cfg.state.clone())
        .with_clock(clock)
        .with_interrupt(crate::estate::interrupt_channel())
        .with_notifier(notifier);
    // Logs carry the same facts as progress lines: with logs on, no progress beside them.
    if !cfg.logs {
        if let Some(live) = live {
            o = o.with_progress(live);
        } else {
            o = o.with_progress(Arc::new(PlainProgress::stderr(clock)));
        }
    }
    Ok(o)
}

async fn check(cfg: &Config) -> Result<u8> {
    let providers = aegis_dr::providers_for(&cfg.plan, &cfg.state, Clock::new()).await?;
    let clock = Clock::new();
    let mut results = run_checks(&cfg.plan, &providers, &clock).await;
    // Beside the runbook's six: can every hook start and every sink be reached, is the estate whole.
    let (hooks, sinks, estate) = tokio::join!(
        aegis_dr::readiness::hooks(&cfg.plan),
        aegis_dr::readiness::sinks(&cfg.plan, &cfg.plan_dir),
        aegis_dr::estate::read(&cfg.plan, &providers, &clock)
    );
    results.extend([
        aegis_dr::readiness::recovery_points(&cfg.plan, &providers).await,
        aegis_dr::readiness::plan(&cfg.plan),
        hooks,
        sinks,
        aegis_dr::readiness::estate(&estate),
    ]);
    let status = overall(&results);
    match cfg.output {
        OutputFormat::Json => print_json(
            &json!({ "plan": cfg.plan.name, "status": status.as_str(), "checks": results }),
        ),
        OutputFormat::Text | OutputFormat::Html => {
            outln!("Pre-failover checks for plan `{}`\n", cfg.plan.name);
            outln!("{:<20} {:<6} EVIDENCE", "CHECK", "STATUS");
            for r in &results {
                outln!(
                    "{:<20} {:<6} {}",
                    r.name,
                    r.status.as_str().to_uppercase(),
                    r.evidence
                );
            }
            outln!("\noverall: {}", status.as_str().to_uppercase());
        }
    }
    Ok(if status == CheckStatus::Fail {
        exit::FAILED
    } else {
        exit::OK
    })
}

fn preview_json(plan: &aegis_dr::Plan, p: &PlanPreview) -> serde_json::Value {
    json!({
        "run_id": null,
        "operation": p.operation.as_str(),
        "class": p.class.as_str(),
        "status": "planned",
        "targets": { "rto_seconds": p.targets.rto.as_secs_f64(), "rpo_seconds": p.targets.rpo.as_secs_f64() },
        "achieved": { "rto_seconds": null, "rpo_seconds": null },
        "estimate_seconds": p.estimate.total.as_secs_f64(),
        "within_rto": p.estimate.total <= p.targets.rto,
        "critical_path": p.estimate.critical_path,
        "steps": p.graph.steps.iter().map(|s| json!({
            "id": s.id,
            "title": s.title,
            "deps": s.deps,
            "kind": s.kind,
            "estimate_seconds": p.estimate.steps.get(&s.id).map(|d| d.as_secs_f64()),
            "touches": aegis_dr::orchestrator::touches(plan, &s.kind),
        })).collect::<Vec<_>>(),
    })
}

async fn plan(cfg: &Config, operation: Operation, class: aegis_dr::IncidentClass) -> Result<u8> {
    // No provider is built: the preview reads no cloud, kubeconfig or simulated world, writes nothing.
    // A failback is shown as it would run: under the class of the failover it undoes.
    let class = match operation {
        Operation::Failback => {
            aegis_dr::runs::failback_class(&cfg.state, &cfg.plan.name).map_or(class, |(c, _)| c)
        }
        _ => class,
    };
    for w in cfg.plan.warnings() {
        eprintln!("warning: {w}");
    }
    for p in aegis_dr::readiness::hook_start_problems(&cfg.plan) {
        eprintln!("warning: {p}: the run would fail at that hook");
    }
    let estimates = aegis_dr::plan_estimates(&cfg.plan);
    let p = aegis_dr::orchestrator::preview(&cfg.plan, &estimates, operation, class);
    match cfg.output {
        OutputFormat::Json => print_json(&preview_json(&cfg.plan, &p)),
        OutputFormat::Html => outln!("{}", aegis_dr::report::plan_html(&cfg.plan.name, &p)),
        OutputFormat::Text => {
            outln!(
                "{} plan for `{}` ({}), dry run: nothing is changed\n",
                operation.as_str(),
                cfg.plan.name,
                class
            );
            outln!("{:<36} {:>10}  AFTER", "STEP", "ESTIMATE");
            for s in &p.graph.steps {
                let est = p.estimate.steps.get(&s.id).copied().unwrap_or_default();
                let crit = if p.estimate.critical_path.contains(&s.id) {
                    "*"
                } else {
                    " "
                };
                outln!(
                    "{crit}{:<35} {:>10}  {}",
                    s.id,
                    format_duration(est),
                    s.deps.join(", ")
                );
                outln!("    {}", s.title);
                for t in aegis_dr::orchestrator::touches(&cfg.plan, &s.kind) {
                    outln!(
                        "      {}: {} ({})",
                        t.provider,
                        t.resource,
                        t.operations.join(", ")
                    );
                }
            }
            outln!(
                "\nestimate {} (critical path marked *) against RTO {}: {}; RPO {}",
                format_duration(p.estimate.total),
                format_duration(p.targets.rto),
                if p.estimate.total <= p.targets.rto {
                    "within target"
                } else {
                    "EXCEEDS the RTO (refused without --force)"
                },
                format_duration(p.targets.rpo)
            );
        }
    }
    Ok(exit::OK)
}

/// Asks for confirmation on a terminal; refuses without one.
fn confirm(cfg: &Config, operation: Operation, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::refused(format!(
            "`{}` changes production and needs confirmation: pass --yes when not running on a terminal",
            operation.as_str()
        )));
    }
    eprint!(
        "This runs a {} of plan `{}` against provider `{}`. Type the plan name to confirm: ",
        operation.as_str(),
        cfg.plan.name,
        cfg.plan.dr.provider.as_str()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("stdin", e))?;
    if line.trim() == cfg.plan.name {
        Ok(())
    } else {
        Err(Error::refused(format!(
            "confirmation did not match `{}`: nothing was done",
            cfg.plan.name
        )))
    }
}

async fn run_operation(cfg: &Config) -> Result<u8> {
    let Action::Run {
        operation,
        class,
        flags,
        yes,
        resume,
        abandon,
        class_given,
        recovery_point,
    } = &cfg.action
    else {
        return Ok(exit::USAGE);
    };
    if *operation == Operation::Failback && *class_given && resume.is_none() {
        if let Some((undone, failover)) = aegis_dr::runs::failback_class(&cfg.state, &cfg.plan.name)
        {
            if undone != *class {
                return Err(Error::config(format!(
                    "--class: the failback undoes failover {failover} of class {undone}, not {class}: drop --class (a failback always takes its failover's class)"
                )));
            }
        }
    }
    confirm(cfg, *operation, *yes)?;
    let o = orchestrator(cfg)
        .await?
        .with_recovery_point(recovery_point.clone());
    let outcome = o
        .run(RunRequest {
            operation: *operation,
            class: *class,
            flags: *flags,
            resume: resume.clone(),
            abandon: abandon.clone(),
        })
        .await?;
    Ok(print_outcome(cfg, &outcome))
}

/// `aegis-dr rollback RUN_ID` (or `--resume` of a rollback).
async fn rollback(
    cfg: &Config,
    run_id: Option<&str>,
    resume: Option<&str>,
    yes: bool,
) -> Result<u8> {
    confirm(cfg, Operation::Rollback, yes)?;
    let o = orchestrator(cfg).await?;
    let outcome = match (run_id, resume) {
        (_, Some(id)) => {
            o.run(RunRequest {
                operation: Operation::Rollback,
                class: aegis_dr::IncidentClass::RegionOutage,
                flags: Default::default(),
                resume: Some(id.to_string()),
                abandon: None,
            })
            .await?
        }
        (Some(id), None) => o.rollback(id).await?,
        (None, None) => return Err(Error::config("rollback: name the run to undo")),
    };
    Ok(print_outcome(cfg, &outcome))
}

/// Prints a run's report (and the rollback's that followed it) and what a stop leaves; the exit
/// code is the run's (a rollback that then succeeded does not make a failed failover succeed).
fn print_outcome(cfg: &Config, outcome: &aegis_dr::orchestrator::RunOutcome) -> u8 {
    let r = &outcome.report;
    match cfg.output {
        OutputFormat::Json => {
            let mut doc = serde_json::to_value(r).unwrap_or_default();
            if let Some(rb) = &outcome.rollback {
                doc["rollback"] = serde_json::to_value(&rb.report).unwrap_or_default();
            }
            print_json(&doc)
        }
        OutputFormat::Text | OutputFormat::Html => {
            outln!("{}", r.to_markdown());
            if outcome.report_written {
                outln!(
                    "report: {}",
                    cfg.state.report_location(&r.run_id, "report.md")
                );
            }
        }
    }
    let Some(e) = &outcome.error else {
        return exit::OK;
    };
    match &outcome.rollback {
        None => crate::estate::print_stop(cfg, r, e, outcome.stopped.as_ref()),
        Some(rb) => {
            eprintln!("error: {e}");
            eprintln!(
                "run {} stopped; the plan's on_failure = rollback ran rollback {}:",
                r.run_id, rb.report.run_id
            );
            if cfg.output != OutputFormat::Json {
                outln!("{}", rb.report.to_markdown());
            }
            match &rb.error {
                None => eprintln!("rollback {} succeeded.", rb.report.run_id),
                Some(rbe) => crate::estate::print_stop(cfg, &rb.report, rbe, rb.stopped.as_ref()),
            }
        }
    }
    code_for(e)
}

/// `aegis-dr` with the global flags that find this plan and its state from any directory (on
/// any machine, for a state in a store).
pub(crate) fn invocation(cfg: &Config) -> String {
    let quote = |t: String| {
        if t.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
            format!("'{}'", t.replace('\'', "'\\''"))
        } else {
            t
        }
    };
    let abs = |p: &Path| {
        quote(
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string(),
        )
    };
    let state = match &cfg.state {
        State::Folder(dir) => format!("--state-dir {}", abs(dir)),
        shared => format!("--state {}", quote(shared.to_string())),
    };
    format!("aegis-dr --config {} {state}", abs(&cfg.config_path))
}

/// How to continue (or give up on) a run that did not finish.
fn resume_hint(cfg: &Config, r: &Report) -> String {
    format!(
        "{} {} --resume {} --yes",
        invocation(cfg),
        r.operation,
        r.run_id
    )
}

fn find_run(cfg: &Config, id: Option<&str>) -> Result<Report> {
    let Some(id) = id else {
        return aegis_dr::runs::try_list(&cfg.state)?
            .into_iter()
            .rev()
            .find_map(|r| r.run().map(aegis_dr::runs::Listed::report))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no runs in {}", cfg.state)));
    };
    if !aegis_dr::runs::is_run_id(id) {
        return Err(Error::config(format!("`{id}` is not a run id")));
    }
    if !aegis_dr::runs::exists(&cfg.state, id) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no run `{id}` in {}", cfg.state),
        )
        .with_resource(id.to_string()));
    }
    match aegis_dr::runs::read(&cfg.state, id).read {
        aegis_dr::runs::RunRead::Run(r) => Ok(r.report()),
        aegis_dr::runs::RunRead::Corrupt(e) => Err(Error::new(
            ErrorKind::Io,
            format!("run `{id}` cannot be read: {e}"),
        )
        .with_resource(id.to_string())),
        aegis_dr::runs::RunRead::NoJournal => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "run `{id}` has no journal: it was killed before its first step, so nothing ran (its folder is removed by the next run)"
            ),
        )
        .with_resource(id.to_string())),
    }
}

async fn status(cfg: &Config, id: Option<&str>) -> Result<u8> {
    if let Some(id) = id {
        let r = find_run(cfg, Some(id))?;
        match cfg.output {
            OutputFormat::Json => print_json(&serde_json::to_value(&r).unwrap_or_default()),
            OutputFormat::Text | OutputFormat::Html => {
                outln!(
                    "run {} ({} {}, plan {}): {}",
                    r.run_id,
                    r.operation,
                    r.class,
                    r.plan,
                    r.status.as_str()
                );
                if let Some(a) = &r.abandoned {
                    outln!("{a}");
                }
                if let Some(e) = &r.error {
                    outln!("error: {}", e.message);
                }
                outln!("\n  {:<10} {:<34} OUTCOME", "STATUS", "STEP");
                for s in &r.steps {
                    let outcome = s
                        .summary
                        .clone()
                        .or_else(|| s.errors.last().map(|e| format!("error: {}", e.message)))
                        .unwrap_or_default();
                    let flag = if s.forced_skip {
                        "SAFETY STEP SKIPPED (--force): "
                    } else {
                        ""
                    };
                    // A step "running" in a run whose process is gone is running no more.
                    let state = match (r.status, s.status) {
                        (
                            RunStatus::Interrupted | RunStatus::Failed | RunStatus::Refused,
                            aegis_dr::report::StepStatus::Running,
                        ) => "cut-off".to_string(),
                        _ => format!("{:?}", s.status).to_lowercase(),
                    };
                    outln!("  {:<10} {:<34} {flag}{}", state, s.id, outcome);
                }
                for p in &r.pauses {
                    match p.to_seconds {
                        Some(_) => {}
                        None => outln!(
                            "
paused by {} (`aegis-dr resume {}`)",
                            p.by,
                            r.run_id
                        ),
                    }
                }
                if matches!(
                    r.status,
                    RunStatus::Interrupted | RunStatus::Failed | RunStatus::Refused
                ) {
                    outln!("\ncontinue it with: {}", resume_hint(cfg, &r));
                    if let Some(w) = r.ways_out() {
                        outln!(
                            "or go back to {}: {}",
                            w.back_to,
                            w.back.replacen("aegis-dr", &invocation(cfg), 1)
                        );
                    }
                }
            }
        }
        return Ok(exit::OK);
    }
    let all = aegis_dr::runs::try_list(&cfg.state)?;
    // Where the estate serves now, beside the runs (what `aegis-dr estate` shows).
    let estate = match aegis_dr::providers_for(&cfg.plan, &cfg.state, Clock::new()).await {
        Ok(p) => Ok(aegis_dr::estate::read(&cfg.plan, &p, &Clock::new()).await),
        Err(e) => Err(e.to_string()),
    };
    match cfg.output {
        OutputFormat::Json => print_json(&json!({
            "estate": match &estate {
                Ok(e) => json!({ "verdict": e.verdict, "headline": e.headline(), "detail": e }),
                Err(err) => json!({ "verdict": "unknown", "error": err }),
            },
            "runs": all.iter().map(|rec| match &rec.read {
            aegis_dr::runs::RunRead::Run(r) => {
                let r = r.report();
                json!({
                "run_id": r.run_id, "operation": r.operation, "class": r.class, "status": r.status.as_str(),
                "started_at": r.started_at, "duration_seconds": r.duration_seconds,
                "achieved": r.achieved,
                })
            }
            aegis_dr::runs::RunRead::Corrupt(e) => json!({
                "run_id": rec.run_id, "status": "unreadable", "error": e,
            }),
            aegis_dr::runs::RunRead::NoJournal => json!({
                "run_id": rec.run_id, "status": "no-journal",
                "error": "killed before its first step: nothing ran",
            }),
        }).collect::<Vec<_>>() })),
        OutputFormat::Text | OutputFormat::Html => {
            let estate_line = match &estate {
                Ok(e) => format!("estate now: {}", e.headline()),
                Err(err) => format!("estate now: UNKNOWN (not read: {err})"),
            };
            if all.is_empty() {
                outln!("no runs in {}", cfg.state);
                outln!("\n{estate_line}");
                return Ok(exit::OK);
            }
            outln!(
                "{:<40} {:<9} {:<20} {:<11} {:<24} DURATION",
                "RUN",
                "OPERATION",
                "CLASS",
                "STATUS",
                "STARTED"
            );
            for rec in &all {
                match &rec.read {
                    aegis_dr::runs::RunRead::Run(r) => {
                        let r = &r.report();
                        let paused = r.status == RunStatus::Running
                            && r.pauses.last().is_some_and(|p| p.to_seconds.is_none());
                        outln!(
                            "{:<40} {:<9} {:<20} {:<11} {:<24} {}",
                            r.run_id,
                            r.operation,
                            r.class,
                            if paused { "paused" } else { r.status.as_str() },
                            r.started_at,
                            format_duration(std::time::Duration::from_secs_f64(
                                r.duration_seconds.max(0.0)
                            ))
                        );
                        if r.status == RunStatus::Interrupted {
                            outln!("  interrupted: continue it with: {}", resume_hint(cfg, r));
                        }
                    }
                    aegis_dr::runs::RunRead::Corrupt(e) => {
                        outln!("{:<40} UNREADABLE: {e}", rec.run_id)
                    }
                    aegis_dr::runs::RunRead::NoJournal => outln!(
                        "{:<40} NO JOURNAL: killed before its first step, nothing ran",
                        rec.run_id
                    ),
                }
            }
            outln!("\n{estate_line}");
        }
    }
    Ok(exit::OK)
}

fn report(cfg: &Config, id: Option<&str>) -> Result<u8> {
    let r = find_run(cfg, id)?;
    match cfg.output {
        OutputFormat::Json => print_json(&serde_json::to_value(&r).unwrap_or_default()),
        OutputFormat::Html => outln!("{}", r.to_html()),
        OutputFormat::Text => outln!("{}", r.to_markdown()),
    }
    Ok(exit::OK)
}

//! `aegis-dr estate`, what a stopped run says of the estate, and the signals that stop a run.

use aegis_dr::{
    clock::Clock,
    estate::Verdict,
    journal::RunStatus,
    orchestrator::stop::{ways_out, Stopped},
    report::Report,
    Error, Result,
};
use serde_json::json;

use crate::{
    args::OutputFormat,
    commands::{exit, invocation, outln, print_json},
    config::Config,
};

/// `aegis-dr estate`: every resource's state now, the verdict and the plan's last run; exit 0 only
/// when the estate is whole.
pub async fn estate(cfg: &Config) -> Result<u8> {
    let providers = aegis_dr::providers_for(&cfg.plan, &cfg.state, Clock::new()).await?;
    let e = aegis_dr::estate::read(&cfg.plan, &providers, &Clock::new()).await;
    let last = aegis_dr::runs::of_plan(&cfg.state, &cfg.plan.name)
        .pop()
        .map(|r| r.report());
    match cfg.output {
        OutputFormat::Json => print_json(&json!({
            "plan": cfg.plan.name,
            "estate": e,
            "headline": e.headline(),
            "last_run": last.as_ref().map(|r| json!({
                "run_id": r.run_id, "operation": r.operation, "status": r.status.as_str(),
                "started_at": r.started_at,
            })),
        })),
        OutputFormat::Text | OutputFormat::Html => {
            outln!("Estate of plan `{}`, read now\n", cfg.plan.name);
            for line in e.lines() {
                outln!("  {line}");
            }
            if let Some(r) = &last {
                outln!(
                    "\nlast run: {} ({} {}, {})",
                    r.run_id,
                    r.operation,
                    r.class,
                    r.status.as_str()
                );
            }
            outln!("\n{}", e.headline());
            for n in &e.notes {
                outln!("note: {n}");
            }
        }
    }
    Ok(if e.verdict == Verdict::Whole {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// What a run that stopped before its end says on stderr: why, what serves now, and both ways out.
pub fn print_stop(cfg: &Config, r: &Report, error: &Error, stopped: Option<&Stopped>) {
    eprintln!("error: {error}");
    let what = match r.status {
        RunStatus::Interrupted => "was interrupted",
        RunStatus::Refused => "was refused",
        _ => "failed",
    };
    eprintln!("run {} {what}.", r.run_id);
    match stopped.map(|s| &s.estate) {
        Some(e) => {
            eprintln!("what serves now: {}", e.headline());
            for line in e.lines() {
                eprintln!("  {line}");
            }
            for n in &e.notes {
                eprintln!("  note: {n}");
            }
            if !stopped.is_some_and(|s| s.changed) {
                eprintln!("nothing was changed.");
                // An interrupted run blocks new runs until it is resumed or given up on.
                if r.status == RunStatus::Interrupted {
                    let inv = invocation(cfg);
                    eprintln!(
                        "continue it with: {inv} {} --resume {} --yes",
                        r.operation, r.run_id
                    );
                    eprintln!(
                        "or give up on it with: {inv} {} --abandon {} --reason \"...\" --yes",
                        r.operation, r.run_id
                    );
                }
                return;
            }
        }
        None => eprintln!("what serves now: not read"),
    }
    let w = r.ways_out().unwrap_or_else(|| {
        ways_out(
            aegis_dr::journal::Operation::Failover,
            &r.run_id,
            &r.class,
            false,
        )
    });
    let inv = invocation(cfg);
    let with_inv = |s: &str| s.replacen("aegis-dr", &inv, 1);
    eprintln!(
        "go forward, once the cause is fixed: {}",
        with_inv(&w.forward)
    );
    eprintln!("or go back to {}: {}", w.back_to, with_inv(&w.back));
}

/// A channel that carries the reason once SIGINT or SIGTERM arrives; a second signal ends the
/// process at once (exit 130). The handlers are in place when this returns.
pub fn interrupt_channel() -> tokio::sync::watch::Receiver<Option<String>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(None);
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No handlers: the signals keep their default action (the run is left interrupted).
        return rx;
    };
    tokio::spawn(async move {
        let first = next_signal(&mut int, &mut term).await;
        let _ = tx.send(Some(format!("{first} received")));
        eprintln!(
            "{first}: stopping after the running steps (at most {}s); send it again to quit at once",
            aegis_dr::orchestrator::stop::INTERRUPT_GRACE.as_secs()
        );
        let again = next_signal(&mut int, &mut term).await;
        eprintln!("{again} received again: quitting now; the run is interrupted and resumable");
        std::process::exit(130);
    });
    rx
}

async fn next_signal(
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

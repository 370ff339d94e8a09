//! `aegis-dr watch` (the DR controller, with `/metrics` and `/healthz`) and `aegis-dr triggers test`.

use std::{
    net::SocketAddr,
    sync::{atomic::AtomicU64, Arc, RwLock},
};

use aegis_dr::{
    controller::{Controller, ControllerStatus, RuleState},
    Error, Plan, Result,
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::outln;

type Labels = Vec<(String, String)>;
type FGauge = Family<Labels, Gauge<f64, AtomicU64>>;

fn family(reg: &mut Registry, name: &str, help: &str) -> FGauge {
    let f = FGauge::default();
    reg.register(name, help, f.clone());
    f
}

fn set(f: &FGauge, labels: &[(&str, &str)], v: f64) {
    let l: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    f.get_or_create(&l).set(v);
}

/// The controller's state and the plan's runs in OpenMetrics text.
pub fn metrics(status: &ControllerStatus, plan: &Plan, store: &aegis_dr::store::State) -> String {
    let mut reg = Registry::default();
    let leader = family(
        &mut reg,
        "aegis_dr_leader",
        "1 while this replica holds the leadership and acts",
    );
    set(
        &leader,
        &[("identity", &status.identity)],
        f64::from(u8::from(status.leader)),
    );
    let value = family(
        &mut reg,
        "aegis_dr_trigger_value",
        "The last value of each trigger's query (absent when unknown)",
    );
    let state = family(
        &mut reg,
        "aegis_dr_trigger_state",
        "1 for each trigger's current state",
    );
    let evaluated = family(
        &mut reg,
        "aegis_dr_trigger_last_evaluation_timestamp_seconds",
        "When each trigger was last evaluated",
    );
    for r in &status.rules {
        let name = r.spec.name.as_str();
        if let Some(v) = r.value.filter(|v| v.is_finite()) {
            set(&value, &[("trigger", name)], v);
        }
        for s in [
            RuleState::Inactive,
            RuleState::Pending,
            RuleState::Firing,
            RuleState::Unknown,
        ] {
            set(
                &state,
                &[("trigger", name), ("state", s.as_str())],
                f64::from(u8::from(r.state == s)),
            );
        }
        if let Some(ms) = r.evaluated_ms {
            set(&evaluated, &[("trigger", name)], ms as f64 / 1000.0);
        }
    }
    let rounds = family(
        &mut reg,
        "aegis_dr_evaluation_rounds",
        "Evaluation rounds since the controller started",
    );
    set(&rounds, &[], status.evaluations as f64);
    let checks = family(
        &mut reg,
        "aegis_dr_check_status",
        "1 for each pre-failover check's last status",
    );
    for c in &status.checks {
        for s in ["pass", "warn", "fail"] {
            set(
                &checks,
                &[("check", &c.name), ("status", s)],
                f64::from(u8::from(c.status.as_str() == s)),
            );
        }
    }
    let ready = family(
        &mut reg,
        "aegis_dr_failback_ready",
        "1 when a completed failover's primary is stable enough to fail back to",
    );
    set(&ready, &[], f64::from(u8::from(status.failback_ready)));
    let runs = family(
        &mut reg,
        "aegis_dr_runs",
        "The plan's runs by operation and status",
    );
    let mut last: Option<aegis_dr::report::Report> = None;
    let mut counts: std::collections::BTreeMap<(String, String), u32> = Default::default();
    for r in aegis_dr::runs::of_plan(store, &plan.name)
        .iter()
        .map(aegis_dr::runs::Listed::report)
    {
        *counts
            .entry((r.operation.clone(), r.status.as_str().to_string()))
            .or_default() += 1;
        last = Some(r);
    }
    for ((op, st), n) in &counts {
        set(&runs, &[("operation", op), ("status", st)], f64::from(*n));
    }
    if let Some(r) = last {
        let steps = family(
            &mut reg,
            "aegis_dr_last_run_step_duration_seconds",
            "Each step's duration in the plan's newest run",
        );
        for s in &r.steps {
            if let Some(d) = s.duration_seconds {
                set(&steps, &[("run", &r.run_id), ("step", s.id.as_str())], d);
            }
        }
        let rto = family(
            &mut reg,
            "aegis_dr_last_run_rto_seconds",
            "Achieved RTO of the newest run (absent when not reached)",
        );
        let rpo = family(
            &mut reg,
            "aegis_dr_last_run_rpo_seconds",
            "Achieved RPO of the newest run (absent when unknown)",
        );
        if let Some(v) = r.achieved.rto_seconds {
            set(&rto, &[("run", &r.run_id), ("operation", &r.operation)], v);
        }
        if let (Some(v), false) = (r.achieved.rpo_seconds, r.achieved.rpo_unknown) {
            set(&rpo, &[("run", &r.run_id), ("operation", &r.operation)], v);
        }
    }
    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

/// Serves `/metrics` and `/healthz` on `listen` until the process ends.
async fn serve(
    listen: SocketAddr,
    status: Arc<RwLock<ControllerStatus>>,
    plan: Plan,
    state: aegis_dr::store::State,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::config(format!("watch.listen: cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::config(format!("watch.listen: {e}")))?;
    let plan = Arc::new(plan);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let status = status.clone();
            let plan = plan.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let method = head.split_whitespace().next().unwrap_or("").to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                if method == "POST" && path.starts_with("/runs/") {
                    let (code, body) = approval_callback(&head, &path, &plan, &state);
                    let resp = format!(
                        "HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    return;
                }
                let (code, ctype, body) = match path.split('?').next() {
                    Some("/metrics") => {
                        let snapshot = status.read().map(|s| s.clone()).ok();
                        match snapshot {
                            Some(s) => (
                                "200 OK",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                metrics(&s, &plan, &state),
                            ),
                            None => (
                                "500 Internal Server Error",
                                "text/plain",
                                "status unavailable\n".into(),
                            ),
                        }
                    }
                    Some("/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "not found: /metrics, /healthz\n".into(),
                    ),
                };
                let resp = format!(
                    "HTTP/1.1 {code}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(bound)
}

/// `POST /runs/RUN_ID/approve` or `/reject?reason=...` (`step=`, `by=` optional) with
/// `Authorization: Bearer <token>`: the approval answered as `aegis-dr approve|reject` would.
fn approval_callback(
    head: &str,
    path: &str,
    plan: &Plan,
    state: &aegis_dr::store::State,
) -> (&'static str, String) {
    use aegis_dr::control::{send, Command, Delivery};
    let err = |code, msg: String| (code, serde_json::json!({ "error": msg }).to_string());
    let Some(var) = &plan.watch.approval_token_env else {
        return err(
            "404 Not Found",
            "approval callbacks are off (watch.approval_token_env)".into(),
        );
    };
    let Some(token) = std::env::var(var).ok().filter(|t| !t.is_empty()) else {
        return err(
            "503 Service Unavailable",
            format!("approval callbacks: `{var}` is not set"),
        );
    };
    let given = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string));
    if given.as_deref() != Some(token.as_str()) {
        return err(
            "401 Unauthorized",
            "a valid bearer token is required".into(),
        );
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |k: &str| {
        query.split('&').find_map(|kv| {
            let (a, b) = kv.split_once('=')?;
            (a == k).then(|| b.replace('+', " ").replace("%20", " "))
        })
    };
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    let (run_id, verb) = match parts.as_slice() {
        ["runs", id, verb] => (*id, *verb),
        _ => {
            return err(
                "404 Not Found",
                "POST /runs/RUN_ID/approve or /reject".into(),
            )
        }
    };
    let by = param("by").unwrap_or_else(|| "webhook".into());
    let step = param("step").map(aegis_dr::run::StepId::from);
    let command = match verb {
        "approve" => Command::Approve { step },
        "reject" => Command::Reject {
            step,
            reason: param("reason").unwrap_or_default(),
        },
        _ => {
            return err(
                "404 Not Found",
                "POST /runs/RUN_ID/approve or /reject".into(),
            )
        }
    };
    match send(state, run_id, &by, command) {
        Ok(d) => (
            "200 OK",
            serde_json::json!({
                "run_id": run_id,
                "delivery": match d { Delivery::Live => "live", Delivery::Journaled => "journaled" },
            })
            .to_string(),
        ),
        Err(e) => err("409 Conflict", e.to_string()),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `aegis-dr watch`.
pub async fn watch(cfg: &crate::config::Config, identity: &str, listen: SocketAddr) -> Result<u8> {
    if cfg.plan.watch.prometheus.is_none() {
        return Err(Error::config(
            "watch.prometheus: the plan's [watch] table names no Prometheus to evaluate the triggers against",
        ));
    }
    let clock = aegis_dr::clock::Clock::new();
    let providers = aegis_dr::providers_for(&cfg.plan, &cfg.state, clock).await?;
    let leader = aegis_dr::leadership_for(&cfg.plan, &cfg.state, identity).await?;
    let mut controller = Controller::new(cfg.plan.clone(), providers, cfg.state.clone(), leader)?
        .with_clock(clock)
        .with_notifier(aegis_dr::notify::Notifier::new(
            cfg.plan.notifications.clone(),
            cfg.plan_dir.clone(),
            false,
        ));
    // A plan written by `aegis-dr init` is compared with the estate at every round of checks.
    if cfg.plan.discovery.is_some() {
        controller =
            controller.with_drift(std::sync::Arc::new(aegis_dr::PlanDrift(cfg.plan.clone())));
    }
    let bound = serve(
        listen,
        controller.status(),
        cfg.plan.clone(),
        cfg.state.clone(),
    )
    .await?;
    eprintln!(
        "aegis-dr watch: {} trigger(s) of `{}` every {} against {}; /metrics on {bound}; replica {identity}",
        cfg.plan.triggers_in_force().len(),
        cfg.plan.name,
        aegis_dr::duration::format_duration(cfg.plan.watch.interval),
        cfg.plan.watch.prometheus.as_deref().unwrap_or("")
    );
    controller.run(shutdown_signal()).await?;
    eprintln!("aegis-dr watch: stopped (leadership released)");
    Ok(crate::commands::exit::OK)
}

/// `aegis-dr triggers test`: each trigger evaluated once, with its value and verdict.
pub async fn triggers_test(cfg: &crate::config::Config, json: bool) -> Result<u8> {
    // Evaluating builds no provider: nothing is checked or changed.
    let providers = aegis_dr::provider::Providers::new();
    let leader =
        aegis_dr::controller::leader::for_state(&cfg.state, &cfg.plan.name, "triggers-test");
    let controller = Controller::new(cfg.plan.clone(), providers, cfg.state.clone(), leader)?;
    let evaluated = controller.evaluate_once().await;
    if json {
        let v: Vec<serde_json::Value> = evaluated
            .iter()
            .map(|(r, _)| {
                serde_json::json!({
                    "trigger": r.spec.name,
                    "query": r.spec.query,
                    "fires": r.spec.fires.to_string(),
                    "for_seconds": r.spec.hold.as_secs_f64(),
                    "class": r.spec.class,
                    "action": r.spec.action.as_str(),
                    "value": r.value,
                    "state": r.state.as_str(),
                    "detail": r.detail,
                })
            })
            .collect();
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, &v);
        let _ = std::io::Write::write_all(&mut out, b"\n");
    } else {
        outln!(
            "{:<24} {:<10} {:>12}  {:<10} {:<9} QUERY",
            "TRIGGER",
            "VERDICT",
            "VALUE",
            "FIRES",
            "ACTION"
        );
        for (r, _) in &evaluated {
            let verdict = match r.state {
                RuleState::Inactive => "ok",
                RuleState::Pending | RuleState::Firing => "FIRES",
                RuleState::Unknown => "UNKNOWN",
            };
            outln!(
                "{:<24} {:<10} {:>12}  {:<10} {:<9} {}",
                r.spec.name,
                verdict,
                r.value
                    .map(|v| format!("{v}"))
                    .unwrap_or_else(|| "unknown".into()),
                r.spec.fires.to_string(),
                r.spec.action.as_str(),
                r.spec.query
            );
            if !r.detail.is_empty() {
                outln!("    {}", r.detail);
            }
        }
    }
    // A dry run: nothing acted; exit 1 when a trigger fires or is unknown, so scripts can tell.
    let quiet = evaluated
        .iter()
        .all(|(r, _)| r.state == RuleState::Inactive);
    Ok(if quiet {
        crate::commands::exit::OK
    } else {
        crate::commands::exit::FAILED
    })
}

//! Steps of the user's own: a command, an HTTP call, a Prometheus condition held for a window, an
//! operator's approval. Each records its evidence (also when it fails) and fails with
//! [`ErrorKind::HookFailed`] when its condition does not hold within its timeout.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::Value;

use super::fmt_ms;
use crate::plan::{ApprovalDefault, HookAction, HookSpec};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    orchestrator::step_ctx::StepCtx,
    run::Output,
};

/// Captured output kept of each stream: its end, where errors usually are.
const OUTPUT_TAIL: usize = 4000;

pub(super) async fn run(ctx: &Arc<StepCtx>, name: &str) -> Result<String> {
    let Some(h) = ctx.plan().hooks.iter().find(|h| h.name == name).cloned() else {
        return Err(Error::config(format!("hook `{name}` is not in the plan")));
    };
    let res = match &h.action {
        HookAction::Command { .. } => command(ctx, &h).await,
        HookAction::Http { .. } => http(ctx, &h).await,
        HookAction::Prometheus { .. } => prometheus(ctx, &h).await,
        HookAction::Approval { .. } => approval(ctx, &h).await,
    };
    if let (Err(e), Some(esc)) = (&res, h.escalate) {
        ctx.run
            .escalate(esc, format!("hook `{}` failed: {e}", h.name))
            .await;
    }
    res
}

fn failed(h: &HookSpec, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::HookFailed, msg.to_string()).with_resource(format!("hook.{}", h.name))
}

/// The end of `text` (at most [`OUTPUT_TAIL`] bytes, cut at a character boundary), with every
/// secret replaced.
fn captured(bytes: &[u8], secrets: &[String]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(s.as_str(), "[redacted]");
    }
    if text.len() > OUTPUT_TAIL {
        let mut cut = text.len() - OUTPUT_TAIL;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("[{cut} bytes cut]\n{}", &text[cut..]);
    }
    text
}

fn secret_values(h: &HookSpec, vars: &[String]) -> Result<Vec<String>> {
    vars.iter()
        .map(|v| {
            std::env::var(v).map_err(|_| {
                Error::config(format!(
                    "hook `{}`: the secret `{v}` is not set in aegis-dr's environment",
                    h.name
                ))
            })
        })
        .collect()
}

async fn command(ctx: &Arc<StepCtx>, h: &HookSpec) -> Result<String> {
    let HookAction::Command {
        argv,
        env,
        secret_env,
        workdir,
        expect_stdout,
    } = &h.action
    else {
        return Err(failed(h, "not a command hook"));
    };
    let secrets = secret_values(h, secret_env)?;
    let dir = workdir
        .as_deref()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    // A relative program path with a folder in it starts at the hook's folder.
    let program = if argv[0].contains('/') && std::path::Path::new(&argv[0]).is_relative() {
        dir.join(&argv[0]).display().to_string()
    } else {
        argv[0].clone()
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&argv[1..])
        .envs(env)
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let started = ctx.run.fixed.clock.now_ms();
    let child = cmd.spawn().map_err(|e| {
        failed(
            h,
            format!("cannot start `{program}` in {}: {e}", dir.display()),
        )
    })?;
    let out = match tokio::time::timeout(h.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(failed(h, format!("`{program}`: {e}"))),
        Err(_) => {
            ctx.record(Output::Hook(serde_json::json!({
                "type": "command",
                "command": argv,
                "timed_out": true,
            })));
            return Err(failed(
                h,
                format!(
                    "`{}` did not finish within {} (killed)",
                    argv.join(" "),
                    format_duration(h.timeout)
                ),
            ));
        }
    };
    let stdout = captured(&out.stdout, &secrets);
    let stderr = captured(&out.stderr, &secrets);
    let ms = ctx.run.fixed.clock.now_ms().saturating_sub(started);
    ctx.record(Output::Hook(serde_json::json!({
        "type": "command",
        "command": argv,
        "exit_code": out.status.code(),
        "stdout": stdout,
        "stderr": stderr,
        "ms": ms,
    })));
    if !out.status.success() {
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".into(),
        };
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        return Err(failed(
            h,
            format!("`{}` ended with {status}{last}", argv.join(" ")),
        ));
    }
    if let Some(want) = expect_stdout {
        if !String::from_utf8_lossy(&out.stdout).contains(want.as_str()) {
            return Err(failed(
                h,
                format!(
                    "`{}` succeeded but its output does not contain `{want}`",
                    argv.join(" ")
                ),
            ));
        }
    }
    Ok(format!("`{}` succeeded in {}", argv.join(" "), fmt_ms(ms)))
}

/// What is wrong with a JSON answer for `expect` (top-level fields; absent never matches).
fn json_problems(body: &str, expect: &BTreeMap<String, Value>) -> Vec<String> {
    if expect.is_empty() {
        return Vec::new();
    }
    let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_str(body).ok();
    let Some(obj) = parsed else {
        return vec!["the answer is not a JSON object".into()];
    };
    expect
        .iter()
        .filter_map(|(k, want)| match obj.get(k) {
            Some(got) if got == want => None,
            Some(got) => Some(format!("field `{k}` is {got}, expected {want}")),
            None => Some(format!("field `{k}` absent, expected {want}")),
        })
        .collect()
}

async fn http(ctx: &Arc<StepCtx>, h: &HookSpec) -> Result<String> {
    let HookAction::Http {
        method,
        url,
        headers,
        secret_headers,
        body,
        expect_status,
        expect_json,
    } = &h.action
    else {
        return Err(failed(h, "not an http hook"));
    };
    let vars: Vec<String> = secret_headers.values().cloned().collect();
    let secrets = secret_values(h, &vars)?;
    let client = reqwest::Client::builder()
        .timeout(h.timeout)
        .build()
        .map_err(|e| Error::config(format!("HTTP client: {e}")))?;
    let method_v = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| Error::config(format!("hook `{}`: method: {e}", h.name)))?;
    // A read is asked again until it holds or the timeout passes; a write is sent once.
    let repeat = matches!(method.as_str(), "GET" | "HEAD");
    let deadline = ctx.run.fixed.clock.now_ms() + h.timeout.as_millis() as u64;
    let mut attempts = 0u32;
    // What is shown of the URL everywhere (journal, reports, errors): no credentials.
    let shown = crate::redact::redact_credentials(url);
    loop {
        attempts += 1;
        let mut req = client.request(method_v.clone(), url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        for ((k, _), v) in secret_headers.iter().zip(&secrets) {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b.clone());
        }
        let problems = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let mut p = Vec::new();
                if status != *expect_status {
                    p.push(format!("answered {status} (expected {expect_status})"));
                }
                p.extend(json_problems(&text, expect_json));
                ctx.record(Output::Hook(serde_json::json!({
                    "type": "http",
                    "request": format!("{method} {shown}"),
                    "status": status,
                    "body": captured(text.as_bytes(), &secrets),
                    "attempts": attempts,
                    "problems": p,
                })));
                p
            }
            Err(e) => {
                let msg = format!("{method} {shown} failed: {}", e.without_url());
                ctx.record(Output::Hook(serde_json::json!({
                    "type": "http",
                    "request": format!("{method} {shown}"),
                    "error": msg,
                    "attempts": attempts,
                })));
                vec![msg]
            }
        };
        if problems.is_empty() {
            return Ok(format!("{method} {shown}: as expected"));
        }
        let now = ctx.run.fixed.clock.now_ms();
        if !repeat || now >= deadline {
            return Err(failed(
                h,
                format!("{method} {shown}: {}", problems.join("; ")),
            ));
        }
        let pause = ctx.plan().execution.poll_interval.as_millis() as u64;
        ctx.run
            .fixed
            .clock
            .sleep(Duration::from_millis(pause.min(deadline - now)))
            .await;
    }
}

async fn prometheus(ctx: &Arc<StepCtx>, h: &HookSpec) -> Result<String> {
    let HookAction::Prometheus {
        url,
        query,
        bound,
        window,
        interval,
    } = &h.action
    else {
        return Err(failed(h, "not a prometheus hook"));
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30).min(h.timeout))
        .build()
        .map_err(|e| Error::config(format!("HTTP client: {e}")))?;
    let clock = ctx.run.fixed.clock;
    let start = clock.now_ms();
    let deadline = start + h.timeout.as_millis() as u64;
    let window_ms = window.as_millis() as u64;
    let mut held_since: Option<u64> = None;
    let mut samples: Vec<Value> = Vec::new();
    let mut longest = 0u64;
    let mut last_problem = String::from("never evaluated");
    ctx.run.effects.progress.step_waiting(
        &ctx.step,
        &format!("`{query}` {bound} for {}", format_duration(*window)),
        deadline,
    );
    loop {
        let now = clock.now_ms();
        let verdict = match crate::promql::instant(&client, url, query).await {
            Err(e) if e.kind() == ErrorKind::Config => return Err(failed(h, e)),
            Err(e) => Err(e.to_string()),
            Ok(series) if series.is_empty() => Err("no data (an unknown value never holds)".into()),
            Ok(series) => {
                let bad: Vec<String> = series
                    .iter()
                    .filter(|s| !bound.holds(s.value))
                    .map(|s| format!("{} = {}", s.series, s.value))
                    .collect();
                let shown: Vec<Value> = series
                    .iter()
                    .map(|s| serde_json::json!({ "series": s.series, "value": s.value.is_finite().then_some(s.value) }))
                    .collect();
                samples.push(
                    serde_json::json!({ "at_ms": now, "series": shown, "holds": bad.is_empty() }),
                );
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} (needs {bound})", bad.join(", ")))
                }
            }
        };
        match verdict {
            Ok(()) => {
                let since = *held_since.get_or_insert(now);
                longest = longest.max(now - since);
            }
            Err(problem) => {
                if !problem.contains(" = ") {
                    samples.push(
                        serde_json::json!({ "at_ms": now, "error": problem, "holds": false }),
                    );
                }
                held_since = None;
                last_problem = problem;
            }
        }
        if samples.len() > 60 {
            samples.drain(..samples.len() - 60);
        }
        let evidence = |held: bool| {
            serde_json::json!({
                "type": "prometheus",
                "query": query,
                "bound": bound.to_string(),
                "window_ms": window_ms,
                "held": held,
                "longest_held_ms": longest,
                "samples": samples,
            })
        };
        if let Some(since) = held_since {
            if now - since >= window_ms {
                ctx.record(Output::Hook(evidence(true)));
                return Ok(format!(
                    "`{query}` held {bound} for {}",
                    fmt_ms(now - since)
                ));
            }
        }
        let next = now + interval.as_millis() as u64;
        // Give up once the window can no longer be completed before the deadline.
        let could_end = held_since.unwrap_or(next) + window_ms;
        if next > deadline || could_end > deadline {
            ctx.record(Output::Hook(evidence(false)));
            return Err(failed(
                h,
                format!(
                    "`{query}` did not hold {bound} for {} within {} (longest run {}; last: {last_problem})",
                    format_duration(*window),
                    format_duration(h.timeout),
                    fmt_ms(longest)
                ),
            ));
        }
        clock.sleep(*interval).await;
    }
}

async fn approval(ctx: &Arc<StepCtx>, h: &HookSpec) -> Result<String> {
    let HookAction::Approval { message, default } = &h.action else {
        return Err(failed(h, "not an approval hook"));
    };
    let id = ctx.step.id.clone();
    let run = &ctx.run;
    let mut changed = run.effects.controls_changed.subscribe();
    run.live().controls.waiting.insert(id.clone());
    let asked = format!(
        "{id}: waiting for approval: {message} (`aegis-dr approve {}` or `aegis-dr reject {} --reason ...`; {} by default after {})",
        run.fixed.run_id,
        run.fixed.run_id,
        match default {
            ApprovalDefault::Approve => "approved",
            ApprovalDefault::Reject => "rejected",
        },
        format_duration(h.timeout)
    );
    tracing::warn!(run = %run.fixed.run_id, step = %id, "{asked}");
    run.effects.progress.message(&asked);
    // People are asked where the plan's messages go (a page, with PagerDuty), not only on this
    // terminal.
    run.notify(
        crate::notify::Template::Escalation,
        format!(
            "aegis-dr {} {}: approval needed: {asked}",
            run.fixed.operation.as_str(),
            run.fixed.run_id
        ),
        serde_json::json!({ "approval": { "step": id, "message": message } }),
    )
    .await;
    let deadline = run.fixed.clock.now_ms() + h.timeout.as_millis() as u64;
    run.effects
        .progress
        .step_waiting(&ctx.step, &format!("approval ({message})"), deadline);
    let decision = loop {
        let d = run.live().controls.decisions.get(&id).cloned();
        if let Some(d) = d {
            break Some(d);
        }
        let now = run.fixed.clock.now_ms();
        if now >= deadline {
            break None;
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = run.fixed.clock.sleep(Duration::from_millis(deadline - now)) => {}
        }
    };
    run.live().controls.waiting.remove(&id);
    let evidence = |outcome: &str, by: Option<&str>, reason: Option<&str>| {
        serde_json::json!({
            "type": "approval",
            "message": message,
            "outcome": outcome,
            "by": by,
            "reason": reason,
        })
    };
    match decision {
        Some(d) if d.approved => {
            ctx.record(Output::Hook(evidence("approved", Some(&d.by), None)));
            Ok(format!("approved by {}", d.by))
        }
        Some(d) => {
            let reason = d.reason.clone().unwrap_or_default();
            ctx.record(Output::Hook(evidence(
                "rejected",
                Some(&d.by),
                Some(&reason),
            )));
            Err(Error::refused(format!("rejected by {}: {reason}", d.by))
                .with_resource(format!("hook.{}", h.name)))
        }
        None => match default {
            ApprovalDefault::Approve => {
                ctx.record(Output::Hook(evidence("approved by default", None, None)));
                Ok(format!(
                    "no answer within {}: approved by default",
                    format_duration(h.timeout)
                ))
            }
            ApprovalDefault::Reject => {
                ctx.record(Output::Hook(evidence("rejected by default", None, None)));
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no answer within {}: rejected by default",
                        format_duration(h.timeout)
                    ),
                )
                .with_resource(format!("hook.{}", h.name)))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Bound;

    #[test]
    fn captured_output_hides_secrets_and_keeps_the_end() {
        let long = format!("{}token=s3cr3t end", "x".repeat(5000));
        let c = captured(long.as_bytes(), &["s3cr3t".into()]);
        assert!(c.ends_with("token=[redacted] end"), "{c}");
        assert!(c.starts_with('['), "{c}");
        assert!(!c.contains("s3cr3t"));
    }

    #[test]
    fn expected_fields_must_be_present_and_equal() {
        let want: BTreeMap<String, Value> = [("status".to_string(), Value::from("healthy"))].into();
        assert!(json_problems(r#"{"status":"healthy"}"#, &want).is_empty());
        assert_eq!(json_problems(r#"{"status":"degraded"}"#, &want).len(), 1);
        assert_eq!(json_problems("{}", &want).len(), 1);
        assert_eq!(json_problems("not json", &want).len(), 1);
    }

    #[test]
    fn a_bound_never_holds_for_nan() {
        assert!(Bound::Below(0.01).holds(0.001));
        assert!(!Bound::Below(0.01).holds(f64::NAN));
        assert!(!Bound::Above(1.0).holds(f64::NAN));
    }
}

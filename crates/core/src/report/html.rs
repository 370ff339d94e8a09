//! The report as one self-contained HTML page (`report.html`): a timeline of every step against
//! the RTO budget, the achieved RTO/RPO against the targets, checks, hooks with their evidence,
//! operator actions. No network: styles inline, the timeline an inline SVG, one small script
//! that marks the page drawn (`body[data-drawn]`, for tests in a real browser).

use std::fmt::Write as _;

use super::{seconds, Report, StepReport, StepStatus};
use crate::{plan::graph::PlanPreview, run::StepId};

/// One bar of a timeline.
struct Row<'a> {
    id: &'a str,
    title: &'a str,
    /// `succeeded`, `failed`, `skipped`, `running`, `pending`, `planned`.
    status: &'static str,
    start: Option<f64>,
    end: Option<f64>,
    estimate: f64,
    critical: bool,
    note: String,
    forced_skip: bool,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#556;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #d5d9e2;border-radius:6px;padding:10px 14px;min-width:170px}
.card b{display:block;font-size:18px}
.ok{color:#137333}.bad{color:#b3261e}.unk{color:#8a5a00}
.flag{background:#b3261e;color:#fff;padding:8px 12px;border-radius:4px;font-weight:600;margin:12px 0}
table{border-collapse:collapse;width:100%;margin-top:6px}
th,td{border-bottom:1px solid #e3e6ec;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f5f6f8;font-weight:600}
pre{background:#f5f6f8;padding:8px;overflow:auto;max-height:260px;margin:4px 0}
svg text{font:12px system-ui,sans-serif}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
"#;

fn color(status: &str) -> &'static str {
    match status {
        "succeeded" => "#34a853",
        "failed" => "#d93025",
        "skipped" => "#9aa0a6",
        "running" => "#f9ab00",
        "planned" => "#4285f4",
        _ => "#dadce0",
    }
}

/// The timeline as SVG: one row a step, the x axis in seconds from the start, the RTO budget as a
/// red line, pauses as shaded bands, escalations as markers.
fn timeline(rows: &[Row], rto: f64, pauses: &[(f64, f64)], marks: &[(f64, String)]) -> String {
    let label_w = 300.0;
    let width = 1100.0;
    let plot_w = width - label_w - 20.0;
    let row_h = 22.0;
    let top = 28.0;
    // The axis spans the run (the RTO line shows when the run comes near it; else a gauge says
    // how much of the budget the run used).
    let span = rows
        .iter()
        .filter_map(|r| r.end.or(r.start.map(|s| s + r.estimate)))
        .fold(0.0, f64::max);
    let rto_on_axis = rto <= span * 1.5;
    let end = if rto_on_axis { span.max(rto) } else { span }.max(1e-3) * 1.05;
    let x = |t: f64| label_w + t / end * plot_w;
    let height = top + rows.len() as f64 * row_h + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{width}" height="{height}" role="img" aria-label="timeline">"#
    );
    // Axis ticks.
    let step = nice_step(end);
    let mut t = 0.0;
    while t <= end {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1:.1}" stroke="#eceef2"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle" fill="#667">{3}</text>"##,
            x(t),
            height - 24.0,
            height - 8.0,
            esc(&seconds(t))
        );
        t += step;
    }
    for (from, to) in pauses {
        let _ = write!(
            s,
            r##"<rect class="pause" x="{:.1}" y="{top}" width="{:.1}" height="{:.1}" fill="#fde293" opacity="0.5"><title>paused</title></rect>"##,
            x(*from),
            (x(*to) - x(*from)).max(1.0),
            rows.len() as f64 * row_h
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let weight = if r.critical { "700" } else { "400" };
        let _ = write!(
            s,
            r##"<g class="step" data-step="{id}" data-status="{st}"><text x="4" y="{ty:.1}" font-weight="{weight}" fill="#1d2330">{crit}{id}</text>"##,
            id = esc(r.id),
            st = r.status,
            ty = y + 15.0,
            crit = if r.critical { "● " } else { "" }
        );
        let tip = esc(&format!("{} — {}: {}", r.id, r.title, r.note));
        match r.start {
            Some(start) => {
                let stop = r.end.unwrap_or(start + r.estimate);
                let w = (x(stop) - x(start)).max(2.0);
                let dash = if r.end.is_none() {
                    r#" stroke-dasharray="4 2" fill-opacity="0.35""#
                } else {
                    ""
                };
                let stroke = if r.forced_skip {
                    r##" stroke="#b3261e" stroke-width="3""##
                } else if r.critical {
                    r##" stroke="#1d2330" stroke-width="1.5""##
                } else {
                    ""
                };
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="14" rx="2" fill="{}"{dash}{stroke}><title>{tip}</title></rect>"#,
                    x(start),
                    y + 4.0,
                    color(r.status)
                );
                // The estimate, as a thin line under the bar.
                let _ = write!(
                    s,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#4285f4" stroke-width="2" opacity="0.6"/>"##,
                    x(start),
                    y + 20.0,
                    x(start + r.estimate),
                    y + 20.0
                );
            }
            None => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#889">not started<title>{tip}</title></text>"##,
                    label_w + 4.0,
                    y + 15.0
                );
            }
        }
        s.push_str("</g>");
    }
    if rto_on_axis {
        let _ = write!(
            s,
            r##"<line id="rto" x1="{0:.1}" y1="10" x2="{0:.1}" y2="{1:.1}" stroke="#d93025" stroke-width="2"/><text x="{0:.1}" y="20" text-anchor="middle" fill="#d93025">RTO {2}</text>"##,
            x(rto),
            height - 24.0,
            esc(&seconds(rto))
        );
    } else {
        // A gauge: the whole width is the RTO budget, the filled part what the run used.
        let used = (span / rto).clamp(0.0, 1.0);
        let _ = write!(
            s,
            r##"<g id="rto"><rect x="{label_w}" y="8" width="{plot_w:.1}" height="8" fill="#fce8e6"/><rect x="{label_w}" y="8" width="{:.1}" height="8" fill="#d93025"/><text x="{:.1}" y="14" text-anchor="end" fill="#d93025">RTO budget {}: {:.1}% used</text></g>"##,
            (plot_w * used).max(1.0),
            label_w - 6.0,
            esc(&seconds(rto)),
            used * 100.0
        );
    }
    for (at, what) in marks {
        let _ = write!(
            s,
            r##"<path class="escalation" d="M{0:.1} {1:.1} l6 -10 l-12 0 z" fill="#d93025"><title>{2}</title></path>"##,
            x(*at),
            height - 26.0,
            esc(what)
        );
    }
    s.push_str("</svg>");
    s
}

/// A tick spacing giving 5 to 12 ticks over `end` seconds.
fn nice_step(end: f64) -> f64 {
    let raw = end / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn page(title: &str, body: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{}</title><style>{STYLE}</style></head>
<body>
{body}
<script>
window.addEventListener("error", function (e) {{ document.body.setAttribute("data-errors", String(e.message)); }});
(function () {{
  var steps = document.querySelectorAll("#timeline g.step");
  document.body.setAttribute("data-drawn", String(steps.length));
}})();
</script>
</body></html>
"##,
        esc(title)
    )
}

fn status_name(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Succeeded => "succeeded",
        StepStatus::Skipped => "skipped",
        StepStatus::Failed => "failed",
    }
}

fn step_note(st: &StepReport) -> String {
    let mut n = st.outcome();
    if st.retries > 0 {
        let _ = write!(n, " ({} retried calls)", st.retries);
    }
    if st.attempts > 1 {
        let _ = write!(n, " ({} attempts)", st.attempts);
    }
    for e in st.earlier_errors() {
        let _ = write!(n, "; an earlier attempt failed: {}", e.message);
    }
    n
}

impl Report {
    /// The report as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut b = String::new();
        let _ = write!(
            b,
            "<h1>aegis-dr {} report</h1><div class=\"meta\">run <code>{}</code> · plan <b>{}</b> · {} · started {} · status <b class=\"{}\">{}</b></div>",
            esc(&self.operation),
            esc(&self.run_id),
            esc(&self.plan),
            esc(&self.class),
            esc(&self.started_at),
            if self.status == crate::journal::RunStatus::Succeeded { "ok" } else { "bad" },
            self.status.as_str()
        );
        let verdict = |a: Option<f64>, t: f64| match a {
            Some(v) if v <= t => ("ok", format!("{} (target {})", seconds(v), seconds(t))),
            Some(v) => (
                "bad",
                format!("{} — missed (target {})", seconds(v), seconds(t)),
            ),
            None => ("unk", format!("not reached (target {})", seconds(t))),
        };
        let (rto_c, rto) = verdict(self.achieved.rto_seconds, self.targets.rto_seconds);
        let (rpo_c, rpo) = if self.achieved.rpo_unknown {
            (
                "unk",
                format!(
                    "unknown: a lag could not be measured (target {})",
                    seconds(self.targets.rpo_seconds)
                ),
            )
        } else {
            verdict(self.achieved.rpo_seconds, self.targets.rpo_seconds)
        };
        let _ = write!(
            b,
            "<div class=\"cards\"><div class=\"card\">RTO<b class=\"{rto_c}\" id=\"rto-achieved\">{}</b></div><div class=\"card\">RPO<b class=\"{rpo_c}\" id=\"rpo-achieved\">{}</b></div><div class=\"card\">duration<b>{}</b>estimate {}</div><div class=\"card\">resumed<b>{}</b>times</div></div>",
            esc(&rto),
            esc(&rpo),
            esc(&seconds(self.duration_seconds)),
            esc(&seconds(self.estimate_seconds)),
            self.resumes
        );
        if let Some(e) = &self.error {
            let _ = write!(b, "<p class=\"bad\"><b>Error:</b> {}</p>", esc(&e.message));
        }
        let forced = self.forced_skips();
        if !forced.is_empty() {
            let _ = write!(
                b,
                "<div class=\"flag\" id=\"forced-skips\">Safety steps skipped with --force: {}</div>",
                esc(&forced.join(", "))
            );
        }
        let rows: Vec<Row> = self
            .steps
            .iter()
            .map(|st| Row {
                id: st.id.as_str(),
                title: &st.title,
                status: status_name(st.status),
                start: st.start_offset_seconds,
                end: st.end_offset_seconds,
                estimate: st.estimate_seconds,
                critical: self.critical_path.contains(&st.id),
                note: step_note(st),
                forced_skip: st.forced_skip,
            })
            .collect();
        let pauses: Vec<(f64, f64)> = self
            .pauses
            .iter()
            .map(|p| {
                (
                    p.from_seconds,
                    p.to_seconds.unwrap_or(self.duration_seconds),
                )
            })
            .collect();
        let marks: Vec<(f64, String)> = self
            .escalations
            .iter()
            .map(|e| (e.offset_seconds, format!("{}: {}", e.reason, e.message)))
            .collect();
        b.push_str("<h2>Timeline</h2><div class=\"legend\">");
        for (st, what) in [
            ("succeeded", "succeeded"),
            ("failed", "failed"),
            ("skipped", "skipped"),
            ("running", "interrupted"),
        ] {
            let _ = write!(
                b,
                "<span><i style=\"background:{}\"></i>{what}</span>",
                color(st)
            );
        }
        b.push_str("<span>● critical path</span><span style=\"color:#4285f4\">— estimate</span><span style=\"color:#d93025\">| RTO budget, ▼ escalation</span></div>");
        b.push_str(&timeline(&rows, self.targets.rto_seconds, &pauses, &marks));
        b.push_str("<h2>Steps</h2><table id=\"steps\"><tr><th>step</th><th>status</th><th>duration</th><th>retries</th><th>outcome</th></tr>");
        for st in &self.steps {
            let evidence = super::hook_evidence_line(&st.data)
                .map(|l| format!("<br><small>{}</small>", esc(&l)))
                .unwrap_or_default();
            let flag = if st.forced_skip {
                "<b class=\"bad\">SAFETY STEP SKIPPED (--force)</b> "
            } else {
                ""
            };
            let _ = write!(
                b,
                "<tr data-step=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{flag}{}{evidence}</td></tr>",
                esc(st.id.as_str()),
                esc(st.id.as_str()),
                status_name(st.status),
                st.duration_seconds.map(seconds).unwrap_or_default(),
                st.retries,
                esc(&step_note(st))
            );
        }
        b.push_str("</table>");
        let hooks: Vec<&StepReport> = self
            .steps
            .iter()
            .filter(|s| s.data.get("hook").is_some())
            .collect();
        if !hooks.is_empty() {
            b.push_str("<h2>Hooks and their evidence</h2>");
            for st in hooks {
                let pretty = serde_json::to_string_pretty(&st.data["hook"]).unwrap_or_default();
                let _ = write!(
                    b,
                    "<details><summary>{} ({})</summary><pre>{}</pre></details>",
                    esc(st.id.as_str()),
                    status_name(st.status),
                    esc(&pretty)
                );
            }
        }
        if !self.checks.is_empty() {
            b.push_str(
                "<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>evidence</th></tr>",
            );
            for c in &self.checks {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.name),
                    c.status.as_str(),
                    esc(&c.evidence)
                );
            }
            b.push_str("</table>");
        }
        if !self.escalations.is_empty() {
            b.push_str("<h2>Escalations</h2><ul>");
            for e in &self.escalations {
                let _ = write!(
                    b,
                    "<li>{} <b>{}</b>: {}</li>",
                    esc(&e.at),
                    esc(&e.reason),
                    esc(&e.message)
                );
            }
            b.push_str("</ul>");
        }
        if !self.controls.is_empty() {
            b.push_str("<h2>Operator actions</h2><ul>");
            for c in &self.controls {
                let _ = write!(
                    b,
                    "<li>{} {}: {}</li>",
                    esc(&c.at),
                    esc(&c.by),
                    esc(&c.request)
                );
            }
            b.push_str("</ul>");
        }
        if !self.notifications.is_empty() {
            b.push_str("<h2>Notifications</h2><ul>");
            for n in &self.notifications {
                let _ = write!(
                    b,
                    "<li>{} {} → {}{}</li>",
                    esc(&n.at),
                    esc(&n.template),
                    esc(&n.sink),
                    n.error
                        .as_ref()
                        .map(|e| format!(" <b class=\"bad\">failed: {}</b>", esc(e)))
                        .unwrap_or_default()
                );
            }
            b.push_str("</ul>");
        }
        if !self.provider_calls.is_empty() {
            b.push_str("<h2>Calls by provider</h2><table><tr><th>provider</th><th>calls</th><th>transient errors</th><th>other errors</th></tr>");
            for (name, c) in &self.provider_calls {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(name),
                    c.calls,
                    c.transient_errors,
                    c.errors
                );
            }
            b.push_str("</table>");
        }
        page(&format!("aegis-dr {} {}", self.operation, self.run_id), &b)
    }
}

/// The planned graph of `preview` drawn like a report's timeline: each step at its earliest start
/// by the estimate, the critical path marked, the RTO budget as a line.
pub fn plan_html(plan: &str, preview: &PlanPreview) -> String {
    let mut start: std::collections::BTreeMap<&StepId, f64> = Default::default();
    let mut rows = Vec::new();
    for s in &preview.graph.steps {
        let est = preview
            .estimate
            .steps
            .get(&s.id)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let at = s
            .deps
            .iter()
            .filter_map(|d| start.get(d).copied())
            .fold(0.0, f64::max);
        start.insert(&s.id, at + est);
        rows.push(Row {
            id: s.id.as_str(),
            title: &s.title,
            status: "planned",
            start: Some(at),
            end: Some(at + est),
            estimate: est,
            critical: preview.estimate.critical_path.contains(&s.id),
            note: format!("estimate {}", seconds(est)),
            forced_skip: false,
        });
    }
    let rto = preview.targets.rto.as_secs_f64();
    let total = preview.estimate.total.as_secs_f64();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>aegis-dr {} plan</h1><div class=\"meta\">plan <b>{}</b> · {} · dry run: nothing is changed</div><div class=\"cards\"><div class=\"card\">estimate<b class=\"{}\">{}</b>RTO {}</div><div class=\"card\">steps<b>{}</b></div></div>",
        preview.operation.as_str(),
        esc(plan),
        preview.class,
        if total <= rto { "ok" } else { "bad" },
        esc(&seconds(total)),
        esc(&seconds(rto)),
        rows.len()
    );
    b.push_str("<h2>Planned timeline</h2>");
    b.push_str(&timeline(&rows, rto, &[], &[]));
    page(&format!("aegis-dr plan {plan}"), &b)
}

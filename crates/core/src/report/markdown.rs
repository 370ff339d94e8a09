//! The report as Markdown (`report.md`).

use std::fmt::Write as _;

use super::{seconds, Report};

impl Report {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let secs = |v: Option<f64>| v.map(seconds).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(s, "# aegis-dr {} report: {}\n", self.operation, self.run_id);
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| plan | {} |", self.plan);
        let _ = writeln!(s, "| incident class | {} |", self.class);
        let _ = writeln!(s, "| status | **{}** |", self.status.as_str());
        let _ = writeln!(s, "| started | {} |", self.started_at);
        let _ = writeln!(
            s,
            "| finished | {} |",
            self.finished_at.as_deref().unwrap_or("(not finished)")
        );
        let _ = writeln!(
            s,
            "| duration | {} (estimate {}) |",
            seconds(self.duration_seconds),
            seconds(self.estimate_seconds)
        );
        let verdict = |achieved: Option<f64>, target: f64| match achieved {
            Some(a) if a <= target => " (met)",
            Some(_) => " (**missed**)",
            None => "",
        };
        let _ = writeln!(
            s,
            "| RTO | achieved {} / target {}{} |",
            secs(self.achieved.rto_seconds),
            seconds(self.targets.rto_seconds),
            verdict(self.achieved.rto_seconds, self.targets.rto_seconds)
        );
        let rpo = if self.achieved.rpo_unknown {
            "**unknown** (a replication lag could not be measured)".to_string()
        } else {
            secs(self.achieved.rpo_seconds)
        };
        let _ = writeln!(
            s,
            "| RPO | achieved {rpo} / target {}{} |",
            seconds(self.targets.rpo_seconds),
            verdict(self.achieved.rpo_seconds, self.targets.rpo_seconds)
        );
        if self.resumes > 0 {
            let _ = writeln!(s, "| resumed | {} time(s) |", self.resumes);
        }
        if let Some(p) = &self.recovery_point {
            let _ = writeln!(
                s,
                "| recovery point | {p} (asked for with --recovery-point) |"
            );
        }
        if let Some(u) = &self.undoes {
            let _ = writeln!(s, "| undoes | failover {u} (its incident class) |");
        }
        if let Some(a) = &self.abandoned {
            let _ = writeln!(s, "\n**Abandoned:** {a}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "\n**Error:** {}", e.message);
        }
        let _ = writeln!(
            s,
            "\n## Steps\n\n| step | status | duration | retries | outcome |\n|---|---|---|---|---|"
        );
        for st in &self.steps {
            let flag = if st.forced_skip {
                "**SAFETY STEP SKIPPED (--force)** "
            } else {
                ""
            };
            let outcome = st.outcome().replace('|', "\\|");
            let _ = writeln!(
                s,
                "| {} | {:?} | {} | {} | {flag}{} |",
                st.id,
                st.status,
                secs(st.duration_seconds),
                st.retries,
                outcome
            );
            for e in st.earlier_errors() {
                let _ = writeln!(
                    s,
                    "|  | | | | an earlier attempt failed: {} |",
                    e.message.replace('|', "\\|")
                );
            }
            if let Some(line) = super::hook_evidence_line(&st.data) {
                let _ = writeln!(s, "|  | | | | {} |", line.replace('|', "\\|"));
            }
            let log = crate::run::StepOutputView::of(&st.data).job_log;
            for line in log.iter().flatten() {
                let _ = writeln!(s, "|  | | | | job: {} |", line.replace('|', "\\|"));
            }
        }
        let forced = self.forced_skips();
        if !forced.is_empty() {
            let _ = writeln!(
                s,
                "\n**Safety steps skipped with --force:** {}",
                forced.join(", ")
            );
        }
        if !self.controls.is_empty() {
            let _ = writeln!(s, "\n## Operator actions\n");
            for c in &self.controls {
                let _ = writeln!(s, "- {} {}: {}", c.at, c.by, c.request);
            }
        }
        if !self.critical_path.is_empty() {
            let _ = writeln!(s, "\nCritical path: {}", self.critical_path.join(" → "));
        }
        if !self.provider_calls.is_empty() {
            let _ = writeln!(
                s,
                "\n## Calls by provider\n\n| provider | calls | transient errors | other errors |\n|---|---|---|---|"
            );
            for (name, c) in &self.provider_calls {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} |",
                    c.calls, c.transient_errors, c.errors
                );
            }
        }
        if !self.checks.is_empty() {
            let _ = writeln!(
                s,
                "\n## Checks\n\n| check | status | evidence |\n|---|---|---|"
            );
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    c.name,
                    c.status.as_str(),
                    c.evidence.replace('|', "\\|")
                );
            }
        }
        if !self.escalations.is_empty() {
            let _ = writeln!(s, "\n## Escalations\n");
            for e in &self.escalations {
                let _ = writeln!(s, "- {} **{}**: {}", e.at, e.reason, e.message);
            }
        }
        if !self.notifications.is_empty() {
            let _ = writeln!(s, "\n## Notifications\n");
            for n in &self.notifications {
                let _ = writeln!(
                    s,
                    "- {} {} -> {}{}",
                    n.at,
                    n.template,
                    n.sink,
                    n.error
                        .as_ref()
                        .map(|e| format!(" (failed: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        s
    }
}

//! The state of one trigger between evaluations: inactive, pending (firing, not yet for its `for`),
//! firing, or unknown (no value: Prometheus down, an empty answer, NaN). Unknown never counts as
//! firing, and breaks a pending run of evaluations.

use serde::Serialize;

use crate::{error::Result, plan::TriggerSpec, promql::Sample};

/// Where a trigger stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleState {
    /// Not firing.
    Inactive,
    /// Firing, for less than its `for`.
    Pending,
    /// Firing for its `for` or longer.
    Firing,
    /// Could not be evaluated.
    Unknown,
}

impl RuleState {
    /// Its name in metrics and output.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Inactive => "inactive",
            RuleState::Pending => "pending",
            RuleState::Firing => "firing",
            RuleState::Unknown => "unknown",
        }
    }
}

/// What an evaluation changed that the controller acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Nothing to do.
    None,
    /// It has fired for its `for`: act (once per episode).
    Fire,
    /// It has been unknown for `unknown_escalate_after`: escalate (once per episode).
    UnknownTooLong,
}

/// One trigger's evaluations.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// The trigger.
    pub spec: TriggerSpec,
    /// Where it stands.
    pub state: RuleState,
    /// The worst value of the last evaluation (the one furthest past the threshold, or nearest).
    pub value: Option<f64>,
    /// When it was last evaluated (epoch ms).
    pub evaluated_ms: Option<u64>,
    /// Why it is unknown, or which series fired.
    pub detail: String,
    /// Since when it has fired without a break, or been unknown.
    since_ms: Option<u64>,
    /// It acted (or escalated) in this episode.
    handled: bool,
}

impl Rule {
    /// A trigger not yet evaluated.
    pub fn new(spec: TriggerSpec) -> Rule {
        Rule {
            spec,
            state: RuleState::Inactive,
            value: None,
            evaluated_ms: None,
            detail: String::new(),
            since_ms: None,
            handled: false,
        }
    }

    /// Takes one evaluation at `now_ms`.
    pub fn observe(
        &mut self,
        now_ms: u64,
        result: Result<Vec<Sample>>,
        unknown_escalate_after_ms: u64,
    ) -> Transition {
        self.evaluated_ms = Some(now_ms);
        let fires = self.spec.fires;
        let (firing, unknown, value, detail) = match result {
            Err(e) => (false, true, None, e.to_string()),
            Ok(samples) if samples.is_empty() => (
                false,
                true,
                None,
                "no data (an unknown value never fires)".to_string(),
            ),
            Ok(samples) => {
                let hit: Vec<&Sample> = samples.iter().filter(|s| fires.holds(s.value)).collect();
                let finite: Vec<f64> = samples
                    .iter()
                    .map(|s| s.value)
                    .filter(|v| v.is_finite())
                    .collect();
                let worst = match fires {
                    crate::plan::Bound::Below(_) => finite.iter().copied().reduce(f64::min),
                    crate::plan::Bound::Above(_) => finite.iter().copied().reduce(f64::max),
                };
                if !hit.is_empty() {
                    let series: Vec<String> = hit
                        .iter()
                        .map(|s| format!("{} = {}", s.series, s.value))
                        .collect();
                    (true, false, worst, series.join(", "))
                } else if finite.len() < samples.len() {
                    (
                        false,
                        true,
                        worst,
                        "a series has no number (NaN)".to_string(),
                    )
                } else {
                    (false, false, worst, String::new())
                }
            }
        };
        self.value = value;
        self.detail = detail;
        let was = self.state;
        if unknown {
            if was != RuleState::Unknown {
                self.since_ms = Some(now_ms);
                self.handled = false;
            }
            self.state = RuleState::Unknown;
            let since = self.since_ms.unwrap_or(now_ms);
            if !self.handled && now_ms.saturating_sub(since) >= unknown_escalate_after_ms {
                self.handled = true;
                return Transition::UnknownTooLong;
            }
            return Transition::None;
        }
        if !firing {
            self.state = RuleState::Inactive;
            self.since_ms = None;
            self.handled = false;
            return Transition::None;
        }
        if !matches!(was, RuleState::Pending | RuleState::Firing) {
            self.since_ms = Some(now_ms);
            self.handled = false;
        }
        let since = self.since_ms.unwrap_or(now_ms);
        if now_ms.saturating_sub(since) >= self.spec.hold.as_millis() as u64 {
            self.state = RuleState::Firing;
            if !self.handled {
                self.handled = true;
                return Transition::Fire;
            }
        } else {
            self.state = RuleState::Pending;
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        error::{Error, ErrorKind},
        plan::{Bound, TriggerAction},
        IncidentClass,
    };

    fn rule(hold_s: u64) -> Rule {
        Rule::new(TriggerSpec {
            name: "health".into(),
            query: "avg(h)".into(),
            fires: Bound::Below(0.3),
            hold: Duration::from_secs(hold_s),
            class: IncidentClass::RegionOutage,
            action: TriggerAction::Failover,
        })
    }

    fn v(x: f64) -> Result<Vec<Sample>> {
        Ok(vec![Sample {
            series: "{}".into(),
            value: x,
        }])
    }

    #[test]
    fn fires_once_after_holding_for_its_for_and_a_blip_does_not() {
        let mut r = rule(60);
        assert_eq!(r.observe(0, v(0.1), 300_000), Transition::None);
        assert_eq!(r.state, RuleState::Pending);
        assert_eq!(r.observe(30_000, v(0.9), 300_000), Transition::None);
        assert_eq!(r.state, RuleState::Inactive, "a blip resets it");
        assert_eq!(r.observe(40_000, v(0.2), 300_000), Transition::None);
        assert_eq!(r.observe(100_000, v(0.2), 300_000), Transition::Fire);
        assert_eq!(
            r.observe(115_000, v(0.2), 300_000),
            Transition::None,
            "once"
        );
        assert_eq!(r.state, RuleState::Firing);
    }

    #[test]
    fn unknown_never_fires_breaks_a_pending_run_and_escalates_once_after_a_while() {
        let mut r = rule(60);
        r.observe(0, v(0.1), 120_000);
        let down = || Err(Error::new(ErrorKind::Unreachable, "Prometheus down"));
        assert_eq!(r.observe(30_000, down(), 120_000), Transition::None);
        assert_eq!(r.state, RuleState::Unknown);
        assert_eq!(
            r.observe(100_000, Ok(Vec::new()), 120_000),
            Transition::None
        );
        assert_eq!(
            r.observe(150_000, down(), 120_000),
            Transition::UnknownTooLong
        );
        assert_eq!(r.observe(165_000, down(), 120_000), Transition::None);
        // Back with data: pending again from scratch.
        assert_eq!(r.observe(170_000, v(0.1), 120_000), Transition::None);
        assert_eq!(r.state, RuleState::Pending);
        assert_eq!(r.observe(200_000, v(f64::NAN), 120_000), Transition::None);
        assert_eq!(r.state, RuleState::Unknown);
    }
}

//! Step ids: typed (a phase and a name), written as one string (`failover.declare`) in journals,
//! reports and on the command line.

use std::{borrow::Borrow, fmt};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The part of a run a step belongs to: a drill's failover or failback half, or the whole of any
/// other run. A drill's step ids carry it as a prefix (`failover.declare`, `failback.verify-primary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// A single-phase run (failover, failback, rollback): its step ids have no prefix.
    Whole,
    /// A drill's failover half.
    DrillFailover,
    /// A drill's failback half.
    DrillFailback,
}

impl Phase {
    /// The phase a step id written as `step_id` belongs to.
    fn of(step_id: &str) -> Phase {
        if step_id.starts_with(Phase::DrillFailover.prefix()) {
            Phase::DrillFailover
        } else if step_id.starts_with(Phase::DrillFailback.prefix()) {
            Phase::DrillFailback
        } else {
            Phase::Whole
        }
    }

    /// The prefix of its step ids.
    pub const fn prefix(self) -> &'static str {
        match self {
            Phase::Whole => "",
            Phase::DrillFailover => "failover.",
            Phase::DrillFailback => "failback.",
        }
    }
}

/// A step's id: the phase it belongs to and its name in that phase. Written (and compared with
/// strings) as the phase's prefix and the name: `declare`, `failover.declare`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId {
    /// The whole id as written; the phase is its prefix.
    full: String,
}

impl StepId {
    /// The step `name` of `phase`.
    pub fn new(phase: Phase, name: &str) -> StepId {
        StepId {
            full: format!("{}{name}", phase.prefix()),
        }
    }

    /// The phase the step belongs to.
    pub fn phase(&self) -> Phase {
        Phase::of(&self.full)
    }

    /// Its name within its phase (`declare` for `failover.declare`).
    pub fn name(&self) -> &str {
        &self.full[self.phase().prefix().len()..]
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl From<&str> for StepId {
    /// A step id as written (its phase read from its prefix).
    fn from(s: &str) -> StepId {
        StepId { full: s.into() }
    }
}

impl From<String> for StepId {
    fn from(full: String) -> StepId {
        StepId { full }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the tables of `plan` and `status` align step ids with `{:<34}`.
        f.pad(&self.full)
    }
}

impl Borrow<str> for StepId {
    fn borrow(&self) -> &str {
        &self.full
    }
}

impl AsRef<str> for StepId {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl PartialEq<str> for StepId {
    fn eq(&self, o: &str) -> bool {
        self.full == o
    }
}

impl PartialEq<&str> for StepId {
    fn eq(&self, o: &&str) -> bool {
        self.full == *o
    }
}

impl PartialEq<String> for StepId {
    fn eq(&self, o: &String) -> bool {
        &self.full == o
    }
}

impl Serialize for StepId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for StepId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<StepId, D::Error> {
        String::deserialize(d).map(StepId::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_phase_and_read_as_written() {
        let id = StepId::new(Phase::DrillFailback, "verify-primary");
        assert_eq!(id.as_str(), "failback.verify-primary");
        assert_eq!(id.phase(), Phase::DrillFailback);
        assert_eq!(id.name(), "verify-primary");
        let whole = StepId::from("db.promote");
        assert_eq!((whole.phase(), whole.name()), (Phase::Whole, "db.promote"));
        assert_eq!(
            StepId::from("failover.declare").phase(),
            Phase::DrillFailover
        );
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"failback.verify-primary\"");
        assert_eq!(serde_json::from_str::<StepId>(&json).expect("back"), id);
    }
}

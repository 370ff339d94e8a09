//! The ways out of a stopped run: the command that goes forward and the one that goes back.

use super::Operation;

/// The ways out of a stopped run: the command that goes forward (resumes it, once its cause is
/// fixed) and the one that goes back, with where back is. A drill whose failback phase had started
/// goes back as a failback does (to the DR site): `rollback` refuses it.
pub fn ways_out(
    operation: Operation,
    run_id: &str,
    class: &str,
    drill_failback_started: bool,
) -> WaysOut {
    let to_dr = match operation {
        Operation::Failback | Operation::Rollback => true,
        Operation::Drill => drill_failback_started,
        Operation::Failover => false,
    };
    WaysOut {
        forward: format!("aegis-dr {} --resume {run_id} --yes", operation.as_str()),
        back: if to_dr {
            format!("aegis-dr failover --class {class} --yes")
        } else {
            format!("aegis-dr rollback {run_id} --yes")
        },
        back_to: if to_dr {
            "the DR site"
        } else {
            "the primary site"
        },
    }
}

/// Commands that go forward or back from a stopped run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaysOut {
    /// Resumes the run (after its cause is fixed).
    pub forward: String,
    /// Moves the estate back to where it served before the run.
    pub back: String,
    /// Where `back` moves it.
    pub back_to: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_is_rollback_until_a_drill_starts_failing_back() {
        let back = |op, started| ways_out(op, "r1", "region-outage", started);
        assert_eq!(
            back(Operation::Failover, false).back,
            "aegis-dr rollback r1 --yes"
        );
        assert_eq!(
            back(Operation::Drill, false).back,
            "aegis-dr rollback r1 --yes"
        );
        let drill = back(Operation::Drill, true);
        assert_eq!(drill.back, "aegis-dr failover --class region-outage --yes");
        assert_eq!(drill.back_to, "the DR site");
        assert_eq!(drill.forward, "aegis-dr drill --resume r1 --yes");
        assert_eq!(back(Operation::Failback, false).back_to, "the DR site");
    }
}

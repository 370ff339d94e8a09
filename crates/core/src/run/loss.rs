//! The data a phase lost, as its steps measured it.

use std::time::Duration;

use crate::duration::format_duration;

/// The data a phase lost, as measured: the largest measured window, and whether any window could
/// not be measured (then the phase's RPO is unknown, never zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataLoss {
    /// Largest measured window in ms.
    pub worst_ms: Option<u64>,
    /// True when a window was not measured.
    pub unknown: bool,
}

impl DataLoss {
    /// Adds one window (`None`: not measured).
    pub fn add(&mut self, ms: Option<u64>) {
        match ms {
            Some(ms) => self.worst_ms = Some(self.worst_ms.map_or(ms, |w| w.max(ms))),
            None => self.unknown = true,
        }
    }

    /// Adds the windows of `other`.
    pub fn merge(&mut self, other: DataLoss) {
        if other.worst_ms.is_some() {
            self.add(other.worst_ms);
        }
        self.unknown |= other.unknown;
    }

    /// The achieved RPO in seconds: `None` when a window was not measured, 0 when nothing moved.
    pub fn rpo_seconds(self) -> Option<f64> {
        (!self.unknown).then(|| self.worst_ms.unwrap_or(0) as f64 / 1000.0)
    }

    /// The RPO as people read it.
    pub fn describe(self) -> String {
        match (self.unknown, self.worst_ms) {
            (true, _) => "unknown (a replication lag could not be measured)".into(),
            (false, Some(ms)) => format_duration(Duration::from_millis(ms)),
            (false, None) => "0ms (no data moved)".into(),
        }
    }
}

//! Time, injected: real time in production, virtual time under a paused tokio runtime in tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock anchored at the wall-clock time of its creation and advanced by tokio's monotonic clock,
/// so `tokio::time::pause` makes every wait and timestamp virtual.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: u64,
    start: tokio::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock reading the current wall-clock time.
    pub fn new() -> Clock {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock::starting_at(base_ms)
    }

    /// A clock reading `base_ms` (milliseconds since the Unix epoch) now.
    pub fn starting_at(base_ms: u64) -> Clock {
        Clock {
            base_ms,
            start: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.start.elapsed().as_millis() as u64
    }

    /// The time now, as a [`SystemTime`] (virtual under a paused runtime, as [`Clock::now_ms`]).
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }

    /// Sleeps (virtually under a paused runtime).
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

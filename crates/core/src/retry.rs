//! Retries with jittered exponential backoff (only for retryable errors), and deadline-bounded waits.

use std::{future::Future, time::Duration};

use rand::Rng;

use crate::{
    clock::Clock,
    duration::format_duration,
    error::{Error, ErrorKind, Result, RetryStatus},
};

/// How to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time, with full jitter.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (full jitter: uniform in `[0, base * 2^(attempt-1)]`).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let cap = exp.min(self.max_delay);
        let ms = cap.as_millis() as u64;
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::thread_rng().gen_range(ms / 4..=ms))
    }
}

/// Runs `f` until it succeeds, fails permanently, or the attempts are used up (the error then becomes
/// persistent). `on_retry` is told of each retried error.
pub async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    clock: &Clock,
    what: &str,
    mut on_retry: impl FnMut(&Error),
    mut f: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.attempts => {
                on_retry(&e);
                drop(e);
                // Boxed, as backing off is the rare path: a fan-out holds thousands of these
                // futures at once, and an inline timer would make each of them larger.
                Box::pin(clock.sleep(policy.delay(attempt))).await;
                attempt += 1;
            }
            // "Still failing after retries" only where there were retries.
            Err(e) if e.is_retryable() && policy.attempts > 1 => {
                return Err(e.persisted().context(what))
            }
            Err(e) => return Err(e.context(what)),
        }
    }
}

/// Polling settings of a wait.
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    /// First poll interval.
    pub initial: Duration,
    /// Longest poll interval.
    pub max: Duration,
    /// Epoch milliseconds after which the wait gives up with "exceeded max wait".
    pub deadline_ms: u64,
}

/// Polls `poll` (each poll itself retried by `policy`) until it yields `Some`, backing off between
/// polls, and ends in an [`ErrorKind::Timeout`] error at the deadline.
pub async fn await_condition<T, F, Fut>(
    retry_policy: RetryPolicy,
    wait: WaitPolicy,
    clock: &Clock,
    what: &str,
    mut on_retry: impl FnMut(&Error),
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = clock.now_ms();
    let mut interval = wait.initial;
    loop {
        let last_error = match retry(retry_policy, clock, what, &mut on_retry, &mut poll).await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => None,
            // A read that kept failing transiently does not end the wait; the deadline does.
            Err(e) if e.retry_status() == RetryStatus::Persistent || e.is_retryable() => Some(e),
            Err(e) => return Err(e),
        };
        let now = clock.now_ms();
        if now >= wait.deadline_ms {
            let waited = format_duration(Duration::from_millis(now.saturating_sub(started)));
            let msg = match last_error {
                Some(e) => {
                    format!("{what}: condition not reached after {waited}; last poll failed: {e}")
                }
                None => format!("{what}: condition not reached after {waited}"),
            };
            return Err(Error::new(ErrorKind::Timeout, msg));
        }
        let left = Duration::from_millis(wait.deadline_ms - now);
        clock.sleep(interval.min(left)).await;
        interval = (interval.saturating_mul(3) / 2).min(wait.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_retryable_errors() {
        let clock = Clock::starting_at(0);
        let n = AtomicU32::new(0);
        let out: Result<u32> = retry(
            policy(),
            &clock,
            "op",
            |_| {},
            || async {
                if n.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Throttled, "slow down"))
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(n.load(Ordering::SeqCst), 3);

        let n = AtomicU32::new(0);
        let out: Result<u32> = retry(
            policy(),
            &clock,
            "op",
            |_| {},
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(Error::new(ErrorKind::PermissionDenied, "no"))
            },
        )
        .await;
        assert_eq!(out.unwrap_err().kind(), ErrorKind::PermissionDenied);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_retries_become_persistent() {
        let clock = Clock::starting_at(0);
        let err = retry::<(), _, _>(
            policy(),
            &clock,
            "fence db",
            |_| {},
            || async { Err(Error::new(ErrorKind::Unreachable, "down")) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.retry_status(), crate::RetryStatus::Persistent);
        assert!(err.to_string().contains("fence db"));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_end_at_the_deadline_in_virtual_time() {
        let clock = Clock::starting_at(0);
        let wait = WaitPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            deadline_ms: 2 * 3600 * 1000,
        };
        let polls = AtomicU32::new(0);
        let err = await_condition::<(), _, _>(
            policy(),
            wait,
            &clock,
            "nodes ready",
            |_| {},
            || async {
                polls.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.to_string().contains("exceeded max wait"), "{err}");
        assert!(clock.now_ms() >= wait.deadline_ms);
        // backoff capped at 30 s: about 2h / 30s polls, not one per second
        let p = polls.load(Ordering::SeqCst);
        assert!(p > 200 && p < 400, "{p} polls");

        let polls = AtomicU32::new(0);
        let wait = WaitPolicy {
            deadline_ms: clock.now_ms() + 60_000,
            ..wait
        };
        let v = await_condition(
            policy(),
            wait,
            &clock,
            "x",
            |_| {},
            || async { Ok((polls.fetch_add(1, Ordering::SeqCst) == 3).then_some(5)) },
        )
        .await;
        assert_eq!(v.unwrap(), 5);
    }
}

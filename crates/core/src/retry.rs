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

/// One look at what a wait awaits.
#[derive(Debug)]
pub enum Poll<T> {
    /// Reached, with its value.
    Ready(T),
    /// Not yet. `seen` says what was seen (for the timeout message); `next` is when to look again
    /// if the service said so (`Retry-After`), else the wait's own backoff decides.
    Pending {
        /// What this poll saw, e.g. `RUNNING` or `2/3 available`.
        seen: String,
        /// The service's own pause before the next poll, if it gave one.
        next: Option<Duration>,
    },
    /// What was awaited ended in failure: the wait ends with this error as it is (even one the
    /// caller may retry, as a whole, such as a conflict).
    Failed(Error),
}

impl<T> Poll<T> {
    /// Not yet, having seen `seen`.
    pub fn pending(seen: impl Into<String>) -> Poll<T> {
        Poll::Pending {
            seen: seen.into(),
            next: None,
        }
    }
}

/// The one wait loop: polls `poll` until it is [`Poll::Ready`], fails with an error that is not
/// retryable, or the deadline passes. A retryable error from a poll does not end the wait (the
/// deadline does). Pauses follow the service's `next` when given, else grow from `wait.initial` by
/// half each time up to `wait.max`, and never sleep past the deadline. Time comes from `clock`, so a
/// paused runtime makes a long wait virtual. At the deadline the error is an
/// [`ErrorKind::Timeout`] ("exceeded max wait") naming `what`, how long it waited and what was last
/// seen; the operation may still finish.
pub async fn poll_until<T, F, Fut>(
    clock: &Clock,
    wait: WaitPolicy,
    what: &str,
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let mut pacer = Pacer::new(clock, wait, what);
    loop {
        let (seen, next) = match poll().await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Pending { seen, next }) => (seen, next),
            Ok(Poll::Failed(e)) => return Err(e),
            Err(e) if ends_no_wait(&e) => (format!("the last poll failed: {e}"), None),
            Err(e) => return Err(e),
        };
        pacer.pause(seen, next).await?;
    }
}

/// Polls `poll` (each poll itself retried by `policy`) until it yields `Some`, backing off between
/// polls as [`poll_until`] does, and ends in an [`ErrorKind::Timeout`] error at the deadline.
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
    let mut pacer = Pacer::new(clock, wait, what);
    loop {
        let seen = match retry(retry_policy, clock, what, &mut on_retry, &mut poll).await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "the condition does not hold yet".to_string(),
            Err(e) if ends_no_wait(&e) => format!("the last poll failed: {e}"),
            Err(e) => return Err(e),
        };
        pacer.pause(seen, None).await?;
    }
}

/// A poll that failed transiently (or kept failing so) does not end a wait; the deadline does.
fn ends_no_wait(e: &Error) -> bool {
    e.retry_status() == RetryStatus::Persistent || e.is_retryable()
}

/// The pauses of one wait, and its end at the deadline.
struct Pacer<'a> {
    clock: &'a Clock,
    wait: WaitPolicy,
    what: &'a str,
    started: u64,
    interval: Duration,
}

impl<'a> Pacer<'a> {
    fn new(clock: &'a Clock, wait: WaitPolicy, what: &'a str) -> Pacer<'a> {
        Pacer {
            clock,
            wait,
            what,
            started: clock.now_ms(),
            interval: wait.initial,
        }
    }

    /// Sleeps before the next poll: the service's `next` when given, else the growing interval;
    /// never past the deadline. At the deadline (or when the service's pause would cross it): the
    /// timeout error, naming what was last `seen`.
    async fn pause(&mut self, seen: String, next: Option<Duration>) -> Result<()> {
        let now = self.clock.now_ms();
        let pause = next.unwrap_or(self.interval);
        let beyond = next.is_some_and(|p| now.saturating_add(ms(p)) > self.wait.deadline_ms);
        if now >= self.wait.deadline_ms || beyond {
            let waited = format_duration(Duration::from_millis(now.saturating_sub(self.started)));
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{}: not done after {waited} (last seen: {seen}); it may still finish, run again to observe it",
                    self.what
                ),
            ));
        }
        let left = Duration::from_millis(self.wait.deadline_ms - now);
        self.clock.sleep(pause.min(left)).await;
        if next.is_none() {
            self.interval = (self.interval.saturating_mul(3) / 2).min(self.wait.max);
        }
        Ok(())
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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

    #[tokio::test(start_paused = true)]
    async fn polls_follow_the_service_pause_and_name_what_was_last_seen() {
        let clock = Clock::starting_at(0);
        let wait = WaitPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(1),
            deadline_ms: 60_000,
        };
        // The service asks for 20 s between polls: four polls (0, 20, 40, 60 s), not sixty.
        let polls = AtomicU32::new(0);
        let err = poll_until::<(), _, _>(&clock, wait, "failover of fg", || async {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            Ok(Poll::Pending {
                seen: format!("status InProgress #{n}"),
                next: Some(Duration::from_secs(20)),
            })
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        let msg = err.to_string();
        assert!(msg.contains("exceeded max wait"), "{msg}");
        assert!(msg.contains("failover of fg"), "{msg}");
        assert!(msg.contains("last seen: status InProgress #3"), "{msg}");
        assert_eq!(polls.load(Ordering::SeqCst), 4);
        // It gave up at the deadline, without sleeping past it.
        assert_eq!(clock.now_ms(), 60_000);

        // A transient error does not end the wait; a failure the poll reports does, as it is.
        let polls = AtomicU32::new(0);
        let err = poll_until::<(), _, _>(
            &clock,
            WaitPolicy {
                deadline_ms: clock.now_ms() + 60_000,
                ..wait
            },
            "op",
            || async {
                match polls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::new(ErrorKind::Unreachable, "reset")),
                    1 => Ok(Poll::pending("RUNNING")),
                    _ => Ok(Poll::Failed(Error::new(
                        ErrorKind::Conflict,
                        "FailoverGroupBusy",
                    ))),
                }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(polls.load(Ordering::SeqCst), 3);

        // A permanent error from a poll ends it at once.
        let err = poll_until::<(), _, _>(
            &clock,
            WaitPolicy {
                deadline_ms: clock.now_ms() + 60_000,
                ..wait
            },
            "op",
            || async { Err(Error::new(ErrorKind::PermissionDenied, "no")) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);

        let v = poll_until(
            &clock,
            WaitPolicy {
                deadline_ms: clock.now_ms() + 60_000,
                ..wait
            },
            "op",
            || async { Ok(Poll::Ready(9)) },
        )
        .await;
        assert_eq!(v.unwrap(), 9);
    }
}

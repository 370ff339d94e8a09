//! Fan-out inside a step: every item run with a bound on the calls in flight, spread over tasks
//! when the items are many and the step is on the critical path.

use std::{future::Future, task::Poll};

use futures_util::{stream::FuturesUnordered, StreamExt};

use crate::error::{Error, ErrorKind, Result};

/// Below this many light items per worker thread a fan-out stays in one task.
pub(crate) const MIN_ITEMS_PER_TASK: usize = 256;

/// How much work one item of a [`StepCtx::fan_out_tasks`] carries, which decides from how many items
/// on the fan-out is worth spreading over tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemWork {
    /// One call: a request to build, an answer to read ([`MIN_ITEMS_PER_TASK`] items per task).
    Light,
    /// A listing of many objects to match against the plan (spread from two items on).
    Heavy,
}

impl ItemWork {
    pub(crate) fn min_per_task(self) -> usize {
        match self {
            ItemWork::Light => MIN_ITEMS_PER_TASK,
            ItemWork::Heavy => 1,
        }
    }
}

/// How many tasks a fan-out of `len` items with at most `n` in flight uses on `workers` threads,
/// giving each task at least `min_per_task` items.
pub(crate) fn task_count(len: usize, n: usize, workers: usize, min_per_task: usize) -> usize {
    workers.min(len / min_per_task.max(1)).min(n).max(1)
}

/// Runs `f` over `items` with at most `n` in flight, split into contiguous chunks over `tasks` tasks
/// (each with its share of `n`); every result, in no particular order. Fails only when a task dies
/// (a panic).
pub(crate) async fn spread<I, T, F, Fut>(
    items: Vec<I>,
    n: usize,
    tasks: usize,
    pace: Pace,
    f: F,
) -> Result<Vec<Result<T>>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let tasks = tasks.clamp(1, n.max(1));
    if tasks == 1 {
        return Ok(bounded(items, n, pace, f).await);
    }
    let per_task = n / tasks;
    let chunk = items.len().div_ceil(tasks);
    let mut rest = items.into_iter();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let part: Vec<I> = rest.by_ref().take(chunk).collect();
        let f = f.clone();
        // The step's span follows its work into the tasks, so their logs say which step it is.
        set.spawn(tracing::Instrument::in_current_span(async move {
            bounded(part, per_task, pace, f).await
        }));
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(results) => out.extend(results),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Provider,
                    format!("a fan-out task died: {e}"),
                ))
            }
        }
    }
    Ok(out)
}

/// Whether a fan-out lets other tasks run while it launches and collects its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Without pausing: a step the run's duration depends on.
    Eager,
    /// Yielding to the runtime every so many items launched or collected, so a step with slack
    /// does not hold a worker thread through thousands of items while a step on the critical path
    /// waits for it.
    Yielding(usize),
}

/// Light items a [`Pace::Yielding`] fan-out handles between yields.
pub(crate) const PACE_CHUNK: usize = 64;

/// Runs `f` over `items` with at most `n` in flight and returns every result in completion order.
pub(crate) async fn bounded<I, T, F, Fut>(
    items: Vec<I>,
    n: usize,
    pace: Pace,
    f: F,
) -> Vec<Result<T>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // A hand-rolled bounded fan-out (not `buffer_unordered`), so the future stays provably `Send`.
    let n = n.max(1);
    let mut rest = items.into_iter();
    let mut inflight = FuturesUnordered::new();
    let mut results: Vec<Result<T>> = Vec::with_capacity(rest.len());
    let mut collected = 0;
    loop {
        // Fill up to the bound; when pacing, each chunk is polled once (its calls go out) before
        // the yield.
        let mut launched = 0;
        while inflight.len() < n {
            let Some(item) = rest.next() else { break };
            inflight.push(f(item));
            launched += 1;
            if matches!(pace, Pace::Yielding(chunk) if launched >= chunk.max(1)) {
                while let Poll::Ready(Some(r)) = futures_util::poll!(inflight.next()) {
                    results.push(r);
                }
                tokio::task::yield_now().await;
                launched = 0;
            }
        }
        // Empty only when every item has been launched and has finished.
        let Some(r) = inflight.next().await else {
            break;
        };
        results.push(r);
        collected += 1;
        if matches!(pace, Pace::Yielding(chunk) if collected % chunk.max(1) == 0) {
            tokio::task::yield_now().await;
        }
    }
    results
}

/// All values when every item succeeded, else the first error (with the count of failures).
pub(crate) fn first_error<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    let total = results.len();
    let mut ok = Vec::with_capacity(total);
    let mut first_err = None;
    let mut failed = 0;
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        None => Ok(ok),
        Some(e) if failed > 1 => Err(e.context(format!("{failed} of {total} items failed; first"))),
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        time::Duration,
    };

    #[test]
    fn small_fan_outs_stay_in_one_task() {
        let light = ItemWork::Light.min_per_task();
        assert_eq!(task_count(100, 8192, 2, light), 1);
        assert_eq!(task_count(511, 8192, 2, light), 1);
        assert_eq!(task_count(512, 8192, 2, light), 2);
        assert_eq!(task_count(5000, 8192, 8, light), 8);
        assert_eq!(
            task_count(5000, 1, 8, light),
            1,
            "a bound of one call in flight stays serial"
        );
        assert_eq!(task_count(5000, 8192, 1, light), 1);
        assert_eq!(task_count(0, 8192, 4, light), 1);
        // Heavy items (listings) spread from two on; never more tasks than items.
        let heavy = ItemWork::Heavy.min_per_task();
        assert_eq!(task_count(20, 8192, 2, heavy), 2);
        assert_eq!(task_count(1, 8192, 2, heavy), 1);
        assert_eq!(task_count(3, 8192, 8, heavy), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spread_runs_every_item_once_within_the_bound() {
        for pace in [Pace::Eager, Pace::Yielding(PACE_CHUNK), Pace::Yielding(1)] {
            spread_runs_every_item_once_within_the_bound_at(pace).await;
        }
    }

    async fn spread_runs_every_item_once_within_the_bound_at(pace: Pace) {
        let inflight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (i2, p2) = (inflight.clone(), peak.clone());
        let items: Vec<u32> = (0..2000).collect();
        let out = spread(items, 64, 2, pace, move |i| {
            let (inflight, peak) = (i2.clone(), p2.clone());
            async move {
                let now = inflight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_micros(200)).await;
                inflight.fetch_sub(1, Ordering::SeqCst);
                if i % 500 == 7 {
                    Err(Error::new(ErrorKind::Provider, format!("item {i}")))
                } else {
                    Ok(i)
                }
            }
        })
        .await
        .expect("no task dies");
        assert_eq!(out.len(), 2000);
        let mut ok: Vec<u32> = out
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        ok.sort_unstable();
        let expected: Vec<u32> = (0..2000).filter(|i| i % 500 != 7).collect();
        assert_eq!(ok, expected);
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 64, "at most 64 in flight, saw {peak}");
        assert!(peak > 1, "items ran concurrently");
        let err = first_error(out).expect_err("four items failed");
        assert!(err.to_string().contains("4 of 2000 items failed"), "{err}");
    }

    /// Runs 1000 items that finish as soon as they start on a one-thread runtime next to another
    /// task, and returns how many items had run before that task did.
    async fn items_run_before_another_task(pace: Pace) -> usize {
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let (r2, s2) = (ran.clone(), seen.clone());
        let other = tokio::spawn(async move {
            s2.store(r2.load(Ordering::SeqCst), Ordering::SeqCst);
        });
        let r3 = ran.clone();
        let out = bounded((0..1000u32).collect(), 100, pace, move |i| {
            let ran = r3.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(i)
            }
        })
        .await;
        let mut ok: Vec<u32> = out.into_iter().map(|r| r.expect("ok")).collect();
        ok.sort_unstable();
        assert_eq!(ok, (0..1000).collect::<Vec<_>>(), "every item once");
        other.await.expect("other task");
        seen.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_yielding_fan_out_lets_other_tasks_run_between_chunks() {
        assert_eq!(
            items_run_before_another_task(Pace::Eager).await,
            1000,
            "an eager fan-out of ready items keeps the thread"
        );
        let seen = items_run_before_another_task(Pace::Yielding(PACE_CHUNK)).await;
        assert!(seen <= PACE_CHUNK, "the other task waited for {seen} items");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spread_reports_a_panicking_task() {
        let items: Vec<u32> = (0..1000).collect();
        let out = spread(items, 100, 2, Pace::Eager, |i| async move {
            if i == 999 {
                panic!("boom");
            }
            Ok::<_, Error>(i)
        })
        .await;
        let err = out.expect_err("the task with item 999 died");
        assert!(err.to_string().contains("fan-out task died"), "{err}");
    }
}

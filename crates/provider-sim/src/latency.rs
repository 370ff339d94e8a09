//! A real-time timer for the simulator's per-call latency that fires within tens of microseconds of
//! its deadline. tokio's timer works in whole milliseconds and rounds every deadline up (and the
//! runtime parks in whole milliseconds), so a simulated 20 ms call would answer after ~21.5 ms: the
//! simulated API would be slower than configured, and the benchmark would charge that to the
//! orchestrator. One thread keeps the deadlines in a heap and sleeps on a condition variable until
//! the earliest. It runs in real time only: under a paused tokio clock use tokio's timer.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Condvar, Mutex,
    },
    task::{Context, Poll, Waker},
    time::Instant,
};

/// One pending wake-up: the waker of a [`Sleep`] and when to call it.
struct Entry {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Set when the timer is dropped: every sleep ends at once.
    shutdown: AtomicBool,
}

/// The timer; its thread ends when the timer is dropped.
pub(crate) struct PreciseTimer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PreciseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreciseTimer")
    }
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub(crate) fn start() -> std::io::Result<PreciseTimer> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::Builder::new()
            .name("aegis-sim-timer".into())
            .spawn(move || run(&s))?;
        Ok(PreciseTimer { shared })
    }

    /// A future that completes `d` from now.
    #[cfg(test)]
    pub(crate) fn sleep(&self, d: std::time::Duration) -> Sleep {
        self.sleep_until(Instant::now() + d)
    }

    /// A future that completes at `at` (at once when that has passed).
    pub(crate) fn sleep_until(&self, at: Instant) -> Sleep {
        Sleep {
            at,
            registered: None,
            shared: self.shared.clone(),
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        // Taken so the thread is either waiting (and gets the notification) or will see the flag.
        drop(self.shared.state.lock());
        self.shared.wake.notify_all();
    }
}

fn run(shared: &Shared) {
    let Ok(mut st) = shared.state.lock() else {
        return;
    };
    let mut due: Vec<Waker> = Vec::new();
    loop {
        if shared.shutdown.load(Ordering::Acquire) {
            // Nobody will wait for these deadlines any more: wake every sleeper (it then ends).
            let wakers: Vec<Waker> = std::mem::take(&mut st.heap)
                .into_iter()
                .map(|Reverse(e)| e.waker)
                .collect();
            drop(st);
            wakers.into_iter().for_each(Waker::wake);
            return;
        }
        let now = Instant::now();
        while st.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = st.heap.pop() {
                due.push(e.waker);
            }
        }
        if !due.is_empty() {
            // Wake outside the lock: woken tasks may register new deadlines at once.
            drop(st);
            for w in due.drain(..) {
                w.wake();
            }
            st = match shared.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            continue;
        }
        let next = st.heap.peek().map(|Reverse(e)| e.at);
        st = match next {
            Some(at) => match shared
                .wake
                .wait_timeout(st, at.saturating_duration_since(now))
            {
                Ok((s, _)) => s,
                Err(_) => return,
            },
            None => match shared.wake.wait(st) {
                Ok(s) => s,
                Err(_) => return,
            },
        };
    }
}

/// Completes at its deadline (see [`PreciseTimer::sleep_until`]). The deadline itself is the state:
/// a poll at or after it is ready, so a wake-up needs no shared flag (and no allocation).
pub(crate) struct Sleep {
    at: Instant,
    /// The waker the timer holds for this sleep.
    registered: Option<Waker>,
    shared: Arc<Shared>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.at || this.shared.shutdown.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Polled early (another part of the same task woke it): the timer still holds us.
            return Poll::Pending;
        }
        let Ok(mut st) = this.shared.state.lock() else {
            // A poisoned timer cannot wake us: do not hang, answer now.
            return Poll::Ready(());
        };
        if this.shared.shutdown.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        st.seq += 1;
        let earliest = st.heap.peek().is_none_or(|Reverse(e)| this.at < e.at);
        let seq = st.seq;
        let waker = cx.waker().clone();
        st.heap.push(Reverse(Entry {
            at: this.at,
            seq,
            waker: waker.clone(),
        }));
        drop(st);
        if earliest {
            this.shared.wake.notify_one();
        }
        // A sleep polled with another waker (moved to another task) registers again; the old
        // entry then wakes its task once, spuriously.
        this.registered = Some(waker);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleeps_end_at_their_deadlines_not_a_millisecond_late() {
        let timer = PreciseTimer::start().expect("timer thread");
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..200u64 {
            let s = timer.sleep(Duration::from_millis(5 + i % 10));
            set.spawn(async move {
                s.await;
                i
            });
        }
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            r.expect("task");
            n += 1;
        }
        assert_eq!(n, 200);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(14), "{took:?}");
        let one = Instant::now();
        timer.sleep(Duration::from_millis(20)).await;
        let late = one.elapsed().saturating_sub(Duration::from_millis(20));
        // tokio's timer is typically 1-2 ms late; this one is not (generous bound for busy CI).
        assert!(late < Duration::from_millis(5), "{late:?} late");
    }

    #[tokio::test]
    async fn a_dropped_timer_answers_instead_of_hanging() {
        let timer = PreciseTimer::start().expect("timer thread");
        let mut s = timer.sleep(Duration::from_secs(3600));
        assert!(futures_util::poll!(&mut s).is_pending(), "registered");
        drop(timer);
        tokio::time::timeout(Duration::from_secs(5), s)
            .await
            .expect("completes once the timer is gone");
    }
}

//! Progress on stderr while a run goes: on a terminal a live display (indicatif) with a line per
//! running step saying what it waits for and until when; off a terminal, or beside logs, plain
//! lines, one per transition and wait.

use std::{
    collections::HashMap,
    io::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

use aegis_dr::{
    clock::{rfc3339, Clock},
    duration::format_duration,
    orchestrator::{Progress, Step},
    Error,
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// "until 17:59:03Z (4m12s left)" for a deadline in epoch ms.
fn until(clock: &Clock, deadline_ms: u64) -> String {
    let left = deadline_ms.saturating_sub(clock.now_ms());
    // HH:MM:SS of the RFC 3339 time.
    let at = rfc3339(deadline_ms);
    let hms = at.get(11..19).unwrap_or(&at);
    format!(
        "until {hms}Z ({} left)",
        format_duration(Duration::from_secs(left.div_ceil(1000)))
    )
}

/// One line per step transition and wait, with the seconds since the start.
pub struct PlainProgress {
    started: Instant,
    clock: Clock,
    out: Mutex<Box<dyn Write + Send>>,
}

impl PlainProgress {
    /// Lines to stderr, starting now.
    pub fn stderr(clock: Clock) -> PlainProgress {
        PlainProgress::to(Box::new(std::io::stderr()), clock)
    }

    /// Lines to `out`.
    pub fn to(out: Box<dyn Write + Send>, clock: Clock) -> PlainProgress {
        PlainProgress {
            started: Instant::now(),
            clock,
            out: Mutex::new(out),
        }
    }

    fn line(&self, text: &str) {
        if let Ok(mut o) = self.out.lock() {
            let t = self.started.elapsed().as_secs_f64();
            let _ = writeln!(o, "[{t:7.2}s] {text}");
        }
    }
}

impl Progress for PlainProgress {
    fn step_started(&self, step: &Step) {
        self.line(&format!("  ... {:<28} {}", step.id, step.title));
    }
    fn step_finished(&self, step: &Step, outcome: Result<&str, &Error>) {
        match outcome {
            Ok(s) => self.line(&format!("  ok  {:<28} {s}", step.id)),
            Err(e) => self.line(&format!("  ERR {:<28} {e}", step.id)),
        }
    }
    fn step_waiting(&self, step: &Step, what: &str, deadline_ms: u64) {
        self.line(&format!(
            "  ~   {:<28} waiting for {what}, {}",
            step.id,
            until(&self.clock, deadline_ms)
        ));
    }
    fn message(&self, text: &str) {
        self.line(&format!("  !   {text}"));
    }
}

/// A live display: a spinner line per running step with what it waits for and its deadline;
/// finished steps and messages scroll above.
pub struct LiveProgress {
    multi: MultiProgress,
    clock: Clock,
    bars: Mutex<HashMap<aegis_dr::run::StepId, ProgressBar>>,
    style: ProgressStyle,
}

impl LiveProgress {
    /// A display drawn on stderr.
    pub fn stderr(clock: Clock) -> LiveProgress {
        LiveProgress::on(ProgressDrawTarget::stderr(), clock)
    }

    /// A display drawn on `target`.
    pub fn on(target: ProgressDrawTarget, clock: Clock) -> LiveProgress {
        let style = ProgressStyle::with_template("{spinner} {prefix:<30} {elapsed:>4} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        LiveProgress {
            multi: MultiProgress::with_draw_target(target),
            clock,
            bars: Mutex::new(HashMap::new()),
            style,
        }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    /// Runs `f` (a write to stdout) with the display cleared, then draws it again: text written
    /// meanwhile never lands inside a progress line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

impl Progress for LiveProgress {
    fn step_started(&self, step: &Step) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(step.id.to_string());
        bar.set_message(step.title.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut b) = self.bars.lock() {
            b.insert(step.id.clone(), bar);
        }
    }
    fn step_waiting(&self, step: &Step, what: &str, deadline_ms: u64) {
        let bar = self.bars.lock().ok().and_then(|b| b.get(&step.id).cloned());
        if let Some(bar) = bar {
            bar.set_message(format!(
                "waiting for {what}, {}",
                until(&self.clock, deadline_ms)
            ));
        }
    }
    fn step_finished(&self, step: &Step, outcome: Result<&str, &Error>) {
        let bar = self.bars.lock().ok().and_then(|mut b| b.remove(&step.id));
        let took = bar
            .as_ref()
            .map(|b| format_duration(b.elapsed()))
            .unwrap_or_default();
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        match outcome {
            Ok(s) => self.println(&format!("  ok  {:<28} {took:>8}  {s}", step.id)),
            Err(e) => self.println(&format!("  ERR {:<28} {took:>8}  {e}", step.id)),
        }
    }
    fn message(&self, text: &str) {
        self.println(&format!("  !   {text}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aegis_dr::orchestrator::{Step, StepKind};

    use super::*;

    /// A terminal that keeps what is drawn on it (a cleared line is marked `<clear>`).
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut t) = self.0.lock() {
                t.push_str(s);
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("<clear>")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn step() -> Step {
        Step {
            id: "switch-dns-to-dr".into(),
            title: "Point DNS at the DR site".into(),
            deps: Vec::new(),
            kind: StepKind::Resolve,
        }
    }

    #[test]
    fn the_live_display_shows_what_a_running_step_waits_for_and_until_when() {
        let screen = Screen::default();
        let clock = Clock::starting_at(1_700_000_000_000);
        let p = LiveProgress::on(
            ProgressDrawTarget::term_like_with_hz(Box::new(screen.clone()), 100),
            clock,
        );
        let s = step();
        p.step_started(&s);
        p.step_waiting(&s, "change C1 INSYNC", 1_700_000_090_000);
        if let Some(b) = p.bars.lock().expect("bars").get(&s.id) {
            b.tick();
        }
        std::thread::sleep(Duration::from_millis(50));
        let drawn = screen.0.lock().expect("screen").clone();
        assert!(
            drawn.contains("switch-dns-to-dr")
                && drawn.contains("waiting for change C1 INSYNC, until 22:14:50Z (1m30s left)"),
            "{drawn}"
        );
        p.step_finished(&s, Ok("api -> lb-dr, INSYNC"));
        let drawn = screen.0.lock().expect("screen").clone();
        assert!(drawn.contains("ok  switch-dns-to-dr"), "{drawn}");
        assert!(p.bars.lock().expect("bars").is_empty());
    }

    #[test]
    fn text_written_to_stdout_meanwhile_never_lands_inside_a_progress_line() {
        let screen = Screen::default();
        let p = LiveProgress::on(
            ProgressDrawTarget::term_like_with_hz(Box::new(screen.clone()), 100),
            Clock::starting_at(1_700_000_000_000),
        );
        let s = step();
        p.step_started(&s);
        if let Some(b) = p.bars.lock().expect("bars").get(&s.id) {
            b.tick();
        }
        let drawn = || screen.0.lock().expect("screen").clone();
        let before = drawn();
        assert!(
            before.contains("switch-dns-to-dr"),
            "the bar was drawn: {before}"
        );
        // What the stdout sink does: its write happens with the bar cleared from the screen.
        let during = p.suspend(drawn);
        let after_bar = &during[before.rfind("switch-dns-to-dr").expect("bar")..];
        assert!(
            after_bar.contains("<clear>"),
            "the bar's line is cleared before the write: {during:?}"
        );
    }

    #[test]
    fn plain_lines_carry_the_same_facts() {
        let buf = Screen::default();
        struct W(Screen);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut t) = (self.0).0.lock() {
                    t.push_str(&String::from_utf8_lossy(b));
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let p = PlainProgress::to(
            Box::new(W(buf.clone())),
            Clock::starting_at(1_700_000_000_000),
        );
        let s = step();
        p.step_started(&s);
        p.step_waiting(&s, "change C1 INSYNC", 1_700_000_090_000);
        let text = buf.0.lock().expect("buf").clone();
        assert!(
            text.contains("...")
                && text.contains("waiting for change C1 INSYNC, until 22:14:50Z (1m30s left)"),
            "{text}"
        );
    }
}

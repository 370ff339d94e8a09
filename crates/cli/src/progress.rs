//! Progress on stderr while a run goes, when stderr is a terminal.

use std::{io::Write, sync::Mutex, time::Instant};

use aegis_dr::{
    orchestrator::{Progress, Step},
    Error,
};

/// Draws one line per step transition on stderr.
pub struct TerminalProgress {
    started: Instant,
    out: Mutex<std::io::Stderr>,
}

impl TerminalProgress {
    /// A progress display starting now.
    pub fn new() -> TerminalProgress {
        TerminalProgress {
            started: Instant::now(),
            out: Mutex::new(std::io::stderr()),
        }
    }

    fn line(&self, text: &str) {
        if let Ok(mut o) = self.out.lock() {
            let t = self.started.elapsed().as_secs_f64();
            let _ = writeln!(o, "[{t:7.2}s] {text}");
        }
    }
}

impl Progress for TerminalProgress {
    fn step_started(&self, step: &Step) {
        self.line(&format!("  ... {:<28} {}", step.id, step.title));
    }
    fn step_finished(&self, step: &Step, outcome: Result<&str, &Error>) {
        match outcome {
            Ok(s) => self.line(&format!("  ok  {:<28} {s}", step.id)),
            Err(e) => self.line(&format!("  ERR {:<28} {e}", step.id)),
        }
    }
    fn message(&self, text: &str) {
        self.line(&format!("  !   {text}"));
    }
}

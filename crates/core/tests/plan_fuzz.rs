//! Thousands of mutated plans through what `plan` and `check` do: loading (a bad plan is one
//! config error line), the preview of every operation and class, and the six checks against the
//! simulated estate the plan describes. No input may panic or hang.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use aegis_dr_core::{
    checks::run_checks, clock::Clock, journal::Operation, orchestrator::preview, ErrorKind,
    IncidentClass, Plan,
};
use aegis_dr_provider_sim::SimProvider;

use crate::common::PLAN;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[(self.next() as usize) % items.len()]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "2.0",
    "\"7\"",
    "[]",
    "{}",
    "true",
];
const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1ms\"",
    "\"18446744073709551615s\"",
    "\"30days\"",
    "\"31days\"",
    "\"9999999h\"",
    "\"-5s\"",
    "\"1.5s\"",
    "\"\"",
    "\"5\"",
    "\"1h30m\"",
    "3",
];
const JUNK: &[&str] = &[
    "[", "]", "=", "\"", "\n", "[[", "x = ", "é", "\u{0}", "#", "'''",
];

/// One mutation of `text`: a value swapped for an extreme one, a line dropped, doubled or moved,
/// junk inserted, or the text cut short.
fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let n = lines.len();
    if n < 2 {
        return format!("{text}{}", rng.pick(JUNK));
    }
    let i = (rng.next() as usize) % n;
    match rng.next() % 7 {
        0 | 1 => {
            // A value: numbers and durations get extremes of their own kind, or of the other.
            if let Some((key, value)) = lines[i].split_once(" = ") {
                let is_duration = value.starts_with('"') && value.ends_with("s\"")
                    || value.ends_with("m\"")
                    || value.ends_with("h\"");
                let table = if is_duration && !rng.next().is_multiple_of(4) {
                    DURATIONS
                } else {
                    NUMBERS
                };
                lines[i] = format!("{key} = {}", rng.pick(table));
            }
        }
        2 => {
            lines.remove(i);
        }
        3 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        4 => {
            let l = lines.remove(i);
            let j = (rng.next() as usize) % lines.len();
            lines.insert(j, l);
        }
        5 => {
            let at = (rng.next() as usize) % (lines[i].len() + 1);
            if lines[i].is_char_boundary(at) {
                lines[i].insert_str(at, rng.pick(JUNK));
            }
        }
        _ => {
            let keep = (rng.next() as usize) % n;
            lines.truncate(keep.max(1));
        }
    }
    lines.join("\n")
}

#[tokio::test(start_paused = true)]
async fn mutated_plans_never_panic_or_hang_in_plan_or_check() {
    let iterations: u64 = std::env::var("AEGIS_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    // A real-time watchdog: a hang (virtual time cannot end a busy loop) fails the test binary,
    // naming the input.
    let current = Arc::new(Mutex::new(String::new()));
    let done = Arc::new(AtomicBool::new(false));
    {
        let (current, done) = (current.clone(), done.clone());
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) {
                if t0.elapsed() > Duration::from_secs(300) {
                    eprintln!(
                        "plan fuzz: hung on this input:\n{}",
                        current.lock().map(|c| c.clone()).unwrap_or_default()
                    );
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let mut rng = Lcg(0x5eed);
    let (mut valid, mut rejected) = (0u32, 0u32);
    for it in 0..iterations {
        // One to three mutations on top of each other.
        let mut text = PLAN.to_string();
        for _ in 0..=(rng.next() % 3) {
            text = mutate(&text, &mut rng);
        }
        if let Ok(mut c) = current.lock() {
            *c = text.clone();
        }
        let plan = match Plan::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                rejected += 1;
                assert_eq!(e.kind(), ErrorKind::Config, "iteration {it}: {e}\n{text}");
                assert!(
                    !e.to_string().trim().is_empty(),
                    "iteration {it}: empty error"
                );
                continue;
            }
        };
        valid += 1;
        // The plan runs on the simulated estate: its own timings, as a run would use.
        let estimates = SimProvider::estimates_of(&plan.sim);
        for op in [Operation::Failover, Operation::Failback, Operation::Drill] {
            for class in IncidentClass::ALL {
                let p = preview(&plan, &estimates, op, class);
                assert!(!p.graph.steps.is_empty(), "iteration {it}");
            }
        }
        // The checks against the estate, in virtual time, bounded.
        let clock = Clock::new();
        let sim = Arc::new(SimProvider::in_memory(&plan, clock));
        let providers = sim.providers().expect("providers");
        let checks = tokio::time::timeout(
            Duration::from_secs(400 * 24 * 3600),
            run_checks(&plan, &providers, &clock),
        )
        .await
        .unwrap_or_else(|_| panic!("iteration {it}: checks did not end\n{text}"));
        assert_eq!(checks.len(), 6, "iteration {it}");
    }
    done.store(true, Ordering::Relaxed);
    println!("plan fuzz: {iterations} plans, {valid} valid, {rejected} rejected");
    assert!(
        valid > 100 && rejected > 100,
        "{valid} valid, {rejected} rejected"
    );
}

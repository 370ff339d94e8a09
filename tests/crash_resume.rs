//! Crash a run at chosen points of its journal (the process ends there as a SIGKILL would leave
//! it), resume it, and compare the end state with an uninterrupted run's.

use crate::common::*;

/// A small deterministic generator for crash points.
fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    }
}

/// Seeds per test: `default`, or `AEGIS_CRASH_SEEDS` for a longer soak.
fn seeds(default: u64) -> u64 {
    std::env::var("AEGIS_CRASH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The journal lines of `env`'s only journaled run.
fn journal_lines(env: &Env) -> Vec<serde_json::Value> {
    let id = env.journaled_runs().pop().expect("a journaled run");
    std::fs::read_to_string(env.state().join("runs").join(id).join("journal.jsonl"))
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect()
}

/// Kills a run as it writes journal entry `at` (a deterministic point: the process ends there, as
/// SIGKILL would leave it), for odd seeds kills its resume too, then resumes it to the end and
/// compares the end state with an uninterrupted run's.
fn crash_and_resume(op: &str, seed: u64, at: usize, reference: &serde_json::Value) {
    let env = Env::default();
    let out = env
        .command(&[op, "--yes", "--output", "json"])
        .env(aegis_dr::journal::CRASH_AFTER_ENTRIES, at.to_string())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(137),
        "seed {seed}: no crash at entry {at}"
    );
    // The kill landed mid-run: exactly `at` entries, the run not finished.
    let lines = journal_lines(&env);
    assert_eq!(lines.len(), at, "seed {seed}");
    assert!(
        lines.iter().all(|l| l["event"] != "run_finished"),
        "seed {seed}: the run finished before its crash at entry {at}"
    );
    let id = env.journaled_runs().pop().expect("the run");
    // A second crash during the resume, for half of the seeds: after its first or second entry
    // (a resumed run writes at least three: its resumption, its provider calls, its end).
    if seed % 2 == 1 {
        let out = env
            .command(&[op, "--yes", "--resume", &id])
            .env(
                aegis_dr::journal::CRASH_AFTER_ENTRIES,
                (1 + (seed / 2) % 2).to_string(),
            )
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(137),
            "seed {seed}: the resume did not crash"
        );
        assert!(
            journal_lines(&env)
                .iter()
                .all(|l| l["event"] != "run_finished"),
            "seed {seed}: the resume finished before its crash"
        );
    }
    let out = env.run(&[op, "--yes", "--resume", &id, "--output", "json"]);
    assert_eq!(
        code(&out),
        0,
        "seed {seed} (crashed at entry {at}): {}",
        stderr(&out)
    );
    let doc = json(&out);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(
        &env.settled_world(),
        reference,
        "seed {seed}: crashed at entry {at} and resumed, the end state differs"
    );
    assert_eq!(
        env.journaled_runs().len(),
        1,
        "seed {seed}: {:?}",
        env.runs()
    );
}

/// The crash points of `seeds` runs of a journal `n` entries long: each after the run's start and
/// before its end, spread by the seed.
fn points(first_seed: u64, seeds: u64, n: usize) -> Vec<(u64, usize)> {
    (first_seed..first_seed + seeds)
        .map(|seed| {
            let mut rnd = lcg(seed);
            // Entry 1 is the start; the last two are the provider calls and the end.
            (seed, 2 + (rnd() as usize) % (n - 3))
        })
        .collect()
}

#[test]
fn failover_crashed_at_chosen_points_resumes_to_the_same_end_state() {
    let reference = Env::default();
    let out = reference.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = reference.settled_world();
    for (seed, at) in points(0, seeds(8), journal_lines(&reference).len()) {
        crash_and_resume("failover", seed, at, &want);
    }
}

#[test]
fn drill_crashed_at_chosen_points_resumes_to_the_same_end_state() {
    let reference = Env::default();
    let initial = {
        assert_eq!(code(&reference.run(&["check"])), 0);
        reference.world()
    };
    let out = reference.run(&["drill", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = reference.settled_world();
    assert_eq!(want, initial, "a drill ends where it started");
    for (seed, at) in points(100, seeds(4), journal_lines(&reference).len()) {
        crash_and_resume("drill", seed, at, &want);
    }
}

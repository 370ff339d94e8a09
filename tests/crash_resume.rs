//! Kill -9 at random points, resume, and compare the end state with an uninterrupted run.

use std::time::Duration;

use crate::common::*;

/// A small deterministic generator for kill times.
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

fn crash_and_resume(op: &str, seed: u64, max_ms: u64, reference: &serde_json::Value) {
    let env = Env::default();
    let mut rnd = lcg(seed);
    let delay = rnd() % max_ms;
    let mut child = env
        .command(&[op, "--yes", "--output", "json"])
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(delay));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    // A second crash during the resume, for half of the seeds.
    // A run killed before its journal existed never started: there is nothing to resume.
    let resume = |env: &Env| -> std::process::Output {
        match env.journaled_runs().pop() {
            Some(id) => env.run(&[op, "--yes", "--resume", &id, "--output", "json"]),
            None => env.run(&[op, "--yes", "--output", "json"]),
        }
    };
    if seed % 2 == 1 {
        if let Some(id) = env.journaled_runs().pop() {
            let mut again = env
                .command(&[op, "--yes", "--resume", &id])
                .spawn()
                .expect("spawn");
            std::thread::sleep(Duration::from_millis(rnd() % max_ms));
            let _ = again.kill();
            let _ = again.wait();
        }
    }
    let out = resume(&env);
    assert_eq!(
        code(&out),
        0,
        "seed {seed} (killed after {delay} ms): {}",
        stderr(&out)
    );
    let doc = json(&out);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(
        &env.world(),
        reference,
        "seed {seed}: killed after {delay} ms and resumed, the end state differs"
    );
    // One journaled run: the killed one, resumed (a run killed before its journal existed left at
    // most an empty folder, and a new run took its place).
    assert_eq!(
        env.journaled_runs().len(),
        1,
        "seed {seed}: killed after {delay} ms: {:?}",
        env.runs()
    );
}

#[test]
fn failover_killed_at_random_points_resumes_to_the_same_end_state() {
    let reference = Env::default();
    let out = reference.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = reference.world();
    for seed in 0..seeds(8) {
        crash_and_resume("failover", seed, 900, &want);
    }
}

#[test]
fn drill_killed_at_random_points_resumes_to_the_same_end_state() {
    let reference = Env::default();
    let initial = {
        assert_eq!(code(&reference.run(&["check"])), 0);
        reference.world()
    };
    let out = reference.run(&["drill", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = reference.world();
    assert_eq!(want, initial, "a drill ends where it started");
    for seed in 100..100 + seeds(4) {
        crash_and_resume("drill", seed, 1800, &want);
    }
}

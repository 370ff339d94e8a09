//! Benchmark: how long from a condition becoming true at its source (an exporter Prometheus scrapes)
//! to the triggered failover's first step, against its floor: the scrape interval (Prometheus may
//! see the change only at its next scrape), plus the trigger's `for`, plus the controller's
//! evaluation interval (it may see it only at its next evaluation). Goal: within 1.2x of the floor.
//! Needs Debian's `prometheus` (scripts/test.sh installs it).
//!
//! `cargo bench -p aegis-dr-core --bench trigger_latency [-- TRIALS]` (default 5)

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    controller::{Controller, StateDirLeader},
    journal::{self, Entry},
    Plan,
};
use aegis_dr_provider_sim::SimProvider;
use aegis_dr_test_servers::{Exporter, Prometheus};

const SCRAPE: Duration = Duration::from_millis(500);
const EVAL: Duration = Duration::from_millis(500);
const HOLD: Duration = Duration::from_secs(2);
const SERIES: &str = "bench_health{region=\"us-east-1\"}";

fn plan(prom: &str) -> Plan {
    Plan::parse(&format!(
        r#"
[plan]
name = "trigger-bench"
[sites.primary]
provider = "sim"
region = "us-east-1"
[sites.dr]
provider = "sim"
region = "us-west-2"
[[databases]]
name = "orders"
primary = "orders-use1"
dr = "orders-usw2"
[[dns_records]]
name = "api.example.com"
zone = "example.com"
primary_target = "a.example.com"
dr_target = "b.example.com"
ttl = 60
[sim]
latency = "1ms"
dns_propagation = "20ms"
replication_lag = "1s"
backup_age = "1h"
[watch]
prometheus = "{prom}"
interval = "{}ms"
min_delay = "0s"
[[triggers]]
name = "primary-health"
query = 'min(bench_health{{region="us-east-1"}})'
below = 0.3
for = "{}ms"
action = "failover"
"#,
        EVAL.as_millis(),
        HOLD.as_millis()
    ))
    .expect("bench plan")
}

/// One trial: ms from the change at the exporter to the failover's first step.
async fn trial(exporter: &Exporter, prom: &Prometheus) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = plan(&prom.url);
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::open(&plan, dir.path(), clock).expect("sim"));
    let leader = Arc::new(StateDirLeader::new(dir.path(), &plan.name, "bench"));
    let c = Controller::new(
        plan.clone(),
        sim.providers().expect("providers"),
        dir.path(),
        leader,
    )
    .expect("controller")
    .with_clock(clock);
    let status = c.status();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = c
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    // Let it settle on a healthy value, at a random phase of both intervals.
    while status.read().map(|s| s.evaluations < 2).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(rand_ms(500))).await;
    let changed = clock.now_ms();
    exporter.set(SERIES, 0.1);
    let first_step = loop {
        let state = aegis_dr_core::store::State::from(dir.path());
        let started = aegis_dr_core::runs::of_plan(&state, &plan.name)
            .first()
            .and_then(|r| journal::read_run(&state, &r.state.run_id).ok())
            .and_then(|es| {
                es.iter().find_map(|e| match e {
                    Entry::StepStarted { ts_ms, .. } => Some(*ts_ms),
                    _ => None,
                })
            });
        if let Some(ts) = started {
            break ts;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = stop.send(());
    let _ = task.await;
    exporter.set(SERIES, 0.9);
    // The next trial starts from a healthy value Prometheus has seen.
    tokio::time::sleep(SCRAPE * 3).await;
    first_step.saturating_sub(changed) as f64
}

fn rand_ms(max: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % max)
        .unwrap_or(0)
}

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let exporter = Exporter::start().await;
        exporter.set(SERIES, 0.9);
        let prom = Prometheus::start(&[exporter.addr()], SCRAPE, "bench_health").await;
        let floor = (SCRAPE + HOLD + EVAL).as_millis() as f64;
        let mut ms = Vec::new();
        for _ in 0..trials {
            ms.push(trial(&exporter, &prom).await);
        }
        ms.sort_by(f64::total_cmp);
        let p50 = ms[ms.len() / 2];
        let worst = ms[ms.len() - 1];
        println!(
            "trigger latency: condition true at the exporter -> the failover's first step ({trials} trials)"
        );
        println!(
            "floor = scrape {}ms + for {}ms + evaluation {}ms = {floor}ms",
            SCRAPE.as_millis(),
            HOLD.as_millis(),
            EVAL.as_millis()
        );
        println!(
            "p50 {p50:.0}ms ({:.2}x floor), worst {worst:.0}ms ({:.2}x floor); goal: worst <= 1.2x floor: {}",
            p50 / floor,
            worst / floor,
            if worst <= 1.2 * floor { "met" } else { "NOT met" }
        );
    });
}

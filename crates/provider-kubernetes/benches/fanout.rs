//! Benchmark: a region-outage failover of N deployments spread over namespaces, through the real
//! `kube` client against two simulated API servers with a fixed per-request latency. Prints wall
//! time against the critical-path lower bound, the API requests served and peak RSS, with the
//! fan-out unbounded and at the plan default.
//!
//! `cargo bench -p aegis-dr-provider-kubernetes --bench fanout [-- DEPLOYMENTS NAMESPACES LATENCY_MS]`
//! (defaults: 2000 20 20).

use std::{sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    journal::{Operation, RunFlags},
    orchestrator::{estimate, Orchestrator, RunRequest},
    plan::{
        Estimates, HealthEndpointSpec, ProviderName, SiteRole, WorkloadKind, WorkloadSpec,
        KUBERNETES,
    },
    provider::ProviderSet,
    IncidentClass, Plan,
};
use aegis_dr_k8s_sim::K8sSim;
use aegis_dr_provider_kubernetes::{KubeSite, KubernetesBuilder};
use aegis_dr_provider_sim::SimProvider;
use serde_json::json;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(String::from)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn run(
    deployments: usize,
    namespaces: usize,
    latency: Duration,
    concurrency: usize,
) -> (Duration, Duration, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let primary = K8sSim::start("prod").await.expect("sim");
    let dr = K8sSim::start("dr").await.expect("sim");
    primary
        .write_kubeconfig(&dir.path().join("primary.kubeconfig"))
        .expect("kubeconfig");
    dr.write_kubeconfig(&dir.path().join("dr.kubeconfig"))
        .expect("kubeconfig");
    let text = format!(
        "[plan]\nname = \"k8s-bench\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\ncluster = \"prod\"\nkubeconfig = \"{}\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\ncluster = \"dr\"\nkubeconfig = \"{}\"\n",
        dir.path().join("primary.kubeconfig").display(),
        dir.path().join("dr.kubeconfig").display()
    );
    let mut plan = Plan::parse(&text).expect("plan");
    for ns in 0..namespaces {
        let names: Vec<String> = (0..deployments)
            .filter(|i| i % namespaces == ns)
            .map(|i| format!("svc-{i:05}"))
            .collect();
        for (sim, replicas) in [(&primary, 3), (&dr, 1)] {
            sim.with(|c| {
                for n in &names {
                    c.deployment(&format!("ns-{ns:02}"), n, replicas, json!({ "app": n }));
                }
                c.rollout_time = Duration::ZERO;
            });
        }
        plan.workloads.push(WorkloadSpec {
            name: format!("group-{ns:02}"),
            namespace: format!("ns-{ns:02}"),
            kind: WorkloadKind::Deployment,
            names,
            selector: None,
            production_replicas: 3,
            standby_replicas: 1,
        });
    }
    for sim in [&primary, &dr] {
        sim.with(|c| {
            c.node("node-0", true);
            c.latency = latency;
        });
    }
    plan.health_endpoints.push(HealthEndpointSpec {
        name: "dr".into(),
        provider: ProviderName::sim(),
        site: SiteRole::Dr,
        url: "https://dr.example/healthz".into(),
        expect_status: 200,
        expect_json: Default::default(),
    });
    plan.execution.max_concurrency = concurrency;
    plan.execution.poll_interval = Duration::from_millis(5);
    plan.sim.latency = latency;
    for d in [
        &mut plan.sim.dns_propagation,
        &mut plan.sim.node_boot,
        &mut plan.sim.rollout,
        &mut plan.sim.replication_lag,
        &mut plan.sim.drain_time,
        &mut plan.sim.job_time,
    ] {
        *d = Duration::ZERO;
    }
    // The sites' workloads are the simulated clusters', through the Kubernetes provider.
    plan.primary.kubeconfig = Some(dir.path().join("primary.kubeconfig").display().to_string());
    plan.dr.kubeconfig = Some(dir.path().join("dr.kubeconfig").display().to_string());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock = Clock::new();
    let sim = Arc::new(SimProvider::open(&plan, dir.path().join("state"), clock).expect("sim"));
    let mut providers = sim.providers().expect("sim providers");
    let site = |f: &str| KubeSite {
        kubeconfig: Some(dir.path().join(f)),
        context: None,
    };
    let k8s = Arc::new(
        KubernetesBuilder::new()
            .with_site(SiteRole::Primary, site("primary.kubeconfig"))
            .with_site(SiteRole::Dr, site("dr.kubeconfig"))
            .build()
            .await
            .expect("clients"),
    );
    let mut set = ProviderSet::new(KUBERNETES);
    set.workloads = Some(k8s);
    providers.insert(set);
    let orch =
        Orchestrator::new(plan.clone(), providers, dir.path().join("state")).with_clock(clock);
    let preview = orch.preview(Operation::Failover, IncidentClass::RegionOutage);
    let est = Estimates {
        api_call: latency,
        fence: Duration::ZERO,
        dns_propagation: Duration::ZERO,
        node_boot: Duration::ZERO,
        rollout: Duration::ZERO,
        promotion: Duration::ZERO,
        drain: Duration::ZERO,
        recovery_job: Duration::ZERO,
        snapshot: Duration::ZERO,
    };
    let bound = estimate(&plan, &est, &preview.graph, usize::MAX).total;
    let before = primary.with(|c| c.requests.len()) + dr.with(|c| c.requests.len());
    let started = std::time::Instant::now();
    let out = orch
        .run(RunRequest {
            operation: Operation::Failover,
            class: IncidentClass::RegionOutage,
            flags: RunFlags::default(),
            resume: None,
            abandon: None,
        })
        .await
        .expect("run starts");
    let wall = started.elapsed();
    if let Some(e) = out.error {
        panic!("benchmark failover failed: {e}");
    }
    if std::env::var_os("AEGIS_BENCH_STEPS").is_some() {
        for s in &out.report.steps {
            println!(
                "  {:<22} {:>8.1}ms  {}",
                s.id,
                s.duration_seconds.unwrap_or(0.0) * 1000.0,
                s.summary.clone().unwrap_or_default()
            );
        }
    }
    let requests = primary.with(|c| c.requests.len()) + dr.with(|c| c.requests.len()) - before;
    (wall, bound, requests)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let deployments = args.first().copied().unwrap_or(2000);
    let namespaces = args.get(1).copied().unwrap_or(20).max(1);
    let latency = Duration::from_millis(args.get(2).copied().unwrap_or(20) as u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "region-outage failover of {deployments} deployments in {namespaces} namespaces through kube, two simulated API servers, {} ms per request",
        latency.as_millis()
    );
    println!(
        "{:<22} {:>9} {:>12} {:>7} {:>14} {:>10}",
        "fan-out concurrency", "wall", "lower bound", "ratio", "API requests", "peak RSS"
    );
    for (label, conc) in [
        ("unbounded (8192)", 8192),
        ("plan default (256)", 256),
        ("one at a time (1)", 1),
    ] {
        if conc == 1 && deployments > 200 {
            // Per deployment: its drain annotation, then its scale at DR (which records the original).
            let serial = latency * (2 * deployments as u32);
            println!("{label:<22} {:>9} (not run: about {:.0} s for {deployments} deployments one by one)", "-", serial.as_secs_f64());
            continue;
        }
        let (wall, bound, requests) = rt.block_on(run(deployments, namespaces, latency, conc));
        println!(
            "{label:<22} {:>7.0}ms {:>10.0}ms {:>7.2} {:>14} {:>7.1} MiB",
            wall.as_secs_f64() * 1000.0,
            bound.as_secs_f64() * 1000.0,
            wall.as_secs_f64() / bound.as_secs_f64().max(1e-9),
            requests,
            peak_rss_kib() as f64 / 1024.0
        );
    }
}

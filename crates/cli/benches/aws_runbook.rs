//! The seed runbook's AWS failover done by hand (`scripts/runbook-aws.sh`: one `aws` CLI call at a
//! time, polling every second) next to `aegis-dr failover --provider aws` doing the same work, each on
//! a fresh estate in the same emulators (LocalStack, moto, the DRS/EKS simulator). Prints both wall
//! times and their ratio; the goal is aegis-dr at least 10x faster.
//!
//! `cargo bench -p aegis-dr-cli --bench aws_runbook -- [runs]` with the emulators started
//! (`scripts/aws-emulators.sh start && . .ci/emulators/env`).

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aegis_dr_aws_sim::estate::{Endpoints, Estate, DR_REGION, PRIMARY_REGION, PRODUCTION};

fn fail(what: &str, out: &std::process::Output) -> ! {
    eprintln!(
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::process::exit(1);
}

fn runbook(e: &Estate, root: &Path) -> Duration {
    let aws = std::env::var("AEGIS_TEST_AWSCLI").unwrap_or_else(|_| "aws".into());
    let (min, max, desired) = PRODUCTION;
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(root.join("scripts/runbook-aws.sh"))
        .env_remove("AWS_PROFILE")
        .envs(e.child_env())
        .env("AWS_CLI", aws)
        .env("RB_PRIMARY_REGION", PRIMARY_REGION)
        .env("RB_DR_REGION", DR_REGION)
        .env("RB_DB_PRIMARY", &e.db_primary)
        .env("RB_DB_DR", &e.db_dr)
        .env("RB_FENCE_GROUP", &e.fence_group)
        .env("RB_ZONE_ID", &e.zone_id)
        .env("RB_RECORD", &e.record)
        .env("RB_DR_TARGET", "lb-usw2.example.com")
        .env("RB_HEALTH_CHECK", &e.health_check)
        .env("RB_SOURCE_SERVER", &e.source_server)
        .env("RB_CLUSTER", &e.clusters.1)
        .env("RB_NODEGROUP", &e.nodegroups.1)
        .env("RB_ASG", &e.asgs.1)
        .env("RB_MIN", min.to_string())
        .env("RB_MAX", max.to_string())
        .env("RB_DESIRED", desired.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| {
            eprintln!("cannot run scripts/runbook-aws.sh: {err}");
            std::process::exit(1)
        });
    let took = start.elapsed();
    if !out.status.success() {
        fail("the aws CLI runbook", &out);
    }
    took
}

fn aegis(e: &Estate, dir: &Path) -> Duration {
    std::fs::write(dir.join("aegis.toml"), e.plan_toml("")).unwrap_or_else(|err| {
        eprintln!("cannot write the plan: {err}");
        std::process::exit(1)
    });
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .arg("--config")
        .arg(dir.join("aegis.toml"))
        .args([
            "--provider",
            "aws",
            "failover",
            "--class",
            "region-outage",
            "--yes",
            "--output",
            "json",
        ])
        .env_remove("AWS_PROFILE")
        .envs(e.child_env())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| {
            eprintln!("cannot run aegis-dr: {err}");
            std::process::exit(1)
        });
    let took = start.elapsed();
    if !out.status.success() {
        fail("aegis-dr failover --provider aws", &out);
    }
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let endpoints = Endpoints::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|err| {
            eprintln!("runtime: {err}");
            std::process::exit(1)
        });
    let (mut cli, mut ours) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let dir = tempfile::tempdir().unwrap_or_else(|err| {
            eprintln!("tempdir: {err}");
            std::process::exit(1)
        });
        let a = rt.block_on(Estate::create(dir.path(), &endpoints));
        let t_cli = runbook(&a, &root);
        let b = rt.block_on(Estate::create(dir.path(), &endpoints));
        let t_ours = aegis(&b, dir.path());
        println!(
            "run {}: aws CLI runbook {:.2} s, aegis-dr failover {:.2} s",
            i + 1,
            t_cli.as_secs_f64(),
            t_ours.as_secs_f64()
        );
        cli.push(t_cli);
        ours.push(t_ours);
    }
    let (c, o) = (median(cli), median(ours));
    println!("AWS region-outage failover (fence, promote, DRS recovery, DNS, health check, node group), median of {runs}:");
    println!(
        "  aws CLI runbook (scripts/runbook-aws.sh): {:.2} s",
        c.as_secs_f64()
    );
    println!("  aegis-dr failover --provider aws:         {:.2} s (includes the six pre-failover checks and the report)", o.as_secs_f64());
    println!(
        "  ratio: {:.1}x (goal >= 10x)",
        c.as_secs_f64() / o.as_secs_f64().max(1e-9)
    );
}

//! `aegis-dr watch` as two replicas electing a leader through a `Lease` on the Kubernetes API
//! simulator, triggered by a real Prometheus scraping an exporter the test sets (and scraping the
//! replicas' own `/metrics`): the leader starts the failover; killed mid-run, the other takes over
//! within the lease duration and resumes it; never both. And `aegis-dr triggers test`.

use std::{
    process::{Child, Stdio},
    time::Duration,
};

use aegis_dr_k8s_sim::K8sSim;
use aegis_dr_test_servers::{free_port, Exporter, Prometheus};

use crate::common::*;

const HEALTH: &str = "test_health{region=\"eu-west-1\"}";

struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(env: &Env, identity: &str, port: u16) -> Replica {
    let child = env
        .command(&[
            "watch",
            "--identity",
            identity,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("AEGIS_TEST_APPROVAL_TOKEN", "t0ken")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    Replica { child, port }
}

/// `POST path` to a replica, with `token` as bearer; the status line and body.
fn post(port: u16, path: &str, token: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let _ = s.write_all(
        format!("POST {path} HTTP/1.1\r\nhost: x\r\n{auth}content-length: 0\r\n\r\n").as_bytes(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs}s waiting for {what}");
}

fn holder(sim: &K8sSim) -> Option<String> {
    sim.with(|c| c.get("leases", "aegis-system", "aegis-dr"))
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}

#[test]
fn two_replicas_one_leader_a_failover_resumed_by_the_other_after_a_kill() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (a_port, b_port) = (free_port(), free_port());
    let (sim, exporter, prom) = rt.block_on(async {
        let sim = K8sSim::start("ops").await.expect("sim");
        sim.with(|c| c.ensure_namespace("aegis-system"));
        let exporter = Exporter::start().await;
        exporter.set(HEALTH, 0.9);
        let b = format!("127.0.0.1:{b_port}");
        let prom = Prometheus::start(
            &[exporter.addr(), &b],
            Duration::from_millis(200),
            "test_health",
        )
        .await;
        (sim, exporter, prom)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("ops.kubeconfig");
    sim.write_kubeconfig(&kc).expect("kubeconfig");
    let env = Env::new(
        "",
        &format!(
            r#"
[watch]
prometheus = "{}"
interval = "200ms"
lease = {{ namespace = "aegis-system", name = "aegis-dr", kubeconfig = "{}", duration = "2s", renew_every = "400ms" }}
approval_token_env = "AEGIS_TEST_APPROVAL_TOKEN"

[[triggers]]
name = "primary-health"
query = 'min(test_health{{region="eu-west-1"}})'
below = 0.3
for = "600ms"
action = "approve"
"#,
            prom.url,
            kc.display()
        ),
    );
    let mut a = replica(&env, "replica-a", a_port);
    wait("replica-a to lead", 20, || {
        holder(&sim).as_deref() == Some("replica-a")
    });
    let b = replica(&env, "replica-b", b_port);
    wait("both to serve metrics", 20, || {
        metrics(a.port).contains("aegis_dr_leader{identity=\"replica-a\"} 1")
            && metrics(b.port).contains("aegis_dr_leader{identity=\"replica-b\"} 0")
    });

    // The condition holds: the leader starts a failover, held by its approval.
    rt.block_on(async { exporter.set(HEALTH, 0.1) });
    let run_id = {
        let mut id = String::new();
        wait("the failover to wait for approval", 30, || {
            let o = env.run(&["--output", "json", "status"]);
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            let run = doc["runs"]
                .as_array()
                .and_then(|r| r.first())
                .cloned()
                .unwrap_or_default();
            id = run["run_id"].as_str().unwrap_or_default().to_string();
            if id.is_empty() {
                return false;
            }
            let s = json(&env.run(&["--output", "json", "status", &id]));
            step(&s, "hook.trigger-approval")["status"] == "running"
        });
        id
    };

    // Kill the leader mid-run: the other takes over within the lease duration and resumes it.
    let killed = std::time::Instant::now();
    let _ = a.child.kill();
    let _ = a.child.wait();
    wait("replica-b to take over", 10, || {
        holder(&sim).as_deref() == Some("replica-b")
    });
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    wait("the run to be resumed", 20, || {
        let s = json(&env.run(&["--output", "json", "status", &run_id]));
        s["resumes"] == 1 && step(&s, "hook.trigger-approval")["status"] == "running"
    });
    // The approval by webhook callback: a token is required.
    let path = format!("/runs/{run_id}/approve?by=oncall");
    let denied = post(b.port, &path, Some("wrong"));
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    let ok = post(b.port, &path, Some("t0ken"));
    assert!(
        ok.starts_with("HTTP/1.1 200") && ok.contains("\"delivery\":\"live\""),
        "{ok}"
    );
    wait("the failover to succeed", 30, || {
        json(&env.run(&["--output", "json", "status", &run_id]))["status"] == "succeeded"
    });
    assert_eq!(env.journaled_runs().len(), 1, "one run, never two");
    let report = json(&env.run(&["--output", "json", "report", &run_id]));
    assert_eq!(
        step(&report, "hook.trigger-approval")["summary"],
        "approved by oncall"
    );

    // Prometheus scraped replica-b's own metrics: read back through its API.
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let leader = prom.query("aegis_dr_leader{identity=\"replica-b\"}").await;
            let value = prom
                .query("aegis_dr_trigger_value{trigger=\"primary-health\"}")
                .await;
            if leader.first().map(|s| s.1) == Some(1.0) && value.first().map(|s| s.1) == Some(0.1) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Prometheus never saw replica-b's metrics: {leader:?} {value:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // SIGTERM: replica-b stops cleanly and releases the lease (no holder: the next replica leads
    // at once).
    let mut b = b;
    terminate(&b.child);
    let status = b.child.wait().expect("replica-b exits");
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM");
    assert_eq!(holder(&sim), None, "the lease is released");
}

#[test]
fn triggers_test_prints_each_value_and_verdict_and_unknown_is_not_ok() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (exporter, prom) = rt.block_on(async {
        let exporter = Exporter::start().await;
        exporter.set(HEALTH, 0.2);
        exporter.set("aegis_db_replication_lag_seconds", 3.0);
        let prom = Prometheus::start(
            &[exporter.addr()],
            Duration::from_millis(200),
            "test_health",
        )
        .await;
        (exporter, prom)
    });
    let env = Env::new(
        "",
        &format!(
            r#"
[watch]
prometheus = "{}"

[[triggers]]
name = "primary-health"
query = 'min(test_health{{region="eu-west-1"}})'
below = 0.3
for = "2m"
action = "approve"

[[triggers]]
name = "replication-lag"
query = 'max(aegis_db_replication_lag_seconds)'
above = 120
action = "notify"

[[triggers]]
name = "gone"
query = 'absent_metric'
above = 1
"#,
            prom.url
        ),
    );
    let o = env.run(&["triggers", "test"]);
    assert_eq!(code(&o), 1, "a firing trigger is exit 1: {}", stderr(&o));
    let out = stdout(&o);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    assert!(
        line("primary-health").contains("FIRES") && line("primary-health").contains("0.2"),
        "{out}"
    );
    assert!(
        line("replication-lag").contains("ok") && line("replication-lag").contains(" 3 "),
        "{out}"
    );
    assert!(
        line("gone").contains("UNKNOWN") && line("gone").contains("unknown"),
        "{out}"
    );
    assert!(
        out.contains("no data (an unknown value never fires)"),
        "{out}"
    );
    let doc = json(&env.run(&["--output", "json", "triggers", "test"]));
    assert_eq!(doc[0]["state"], "pending", "{doc}");
    assert_eq!(doc[2]["value"], serde_json::Value::Null);
    // Nothing ran.
    assert!(env.journaled_runs().is_empty());
    drop(exporter);

    // The runbook's three conditions when the plan writes none.
    let env = Env::new("", &format!("[watch]\nprometheus = \"{}\"\n", prom.url));
    let o = env.run(&["triggers", "test"]);
    let out = stdout(&o);
    for name in ["primary-health", "health-check-failures", "replication-lag"] {
        assert!(out.contains(name), "{out}");
    }
    assert!(
        out.contains("avg(aegis_health_status{region=\"eu-west-1\"})"),
        "{out}"
    );
}

/// `deploy/` renders with kubectl's kustomize (a client no one here wrote) into the controller's
/// objects, and the plan it mounts is a valid plan whose `[watch]` uses the Lease the Role allows.
/// The repository's root.
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize` of the folder `dir` under the repository: the objects it renders.
fn render(dir: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .output()
        .expect("kubectl runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_deploy_manifests_render_and_their_plan_loads() {
    let root = repo_root();
    let yaml = render("deploy");
    for want in [
        "kind: Deployment",
        "replicas: 2",
        "name: aegis-dr-controller",
        "namespace: aegis-system",
        "resourceNames:\n  - aegis-dr-controller",
        "kind: ConfigMap",
        "ReadWriteMany",
        "image: registry.example.com/aegis-dr:0.1.0",
    ] {
        assert!(yaml.contains(want), "no `{want}` in:\n{yaml}");
    }
    let plan =
        aegis_dr::Plan::load(&root.join("deploy/aegis.toml")).expect("deploy/aegis.toml loads");
    let lease = plan.watch.lease.expect("a lease");
    assert_eq!(
        (lease.namespace.as_str(), lease.name.as_str()),
        ("aegis-system", "aegis-dr-controller")
    );
    assert_eq!(plan.triggers.len(), 3);
}

/// The holder of the controller's lease in `store`.
fn store_holder(env: &Env) -> Option<String> {
    match env.state_handle() {
        aegis_dr::store::State::Objects(o, _) => {
            aegis_dr::store::lease::holder(o.as_ref(), "locks/e2e.controller.json")
                .expect("lease readable")
                .map(|r| r.holder)
        }
        aegis_dr::store::State::Folder(_) => None,
    }
}

#[test]
fn two_replicas_with_nothing_in_common_but_a_bucket_elect_one_leader_and_resume_after_a_kill() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (a_port, b_port) = (free_port(), free_port());
    let (exporter, prom) = rt.block_on(async {
        let exporter = Exporter::start().await;
        exporter.set(HEALTH, 0.9);
        let prom = Prometheus::start(
            &[exporter.addr()],
            Duration::from_millis(200),
            "test_health",
        )
        .await;
        (exporter, prom)
    });
    let store = crate::store::s3_store("watch");
    let text = PLAN.replace("{SIM}", "").replace(
        "{EXTRA}",
        &format!(
            r#"
[state]
lease = "2s"

[watch]
prometheus = "{}"
interval = "200ms"
approval_token_env = "AEGIS_TEST_APPROVAL_TOKEN"

[[triggers]]
name = "primary-health"
query = 'min(test_health{{region="eu-west-1"}})'
below = 0.3
for = "600ms"
action = "approve"
"#,
            prom.url
        ),
    );
    // Two "machines": separate working folders, one bucket.
    let (env_a, env_b) = (Env::in_store(&text, &store), Env::in_store(&text, &store));
    let mut a = replica(&env_a, "replica-a", a_port);
    wait("replica-a to lead", 20, || {
        store_holder(&env_a).as_deref() == Some("replica-a")
    });
    let b = replica(&env_b, "replica-b", b_port);
    wait("both to serve metrics", 20, || {
        metrics(a.port).contains("aegis_dr_leader{identity=\"replica-a\"} 1")
            && metrics(b.port).contains("aegis_dr_leader{identity=\"replica-b\"} 0")
    });
    rt.block_on(async { exporter.set(HEALTH, 0.1) });
    let mut run_id = String::new();
    wait("the failover to wait for approval", 30, || {
        let Some(id) = env_b.runs().pop() else {
            return false;
        };
        run_id = id;
        let s = json(&env_b.run(&["--output", "json", "status", &run_id]));
        step(&s, "hook.trigger-approval")["status"] == "running"
    });
    // The leader killed mid-run: the other takes over once the leases run out, and resumes.
    let _ = a.child.kill();
    let _ = a.child.wait();
    wait("replica-b to take over", 20, || {
        store_holder(&env_b).as_deref() == Some("replica-b")
    });
    wait("the run to be resumed", 30, || {
        let s = json(&env_b.run(&["--output", "json", "status", &run_id]));
        s["resumes"] == 1 && step(&s, "hook.trigger-approval")["status"] == "running"
    });
    let ok = post(
        b.port,
        &format!("/runs/{run_id}/approve?by=oncall"),
        Some("t0ken"),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    wait("the failover to succeed", 30, || {
        json(&env_b.run(&["--output", "json", "status", &run_id]))["status"] == "succeeded"
    });
    assert_eq!(env_b.runs(), vec![run_id.clone()], "one run, never two");
    let mut b = b;
    terminate(&b.child);
    assert_eq!(b.child.wait().expect("replica-b exits").code(), Some(0));
    assert_eq!(store_holder(&env_b), None, "the leadership is released");
}

#[test]
fn the_multi_region_manifests_need_no_shared_volume_and_their_plan_keeps_state_in_a_bucket() {
    for (region, role) in [
        ("us-east-1", "aegis-dr-controller-use1"),
        ("us-west-2", "aegis-dr-controller-usw2"),
    ] {
        let yaml = render(&format!("deploy/multi-region/{region}"));
        for want in [
            "kind: Deployment",
            "replicas: 1",
            "namespace: aegis-system",
            &format!("topology.kubernetes.io/region: {region}"),
            &format!("role/{role}"),
            "name: AEGIS_STATE_AWS_REGION",
        ] {
            assert!(yaml.contains(want), "{region}: no `{want}` in:\n{yaml}");
        }
        for unwanted in [
            "PersistentVolumeClaim",
            "ReadWriteMany",
            "--state-dir",
            "kind: Role",
        ] {
            assert!(
                !yaml.contains(unwanted),
                "{region}: `{unwanted}` in:\n{yaml}"
            );
        }
    }
    let plan = aegis_dr::Plan::load(&repo_root().join("deploy/multi-region/base/aegis.toml"))
        .expect("the multi-region plan loads");
    assert!(plan.watch.lease.is_none(), "leadership is the bucket's");
    assert_eq!(
        plan.state.url.as_deref(),
        Some("s3://aegis-dr-state-euc1/aegis-prod")
    );
}

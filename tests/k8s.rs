//! `aegis-dr k8s stage|cutover|failback` against two simulated clusters through generated kubeconfigs.

use std::process::Output;

use aegis_dr_k8s_sim::K8sSim;
use serde_json::{json, Value};

use crate::common::{code, json as parse_json, stderr};

struct Clusters {
    _rt: tokio::runtime::Runtime,
    src: K8sSim,
    dst: K8sSim,
    dir: tempfile::TempDir,
}

impl Clusters {
    fn new() -> Clusters {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (src, dst) = rt.block_on(async {
            (
                K8sSim::start("prod").await.expect("sim"),
                K8sSim::start("dr").await.expect("sim"),
            )
        });
        let dir = tempfile::tempdir().expect("tempdir");
        src.write_kubeconfig(&dir.path().join("src.kubeconfig"))
            .expect("kubeconfig");
        dst.write_kubeconfig(&dir.path().join("dst.kubeconfig"))
            .expect("kubeconfig");
        src.with(|c| {
            c.rollout_time = std::time::Duration::from_millis(30);
            c.deployment("shop", "api", 6, json!({ "app": "api" }));
            c.deployment("shop", "worker", 3, json!({ "app": "worker" }));
            c.put(json!({ "kind": "StatefulSet", "metadata": { "name": "cache", "namespace": "shop" }, "spec": { "replicas": 2, "serviceName": "cache", "selector": { "matchLabels": { "app": "cache" } }, "template": { "metadata": { "labels": { "app": "cache" } }, "spec": { "containers": [ { "name": "cache", "image": "redis:7" } ] } } } }));
            c.put(json!({ "kind": "ConfigMap", "metadata": { "name": "shop-config", "namespace": "shop" }, "data": { "MODE": "prod" } }));
            c.put(json!({ "kind": "Secret", "metadata": { "name": "db-password", "namespace": "shop" }, "type": "Opaque", "data": { "password": "c2VjcmV0" } }));
            c.put(json!({ "kind": "Service", "metadata": { "name": "api", "namespace": "shop" }, "spec": { "clusterIP": "10.0.0.17", "clusterIPs": ["10.0.0.17"], "ports": [ { "port": 80, "targetPort": 8080 } ], "selector": { "app": "api" } } }));
            c.put(json!({ "kind": "Ingress", "metadata": { "name": "shop", "namespace": "shop" }, "spec": { "rules": [ { "host": "shop.example.com" } ] } }));
        });
        dst.with(|c| c.rollout_time = std::time::Duration::from_millis(30));
        Clusters {
            _rt: rt,
            src,
            dst,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
        c.arg("k8s")
            .args(args)
            .arg("--source-kubeconfig")
            .arg(self.dir.path().join("src.kubeconfig"))
            .arg("--dest-kubeconfig")
            .arg(self.dir.path().join("dst.kubeconfig"))
            .args([
                "--source-namespace",
                "shop",
                "--dest-namespace",
                "shop-dr",
                "--output",
                "json",
            ])
            .stdin(std::process::Stdio::null());
        c.output().expect("runs")
    }

    fn src(&self, plural: &str, name: &str) -> Value {
        self.src
            .with(|c| c.get(plural, "shop", name))
            .expect("source object")
    }

    fn dst(&self, plural: &str, name: &str) -> Option<Value> {
        self.dst.with(|c| c.get(plural, "shop-dr", name))
    }
}

fn ok(out: &Output) -> Value {
    assert_eq!(code(out), 0, "{}", stderr(out));
    parse_json(out)
}

fn original(v: &Value) -> Option<&str> {
    v["metadata"]["annotations"]["aegis.io/original-replicas"].as_str()
}

#[test]
fn stage_cutover_failback_and_a_fresh_second_cutover() {
    let k = Clusters::new();
    // Stage: everything copied, workloads held at 0 with their counts recorded.
    let doc = ok(&k.run(&["stage"]));
    assert_eq!(doc["operation"], "k8s-stage");
    let api = k.dst("deployments", "api").expect("api staged");
    assert_eq!(api["spec"]["replicas"], 0);
    assert_eq!(original(&api), Some("6"));
    assert_eq!(
        k.dst("statefulsets", "cache").expect("cache")["spec"]["replicas"],
        0
    );
    assert_eq!(
        k.dst("configmaps", "shop-config").expect("cm")["data"]["MODE"],
        "prod"
    );
    assert!(k.dst("secrets", "db-password").is_some());
    assert!(k.dst("ingresses", "shop").is_some());
    let svc = k.dst("services", "api").expect("service");
    assert!(
        svc["spec"].get("clusterIP").is_none(),
        "cluster-specific fields stripped: {svc}"
    );
    assert_eq!(
        svc["metadata"]["uid"]
            .as_str()
            .map(|u| u.starts_with("uid-")),
        Some(true),
        "a new uid was assigned"
    );
    assert_eq!(
        k.src("deployments", "api")["spec"]["replicas"],
        6,
        "stage leaves the source alone"
    );

    // Re-running stage changes nothing, and updates what changed.
    let doc = ok(&k.run(&["stage"]));
    assert!(
        doc["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .all(|a| a["action"] == "unchanged"),
        "{doc}"
    );
    k.src.with(|c| {
        let mut cm = c.get("configmaps", "shop", "shop-config").expect("cm");
        cm["data"]["MODE"] = json!("prod-v2");
        c.put(cm);
    });
    let doc = ok(&k.run(&["stage"]));
    let updated: Vec<&Value> = doc["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "update")
        .collect();
    assert_eq!(updated.len(), 1, "{doc}");
    assert_eq!(
        k.dst("configmaps", "shop-config").expect("cm")["data"]["MODE"],
        "prod-v2"
    );

    // Cutover needs confirmation off a terminal.
    let out = k.run(&["cutover"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let doc = ok(&k.run(&["cutover", "--dry-run"]));
    assert!(doc["dry_run"].as_bool().expect("flag"));
    assert_eq!(
        k.src("deployments", "api")["spec"]["replicas"],
        6,
        "dry run changes nothing"
    );

    ok(&k.run(&["cutover", "--yes"]));
    assert_eq!(
        k.dst("deployments", "api").expect("api")["spec"]["replicas"],
        6
    );
    assert_eq!(
        k.dst("deployments", "api").expect("api")["status"]["availableReplicas"],
        6
    );
    assert_eq!(
        k.dst("statefulsets", "cache").expect("cache")["spec"]["replicas"],
        2
    );
    assert_eq!(k.src("deployments", "api")["spec"]["replicas"], 0);
    assert_eq!(original(&k.src("deployments", "worker")), Some("3"));

    // Failback: destination 0, source back to its counts, annotations cleared (the seed's checks).
    ok(&k.run(&["failback", "--yes"]));
    for (name, n) in [("api", 6), ("worker", 3)] {
        assert_eq!(
            k.dst("deployments", name).expect("dest")["spec"]["replicas"],
            0,
            "{name} at 0 on the destination"
        );
        let s = k.src("deployments", name);
        assert_eq!(s["spec"]["replicas"], n, "{name} restored");
        assert_eq!(original(&s), None, "{name}: annotation cleared");
    }
    assert_eq!(k.src("statefulsets", "cache")["spec"]["replicas"], 2);

    // Production grows to 9; a second cutover uses 9, not the stale 6 (DR-Syncer's bug).
    k.src.with(|c| {
        let mut d = c.get("deployments", "shop", "api").expect("api");
        d["spec"]["replicas"] = json!(9);
        c.put(d);
    });
    ok(&k.run(&["cutover", "--yes"]));
    assert_eq!(
        k.dst("deployments", "api").expect("api")["spec"]["replicas"],
        9
    );
    ok(&k.run(&["failback", "--yes"]));
    assert_eq!(k.src("deployments", "api")["spec"]["replicas"], 9);
}

#[test]
fn pvc_migration_uses_pv_migrate_or_says_it_is_missing() {
    let k = Clusters::new();
    ok(&k.run(&["stage"]));
    ok(&k.run(&["cutover", "--yes"]));
    k.dst.with(|c| c.put(json!({ "kind": "PersistentVolumeClaim", "metadata": { "name": "data-cache-0", "namespace": "shop-dr" }, "spec": { "accessModes": ["ReadWriteOnce"] } })));

    // Without pv-migrate on PATH: a clear error, and nothing scaled.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    let base = |c: &mut std::process::Command| {
        c.args([
            "k8s",
            "failback",
            "--yes",
            "--reverse-migrate-pvc-data",
            "--pv-migrate-flags",
            "--strategies mnt2,svc",
        ])
        .arg("--source-kubeconfig")
        .arg(k.dir.path().join("src.kubeconfig"))
        .arg("--dest-kubeconfig")
        .arg(k.dir.path().join("dst.kubeconfig"))
        .args(["--source-namespace", "shop", "--dest-namespace", "shop-dr"])
        .stdin(std::process::Stdio::null());
    };
    base(&mut c);
    let out = c.env("PATH", k.dir.path()).output().expect("runs");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pv-migrate") && stderr(&out).contains("not installed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        k.src("deployments", "api")["spec"]["replicas"],
        0,
        "nothing scaled"
    );

    // With a pv-migrate on PATH: called per PVC with both clusters, then the failback proceeds.
    let bin = k.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let log = k.dir.path().join("pv-migrate.log");
    let script = format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display());
    std::fs::write(bin.join("pv-migrate"), script).expect("script");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(bin.join("pv-migrate"))
        .status()
        .expect("chmod");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    base(&mut c);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = c.env("PATH", path).output().expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let called = std::fs::read_to_string(&log).expect("pv-migrate was called");
    assert!(
        called.contains("migrate")
            && called.contains("--source-namespace shop-dr")
            && called.contains("--dest-namespace shop"),
        "{called}"
    );
    assert!(
        called.contains("--strategies mnt2,svc") && called.contains("data-cache-0"),
        "{called}"
    );
    assert_eq!(k.src("deployments", "api")["spec"]["replicas"], 6);
}

#[test]
fn migration_retries_conflicts() {
    let k = Clusters::new();
    k.dst.with(|c| c.conflicts_to_inject = 3);
    ok(&k.run(&["stage"]));
    assert_eq!(k.dst.with(|c| c.conflicts_answered), 3);
    assert_eq!(
        k.dst("deployments", "api").expect("staged")["spec"]["replicas"],
        0
    );
    k.src.with(|c| c.conflicts_to_inject = 2);
    k.dst.with(|c| c.conflicts_to_inject = 2);
    ok(&k.run(&["cutover", "--yes"]));
    assert_eq!(
        k.dst("deployments", "api").expect("api")["spec"]["replicas"],
        6
    );
    assert_eq!(k.src("deployments", "api")["spec"]["replicas"], 0);
}

#[test]
fn k8s_flags_are_validated() {
    let k = Clusters::new();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    let out = c
        .args([
            "k8s",
            "stage",
            "--source-namespace",
            "Shop_Prod",
            "--source-kubeconfig",
        ])
        .arg(k.dir.path().join("src.kubeconfig"))
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--source-namespace"),
        "{}",
        stderr(&out)
    );
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    let out = c
        .args([
            "k8s",
            "stage",
            "--source-namespace",
            "shop",
            "--dest-kubeconfig",
            "/nonexistent/kubeconfig",
        ])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--dest-kubeconfig"),
        "{}",
        stderr(&out)
    );
}

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

/// `k8s` and `providers` read no plan: their help does not list the plan's flags, and giving one is
/// a usage error naming it (the plan commands still list and take them).
#[test]
fn commands_without_a_plan_neither_list_nor_take_the_plan_flags() {
    let bin = env!("CARGO_BIN_EXE_aegis-dr");
    let help = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plan_help = help(&["plan", "--help"]);
    for flag in ["--config", "--provider", "--state-dir"] {
        assert!(plan_help.contains(flag), "plan --help lacks {flag}");
    }
    for args in [
        &["k8s", "--help"][..],
        &["k8s", "stage", "--help"],
        &["k8s", "failback", "--help"],
        &["providers", "--help"],
    ] {
        let text = help(args);
        assert!(text.contains("--log-level"), "{args:?}: {text}");
        for flag in ["--config", "--provider", "--state-dir"] {
            assert!(!text.contains(flag), "{args:?} lists {flag}: {text}");
        }
    }
    for args in [
        &[
            "k8s",
            "stage",
            "--source-namespace",
            "shop",
            "--provider",
            "sim",
        ][..],
        &[
            "--config",
            "x.toml",
            "k8s",
            "cutover",
            "--source-namespace",
            "shop",
        ],
        &["providers", "--state-dir", "/tmp"],
    ] {
        let out = std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("reads no plan and does not use it"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The plan's environment variable is not a flag given to `providers`: it still runs.
    let out = std::process::Command::new(bin)
        .arg("providers")
        .env("AEGIS_CONFIG", "elsewhere.toml")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
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

/// `kubectl get deployments` of `namespace` through `kubeconfig`, as the DR-Syncer tutorial checks
/// it: one `name=replicas` line per deployment.
fn kubectl_replicas(kubeconfig: &std::path::Path, namespace: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["get", "deployments", "-n", namespace, "-o"])
        .arg(r#"jsonpath={range .items[*]}{.metadata.name}={.spec.replicas}{"\n"}{end}"#)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl ({e}): install Debian's `kubernetes-client` (scripts/test.sh does)")
        });
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The DR-Syncer tutorial's commands, pasted as written (`--mode=...`, `--flag=value`,
/// `--reverse-migrate-pvc-data=true`, `--log-level=debug`), and its verification with a real
/// `kubectl` against the simulated API servers.
#[test]
fn dr_syncer_commands_paste_as_written_and_kubectl_sees_the_counts() {
    let c = Clusters::new();
    let src = c.dir.path().join("src.kubeconfig");
    let dst = c.dir.path().join("dst.kubeconfig");
    // A pv-migrate standing in for the real one (the PVC data move is tested above).
    let bin = c.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::write(bin.join("pv-migrate"), "#!/bin/sh\nexit 0\n").expect("script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            bin.join("pv-migrate"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |mode: &str, extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
        cmd.env("PATH", &path);
        cmd.arg("k8s")
            .arg(format!("--mode={mode}"))
            .arg(format!("--source-kubeconfig={}", src.display()))
            .arg(format!("--dest-kubeconfig={}", dst.display()))
            .args([
                "--source-namespace=shop",
                "--dest-namespace=shop-dr",
                "--log-level=debug",
            ])
            .args(extra)
            .stdin(std::process::Stdio::null());
        let out = cmd.output().expect("runs");
        assert_eq!(code(&out), 0, "{mode}: {}", stderr(&out));
        out
    };
    assert_eq!(kubectl_replicas(&src, "shop"), "api=6\nworker=3\n");

    let out = run("Stage", &[]);
    // --log-level=debug logs to stderr.
    assert!(stderr(&out).contains("DEBUG"), "{}", stderr(&out));
    assert_eq!(kubectl_replicas(&dst, "shop-dr"), "api=0\nworker=0\n");

    run("Cutover", &["--yes"]);
    assert_eq!(kubectl_replicas(&dst, "shop-dr"), "api=6\nworker=3\n");
    assert_eq!(kubectl_replicas(&src, "shop"), "api=0\nworker=0\n");

    run("Failback", &["--reverse-migrate-pvc-data=true", "--yes"]);
    // The tutorial's check: destination 0 replicas, source its original counts.
    assert_eq!(kubectl_replicas(&dst, "shop-dr"), "api=0\nworker=0\n");
    assert_eq!(kubectl_replicas(&src, "shop"), "api=6\nworker=3\n");

    let mut bad = std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    let out = bad
        .args(["k8s", "--mode=Sync", "--source-namespace=shop"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("`Sync` is not Stage, Cutover or Failback"));
}

//! Malformed configs and flags: exit 2 and a message naming what is wrong.

use crate::common::*;

#[test]
fn malformed_configs_exit_2_naming_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("ttl = 60", "ttl = -5", "ttl"),
        ("provider = \"sim\"\nregion = \"eu-west-1\"", "provider = \"ibm\"\nregion = \"eu-west-1\"", "sites.primary.provider"),
        ("standby_replicas = 2", "standby_replicas = 20", "workloads[0]"),
        ("replication_lag = \"150ms\"", "replication_lag = \"150\"", "no unit"),
        ("url = \"https://dr.aegis.io/healthz\"", "url = \"ftp://dr.aegis.io\"", "health_endpoints[1]"),
        ("name = \"e2e\"", "name = \"e2e prod\"", "plan.name"),
        ("[checks]", "[checks]\nmax_error_rate = 3.0", "checks.max_error_rate"),
        ("dr = \"orders-euc1\"", "", "dr"),
        ("desired = 6 }\nstandby = { min = 1, max = 10, desired = 1 }\n\n[[node_pools]]", "desired = 6, maximum = 3 }\nstandby = { min = 1, max = 10, desired = 1 }\n\n[[node_pools]]", "maximum"),
    ];
    for (from, to, needle) in cases {
        let text = PLAN.replace("{SIM}", "").replace("{EXTRA}", "");
        assert!(text.contains(from), "fixture lacks {from:?}");
        let env = Env::with_plan(&text.replacen(from, to, 1));
        let out = env.run(&["check"]);
        assert_eq!(code(&out), 2, "{to:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{to:?} should name {needle:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn bad_flags_and_missing_files_exit_2() {
    let env = Env::default();
    let out = env.run(&["failover", "--class", "meteor", "--yes"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--class") && stderr(&out).contains("meteor"));
    let out = env.run(&["check", "--provider", "oracle"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--provider"));
    let out = env.run(&["check", "--provider", "gcp"]);
    assert_eq!(code(&out), 2);
    // The sim plan has no GCP settings: the builder names what is missing before any call.
    assert!(
        stderr(&out).contains("no GCP project") && stderr(&out).contains("[providers.gcp]"),
        "{}",
        stderr(&out)
    );
    // The sim plan has no Azure settings: the builder names what is missing before any call.
    let out = env.run(&["check", "--provider", "azure"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no Azure subscription") && stderr(&out).contains("subscription_id"),
        "{}",
        stderr(&out)
    );
    // The sim plan lacks what AWS needs: the builder names the field before any call.
    let out = env.run(&["check", "--provider", "aws"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("databases.orders.options.fence_parameter_group"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["check", "--provider", "kubernetes"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("kubeconfig"), "{}", stderr(&out));
    let out = env.run(&["frobnicate"]);
    assert_eq!(code(&out), 2);
    let out = env.run(&["failover", "--resume", "../etc", "--yes"]);
    assert_eq!(code(&out), 2);
    let mut c = env.command(&["check"]);
    c.arg("--config").arg(env.path().join("missing.toml"));
    let out = c.output().expect("runs");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
    let out = env.run(&["check", "--output", "json", "--provider", "gcp"]);
    assert_eq!(code(&out), 2);
    assert_eq!(json(&out)["status"], "error");
}

#[test]
fn a_provider_the_registry_does_not_know_is_named_before_anything_runs() {
    let env = Env::new("", "");
    let plan = std::fs::read_to_string(env.path().join("aegis.toml")).expect("plan");
    let plan = plan.replacen(
        "[[databases]]\nname = \"orders\"",
        "[[databases]]\nprovider = \"oracle\"\nname = \"orders\"",
        1,
    );
    std::fs::write(env.path().join("aegis.toml"), plan).expect("plan");
    // Even `plan`, which builds no provider, checks the names.
    for cmd in [
        &["plan"][..],
        &["check"],
        &["failover", "--yes"],
        &["permissions"],
    ] {
        let out = env.run(cmd);
        assert_eq!(code(&out), 2, "{cmd:?}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("databases[0] (`orders`).provider")
                && e.contains("unknown provider `oracle`")
                && e.contains("known: sim, aws, azure, gcp"),
            "{cmd:?}: {e}"
        );
    }
    assert!(
        !env.state().join("sim-world.json").exists(),
        "nothing was built"
    );
}

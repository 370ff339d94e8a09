//! Malformed plans: every error names the field, and the line where it can.

use aegis_dr_core::{ErrorKind, Plan};

use crate::common::PLAN;

fn err(text: &str) -> String {
    let e = Plan::parse(text).expect_err("must be rejected");
    assert_eq!(e.kind(), ErrorKind::Config);
    e.to_string()
}

/// The fixture with `from` replaced by `to` is rejected with an error mentioning every needle.
fn rejected_naming(from: &str, to: &str, needles: &[&str]) {
    assert!(PLAN.contains(from), "fixture lacks {from:?}");
    let msg = err(&PLAN.replacen(from, to, 1));
    for n in needles {
        assert!(
            msg.contains(n),
            "error for {to:?} should mention {n:?}: {msg}"
        );
    }
}

#[test]
fn malformed_plans_name_the_field() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("provider = \"sim\"\nregion = \"us-east-1\"\ncluster = \"prod\"", "provider = \"Oracle Cloud\"\nregion = \"us-east-1\"\ncluster = \"prod\"", &["sites.primary.provider", "Oracle Cloud", "not a provider name"]),
        ("provider = \"sim\"\nregion = \"us-east-1\"\ncluster = \"prod\"", "provider = \"sim\"\nregion = \"us-east-1\"\ncluster = \"prod\"\nregoin = \"x\"", &["sites.primary.regoin", "unknown field"]),
        ("ttl = 60\nhealth_check", "ttl = \"sixty\"\nhealth_check", &["line", "ttl"]),
        ("production_replicas = 6\nstandby_replicas = 2", "production_replicas = 6\nstandby_replicas = 9", &["workloads[0]", "standby_replicas", "line"]),
        ("production = { min = 3, max = 10, desired = 6 }\nstandby = { min = 1, max = 10, desired = 1 }\n\n[[node_pools]]\nname = \"dr-pool\"", "production = { min = 3, max = 10, desired = 60 }\nstandby = { min = 1, max = 10, desired = 1 }\n\n[[node_pools]]\nname = \"dr-pool\"", &["node_pools[0]", "production", "desired=60"]),
        ("dns_propagation = \"30s\"", "dns_propagation = \"30\"", &["no unit"]),
        ("[checks]", "[checks]\nmax_backup_age = \"soon\"", &["max_backup_age", "soon"]),
        ("name = \"orders\"\nprimary = \"orders-use1\"\ndr = \"orders-usw2\"", "name = \"orders\"\nprimary = \"orders-use1\"\ndr = \"orders-use1\"", &["databases[0]", ".dr", "must differ"]),
        ("name = \"users\"", "name = \"orders\"", &["duplicate", "orders"]),
        ("url = \"https://dr.example.com/healthz\"", "url = \"dr.example.com\"", &["health_endpoints[1]", "url"]),
        ("[execution]", "[execution]\nmax_concurrency = 0", &["execution.max_concurrency"]),
        ("[sim]", "[sim]\ntransient_fault_rate = 1.5", &["sim.transient_fault_rate"]),
        ("selector = \"tier=web\"", "selector = \"tier web\"", &["workloads[1]", "selector"]),
        ("deployments = [\"api\", \"worker\"]", "deployments = [\"api\", \"api\"]", &["workloads[0]", "deployments", "`api` is listed twice", "line"]),
        ("[plan]", "[plan]\ncolour = \"blue\"", &["colour", "line"]),
        ("primary_target = \"lb-use1.example.com\"", "primary_target = \"lb-use1.example.com\"\ntype = \"MX\"", &["dns_records[0]", "type", "MX"]),
    ];
    for (from, to, needles) in cases {
        rejected_naming(from, to, needles);
    }
    assert!(err("").contains("plan"), "missing [plan]");
    let no_dr = PLAN.replace(
        "[sites.dr]\nprovider = \"sim\"\nregion = \"us-west-2\"\ncluster = \"dr\"",
        "",
    );
    assert!(err(&no_dr).contains("sites.dr"));
    assert!(err(&PLAN.replace("[targets", "[x").replace(
        "[checks]",
        "[targets.meteor-strike]\nrto = \"1m\"\n[checks]"
    ))
    .contains("targets.meteor-strike"));
}

#[test]
fn targets_can_be_overridden_per_class() {
    let p = Plan::parse(&PLAN.replace(
        "[checks]",
        "[targets.network-partition]\nrto = \"5m\"\n\n[checks]",
    ))
    .expect("parses");
    let t = p.targets(aegis_dr_core::IncidentClass::NetworkPartition);
    assert_eq!((t.rto.as_secs(), t.rpo.as_secs()), (300, 0));
    assert_eq!(
        p.targets(aegis_dr_core::IncidentClass::RegionOutage)
            .rto
            .as_secs(),
        1800
    );
}

#[test]
fn out_of_range_numbers_and_names_are_rejected_at_load_naming_the_field() {
    let long_name = format!("name = \"{}\"", "p".repeat(300));
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "latency = \"2ms\"",
            "latency = \"18446744073709551615s\"".into(),
            &["latency", "line"],
        ),
        (
            "node_boot = \"3m\"",
            "node_boot = \"400days\"".into(),
            &["node_boot", "too long"],
        ),
        (
            "dns_propagation = \"30s\"",
            "dns_propagation = \"9999999h\"".into(),
            &["dns_propagation", "too long"],
        ),
        (
            "[checks]",
            "[targets.region-outage]\nrto = \"18446744073709551615s\"\n\n[checks]".into(),
            &["targets.region-outage.rto"],
        ),
        (
            "[sim]",
            "[sim]\nerror_rate = 2.0".into(),
            &["sim.error_rate", "between 0 and 1"],
        ),
        (
            "[sim]",
            "[sim]\nerror_rate = nan".into(),
            &["sim.error_rate"],
        ),
        (
            "name = \"test-estate\"",
            long_name,
            &["plan.name", "300 characters"],
        ),
        (
            "[sim]",
            "[[sim.faults]]\noperation = \"promote_databse\"\nerror = \"temporary\"\n\n[sim]"
                .into(),
            &[
                "operation = \"promote_databse\"",
                "is not a provider operation",
                "promote_database",
            ],
        ),
    ];
    for (from, to, needles) in &cases {
        rejected_naming(from, to, needles);
    }
    // The documented fault names are accepted, `start_failback` among them.
    let ok = PLAN.replacen(
        "[sim]",
        "[[sim.faults]]\noperation = \"start_failback\"\nerror = \"temporary\"\n\n[sim]",
        1,
    );
    Plan::parse(&ok).expect("start_failback is an operation");
}

/// The fixture with its DR site on `azure`.
fn dr_on_azure() -> String {
    let from = "[sites.dr]\nprovider = \"sim\"";
    assert!(PLAN.contains(from), "fixture lacks the DR site");
    PLAN.replacen(from, "[sites.dr]\nprovider = \"azure\"", 1)
}

#[test]
fn resources_are_on_their_sites_provider_unless_they_name_another() {
    // A database pair between two clouds is refused, saying why and what to write.
    let e = err(&dr_on_azure());
    for needle in [
        "databases[0]",
        "provider",
        "`sim`",
        "`azure`",
        "replication across clouds",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // Naming the cloud of both instances makes the plan valid; the rest follows the sites.
    let named = dr_on_azure().replace(
        "[[databases]]\nname = \"orders\"",
        "[[databases]]\nprovider = \"azure\"\nname = \"orders\"",
    );
    let named = named.replace(
        "[[databases]]\nname = \"users\"",
        "[[databases]]\nprovider = \"sim\"\nname = \"users\"",
    );
    let p = Plan::parse(&named).expect("a plan across two clouds");
    assert_eq!(p.databases[0].provider.as_str(), "azure");
    assert_eq!(p.databases[1].provider.as_str(), "sim");
    assert!(
        p.dns_records.iter().all(|r| r.provider.as_str() == "sim"),
        "DNS: the primary's"
    );
    for pool in &p.node_pools {
        let want = if pool.site == aegis_dr_core::SiteRole::Dr {
            "azure"
        } else {
            "sim"
        };
        assert_eq!(pool.provider.as_str(), want, "{}", pool.name);
    }
    assert!(
        p.recovery_servers
            .iter()
            .all(|s| s.provider.as_str() == "azure"),
        "recovery: the DR site's"
    );
    assert!(!p.runs_on_sim(), "azure is not played");
    // `--provider` moves everything, named or not.
    let all_sim = p.clone().with_provider("sim").expect("sim");
    assert!(
        all_sim.runs_on_sim()
            && all_sim
                .databases
                .iter()
                .all(|d| d.provider.as_str() == "sim")
    );
    // The simulated estate may play azure.
    let played =
        Plan::parse(&format!("{named}\n").replacen("[sim]", "[sim]\nplays = [\"azure\"]", 1))
            .expect("sim plays azure");
    assert!(played.runs_on_sim());
    // A view per provider keeps only its resources.
    let azure = p.for_provider(&"azure".into());
    assert_eq!(azure.databases.len(), 1);
    assert!(azure.dns_records.is_empty());
}

#[test]
fn provider_fields_are_checked_where_they_are_written() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("[[databases]]\nname = \"orders\"", "[[databases]]\nprovider = \"kubernetes\"\nname = \"orders\"", &["databases", "provider", "kubernetes"]),
        ("[sim]", "[sim]\nplays = [\"kubernetes\"]", &["sim.plays[0]", "kubernetes"]),
        ("[sim]", "[sim]\nplays = [\"sim\"]", &["sim.plays[0]"]),
        ("[sim]", "[providers.Oracle]\nx = 1\n\n[sim]", &["providers.Oracle"]),
        ("[sim]", "[fault_injection]\ntransient_rate = 0.95\n\n[sim]", &["fault_injection.transient_rate"]),
        ("[sim]", "[[fault_injection.faults]]\noperation = \"promote_database\"\nerror = \"job-failure\"\n\n[sim]", &["fault_injection.faults[0].error", "job-failure"]),
        ("[execution]", "[execution]\ncall_timeout = \"10ms\"", &["execution.call_timeout"]),
        ("production = { min = 3, max = 10, desired = 6 }", "autoscaling_group = \"eks-workers\"\nproduction = { min = 3, max = 10, desired = 6 }", &["node_pools[0]", "autoscaling_group", "AWS", "`sim`"]),
    ];
    for (from, to, needles) in cases {
        rejected_naming(from, to, needles);
    }
}

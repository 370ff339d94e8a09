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
        ("provider = \"sim\"\nregion = \"us-east-1\"\ncluster = \"prod\"", "provider = \"oracle\"\nregion = \"us-east-1\"\ncluster = \"prod\"", &["sites.primary.provider", "oracle"]),
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
                "sim.faults[0].operation",
                "promote_databse",
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

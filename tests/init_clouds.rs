//! `aegis-dr init` and `drift` on Azure and GCP, through the binary against the ARM and Google
//! simulators: the runbook's estate read into a plan with no choice left, which then fails over and
//! back; a resized pool is drift.

use aegis_dr_azure_sim::estate as az;
use aegis_dr_gcp_sim::estate as gc;

use crate::{
    azure::Azure,
    common::{code, stderr},
    gcp::Gcp,
};

/// The line of `text` holding `needle`.
fn line<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
}

/// What the user adds to a drafted plan on this machine: the health URLs init cannot know, a
/// TTL bound the estate's records meet, a failback that need not wait, fast polls and no DNS resolver (the simulators' names resolve
/// nowhere).
fn finish(plan: &str, health_url: &str) -> String {
    format!(
        "{plan}\n[[health_endpoints]]\nname = \"api-primary\"\nsite = \"primary\"\nurl = \"{health_url}/primary\"\n\n\
         [[health_endpoints]]\nname = \"api-dr\"\nsite = \"dr\"\nurl = \"{health_url}/dr\"\n\n\
         [checks]\nmax_dns_ttl = 300\n\n\
         [failback]\nmin_primary_stable = \"0s\"\nlowered_ttl = 2\n\n\
         [execution]\npoll_interval = \"50ms\"\nmax_poll_interval = \"200ms\"\n\n\
         [verification]\ndns_resolver = \"none\"\n"
    )
}

fn ok(o: &std::process::Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(code(o), 0, "{what}: {out}\n{}", stderr(o));
    out
}

fn drift_exit(o: &std::process::Output) -> (i32, String) {
    (code(o), String::from_utf8_lossy(&o.stdout).to_string())
}

#[test]
fn init_reads_the_azure_estate_into_a_plan_that_fails_over_and_back() {
    let a = Azure::new("");
    let plan = a.dir.path().join("aegis.toml");
    std::fs::remove_file(&plan).expect("no plan yet");
    // The zone's record `app` points at the East US front end; its West US twin is in the zone.
    a.sim.with(|s| {
        s.set_record(az::ZONE, "CNAME", "app", 5, "app-eastus.aegis.io");
        s.set_record(az::ZONE, "CNAME", "app-westus", 5, az::DR_TARGET);
    });
    let sub = a.sim.with(|s| s.subscription_id.clone());
    let groups = format!("{},{},{}", az::PRIMARY_RG, az::DR_RG, az::GLOBAL_RG);
    let o = a.run(&[
        "init",
        "--primary",
        "azure:eastus",
        "--dr",
        "azure:westus",
        "--azure-subscription",
        &sub,
        "--azure-resource-groups",
        &groups,
    ]);
    let out = ok(&o, "init");
    assert!(out.contains("no choice left"), "{out}");
    let text = std::fs::read_to_string(&plan).expect("plan written");
    assert!(
        line(&text, &format!("dr = \"{}\"", az::DR_SQL)).contains("partner server"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "options.failover_group = \"{}\"",
            az::FAILOVER_GROUP
        )),
        "{text}"
    );
    assert!(
        line(&text, "name = \"aegis-tm.trafficmanager.net\"").contains("profile's name"),
        "{text}"
    );
    assert!(
        line(&text, &format!("dr_target = \"{}\"", az::DR_TARGET)).contains("dr-endpoint"),
        "{text}"
    );
    assert!(
        line(&text, "dr_target = \"app-westus.aegis.io\"").contains("in zone aegis.io"),
        "{text}"
    );
    assert!(
        line(&text, &format!("cluster = \"{}\"", az::PRIMARY_AKS))
            .contains("only one of the AKS clusters"),
        "{text}"
    );
    assert!(text.contains("[sites.dr.azure]"), "{text}");
    assert!(
        line(&text, "standby = { desired = 1, max = 10, min = 1 }").contains("now"),
        "{text}"
    );
    assert!(
        line(&text, "region = \"eastus\"").contains("serves now"),
        "{text}"
    );
    std::fs::write(&plan, finish(&text, &a.sim.health_url())).expect("plan");
    let (c, says) = drift_exit(&a.run(&["drift"]));
    assert_eq!(c, 0, "no drift right after init: {says}");

    ok(&a.run(&["failover", "--yes"]), "failover");
    a.sim.with(|s| {
        let (primary, _) = s.failover_group(az::FAILOVER_GROUP).expect("group");
        assert_eq!(primary, az::DR_SQL);
        assert_eq!(
            s.record("aegis.io", "CNAME", "app").map(|r| r.1),
            Some(vec!["app-westus.aegis.io".to_string()])
        );
    });
    let (c, says) = drift_exit(&a.run(&["drift"]));
    assert_eq!(c, 0, "a failover is no drift: {says}");
    ok(&a.run(&["failback", "--yes"]), "failback");
    a.sim.with(|s| {
        let (primary, _) = s.failover_group(az::FAILOVER_GROUP).expect("group");
        assert_eq!(primary, az::PRIMARY_SQL);
    });

    // The DR pool resized by hand: drift names it, and only it.
    a.sim
        .with(|s| s.add_agent_pool(az::DR_RG, az::DR_AKS, az::POOL, 3, None));
    let o = a.run(&["drift", "--output", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc = crate::common::json(&o);
    let drift = doc["drift"].as_array().expect("drift list");
    assert_eq!(drift.len(), 1, "{doc:#}");
    assert_eq!(drift[0]["table"], "node_pools", "{doc:#}");
    let what = drift[0]["what"].as_str().unwrap_or_default();
    assert!(what.contains(az::POOL) && what.contains('3'), "{doc:#}");
}

#[test]
fn init_reads_the_gcp_estate_into_a_plan_that_fails_over_and_back() {
    let g = Gcp::new("");
    let plan = g.dir.path().join("aegis.toml");
    std::fs::remove_file(&plan).expect("no plan yet");
    // A record whose targets name the regions (the runbook's own names none: it is left out).
    g.sim.with(|s| {
        s.set_record_set(
            gc::ZONE,
            "web.aegis.io.",
            "CNAME",
            120,
            &["web-us-central1.aegis.io."],
        );
        s.set_record_set(gc::ZONE, "web-us-east1.aegis.io.", "A", 60, &["10.1.0.7"]);
    });
    let o = g.run(&[
        "init",
        "--primary",
        "gcp:us-central1",
        "--dr",
        "gcp:us-east1",
        "--gcp-project",
        gc::PROJECT,
    ]);
    let out = ok(&o, "init");
    assert!(out.contains("no choice left"), "{out}");
    let text = std::fs::read_to_string(&plan).expect("plan written");
    assert!(
        line(&text, &format!("dr = \"{}\"", gc::DR_DB)).contains("DR site's region"),
        "{text}"
    );
    assert!(text.contains("options.mode = \"replica\""), "{text}");
    assert!(
        line(&text, "dr_target = \"web-us-east1.aegis.io\"").contains("in zone aegis-zone"),
        "{text}"
    );
    assert!(
        text.contains(
            "api.aegis.io (CNAME → primary-lb.aegis.io): its target names neither site's region"
        ),
        "{text}"
    );
    assert!(
        line(&text, "location = \"us-east1-b\"").contains("GKE cluster aegis-dr"),
        "{text}"
    );
    assert!(
        line(&text, "production = { desired = 6, max = 6, min = 6 }").contains("now"),
        "{text}"
    );
    std::fs::write(&plan, finish(&text, &g.sim.health_url())).expect("plan");
    let (c, says) = drift_exit(&g.run(&["drift"]));
    assert_eq!(c, 0, "no drift right after init: {says}");

    ok(&g.run(&["failover", "--yes"]), "failover");
    g.sim.with(|s| {
        assert_eq!(s.sql_instance(gc::DR_DB).expect("dr").master, None);
        let (_, data) = s
            .record_set(gc::ZONE, "web.aegis.io.", "CNAME")
            .expect("record");
        assert_eq!(data, vec!["web-us-east1.aegis.io.".to_string()]);
    });
    ok(&g.run(&["failback", "--yes"]), "failback");
    g.sim.with(|s| {
        assert_eq!(
            s.sql_instance(gc::PRIMARY_DB).expect("primary").master,
            None
        );
    });
    let (c, says) = drift_exit(&g.run(&["drift"]));
    assert_eq!(c, 0, "failed back, no drift: {says}");
}

//! One plan on several providers: the simulated estate plays `aws` and `azure`, each DNS record on
//! one of them. The records switch concurrently, calls are counted per provider, and a provider's
//! error is reported under its name.

use std::time::Duration;

use aegis_dr_core::{
    journal::{Operation, RunStatus},
    plan::SimFault,
    IncidentClass, Plan,
};

use crate::common::{flags, Estate, PLAN};

/// The fixture with a second record on `azure`, the first on `aws`, both played by the simulator.
fn two_dns_providers() -> Plan {
    let text = PLAN
        .replacen(
            "[[dns_records]]\nname = \"api.example.com\"",
            "[[dns_records]]\nname = \"www.example.com\"\nprovider = \"azure\"\nzone = \"example.com\"\n\
             primary_target = \"www-use1.example.com\"\ndr_target = \"www-weu.example.com\"\nttl = 60\n\n\
             [[dns_records]]\nname = \"api.example.com\"\nprovider = \"aws\"",
            1,
        )
        .replacen("[sim]", "[sim]\nplays = [\"aws\", \"azure\"]", 1);
    Plan::parse(&text).expect("plan parses")
}

#[tokio::test(start_paused = true)]
async fn records_on_two_providers_switch_concurrently_and_calls_are_counted_per_provider() {
    let plan = two_dns_providers();
    let propagation = plan.sim.dns_propagation;
    let e = Estate::new(plan);
    let out = e
        .run(Operation::Failover, IncidentClass::RegionOutage, flags())
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let w = e.world();
    let target = |name: &str| {
        w.records
            .get(&format!("example.com/{name}/CNAME"))
            .map(|r| r.target.clone())
            .expect("record")
    };
    assert_eq!(target("api.example.com"), "lb-usw2.example.com");
    assert_eq!(target("www.example.com"), "www-weu.example.com");
    let switch = out
        .report
        .steps
        .iter()
        .find(|s| s.id == "switch-dns-to-dr")
        .expect("switch step");
    let took = Duration::from_secs_f64(switch.duration_seconds.expect("finished"));
    assert!(
        took < propagation + propagation / 2,
        "both providers' changes propagated together: {took:?} for one propagation of {propagation:?}"
    );
    let calls = &out.report.provider_calls;
    for p in ["aws", "azure", "sim"] {
        assert!(calls.get(p).is_some_and(|c| c.calls > 0), "{p}: {calls:?}");
    }
    assert!(
        calls["azure"].calls < calls["sim"].calls,
        "azure serves one record only: {calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_providers_failure_is_reported_under_its_name() {
    let mut plan = two_dns_providers();
    plan.sim.faults = vec![SimFault {
        operation: aegis_dr_core::layer::ProviderOp::UpsertRecord,
        resource: Some("www.example.com".into()),
        error: "permanent".into(),
        times: 0,
    }];
    let e = Estate::new(plan);
    let out = e
        .run(Operation::Failover, IncidentClass::RegionOutage, flags())
        .await;
    assert_eq!(out.report.status, RunStatus::Failed);
    let err = out
        .error
        .expect("the azure record cannot change")
        .to_string();
    assert!(err.starts_with("azure: "), "{err}");
    assert!(err.contains("www.example.com"), "{err}");
    assert_eq!(
        out.report.provider_calls["azure"].errors, 1,
        "{:?}",
        out.report.provider_calls
    );
    assert_eq!(out.report.provider_calls["aws"].errors, 0);
}

//! Prometheus hooks against a real Prometheus (Debian's `prometheus`, started here) scraping an
//! exporter this test serves: a condition that holds for its window, one that does not, and a
//! query without data (unknown is never healthy).

use std::time::Duration;

use aegis_dr_core::{journal::Operation, ErrorKind, IncidentClass};
use aegis_dr_test_servers::{Exporter, Prometheus};

use crate::{common::*, hooks::fast_plan};

const SERIES: &str = "http_error_ratio{site=\"dr\"}";

fn hook(url: &str, query: &str, window: &str, timeout: &str) -> String {
    format!(
        r#"
[[hooks]]
name = "error-rate"
type = "prometheus"
phases = ["failover"]
after = "verify-dr"
escalate = "dr-environment-unhealthy"
url = "{url}"
query = '{query}'
below = 0.01
for = "{window}"
interval = "250ms"
timeout = "{timeout}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_hook_needs_its_condition_to_hold_for_the_whole_window() {
    let exporter = Exporter::start().await;
    exporter.set(SERIES, 0.002);
    let prom = Prometheus::start(
        &[exporter.addr()],
        Duration::from_millis(500),
        "http_error_ratio",
    )
    .await;
    let ro = IncidentClass::RegionOutage;

    // Holds: the hook succeeds once it has held for 1.5 s of evaluations.
    let e = Estate::new(fast_plan(&hook(
        &prom.url,
        "max(http_error_ratio)",
        "1500ms",
        "20s",
    )));
    let out = e.run(Operation::Failover, ro, flags()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let step = step(&out.report, "hook.error-rate");
    let ev = &step.data["hook"];
    assert_eq!(ev["held"], true, "{ev}");
    let samples = ev["samples"].as_array().expect("samples");
    assert!(samples.len() >= 6, "{ev}");
    assert_eq!(samples[0]["series"][0]["value"], 0.002, "{ev}");
    assert!(step.duration_seconds.unwrap_or(0.0) >= 1.5);

    // Does not hold: fails at its timeout, escalating.
    exporter.set(SERIES, 0.5);
    // Once Prometheus has scraped it.
    for _ in 0..600 {
        let now = prom.query("max(http_error_ratio)").await;
        if now.iter().any(|(_, v)| *v == 0.5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        prom.query("max(http_error_ratio)")
            .await
            .iter()
            .any(|(_, v)| *v == 0.5),
        "Prometheus never scraped the new value"
    );
    let e = Estate::new(fast_plan(&hook(
        &prom.url,
        "max(http_error_ratio)",
        "1s",
        "2s",
    )));
    let out = e.run(Operation::Failover, ro, flags()).await;
    let err = out.error.expect("a 50% error rate fails the hook");
    assert_eq!(err.kind(), ErrorKind::HookFailed, "{err}");
    assert!(
        err.to_string().contains("did not hold < 0.01 for 1s"),
        "{err}"
    );
    assert!(err.to_string().contains("0.5 (needs < 0.01)"), "{err}");
    assert!(out
        .report
        .escalations
        .iter()
        .any(|x| x.reason == "dr-environment-unhealthy"));

    // No data is not a healthy zero.
    let e = Estate::new(fast_plan(&hook(
        &prom.url,
        "absent_metric_total",
        "0s",
        "1s",
    )));
    let out = e.run(Operation::Failover, ro, flags()).await;
    let err = out.error.expect("no data fails the hook");
    assert!(err.to_string().contains("no data"), "{err}");

    // A query Prometheus rejects fails at once, naming Prometheus's reason.
    let e = Estate::new(fast_plan(&hook(&prom.url, "sum(", "0s", "10s")));
    let out = e.run(Operation::Failover, ro, flags()).await;
    let err = out.error.expect("a bad query fails the hook");
    assert!(
        err.to_string()
            .contains("Prometheus rejected the query (400)"),
        "{err}"
    );
}

//! Prometheus hooks against a real Prometheus (Debian's `prometheus`, started here) scraping an
//! exporter this test serves: a condition that holds for its window, one that does not, and a
//! query without data (unknown is never healthy).

use std::{
    process::{Child, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use aegis_dr_core::{journal::Operation, ErrorKind, IncidentClass};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{common::*, hooks::fast_plan};

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Serves `http_error_ratio{site="dr"} <value>` on /metrics; returns its address.
async fn exporter(value: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let v = f64::from_bits(value.load(Ordering::SeqCst));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body =
                    format!("# TYPE http_error_ratio gauge\nhttp_error_ratio{{site=\"dr\"}} {v}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// Starts Prometheus scraping `target` every 500 ms and waits until it has a sample.
async fn prometheus(target: &str) -> Prometheus {
    let bin = std::env::var("AEGIS_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let child = std::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `{bin}` ({e}): install Debian's `prometheus` (scripts/test.sh does) or set AEGIS_PROMETHEUS")
        });
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let q = client
            .get(format!("{}/api/v1/query", p.url))
            .query(&[("query", "http_error_ratio")])
            .send()
            .await;
        if let Ok(r) = q {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
                {
                    return p;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Prometheus at {} never scraped the exporter", p.url);
}

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
    let value = Arc::new(AtomicU64::new(0.002f64.to_bits()));
    let target = exporter(value.clone()).await;
    let prom = prometheus(&target).await;
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
    let step = out
        .report
        .steps
        .iter()
        .find(|s| s.id == "hook.error-rate")
        .expect("hook step");
    let ev = &step.data["hook"];
    assert_eq!(ev["held"], true, "{ev}");
    let samples = ev["samples"].as_array().expect("samples");
    assert!(samples.len() >= 6, "{ev}");
    assert_eq!(samples[0]["series"][0]["value"], 0.002, "{ev}");
    assert!(step.duration_seconds.unwrap_or(0.0) >= 1.5);

    // Does not hold: fails at its timeout, escalating.
    value.store(0.5f64.to_bits(), Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
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

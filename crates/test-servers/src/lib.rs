//! Test support: a real Prometheus server (Debian's `prometheus`, started and stopped here) and an
//! exporter whose gauges the test sets, so hooks and triggers are tested against a real PromQL
//! engine. The tests fail, never skip, when `prometheus` is missing (`scripts/test.sh` installs it).
#![forbid(unsafe_code)]

pub mod postgres;

use std::{
    collections::BTreeMap,
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Gauges served on `/metrics`, set by the test: `name{labels}` → value.
#[derive(Debug, Clone, Default)]
pub struct Exporter {
    values: Arc<Mutex<BTreeMap<String, f64>>>,
    addr: String,
}

impl Exporter {
    /// Starts serving on a loopback port (on the current tokio runtime).
    pub async fn start() -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an exporter port");
        let addr = listener.local_addr().expect("addr").to_string();
        let values: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        let served = values.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let body: String = served
                    .lock()
                    .map(|v| v.iter().map(|(k, x)| format!("{k} {x}\n")).collect())
                    .unwrap_or_default();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        Exporter { values, addr }
    }

    /// Sets `series` (`name{label="v"}`) to `value`.
    pub fn set(&self, series: &str, value: f64) {
        if let Ok(mut v) = self.values.lock() {
            v.insert(series.to_string(), value);
        }
    }

    /// Stops serving `series`.
    pub fn remove(&self, series: &str) {
        if let Ok(mut v) = self.values.lock() {
            v.remove(series);
        }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// A running Prometheus, killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    /// Its base URL.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every `scrape` and waits until `ready_query` has data.
    pub async fn start(targets: &[&str], scrape: Duration, ready_query: &str) -> Prometheus {
        let bin = std::env::var("AEGIS_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let ms = scrape.as_millis();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {ms}ms\n  scrape_timeout: {ms}ms\n  evaluation_interval: {ms}ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
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
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..300 {
            if p.has_data(ready_query).await {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus at {} never had data for `{ready_query}`", p.url);
    }

    /// True when `query` has a sample now.
    pub async fn has_data(&self, query: &str) -> bool {
        !self.query(query).await.is_empty()
    }

    /// The samples of `query` now (labels as JSON, value).
    pub async fn query(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let q = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await;
        let Ok(r) = q else { return Vec::new() };
        let Ok(v) = r.json::<serde_json::Value>().await else {
            return Vec::new();
        };
        v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let x = s["value"][1]
                            .as_str()
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(f64::NAN);
                        (s["metric"].clone(), x)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops it (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

//! The HTTP health probe against a local endpoint: status, figures and body fields, judged by the
//! endpoint's expectations.

use std::time::Duration;

use aegis_dr_core::{
    plan::{HealthEndpointSpec, ProviderName},
    provider::{HealthProbe, HttpHealthProbe, ProbeRequest},
    SiteRole,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A one-shot endpoint answering `body` with 200.
async fn endpoint(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/healthz", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes()).await;
    });
    url
}

#[tokio::test]
async fn body_fields_are_read_and_judged_against_the_expected_ones() {
    let url =
        endpoint(r#"{"status":"healthy","region":"dr","in_flight":0,"error_rate":0.002}"#).await;
    let spec = HealthEndpointSpec {
        name: "api-dr".into(),
        provider: ProviderName("aws".into()),
        site: SiteRole::Dr,
        url: url.clone(),
        expect_status: 200,
        expect_json: [
            ("status".to_string(), serde_json::json!("healthy")),
            ("region".to_string(), serde_json::json!("primary")),
            ("version".to_string(), serde_json::json!(3)),
        ]
        .into_iter()
        .collect(),
    };
    let probe = HttpHealthProbe::new(Duration::from_secs(5)).expect("client");
    let r = probe.probe(&ProbeRequest::of(&spec)).await.expect("probe");
    assert_eq!(
        (r.status, r.in_flight, r.error_rate),
        (200, Some(0), Some(0.002))
    );
    assert_eq!(r.fields["region"], "dr");
    let problems = r.problems(&spec);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("body field `region` is \"dr\", expected \"primary\""),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("body field `version` absent, expected 3"),
        "{problems:?}"
    );
}

//! Verification asks a real resolver for every DNS record (hickory-resolver against a name server
//! this test runs): it waits while the answer is the old target, fails naming what was answered,
//! and the default asks none for a plan the simulated estate serves.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use aegis_dr_core::{
    journal::Operation,
    plan::{DnsResolver, Plan},
    IncidentClass,
};
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{rdata::CNAME, Name, RData, Record},
};

use crate::{common::*, hooks::fast_plan};

/// A UDP name server answering every CNAME question with `target` (NXDOMAIN while it is empty),
/// and how many questions it answered.
async fn name_server(target: Arc<Mutex<String>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
            resp.metadata.authoritative = true;
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            let t = target.lock().expect("target").clone();
            for q in &req.queries {
                resp.add_query(q.clone());
                if t.is_empty() {
                    resp.metadata.response_code = ResponseCode::NXDomain;
                } else if let Ok(name) = Name::from_ascii(format!("{t}.")) {
                    resp.add_answer(Record::from_rdata(
                        q.name().clone(),
                        1,
                        RData::CNAME(CNAME(name)),
                    ));
                }
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, asked)
}

fn plan_via(addr: SocketAddr) -> Plan {
    fast_plan(&format!(
        "[verification]\ndns_resolver = \"{addr}\"\n\n[targets.region-outage]\nrto = \"4s\"\nrpo = \"5m\"\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_waits_until_the_resolver_answers_the_new_target() {
    let target = Arc::new(Mutex::new("lb-use1.example.com".to_string()));
    let (addr, asked) = name_server(target.clone()).await;
    let e = Estate::new(plan_via(addr));
    // The new target is served once verification has been answered the old one twice.
    let flip = target.clone();
    let total = asked.clone();
    let before_flip = tokio::spawn(async move {
        while asked.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        *flip.lock().expect("target") = "LB-USW2.example.com".into();
        asked.load(Ordering::SeqCst)
    });
    let out = e
        .run(Operation::Failover, IncidentClass::RegionOutage, flags())
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let verify = step(&out.report, "verify-dr");
    assert!(
        verify
            .summary
            .as_deref()
            .unwrap_or("")
            .contains(&format!("DNS (and as {addr} answers it)")),
        "{verify:?}"
    );
    // It kept asking while the answer was the old target (twice at least, or nothing was flipped),
    // and passed on the new one, which it asked for after.
    let asked_before = tokio::time::timeout(Duration::from_secs(5), before_flip)
        .await
        .expect("verification ended before it was answered the old target twice")
        .expect("flip");
    assert!(
        total.load(Ordering::SeqCst) > asked_before,
        "never asked again after the flip"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_still_answering_the_old_target_fails_verification_and_escalates() {
    let target = Arc::new(Mutex::new("lb-use1.example.com".to_string()));
    let (addr, _) = name_server(target).await;
    let e = Estate::new(plan_via(addr));
    let out = e
        .run(Operation::Failover, IncidentClass::RegionOutage, flags())
        .await;
    let err = out.error.expect("verification fails");
    assert!(
        err.to_string().contains(&format!(
            "api.example.com: {addr} answers CNAME lb-use1.example.com (expected lb-usw2.example.com)"
        )),
        "{err}"
    );
    assert!(out
        .report
        .escalations
        .iter()
        .any(|x| x.reason == "dr-environment-unhealthy"));

    // No answer at all is a failure too, never a match.
    let empty = Arc::new(Mutex::new(String::new()));
    let (addr, _) = name_server(empty).await;
    let e = Estate::new(plan_via(addr));
    let out = e
        .run(Operation::Failover, IncidentClass::RegionOutage, flags())
        .await;
    let err = out.error.expect("verification fails");
    assert!(err.to_string().contains("api.example.com"), "{err}");
}

#[test]
fn the_resolver_setting_is_checked_and_defaults_to_none_on_the_simulated_estate() {
    assert_eq!(fast_plan("").dns_resolver(), DnsResolver::None);
    assert_eq!(
        fast_plan("[verification]\ndns_resolver = \"system\"\n").dns_resolver(),
        DnsResolver::System
    );
    assert_eq!(
        DnsResolver::parse("10.0.0.2"),
        Ok(DnsResolver::Server("10.0.0.2:53".parse().expect("addr")))
    );
    let text = crate::hooks::common_plan_text("[verification]\ndns_resolver = \"8.8.8.8:x\"\n");
    let err = Plan::parse(&text).expect_err("bad resolver").to_string();
    assert!(
        err.contains("verification.dns_resolver: `8.8.8.8:x` is not `none`, `system`, an IP address or IP:PORT"),
        "{err}"
    );
}

//! The simulator checked against the published APIs, not against itself: the provider's whole
//! conformance suite and every fault of the simulator's matrix run against it; then every exchange
//! is checked against the table below (each row read from Google's discovery documents, REST
//! references and error documentation), and every body the provider sent or the simulator answered
//! is read through Google's own Rust model types: one that does not parse, holds a field the model
//! does not know (kept aside as unknown), or an enum value it does not know, fails the test.

use std::fmt::Debug;

use aegis_dr_core::{
    clock::Clock,
    conformance,
    plan::PoolSize,
    provider::{DatabaseRef, FenceRequest, PoolRef, PromoteMode, PromoteRequest, ScalePool},
    Plan, SiteRole,
};
use aegis_dr_gcp_sim::{estate, Exchange, GcpSim};
use aegis_dr_sim_http::spec::{check, unexercised, Common, Operation};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

use crate::common::{example_text, providers, refs, world, WITHIN};

const SQL: &str = "sqladmin/v1 discovery document (sqladmin-api.json) and cloud.google.com/sql/docs/postgres/admin-api/admin-api-error-messages; 409 operationInProgress and 412 staleData as recorded in hashicorp/terraform-provider-google#12324 and apache/airflow#62671";
const SWITCHOVER: &str = "sqladmin/v1 instances.switchover (dbTimeout, default 10 min) and cloud.google.com/sql/docs/postgres/use-advanced-disaster-recovery (requirements; Google documents no refusal text: 400 invalidOperation is the simulator's wording)";
const GKE: &str = "container/v1 discovery document (container-api.json) and cloud.google.com/kubernetes-engine/docs/troubleshooting/concurrent-operations (400 FAILED_PRECONDITION while another operation holds the cluster, 429 for the concurrent-operations quota, as in hashicorp/terraform-provider-google#15579)";
const COMPUTE: &str = "compute/v1 discovery document (compute-api.json): instanceGroupManagers.get";
const DNS: &str = "dns/v1 discovery document (dns-api.json) and cloud.google.com/dns/docs/error-messages (conditionNotMet, alreadyExists, notFound, invalid, required)";
const MONITORING: &str =
    "monitoring/v3 discovery document (monitoring-api.json): projects.timeSeries.list";

const SQL_ERRORS: &[(u16, &str)] = &[
    (404, "instanceDoesNotExist"),
    (409, "operationInProgress"),
    (412, "staleData"),
    (400, "invalidOperation"),
    (503, "backendError"),
];
const GKE_ERRORS: &[(u16, &str)] = &[
    (400, "failedPrecondition"),
    (400, "invalid"),
    (404, "notFound"),
    (429, "rateLimitExceeded"),
];
const DNS_ERRORS: &[(u16, &str)] = &[
    (412, "conditionNotMet"),
    (409, "alreadyExists"),
    (404, "notFound"),
    (400, "invalid"),
    (400, "required"),
];

const BASE: Operation = Operation {
    id: "",
    method: "",
    path: "",
    ok: &[200],
    errors: &[],
    answer: &[],
    accepted_headers: &[],
    absent_headers: &[],
    enums: &[],
    read_only: &[],
    cite: "",
};

/// A model check of a body: it parses into Google's type with nothing left unknown.
type ModelCheck = fn(&str) -> Result<(), String>;

/// A table row with the Rust model types of its answer and its request.
struct Row {
    op: Operation,
    answer: Option<ModelCheck>,
    request: Option<ModelCheck>,
}

fn row(op: Operation, answer: Option<ModelCheck>, request: Option<ModelCheck>) -> Row {
    Row {
        op,
        answer,
        request,
    }
}

/// The table: every call aegis-dr's GCP provider makes.
fn rows() -> Vec<Row> {
    use google_cloud_container_v1::model as gke;
    use google_cloud_dns_v1::model as dns;
    use google_cloud_sql_v1::model as sql;
    let op_enums: &'static [(&str, &[&str])] = &[("/status", &["PENDING", "RUNNING", "DONE"])];
    vec![
        row(
            Operation {
                id: "sql.instances.get",
                method: "GET",
                path: "/v1/projects/{}/instances/{}",
                errors: SQL_ERRORS,
                answer: &[
                    "/name",
                    "/databaseVersion",
                    "/settings/settingsVersion",
                    "/state",
                ],
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::DatabaseInstance>),
            None,
        ),
        row(
            Operation {
                id: "sql.instances.patch",
                method: "PATCH",
                path: "/v1/projects/{}/instances/{}",
                errors: SQL_ERRORS,
                answer: &["/name", "/status", "/operationType"],
                read_only: &["/settings/kind", "/state", "/replicaNames"],
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::Operation>),
            Some(model::<sql::DatabaseInstance>),
        ),
        row(
            Operation {
                id: "sql.instances.failover",
                method: "POST",
                path: "/v1/projects/{}/instances/{}/failover",
                errors: SQL_ERRORS,
                answer: &["/name", "/status"],
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::Operation>),
            Some(model::<sql::InstancesFailoverRequest>),
        ),
        row(
            Operation {
                id: "sql.instances.switchover",
                method: "POST",
                path: "/v1/projects/{}/instances/{}/switchover",
                errors: SQL_ERRORS,
                answer: &["/name", "/status"],
                cite: SWITCHOVER,
                ..BASE
            },
            Some(model::<sql::Operation>),
            None,
        ),
        row(
            Operation {
                id: "sql.instances.promoteReplica",
                method: "POST",
                path: "/v1/projects/{}/instances/{}/promoteReplica",
                errors: SQL_ERRORS,
                answer: &["/name", "/status"],
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::Operation>),
            None,
        ),
        row(
            Operation {
                id: "sql.backupRuns.list",
                method: "GET",
                path: "/v1/projects/{}/instances/{}/backupRuns",
                errors: SQL_ERRORS,
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::BackupRunsListResponse>),
            None,
        ),
        row(
            Operation {
                id: "sql.operations.get",
                method: "GET",
                path: "/v1/projects/{}/operations/{}",
                errors: SQL_ERRORS,
                answer: &["/name", "/status", "/operationType", "/targetId"],
                enums: op_enums,
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::Operation>),
            None,
        ),
        row(
            Operation {
                id: "container.projects.locations.clusters.nodePools.get",
                method: "GET",
                path: "/v1/projects/{}/locations/{}/clusters/{}/nodePools/{}",
                errors: GKE_ERRORS,
                answer: &["/name", "/status", "/instanceGroupUrls"],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::NodePool>),
            None,
        ),
        row(
            Operation {
                id: "container.projects.locations.clusters.nodePools.setSize",
                method: "POST",
                path: "/v1/projects/{}/locations/{}/clusters/{}/nodePools/{}:setSize",
                errors: GKE_ERRORS,
                answer: &["/name", "/status", "/operationType"],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::Operation>),
            Some(model::<gke::SetNodePoolSizeRequest>),
        ),
        row(
            Operation {
                id: "container.projects.locations.clusters.nodePools.setAutoscaling",
                method: "POST",
                path: "/v1/projects/{}/locations/{}/clusters/{}/nodePools/{}:setAutoscaling",
                errors: GKE_ERRORS,
                answer: &["/name", "/status", "/operationType"],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::Operation>),
            Some(model::<gke::SetNodePoolAutoscalingRequest>),
        ),
        row(
            Operation {
                id: "container.projects.locations.operations.get",
                method: "GET",
                path: "/v1/projects/{}/locations/{}/operations/{}",
                errors: GKE_ERRORS,
                answer: &["/name", "/status", "/operationType"],
                enums: &[("/status", &["PENDING", "RUNNING", "DONE", "ABORTING"])],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::Operation>),
            None,
        ),
        row(
            Operation {
                id: "compute.instanceGroupManagers.get",
                method: "GET",
                path: "/compute/v1/projects/{}/zones/{}/instanceGroupManagers/{}",
                errors: &[(404, "notFound")],
                answer: &[
                    "/targetSize",
                    "/currentActions/none",
                    "/currentActions/creating",
                    "/status/isStable",
                ],
                cite: COMPUTE,
                ..BASE
            },
            None,
            None,
        ),
        row(
            Operation {
                id: "dns.resourceRecordSets.get",
                method: "GET",
                path: "/dns/v1/projects/{}/managedZones/{}/rrsets/{}/{}",
                errors: DNS_ERRORS,
                answer: &["/name", "/type", "/ttl", "/rrdatas"],
                cite: DNS,
                ..BASE
            },
            Some(model::<dns::ResourceRecordSet>),
            None,
        ),
        row(
            Operation {
                id: "dns.changes.create",
                method: "POST",
                path: "/dns/v1/projects/{}/managedZones/{}/changes",
                errors: DNS_ERRORS,
                answer: &["/id", "/status"],
                enums: &[("/status", &["pending", "done"])],
                cite: DNS,
                ..BASE
            },
            Some(model::<dns::Change>),
            Some(model::<dns::Change>),
        ),
        row(
            Operation {
                id: "dns.changes.get",
                method: "GET",
                path: "/dns/v1/projects/{}/managedZones/{}/changes/{}",
                errors: DNS_ERRORS,
                answer: &["/id", "/status"],
                enums: &[("/status", &["pending", "done"])],
                cite: DNS,
                ..BASE
            },
            Some(model::<dns::Change>),
            None,
        ),
        // `aegis-dr init`'s reads: list operations, paged through `nextPageToken`.
        row(
            Operation {
                id: "sql.instances.list",
                method: "GET",
                path: "/v1/projects/{}/instances",
                errors: SQL_ERRORS,
                answer: &["/items"],
                cite: SQL,
                ..BASE
            },
            Some(model::<sql::InstancesListResponse>),
            None,
        ),
        row(
            Operation {
                id: "container.projects.locations.clusters.list",
                method: "GET",
                path: "/v1/projects/{}/locations/{}/clusters",
                errors: GKE_ERRORS,
                answer: &["/clusters", "/clusters/0/name", "/clusters/0/location"],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::ListClustersResponse>),
            None,
        ),
        row(
            Operation {
                id: "container.projects.locations.clusters.nodePools.list",
                method: "GET",
                path: "/v1/projects/{}/locations/{}/clusters/{}/nodePools",
                errors: GKE_ERRORS,
                answer: &["/nodePools", "/nodePools/0/name"],
                cite: GKE,
                ..BASE
            },
            Some(model::<gke::ListNodePoolsResponse>),
            None,
        ),
        row(
            Operation {
                id: "dns.managedZones.list",
                method: "GET",
                path: "/dns/v1/projects/{}/managedZones",
                errors: DNS_ERRORS,
                answer: &[
                    "/managedZones",
                    "/managedZones/0/name",
                    "/managedZones/0/dnsName",
                ],
                cite: DNS,
                ..BASE
            },
            Some(model::<dns::ManagedZonesListResponse>),
            None,
        ),
        row(
            Operation {
                id: "dns.resourceRecordSets.list",
                method: "GET",
                path: "/dns/v1/projects/{}/managedZones/{}/rrsets",
                errors: DNS_ERRORS,
                answer: &["/rrsets"],
                cite: DNS,
                ..BASE
            },
            Some(model::<dns::ResourceRecordSetsListResponse>),
            None,
        ),
        row(
            Operation {
                id: "monitoring.projects.timeSeries.list",
                method: "GET",
                path: "/v3/projects/{}/timeSeries",
                cite: MONITORING,
                ..BASE
            },
            None,
            None,
        ),
    ]
}

/// Google's answers to any call: authentication, IAM, quota, unavailability.
const GOOGLE: Common = Common {
    errors: &[
        (401, "authError"),
        (403, "IAM_PERMISSION_DENIED"),
        (429, "rateLimitExceeded"),
        (503, "backendError"),
    ],
    cite: "cloud.google.com/apis/design/errors (ErrorInfo) and the discovery APIs' standard error reasons",
};

/// The code of a Google error: the legacy `errors[0].reason` where given (Cloud SQL, Cloud DNS,
/// GKE's googleapi form), else the `ErrorInfo` reason, else the canonical `status`.
fn google_code(v: &Value) -> Option<String> {
    let e = &v["error"];
    e["errors"][0]["reason"]
        .as_str()
        .or_else(|| e["details"][0]["reason"].as_str())
        .or_else(|| e["status"].as_str())
        .map(String::from)
}

fn is_api(e: &Exchange) -> bool {
    e.path.starts_with("/v1/projects/")
        || e.path.starts_with("/v3/projects/")
        || e.path.starts_with("/dns/v1/")
        || e.path.starts_with("/compute/v1/")
}

/// `body` parses into `T` with no field or enum value `T` does not know, and what `T` writes back
/// holds no key the body did not (an alias or a snake_case spelling would).
fn model<T: DeserializeOwned + Serialize + Debug>(body: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let m: T = serde_json::from_value(v.clone()).map_err(|e| format!("does not parse: {e}"))?;
    let shown = format!("{m:?}");
    if shown.contains("_unknown_fields") || shown.contains("UnknownValue(") {
        return Err(format!(
            "fields or enum values the model does not know: {shown}"
        ));
    }
    let back = serde_json::to_value(&m).map_err(|e| format!("does not serialise: {e}"))?;
    keys_within(&back, &v, "")
}

fn keys_within(out: &Value, input: &Value, at: &str) -> Result<(), String> {
    match (out, input) {
        (Value::Object(o), Value::Object(i)) => {
            for (k, ov) in o {
                let Some(iv) = i.get(k) else {
                    return Err(format!("{at}/{k} written back, absent from the body"));
                };
                keys_within(ov, iv, &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        (Value::Array(o), Value::Array(i)) => o
            .iter()
            .zip(i)
            .enumerate()
            .try_for_each(|(n, (a, b))| keys_within(a, b, &format!("{at}/{n}"))),
        _ => Ok(()),
    }
}

/// A Cloud SQL or GKE call sent by hand (what the provider never sends): its status and answer.
async fn raw_json(sim: &GcpSim, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let token = sim.with(|s| s.token.clone());
    let r = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sim answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn raw(sim: &GcpSim, method: reqwest::Method, path: &str, body: Value) -> u16 {
    raw_json(sim, method, path, body).await.0
}

async fn faults(sim: &GcpSim, p: &aegis_dr_core::provider::ProviderSet) {
    let db = p.database.clone().expect("db");
    let dns = p.dns.clone().expect("dns");
    let (primary, dr) = refs();
    let project = estate::PROJECT;
    // Throttled and unavailable, retried.
    sim.with(|s| s.faults.throttle_next = 1);
    db.status(&dr).await.expect("retried");
    sim.with(|s| s.faults.unavailable_next = 1);
    db.status(&dr).await.expect("retried");
    // A missing permission.
    sim.with(|s| s.denied.push("cloudsql.instances.get".into()));
    db.status(&dr).await.expect_err("denied");
    sim.with(|s| s.denied.clear());
    // Stale settings, a busy instance and a refused switchover, sent by hand.
    let patch = reqwest::Method::PATCH;
    let post = reqwest::Method::POST;
    let instance = |n: &str| format!("/v1/projects/{project}/instances/{n}");
    let stale = json!({ "settings": { "settingsVersion": "0", "userLabels": { "team": "dr" } } });
    assert_eq!(
        raw(sim, patch.clone(), &instance(estate::PRIMARY_DB), stale).await,
        412
    );
    // A busy instance (an hour-long update, in a simulator of its own): 409 operationInProgress.
    let busy_sql = GcpSim::start().await.expect("sim");
    busy_sql.with(|s| {
        estate::runbook(s);
        s.op_time = std::time::Duration::from_secs(3600);
    });
    let fresh = json!({ "settings": { "userLabels": { "team": "dr" } } });
    let primary_path = instance(estate::PRIMARY_DB);
    assert_eq!(
        raw(&busy_sql, patch.clone(), &primary_path, fresh.clone()).await,
        200
    );
    assert_eq!(raw(&busy_sql, patch, &primary_path, fresh).await, 409);
    let stale_failover =
        json!({ "failoverContext": { "settingsVersion": "0", "kind": "sql#failoverContext" } });
    assert_eq!(
        raw(
            &busy_sql,
            post.clone(),
            &format!("{primary_path}/failover"),
            stale_failover.clone()
        )
        .await,
        409,
        "busy first"
    );
    let seen = busy_sql.with(|s| s.exchanges.clone());
    sim.with(|s| s.exchanges.extend(seen));
    assert_eq!(
        raw(
            sim,
            post.clone(),
            &format!("{primary_path}/failover"),
            stale_failover
        )
        .await,
        412,
        "then stale"
    );
    sim.with(|s| s.set_sql_edition(estate::DR_DB, "ENTERPRISE"));
    assert_eq!(
        raw(
            sim,
            post.clone(),
            &format!("{}/switchover", instance(estate::DR_DB)),
            json!({})
        )
        .await,
        400
    );
    sim.with(|s| s.set_sql_edition(estate::DR_DB, "ENTERPRISE_PLUS"));
    // GKE: a cluster upgrade, the operations quota, a stockout.
    let pool = PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_CLUSTER.into(),
        name: estate::POOL.into(),
    };
    let set_size = format!(
        "/v1/projects/{project}/locations/us-east1-b/clusters/{}/nodePools/{}:setSize",
        estate::DR_CLUSTER,
        estate::POOL
    );
    sim.with(|s| {
        s.start_cluster_upgrade(
            "us-east1-b",
            estate::DR_CLUSTER,
            std::time::Duration::from_secs(3600),
        )
    });
    assert_eq!(
        raw(sim, post.clone(), &set_size, json!({ "nodeCount": 2 })).await,
        400
    );
    let busy_sim = GcpSim::start().await.expect("sim");
    busy_sim.with(|s| {
        estate::runbook(s);
        s.set_concurrent_operations_quota(0);
    });
    assert_eq!(
        raw(
            &busy_sim,
            post.clone(),
            &set_size,
            json!({ "nodeCount": 2 })
        )
        .await,
        429
    );
    let quota_exchanges = busy_sim.with(|s| s.exchanges.clone());
    sim.with(|s| s.exchanges.extend(quota_exchanges));
    let out = GcpSim::start().await.expect("sim");
    out.with(|s| {
        estate::runbook(s);
        s.set_stockout("us-east1-b", true);
    });
    let plan = crate::common::example_plan();
    let outp = providers(&out, &plan, 3).await;
    outp.nodes
        .clone()
        .expect("nodes")
        .scale_pool(&ScalePool {
            pool: pool.clone(),
            size: PoolSize {
                min: 3,
                max: 10,
                desired: 6,
            },
        })
        .await
        .expect_err("stockout");
    outp.nodes
        .expect("nodes")
        .get_pool(&pool)
        .await
        .expect_err("in error");
    let stockout_exchanges = out.with(|s| s.exchanges.clone());
    sim.with(|s| s.exchanges.extend(stockout_exchanges));
    // Cloud DNS: a record changed between read and change (412, read again).
    sim.with(|s| s.edit_before_next_change(estate::RECORD, "CNAME", 30, &[estate::PRIMARY_TARGET]));
    dns.upsert_record(&aegis_dr_core::provider::UpsertRecord {
        record: aegis_dr_core::provider::RecordRef {
            zone: estate::ZONE.into(),
            name: estate::RECORD.into(),
            record_type: "CNAME".into(),
        },
        target: estate::DR_TARGET.trim_end_matches('.').into(),
        ttl: 60,
    })
    .await
    .expect("read again");
    // HA failover, through the provider.
    let ha = Plan::parse(
        &example_text()
            .replace(
                "primary = \"aegis-db\"                       # Cloud SQL primary\ndr = \"aegis-db-failover\"",
                "primary = \"aegis-db:us-central1-a\"\ndr = \"aegis-db:us-central1-b\"",
            )
            .replace(
                "options = { mode = \"replica\", fence = \"label\" }",
                "options = { mode = \"ha\", fence = \"read-only-flag\" }",
            ),
    )
    .expect("HA plan");
    let hap = providers(sim, &ha, 3).await.database.expect("db");
    let zone = |z: &str, site| DatabaseRef {
        database: "orders".into(),
        instance: format!("{}:{z}", estate::PRIMARY_DB),
        site,
    };
    let (a, b) = (
        zone("us-central1-a", SiteRole::Primary),
        zone("us-central1-b", SiteRole::Dr),
    );
    hap.fence(&FenceRequest {
        target: a.clone(),
        fenced: true,
    })
    .await
    .expect("fence");
    hap.promote(&PromoteRequest {
        target: b,
        old_primary: a,
        mode: PromoteMode::Planned,
    })
    .await
    .expect("HA failover");
    // The primary's region out: the forced promotion (promoteReplica?failover=true).
    sim.with(|s| s.down_instances.push(estate::PRIMARY_DB.into()));
    db.promote(&PromoteRequest {
        target: dr,
        old_primary: primary,
        mode: PromoteMode::Forced,
    })
    .await
    .expect("forced");
}

/// `aegis-dr init`'s reads of the runbook's estate (no cluster named: they are listed too): each
/// resource class is found.
async fn discovery(sim: &GcpSim) {
    use aegis_dr_core::discover::{DiscoverContext, Scope, Table};
    // A record whose target names a region, so Cloud DNS has one to write.
    sim.with(|s| {
        s.set_record_set(
            estate::ZONE,
            "web.aegis.io.",
            "CNAME",
            60,
            &["web-us-central1.aegis.io."],
        )
    });
    let skeleton = Plan::parse(&format!(
        "[plan]\nname = \"d\"\n[sites.primary]\nprovider = \"gcp\"\nregion = \"us-central1\"\n\
         [sites.dr]\nprovider = \"gcp\"\nregion = \"us-east1\"\n[providers.gcp]\nproject = \"{}\"\n",
        estate::PROJECT
    ))
    .expect("skeleton");
    let ctx = DiscoverContext {
        name: "gcp".into(),
        plan: skeleton.clone(),
        scope: Scope::default(),
    };
    let d = crate::common::builder(sim, &skeleton, 3)
        .discover(&ctx)
        .await
        .expect("discovery");
    for t in [Table::Databases, Table::DnsRecords, Table::NodePools] {
        assert!(d.entries.iter().any(|e| e.table == t), "no {t:?}: {d:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_is_one_the_published_api_allows() {
    let w = world().await;
    conformance::run_all(&w.gcp, &w.plan, &Clock::new(), WITHIN).await;
    faults(&w.sim, &w.gcp).await;
    discovery(&w.sim).await;
    let exchanges = w.sim.with(|s| s.exchanges.clone());
    let rows = rows();
    let ops: Vec<Operation> = rows.iter().map(|r| r.op).collect();
    let mut violations = check(&exchanges, is_api, &ops, &GOOGLE, google_code);
    for e in exchanges.iter().filter(|e| is_api(e)) {
        let Some(r) = rows.iter().find(|r| r.op.matches(e)) else {
            continue;
        };
        let at = format!("{} {} -> {}", e.method, e.path, e.status);
        if let (Some(m), true) = (r.answer, e.status == 200) {
            if let Err(why) = m(&e.response) {
                violations.push(format!("{at}: the answer as {}: {why}", r.op.id));
            }
        }
        if let (Some(m), false) = (r.request, e.request.is_empty()) {
            if let Err(why) = m(&e.request) {
                violations.push(format!("{at}: the request as {}: {why}", r.op.id));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} exchanges off the published APIs:\n{}",
        violations.len(),
        violations.join("\n")
    );
    assert_eq!(
        unexercised(&exchanges, &ops),
        Vec::<&str>::new(),
        "table rows no scenario reached"
    );
    // The model check can fail: a field Google's type does not know is named.
    let e = model::<google_cloud_sql_v1::model::DatabaseInstance>(
        r#"{"name":"x","settings":{"settingsVersion":"1","tier":"db-f1-micro"},"failoverReplicaState":"READY"}"#,
    )
    .expect_err("unknown field");
    assert!(e.contains("failoverReplicaState"), "{e}");
    let e = model::<google_cloud_sql_v1::model::DatabaseInstance>(
        r#"{"database_version":"POSTGRES_15"}"#,
    )
    .expect_err("snake_case alias");
    assert!(e.contains("databaseVersion"), "{e}");
}

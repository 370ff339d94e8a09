//! The simulator checked against the published API, not against itself: the provider's whole
//! conformance suite and every fault of the simulator's matrix run against it, and every exchange
//! (each request the provider sent, each answer the simulator gave) is checked against the table
//! below, each row read from `Azure/azure-rest-api-specs` (and, where the specification is silent,
//! the Azure CLI's recorded sessions or Microsoft's documentation). A status or error code a row
//! does not list fails the test; so does an answer missing what the specification requires, a
//! read-only property sent back, or a row no scenario reached.

use std::time::Duration;

use aegis_dr_azure_sim::{estate, AzureSim, PoolFault, Throttling};
use aegis_dr_core::{
    clock::Clock,
    conformance,
    plan::PoolSize,
    provider::{
        DatabaseRef, FenceRequest, PoolRef, PromoteMode, PromoteRequest, ProviderSet, RecordRef,
        ScalePool,
    },
    SiteRole,
};
use aegis_dr_sim_http::{
    spec::{check, unexercised, Common, Operation},
    Exchange,
};
use serde_json::{json, Value};

use crate::common::{providers, world, WITHIN};

const SERVERS: &str = "specification/sql/resource-manager/Microsoft.Sql/stable/2021-11-01/Servers.json (Servers_Get, Servers_Update: 200/202, x-ms-long-running-operation)";
const GROUPS: &str = "specification/sql/resource-manager/Microsoft.Sql/stable/2021-11-01/FailoverGroups.json (the default error list of Get, Failover, ForceFailoverAllowDataLoss)";
const REC_FOG: &str = "Azure/azure-cli sql/tests/latest/recordings/test_sql_failover_group_mgmt.yaml (202 body {operation, startTime}, azure-asyncoperation and location, no Retry-After)";
const REC_PNA: &str = "Azure/azure-cli sql/tests/latest/recordings/test_sql_server_public_network_access_update_mgmt.yaml (202, then the operation Failed with PECsNotExistingToDenyPublicNetworkAccess)";
const TM: &str = "specification/trafficmanager/resource-manager/Microsoft.Network/stable/2022-04-01/trafficmanager.json";
const DNS: &str = "specification/dns/resource-manager/Microsoft.Network/stable/2018-05-01/dns.json; 412 PreconditionFailed as Azure PowerShell's Dns.Test scenarios record it";
const AKS: &str = "specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2024-02-01/managedClusters.json (AgentPools_Get, AgentPools_CreateOrUpdate 200/201); errors as recorded in Azure/AKS#1561 (409 OperationNotAllowed) and Terraform logs (400 ErrCode_InsufficientVCPUQuota, InvalidParameter count bounds)";

/// The error codes every Microsoft.Sql operation of 2021-11-01 lists (FailoverGroups.json and
/// Servers.json carry the same default list).
const SQL_ERRORS: &[(u16, &str)] = &[
    (400, "FailoverGroupFailoverRequestOnPrimary"),
    (400, "FailoverGroupNotSecondary"),
    (400, "IncorrectReplicationLinkState"),
    (400, "PlannedFailoverTimedOut"),
    (400, "PECsNotExistingToDenyPublicNetworkAccess"),
    (400, "InvalidParameterValue"),
    (404, "ResourceNotFound"),
    (404, "OperationIdNotFound"),
    (409, "InvalidDatabaseStateForOperation"),
    (409, "FailoverGroupBusy"),
    (409, "ConflictingServerOperation"),
    (429, "SubscriptionTooManyRequests"),
    (429, "SubscriptionTooManyCreateUpdateRequests"),
    (429, "ConflictingSubscriptionOperation"),
    (503, "TooManyRequests"),
    (503, "DatabaseUnavailable"),
    (504, "RequestTimeout"),
];

const GROUP_ANSWER: &[&str] = &[
    "/id",
    "/name",
    "/type",
    "/properties/readWriteEndpoint/failoverPolicy",
    "/properties/replicationRole",
    "/properties/replicationState",
    "/properties/partnerServers/0/id",
    "/properties/databases",
];
const GROUP_ENUMS: &[(&str, &[&str])] = &[
    ("/properties/replicationRole", &["Primary", "Secondary"]),
    (
        "/properties/replicationState",
        &["PENDING", "SEEDING", "CATCH_UP", "SUSPENDED"],
    ),
    (
        "/properties/readWriteEndpoint/failoverPolicy",
        &["Manual", "Automatic"],
    ),
];
const OPERATION_ENUMS: &[(&str, &[&str])] = &[(
    "/status",
    &["InProgress", "Succeeded", "Failed", "Canceled"],
)];
const MONITOR: &[&str] = &[
    "CheckingEndpoint",
    "Online",
    "Degraded",
    "Disabled",
    "Inactive",
    "Stopped",
    "Unmonitored",
];
const RG: &str = "/subscriptions/{}/resourceGroups/{}/providers";

macro_rules! op {
    ($id:expr, $m:expr, $path:expr, ok $ok:expr, errors $e:expr, answer $a:expr, cite $c:expr $(, $k:ident $v:expr)* $(,)?) => {
        Operation {
            id: $id,
            method: $m,
            path: $path,
            ok: $ok,
            errors: $e,
            answer: $a,
            cite: $c,
            $($k: $v,)*
            ..BASE
        }
    };
}

const BASE: Operation = Operation {
    id: "",
    method: "",
    path: "",
    ok: &[],
    errors: &[],
    answer: &[],
    accepted_headers: &[],
    absent_headers: &[],
    enums: &[],
    read_only: &[],
    cite: "",
};

/// The table: every operation aegis-dr's Azure provider calls.
fn operations() -> Vec<Operation> {
    let p = |s: &str| -> &'static str { Box::leak(format!("{RG}{s}").into_boxed_str()) };
    vec![
        op!("Servers_Get", "GET", p("/Microsoft.Sql/servers/{}"), ok &[200], errors SQL_ERRORS,
            answer &["/id", "/name", "/type", "/location", "/properties/publicNetworkAccess"], cite SERVERS,
            enums &[("/properties/publicNetworkAccess", &["Enabled", "Disabled"])]),
        op!("Servers_Update", "PATCH", p("/Microsoft.Sql/servers/{}"), ok &[200, 202], errors SQL_ERRORS,
            answer &["/id", "/properties/publicNetworkAccess"], cite SERVERS,
            accepted_headers &["azure-asyncoperation", "location"], absent_headers &["retry-after"],
            read_only &["/properties/fullyQualifiedDomainName", "/properties/state", "/properties/privateEndpointConnections"]),
        op!("Servers async operation", "GET", p("/Microsoft.Sql/locations/{}/serverAzureAsyncOperation/{}"),
            ok &[200], errors SQL_ERRORS, answer &["/name", "/status", "/startTime"], cite REC_PNA,
            enums OPERATION_ENUMS),
        op!("Servers operation result", "GET", p("/Microsoft.Sql/locations/{}/serverOperationResults/{}"),
            ok &[200, 202], errors SQL_ERRORS, answer &["/id"], cite REC_PNA),
        op!("FailoverGroups_Get", "GET", p("/Microsoft.Sql/servers/{}/failoverGroups/{}"), ok &[200],
            errors SQL_ERRORS, answer GROUP_ANSWER, cite GROUPS, enums GROUP_ENUMS),
        op!("FailoverGroups_Failover", "POST", p("/Microsoft.Sql/servers/{}/failoverGroups/{}/failover"),
            ok &[200, 202], errors SQL_ERRORS, answer GROUP_ANSWER, cite REC_FOG,
            accepted_headers &["azure-asyncoperation", "location"], absent_headers &["retry-after"]),
        op!("FailoverGroups_ForceFailoverAllowDataLoss", "POST",
            p("/Microsoft.Sql/servers/{}/failoverGroups/{}/forceFailoverAllowDataLoss"),
            ok &[200, 202], errors SQL_ERRORS, answer GROUP_ANSWER, cite REC_FOG,
            accepted_headers &["azure-asyncoperation", "location"], absent_headers &["retry-after"]),
        op!("FailoverGroups async operation", "GET",
            "/subscriptions/{}/providers/Microsoft.Sql/locations/{}/failoverGroupAzureAsyncOperation/{}",
            ok &[200], errors SQL_ERRORS, answer &["/name", "/status", "/startTime"], cite REC_FOG,
            enums OPERATION_ENUMS),
        op!("FailoverGroups operation result", "GET",
            "/subscriptions/{}/providers/Microsoft.Sql/locations/{}/failoverGroupOperationResults/{}",
            ok &[200, 202], errors SQL_ERRORS, answer GROUP_ANSWER, cite REC_FOG),
        op!("RestorePoints_ListByDatabase", "GET", p("/Microsoft.Sql/servers/{}/databases/{}/restorePoints"),
            ok &[200], errors SQL_ERRORS, answer &["/value"],
            cite "specification/sql/resource-manager/Microsoft.Sql/stable/2021-11-01/RestorePoints.json"),
        op!("Profiles_Get", "GET", p("/Microsoft.Network/trafficManagerProfiles/{}"), ok &[200],
            errors &[(404, "ResourceNotFound")],
            answer &["/properties/dnsConfig/ttl", "/properties/endpoints", "/properties/profileStatus"], cite TM,
            enums &[("/properties/profileStatus", &["Enabled", "Disabled"]),
                    ("/properties/endpoints/0/properties/endpointMonitorStatus", MONITOR),
                    ("/properties/endpoints/1/properties/endpointMonitorStatus", MONITOR)]),
        op!("Profiles_Update", "PATCH", p("/Microsoft.Network/trafficManagerProfiles/{}"), ok &[200],
            errors &[(404, "ResourceNotFound")], answer &["/properties/dnsConfig/ttl"], cite TM,
            read_only &["/properties/dnsConfig/fqdn", "/properties/monitorConfig/profileMonitorStatus"]),
        op!("Endpoints_Update", "PATCH", p("/Microsoft.Network/trafficManagerProfiles/{}/externalEndpoints/{}"),
            ok &[200], errors &[(404, "ResourceNotFound")],
            answer &["/properties/target", "/properties/endpointStatus", "/properties/endpointMonitorStatus"], cite TM,
            enums &[("/properties/endpointStatus", &["Enabled", "Disabled"]),
                    ("/properties/endpointMonitorStatus", MONITOR),
                    ("/properties/alwaysServe", &["Enabled", "Disabled"])],
            read_only &["/properties/endpointMonitorStatus"]),
        op!("RecordSets_Get", "GET", p("/Microsoft.Network/dnsZones/{}/{}/{}"), ok &[200],
            errors &[(404, "ResourceNotFound")], answer &["/etag", "/properties/TTL"], cite DNS),
        op!("RecordSets_CreateOrUpdate", "PUT", p("/Microsoft.Network/dnsZones/{}/{}/{}"), ok &[200, 201],
            errors &[(412, "PreconditionFailed"), (400, "BadRequest")], answer &["/etag", "/properties/TTL"], cite DNS,
            read_only &["/properties/fqdn", "/properties/provisioningState"]),
        op!("AgentPools_Get", "GET", p("/Microsoft.ContainerService/managedClusters/{}/agentPools/{}"), ok &[200],
            errors &[(404, "NotFound")], answer &["/properties/count", "/properties/provisioningState"], cite AKS),
        op!("AgentPools_CreateOrUpdate", "PUT", p("/Microsoft.ContainerService/managedClusters/{}/agentPools/{}"),
            ok &[200, 201],
            errors &[(409, "OperationNotAllowed"), (400, "InvalidParameter"), (400, "ErrCode_InsufficientVCPUQuota")],
            answer &["/properties/count", "/properties/provisioningState"], cite AKS,
            read_only &["/properties/provisioningState", "/properties/powerState", "/properties/nodeImageVersion", "/properties/currentOrchestratorVersion"]),
        // `aegis-dr init`'s reads: list operations, paged through `nextLink`.
        op!("Servers_ListByResourceGroup", "GET", p("/Microsoft.Sql/servers"), ok &[200], errors SQL_ERRORS,
            answer &["/value"], cite SERVERS),
        op!("FailoverGroups_ListByServer", "GET", p("/Microsoft.Sql/servers/{}/failoverGroups"), ok &[200],
            errors SQL_ERRORS, answer &["/value", "/value/0/properties/replicationRole", "/value/0/properties/partnerServers"],
            cite GROUPS, enums &[("/value/0/properties/replicationRole", &["Primary", "Secondary"])]),
        op!("Profiles_ListByResourceGroup", "GET", p("/Microsoft.Network/trafficmanagerprofiles"), ok &[200],
            errors &[(404, "ResourceGroupNotFound")], answer &["/value", "/value/0/properties/dnsConfig/fqdn"], cite TM),
        op!("Zones_ListByResourceGroup", "GET", p("/Microsoft.Network/dnsZones"), ok &[200],
            errors &[(404, "ResourceGroupNotFound")], answer &["/value"], cite DNS),
        op!("RecordSets_ListByDnsZone", "GET", p("/Microsoft.Network/dnsZones/{}/recordsets"), ok &[200],
            errors &[(404, "ResourceNotFound")], answer &["/value", "/value/0/properties/fqdn"], cite DNS),
        op!("ManagedClusters_ListByResourceGroup", "GET", p("/Microsoft.ContainerService/managedClusters"), ok &[200],
            errors &[(404, "ResourceGroupNotFound")], answer &["/value"], cite AKS),
        op!("AgentPools_List", "GET", p("/Microsoft.ContainerService/managedClusters/{}/agentPools"), ok &[200],
            errors &[(404, "NotFound")], answer &["/value", "/value/0/properties/count"], cite AKS),
    ]
}

/// ARM's own answers, any operation: authentication, authorisation, throttling.
const ARM: Common = Common {
    errors: &[
        (401, "AuthenticationFailed"),
        (401, "InvalidAuthenticationToken"),
        (403, "AuthorizationFailed"),
        (429, "SubscriptionRequestsThrottled"),
    ],
    cite: "learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling and .../troubleshooting/common-deployment-errors",
};

fn arm_code(v: &Value) -> Option<String> {
    v["error"]["code"].as_str().map(String::from)
}

/// ARM requests only (not the token endpoint, not the test's health endpoints).
fn is_arm(e: &Exchange) -> bool {
    e.path.starts_with("/subscriptions/") && e.path.contains("/providers/")
}

/// A request sent by hand (what the provider never sends, to see Azure's refusal of it): its
/// status, and its `Azure-AsyncOperation` header when it has one.
async fn raw_with(
    sim: &AzureSim,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Option<String>) {
    let token = sim.with(|s| s.token.clone());
    let mut r = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("sim answers");
    let op = r
        .headers()
        .get("azure-asyncoperation")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (r.status().as_u16(), op)
}

async fn raw(
    sim: &AzureSim,
    method: reqwest::Method,
    path: &str,
    api: &str,
    body: Option<Value>,
) -> u16 {
    let url = format!("{}{path}?api-version={api}", sim.url());
    raw_with(sim, method, &url, body).await.0
}

/// Waits (to a deadline) until the operation at `url` is no longer `InProgress`.
async fn until_done(sim: &AzureSim, url: &str) {
    let token = sim.with(|s| s.token.clone());
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let v: Value = reqwest::Client::new()
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("sim answers")
            .json()
            .await
            .expect("json");
        if v["status"] != "InProgress" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "operation never ended: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn group_path(sub: &str, rg: &str, server: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql/servers/{server}/failoverGroups/{}",
        estate::FAILOVER_GROUP
    )
}

async fn faults(sim: &AzureSim, p: &ProviderSet) {
    let sub = sim.with(|s| s.subscription_id.clone());
    let db = p.database.clone().expect("db");
    let dns = p.dns.clone().expect("dns");
    let nodes = p.nodes.clone().expect("nodes");
    let (primary, dr) = (
        DatabaseRef {
            database: "orders".into(),
            instance: estate::PRIMARY_SQL.into(),
            site: SiteRole::Primary,
        },
        DatabaseRef {
            database: "orders".into(),
            instance: estate::DR_SQL.into(),
            site: SiteRole::Dr,
        },
    );
    for t in [
        Throttling::SubscriptionRequestsThrottled,
        Throttling::SubscriptionTooManyRequests,
        Throttling::ConflictingSubscriptionOperation,
        Throttling::ServiceTooManyRequests,
    ] {
        sim.with(|s| {
            s.throttling = t;
            s.faults.throttle_next = 1;
        });
        db.status(&dr).await.expect("retried");
    }
    // Refusals the provider forestalls, sent by hand.
    let post = reqwest::Method::POST;
    let on_primary = group_path(&sub, estate::PRIMARY_RG, estate::PRIMARY_SQL);
    let on_dr = group_path(&sub, estate::DR_RG, estate::DR_SQL);
    let api = aegis_dr_provider_azure::sql::API;
    assert_eq!(
        raw(
            sim,
            post.clone(),
            &format!("{on_primary}/failover"),
            api,
            None
        )
        .await,
        400
    );
    sim.with(|s| s.set_replication_state(estate::FAILOVER_GROUP, "SEEDING"));
    assert_eq!(
        raw(sim, post.clone(), &format!("{on_dr}/failover"), api, None).await,
        400
    );
    sim.with(|s| {
        s.set_replication_state(estate::FAILOVER_GROUP, "CATCH_UP");
        s.invalid_database_state_next = true;
    });
    assert_eq!(
        raw(sim, post.clone(), &format!("{on_dr}/failover"), api, None).await,
        409
    );
    // A planned failover whose primary does not answer: accepted, then PlannedFailoverTimedOut.
    sim.with(|s| {
        s.down_servers.push(estate::PRIMARY_SQL.into());
        s.planned_failover_timeout = Duration::ZERO;
    });
    assert!(db.status(&primary).await.is_err(), "504 RequestTimeout");
    let url = format!("{}{on_dr}/failover?api-version={api}", sim.url());
    let (status, op) = raw_with(sim, post.clone(), &url, None).await;
    assert_eq!(status, 202);
    until_done(sim, &op.expect("azure-asyncoperation")).await;
    sim.with(|s| s.down_servers.clear());
    // A group busy with a failover (an hour long, in a simulator of its own): 409 FailoverGroupBusy.
    let busy = AzureSim::start().await.expect("simulator");
    busy.with(|s| {
        estate::runbook(s);
        s.failover_time = Duration::from_secs(3600);
    });
    let on_busy = group_path(
        &busy.with(|s| s.subscription_id.clone()),
        estate::DR_RG,
        estate::DR_SQL,
    );
    assert_eq!(
        raw(
            &busy,
            post.clone(),
            &format!("{on_busy}/failover"),
            api,
            None
        )
        .await,
        202
    );
    assert_eq!(
        raw(&busy, post, &format!("{on_busy}/failover"), api, None).await,
        409
    );
    let seen = busy.with(|s| s.exchanges.clone());
    sim.with(|s| s.exchanges.extend(seen));
    // Closing the public endpoint without a private one: accepted, then failed.
    let closing = aegis_dr_core::Plan::parse(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/azure.toml"
        ))
        .expect("example")
        .replace("fence = \"tag\"", "fence = \"public-network-access\""),
    )
    .expect("plan");
    let closing = providers(sim, &closing, 3).await;
    closing
        .database
        .expect("db")
        .fence(&FenceRequest {
            target: primary.clone(),
            fenced: true,
        })
        .await
        .expect_err("PECs");
    // A record changed meanwhile: 412 on a stale ETag.
    let record = format!(
        "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/dnsZones/{}/CNAME/app",
        estate::GLOBAL_RG,
        estate::ZONE
    );
    let token = sim.with(|s| s.token.clone());
    let stale = reqwest::Client::new()
        .put(format!(
            "{}{record}?api-version={}",
            sim.url(),
            aegis_dr_provider_azure::dns::DNS_API
        ))
        .bearer_auth(token)
        .header("if-match", "\"999\"")
        .json(&json!({ "properties": { "TTL": 60, "CNAMERecord": { "cname": "x.aegis.io" } } }))
        .send()
        .await
        .expect("sim");
    assert_eq!(stale.status().as_u16(), 412);
    let _ = dns
        .get_record(&RecordRef {
            zone: estate::ZONE.into(),
            name: format!("app.{}", estate::ZONE),
            record_type: "CNAME".into(),
        })
        .await
        .expect("read");
    // AKS: the vCPU quota, a second operation, and bounds that do not hold the count.
    let pool = PoolRef {
        site: SiteRole::Dr,
        cluster: estate::DR_AKS.into(),
        name: estate::POOL.into(),
    };
    let size = PoolSize {
        min: 3,
        max: 10,
        desired: 6,
    };
    let pool_path = format!(
        "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{}/agentPools/{}",
        estate::DR_RG,
        estate::DR_AKS,
        estate::POOL
    );
    let body = |count: u32| json!({ "properties": { "count": count, "enableAutoScaling": true, "minCount": 3, "maxCount": 10 } });
    let (put, aks_api) = (reqwest::Method::PUT, "2024-02-01");
    assert_eq!(
        raw(sim, put.clone(), &pool_path, aks_api, Some(body(20))).await,
        400
    );
    sim.with(|s| s.next_pool_fault = Some(PoolFault::QuotaRefused));
    let req = ScalePool { pool, size };
    nodes.scale_pool(&req).await.expect_err("quota");
    sim.with(|s| s.pool_update_time = Duration::from_secs(3600));
    nodes.scale_pool(&req).await.expect("scaling");
    assert_eq!(raw(sim, put, &pool_path, aks_api, Some(body(7))).await, 409);
    // A role without the failover action: 403.
    sim.with(|s| {
        s.denied
            .push("Microsoft.Sql/servers/failoverGroups/read".into())
    });
    db.status(&dr).await.expect_err("denied");
    sim.with(|s| s.denied.clear());
    // The primary's region out: the forced failover.
    sim.with(|s| s.down_servers.push(estate::PRIMARY_SQL.into()));
    db.promote(&PromoteRequest {
        target: dr,
        old_primary: primary,
        mode: PromoteMode::Forced,
    })
    .await
    .expect("forced failover");
}

/// `aegis-dr init`'s reads of the runbook's estate (no cluster named: they are listed too): each
/// resource class is found.
async fn discovery(sim: &AzureSim) {
    use aegis_dr_core::{
        discover::{DiscoverContext, Scope, Table},
        provider::ProviderBuilder,
    };
    let sub = sim.with(|s| s.subscription_id.clone());
    let skeleton = aegis_dr_core::Plan::parse(&format!(
        "[plan]\nname = \"d\"\n[sites.primary]\nprovider = \"azure\"\nregion = \"eastus\"\n\
         [sites.dr]\nprovider = \"azure\"\nregion = \"westus\"\n\
         [providers.azure]\nsubscription_id = \"{sub}\"\nresource_group = \"{}\"\n\
         [sites.primary.azure]\nresource_group = \"{}\"\n[sites.dr.azure]\nresource_group = \"{}\"\n",
        estate::GLOBAL_RG,
        estate::PRIMARY_RG,
        estate::DR_RG
    ))
    .expect("skeleton");
    let ctx = DiscoverContext {
        name: "azure".into(),
        plan: skeleton.clone(),
        scope: Scope::default(),
    };
    // The fault scenarios left the primary's region out: it answers again.
    sim.with(|s| s.down_servers.clear());
    let token = sim.with(|s| s.token.clone());
    let d = aegis_dr_provider_azure::AzureProviders::from_env(&skeleton)
        .with_endpoint(sim.url())
        .with_token_source(std::sync::Arc::new(
            aegis_dr_provider_azure::credential::StaticToken::new(token),
        ))
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
    conformance::run_all(&w.azure, &w.plan, &Clock::new(), WITHIN).await;
    faults(&w.sim, &w.azure).await;
    let ran = w.sim.with(|s| s.exchanges.len());
    discovery(&w.sim).await;
    let exchanges = w.sim.with(|s| s.exchanges.clone());
    let ops = operations();
    let violations = check(&exchanges, is_arm, &ops, &ARM, arm_code);
    assert!(
        violations.is_empty(),
        "{} exchanges off the published API:\n{}",
        violations.len(),
        violations.join("\n")
    );
    assert_eq!(
        unexercised(&exchanges, &ops),
        Vec::<&str>::new(),
        "table rows no scenario reached"
    );
    // The role `aegis-dr permissions` prints holds every action these calls needed.
    let with_record = aegis_dr_core::Plan::parse(&format!(
        "{}\n[[dns_records]]\nname = \"app.{zone}\"\nzone = \"{zone}\"\ntype = \"CNAME\"\nprimary_target = \"app-eastus.{zone}\"\ndr_target = \"app-westus.{zone}\"\nttl = 300\n",
        crate::common::example_text(),
        zone = estate::ZONE
    ))
    .expect("plan");
    let role = aegis_dr_provider_azure::role::role_for(&with_record).expect("role");
    let granted: Vec<String> = role["Actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_ascii_lowercase))
        .collect();
    let needed = |from: &[Exchange]| -> std::collections::BTreeSet<String> {
        from.iter()
            .filter(|e| is_arm(e))
            .filter_map(|e| aegis_dr_azure_sim::rbac_action(&e.method, &e.path))
            .map(|a| a.to_ascii_lowercase())
            .collect()
    };
    let missing: Vec<String> = needed(&exchanges[..ran])
        .into_iter()
        .filter(|a| !granted.contains(a))
        .collect();
    assert!(missing.is_empty(), "the printed role lacks {missing:?}");
    // And init's reads are the ones `permissions` lists for it.
    let listed: Vec<String> = aegis_dr_provider_azure::role::DISCOVERY_ACTIONS
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let unlisted: Vec<String> = needed(&exchanges[ran..])
        .into_iter()
        .filter(|a| !listed.contains(a))
        .collect();
    assert!(unlisted.is_empty(), "init's reads not listed: {unlisted:?}");
    // The checks can fail: an answer off the specification is named.
    let mut off = exchanges
        .iter()
        .find(|e| e.path.ends_with("/failover") && e.status == 202)
        .cloned()
        .expect("a failover was accepted");
    off.headers.push(("retry-after".into(), "10".into()));
    off.status = 409;
    off.response = json!({ "error": { "code": "FailoverGroupPartnerUnavailable" } }).to_string();
    let v = check(&[off], is_arm, &ops, &ARM, arm_code);
    assert_eq!(v.len(), 2, "{v:#?}");
}

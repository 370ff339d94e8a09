//! The simulator checked by a client no one here wrote: Debian's `azure-cli` (`az`), logged in to a
//! custom cloud whose Resource Manager is the simulator's HTTPS endpoint (its self-signed
//! certificate trusted through `REQUESTS_CA_BUNDLE`), with a managed-identity token from the
//! simulator's token endpoint. It runs the runbook's own commands: `az sql failover-group show` and
//! `set-primary`, `az network traffic-manager endpoint update` and `list`; and lists what
//! `aegis-dr init` lists (SQL servers, failover groups, AKS clusters and pools, DNS zones and record
//! sets; Debian's `az` has no Traffic Manager profile list for the profile it can load).
//! `scripts/test.sh` installs `az`; without it this test fails (it never skips).

use std::{path::Path, process::Command};

use aegis_dr_azure_sim::{estate, AzureSim};
use serde_json::Value;

struct Az<'a> {
    sim: &'a AzureSim,
    home: &'a Path,
}

impl Az<'_> {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("az")
            .args(args)
            .env("AZURE_CONFIG_DIR", self.home.join("azure"))
            .env("REQUESTS_CA_BUNDLE", self.home.join("sim-ca.pem"))
            .env("APPSETTING_WEBSITE_SITE_NAME", "aegis-dr-tests")
            .env("MSI_ENDPOINT", self.sim.identity_endpoint())
            .env("MSI_SECRET", AzureSim::IDENTITY_SECRET)
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env("AZURE_CORE_NO_COLOR", "true")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .output()
            .map_err(|e| {
                format!("az cannot run ({e}): install Debian's azure-cli (scripts/test-tools.sh)")
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "az {}: {}\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("az {}: not JSON ({e}): {out}", args.join(" ")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_cli_agrees_with_the_simulator() {
    let sim = AzureSim::start().await.expect("simulator");
    sim.with(estate::runbook);
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join("sim-ca.pem"), sim.ca_pem()).expect("ca");
    let az = Az {
        sim: &sim,
        home: home.path(),
    };
    let arm = format!("{}/", sim.tls_url());
    let run = |args: &[&str]| az.run(args).unwrap_or_else(|e| panic!("{e}"));
    run(&[
        "cloud",
        "register",
        "--name",
        "AegisSim",
        "--endpoint-resource-manager",
        &arm,
        "--endpoint-active-directory",
        &arm,
        "--endpoint-active-directory-resource-id",
        "https://management.core.windows.net/",
        "--endpoint-active-directory-graph-resource-id",
        "https://graph.windows.net/",
        "--endpoint-management",
        "https://management.core.windows.net/",
        "--suffix-sql-server-hostname",
        ".database.windows.net",
    ]);
    run(&["cloud", "set", "--name", "AegisSim"]);
    let accounts = az.json(&["login", "--identity", "--output", "json"]);
    let sub = sim.with(|s| s.subscription_id.clone());
    assert_eq!(accounts[0]["id"], sub.as_str(), "{accounts:#}");

    // What `aegis-dr init` lists, as `az` lists it.
    let list = |args: &[&str]| -> Vec<Value> {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        az.json(&all)
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("az {}: not a list", args.join(" ")))
    };
    let servers = list(&["sql", "server", "list", "-g", estate::PRIMARY_RG]);
    assert_eq!(servers.len(), 1, "{servers:#?}");
    assert_eq!(servers[0]["name"], estate::PRIMARY_SQL);
    let groups = list(&[
        "sql",
        "failover-group",
        "list",
        "-g",
        estate::PRIMARY_RG,
        "-s",
        estate::PRIMARY_SQL,
    ]);
    assert_eq!(groups[0]["name"], estate::FAILOVER_GROUP, "{groups:#?}");
    assert_eq!(groups[0]["replicationRole"], "Primary", "{groups:#?}");
    let clusters = list(&["aks", "list", "-g", estate::PRIMARY_RG]);
    assert_eq!(clusters[0]["name"], estate::PRIMARY_AKS, "{clusters:#?}");
    let pools = list(&[
        "aks",
        "nodepool",
        "list",
        "-g",
        estate::PRIMARY_RG,
        "--cluster-name",
        estate::PRIMARY_AKS,
    ]);
    assert_eq!(pools[0]["name"], estate::POOL, "{pools:#?}");
    assert_eq!(pools[0]["count"], 6, "{pools:#?}");

    // The runbook's database step.
    let show = |server: &str, rg: &str| {
        az.json(&[
            "sql",
            "failover-group",
            "show",
            "-g",
            rg,
            "-s",
            server,
            "-n",
            estate::FAILOVER_GROUP,
            "--output",
            "json",
        ])
    };
    let g = show(estate::DR_SQL, estate::DR_RG);
    assert_eq!(g["replicationRole"], "Secondary", "{g:#}");
    assert_eq!(g["replicationState"], "CATCH_UP", "{g:#}");
    assert!(
        g["partnerServers"][0]["id"]
            .as_str()
            .is_some_and(|id| id.ends_with(estate::PRIMARY_SQL)),
        "{g:#}"
    );
    // `set-primary` on the primary itself: az reads the group, sees `Primary`, sends nothing.
    run(&[
        "sql",
        "failover-group",
        "set-primary",
        "-g",
        estate::PRIMARY_RG,
        "-s",
        estate::PRIMARY_SQL,
        "-n",
        estate::FAILOVER_GROUP,
    ]);
    assert!(
        sim.with(|s| !s.requests.iter().any(|r| r.starts_with("POST "))),
        "no failover was sent"
    );
    // The planned failover, sent to the secondary, followed through its asynchronous operation.
    run(&[
        "sql",
        "failover-group",
        "set-primary",
        "-g",
        estate::DR_RG,
        "-s",
        estate::DR_SQL,
        "-n",
        estate::FAILOVER_GROUP,
    ]);
    assert_eq!(
        show(estate::DR_SQL, estate::DR_RG)["replicationRole"],
        "Primary"
    );
    assert_eq!(
        show(estate::PRIMARY_SQL, estate::PRIMARY_RG)["replicationRole"],
        "Secondary"
    );
    assert_eq!(
        sim.with(|s| s.failover_group(estate::FAILOVER_GROUP))
            .map(|g| g.0),
        Some(estate::DR_SQL.to_string())
    );
    // az followed the operation (its status or result URL), and sent the POST once.
    let (posts, polls) = sim.with(|s| {
        (
            s.requests.iter().filter(|r| r.starts_with("POST ")).count(),
            s.requests
                .iter()
                .filter(|r| {
                    r.contains("/failoverGroupAzureAsyncOperation/")
                        || r.contains("/failoverGroupOperationResults/")
                })
                .count(),
        )
    });
    assert_eq!(posts, 1);
    assert!(polls >= 1, "az polled the operation");

    // The runbook's traffic step. Debian's azure-cli 2.45 ships no azure-mgmt-network for the
    // `latest` profile's network API (2022-01-01): every `az network` command fails to load its
    // arguments there. The Azure Stack profile (2020-09-01-hybrid) uses one it ships, so the same
    // simulator is registered a second time under that profile (az reads its /metadata/endpoints).
    run(&[
        "cloud",
        "register",
        "--name",
        "AegisSimStack",
        "--profile",
        "2020-09-01-hybrid",
        "--endpoint-resource-manager",
        &arm,
    ]);
    run(&["cloud", "set", "--name", "AegisSimStack"]);
    run(&["login", "--identity", "--output", "none"]);
    // (`traffic-manager profile list` is not in that profile's command set either.)
    let zones = list(&["network", "dns", "zone", "list", "-g", estate::GLOBAL_RG]);
    assert_eq!(zones[0]["name"], estate::ZONE, "{zones:#?}");
    let sets = list(&[
        "network",
        "dns",
        "record-set",
        "list",
        "-g",
        estate::GLOBAL_RG,
        "-z",
        estate::ZONE,
    ]);
    assert!(
        sets.iter()
            .any(|r| r["name"] == "app" && r["fqdn"] == "app.aegis.io."),
        "{sets:#?}"
    );
    let ep = |name: &str, status: &str| {
        az.json(&[
            "network",
            "traffic-manager",
            "endpoint",
            "update",
            "-g",
            estate::GLOBAL_RG,
            "--profile-name",
            estate::PROFILE,
            "-n",
            name,
            "--type",
            "externalEndpoints",
            "--endpoint-status",
            status,
            "--output",
            "json",
        ])
    };
    let dr = ep("dr-endpoint", "Enabled");
    assert_eq!(dr["endpointStatus"], "Enabled", "{dr:#}");
    assert_eq!(dr["endpointMonitorStatus"], "CheckingEndpoint", "{dr:#}");
    let primary = ep("primary-endpoint", "Disabled");
    assert_eq!(primary["endpointMonitorStatus"], "Disabled", "{primary:#}");
    // The probes bring the enabled endpoint Online: read until they have (the simulator's state
    // says when), then check that `az` sees it so.
    let t0 = std::time::Instant::now();
    let online = || {
        sim.with(|s| s.traffic_manager_endpoints(estate::PROFILE))
            .iter()
            .any(|(name, _, monitor)| name == "dr-endpoint" && monitor == "Online")
    };
    while !online() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "never Online"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // (`endpoint show` is not in that profile's command set; `endpoint list` reads the profile.)
    let all = az.json(&[
        "network",
        "traffic-manager",
        "endpoint",
        "list",
        "-g",
        estate::GLOBAL_RG,
        "--profile-name",
        estate::PROFILE,
        "--output",
        "json",
    ]);
    let dr = all
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "dr-endpoint"))
        .cloned()
        .unwrap_or_else(|| panic!("no dr-endpoint: {all:#}"));
    assert_eq!(dr["endpointMonitorStatus"], "Online", "{dr:#}");
    assert_eq!(dr["target"], estate::DR_TARGET, "{dr:#}");
    let eps = sim.with(|s| s.traffic_manager_endpoints(estate::PROFILE));
    assert_eq!(
        (eps[0].1.as_str(), eps[1].1.as_str()),
        ("Disabled", "Enabled")
    );
}

//! `aegis-dr init` and `aegis-dr drift` on an AWS estate built in LocalStack, moto and the DRS/EKS
//! simulator (two regions: a replica pair, a Multi-AZ instance, an Aurora global cluster, a hosted
//! zone with records and a health check, EKS node groups on Auto Scaling groups, a DRS server).

use std::process::Output;

use aegis_dr_aws_sim::estate::{Estate, DR_REGION, PRIMARY_REGION};
use serde_json::Value;

use crate::common::{aws_command, code, json, stderr};

struct Inited {
    rt: tokio::runtime::Runtime,
    estate: Estate,
    dir: tempfile::TempDir,
}

impl Inited {
    /// The estate, with no plan written yet.
    fn new() -> Inited {
        let (rt, estate, dir) = crate::aws::estate();
        Inited { rt, estate, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// The binary with `env` set besides the estate's.
    fn run_with(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        aws_command(self.dir.path(), self.estate.child_env())
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("binary runs")
    }

    /// `init` of this estate (its names carry the estate's suffix: other tests' estates share the
    /// emulators).
    fn init(&self, extra: &[&str]) -> Output {
        self.init_with(extra, &[])
    }

    fn init_with(&self, extra: &[&str], env: &[(&str, String)]) -> Output {
        let regions = format!("{PRIMARY_REGION},{DR_REGION}");
        let mut args = vec![
            "init",
            "--aws-regions",
            &regions,
            "--name-contains",
            &self.estate.suffix,
        ];
        args.extend(extra);
        self.run_with(&args, env)
    }

    fn plan_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aegis.toml")).expect("plan written")
    }

    fn write_plan(&self, text: &str) {
        std::fs::write(self.dir.path().join("aegis.toml"), text).expect("plan");
    }
}

fn succeeds(i: &Inited, args: &[&str]) -> Value {
    let o = i.run(args);
    assert_eq!(
        code(&o),
        0,
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    json(&o)
}

/// The line of `text` holding `needle`.
fn line<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
}

#[test]
fn init_writes_the_aws_estate_as_a_plan_that_fails_over_and_back() {
    let i = Inited::new();
    let e = &i.estate;
    let o = i.init(&[]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    let text = i.plan_text();

    // Every value says where it came from; the pairs are the estate's.
    let dr = line(&text, &format!("dr = \"{}\"", e.db_dr));
    assert!(dr.contains("ReadReplicaSourceDBInstanceIdentifier"), "{dr}");
    assert!(
        text.contains(&format!("primary = \"{}\"", e.db_primary)),
        "{text}"
    );
    assert!(
        line(
            &text,
            &format!("options.fence_parameter_group = \"{}\"", e.fence_group)
        )
        .contains("default_transaction_read_only = on"),
        "{text}"
    );
    assert!(
        text.contains(&format!("dr = \"{}@us-east-1b\"", e.db_multi_az)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "options.global_cluster = \"{}\"",
            e.global_cluster
        )),
        "{text}"
    );
    // Health checks carry no name to scope them by: other estates in these emulators watch the
    // same target, which makes a choice (the estate's own check among its options).
    let check = line(&text, "health_check = ");
    assert!(check.contains(&e.health_check), "{text}");
    assert!(
        text.contains(&format!("source_server_id = \"{}\"", e.source_server)),
        "{text}"
    );
    assert!(
        line(&text, "production = { desired = 3, max = 4, min = 2 }").contains("now"),
        "{text}"
    );
    assert!(
        line(&text, "standby = { desired = 1, max = 4, min = 1 }").contains("twin"),
        "{text}"
    );
    assert!(
        line(&text, "region = \"us-east-1\"").contains("serves now"),
        "{text}"
    );
    // The A set's addresses name no region: left out, and said so.
    assert!(
        text.contains("its target names neither site's region"),
        "{text}"
    );

    // The record's DR target is nowhere in the estate: a marked choice, never a guess.
    let choice = "\"<choose> lb-usw2.example.com\"".to_string();
    assert!(text.contains(&format!("dr_target = {choice}")), "{text}");
    assert!(out.contains("dns_records[0].dr_target"), "{out}");
    let o = i.run(&["plan"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dns_records[0].dr_target") && stderr(&o).contains("not made yet"),
        "{}",
        stderr(&o)
    );

    // init never writes over a plan without --force.
    let o = i.init(&[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(i.plan_text(), text, "the plan is untouched");

    // The user makes the choice and adds what init cannot know (health URLs), plus this test
    // machine's settings (LocalStack's zones are in no resolver; short waits).
    let mut made = text.replace(&choice, "\"lb-usw2.example.com\"");
    if check.contains("<choose>") {
        made = made.replace(check, &format!("health_check = \"{}\"", e.health_check));
    }
    let made = made
        + &format!(
            "\n[[health_endpoints]]\nname = \"api-primary\"\nsite = \"primary\"\nurl = \"{h}/primary\"\n\n\
             [[health_endpoints]]\nname = \"api-dr\"\nsite = \"dr\"\nurl = \"{h}/dr\"\n\n\
             [failback]\nmin_primary_stable = \"0s\"\nlowered_ttl = 2\n\n\
             [execution]\nretry_attempts = 6\nretry_base_delay = \"20ms\"\npoll_interval = \"50ms\"\nmax_poll_interval = \"200ms\"\n\n\
             [verification]\ndns_resolver = \"none\"\n",
            h = e.health_url
        );
    i.write_plan(&made);
    let o = i.run(&["drift"]);
    assert_eq!(
        code(&o),
        0,
        "no drift right after init: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );

    let r = succeeds(&i, &["failover", "--yes", "--output", "json"]);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    i.rt.block_on(async {
        assert_eq!(e.record_now().await.0, "lb-usw2.example.com");
        let dr = e
            .db_instance(DR_REGION, &e.db_dr)
            .await
            .expect("DR instance");
        assert!(
            dr.read_replica_source_db_instance_identifier().is_none(),
            "DR promoted"
        );
        // The source server's instance went down with its region: the failback starts it.
        e.stop_source_instance().await;
    });
    let r = succeeds(&i, &["failback", "--yes", "--output", "json"]);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    i.rt.block_on(async {
        assert_eq!(e.record_now().await.0, "lb-use1.example.com");
        let (_, _, desired, _) = e.asg(DR_REGION, &e.asgs.1).await;
        assert_eq!(desired, 1, "DR pool back to standby");
    });
}

/// Creates a PostgreSQL instance in `region`; its ARN.
async fn instance(e: &Estate, region: &str, id: &str) -> String {
    let out = e
        .rds(region)
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .engine_version("16.3")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("aegis")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("create instance");
    out.db_instance()
        .and_then(|i| i.db_instance_arn())
        .expect("arn")
        .to_string()
}

/// Creates a read replica of `source` (an ARN) in `region`.
async fn replica(e: &Estate, region: &str, id: &str, source: &str) {
    e.rds(region)
        .create_db_instance_read_replica()
        .db_instance_identifier(id)
        .source_db_instance_identifier(source)
        .send()
        .await
        .expect("create replica");
}

#[test]
fn an_ambiguous_estate_gets_marked_choices_never_a_guess() {
    let i = Inited::new();
    let e = &i.estate;
    let s = &e.suffix;
    let (twice, faraway) = (format!("cart-{s}"), format!("audit-{s}"));
    i.rt.block_on(async {
        // Two candidate DR targets for one source...
        let arn = instance(e, PRIMARY_REGION, &twice).await;
        replica(e, DR_REGION, &format!("cart-{s}-a"), &arn).await;
        replica(e, DR_REGION, &format!("cart-{s}-b"), &arn).await;
        // ...and a replica in the DR region whose source is in a third region.
        let arn = instance(e, "eu-west-1", &faraway).await;
        replica(e, DR_REGION, &format!("audit-{s}-usw2"), &arn).await;
    });
    let o = i.init(&["--stdout", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["written"], Value::Null, "--stdout writes no file");
    assert!(!i.dir.path().join("aegis.toml").exists());
    let databases = doc["plan"]["databases"].as_array().expect("databases");
    let at = |name: &str| {
        databases
            .iter()
            .position(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no entry {name}: {doc:#}"))
    };
    let choices = doc["choices"].as_array().expect("choices");
    let choice = |key: String| {
        choices
            .iter()
            .find(|c| c["at"] == key.as_str())
            .unwrap_or_else(|| panic!("no choice at {key}: {doc:#}"))
            .clone()
    };
    let c = choice(format!("databases[{}].dr", at(&twice)));
    assert_eq!(
        c["options"],
        serde_json::json!([format!("cart-{s}-a"), format!("cart-{s}-b")]),
        "{c:#}"
    );
    assert!(
        c["why"].as_str().unwrap_or("").contains("2 read replicas"),
        "{c:#}"
    );
    let c = choice(format!(
        "databases[{}].primary",
        at(&format!("audit-{s}-usw2"))
    ));
    assert!(
        c["why"]
            .as_str()
            .unwrap_or("")
            .contains("eu-west-1, a third region"),
        "{c:#}"
    );
    assert_eq!(databases[at(&twice)]["primary"], twice.as_str());
    // Every inferred value says where from.
    let inferred = doc["inferred"].as_array().expect("inferred");
    assert!(inferred
        .iter()
        .any(|v| v["at"] == format!("databases[{}].primary", at(&twice)).as_str()));
    // The TOML form says the same, and `plan` refuses it until the choices are made.
    let o = i.init(&["--stdout"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains(&format!("dr = \"<choose> cart-{s}-a | cart-{s}-b\"")),
        "{text}"
    );
    i.write_plan(&text);
    let o = i.run(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not made yet"), "{}", stderr(&o));
}

#[test]
fn drift_names_a_new_replica_pair_and_a_resized_pool() {
    let i = Inited::new();
    let e = &i.estate;
    let o = i.init(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The choices made as a user would (the first option of each).
    let text = i
        .plan_text()
        .lines()
        .map(|l| match l.split_once("\"<choose> ") {
            Some((key, rest)) => {
                let first = rest.split([' ', '"']).next().unwrap_or_default();
                format!("{key}\"{first}\"")
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    i.write_plan(&text);
    let o = i.run(&["drift"]);
    assert_eq!(
        code(&o),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("no drift"));

    let s = &e.suffix;
    let new_primary = format!("billing-db-{s}");
    i.rt.block_on(async {
        let arn = instance(e, PRIMARY_REGION, &new_primary).await;
        replica(e, DR_REGION, &format!("billing-db-{s}-dr"), &arn).await;
    });
    e.sim.with(|st| {
        st.add_nodegroup(
            PRIMARY_REGION,
            &e.clusters.0,
            &e.nodegroups.0,
            (2, 8, 5),
            Some(&e.asgs.0),
        )
    });
    let o = i.run(&["drift", "--output", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc = json(&o);
    let drift = doc["drift"].as_array().expect("drift");
    assert_eq!(drift.len(), 2, "{doc:#}");
    assert!(
        drift.iter().any(|d| d["kind"] == "added"
            && d["table"] == "databases"
            && d["what"].as_str().unwrap_or("").contains(&new_primary)),
        "{doc:#}"
    );
    assert!(
        drift.iter().any(|d| d["kind"] == "changed"
            && d["table"] == "node_pools"
            && d["what"].as_str().unwrap_or("").contains("desired 5")),
        "{doc:#}"
    );
}

#[test]
fn init_reads_a_mixed_estate_into_one_plan_route53_rds_cloud_sql_and_two_clusters() {
    use aegis_dr_gcp_sim::estate as gcp;
    use aegis_dr_k8s_sim::K8sSim;
    use serde_json::json;
    let i = Inited::new();
    let e = &i.estate;
    let (_google, google_env, (orders, orders_dr)) = cloud_sql_pair(&i);
    let (prod, dr) = i.rt.block_on(async {
        (
            K8sSim::start("prod").await.expect("sim"),
            K8sSim::start("dr").await.expect("sim"),
        )
    });
    let (pk, dk) = (
        i.dir.path().join("prod.kubeconfig"),
        i.dir.path().join("dr.kubeconfig"),
    );
    prod.write_kubeconfig(&pk).expect("kubeconfig");
    dr.write_kubeconfig(&dk).expect("kubeconfig");
    let shop = format!("shop-{}", e.suffix);
    let config = json!({ "kind": "ConfigMap", "metadata": { "name": "shop-config", "namespace": shop }, "data": { "MODE": "prod" } });
    prod.with(|c| {
        c.rollout_time = std::time::Duration::from_millis(30);
        c.deployment(&shop, "api", 6, json!({ "app": "api" }));
        c.deployment(&shop, "only-here", 1, json!({ "app": "x" }));
        c.put(config.clone());
    });
    dr.with(|c| {
        c.rollout_time = std::time::Duration::from_millis(30);
        c.deployment(&shop, "api", 2, json!({ "app": "api" }));
        c.put(config.clone());
    });
    let kubeconfigs = format!("{},{}", pk.display(), dk.display());
    let o = i.init_with(
        &[
            "--kubeconfigs",
            &kubeconfigs,
            "--also-read",
            "gcp",
            "--gcp-project",
            gcp::PROJECT,
            "--output",
            "json",
        ],
        &google_env,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let plan = &doc["plan"];
    let on_gcp: Vec<&Value> = plan["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .filter(|d| d["provider"] == "gcp")
        .collect();
    assert_eq!(on_gcp.len(), 1, "{plan:#}");
    assert_eq!(
        (on_gcp[0]["primary"].as_str(), on_gcp[0]["dr"].as_str()),
        (Some(orders.as_str()), Some(orders_dr.as_str())),
        "{plan:#}"
    );
    assert_eq!(plan["discovery"]["also_read"], json!(["gcp"]), "{plan:#}");
    assert_eq!(
        plan["sites"]["primary"]["kubeconfig"],
        pk.display().to_string()
    );
    let w = plan["workloads"].as_array().expect("workloads");
    assert_eq!(w.len(), 1, "{plan:#}");
    assert_eq!(w[0]["namespace"], shop.as_str());
    assert_eq!(w[0]["deployments"], json!(["api"]));
    assert_eq!(
        (
            w[0]["production_replicas"].as_i64(),
            w[0]["standby_replicas"].as_i64()
        ),
        (Some(6), Some(2))
    );
    assert_eq!(
        plan["checks"]["config_maps"],
        json!([format!("{shop}/shop-config")]),
        "{plan:#}"
    );
    assert!(
        doc["skipped"]
            .to_string()
            .contains("only-here: only in the primary site's cluster"),
        "{doc:#}"
    );
    assert!(
        plan["dns_records"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{plan:#}"
    );
    assert!(
        plan["databases"].as_array().is_some_and(|r| r.len() == 4),
        "three pairs on RDS, one on Cloud SQL: {plan:#}"
    );
    // The workloads' replicas are evidence too: the primary runs more.
    assert!(
        plan_line(&i.plan_text(), "region = \"us-east-1\"")
            .contains("runs 6 replicas at the primary site"),
        "{}",
        i.plan_text()
    );
}

/// A database pair on another cloud: a Cloud SQL primary and its cross-region replica named in
/// the test's scope (the runbook's own instances beside them are not); the simulator, the
/// binary's environment to reach it, and the pair's names.
fn cloud_sql_pair(
    i: &Inited,
) -> (
    aegis_dr_gcp_sim::GcpSim,
    [(&'static str, String); 2],
    (String, String),
) {
    use aegis_dr_gcp_sim::{estate as gcp, GcpSim};
    let google = i.rt.block_on(GcpSim::start()).expect("simulator");
    let suffix = &i.estate.suffix;
    let pair = (format!("orders-{suffix}"), format!("orders-dr-{suffix}"));
    google.with(|s| {
        gcp::runbook(s);
        s.add_sql_primary(&pair.0, "us-central1", "us-central1-a", None, None);
        s.add_sql_replica(&pair.1, &pair.0, "us-east1", "us-east1-b", true);
    });
    let adc = i.dir.path().join("adc.json");
    std::fs::write(&adc, google.adc_json()).expect("credentials");
    let env = [
        ("AEGIS_DR_GCP_ENDPOINT", google.url()),
        ("GOOGLE_APPLICATION_CREDENTIALS", adc.display().to_string()),
    ];
    (google, env, pair)
}

fn plan_line(text: &str, needle: &str) -> String {
    line(text, needle).to_string()
}

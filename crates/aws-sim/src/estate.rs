//! A complete AWS estate for tests and benchmarks, created through the real SDK clients in the
//! emulators: a Route 53 zone, record and health check (LocalStack); an RDS primary in `us-east-1`
//! with a cross-region read replica in `us-west-2` and a fence parameter group, a Multi-AZ instance,
//! and an Aurora global database of two clusters (moto, with the operations `scripts/moto_server.py`
//! adds); `ReplicaLag` and `AuroraGlobalDBReplicationLag` metrics (LocalStack CloudWatch); one EKS node group per site (this simulator) driving an Auto
//! Scaling group (moto); a DRS source server (this simulator) protecting an EC2 instance (LocalStack).
//! Every name carries a unique suffix, so tests share the emulators safely.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::AwsSim;

/// Primary region of the estate.
pub const PRIMARY_REGION: &str = "us-east-1";
/// DR region of the estate.
pub const DR_REGION: &str = "us-west-2";

/// Where the emulators listen.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// LocalStack (Route 53, EC2, CloudWatch).
    pub localstack: String,
    /// moto server (RDS, Auto Scaling).
    pub moto: String,
}

impl Endpoints {
    /// Reads `AEGIS_TEST_LOCALSTACK` and `AEGIS_TEST_MOTO`, which `scripts/aws-emulators.sh start`
    /// writes to `.ci/emulators/env`. Panics with instructions when they are missing: AWS tests never
    /// skip silently.
    pub fn from_env() -> Endpoints {
        let get = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!(
                    "{k} is not set: the AWS tests need LocalStack and moto. Run `./scripts/test.sh`, or \
                     `scripts/aws-emulators.sh start && . .ci/emulators/env` before `cargo test`"
                )
            })
        };
        Endpoints {
            localstack: get("AEGIS_TEST_LOCALSTACK"),
            moto: get("AEGIS_TEST_MOTO"),
        }
    }
}

/// The addresses of the estate's A record set while the primary serves.
pub const ADDRESS_SET_PRIMARY: [&str; 2] = ["192.0.2.10", "192.0.2.11"];
/// The addresses of the estate's A record set while the DR site serves.
pub const ADDRESS_SET_DR: [&str; 2] = ["198.51.100.10", "198.51.100.11"];

/// TTL of the estate's record: short, because failback waits out the old TTL before it switches.
pub const RECORD_TTL: u32 = 5;

/// Zones of the Multi-AZ instance: (writer, standby) when the estate is created.
pub const MULTI_AZ_ZONES: (&str, &str) = ("us-east-1a", "us-east-1b");

/// The kinds of database pair the estate holds, for [`Estate::plan_toml_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// `orders`: cross-region read replica (failover = "replica-promotion").
    ReplicaPromotion,
    /// `sessions`: one Multi-AZ instance (failover = "multi-az").
    MultiAz,
    /// `ledger`: Aurora global database (failover = "aurora-global").
    AuroraGlobal,
}

/// Sizes (min, max, desired) of the node pools in the plan.
pub const PRODUCTION: (u32, u32, u32) = (2, 4, 3);
/// Standby sizes.
pub const STANDBY: (u32, u32, u32) = (1, 4, 1);

/// A created estate.
pub struct Estate {
    /// The DRS/EKS simulator serving this estate.
    pub sim: AwsSim,
    /// Unique suffix of every name.
    pub suffix: String,
    /// SDK configuration reaching the emulators (through a shared-config `services` section).
    pub sdk: SdkConfig,
    /// The shared config file holding the endpoints and test credentials.
    pub profile_file: PathBuf,
    /// Hosted zone name.
    pub zone: String,
    /// Hosted zone id.
    pub zone_id: String,
    /// Record name.
    pub record: String,
    /// Route 53 health check id.
    pub health_check: String,
    /// Primary DB instance (us-east-1).
    pub db_primary: String,
    /// DR read replica (us-west-2).
    pub db_dr: String,
    /// Fence parameter group (both regions).
    pub fence_group: String,
    /// Multi-AZ instance (us-east-1), writer in [`MULTI_AZ_ZONES`]`.0`.
    pub db_multi_az: String,
    /// Aurora global database (global cluster identifier).
    pub global_cluster: String,
    /// Its member clusters (primary in us-east-1, writer; secondary in us-west-2).
    pub aurora: (String, String),
    /// Read-only DB cluster parameter group fencing Aurora clusters (both regions).
    pub cluster_fence_group: String,
    /// Clusters (primary, dr).
    pub clusters: (String, String),
    /// Node groups (primary, dr).
    pub nodegroups: (String, String),
    /// Auto Scaling groups behind the node groups (primary, dr).
    pub asgs: (String, String),
    /// DRS source server id.
    pub source_server: String,
    /// EC2 instance (us-east-1) the source server protects.
    pub source_instance: String,
    /// The sites' health endpoints (`/primary`, `/dr`), served on loopback.
    pub health_url: String,
    endpoints: Endpoints,
    _health: aegis_dr_sim_http::Servers,
}

/// Serves `GET /primary` and `GET /dr`: 200 with the figures aegis-dr's HTTP probe reads.
async fn health_server() -> (String, aegis_dr_sim_http::Servers) {
    let app = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            r#"{"in_flight": 0, "error_rate": 0.0, "healthy_for_seconds": 86400}"#,
        )
    });
    let servers = aegis_dr_sim_http::Servers::new();
    let addr = ok("bind health server", servers.bind("127.0.0.1:0", app).await);
    (format!("http://{addr}"), servers)
}

/// `default_transaction_read_only = on`: what makes a parameter group a fence.
fn read_only_on() -> aws_sdk_rds::types::Parameter {
    aws_sdk_rds::types::Parameter::builder()
        .parameter_name("default_transaction_read_only")
        .parameter_value("on")
        .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
        .build()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!(
        "{:x}{:x}{}",
        std::process::id(),
        t % 0xff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn ok<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("estate setup: {what}: {e:?}"),
    }
}

impl Estate {
    /// Creates the estate, writing the shared config file into `dir`.
    pub async fn create(dir: &Path, endpoints: &Endpoints) -> Estate {
        let s = unique_suffix();
        let sim = ok("start the DRS/EKS simulator", AwsSim::start().await);
        sim.with(|st| {
            st.ec2_endpoint = Some(endpoints.localstack.clone());
            st.autoscaling_endpoint = Some(endpoints.moto.clone());
            st.source_region = PRIMARY_REGION.into();
            st.job_time = Duration::from_millis(300);
            st.failback_replication_time = Duration::from_millis(300);
            st.nodegroup_update_time = Duration::from_millis(200);
        });
        let profile_file = dir.join("aws-config");
        let (ls, moto, drs) = (&endpoints.localstack, &endpoints.moto, sim.url());
        let cfg = format!(
            "[profile aegis-test]\nregion = {PRIMARY_REGION}\naws_access_key_id = test\naws_secret_access_key = test\nservices = emulators\n\n\
             [services emulators]\nroute-53 =\n  endpoint_url = {ls}\nec2 =\n  endpoint_url = {ls}\ncloudwatch =\n  endpoint_url = {ls}\n\
             rds =\n  endpoint_url = {moto}\nauto-scaling =\n  endpoint_url = {moto}\neks =\n  endpoint_url = {drs}\ndrs =\n  endpoint_url = {drs}\n"
        );
        ok(
            "write the shared config",
            std::fs::write(&profile_file, cfg),
        );
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .profile_files(
                EnvConfigFiles::builder()
                    .with_file(EnvConfigFileKind::Config, &profile_file)
                    .build(),
            )
            .profile_name("aegis-test")
            .load()
            .await;

        let (health_url, health_stop) = health_server().await;
        let mut e = Estate {
            sim,
            health_url,
            _health: health_stop,
            zone: format!("aegis-{s}.test"),
            zone_id: String::new(),
            record: format!("api.aegis-{s}.test"),
            health_check: String::new(),
            db_primary: format!("orders-{s}"),
            db_dr: format!("orders-{s}-dr"),
            fence_group: format!("aegis-fence-{s}"),
            db_multi_az: format!("sessions-{s}"),
            global_cluster: format!("ledger-{s}"),
            aurora: (format!("ledger-{s}-use1"), format!("ledger-{s}-usw2")),
            cluster_fence_group: format!("aegis-cluster-fence-{s}"),
            clusters: (format!("prod-{s}"), format!("dr-{s}")),
            nodegroups: (format!("workers-{s}"), format!("dr-workers-{s}")),
            asgs: (format!("eks-workers-{s}"), format!("eks-dr-workers-{s}")),
            source_server: String::new(),
            source_instance: String::new(),
            suffix: s,
            sdk,
            profile_file,
            endpoints: endpoints.clone(),
        };
        e.create_dns().await;
        e.create_databases().await;
        e.create_node_groups().await;
        e.create_source_server().await;
        e
    }

    /// A Route 53 client.
    pub fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk)
    }

    /// An RDS client of `region`.
    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        let c = aws_sdk_rds::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_rds::Client::from_conf(c)
    }

    /// An EC2 client of `region` (LocalStack).
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let c = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_ec2::Client::from_conf(c)
    }

    /// An Auto Scaling client of `region` (moto).
    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        let c = aws_sdk_autoscaling::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_autoscaling::Client::from_conf(c)
    }

    fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        let c = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(c)
    }

    async fn create_dns(&mut self) {
        let r53 = self.route53();
        let zone = ok(
            "create hosted zone",
            r53.create_hosted_zone()
                .name(&self.zone)
                .caller_reference(format!("zone-{}", self.suffix))
                .send()
                .await,
        );
        self.zone_id = zone
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .unwrap_or_default();
        self.set_record("lb-use1.example.com", RECORD_TTL as i64)
            .await;
        self.upsert(
            &self.address_set_record(),
            aws_sdk_route53::types::RrType::A,
            &ADDRESS_SET_PRIMARY,
            RECORD_TTL as i64,
        )
        .await;
        let hc = ok(
            "create health check",
            r53.create_health_check()
                .caller_reference(format!("hc-{}", self.suffix))
                .health_check_config(ok(
                    "health check config",
                    aws_sdk_route53::types::HealthCheckConfig::builder()
                        .r#type(aws_sdk_route53::types::HealthCheckType::Http)
                        .fully_qualified_domain_name("lb-use1.example.com")
                        .port(80)
                        .resource_path("/healthz")
                        .build(),
                ))
                .send()
                .await,
        );
        self.health_check = hc
            .health_check()
            .map(|h| h.id().to_string())
            .unwrap_or_default();
    }

    /// UPSERTs the record as a CNAME to `target`.
    pub async fn set_record(&self, target: &str, ttl: i64) {
        self.upsert(
            &self.record,
            aws_sdk_route53::types::RrType::Cname,
            &[target],
            ttl,
        )
        .await;
    }

    /// The name of the estate's A record that holds a set of addresses on each site.
    pub fn address_set_record(&self) -> String {
        format!("v4.{}", self.zone)
    }

    /// UPSERTs record `name` of type `t` with `values`.
    async fn upsert(
        &self,
        name: &str,
        t: aws_sdk_route53::types::RrType,
        values: &[&str],
        ttl: i64,
    ) {
        use aws_sdk_route53::types::{
            Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
        };
        let records = values
            .iter()
            .map(|v| ok("record", ResourceRecord::builder().value(*v).build()))
            .collect();
        let rs = ok(
            "record set",
            ResourceRecordSet::builder()
                .name(name)
                .r#type(t)
                .ttl(ttl)
                .set_resource_records(Some(records))
                .build(),
        );
        let batch = ok(
            "change batch",
            ChangeBatch::builder()
                .changes(ok(
                    "change",
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(rs)
                        .build(),
                ))
                .build(),
        );
        ok(
            "upsert record",
            self.route53()
                .change_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .change_batch(batch)
                .send()
                .await,
        );
    }

    /// The record's (target, TTL) as Route 53 serves it.
    pub async fn record_now(&self) -> (String, i64) {
        let (values, ttl) = self.values_now(&self.record, "CNAME").await;
        (values.into_iter().next().unwrap_or_default(), ttl)
    }

    /// The A record set's addresses (sorted) as Route 53 serves them.
    pub async fn address_set_now(&self) -> Vec<String> {
        let mut v = self.values_now(&self.address_set_record(), "A").await.0;
        v.sort();
        v
    }

    /// Record `name` of type `t`: its values and TTL as Route 53 serves them.
    async fn values_now(&self, name: &str, t: &str) -> (Vec<String>, i64) {
        let out = ok(
            "list records",
            self.route53()
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .send()
                .await,
        );
        let rs = out
            .resource_record_sets()
            .iter()
            .find(|r| r.name().trim_end_matches('.') == name && r.r#type().as_str() == t)
            .unwrap_or_else(|| panic!("record {name} {t} missing"));
        (
            rs.resource_records()
                .iter()
                .map(|r| r.value().to_string())
                .collect(),
            rs.ttl().unwrap_or_default(),
        )
    }

    /// True when the Route 53 health check is disabled.
    pub async fn health_check_disabled(&self) -> bool {
        let out = ok(
            "get health check",
            self.route53()
                .get_health_check()
                .health_check_id(&self.health_check)
                .send()
                .await,
        );
        out.health_check()
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.disabled())
            .unwrap_or(false)
    }

    async fn create_databases(&mut self) {
        for region in [PRIMARY_REGION, DR_REGION] {
            ok(
                "create fence parameter group",
                self.rds(region)
                    .create_db_parameter_group()
                    .db_parameter_group_name(&self.fence_group)
                    .db_parameter_group_family("postgres16")
                    .description("aegis-dr fence: default_transaction_read_only = on")
                    .send()
                    .await,
            );
            ok(
                "set the fence parameter",
                self.rds(region)
                    .modify_db_parameter_group()
                    .db_parameter_group_name(&self.fence_group)
                    .parameters(read_only_on())
                    .send()
                    .await,
            );
        }
        let primary = ok(
            "create primary DB instance",
            self.rds(PRIMARY_REGION)
                .create_db_instance()
                .db_instance_identifier(&self.db_primary)
                .engine("postgres")
                .engine_version("16.3")
                .db_instance_class("db.t3.micro")
                .allocated_storage(20)
                .master_username("aegis")
                .master_user_password("not-a-secret-1")
                .backup_retention_period(7)
                .send()
                .await,
        );
        let arn = primary
            .db_instance()
            .and_then(|i| i.db_instance_arn())
            .unwrap_or_default()
            .to_string();
        ok(
            "create cross-region read replica",
            self.rds(DR_REGION)
                .create_db_instance_read_replica()
                .db_instance_identifier(&self.db_dr)
                .source_db_instance_identifier(arn)
                .send()
                .await,
        );
        for region in [PRIMARY_REGION, DR_REGION] {
            for id in [self.db_primary.clone(), self.db_dr.clone()] {
                self.set_replica_lag(region, &id, 0.0).await;
            }
        }
        ok(
            "create Multi-AZ DB instance",
            self.rds(PRIMARY_REGION)
                .create_db_instance()
                .db_instance_identifier(&self.db_multi_az)
                .engine("postgres")
                .db_instance_class("db.t3.micro")
                .allocated_storage(20)
                .master_username("aegis")
                .master_user_password("not-a-secret-1")
                .backup_retention_period(7)
                .multi_az(true)
                .availability_zone(MULTI_AZ_ZONES.0)
                .send()
                .await,
        );
        self.create_aurora_global().await;
    }

    async fn create_aurora_global(&mut self) {
        for region in [PRIMARY_REGION, DR_REGION] {
            ok(
                "create cluster fence parameter group",
                self.rds(region)
                    .create_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(&self.cluster_fence_group)
                    .db_parameter_group_family("aurora-postgresql16")
                    .description("aegis-dr fence: default_transaction_read_only = on")
                    .send()
                    .await,
            );
            ok(
                "set the cluster fence parameter",
                self.rds(region)
                    .modify_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(&self.cluster_fence_group)
                    .parameters(read_only_on())
                    .send()
                    .await,
            );
        }
        let primary = ok(
            "create primary Aurora cluster",
            self.rds(PRIMARY_REGION)
                .create_db_cluster()
                .db_cluster_identifier(&self.aurora.0)
                .engine("aurora-postgresql")
                .master_username("aegis")
                .master_user_password("not-a-secret-1")
                .backup_retention_period(7)
                .send()
                .await,
        );
        let arn = primary
            .db_cluster()
            .and_then(|c| c.db_cluster_arn())
            .unwrap_or_default()
            .to_string();
        ok(
            "create Aurora global database",
            self.rds(PRIMARY_REGION)
                .create_global_cluster()
                .global_cluster_identifier(&self.global_cluster)
                .source_db_cluster_identifier(arn)
                .send()
                .await,
        );
        ok(
            "create secondary Aurora cluster",
            self.rds(DR_REGION)
                .create_db_cluster()
                .db_cluster_identifier(&self.aurora.1)
                .engine("aurora-postgresql")
                .global_cluster_identifier(&self.global_cluster)
                .send()
                .await,
        );
        for region in [PRIMARY_REGION, DR_REGION] {
            for id in [self.aurora.0.clone(), self.aurora.1.clone()] {
                self.set_global_lag(region, &id, 0.0).await;
            }
        }
    }

    /// Publishes an `AuroraGlobalDBReplicationLag` datapoint (milliseconds) for `cluster` in
    /// `region`, as Aurora does for a secondary cluster.
    pub async fn set_global_lag(&self, region: &str, cluster: &str, millis: f64) {
        let (metric, unit) = ("AuroraGlobalDBReplicationLag", StandardUnit::Milliseconds);
        self.put_rds_metric(region, metric, "DBClusterIdentifier", cluster, millis, unit)
            .await;
    }

    /// The Aurora global database as RDS describes it: (status, writer cluster id, failover state
    /// `(status, to cluster id, data loss allowed)` while an operation runs).
    pub async fn global_state(&self) -> (String, String, Option<(String, String, bool)>) {
        let out = ok(
            "describe global cluster",
            self.rds(PRIMARY_REGION)
                .describe_global_clusters()
                .global_cluster_identifier(&self.global_cluster)
                .send()
                .await,
        );
        let g = out
            .global_clusters()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("global cluster {} is missing", self.global_cluster));
        let id = |arn: &str| arn.rsplit(":cluster:").next().unwrap_or(arn).to_string();
        let writer = g
            .global_cluster_members()
            .iter()
            .find(|m| m.is_writer() == Some(true))
            .and_then(|m| m.db_cluster_arn())
            .map(id)
            .unwrap_or_default();
        let state = g.failover_state().and_then(|f| {
            f.status().map(|s| {
                (
                    s.as_str().to_string(),
                    f.to_db_cluster_arn().map(id).unwrap_or_default(),
                    f.is_data_loss_allowed().unwrap_or(false),
                )
            })
        });
        (g.status().unwrap_or_default().to_string(), writer, state)
    }

    /// The Multi-AZ instance's (status, writer zone, standby zone).
    pub async fn multi_az_state(&self) -> (String, String, String) {
        let i = self
            .db_instance(PRIMARY_REGION, &self.db_multi_az)
            .await
            .unwrap_or_else(|| panic!("instance {} is missing", self.db_multi_az));
        (
            i.db_instance_status().unwrap_or_default().to_string(),
            i.availability_zone().unwrap_or_default().to_string(),
            i.secondary_availability_zone()
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Publishes a `ReplicaLag` datapoint (seconds) for `instance` in `region`, as RDS does.
    pub async fn set_replica_lag(&self, region: &str, instance: &str, seconds: f64) {
        let (dim, unit) = ("DBInstanceIdentifier", StandardUnit::Seconds);
        self.put_rds_metric(region, "ReplicaLag", dim, instance, seconds, unit)
            .await;
    }

    /// Publishes a datapoint of the `AWS/RDS` metric `metric` for `dimension` = `id` in `region`.
    async fn put_rds_metric(
        &self,
        region: &str,
        metric: &str,
        dimension: &str,
        id: &str,
        value: f64,
        unit: StandardUnit,
    ) {
        ok(
            &format!("put {metric}"),
            self.cloudwatch(region)
                .put_metric_data()
                .namespace("AWS/RDS")
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(metric)
                        .dimensions(Dimension::builder().name(dimension).value(id).build())
                        .value(value)
                        .unit(unit)
                        .timestamp(SystemTime::now().into())
                        .build(),
                )
                .send()
                .await,
        );
    }

    /// A DB instance as RDS describes it, `None` when it does not exist.
    pub async fn db_instance(
        &self,
        region: &str,
        id: &str,
    ) -> Option<aws_sdk_rds::types::DbInstance> {
        self.rds(region)
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .ok()
            .and_then(|o| o.db_instances().first().cloned())
    }

    async fn create_node_groups(&mut self) {
        for (region, cluster, ng, asg, (min, max, desired)) in [
            (
                PRIMARY_REGION,
                self.clusters.0.clone(),
                self.nodegroups.0.clone(),
                self.asgs.0.clone(),
                PRODUCTION,
            ),
            (
                DR_REGION,
                self.clusters.1.clone(),
                self.nodegroups.1.clone(),
                self.asgs.1.clone(),
                STANDBY,
            ),
        ] {
            let a = self.autoscaling(region);
            let lc = format!("lc-{asg}");
            ok(
                "create launch configuration",
                a.create_launch_configuration()
                    .launch_configuration_name(&lc)
                    .image_id("ami-12c6146b")
                    .instance_type("m5.large")
                    .send()
                    .await,
            );
            ok(
                "create Auto Scaling group",
                a.create_auto_scaling_group()
                    .auto_scaling_group_name(&asg)
                    .launch_configuration_name(&lc)
                    .min_size(min as i32)
                    .max_size(max as i32)
                    .desired_capacity(desired as i32)
                    .availability_zones(format!("{region}a"))
                    .send()
                    .await,
            );
            self.sim.with(|st| {
                st.add_nodegroup(region, &cluster, &ng, (min, max, desired), Some(&asg))
            });
        }
    }

    /// (min, max, desired, InService+Healthy instances) of an Auto Scaling group.
    pub async fn asg(&self, region: &str, name: &str) -> (i32, i32, i32, usize) {
        let out = ok(
            "describe Auto Scaling group",
            self.autoscaling(region)
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
                .await,
        );
        let g = out
            .auto_scaling_groups()
            .first()
            .unwrap_or_else(|| panic!("ASG {name} missing"));
        let ready = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
            .count();
        (
            g.min_size().unwrap_or_default(),
            g.max_size().unwrap_or_default(),
            g.desired_capacity().unwrap_or_default(),
            ready,
        )
    }

    async fn create_source_server(&mut self) {
        let ec2 = self.ec2(PRIMARY_REGION);
        let images = ok("describe images", ec2.describe_images().send().await);
        let image = images
            .images()
            .iter()
            .filter_map(|i| i.image_id())
            .next()
            .unwrap_or("ami-df5de72bdb3b")
            .to_string();
        let out = ok(
            "run source instance",
            ec2.run_instances()
                .image_id(image)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .min_count(1)
                .max_count(1)
                .send()
                .await,
        );
        self.source_instance = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .unwrap_or_default()
            .to_string();
        let id = self.sim.with(|st| {
            let id = st.new_id("s-");
            st.add_source_server(&id, Some(&self.source_instance), Duration::from_secs(60));
            st.set_source_hostname(&id, &format!("billing-{}", self.suffix));
            id
        });
        self.source_server = id;
    }

    /// The source instance's state name in LocalStack (`running`, `stopped`, ...).
    pub async fn source_instance_state(&self) -> String {
        let out = ok(
            "describe source instance",
            self.ec2(PRIMARY_REGION)
                .describe_instances()
                .instance_ids(&self.source_instance)
                .send()
                .await,
        );
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
            })
            .next()
            .unwrap_or_default()
    }

    /// Stops the source instance, as a region outage would.
    pub async fn stop_source_instance(&self) {
        ok(
            "stop source instance",
            self.ec2(PRIMARY_REGION)
                .stop_instances()
                .instance_ids(&self.source_instance)
                .send()
                .await,
        );
    }

    /// The plan file (TOML) describing this estate on the `aws` provider with the `orders` replica
    /// pair; `extra` is appended.
    pub fn plan_toml(&self, extra: &str) -> String {
        self.plan_toml_with(&[DbKind::ReplicaPromotion], extra)
    }

    /// The `[[databases]]` entry of one kind of pair.
    pub fn database_toml(&self, kind: DbKind) -> String {
        match kind {
            DbKind::ReplicaPromotion => format!(
                "[[databases]]\nname = \"orders\"\nprimary = \"{}\"\ndr = \"{}\"\nengine = \"postgres\"\noptions = {{ fence_parameter_group = \"{}\" }}\n",
                self.db_primary, self.db_dr, self.fence_group
            ),
            DbKind::MultiAz => format!(
                "[[databases]]\nname = \"sessions\"\nprimary = \"{i}@{}\"\ndr = \"{i}@{}\"\nengine = \"postgres\"\noptions = {{ failover = \"multi-az\" }}\n",
                MULTI_AZ_ZONES.0,
                MULTI_AZ_ZONES.1,
                i = self.db_multi_az
            ),
            DbKind::AuroraGlobal => format!(
                "[[databases]]\nname = \"ledger\"\nprimary = \"{}\"\ndr = \"{}\"\nengine = \"aurora-postgresql\"\noptions = {{ failover = \"aurora-global\", global_cluster = \"{}\", fence_parameter_group = \"{}\" }}\n",
                self.aurora.0, self.aurora.1, self.global_cluster, self.cluster_fence_group
            ),
        }
    }

    /// The plan file with the database pairs `databases` (in that order); `extra` is appended.
    pub fn plan_toml_with(&self, databases: &[DbKind], extra: &str) -> String {
        let databases: String = databases
            .iter()
            .map(|k| self.database_toml(*k))
            .collect::<Vec<_>>()
            .join("\n");
        let (pmin, pmax, pdes) = PRODUCTION;
        let (smin, smax, sdes) = STANDBY;
        format!(
            r#"[plan]
name = "aws-{s}"

[sites.primary]
provider = "aws"
region = "{PRIMARY_REGION}"
cluster = "{pc}"

[sites.dr]
provider = "aws"
region = "{DR_REGION}"
cluster = "{dc}"

{databases}
[[dns_records]]
name = "{record}"
zone = "{zone}"
type = "CNAME"
primary_target = "lb-use1.example.com"
dr_target = "lb-usw2.example.com"
ttl = {RECORD_TTL}
health_check = "{hc}"

[[dns_records]]
name = "{set_record}"
zone = "{zone}"
type = "A"
primary_target = {set_primary:?}
dr_target = {set_dr:?}
ttl = {RECORD_TTL}

[[node_pools]]
name = "{png}"
site = "primary"
production = {{ min = {pmin}, max = {pmax}, desired = {pdes} }}
standby = {{ min = {smin}, max = {smax}, desired = {sdes} }}

[[node_pools]]
name = "{dng}"
site = "dr"
production = {{ min = {pmin}, max = {pmax}, desired = {pdes} }}
standby = {{ min = {smin}, max = {smax}, desired = {sdes} }}

[[recovery_servers]]
name = "billing"
source_server_id = "{server}"

[[health_endpoints]]
name = "api-primary"
site = "primary"
url = "{health}/primary"

[[health_endpoints]]
name = "api-dr"
site = "dr"
url = "{health}/dr"

[checks]
max_replication_lag = "30s"
max_backup_age = "6h"
max_dns_ttl = 60

[failback]
min_primary_stable = "0s"
lowered_ttl = 2

[execution]
retry_attempts = 6
retry_base_delay = "20ms"
poll_interval = "50ms"
max_poll_interval = "200ms"

# LocalStack's hosted zones are in no resolver: verification takes Route 53's own answer.
[verification]
dns_resolver = "none"
{extra}
"#,
            s = self.suffix,
            pc = self.clusters.0,
            dc = self.clusters.1,
            record = self.record,
            set_record = self.address_set_record(),
            set_primary = ADDRESS_SET_PRIMARY,
            set_dr = ADDRESS_SET_DR,
            zone = self.zone,
            hc = self.health_check,
            png = self.nodegroups.0,
            dng = self.nodegroups.1,
            server = self.source_server,
            health = self.health_url,
        )
    }

    /// Environment for a child process (the `aegis-dr` binary, the `aws` CLI) reaching this estate
    /// through `AWS_ENDPOINT_URL_<SERVICE>` variables and static test credentials.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let ls = &self.endpoints.localstack;
        let moto = &self.endpoints.moto;
        let sim = self.sim.url();
        [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", PRIMARY_REGION),
            ("AWS_DEFAULT_REGION", PRIMARY_REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/aegis-test-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aegis-test-credentials",
            ),
            ("AWS_ENDPOINT_URL_ROUTE_53", ls),
            ("AWS_ENDPOINT_URL_EC2", ls),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", ls),
            ("AWS_ENDPOINT_URL_RDS", moto),
            ("AWS_ENDPOINT_URL_AUTO_SCALING", moto),
            ("AWS_ENDPOINT_URL_EKS", &sim),
            ("AWS_ENDPOINT_URL_DRS", &sim),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

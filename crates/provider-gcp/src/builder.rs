//! [`GcpProviders::from_env`]: the builder that reads the plan's GCP settings, picks the
//! credentials, binds Google's clients and validates everything in [`GcpProvidersBuilder::build`];
//! [`GcpBackend`] is its registry entry.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery},
    provider::{
        Backend, BuildContext, BuilderBase, Capabilities, Clients, DatabaseFailover, DnsRouter,
        HttpHealthProbe, NodeScaler, Permissions, ProviderBuilder, ProviderSet, Providers,
    },
    Error, ErrorKind, Plan, Result, SiteRole,
};
use google_cloud_auth::credentials::Credentials;

use crate::{
    client::{configure, AegisRetry, Google},
    settings::GcpSettings,
    sql::InstancePair,
    CloudDns, CloudSql, GkeNodes,
};

/// Builds [`GcpProviders`] for a plan.
#[derive(Debug, Clone)]
pub struct GcpProvidersBuilder {
    base: BuilderBase,
    credentials: Option<Credentials>,
    poll_interval: Duration,
    operation_timeout: Duration,
}

/// The GCP providers of one plan: a client for what its GCP resources use, nothing else.
#[derive(Debug, Clone)]
pub struct GcpProviders {
    /// Cloud DNS, when the plan has records on GCP.
    pub dns: Option<Arc<CloudDns>>,
    /// Cloud SQL, when the plan has database pairs on GCP.
    pub database: Option<Arc<CloudSql>>,
    /// GKE node pools, when the plan has node pools on GCP.
    pub nodes: Option<Arc<GkeNodes>>,
    health: Arc<HttpHealthProbe>,
}

impl GcpProviders {
    /// A builder on the plan's `[providers.gcp]` and `[sites.<site>.gcp]` settings and Application
    /// Default Credentials.
    pub fn from_env(plan: &Plan) -> GcpProvidersBuilder {
        GcpProvidersBuilder {
            base: BuilderBase::new(plan),
            credentials: None,
            poll_interval: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(15 * 60),
        }
    }

    /// The provider set `gcp`.
    pub fn set(&self) -> ProviderSet {
        let clients = Clients {
            dns: self.dns.clone().map(|d| d as Arc<dyn DnsRouter>),
            database: self
                .database
                .clone()
                .map(|d| d as Arc<dyn DatabaseFailover>),
            nodes: self.nodes.clone().map(|n| n as Arc<dyn NodeScaler>),
            recovery: None,
            health: Some(self.health.clone()),
        };
        ProviderSet::of_clients("gcp", clients, GcpBackend.capabilities())
    }

    /// The set alone as [`Providers`].
    pub fn providers(&self) -> Providers {
        Providers::new().with(self.set())
    }
}

const RECORD_TYPES: &[&str] = &["CNAME", "A", "AAAA"];

impl ProviderBuilder for GcpProvidersBuilder {
    fn base_mut(&mut self) -> &mut BuilderBase {
        &mut self.base
    }
}

impl GcpProvidersBuilder {
    /// Uses these credentials instead of Application Default Credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Pause between operation polls (default 5 s); retries back off from a tenth of it.
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Longest a Cloud SQL or GKE operation is followed (default 15 min).
    pub fn with_operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }

    fn pairs(&self) -> Result<Vec<InstancePair>> {
        let p = &self.base.plan;
        self.base.pairs(
            |site| GcpSettings::of(p, Some(site)),
            |d, at, pri, dr| {
                InstancePair::from_spec(
                    d,
                    pri.project(Some(SiteRole::Primary), at)?,
                    dr.project(Some(SiteRole::Dr), at)?,
                )
            },
        )
    }

    /// Checks the plan's GCP settings and resources without building anything.
    pub fn validate(&self) -> Result<()> {
        let p = &self.base.plan;
        let wide = GcpSettings::of(p, None)?;
        self.pairs()?;
        for r in &p.dns_records {
            let at = format!("dns_records.{}", r.name);
            wide.project(None, &at)?;
            if let Some(h) = &r.health_check {
                return Err(Error::config(format!(
                    "{at}.health_check: `{h}`: Cloud DNS records have no health checks (use health_endpoints)"
                )));
            }
            if !RECORD_TYPES.contains(&r.record_type.as_str()) {
                return Err(Error::config(format!(
                    "{at}.type: {} is not supported on Cloud DNS here (CNAME, A or AAAA)",
                    r.record_type
                )));
            }
            for (key, target) in [
                ("primary_target", &r.primary_target),
                ("dr_target", &r.dr_target),
            ] {
                if r.record_type == "CNAME" && target.values().iter().any(|t| t.ends_with('.')) {
                    return Err(Error::config(format!(
                        "{at}.{key}: write `{target}` without its trailing dot (Cloud DNS's is added and read back for you)"
                    )));
                }
            }
            let zone_ok = !r.zone.is_empty()
                && !r.zone.contains('.')
                && r.zone
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !zone_ok {
                return Err(Error::config(format!(
                    "{at}.zone: `{}` is not a Cloud DNS managed zone name (the zone's name, like `aegis-zone`, not its DNS name)",
                    r.zone
                )));
            }
        }
        for n in &p.node_pools {
            let at = format!("node_pools.{}", n.name);
            if n.autoscaling_group.is_some() {
                return Err(Error::config(format!(
                    "{at}.autoscaling_group: an AWS setting; a GKE pool is scaled through its node pool"
                )));
            }
            GcpSettings::of(p, Some(n.site))?.project(Some(n.site), &at)?;
        }
        Ok(())
    }

    fn credentials(&self, wide: &GcpSettings) -> Result<Credentials> {
        if let Some(c) = &self.credentials {
            return Ok(c.clone());
        }
        if let Some(path) = &wide.credentials_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!("providers.gcp.credentials_file: {path}: {e}"))
            })?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Error::config(format!(
                    "providers.gcp.credentials_file: {path}: not JSON: {e}"
                ))
            })?;
            use google_cloud_auth::credentials::{external_account, service_account, user_account};
            let built = match json["type"].as_str() {
                Some("service_account") => service_account::Builder::new(json).build(),
                Some("authorized_user") => user_account::Builder::new(json).build(),
                Some("external_account") => external_account::Builder::new(json).build(),
                other => {
                    return Err(Error::config(format!(
                        "providers.gcp.credentials_file: {path}: type {other:?} is not one of service_account, authorized_user, external_account"
                    )))
                }
            };
            return built.map_err(|e| {
                Error::config(format!("providers.gcp.credentials_file: {path}: {e}"))
            });
        }
        google_cloud_auth::credentials::Builder::default().build().map_err(|e| {
            Error::new(
                ErrorKind::PermissionDenied,
                format!("no Google credentials: {e} (set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or set providers.gcp.credentials_file)"),
            )
        })
    }

    /// The credentials, endpoint and retry rules every Google client of the plan is built with.
    pub(crate) fn google(&self) -> Result<Google> {
        // Google's clients bring no TLS provider of their own (their default one is off): ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let wide = GcpSettings::of(&self.base.plan, None)?;
        let endpoint = self.base.endpoint.clone().or(wide.endpoint.clone());
        Google::new(
            self.credentials(&wide)?,
            endpoint,
            self.base.attempts.unwrap_or(3),
            self.poll_interval,
            self.base.clock,
        )
    }

    /// Reads the GCP estate of `ctx` (`aegis-dr init`, `aegis-dr drift`) with this builder's
    /// endpoint and credentials: list calls only.
    pub async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        crate::discover::discover(ctx, self).await
    }

    /// Validates the plan's GCP settings and builds the clients its GCP resources need.
    pub async fn build(self) -> Result<GcpProviders> {
        self.validate()?;
        let p = &self.base.plan;
        let wide = GcpSettings::of(p, None)?;
        let g = self.google()?;
        let database = if p.databases.is_empty() {
            None
        } else {
            Some(Arc::new(CloudSql::new(
                g.clone(),
                configure!(
                    g,
                    google_cloud_sql_v1::client::SqlInstancesService::builder()
                ),
                configure!(
                    g,
                    google_cloud_sql_v1::client::SqlOperationsService::builder()
                ),
                configure!(
                    g,
                    google_cloud_sql_v1::client::SqlBackupRunsService::builder()
                ),
                self.pairs()?,
                self.operation_timeout,
                self.base.clock,
            )))
        };
        let dns = if p.dns_records.is_empty() {
            None
        } else {
            Some(Arc::new(CloudDns::new(
                configure!(
                    g,
                    google_cloud_dns_v1::client::ResourceRecordSets::builder()
                ),
                configure!(g, google_cloud_dns_v1::client::Changes::builder()),
                wide.project(None, "dns_records")?,
            )))
        };
        let nodes = if p.node_pools.is_empty() {
            None
        } else {
            let mut homes = BTreeMap::new();
            for site in [SiteRole::Primary, SiteRole::Dr] {
                if p.node_pools.iter().any(|n| n.site == site) {
                    let s = GcpSettings::of(p, Some(site))?;
                    let location = s.location.clone().ok_or_else(|| {
                        Error::config(format!("node_pools: no GKE location for the {site} site: set `location` in [sites.{site}.gcp]"))
                    })?;
                    homes.insert(site, (s.project(Some(site), "node_pools")?, location));
                }
            }
            Some(Arc::new(GkeNodes::new(
                configure!(
                    g,
                    google_cloud_container_v1::client::ClusterManager::builder()
                ),
                g.clone(),
                homes,
                self.operation_timeout,
            )))
        };
        Ok(GcpProviders {
            dns,
            database,
            nodes,
            health: Arc::new(HttpHealthProbe::new(self.base.probe_timeout)?),
        })
    }
}

/// The registry's GCP backend: validation, build and custom role of a plan's GCP resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpBackend;

#[async_trait::async_trait]
impl Backend for GcpBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            planned_promotion: true,
            forced_promotion: true,
            sync_dry_run: true,
            ..Capabilities::default()
        }
    }

    fn validate(&self, ctx: &BuildContext) -> Result<()> {
        GcpProviders::from_env(&ctx.plan).validate()
    }

    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet> {
        Ok(GcpProviders::from_env(&ctx.plan)
            .with_clock(ctx.clock)
            .build()
            .await?
            .set())
    }

    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        GcpProviders::from_env(&ctx.plan).discover(ctx).await
    }

    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions> {
        self.validate(ctx)?;
        let (role, projects) = crate::role::role_for(&ctx.plan)?;
        let projects: Vec<String> = projects.into_iter().collect();
        Ok(Permissions {
            format: "GCP custom IAM role (JSON)",
            document: serde_json::to_string_pretty(&role)
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?,
            notes: vec![
                format!(
                    "create it in each project ({}) with `gcloud iam roles create aegisDr --project PROJECT --file role.json` (JSON is YAML), then grant it to aegis-dr's service account",
                    projects.join(", ")
                ),
                format!(
                    "`aegis-dr init` and `drift` read more, list calls only: {}",
                    crate::role::DISCOVERY_PERMISSIONS.join(", ")
                ),
            ],
        })
    }
}

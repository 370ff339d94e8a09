//! [`AwsProviders::from_env`]: the builder that loads the aws-config chain (with the plan's AWS
//! settings), binds one client per service and region for the resources the plan puts on AWS, and
//! validates them in [`AwsProvidersBuilder::build`]; [`AwsBackend`] is its registry entry.

use std::{collections::BTreeMap, sync::Arc};

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery},
    provider::{
        Backend, BuildContext, BuilderBase, Capabilities, Clients, DatabaseFailover, DnsRouter,
        HttpHealthProbe, NodeScaler, Permissions, ProviderBuilder, ProviderSet, Providers,
        RecoveryService,
    },
    Error, ErrorKind, Plan, Result, SiteRole,
};
use aws_config::{retry::RetryConfig, sts::AssumeRoleProvider, BehaviorVersion, Region, SdkConfig};
use aws_sdk_route53::config::SharedCredentialsProvider;

use crate::{
    rds::PairSettings,
    settings::{region_of, valid_region, AwsSettings},
    DrsRecovery, EksNodes, RdsDatabases, Regional, Route53Dns,
};

/// Region Route 53 (a global service) is signed for.
pub(crate) const ROUTE53_REGION: &str = "us-east-1";

/// Builds [`AwsProviders`] for a plan.
#[derive(Debug, Clone)]
pub struct AwsProvidersBuilder {
    base: BuilderBase,
    regions: BTreeMap<SiteRole, String>,
    sdk_config: Option<SdkConfig>,
}

/// The AWS providers of one plan: a client for each service its AWS resources use, nothing else.
#[derive(Debug, Clone)]
pub struct AwsProviders {
    /// Route 53, when the plan has records on AWS.
    pub dns: Option<Arc<Route53Dns>>,
    /// RDS and CloudWatch, when the plan has database pairs on AWS.
    pub database: Option<Arc<RdsDatabases>>,
    /// EKS node groups and Auto Scaling groups, when the plan has node pools on AWS.
    pub nodes: Option<Arc<EksNodes>>,
    /// Elastic Disaster Recovery, when the plan lists recovery servers on AWS.
    pub recovery: Option<Arc<DrsRecovery>>,
    health: Arc<HttpHealthProbe>,
}

impl AwsProviders {
    /// A builder on the standard aws-config chain (with the plan's `[providers.aws]` and
    /// `[sites.<site>.aws]` settings), each site's resources in its AWS region.
    pub fn from_env(plan: &Plan) -> AwsProvidersBuilder {
        AwsProvidersBuilder {
            base: BuilderBase::new(plan),
            regions: BTreeMap::new(),
            sdk_config: None,
        }
    }

    /// The provider set `aws`. Workloads are not AWS's: a site's Kubernetes workloads come from
    /// the Kubernetes provider.
    pub fn set(&self) -> ProviderSet {
        let clients = Clients {
            dns: self.dns.clone().map(|d| d as Arc<dyn DnsRouter>),
            database: self
                .database
                .clone()
                .map(|d| d as Arc<dyn DatabaseFailover>),
            nodes: self.nodes.clone().map(|n| n as Arc<dyn NodeScaler>),
            recovery: self.recovery.clone().map(|r| r as Arc<dyn RecoveryService>),
            health: Some(self.health.clone()),
        };
        ProviderSet::of_clients("aws", clients, AwsBackend.capabilities())
    }

    /// The set alone as [`Providers`] (a plan all on AWS, Kubernetes aside).
    pub fn providers(&self) -> Providers {
        Providers::new().with(self.set())
    }
}

/// `with_endpoint` sends every service to one endpoint (an emulator; `AWS_ENDPOINT_URL` does the
/// same); `with_max_attempts` is the SDK's attempts per call before its error reaches aegis-dr's
/// own retries (default: the SDK's, 3).
impl ProviderBuilder for AwsProvidersBuilder {
    fn base_mut(&mut self) -> &mut BuilderBase {
        &mut self.base
    }
}

impl AwsProvidersBuilder {
    /// Overrides the region of a site (default: `[sites.<site>.aws] region`, else the site's region).
    pub fn with_region(mut self, site: SiteRole, region: impl Into<String>) -> Self {
        self.regions.insert(site, region.into());
        self
    }

    /// Uses this SDK configuration instead of loading the environment's (and the plan's profile
    /// and role settings).
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// The AWS region of `site` (for discovery).
    pub(crate) fn site_region(&self, site: SiteRole) -> Result<String> {
        self.region(site)
    }

    /// The SDK configuration for `settings` in `region` (for discovery).
    pub(crate) async fn config_for(&self, settings: &AwsSettings, region: &str) -> SdkConfig {
        self.sdk_config(settings, region).await
    }

    fn region(&self, site: SiteRole) -> Result<String> {
        match self.regions.get(&site) {
            Some(r) if valid_region(r) => Ok(r.clone()),
            Some(r) => Err(Error::config(format!(
                "sites.{site}.region: `{r}` is not an AWS region (like us-east-1)"
            ))),
            None => region_of(&self.base.plan, site),
        }
    }

    /// True when AWS serves something at `site` that needs its region (a database pair has an
    /// instance at each site; DRS recovers into the DR region and checks sources in the primary's).
    fn needs_site(&self, site: SiteRole) -> bool {
        let p = &self.base.plan;
        !p.databases.is_empty()
            || !p.recovery_servers.is_empty()
            || p.node_pools.iter().any(|n| n.site == site)
    }

    /// Checks the plan's AWS settings and resources without building anything.
    pub fn validate(&self) -> Result<()> {
        AwsSettings::of(&self.base.plan, None)?;
        for site in [SiteRole::Primary, SiteRole::Dr] {
            AwsSettings::of(&self.base.plan, Some(site))?;
            if self.needs_site(site) {
                self.region(site)?;
            }
        }
        if !self.base.plan.databases.is_empty() {
            let primary = self.region(SiteRole::Primary)?;
            for d in &self.base.plan.databases {
                PairSettings::from_spec(d, &primary)?;
            }
        }
        for s in &self.base.plan.recovery_servers {
            if !s.source_server_id.starts_with("s-") {
                return Err(Error::config(format!(
                    "recovery_servers.{}.source_server_id: `{}` is not a DRS source server id (s-...)",
                    s.name, s.source_server_id
                )));
            }
        }
        for p in &self.base.plan.node_pools {
            if p.autoscaling_group.as_deref().is_some_and(str::is_empty) {
                return Err(Error::config(format!(
                    "node_pools.{}.autoscaling_group: empty",
                    p.name
                )));
            }
        }
        Ok(())
    }

    /// The SDK configuration for `settings` in `region`: the environment's chain, the plan's
    /// profile and endpoint, then the role to assume.
    async fn sdk_config(&self, settings: &AwsSettings, region: &str) -> SdkConfig {
        if let Some(c) = &self.sdk_config {
            return c.clone();
        }
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = self
            .base
            .endpoint
            .as_ref()
            .or(settings.endpoint_url.as_ref())
        {
            loader = loader.endpoint_url(u);
        }
        let config = loader.load().await;
        let Some(role) = &settings.role_arn else {
            return config;
        };
        let mut assume = AssumeRoleProvider::builder(role)
            .session_name("aegis-dr")
            .region(Region::new(region.to_string()))
            .configure(&config);
        if let Some(x) = &settings.external_id {
            assume = assume.external_id(x);
        }
        let creds = SharedCredentialsProvider::new(assume.build().await);
        config.into_builder().credentials_provider(creds).build()
    }

    /// Validates the plan's AWS settings and builds the clients its AWS resources need.
    pub async fn build(self) -> Result<AwsProviders> {
        self.validate()?;
        let retry = self
            .base
            .attempts
            .map(|n| RetryConfig::standard().with_max_attempts(n.max(1)));
        macro_rules! client {
            ($krate:ident, $base:expr, $region:expr) => {{
                let mut b =
                    $krate::config::Builder::from($base).region(Region::new($region.to_string()));
                if let Some(r) = &retry {
                    b = b.retry_config(r.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        // Each site's configuration (credentials, region), for the sites AWS serves; a site
        // without AWS resources borrows the other's (its clients are never called).
        let mut sites = BTreeMap::new();
        for site in [SiteRole::Primary, SiteRole::Dr] {
            if self.needs_site(site) {
                let region = self.region(site)?;
                let settings = AwsSettings::of(&self.base.plan, Some(site))?;
                sites.insert(site, (self.sdk_config(&settings, &region).await, region));
            }
        }
        let site = |s: SiteRole| {
            sites
                .get(&s)
                .or_else(|| sites.get(&s.other()))
                .cloned()
                .ok_or_else(|| Error::config("no site has AWS resources"))
        };
        macro_rules! regional {
            ($krate:ident) => {{
                let (p, d) = (site(SiteRole::Primary)?, site(SiteRole::Dr)?);
                Regional::new(
                    (client!($krate, &p.0, p.1), p.1.clone()),
                    (client!($krate, &d.0, d.1), d.1.clone()),
                )
            }};
        }
        let plan = &self.base.plan;
        let dns = if plan.dns_records.is_empty() {
            None
        } else {
            let global = self
                .sdk_config(&AwsSettings::of(plan, None)?, ROUTE53_REGION)
                .await;
            Some(Arc::new(Route53Dns::new(client!(
                aws_sdk_route53,
                &global,
                ROUTE53_REGION
            ))))
        };
        let database = if plan.databases.is_empty() {
            None
        } else {
            let primary = site(SiteRole::Primary)?.1;
            let pairs = plan
                .databases
                .iter()
                .map(|d| PairSettings::from_spec(d, &primary))
                .collect::<Result<Vec<_>>>()?;
            Some(Arc::new(RdsDatabases::new(
                regional!(aws_sdk_rds),
                regional!(aws_sdk_cloudwatch),
                pairs,
                self.base.clock,
            )))
        };
        let nodes = if plan.node_pools.is_empty() {
            None
        } else {
            let asg_pools = plan
                .node_pools
                .iter()
                .filter_map(|p| {
                    p.autoscaling_group
                        .clone()
                        .map(|g| ((p.site, p.name.clone()), g))
                })
                .collect();
            Some(Arc::new(EksNodes::new(
                regional!(aws_sdk_eks),
                regional!(aws_sdk_autoscaling),
                asg_pools,
            )))
        };
        let recovery = if plan.recovery_servers.is_empty() {
            None
        } else {
            let (p, d) = (site(SiteRole::Primary)?, site(SiteRole::Dr)?);
            Some(Arc::new(DrsRecovery::new(
                client!(aws_sdk_drs, &d.0, d.1),
                client!(aws_sdk_ec2, &p.0, p.1),
                self.base.clock,
            )))
        };
        Ok(AwsProviders {
            dns,
            database,
            nodes,
            recovery,
            health: Arc::new(HttpHealthProbe::new(self.base.probe_timeout)?),
        })
    }
}

/// The registry's AWS backend: validation, build and IAM policy of a plan's AWS resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsBackend;

#[async_trait::async_trait]
impl Backend for AwsBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            planned_promotion: true,
            forced_promotion: true,
            sync_dry_run: true,
            dns_health_checks: true,
            recovery_service: true,
            integrity_check: false,
            snapshots: true,
        }
    }

    fn validate(&self, ctx: &BuildContext) -> Result<()> {
        AwsProviders::from_env(&ctx.plan).validate()
    }

    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet> {
        Ok(AwsProviders::from_env(&ctx.plan)
            .with_clock(ctx.clock)
            .build()
            .await?
            .set())
    }

    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions> {
        self.validate(ctx)?;
        let doc = crate::iam::policy_for(&ctx.plan)?;
        Ok(Permissions {
            format: "AWS IAM policy (JSON)",
            document: serde_json::to_string_pretty(&doc)
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?,
            notes: {
                let mut notes = crate::iam::unscoped_zone_notes(&ctx.plan);
                notes.push(format!(
                    "`aegis-dr init` and `drift` read more, list calls only: {}",
                    crate::iam::DISCOVERY_ACTIONS.join(", ")
                ));
                notes
            },
        })
    }

    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        crate::discover::discover(ctx).await
    }
}

//! [`AzureProviders::from_env`]: the builder that reads the plan's Azure settings, picks the
//! credentials, binds one ARM client and validates everything in
//! [`AzureProvidersBuilder::build`]; [`AzureBackend`] is its registry entry.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aegis_dr_core::{
    discover::{DiscoverContext, Discovery},
    provider::{
        Backend, BuildContext, BuilderBase, Capabilities, Clients, DatabaseFailover, DnsRouter,
        HttpHealthProbe, NodeScaler, Permissions, ProviderBuilder, ProviderSet, Providers,
    },
    Error, ErrorKind, Plan, Result, SiteRole,
};

use crate::{
    arm::Arm,
    credential::{IdentityChain, TokenSource},
    dns::TRAFFIC_MANAGER_ZONE,
    settings::AzureSettings,
    sql::GroupPair,
    AksNodes, AzureDns, SqlFailoverGroups,
};

/// Builds [`AzureProviders`] for a plan.
#[derive(Debug, Clone)]
pub struct AzureProvidersBuilder {
    base: BuilderBase,
    tokens: Option<Arc<dyn TokenSource>>,
    poll_interval: Option<Duration>,
    failover_timeout: Duration,
}

/// The Azure providers of one plan: a client for what its Azure resources use, nothing else.
#[derive(Debug, Clone)]
pub struct AzureProviders {
    /// Azure DNS and Traffic Manager, when the plan has records on Azure.
    pub dns: Option<Arc<AzureDns>>,
    /// SQL failover groups, when the plan has database pairs on Azure.
    pub database: Option<Arc<SqlFailoverGroups>>,
    /// AKS agent pools, when the plan has node pools on Azure.
    pub nodes: Option<Arc<AksNodes>>,
    health: Arc<HttpHealthProbe>,
}

impl AzureProviders {
    /// A builder on the plan's `[providers.azure]` and `[sites.<site>.azure]` settings and the
    /// official credential chain.
    pub fn from_env(plan: &Plan) -> AzureProvidersBuilder {
        AzureProvidersBuilder {
            base: BuilderBase::new(plan),
            tokens: None,
            poll_interval: None,
            failover_timeout: Duration::from_secs(15 * 60),
        }
    }

    /// The provider set `azure`.
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
        ProviderSet::of_clients("azure", clients, AzureBackend.capabilities())
    }

    /// The set alone as [`Providers`].
    pub fn providers(&self) -> Providers {
        Providers::new().with(self.set())
    }
}

impl ProviderBuilder for AzureProvidersBuilder {
    fn base_mut(&mut self) -> &mut BuilderBase {
        &mut self.base
    }
}

impl AzureProvidersBuilder {
    /// Uses these tokens instead of the credential chain (tests, tools that hold a token).
    pub fn with_token_source(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Pause between long-running-operation polls without `Retry-After` (default 5 s).
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = Some(d);
        self
    }

    /// Longest a failover-group failover is followed (default 15 min).
    pub fn with_failover_timeout(mut self, d: Duration) -> Self {
        self.failover_timeout = d;
        self
    }

    fn pairs(&self) -> Result<Vec<GroupPair>> {
        let p = &self.base.plan;
        self.base.pairs(
            |site| AzureSettings::of(p, Some(site)),
            |d, at, pri, dr| {
                GroupPair::from_spec(
                    d,
                    pri.group(Some(SiteRole::Primary), at)?,
                    dr.group(Some(SiteRole::Dr), at)?,
                )
            },
        )
    }

    /// Checks the plan's Azure settings and resources without building anything.
    pub fn validate(&self) -> Result<()> {
        let p = &self.base.plan;
        let wide = AzureSettings::of(p, None)?;
        self.pairs()?;
        for r in &p.dns_records {
            let at = format!("dns_records.{}", r.name);
            wide.group(None, &at)?;
            if let Some(h) = &r.health_check {
                return Err(Error::config(format!(
                    "{at}.health_check: `{h}`: Azure DNS has no health checks (a Traffic Manager profile monitors its endpoints itself)"
                )));
            }
            let tm = r
                .zone
                .trim_end_matches('.')
                .eq_ignore_ascii_case(TRAFFIC_MANAGER_ZONE);
            if tm && r.record_type != "CNAME" {
                return Err(Error::config(format!(
                    "{at}.type: a Traffic Manager profile answers with a CNAME, not {}",
                    r.record_type
                )));
            }
            if !tm && r.record_type == "ALIAS" {
                return Err(Error::config(format!(
                    "{at}.type: ALIAS is Route 53's; Azure DNS records here are CNAME, A or AAAA"
                )));
            }
            crate::dns::relative_name(&r.name, &r.zone).map_err(|e| e.context(&at))?;
        }
        for n in &p.node_pools {
            let at = format!("node_pools.{}", n.name);
            if n.autoscaling_group.is_some() {
                return Err(Error::config(format!(
                    "{at}.autoscaling_group: an AWS setting; an AKS pool is scaled through its agent pool"
                )));
            }
            AzureSettings::of(p, Some(n.site))?.group(Some(n.site), &at)?;
        }
        Ok(())
    }

    /// The Resource Manager client the plan's Azure settings name, with its credentials.
    pub(crate) fn arm(&self) -> Result<Arm> {
        let wide = AzureSettings::of(&self.base.plan, None)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::new(ErrorKind::Provider, format!("HTTP client: {e}")))?;
        let tokens: Arc<dyn TokenSource> = match &self.tokens {
            Some(t) => t.clone(),
            None => Arc::new(IdentityChain::new(
                wide.credential,
                wide.cloud.clone(),
                wide.client_id.as_deref(),
                http.clone(),
            )?),
        };
        let endpoint = self.base.endpoint.clone().unwrap_or(wide.endpoint.clone());
        let mut arm = Arm::new(
            http,
            &endpoint,
            wide.scope.clone(),
            tokens,
            self.base.attempts.unwrap_or(3),
            self.base.clock,
        );
        if let Some(d) = self.poll_interval {
            arm = arm.with_poll_interval(d);
        }
        Ok(arm)
    }

    /// Reads the Azure estate of `ctx` (`aegis-dr init`, `aegis-dr drift`) with this builder's
    /// endpoint and credentials: list calls only.
    pub async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        crate::discover::discover(ctx, &self.arm()?).await
    }

    /// Validates the plan's Azure settings and builds the clients its Azure resources need.
    pub async fn build(self) -> Result<AzureProviders> {
        self.validate()?;
        let p = &self.base.plan;
        let wide = AzureSettings::of(p, None)?;
        let arm = self.arm()?;
        let database = if p.databases.is_empty() {
            None
        } else {
            Some(Arc::new(SqlFailoverGroups::new(
                arm.clone(),
                self.pairs()?,
                self.failover_timeout,
                self.base.clock,
            )))
        };
        let dns = if p.dns_records.is_empty() {
            None
        } else {
            Some(Arc::new(AzureDns::new(
                arm.clone(),
                wide.group(None, "dns_records")?,
            )))
        };
        let nodes = if p.node_pools.is_empty() {
            None
        } else {
            let mut groups = BTreeMap::new();
            for site in [SiteRole::Primary, SiteRole::Dr] {
                if p.node_pools.iter().any(|n| n.site == site) {
                    groups.insert(
                        site,
                        AzureSettings::of(p, Some(site))?.group(Some(site), "node_pools")?,
                    );
                }
            }
            Some(Arc::new(AksNodes::new(arm.clone(), groups)))
        };
        Ok(AzureProviders {
            dns,
            database,
            nodes,
            health: Arc::new(HttpHealthProbe::new(self.base.probe_timeout)?),
        })
    }
}

/// The registry's Azure backend: validation, build and custom role of a plan's Azure resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureBackend;

#[async_trait::async_trait]
impl Backend for AzureBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            planned_promotion: true,
            forced_promotion: true,
            sync_dry_run: true,
            ..Capabilities::default()
        }
    }

    fn validate(&self, ctx: &BuildContext) -> Result<()> {
        AzureProviders::from_env(&ctx.plan).validate()
    }

    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet> {
        Ok(AzureProviders::from_env(&ctx.plan)
            .with_clock(ctx.clock)
            .build()
            .await?
            .set())
    }

    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        AzureProviders::from_env(&ctx.plan).discover(ctx).await
    }

    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions> {
        self.validate(ctx)?;
        let doc = crate::role::role_for(&ctx.plan)?;
        Ok(Permissions {
            format: "Azure custom role definition (JSON)",
            document: serde_json::to_string_pretty(&doc)
                .map_err(|e| Error::new(ErrorKind::Provider, e.to_string()))?,
            notes: vec![
                "create it with `az role definition create --role-definition @role.json`, then assign it to aegis-dr's identity at each of its AssignableScopes".into(),
                format!(
                    "`aegis-dr init` and `drift` read more, list calls only: {}",
                    crate::role::DISCOVERY_ACTIONS.join(", ")
                ),
            ],
        })
    }
}

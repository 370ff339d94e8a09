//! [`AwsProviders::from_env`]: the builder that loads the aws-config chain, binds one client per
//! service and region, and validates the plan's AWS settings in [`AwsProvidersBuilder::build`].

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aegis_dr_core::{
    provider::{Capabilities, HttpHealthProbe, NoWorkloads, Providers, SiteProviders},
    Error, Plan, Result, SiteRole,
};
use aws_config::{retry::RetryConfig, BehaviorVersion, Region, SdkConfig};

use crate::{rds::PairSettings, DrsRecovery, EksNodes, RdsDatabases, Regional, Route53Dns};

/// Region Route 53 (a global service) is signed for.
const ROUTE53_REGION: &str = "us-east-1";

/// Builds [`AwsProviders`] for a plan.
#[derive(Debug, Clone)]
pub struct AwsProvidersBuilder {
    plan: Plan,
    regions: BTreeMap<SiteRole, String>,
    endpoint_url: Option<String>,
    sdk_config: Option<SdkConfig>,
    max_attempts: Option<u32>,
    probe_timeout: Duration,
}

/// The AWS providers of one plan.
#[derive(Debug, Clone)]
pub struct AwsProviders {
    /// Route 53.
    pub dns: Arc<Route53Dns>,
    /// RDS and CloudWatch.
    pub database: Arc<RdsDatabases>,
    /// EKS node groups and Auto Scaling groups of both sites.
    pub nodes: Arc<EksNodes>,
    /// Elastic Disaster Recovery, when the plan lists recovery servers.
    pub recovery: Option<Arc<DrsRecovery>>,
    health: Arc<HttpHealthProbe>,
    has_databases: bool,
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

impl AwsProviders {
    /// A builder on the standard aws-config chain, with each site in the region the plan names.
    pub fn from_env(plan: &Plan) -> AwsProvidersBuilder {
        AwsProvidersBuilder {
            plan: plan.clone(),
            regions: BTreeMap::new(),
            endpoint_url: None,
            sdk_config: None,
            max_attempts: None,
            probe_timeout: Duration::from_secs(5),
        }
    }

    /// The provider set for the orchestrator. Workloads are served by nothing (a site with
    /// Kubernetes workloads gets them from the Kubernetes provider; the facade wires that in).
    pub fn providers(&self) -> Providers {
        let site = SiteProviders {
            nodes: self.nodes.clone(),
            workloads: Arc::new(NoWorkloads),
            health: self.health.clone(),
        };
        Providers {
            primary: site.clone(),
            dr: site,
            database: self.database.clone(),
            dns: self.dns.clone(),
            recovery: self
                .recovery
                .clone()
                .map(|r| r as Arc<dyn aegis_dr_core::provider::RecoveryService>),
            capabilities: Capabilities {
                planned_promotion: self.has_databases,
                forced_promotion: self.has_databases,
                sync_dry_run: self.has_databases,
                dns_health_checks: true,
                recovery_service: self.recovery.is_some(),
                integrity_check: false,
            },
            estimates: None,
        }
    }
}

impl AwsProvidersBuilder {
    /// Overrides the region of a site (default: the plan's `sites.<site>.region`).
    pub fn with_region(mut self, site: SiteRole, region: impl Into<String>) -> Self {
        self.regions.insert(site, region.into());
        self
    }

    /// Sends every service to one endpoint (an emulator); `AWS_ENDPOINT_URL` does the same.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses this SDK configuration instead of loading the environment's.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// Attempts the SDK makes per call before its error reaches aegis-dr's own retries (default 3).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Timeout of each health-endpoint request (default 5 s).
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    fn region(&self, site: SiteRole) -> Result<String> {
        let r = self
            .regions
            .get(&site)
            .cloned()
            .unwrap_or_else(|| self.plan.site(site).region.clone());
        if !valid_region(&r) {
            return Err(Error::config(format!(
                "sites.{site}.region: `{r}` is not an AWS region (like us-east-1)"
            )));
        }
        Ok(r)
    }

    /// Validates the plan's AWS settings and builds the clients.
    pub async fn build(self) -> Result<AwsProviders> {
        let regions = (self.region(SiteRole::Primary)?, self.region(SiteRole::Dr)?);
        let pairs = self
            .plan
            .databases
            .iter()
            .map(|d| PairSettings::from_spec(d, &regions.0))
            .collect::<Result<Vec<_>>>()?;
        for s in &self.plan.recovery_servers {
            if !s.source_server_id.starts_with("s-") {
                return Err(Error::config(format!(
                    "recovery_servers.{}.source_server_id: `{}` is not a DRS source server id (s-...)",
                    s.name, s.source_server_id
                )));
            }
        }
        let mut asg_pools = BTreeMap::new();
        for p in &self.plan.node_pools {
            if let Some(g) = &p.autoscaling_group {
                if g.is_empty() {
                    return Err(Error::config(format!(
                        "node_pools.{}.autoscaling_group: empty",
                        p.name
                    )));
                }
                asg_pools.insert((p.site, p.name.clone()), g.clone());
            }
        }
        let base = match self.sdk_config.clone() {
            Some(c) => c,
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(regions.0.clone()));
                if let Some(u) = &self.endpoint_url {
                    loader = loader.endpoint_url(u);
                }
                loader.load().await
            }
        };
        let retry = self
            .max_attempts
            .map(|n| RetryConfig::standard().with_max_attempts(n.max(1)));

        macro_rules! client {
            ($krate:ident, $region:expr) => {{
                let mut b =
                    $krate::config::Builder::from(&base).region(Region::new($region.to_string()));
                if let Some(r) = &retry {
                    b = b.retry_config(r.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        macro_rules! regional {
            ($krate:ident) => {
                Regional::new(
                    (client!($krate, regions.0), regions.0.clone()),
                    (client!($krate, regions.1), regions.1.clone()),
                )
            };
        }

        let recovery = (!self.plan.recovery_servers.is_empty()).then(|| {
            Arc::new(DrsRecovery::new(
                client!(aws_sdk_drs, regions.1),
                client!(aws_sdk_ec2, regions.0),
            ))
        });
        Ok(AwsProviders {
            dns: Arc::new(Route53Dns::new(client!(aws_sdk_route53, ROUTE53_REGION))),
            database: Arc::new(RdsDatabases::new(
                regional!(aws_sdk_rds),
                regional!(aws_sdk_cloudwatch),
                pairs,
            )),
            nodes: Arc::new(EksNodes::new(
                regional!(aws_sdk_eks),
                regional!(aws_sdk_autoscaling),
                asg_pools,
            )),
            recovery,
            health: Arc::new(HttpHealthProbe::new(self.probe_timeout)?),
            has_databases: !self.plan.databases.is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_region;

    #[test]
    fn regions_are_validated() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "eastus",
            "us-east-1a",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}

//! The provider registry: every provider aegis-dr knows, with its cargo feature and backend. The
//! facade ([`crate::providers_for`]), the CLI (`aegis-dr providers`, `aegis-dr permissions`) and
//! the error texts ask it; adding a provider is one crate and one entry in [`REGISTRY`].

use aegis_dr_core::{
    plan::{Plan, ProviderName, KUBERNETES},
    provider::Backend,
    Error, Result,
};

/// How a provider is implemented in this build.
#[derive(Debug, Clone, Copy)]
pub enum Implementation {
    /// The simulated estate (feature `sim`; one world plays every name it serves).
    Simulated,
    /// A backend crate, compiled in.
    Backend(&'static dyn Backend),
    /// A backend crate this build left out: its cargo feature is off.
    FeatureOff,
}

/// One provider aegis-dr knows.
#[derive(Debug, Clone, Copy)]
pub struct ProviderDescriptor {
    /// The name plans use.
    pub name: &'static str,
    /// The cargo feature of the `aegis-dr` crate (and the CLI) that builds it in.
    pub feature: Option<&'static str>,
    /// What it serves, in a few words.
    pub serves: &'static str,
    /// Its implementation in this build.
    pub implementation: Implementation,
}

#[cfg(feature = "sim")]
const SIM: Implementation = Implementation::Simulated;
#[cfg(not(feature = "sim"))]
const SIM: Implementation = Implementation::FeatureOff;

#[cfg(feature = "aws")]
const AWS: Implementation = Implementation::Backend(&aegis_dr_provider_aws::AwsBackend);
#[cfg(not(feature = "aws"))]
const AWS: Implementation = Implementation::FeatureOff;

#[cfg(feature = "azure")]
const AZURE: Implementation = Implementation::Backend(&aegis_dr_provider_azure::AzureBackend);
#[cfg(not(feature = "azure"))]
const AZURE: Implementation = Implementation::FeatureOff;

#[cfg(feature = "gcp")]
const GCP: Implementation = Implementation::Backend(&aegis_dr_provider_gcp::GcpBackend);
#[cfg(not(feature = "gcp"))]
const GCP: Implementation = Implementation::FeatureOff;

#[cfg(feature = "postgres")]
const POSTGRES: Implementation =
    Implementation::Backend(&aegis_dr_provider_postgres::PostgresBackend);
#[cfg(not(feature = "postgres"))]
const POSTGRES: Implementation = Implementation::FeatureOff;

#[cfg(feature = "kubernetes")]
const KUBE: Implementation =
    Implementation::Backend(&aegis_dr_provider_kubernetes::KubernetesBackend);
#[cfg(not(feature = "kubernetes"))]
const KUBE: Implementation = Implementation::FeatureOff;

/// Every provider, in the order `aegis-dr providers` lists them.
pub const REGISTRY: &[ProviderDescriptor] = &[
    ProviderDescriptor {
        name: "sim",
        feature: Some("sim"),
        serves: "the simulated estate: every capability, no cloud (`[sim] plays` names other providers it stands in for)",
        implementation: SIM,
    },
    ProviderDescriptor {
        name: "aws",
        feature: Some("aws"),
        serves: "Route 53, RDS (replicas, Multi-AZ, Aurora global), EKS node groups / Auto Scaling, Elastic Disaster Recovery",
        implementation: AWS,
    },
    ProviderDescriptor {
        name: KUBERNETES,
        feature: Some("kubernetes"),
        serves: "Deployments and StatefulSets of sites with `kubeconfig`/`context`",
        implementation: KUBE,
    },
    ProviderDescriptor {
        name: "azure",
        feature: Some("azure"),
        serves: "SQL failover groups, Traffic Manager, Azure DNS, AKS node pools",
        implementation: AZURE,
    },
    ProviderDescriptor {
        name: "gcp",
        feature: Some("gcp"),
        serves: "Cloud SQL (DR replica switchover / promotion, HA failover), Cloud DNS, GKE node pools",
        implementation: GCP,
    },
    ProviderDescriptor {
        name: "postgres",
        feature: Some("postgres"),
        serves: "self-managed PostgreSQL streaming-replication pairs: fence, promotion with an LSN proof, rejoin",
        implementation: POSTGRES,
    },
];

/// The descriptor of `name`.
pub fn descriptor(name: &str) -> Option<&'static ProviderDescriptor> {
    REGISTRY.iter().find(|d| d.name == name)
}

/// Every place the plan names a provider: (field, name), in file order.
pub fn provider_fields(plan: &Plan) -> Vec<(String, ProviderName)> {
    let mut out = Vec::new();
    for (role, site) in [("primary", &plan.primary), ("dr", &plan.dr)] {
        out.push((format!("sites.{role}.provider"), site.provider.clone()));
        if site.uses_kubernetes() {
            out.push((
                format!("sites.{role}.kubeconfig/context"),
                site.workloads_provider(),
            ));
        }
        for name in site.settings.keys() {
            out.push((format!("[sites.{role}.{name}]"), name.clone()));
        }
    }
    for name in plan.providers.keys() {
        out.push((format!("[providers.{name}]"), name.clone()));
    }
    let mut entries = |table: &str, items: Vec<(&str, &ProviderName)>| {
        for (i, (n, p)) in items.into_iter().enumerate() {
            out.push((format!("{table}[{i}] (`{n}`).provider"), p.clone()));
        }
    };
    entries(
        "databases",
        plan.databases
            .iter()
            .map(|d| (d.name.as_str(), &d.provider))
            .collect(),
    );
    entries(
        "dns_records",
        plan.dns_records
            .iter()
            .map(|d| (d.name.as_str(), &d.provider))
            .collect(),
    );
    entries(
        "node_pools",
        plan.node_pools
            .iter()
            .map(|d| (d.name.as_str(), &d.provider))
            .collect(),
    );
    entries(
        "recovery_servers",
        plan.recovery_servers
            .iter()
            .map(|d| (d.name.as_str(), &d.provider))
            .collect(),
    );
    entries(
        "health_endpoints",
        plan.health_endpoints
            .iter()
            .map(|d| (d.name.as_str(), &d.provider))
            .collect(),
    );
    for (i, p) in plan.sim.plays.iter().enumerate() {
        out.push((format!("sim.plays[{i}]"), p.clone()));
    }
    if let Some(f) = &plan.fault_injection {
        for (i, p) in f.providers.iter().enumerate() {
            out.push((format!("fault_injection.providers[{i}]"), p.clone()));
        }
    }
    out
}

/// The first plan entry naming `name`, for error messages.
pub fn first_use(plan: &Plan, name: &ProviderName) -> String {
    provider_fields(plan)
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(field, _)| field)
        .unwrap_or_else(|| format!("provider `{name}`"))
}

/// Checks that every provider the plan names is one aegis-dr knows (built in this build or not),
/// naming the first field with an unknown one. The plan's other checks are the backends' own.
pub fn check_names(plan: &Plan) -> Result<()> {
    for (field, name) in provider_fields(plan) {
        if descriptor(name.as_str()).is_none() {
            return Err(Error::config(format!(
                "{field}: unknown provider `{name}` (known: {})",
                REGISTRY
                    .iter()
                    .map(|d| d.name)
                    .filter(|n| *n != KUBERNETES)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// The backend of `name` in this build, or a config error (exit 2) saying why there is none:
/// it is unknown, or its feature is off (naming it).
pub fn backend_of(plan: &Plan, name: &ProviderName) -> Result<&'static dyn Backend> {
    let Some(d) = descriptor(name.as_str()) else {
        return Err(Error::config(format!(
            "{}: unknown provider `{name}` (known: {})",
            first_use(plan, name),
            REGISTRY
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    match d.implementation {
        Implementation::Backend(b) => Ok(b),
        Implementation::FeatureOff => Err(Error::config(format!(
            "{}: provider `{name}` is not in this build of aegis-dr: rebuild with the `{}` cargo feature",
            first_use(plan, name),
            d.feature.unwrap_or(d.name)
        ))),
        Implementation::Simulated => Err(Error::config(format!(
            "{}: `{name}` is the simulated estate, not a backend",
            first_use(plan, name)
        ))),
    }
}

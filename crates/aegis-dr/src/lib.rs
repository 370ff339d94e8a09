//! aegis-dr: disaster-recovery failover and failback as a library.
//!
//! This is the one crate to depend on. It re-exports the core (plan model, provider traits,
//! orchestrator, journal, reports) and builds the providers a plan names through the [`registry`]:
//! each resource (database pair, DNS record, node pool, recovery server, health endpoint) on the
//! provider its plan entry names, so one plan can span clouds. The simulated estate (feature
//! `sim`), AWS (`aws`), Azure (`azure`), Kubernetes workloads (`kubernetes`) and GCP (`gcp`) are
//! default features, and so is keeping runs in an object store (`object-store`: [`open_state`]).
//!
//! ```no_run
//! # async fn demo() -> aegis_dr::Result<()> {
//! use aegis_dr::{orchestrator::{Orchestrator, RunRequest}, journal::{Operation, RunFlags}, IncidentClass, Plan};
//! let plan = Plan::load("examples/aegis.toml".as_ref())?;
//! let state = aegis_dr::open_state(".aegis", &plan.state)?; // or "s3://bucket/prefix"
//! let providers = aegis_dr::providers_for(&plan, &state, aegis_dr::clock::Clock::new()).await?;
//! let outcome = Orchestrator::new(plan, providers, state)
//!     .run(RunRequest { operation: Operation::Drill, class: IncidentClass::RegionOutage, flags: RunFlags::default(), resume: None, abandon: None })
//!     .await?;
//! println!("{}", outcome.report.to_markdown());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

/// The surface an application embedding aegis-dr uses: the plan, the orchestrator and its run
/// model, the views of runs (reports, listings, controls), the controller, and the provider traits
/// with their layers. Provider authors depend on `aegis-dr-core` itself (waits, retries, the
/// conformance suite).
pub use aegis_dr_core::{
    checks, clock, control, controller, discover, duration, error, estate, journal, layer, migrate,
    notify, orchestrator, plan, provider, readiness, report, retry, run, runs, store, write_atomic,
    Error, ErrorKind, IncidentClass, Plan, Result, SiteRole, Targets,
};

/// The simulated estate (feature `sim`).
#[cfg(feature = "sim")]
pub use aegis_dr_provider_sim as sim;

pub mod registry;

use std::sync::Arc;

use aegis_dr_core::{
    layer::{FaultLayer, TimeoutLayer},
    plan::ProviderName,
    provider::{BuildContext, Permissions, Providers},
    store::State,
};

#[cfg(feature = "kubernetes")]
pub use aegis_dr_provider_kubernetes as kubernetes;

#[cfg(feature = "aws")]
pub use aegis_dr_provider_aws as aws;

/// Self-managed PostgreSQL pairs (feature `postgres`).
#[cfg(feature = "postgres")]
pub use aegis_dr_provider_postgres as postgres;

/// Picks `ring` as the process's rustls crypto provider, unless the program already chose one.
/// Needed when two TLS stacks share the process (kube's ring and the AWS SDK's aws-lc-rs): rustls
/// cannot choose by itself. [`providers_for`] calls it; so does the CLI before any client exists.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The build context of provider `name` for `plan`.
fn context(plan: &Plan, name: &ProviderName, state: &State, clock: clock::Clock) -> BuildContext {
    BuildContext {
        name: name.clone(),
        plan: plan.for_provider(name),
        state: state.clone(),
        clock,
    }
}

/// Opens where runs keep their state: an object store URL (`s3://bucket/prefix`,
/// `gs://bucket/prefix`, `az://container/prefix`; feature `object-store`) or a folder, its locks
/// held for the plan's `[state] lease`.
pub fn open_state(spec: &str, settings: &plan::StateSettings) -> Result<State> {
    let terms = store::LeaseTerms {
        ttl: settings.lease,
    };
    if let Some((scheme, _)) = spec.split_once("://") {
        #[cfg(feature = "object-store")]
        if aegis_dr_store_object::is_store_url(spec) {
            return aegis_dr_store_object::open(spec, terms);
        }
        #[cfg(not(feature = "object-store"))]
        let _ = terms;
        return Err(Error::config(format!(
            "state `{spec}`: {}",
            if ["s3", "gs", "az"].contains(&scheme) {
                "this build of aegis-dr has no object store (rebuild with the `object-store` cargo feature)".to_string()
            } else {
                format!(
                    "unknown scheme `{scheme}://`: name a bucket (s3://, gs://, az://) or a folder"
                )
            }
        )));
    }
    Ok(State::Folder(std::path::PathBuf::from(spec)))
}

/// Builds the providers the plan's resources name: the simulated estate once for every name it
/// serves (`sim` and `[sim] plays`), and each other provider from its registry backend, validated
/// first (all of them, before anything is built), each wrapped in a call timeout
/// (`execution.call_timeout`) and in `[fault_injection]` where the plan asks for it.
pub async fn providers_for(plan: &Plan, state: &State, clock: clock::Clock) -> Result<Providers> {
    install_crypto_provider();
    registry::check_names(plan)?;
    let names = plan.provider_names();
    let (simulated, real): (Vec<_>, Vec<_>) = names.iter().partition(|n| plan.sim_serves(n));
    let backends = real
        .iter()
        .map(|name| {
            let backend = registry::backend_of(plan, name)?;
            let ctx = context(plan, name, state, clock);
            backend.validate(&ctx)?;
            Ok((backend, ctx))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut providers = if simulated.is_empty() {
        Providers::new()
    } else {
        simulated_estate(plan, state, clock)?
    };
    if !plan.runs_on_sim() {
        providers.estimates = None;
    }
    let faults = match &plan.fault_injection {
        Some(f) => Some(Arc::new(
            FaultLayer::new(f.transient_rate, f.seed, f.faults.clone()).persisted(
                state.clone(),
                &format!("{}.fault-injection.json", plan.name),
            )?,
        )),
        None => None,
    };
    for (backend, ctx) in backends {
        let mut set = backend
            .build(&ctx)
            .await?
            .layer(TimeoutLayer::new(plan.execution.call_timeout));
        if let (Some(layer), Some(f)) = (&faults, &plan.fault_injection) {
            if f.providers.is_empty() || f.providers.contains(&ctx.name) {
                set = set.layer_shared(layer.clone());
            }
        }
        providers.insert(set);
    }
    Ok(providers)
}

/// Reads the estate of `plan`'s sites (`aegis-dr init`, `aegis-dr drift`): each site's provider,
/// Kubernetes for a site with a cluster context, and the providers `[discovery]` names (`also_read`,
/// a PostgreSQL pair), in `plan.discovery`'s scope. A provider that cannot read its estate (the
/// simulated one) is an error naming it: an estate read in part would call everything else drift,
/// or miss it.
pub async fn discover(plan: &Plan) -> Result<Vec<discover::Discovery>> {
    install_crypto_provider();
    let mut names: Vec<ProviderName> = Vec::new();
    for site in [&plan.primary, &plan.dr] {
        for n in [site.provider.clone(), site.workloads_provider()] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    if plan
        .discovery
        .as_ref()
        .is_some_and(|d| d.postgres.is_some())
    {
        names.push(ProviderName(plan::POSTGRES.into()));
    }
    for n in plan.discovery.iter().flat_map(|d| &d.also_read) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let scope = plan
        .discovery
        .as_ref()
        .map(discover::Scope::from)
        .unwrap_or_default();
    let (simulated, names): (Vec<_>, Vec<_>) = names.into_iter().partition(|n| plan.sim_serves(n));
    if names.is_empty() {
        return Err(Error::config(format!(
            "`{}` is served by the simulated estate, which has no estate of its own to read: name real providers' sites (for example --aws-regions us-east-1,us-west-2)",
            simulated.first().map(ProviderName::as_str).unwrap_or("sim")
        )));
    }
    let mut out = Vec::new();
    for name in names {
        let backend = registry::backend_of(plan, &name)?;
        let ctx = discover::DiscoverContext {
            name: name.clone(),
            plan: plan.clone(),
            scope: scope.clone(),
        };
        out.push(
            backend
                .discover(&ctx)
                .await
                .map_err(|e| e.or_provider(name.as_str()))?,
        );
    }
    Ok(out)
}

/// The controller's drift source: [`discover()`] of the plan, compared with it.
#[derive(Debug, Clone)]
pub struct PlanDrift(pub Plan);

#[async_trait::async_trait]
impl discover::DriftSource for PlanDrift {
    async fn drift(&self) -> Result<Vec<discover::Drift>> {
        Ok(discover::drift(&self.0, &discover(&self.0).await?))
    }
}

/// The simulated estate's providers for every name it serves.
#[cfg(feature = "sim")]
fn simulated_estate(plan: &Plan, state: &State, clock: clock::Clock) -> Result<Providers> {
    // Real time here: the simulated latency runs on the precise timer.
    Arc::new(sim::SimProvider::open(plan, state.clone(), clock)?.with_precise_latency()).providers()
}

#[cfg(not(feature = "sim"))]
fn simulated_estate(_: &Plan, _: &State, _: clock::Clock) -> Result<Providers> {
    Err(Error::config(
        "the plan runs on the simulated estate, which is not in this build of aegis-dr: rebuild with the `sim` cargo feature",
    ))
}

/// The estimates a run of `plan` uses, known without building its providers: the simulated
/// estate's own timings for a plan it serves, else the plan's `[estimates]`.
pub fn plan_estimates(plan: &Plan) -> plan::Estimates {
    #[cfg(feature = "sim")]
    if plan.runs_on_sim() {
        return sim::SimProvider::estimates_of(&plan.sim);
    }
    plan.estimates.clone()
}

/// The least-privilege permissions the plan needs of each provider it uses (or of `only`), in each
/// provider's own format. The simulated estate and names it plays need none and are left out.
pub fn permissions_for(
    plan: &Plan,
    only: Option<&str>,
) -> Result<Vec<(ProviderName, Permissions)>> {
    let names: Vec<ProviderName> = match only {
        Some(p) => {
            let name = ProviderName(p.to_string());
            if !plan.provider_names().contains(&name) {
                return Err(Error::config(format!(
                    "permissions: the plan puts nothing on `{p}` (it uses: {}); pass --provider {p} to see what it would need there",
                    plan.provider_names()
                        .iter()
                        .map(ProviderName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            vec![name]
        }
        None => plan.provider_names().into_iter().collect(),
    };
    let state = State::Folder(".".into());
    names
        .into_iter()
        .filter(|n| !plan.sim_serves(n))
        .map(|name| {
            let backend = registry::backend_of(plan, &name)?;
            let perms = backend.permissions(&context(plan, &name, &state, clock::Clock::new()))?;
            Ok((name, perms))
        })
        .collect()
}

/// The leadership `aegis-dr watch` acts under: the plan's `[watch.lease]` (a Kubernetes `Lease`,
/// feature `kubernetes`) or else the state's: the folder's controller lock, or a lease in the store.
pub async fn leadership_for(
    plan: &Plan,
    state: &State,
    identity: &str,
) -> Result<Arc<dyn controller::Leadership>> {
    match &plan.watch.lease {
        None => Ok(controller::leader::for_state(state, &plan.name, identity)),
        #[cfg(feature = "kubernetes")]
        Some(l) => {
            install_crypto_provider();
            Ok(Arc::new(
                kubernetes::LeaseLeader::new(l, identity).await?,
            ))
        }
        #[cfg(not(feature = "kubernetes"))]
        Some(_) => Err(Error::config(
            "watch.lease: this build of aegis-dr has no Kubernetes provider (rebuild with the `kubernetes` cargo feature)",
        )),
    }
}

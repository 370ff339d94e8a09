//! What a provider crate offers the registry: a [`Backend`] that validates its part of a plan,
//! builds its [`ProviderSet`], and says which permissions the plan needs of it.

use async_trait::async_trait;

use crate::{
    clock::Clock,
    discover::{DiscoverContext, Discovery},
    error::{Error, Result},
    plan::{Plan, ProviderName},
    provider::{Capabilities, ProviderSet},
    store::State,
};

/// What a backend builds from.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The name the plan uses for the provider.
    pub name: ProviderName,
    /// The plan as this provider sees it ([`Plan::for_provider`]): only the resources it serves.
    pub plan: Plan,
    /// Where runs keep their state (a folder, or a store).
    pub state: State,
    /// The clock of the run.
    pub clock: Clock,
}

/// A least-privilege policy document, in the provider's own format.
#[derive(Debug, Clone, PartialEq)]
pub struct Permissions {
    /// What the document is (`AWS IAM policy (JSON)`, `Kubernetes RBAC (YAML)`, ...).
    pub format: &'static str,
    /// The document itself, ready to paste.
    pub document: String,
    /// What the document cannot express (unscoped resources and why), for the terminal.
    pub notes: Vec<String>,
}

/// One provider implementation, as the registry sees it.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// What it supports, for the conformance suite and the `providers` listing.
    fn capabilities(&self) -> Capabilities;
    /// Checks the plan's settings and resources for this provider (its view of the plan), naming
    /// the offending field. Run before anything is built.
    fn validate(&self, ctx: &BuildContext) -> Result<()>;
    /// Builds the clients.
    async fn build(&self, ctx: &BuildContext) -> Result<ProviderSet>;
    /// The permissions its part of the plan needs, in its own format.
    fn permissions(&self, ctx: &BuildContext) -> Result<Permissions>;
    /// Reads the estate for `aegis-dr init` and `aegis-dr drift`: the resources in `ctx`'s scope as
    /// plan entries. A provider that cannot read its estate says so.
    async fn discover(&self, ctx: &DiscoverContext) -> Result<Discovery> {
        Err(Error::config(format!(
            "provider `{}`: `aegis-dr init` cannot read its estate yet (write its entries by hand)",
            ctx.name
        )))
    }
}

//! aegis-dr's Kubernetes provider: [`WorkloadScaler`] for Deployments and StatefulSets on the real
//! `kube` client, one client per site from a kubeconfig file and context.
//!
//! Scaling goes through the `scale` subresource; annotations are changed with JSON merge patches
//! (a `null` value removes one). API errors map to core errors at this boundary: 404 not found,
//! 409 conflict (temporary, so the orchestrator retries), 401/403 permission denied naming the verb
//! and resource, 429 throttled, 5xx and connection failures temporary (unreachable).
//!
//! TLS is rustls; the program picks its process-wide crypto provider (the `aegis-dr` facade
//! installs `ring` before it builds clients), as a library must not.
#![forbid(unsafe_code)]
// Library crates document their public items (the CLI, simulators and test servers need not).
#![warn(missing_docs)]

mod backend;
mod discover;
mod error;
mod lease;
pub mod migration;
mod workloads;

pub use backend::{rbac_for, KubernetesBackend};
pub use lease::LeaseLeader;
pub use workloads::{KubeSite, KubernetesBuilder, KubernetesWorkloads};

/// Builds a client for one kubeconfig file (`None`: `KUBECONFIG` or `~/.kube/config`) and context
/// (`None`: its current context); `what` names the setting in errors (a flag or a plan field).
pub async fn client_for(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
    what: &str,
) -> aegis_dr_core::Result<kube::Client> {
    client_with_timeout(
        kubeconfig,
        context,
        what,
        std::time::Duration::from_secs(30),
    )
    .await
}

pub(crate) async fn client_with_timeout(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
    what: &str,
    timeout: std::time::Duration,
) -> aegis_dr_core::Result<kube::Client> {
    use aegis_dr_core::Error;
    let opts = kube::config::KubeConfigOptions {
        context: context.map(String::from),
        cluster: None,
        user: None,
    };
    let config = match kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| {
                Error::config(format!(
                    "{what}: cannot read kubeconfig {}: {e}",
                    p.display()
                ))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &opts).await
        }
        None => kube::Config::from_kubeconfig(&opts).await,
    };
    let mut config = config.map_err(|e| {
        Error::config(format!(
            "{what}: {e}{}",
            context
                .map(|c| format!(" (context `{c}`)"))
                .unwrap_or_default()
        ))
    })?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    kube::Client::try_from(config)
        .map_err(|e| Error::config(format!("{what}: cannot build a client: {e}")))
}

//! aegis-dr's Kubernetes provider: [`WorkloadScaler`] for Deployments and StatefulSets on the real
//! `kube` client, one client per site from a kubeconfig file and context.
//!
//! Scaling goes through the `scale` subresource; annotations are changed with JSON merge patches
//! (a `null` value removes one). API errors map to core errors at this boundary: 404 not found,
//! 409 conflict (temporary, so the orchestrator retries), 401/403 permission denied naming the verb
//! and resource, 429 throttled, 5xx and connection failures temporary (unreachable).
#![forbid(unsafe_code)]

mod error;
mod workloads;

pub use workloads::{KubeSite, KubernetesBuilder, KubernetesWorkloads};

//! Leader election through a `coordination.k8s.io/v1` `Lease`, as client-go's and kube-rs's leader
//! election do: the holder renews `renewTime` every few seconds; another replica takes the lease
//! over only once `renewTime + leaseDurationSeconds` has passed, counting a transition. Every write
//! carries the `resourceVersion` it read, so of two replicas racing for it one gets 409 Conflict and
//! stays a follower. A replica that cannot renew is not the leader.

use std::{sync::Mutex, time::Duration};

use aegis_dr_core::{controller::Leadership, plan::LeaseSettings, Error, Result};
use async_trait::async_trait;
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    api::{Api, PostParams},
    Client,
};

/// The leadership of one `Lease`.
pub struct LeaseLeader {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew_every: Duration,
    held: Mutex<bool>,
}

impl LeaseLeader {
    /// The lease of `settings` for a replica named `identity`, through the kubeconfig and context
    /// it names (default: in-cluster, then `KUBECONFIG` or `~/.kube/config`).
    pub async fn new(settings: &LeaseSettings, identity: &str) -> Result<LeaseLeader> {
        let client = match (&settings.kubeconfig, &settings.context) {
            (None, None) => {
                let config = kube::Config::infer().await.map_err(|e| {
                    Error::config(format!(
                        "watch.lease: no in-cluster config or kubeconfig: {e}"
                    ))
                })?;
                Client::try_from(config).map_err(|e| Error::config(format!("watch.lease: {e}")))?
            }
            (k, c) => {
                crate::client_for(
                    k.as_deref().map(std::path::Path::new),
                    c.as_deref(),
                    "watch.lease",
                )
                .await?
            }
        };
        Ok(LeaseLeader::with_client(client, settings, identity))
    }

    /// The lease of `settings` through `client`.
    pub fn with_client(client: Client, settings: &LeaseSettings, identity: &str) -> LeaseLeader {
        LeaseLeader {
            api: Api::namespaced(client, &settings.namespace),
            name: settings.name.clone(),
            identity: identity.to_string(),
            duration: settings.duration,
            renew_every: settings.renew_every,
            held: Mutex::new(false),
        }
    }

    fn set_held(&self, v: bool) -> bool {
        if let Ok(mut h) = self.held.lock() {
            *h = v;
        }
        v
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
            acquire_time: Some(acquire.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn err(&self, e: kube::Error) -> Error {
        crate::error::from_kube(e, "renew", &format!("lease {}", self.name))
    }
}

/// A 409 from the API server: another replica wrote first.
fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

#[async_trait]
impl Leadership for LeaseLeader {
    async fn acquire_or_renew(&self) -> Result<bool> {
        let current = match self.api.get_opt(&self.name).await {
            Ok(l) => l,
            Err(e) => {
                self.set_held(false);
                return Err(self.err(e));
            }
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(self.set_held(true)),
                Err(e) if conflict(&e) => Ok(self.set_held(false)),
                Err(e) => {
                    self.set_held(false);
                    Err(self.err(e))
                }
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
            (Some(renewed), Some(secs)) => {
                let until = renewed.0.checked_add(jiff_secs(secs)).unwrap_or(renewed.0);
                Timestamp::now() > until
            }
            _ => true,
        };
        if !mine && holder.is_some() && !expired {
            return Ok(self.set_held(false));
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquire = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(acquire, transitions));
        // The resourceVersion read above makes this a compare-and-swap.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(self.set_held(true)),
            Err(e) if conflict(&e) => Ok(self.set_held(false)),
            Err(e) => {
                self.set_held(false);
                Err(self.err(e))
            }
        }
    }

    async fn release(&self) {
        let held = self.held.lock().map(|h| *h).unwrap_or(false);
        if !held {
            return;
        }
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            if let Some(spec) = lease.spec.as_mut() {
                if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                    // As client-go releases: no holder, so the next replica need not wait.
                    spec.holder_identity = None;
                    spec.lease_duration_seconds = Some(1);
                    let _ = self
                        .api
                        .replace(&self.name, &PostParams::default(), &lease)
                        .await;
                }
            }
        }
        self.set_held(false);
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn renew_every(&self) -> Duration {
        self.renew_every
    }
}

fn jiff_secs(secs: i32) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::from_secs(i64::from(secs))
}

//! Tokens for Azure Resource Manager: a small [`TokenSource`] trait, a [`StaticToken`] for tests and
//! tools that already hold one, and [`IdentityChain`], the official `azure_identity` credentials tried
//! in the usual order (environment service principal, workload identity, managed identity, Azure
//! CLI). `azure_identity` is used without its own HTTP stack: its requests go through the same
//! `reqwest` client as aegis-dr's (see [`ReqwestTransport`]), which keeps one TLS stack in the build.

use std::{
    fmt,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use aegis_dr_core::{Error, ErrorKind, Result};
use async_trait::async_trait;
use azure_core::{
    cloud::CloudConfiguration,
    credentials::{Secret, TokenCredential},
    http::{
        headers::{HeaderName, HeaderValue, Headers},
        AsyncRawResponse, Body, ClientOptions, HttpClient, Request, Transport,
    },
};

/// Where bearer tokens for ARM come from.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token for `scope` (`https://management.azure.com/.default`).
    async fn token(&self, scope: &str) -> Result<String>;
}

/// A fixed token.
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// A source that always answers `token`.
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(token.into())
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self, _scope: &str) -> Result<String> {
        Ok(self.0.clone())
    }
}

/// Which credentials [`IdentityChain`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// Each of the others, in their order, where its environment is present.
    Auto,
    /// A service principal from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
    Environment,
    /// Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`, as on AKS).
    WorkloadIdentity,
    /// The managed identity of the VM, App Service or container (`client_id` for a user-assigned one).
    ManagedIdentity,
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli,
}

impl CredentialKind {
    /// Parses a plan's `credential` setting.
    pub fn parse(s: &str) -> Option<CredentialKind> {
        Some(match s {
            "auto" => CredentialKind::Auto,
            "environment" => CredentialKind::Environment,
            "workload-identity" => CredentialKind::WorkloadIdentity,
            "managed-identity" => CredentialKind::ManagedIdentity,
            "azure-cli" => CredentialKind::AzureCli,
            _ => return None,
        })
    }
}

/// The official credentials, tried in order until one gives a token.
pub struct IdentityChain {
    creds: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    /// The credential that last gave a token, asked first next time (a managed-identity probe on
    /// a machine without one is not paid on every call).
    winner: AtomicUsize,
}

impl fmt::Debug for IdentityChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.creds.iter().map(|c| c.0).collect();
        f.debug_struct("IdentityChain")
            .field("credentials", &names)
            .finish()
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl IdentityChain {
    /// The credentials of `kind` for `cloud`; `client_id` selects a user-assigned managed identity.
    pub fn new(
        kind: CredentialKind,
        cloud: CloudConfiguration,
        client_id: Option<&str>,
        http: reqwest::Client,
    ) -> Result<IdentityChain> {
        let options = || ClientOptions {
            transport: Some(Transport::new(Arc::new(ReqwestTransport(http.clone())))),
            cloud: Some(Arc::new(cloud.clone())),
            ..Default::default()
        };
        let auto = kind == CredentialKind::Auto;
        let mut creds: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
        let fail = |what: &str, e: azure_core::Error| {
            Error::new(ErrorKind::Config, format!("Azure {what} credential: {e}"))
        };
        if kind == CredentialKind::Environment || (auto && env("AZURE_CLIENT_SECRET").is_some()) {
            let (Some(tenant), Some(client), Some(secret)) = (
                env("AZURE_TENANT_ID"),
                env("AZURE_CLIENT_ID"),
                env("AZURE_CLIENT_SECRET"),
            ) else {
                return Err(Error::config(
                    "Azure environment credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
                ));
            };
            let c = azure_identity::ClientSecretCredential::new(
                &tenant,
                client,
                Secret::new(secret),
                Some(azure_identity::ClientSecretCredentialOptions {
                    client_options: options(),
                }),
            )
            .map_err(|e| fail("environment", e))?;
            creds.push(("environment", c));
        }
        if kind == CredentialKind::WorkloadIdentity
            || (auto && env("AZURE_FEDERATED_TOKEN_FILE").is_some())
        {
            let c = azure_identity::WorkloadIdentityCredential::new(Some(
                azure_identity::WorkloadIdentityCredentialOptions {
                    credential_options: azure_identity::ClientAssertionCredentialOptions {
                        client_options: options(),
                    },
                    ..Default::default()
                },
            ))
            .map_err(|e| fail("workload identity", e))?;
            creds.push(("workload identity", c));
        }
        if kind == CredentialKind::ManagedIdentity || auto {
            let c = azure_identity::ManagedIdentityCredential::new(Some(
                azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id
                        .map(|id| azure_identity::UserAssignedId::ClientId(id.to_string())),
                    client_options: options(),
                },
            ))
            .map_err(|e| fail("managed identity", e))?;
            creds.push(("managed identity", c));
        }
        if kind == CredentialKind::AzureCli || auto {
            let c =
                azure_identity::AzureCliCredential::new(None).map_err(|e| fail("Azure CLI", e))?;
            creds.push(("Azure CLI", c));
        }
        Ok(IdentityChain {
            creds,
            winner: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl TokenSource for IdentityChain {
    async fn token(&self, scope: &str) -> Result<String> {
        let first = self
            .winner
            .load(Ordering::Relaxed)
            .min(self.creds.len().saturating_sub(1));
        let order = std::iter::once(first).chain((0..self.creds.len()).filter(|i| *i != first));
        let mut failures = Vec::new();
        for i in order {
            let Some((name, c)) = self.creds.get(i) else {
                continue;
            };
            match c.get_token(&[scope], None).await {
                Ok(t) => {
                    self.winner.store(i, Ordering::Relaxed);
                    return Ok(t.token.secret().to_string());
                }
                Err(e) => failures.push(format!(
                    "{name}: {}",
                    e.to_string().lines().next().unwrap_or_default()
                )),
            }
        }
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("no Azure credential gave a token ({})", failures.join("; ")),
        ))
    }
}

/// `azure_identity`'s HTTP requests sent through aegis-dr's `reqwest` client.
#[derive(Debug)]
pub struct ReqwestTransport(pub reqwest::Client);

#[async_trait]
impl HttpClient for ReqwestTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        use azure_core::error::{Error as AzErr, ErrorKind as AzKind};
        let method = reqwest::Method::from_bytes(request.method().as_ref().as_bytes())
            .map_err(|e| AzErr::with_message(AzKind::Other, e.to_string()))?;
        let mut req = self.0.request(method, request.url().as_str());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        match request.body() {
            Body::Bytes(b) => req = req.body(b.to_vec()),
            Body::SeekableStream(_) => {
                return Err(AzErr::with_message(
                    AzKind::Other,
                    "streamed request bodies are not supported",
                ))
            }
        }
        let rsp = req.send().await.map_err(|e| {
            let kind = if e.is_connect() {
                AzKind::Connection
            } else {
                AzKind::Io
            };
            AzErr::with_message(kind, e.to_string())
        })?;
        let status = rsp.status().as_u16();
        let headers: std::collections::HashMap<HeaderName, HeaderValue> = rsp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str().ok().map(|v| {
                    (
                        HeaderName::from(k.as_str().to_owned()),
                        HeaderValue::from(v.to_owned()),
                    )
                })
            })
            .collect();
        let bytes = rsp
            .bytes()
            .await
            .map_err(|e| AzErr::with_message(AzKind::Io, e.to_string()))?;
        Ok(AsyncRawResponse::from_bytes(
            status.into(),
            Headers::from(headers),
            bytes,
        ))
    }
}

//! aegis-dr's state store in object storage: `s3://bucket/prefix` and `az://container/prefix`
//! through the `object_store` crate (Apache Arrow), whose conditional writes (S3 `If-None-Match` /
//! `If-Match`, Azure `If-None-Match` / `If-Match` on the ETag) give the run lock and the journal
//! their single writer; `gs://bucket/prefix` through the Cloud Storage JSON API with generation
//! preconditions ([`gcs`] says why not `object_store` there).
//!
//! Credentials are each cloud's usual chain (environment, profile, instance or workload identity),
//! and the endpoint variables users already set for emulators: `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL` (LocalStack, MinIO), `STORAGE_EMULATOR_HOST` (fake-gcs-server),
//! `AZURE_STORAGE_USE_EMULATOR` / `AZURITE_BLOB_STORAGE_URL` (Azurite).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
pub mod gcs;

use std::{sync::Arc, time::Duration};

use blocking::Blocking;

use aegis_dr_core::{
    error::{Error, ErrorKind, Result},
    store::{LeaseTerms, Object, Objects, PutMode, State, Version},
};
use futures_util::StreamExt;
use object_store::{
    aws::AmazonS3Builder, azure::MicrosoftAzureBuilder, path::Path, BackoffConfig, ClientOptions,
    ObjectStore, ObjectStoreExt, PutOptions, PutPayload, RetryConfig, UpdateVersion,
};

/// True when `url` names an object store this crate opens (`s3://`, `gs://`, `az://`).
pub fn is_store_url(url: &str) -> bool {
    ["s3://", "gs://", "az://"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// Opens the store `url` as a run state, its locks held for `terms`, configured from this process's
/// environment. `gs://` goes through the Cloud Storage JSON API ([`gcs`]); the others through
/// `object_store`.
pub fn open(url: &str, terms: LeaseTerms) -> Result<State> {
    open_with(url, terms, &|name| std::env::var(name).ok())
}

/// [`open`], reading configuration (credentials, region, endpoints) through `env` instead of the
/// process's environment: for a program that reaches several stores, and for tests.
pub fn open_with(
    url: &str,
    terms: LeaseTerms,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<State> {
    if let Some(rest) = url.strip_prefix("gs://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(config_error(url, "names no bucket"));
        }
        let prefix = prefix.trim_matches('/');
        let url = if prefix.is_empty() {
            format!("gs://{bucket}")
        } else {
            format!("gs://{bucket}/{prefix}")
        };
        let emulator = env("STORAGE_EMULATOR_HOST").filter(|v| !v.trim().is_empty());
        return Ok(State::Objects(
            Arc::new(gcs::Gcs::open(&url, bucket, prefix, emulator)?),
            terms,
        ));
    }
    Ok(State::Objects(
        Arc::new(Bucket::open_with(url, env)?),
        terms,
    ))
}

/// One bucket (or container) and a prefix in it, reached through `object_store`.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    /// The runtime the requests run on: the calls are blocking, from any thread or runtime.
    rt: Blocking,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.url)
    }
}

/// How long one request may take, and how long a call retries transient failures: short, so an
/// unreachable store is known well within a lease (whose renewal retries on its own schedule).
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(Duration::from_secs(10))
        .with_connect_timeout(Duration::from_secs(3))
}

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(8),
    }
}

/// Requests in flight at once when many objects are read.
const MANY: usize = 32;

/// The variables the builders read (each cloud's `from_env` set that aegis-dr passes on).
const KNOWN_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_METADATA_ENDPOINT",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURITE_BLOB_STORAGE_URL",
    "AZURE_MSI_ENDPOINT",
    "AZURE_OBJECT_ID",
    "AZURE_MSI_RESOURCE_ID",
];

fn config_error(url: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("state `{url}`: {e}"))
}

impl Bucket {
    /// Opens `s3://bucket/prefix` or `az://container/prefix`, configured from the environment.
    pub fn open(url: &str) -> Result<Bucket> {
        Bucket::open_with(url, &|name| std::env::var(name).ok())
    }

    /// [`Bucket::open`], reading configuration through `env`.
    pub fn open_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Bucket> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        // Each cloud's own variables (credentials, region, ...), as its builder's `from_env` reads them.
        let vars = |prefix: &str| -> Vec<(String, String)> {
            KNOWN_VARS
                .iter()
                .filter(|n| n.starts_with(prefix))
                .filter_map(|n| Some((n.to_ascii_lowercase(), env(n)?)))
                .collect()
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            config_error(
                url,
                "not a store URL (s3://bucket/prefix, gs://..., az://...)",
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(config_error(url, "names no bucket"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            Path::parse(&prefix).map_err(|e| config_error(url, format!("bad prefix: {e}")))?;
        }
        let store: Arc<dyn ObjectStore> = match scheme {
            "s3" => {
                let mut b = AmazonS3Builder::new();
                for (k, v) in vars("AWS_") {
                    if let Ok(key) = k.parse() {
                        b = b.with_config(key, v);
                    }
                }
                let mut b = b
                    .with_bucket_name(bucket)
                    .with_client_options(client_options())
                    .with_retry(retry());
                // The AWS provider's variables: the S3 one first.
                if let Some(e) = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")) {
                    b = b
                        .with_endpoint(&e)
                        .with_allow_http(e.starts_with("http://"));
                }
                // The bucket's own region: `AEGIS_STATE_AWS_REGION` when the bucket is not in the
                // region the process runs in (a controller in each region, one bucket).
                let region = env("AEGIS_STATE_AWS_REGION")
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".to_string());
                b = b.with_region(region);
                Arc::new(b.build().map_err(|e| config_error(url, e))?)
            }
            "az" | "azure" => {
                let mut b = MicrosoftAzureBuilder::new();
                for (k, v) in vars("AZURE_") {
                    if let Ok(key) = k.parse() {
                        b = b.with_config(key, v);
                    }
                }
                let mut b = b
                    .with_container_name(bucket)
                    .with_client_options(client_options())
                    .with_retry(retry());
                if env("AZURE_STORAGE_USE_EMULATOR").is_some_and(|v| v == "true" || v == "1") {
                    b = b.with_use_emulator(true).with_allow_http(true);
                }
                Arc::new(b.build().map_err(|e| config_error(url, e))?)
            }
            other => {
                return Err(config_error(
                    url,
                    format!("unknown scheme `{other}://` (s3://, gs://, az://)"),
                ))
            }
        };
        let url = if prefix.is_empty() {
            format!("{scheme}://{bucket}")
        } else {
            format!("{scheme}://{bucket}/{prefix}")
        };
        Ok(Bucket {
            store,
            prefix,
            url,
            rt: Blocking::new()?,
        })
    }

    fn path(&self, key: &str) -> Result<Path> {
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).map_err(|e| {
            Error::new(ErrorKind::Io, format!("not a valid key: {e}")).with_resource(self.at(key))
        })
    }

    fn at(&self, key: &str) -> String {
        format!("{}/{key}", self.url.trim_end_matches('/'))
    }

    /// The crate's error for an `object_store` one on `key`.
    fn error(&self, key: &str, e: object_store::Error) -> Error {
        let (kind, what) = match &e {
            object_store::Error::AlreadyExists { .. } => (ErrorKind::Conflict, "already exists"),
            object_store::Error::Precondition { .. } => {
                (ErrorKind::Conflict, "changed since it was read")
            }
            object_store::Error::NotFound { .. } => (ErrorKind::NotFound, "not found"),
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                (ErrorKind::PermissionDenied, "access denied")
            }
            object_store::Error::NotSupported { .. }
            | object_store::Error::NotImplemented { .. } => {
                (ErrorKind::Unsupported, "not supported by this store")
            }
            _ => (ErrorKind::Unreachable, "request failed"),
        };
        // The source's text, on one line.
        let detail = e.to_string().replace('\n', " ");
        Error::new(kind, format!("state store {what}: {detail}")).with_resource(self.at(key))
    }
}

fn version_of(e_tag: Option<String>, version: Option<String>) -> Version {
    Version { e_tag, version }
}

impl Objects for Bucket {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let got = self.rt.call(async move {
            let r = store.get(&path).await?;
            let meta = r.meta.clone();
            let bytes = r.bytes().await?;
            Ok::<_, object_store::Error>((bytes, meta))
        })?;
        match got {
            Ok((bytes, meta)) => Ok(Some(Object {
                bytes: bytes.to_vec(),
                version: version_of(meta.e_tag, meta.version),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Object>>> {
        let paths = keys
            .iter()
            .map(|k| self.path(k))
            .collect::<Result<Vec<_>>>()?;
        let store = self.store.clone();
        let got = self.rt.call(async move {
            futures_util::stream::iter(paths.into_iter().map(|p| {
                let store = store.clone();
                async move {
                    match store.get(&p).await {
                        Ok(r) => {
                            let meta = r.meta.clone();
                            r.bytes().await.map(|b| Some((b, meta)))
                        }
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
            }))
            .buffered(MANY)
            .collect::<Vec<_>>()
            .await
        })?;
        keys.iter()
            .zip(got)
            .map(|(key, r)| match r {
                Ok(o) => Ok(o.map(|(bytes, meta)| Object {
                    bytes: bytes.to_vec(),
                    version: version_of(meta.e_tag, meta.version),
                })),
                Err(e) => Err(self.error(key, e)),
            })
            .collect()
    }

    fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let mode = match mode {
            PutMode::Overwrite => object_store::PutMode::Overwrite,
            PutMode::Create => object_store::PutMode::Create,
            PutMode::Update(v) => object_store::PutMode::Update(UpdateVersion {
                e_tag: v.e_tag,
                version: v.version,
            }),
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let put = self
            .rt
            .call(async move { store.put_opts(&path, PutPayload::from(bytes), opts).await })?;
        match put {
            Ok(r) => Ok(version_of(r.e_tag, r.version)),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let path = self.path(prefix.trim_end_matches('/'))?;
        let store = self.store.clone();
        let listed = self.rt.call(async move {
            let mut out = Vec::new();
            let mut s = store.list(Some(&path));
            while let Some(m) = s.next().await {
                out.push(m?.location.to_string());
            }
            Ok::<_, object_store::Error>(out)
        })?;
        let base = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut keys: Vec<String> = listed
            .map_err(|e| self.error(prefix, e))?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&base).map(str::to_string))
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let store = self.store.clone();
        match self.rt.call(async move { store.delete(&path).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }
}

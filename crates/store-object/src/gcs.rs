//! `gs://bucket/prefix` through the Cloud Storage JSON API, with Google's own credentials crate
//! (Application Default Credentials: a service account key, workload identity, the metadata
//! server, `gcloud auth application-default login`).
//!
//! Why not `object_store` here, as for S3 and Azure: its GCS client writes through the XML API,
//! which fake-gcs-server (the emulator the tests run against) does not implement, so its
//! conditional writes could not be tested. Writes here are multipart uploads with
//! `ifGenerationMatch` (0: create only; a generation: replace only that one), as Google's own
//! clients send them; a read gives the object's generation (`x-goog-generation`).

use std::time::Duration;

use aegis_dr_core::{
    error::{Error, ErrorKind, Result},
    store::{Object, Objects, PutMode, Version},
};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::blocking::Blocking;

/// Characters left as they are in an object name inside a URL path (RFC 3986 unreserved).
const NAME: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A GCS bucket and a prefix in it.
pub struct Gcs {
    base: String,
    bucket: String,
    prefix: String,
    url: String,
    /// `None` against an emulator (it takes no token).
    credentials: Option<Credentials>,
    http: reqwest::Client,
    rt: Blocking,
}

impl std::fmt::Debug for Gcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gcs({})", self.url)
    }
}

/// Attempts of a request that failed transiently (a connection, 429, 5xx).
const ATTEMPTS: u32 = 3;

/// Requests in flight at once when many objects are read.
const MANY: usize = 32;

/// An answer: its status, headers and body.
type Answer = (u16, reqwest::header::HeaderMap, Vec<u8>);

/// Sends the request `build` makes (with a token from `credentials`, none against an emulator),
/// retrying a transient failure; the answer, whatever its status. `at` names the object in errors.
async fn request(
    http: reqwest::Client,
    credentials: Option<Credentials>,
    at: String,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Result<Answer> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = build(&http);
        if let Some(c) = &credentials {
            match c.headers(http::Extensions::new()).await {
                Ok(CacheableResource::New { data, .. }) => {
                    for (k, v) in &data {
                        req = req.header(k.as_str(), v.as_bytes());
                    }
                }
                Ok(CacheableResource::NotModified) => {}
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!("state store: no usable Google credentials: {e}"),
                    )
                    .with_resource(at))
                }
            }
        }
        let transient = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                match r.bytes().await {
                    Ok(b) if !(status == 429 || status >= 500) || attempt >= ATTEMPTS => {
                        return Ok((status, headers, b.to_vec()))
                    }
                    Ok(_) => format!("HTTP {status}"),
                    Err(e) => format!("answer cut off: {e}"),
                }
            }
            Err(e) => format!("{e}"),
        };
        if attempt >= ATTEMPTS {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!("state store request failed after {attempt} attempts: {transient}"),
            )
            .with_resource(at));
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
}

impl Gcs {
    /// The bucket `bucket` under `prefix`; `emulator` is `STORAGE_EMULATOR_HOST` when set.
    pub fn open(url: &str, bucket: &str, prefix: &str, emulator: Option<String>) -> Result<Gcs> {
        let (base, credentials) = match emulator {
            Some(host) => (
                if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                },
                None,
            ),
            None => (
                "https://storage.googleapis.com".to_string(),
                Some(
                    google_cloud_auth::credentials::Builder::default()
                        .build()
                        .map_err(|e| {
                            Error::new(
                                ErrorKind::PermissionDenied,
                                format!(
                                    "state `{url}`: no Google credentials (Application Default Credentials): {e}"
                                ),
                            )
                        })?,
                ),
            ),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::config(format!("state `{url}`: HTTP client: {e}")))?;
        Ok(Gcs {
            base: base.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            url: url.to_string(),
            credentials,
            http,
            rt: Blocking::new()?,
        })
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn at(&self, key: &str) -> String {
        format!("{}/{key}", self.url.trim_end_matches('/'))
    }

    /// Sends the request `build` makes (with a token, unless against an emulator), retrying a
    /// transient failure; the answer, whatever its status.
    fn send(
        &self,
        key: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
    ) -> Result<Answer> {
        let (http, credentials, at) = (self.http.clone(), self.credentials.clone(), self.at(key));
        self.rt.call(request(http, credentials, at, build))?
    }

    /// The media URL of `key`.
    fn media(&self, key: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            self.bucket,
            utf8_percent_encode(&self.name(key), NAME)
        )
    }

    /// The object of a media download's answer.
    fn object(&self, key: &str, (status, headers, body): Answer) -> Result<Option<Object>> {
        match status {
            200 => {
                let generation = headers
                    .get("x-goog-generation")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::Provider, "state store gave no object generation")
                            .with_resource(self.at(key))
                    })?;
                Ok(Some(Object {
                    bytes: body,
                    version: Version {
                        e_tag: None,
                        version: Some(generation),
                    },
                }))
            }
            404 => Ok(None),
            s => Err(self.failed(key, s, &body)),
        }
    }

    /// The error of an answer that is not a success.
    fn failed(&self, key: &str, status: u16, body: &[u8]) -> Error {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let kind = match status {
            412 => ErrorKind::Conflict,
            401 | 403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::Throttled,
            s if s >= 500 => ErrorKind::Unreachable,
            _ => ErrorKind::Provider,
        };
        Error::new(
            kind,
            format!(
                "state store answered HTTP {status}: {}",
                text.chars()
                    .take(300)
                    .collect::<String>()
                    .replace('\n', " ")
            ),
        )
        .with_resource(self.at(key))
    }
}

impl Objects for Gcs {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        let url = self.media(key);
        let answer = self.send(key, move |h| h.get(&url).query(&[("alt", "media")]))?;
        self.object(key, answer)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Object>>> {
        let requests: Vec<_> = keys
            .iter()
            .map(|k| {
                let url = self.media(k);
                request(
                    self.http.clone(),
                    self.credentials.clone(),
                    self.at(k),
                    move |h: &reqwest::Client| h.get(&url).query(&[("alt", "media")]),
                )
            })
            .collect();
        let answers = self.rt.call(async move {
            use futures_util::StreamExt;
            futures_util::stream::iter(requests)
                .buffered(MANY)
                .collect::<Vec<_>>()
                .await
        })?;
        keys.iter()
            .zip(answers)
            .map(|(k, a)| self.object(k, a?))
            .collect()
    }

    fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version> {
        let condition = match &mode {
            PutMode::Overwrite => None,
            PutMode::Create => Some("0".to_string()),
            PutMode::Update(v) => Some(v.version.clone().ok_or_else(|| {
                Error::new(ErrorKind::Conflict, "no generation to replace")
                    .with_resource(self.at(key))
            })?),
        };
        let url = format!("{}/upload/storage/v1/b/{}/o", self.base, self.bucket);
        let boundary = format!("aegis-dr-{:016x}", rand_u64());
        let meta = serde_json::json!({ "name": self.name(key), "contentType": "application/json" });
        let mut body = format!(
            "--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\ncontent-type: application/json\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (status, _, answer) = self.send(key, move |h| {
            let mut q = vec![("uploadType", "multipart".to_string())];
            if let Some(g) = &condition {
                q.push(("ifGenerationMatch", g.clone()));
            }
            h.post(&url)
                .query(&q)
                .header(
                    "content-type",
                    format!("multipart/related; boundary={boundary}"),
                )
                .body(body.clone())
        })?;
        match status {
            200 => {
                let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                let generation =
                    doc["generation"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| {
                            Error::new(ErrorKind::Provider, "state store gave no object generation")
                                .with_resource(self.at(key))
                        })?;
                Ok(Version {
                    e_tag: None,
                    version: Some(generation),
                })
            }
            s => Err(self.failed(key, s, &answer)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let full = self.name(prefix);
        let base = self.name("");
        let mut keys = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let url = format!("{}/storage/v1/b/{}/o", self.base, self.bucket);
            let (full_q, page_q) = (full.clone(), page.clone());
            let (status, _, body) = self.send(prefix, move |h| {
                let mut q = vec![
                    ("prefix", full_q.clone()),
                    ("fields", "items(name),nextPageToken".into()),
                ];
                if let Some(p) = &page_q {
                    q.push(("pageToken", p.clone()));
                }
                h.get(&url).query(&q)
            })?;
            if status != 200 {
                return Err(self.failed(prefix, status, &body));
            }
            let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    ErrorKind::Provider,
                    format!("state store listing unreadable: {e}"),
                )
                .with_resource(self.at(prefix))
            })?;
            keys.extend(
                doc["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["name"].as_str())
                    .filter_map(|n| n.strip_prefix(&base).map(str::to_string)),
            );
            match doc["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = Some(t.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let url = self.media(key);
        let (status, _, body) = self.send(key, move |h| h.delete(&url))?;
        match status {
            200 | 204 | 404 => Ok(()),
            s => Err(self.failed(key, s, &body)),
        }
    }
}

/// A random boundary tail.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

//! What every wire-level simulator here shares: serving a handler on a loopback port with the
//! request's body read, stopping (on demand or when dropped), state behind one lock that a panic
//! does not poison, faults on demand (the next requests throttled or unavailable) and
//! percent-decoding. Each simulator keeps what is its service's own: routes, bodies, error shapes.
#![forbid(unsafe_code)]

pub mod spec;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    body::{to_bytes, Body},
    http::{HeaderMap, Method, Uri},
    response::Response,
    Router,
};

/// A request as a simulator sees it: its body already read.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The URI (path and query).
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (empty when it could not be read or was longer than the server's limit).
    pub body: Vec<u8>,
}

/// A router sending every request, its body read up to `limit` bytes, to `handle`.
pub fn router<F, Fut>(limit: usize, handle: F) -> Router
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Body| {
            let handle = handle.clone();
            async move {
                let body = to_bytes(body, limit).await.unwrap_or_default().to_vec();
                handle(Request {
                    method,
                    uri,
                    headers,
                    body,
                })
                .await
            }
        },
    )
}

/// The servers of one simulator (one or more listeners): they stop together, on [`Servers::stop`]
/// or when this is dropped.
#[derive(Debug)]
pub struct Servers {
    stop: tokio::sync::watch::Sender<bool>,
}

impl Default for Servers {
    fn default() -> Self {
        Servers::new()
    }
}

impl Servers {
    /// No server yet.
    pub fn new() -> Servers {
        Servers {
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// Binds `addr` (`127.0.0.1:0` for an ephemeral loopback port) and serves `app` on it in the
    /// background, on the current tokio runtime. Returns the bound address.
    pub async fn bind(&self, addr: &str, app: Router) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        self.serve(listener, app);
        Ok(bound)
    }

    /// Serves `app` on `listener` (plain TCP, or a TLS listener) in the background.
    pub fn serve<L>(&self, listener: L, app: Router)
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        });
    }

    /// Stops every server (connections in flight finish).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A simulator's state, shared by its handlers and the test.
pub type Shared<S> = Arc<Mutex<S>>;

/// Locks `state`; a panic elsewhere while it was held leaves it as it was, taken as is (a test's
/// failed assertion must not turn every later request into a second panic).
pub fn lock<S>(state: &Mutex<S>) -> MutexGuard<'_, S> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Faults on demand: how many of the next requests are answered as throttled, then as
/// unavailable. Each simulator answers them in its service's own words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// The next requests answered "throttled" (429 or the service's equivalent).
    pub throttle_next: u32,
    /// The next requests (after the throttled ones) answered "unavailable" (503).
    pub unavailable_next: u32,
}

/// A fault to answer a request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Too many requests.
    Throttled,
    /// The service is unavailable.
    Unavailable,
}

impl Faults {
    /// The fault this request gets, if any (counting it down).
    pub fn take(&mut self) -> Option<Fault> {
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            Some(Fault::Throttled)
        } else if self.unavailable_next > 0 {
            self.unavailable_next -= 1;
            Some(Fault::Unavailable)
        } else {
            None
        }
    }
}

/// The requests a simulator served, in order, each as one line in its service's own words
/// (`POST /subscriptions/.../failover`, `drs:StartRecovery`); tests read it as a slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLog(Vec<String>);

impl RequestLog {
    /// Records one request.
    pub fn record(&mut self, line: impl Into<String>) {
        self.0.push(line.into());
    }

    /// How many recorded requests `f` accepts.
    pub fn count(&self, f: impl Fn(&str) -> bool) -> usize {
        self.0.iter().filter(|r| f(r)).count()
    }
}

impl std::ops::Deref for RequestLog {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// `s` with its `%XX` escapes decoded (a `%` not followed by two hex digits stays as it is;
/// invalid UTF-8 is replaced).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn requests_are_logged_in_order_and_counted() {
        let mut log = RequestLog::default();
        log.record("GET /a");
        log.record("POST /b");
        log.record("GET /c");
        assert_eq!(log.count(|r| r.starts_with("GET ")), 2);
        assert_eq!(log.last().map(String::as_str), Some("GET /c"));
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn faults_come_in_order_and_run_out() {
        let mut f = Faults {
            throttle_next: 1,
            unavailable_next: 1,
        };
        assert_eq!(f.take(), Some(Fault::Throttled));
        assert_eq!(f.take(), Some(Fault::Unavailable));
        assert_eq!(f.take(), None);
    }

    #[tokio::test]
    async fn serves_until_stopped() {
        let servers = Servers::new();
        let app = router(1024, |r: Request| async move {
            Response::new(Body::from(format!("{} {}", r.method, r.body.len())))
        });
        let addr = servers.bind("127.0.0.1:0", app).await.expect("bind");
        let url = format!("http://{addr}/x");
        let text = reqwest::Client::new()
            .post(&url)
            .body("abc")
            .send()
            .await
            .expect("served")
            .text()
            .await
            .expect("body");
        assert_eq!(text, "POST 3");
        servers.stop();
        // Stopped: the listener closes once the server task sees the signal.
        let mut refused = false;
        for _ in 0..200 {
            if reqwest::get(&url).await.is_err() {
                refused = true;
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(refused, "still serving after stop");
    }
}

/// One request and the simulator's answer, kept for the spec checks: every exchange a test
/// caused is checked against the operation's published status and error codes and shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// The request body as sent (empty when none).
    pub request: String,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The answer's body (empty when none).
    pub response: String,
}

impl Exchange {
    /// The exchange of `req` answered with `status`, `headers` and `response`.
    pub fn of(
        req: &Request,
        status: u16,
        headers: &[(&str, String)],
        response: String,
    ) -> Exchange {
        Exchange {
            method: req.method.to_string(),
            path: req.uri.path().to_string(),
            query: req.uri.query().unwrap_or_default().to_string(),
            request: String::from_utf8_lossy(&req.body).into_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            response,
        }
    }

    /// An answer header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

//! The metadata client: one pooled keep-alive HTTP/1 connection set with `TCP_NODELAY`, no proxy
//! from the environment, a deadline on every request and a cap on every body. Each request's
//! outcome is counted for `ecs_exporter_upstream_requests_total`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The two upstream paths read on every scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `/task`.
    Task,
    /// `/task/stats`.
    TaskStats,
}

impl Path {
    /// Both paths, in label order.
    pub const ALL: [Path; 2] = [Path::Task, Path::TaskStats];

    /// The path suffix, also the `path` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Task => "/task",
            Path::TaskStats => "/task/stats",
        }
    }
}

/// Why an upstream read failed. [`FetchError::outcome`] is its `outcome` label.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Connection refused, reset or closed, before or during the body.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The deadline passed.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// A non-2xx status (429 is the agent's throttle).
    #[error("HTTP status {0}")]
    Http(u16),
    /// The body is over the cap, or not usable JSON.
    #[error("invalid response: {0}")]
    Invalid(String),
}

impl FetchError {
    /// The `outcome` label value.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Connect(_) => "connect_error",
            FetchError::Timeout(_) => "timeout",
            FetchError::Http(_) => "http_error",
            FetchError::Invalid(_) => "invalid",
        }
    }
}

/// Per path and outcome request counts.
#[derive(Debug, Default)]
pub struct Counters {
    counts: [[AtomicU64; 5]; 2],
}

impl Counters {
    /// Count one request of `path` with `outcome` (one of [`crate::metrics::OUTCOMES`]).
    pub fn inc(&self, path: Path, outcome: &str) {
        let o = crate::metrics::OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(3);
        self.counts[path as usize][o].fetch_add(1, Ordering::Relaxed);
    }

    /// The count for `path` and the outcome at `outcome_index` of [`crate::metrics::OUTCOMES`].
    pub fn get(&self, path: Path, outcome_index: usize) -> u64 {
        self.counts[path as usize][outcome_index].load(Ordering::Relaxed)
    }
}

/// The metadata endpoint client.
#[derive(Debug, Clone)]
pub struct MetadataClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    max_body: u64,
}

impl MetadataClient {
    /// A client for the TMDS base URI `base` (no trailing slash).
    pub fn new(base: String, connect_timeout: Duration, max_body: u64) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(connect_timeout));
        conn.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(conn);
        MetadataClient { client, base, max_body }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: Path) -> String {
        format!("{}{}", self.base, path.as_str())
    }

    /// GET `path`, waiting at most `timeout` for the whole body.
    pub async fn get(&self, path: Path, timeout: Duration) -> Result<Bytes, FetchError> {
        match tokio::time::timeout(timeout, self.get_inner(path)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(timeout)),
        }
    }

    async fn get_inner(&self, path: Path) -> Result<Bytes, FetchError> {
        let req = http::Request::get(self.url(path))
            .header(http::header::USER_AGENT, concat!("ecs-exporter/", env!("CARGO_PKG_VERSION")))
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Invalid(format!("bad request URL: {e}")))?;
        let resp = self.client.request(req).await.map_err(|e| FetchError::Connect(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Http(status.as_u16()));
        }
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(FetchError::Invalid(format!(
                "body of {} bytes is over the {}-byte cap",
                declared.unwrap_or(0),
                self.max_body
            )));
        }
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        match Limited::new(resp.into_body(), limit).collect().await {
            Ok(b) => Ok(b.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                Err(FetchError::Invalid(format!("body is over the {}-byte cap", self.max_body)))
            }
            Err(e) => Err(FetchError::Connect(format!("body read failed: {}", error_chain(e.as_ref())))),
        }
    }
}

/// An error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

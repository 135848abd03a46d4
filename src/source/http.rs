//! The upstream HTTP client of the metadata endpoint and the ECS agent: pooled keep-alive HTTP/1
//! connections over TCP (with `TCP_NODELAY`), no proxy from the environment,
//! an absolute deadline on every request and a cap on every body. The outcome of each request is
//! counted by the caller in [`Counters`] for `ecs_exporter_upstream_requests_total`.

use crate::snapshot::LabelValue;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Why an upstream request failed. [`FetchError::outcome`] is its `outcome` label.
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

/// Request counts by path (a fixed list per source) and outcome, with their label values made
/// once (every scrape reports them all).
#[derive(Debug)]
pub struct Counters {
    paths: Vec<LabelValue>,
    outcomes: Vec<LabelValue>,
    counts: Vec<[AtomicU64; 5]>,
}

impl Counters {
    /// Counters for these `path` label values.
    pub fn new(paths: &'static [&'static str]) -> Self {
        Counters {
            paths: paths.iter().map(|p| LabelValue::from(*p)).collect(),
            outcomes: crate::metrics::OUTCOMES.iter().map(|o| LabelValue::from(*o)).collect(),
            counts: paths.iter().map(|_| Default::default()).collect(),
        }
    }

    /// Count one request of path number `path` by its result: `ok`, or the error's outcome
    /// (one of [`crate::metrics::OUTCOMES`]).
    pub fn count<T>(&self, path: usize, result: &Result<T, FetchError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        let o = crate::metrics::OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(3);
        if let Some(c) = self.counts.get(path) {
            c[o].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every `(path, outcome, count)`, in label order.
    pub fn each(&self) -> impl Iterator<Item = (&LabelValue, &LabelValue, u64)> + '_ {
        self.paths
            .iter()
            .zip(&self.counts)
            .flat_map(move |(p, c)| self.outcomes.iter().zip(c).map(move |(o, n)| (p, o, n.load(Ordering::Relaxed))))
    }
}

/// A client of one upstream, by its base URL.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Empty<Bytes>>,
    /// What request URIs start with.
    base: String,
    /// The URIs of the paths asked so far.
    uris: Arc<std::sync::Mutex<Vec<(String, http::Uri)>>>,
    /// What log lines call it.
    shown: Arc<str>,
    max_body: u64,
}

impl HttpClient {
    /// A client of `base` (`http://host[:port][/path]`, no trailing slash) keeping up to `pool`
    /// idle connections.
    pub fn tcp(base: String, connect_timeout: Duration, max_body: u64, pool: usize) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(connect_timeout));
        conn.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(pool)
            // Read whole answers at once: hyper's adaptive buffer starts at 8 KiB and shrinks
            // again after a small answer, so a `/task/stats` body came in two pieces that had to
            // be copied into one (a copy and an allocation of every body, every read). A body
            // of up to 64 KiB (about 20 containers' stats) now arrives in one piece and is
            // parsed where it was read; only the pages it fills are touched.
            .http1_read_buf_exact_size(64 << 10)
            .build(conn);
        HttpClient { inner: client, shown: Arc::from(base.as_str()), base, max_body, uris: Arc::default() }
    }

    /// The URI of `path`: parsed once per path and kept (a read asks the same two or three).
    fn uri(&self, path: &str) -> Result<http::Uri, FetchError> {
        let mut kept = self.uris.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, uri)) = kept.iter().find(|(p, _)| p == path) {
            return Ok(uri.clone());
        }
        let uri: http::Uri = format!("{}{}", self.base, path)
            .parse()
            .map_err(|e| FetchError::Invalid(format!("bad request URL: {e}")))?;
        // A handful of fixed paths per source; never grows without bound.
        if kept.len() < 16 {
            kept.push((path.to_owned(), uri.clone()));
        }
        Ok(uri)
    }

    /// The full URL of `path`, as logs show it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.shown, path)
    }

    /// GET `path`, waiting until `deadline` at most for the whole body.
    pub async fn get(&self, path: &str, deadline: &Deadline) -> Result<Bytes, FetchError> {
        let budget = deadline.at.saturating_duration_since(Instant::now());
        let mut request = std::pin::pin!(self.get_inner(path));
        std::future::poll_fn(|cx| match request.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => deadline.poll_passed(cx).map(|()| Err(FetchError::Timeout(budget))),
        })
        .await
    }

    async fn get_inner(&self, path: &str) -> Result<Bytes, FetchError> {
        // Header values made at compile time (`from_str` checks every byte of them at run time).
        const AGENT: HeaderValue = HeaderValue::from_static(concat!("ecs-exporter/", env!("CARGO_PKG_VERSION")));
        const JSON: HeaderValue = HeaderValue::from_static("application/json");
        let mut req = http::Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = self.uri(path)?;
        let headers = req.headers_mut();
        headers.insert(http::header::USER_AGENT, AGENT);
        headers.insert(http::header::ACCEPT, JSON);
        let sent = self.inner.request(req).await;
        let resp = sent.map_err(|e| FetchError::Connect(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Http(status.as_u16()));
        }
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = declared.filter(|n| *n > self.max_body) {
            return Err(FetchError::Invalid(format!("body of {n} bytes is over the {}-byte cap", self.max_body)));
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

/// The deadline of one read, with one timer for all its requests. The requests of a read run
/// at once in one task, and each timer armed made the runtime write to its wake-up channel
/// (tokio unparks its driver for a timer earlier than the one it last slept on): one timer per
/// read instead of one per request. Every request sharing it must be polled by the same task
/// (the timer wakes the last waker that polled it).
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    timer: std::sync::Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
}

impl Deadline {
    /// A deadline at `at`; its timer is armed when a request first waits on it.
    pub fn new(at: Instant) -> Self {
        Deadline { at, timer: std::sync::Mutex::new(None) }
    }

    /// When it passes.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// Ready once the deadline has passed; else the task is woken when it does.
    fn poll_passed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut timer = self.timer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(self.at.into()))).as_mut().poll(cx)
    }
}

/// An error and its causes on one line, each cause once.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers `/fast` at once and never answers `/hang`.
    async fn server() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut n = 0;
                    while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => n += k,
                        }
                    }
                    if buf[..n].starts_with(b"GET /fast ") {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
                    }
                    // Holds the connection without answering.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn requests_sharing_a_deadline_each_end_by_it() {
        let client = HttpClient::tcp(server().await, Duration::from_secs(1), 1 << 20, 4);
        let started = Instant::now();
        let deadline = &Deadline::new(started + Duration::from_millis(300));
        let (fast, hang, hang2) =
            tokio::join!(client.get("/fast", deadline), client.get("/hang", deadline), client.get("/hang", deadline));
        assert_eq!(fast.unwrap(), Bytes::from_static(b"{}"));
        assert!(matches!(hang, Err(FetchError::Timeout(_))), "{hang:?}");
        assert!(matches!(hang2, Err(FetchError::Timeout(_))), "{hang2:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "{took:?}");
        // A deadline already passed: a request that is not answered at once times out at once.
        let past = &Deadline::new(Instant::now());
        assert!(matches!(client.get("/hang", past).await, Err(FetchError::Timeout(_))));
    }
}

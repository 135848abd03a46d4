//! The simulated task metadata endpoint, used by `--demo`, `ecs-exporter simulate` and the
//! tests. It serves `/`, `/task`, `/stats`, `/task/stats` and `/taskWithTags` (also under a
//! `/v4/<id>` or `/v3/<id>` prefix, like the real endpoint) for a live scenario whose counters
//! advance with time, or replays captured bodies. `GET /_sim/requests` reports how many
//! requests each path received; `GET /_sim/fault?mode=…` injects a fault (see [`fault`]). Like
//! the agent, it sets `TCP_NODELAY`. The `host` scenario ([`host`]) simulates a whole host
//! instead: the agent introspection API, a Managed Instances daemon's `/tasks` and a Docker
//! Engine API on a unix socket.

pub mod fault;
pub mod host;
mod scenario;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

pub use fault::{Fault, FaultKind};
pub use host::{HostOpts, HostSim};
pub use scenario::Live;

/// The simulator's response body: whole, or streamed for the faults that need it.
type Body = BoxBody<Bytes, std::io::Error>;

/// The live scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A Fargate task (awsvpc, cgroup v1): web server, log router, this exporter, and an init
    /// container that has exited.
    Fargate,
    /// An EC2 task in bridge mode on a cgroup v2 host, without task-level limits.
    Ec2Bridge,
    /// A whole host (for `ecs-exporter host`): see [`host`].
    Host,
}

/// What the endpoint serves.
#[derive(Debug, Clone)]
pub enum Source {
    /// A live scenario.
    Live(Arc<Live>),
    /// Captured bodies, served as they are.
    Fixed {
        /// The `/task` body.
        task: Bytes,
        /// The `/task/stats` body.
        stats: Bytes,
    },
}

impl Source {
    /// A live scenario starting now.
    pub fn live(s: Scenario) -> Source {
        Source::Live(Arc::new(Live::new(s)))
    }

    fn body(&self, route: Route) -> Option<Bytes> {
        match (self, route) {
            (Source::Live(l), r) => Some(Bytes::from(l.body(r))),
            (Source::Fixed { task, .. }, Route::Task | Route::TaskWithTags) => Some(task.clone()),
            (Source::Fixed { stats, .. }, Route::TaskStats) => Some(stats.clone()),
            (Source::Fixed { .. }, Route::Container | Route::ContainerStats) => None,
        }
    }
}

/// The endpoint's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `${URI}`: this container's metadata.
    Container,
    /// `${URI}/stats`: this container's stats.
    ContainerStats,
    /// `${URI}/task`.
    Task,
    /// `${URI}/task/stats`.
    TaskStats,
    /// `${URI}/taskWithTags`.
    TaskWithTags,
}

impl Route {
    /// The route of a request path, with or without a `/v4/<id>` prefix.
    pub fn parse(path: &str) -> Option<Route> {
        let mut p = path;
        for prefix in ["/v4/", "/v3/"] {
            if let Some(rest) = p.strip_prefix(prefix) {
                p = rest.find('/').map_or("", |i| &rest[i..]);
            }
        }
        match p.trim_end_matches('/') {
            "" => Some(Route::Container),
            "/stats" => Some(Route::ContainerStats),
            "/task" => Some(Route::Task),
            "/task/stats" => Some(Route::TaskStats),
            "/taskWithTags" => Some(Route::TaskWithTags),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Route::Container => "/",
            Route::ContainerStats => "/stats",
            Route::Task => "/task",
            Route::TaskStats => "/task/stats",
            Route::TaskWithTags => "/taskWithTags",
        }
    }
}

/// The endpoint's shared state.
#[derive(Debug)]
pub struct Endpoint {
    source: Source,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    fault: Mutex<Fault>,
}

impl Endpoint {
    /// An endpoint serving `source`.
    pub fn new(source: Source) -> Arc<Self> {
        Arc::new(Endpoint { source, requests: Mutex::new(BTreeMap::new()), fault: Mutex::new(Fault::default()) })
    }

    /// Requests received so far, by route.
    pub fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Set the fault for the following requests.
    pub fn set_fault(&self, f: Fault) {
        if let Ok(mut cur) = self.fault.lock() {
            *cur = f;
        }
    }

    fn current_fault(&self) -> Fault {
        self.fault.lock().map(|f| *f).unwrap_or_default()
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, Bytes::from_static(b"method not allowed\n")));
        }
        let path = req.uri().path();
        if path == "/_sim/requests" {
            let body = serde_json::to_vec(&self.requests()).unwrap_or_default();
            return Ok(json(StatusCode::OK, Bytes::from(body)));
        }
        if path == "/_sim/fault" {
            return Ok(match Fault::from_query(req.uri().query().unwrap_or("")) {
                Ok(f) => {
                    tracing::info!(fault = ?f, "fault set");
                    self.set_fault(f);
                    plain(StatusCode::OK, Bytes::from(format!("{f:?}\n")))
                }
                Err(e) => plain(StatusCode::BAD_REQUEST, Bytes::from(format!("{e}\n"))),
            });
        }
        let Some(route) = Route::parse(path) else {
            return Ok(json(StatusCode::NOT_FOUND, Bytes::from_static(b"\"V4 simulated handler: unknown path\"")));
        };
        if let Ok(mut m) = self.requests.lock() {
            *m.entry(route.name()).or_default() += 1;
        }
        let Some(body) = self.source.body(route) else {
            return Ok(json(StatusCode::NOT_FOUND, Bytes::from_static(b"\"not in the replayed capture\"")));
        };
        let fault = self.current_fault();
        if !fault.applies(route) {
            return Ok(json(StatusCode::OK, body));
        }
        Ok(match fault.kind {
            FaultKind::None => json(StatusCode::OK, body),
            FaultKind::Slow => {
                tokio::time::sleep(fault.delay).await;
                json(StatusCode::OK, body)
            }
            FaultKind::Status500 => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(b"\"V4 task metadata handler: unable to get task stats\""),
            ),
            FaultKind::Status403 => json(
                StatusCode::FORBIDDEN,
                Bytes::from_static(b"{\"Code\": \"AccessDeniedException\", \"Message\": \"not authorized to perform: ecs:ListTagsForResource\"}"),
            ),
            FaultKind::Status429 => {
                plain(StatusCode::TOO_MANY_REQUESTS, Bytes::from_static(b"You have reached maximum request limit."))
            }
            FaultKind::NotJson => {
                let mut r = plain(StatusCode::OK, Bytes::from_static(b"<html><body>502 Bad Gateway</body></html>\n"));
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                r
            }
            FaultKind::Truncated => json(StatusCode::OK, body.slice(..body.len() / 2)),
            FaultKind::Reset => stream(fault::Filler::reset_after(body.slice(..body.len() / 3))),
            FaultKind::Huge => stream(fault::Filler::huge(Bytes::from_static(b"{\"padding\": \""), fault.size)),
            FaultKind::Churn => json(StatusCode::OK, Bytes::from(fault::churn(&body, route != Route::TaskStats))),
        })
    }
}

fn stream(body: fault::Filler) -> Response<Body> {
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn whole(body: Bytes) -> Body {
    Full::new(body).map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(whole(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(whole(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A listener of the simulator: TCP, or a unix socket (the Docker Engine API).
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A unix socket.
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

/// Serve `endpoint` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>, shutdown: impl Future<Output = ()>) {
    serve_with(Listener::Tcp(listener), move |req| endpoint.clone().handle(req), shutdown).await
}

/// Serve the simulated host on `listener` until `shutdown` completes.
pub async fn serve_host(listener: Listener, host: Arc<HostSim>, shutdown: impl Future<Output = ()>) {
    let handle = move |req: Request<Incoming>| {
        let host = host.clone();
        async move {
            if let Some(d) = host.delay(req.uri().path()) {
                tokio::time::sleep(d).await;
            }
            Ok(host_answer(&host, &req))
        }
    };
    serve_with(listener, handle, shutdown).await
}

fn host_answer(host: &HostSim, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, Bytes::from_static(b"method not allowed\n"));
    }
    let path = req.uri().path();
    if path == "/_sim/requests" {
        return json(StatusCode::OK, Bytes::from(serde_json::to_vec(&host.requests()).unwrap_or_default()));
    }
    match host.answer(path, req.uri().query().unwrap_or("")) {
        Some((status, body)) => json(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Bytes::from(body)),
        None => json(StatusCode::NOT_FOUND, Bytes::from_static(b"{\"message\": \"page not found\"}")),
    }
}

/// Serve HTTP/1.1 on `listener` with `handle` until `shutdown` completes.
async fn serve_with<H, F>(listener: Listener, handle: H, shutdown: impl Future<Output = ()>)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = accept(&listener) => r,
            _ = &mut shutdown => return,
        };
        let Ok(io) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let h = handle.clone();
        match io {
            Conn::Tcp(s) => {
                let conn = builder.serve_connection(TokioIo::new(s), service_fn(h));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            #[cfg(unix)]
            Conn::Unix(s) => {
                let conn = builder.serve_connection(TokioIo::new(s), service_fn(h));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

async fn accept(l: &Listener) -> std::io::Result<Conn> {
    match l {
        Listener::Tcp(l) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(Conn::Tcp(s))
        }
        #[cfg(unix)]
        Listener::Unix(l) => Ok(Conn::Unix(l.accept().await?.0)),
    }
}

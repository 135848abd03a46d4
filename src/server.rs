//! The HTTP server: routes (`/metrics`, `/health`, `/`), content negotiation and gzip, a bound
//! on connections, header-read timeouts (kept by the `reaper` module, with no timer per
//! request), and graceful shutdown. Socket work only: everything about metrics happens in
//! [`crate::scrape`] and [`crate::encode`].

mod reaper;

use crate::encode::{self, Format};
use crate::scrape::Exporter;
#[cfg(feature = "web-config")]
use crate::webconfig::AuthResult;
#[cfg(feature = "web-config")]
pub use crate::webconfig::BasicAuth;

/// Without the `web-config` feature there is no authentication.
#[cfg(not(feature = "web-config"))]
#[derive(Debug)]
pub enum BasicAuth {}
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a connection may wait for a request's head to be read, from being accepted (TLS
/// handshake included) or from its last response; then it is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests by default (`--web.shutdown-timeout`).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the request handler needs.
#[derive(Debug)]
pub struct State {
    /// The exporter core (shared with the StatsD push).
    pub exporter: std::sync::Arc<Exporter>,
    /// The metrics path.
    pub telemetry_path: String,
    /// Basic authentication, when the web config lists users.
    pub auth: Option<Arc<BasicAuth>>,
    /// Extra response headers from the web config.
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Serving a built-in simulation (`--demo`), for the status page.
    pub demo: bool,
    /// The reused gzip compressor.
    pub gzip: std::sync::Mutex<encode::gzip::Gzip>,
    /// The exporter's own series of the last scrape, refilled in place, and their text in each
    /// format to fill new values into.
    pub own: std::sync::Mutex<(crate::snapshot::Kept, [encode::Template; 2])>,
    /// The last `Accept` header and the format it picked.
    pub negotiation: encode::Negotiation,
    /// When the server started.
    pub started: std::time::Instant,
}

impl State {
    /// Handler state around an exporter, without authentication or extra headers.
    pub fn new(exporter: Exporter, telemetry_path: String) -> Self {
        State {
            exporter: std::sync::Arc::new(exporter),
            demo: false,
            gzip: std::sync::Mutex::new(encode::gzip::Gzip::default()),
            own: Default::default(),
            negotiation: Default::default(),
            started: std::time::Instant::now(),
            telemetry_path,
            auth: None,
            headers: Vec::new(),
        }
    }
}

/// TLS for accepted connections (only with the `tls` feature).
#[derive(Clone)]
pub struct Tls {
    #[cfg(feature = "tls")]
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

#[cfg(feature = "tls")]
impl Tls {
    /// TLS with this rustls configuration.
    pub fn new(cfg: Arc<rustls::ServerConfig>) -> Self {
        Tls { acceptor: tokio_rustls::TlsAcceptor::from(cfg) }
    }
}

/// A server error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be resolved or bound.
    #[error("cannot listen on {addr}: {cause}{hint}")]
    Bind {
        /// The address as given.
        addr: String,
        /// Why (not a `source`, so that the cause is printed once).
        cause: std::io::Error,
        /// What to do about it, when known (with its leading separator).
        hint: &'static str,
    },
}

/// Bind `addr` (`:PORT` means every interface, IPv6 and IPv4 where available).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    let err = |cause: std::io::Error| {
        let hint = if !addr.contains(':') && addr.parse::<u16>().is_ok() {
            "; to listen on a port, write it with a colon: --web.listen-address :PORT"
        } else if cause.kind() == std::io::ErrorKind::AddrInUse {
            "; another process listens there (another exporter?); pick another port"
        } else {
            ""
        };
        ServerError::Bind { addr: addr.to_owned(), cause, hint }
    };
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 =
            port.parse().map_err(|_| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid port")))?;
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await.map_err(err),
        };
    }
    TcpListener::bind(addr).await.map_err(err)
}

/// Serve `state` on `listener` (with TLS when `tls` is set) until `shutdown` completes, then
/// stop accepting, close the connections that have no request in flight (idle keep-alive ones,
/// and those still sending their headers), let in-flight requests finish for up to `grace`,
/// and return. A connection that waits longer than `header_timeout` for a request head to be
/// read, from being accepted or from its last response, is closed ([`HEADER_READ_TIMEOUT`] in
/// the exporter).
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    max_connections: usize,
    tls: Option<Tls>,
    grace: Duration,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let reaper = reaper::Reaper::new(header_timeout);
    // Driven with the accept loop: after it, connections are either closed or finishing a
    // request, which hyper's graceful shutdown then closes.
    let reaping = reaper.run();
    let mut builder = http1::Builder::new();
    // The reaper bounds the wait for a head; hyper's own timeout would arm a timer per request.
    builder.header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown, reaping);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
            () = &mut reaping => continue,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, limit = max_connections, "connection limit reached; closing connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let st = state.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        // From here until its first request head is read, the connection is on the clock (the
        // TLS handshake included).
        let registered = reaper.register();
        let conn = registered.conn.clone();
        let task = tokio::spawn(async move {
            let conn = registered.conn.clone();
            let svc = service_fn(move |req| {
                let st = st.clone();
                let busy = Busy::enter(&conn);
                async move {
                    let r = handle(req, st).await;
                    drop(busy);
                    r
                }
            });
            let result = match tls {
                #[cfg(feature = "tls")]
                Some(t) => match t.acceptor.accept(stream).await {
                    Ok(s) => watcher.watch(builder.serve_connection(TokioIo::new(s), svc)).await,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        Ok(())
                    }
                },
                #[cfg(not(feature = "tls"))]
                Some(_) => Ok(()),
                None => watcher.watch(builder.serve_connection(TokioIo::new(stream), svc)).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(registered);
            drop(permit);
        });
        // The reaper aborts the task (dropping the connection) when the connection waited too
        // long for a request head, or at shutdown when it has no request in flight.
        conn.served_by(task.abort_handle());
    }
    drop(listener);
    reaper.close_ready();
    tracing::info!("shutting down: no longer accepting, closing idle connections, finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?grace, "in-flight requests did not finish in time");
    }
}

/// Marks a connection's request in flight while it lives; the connection is then ready for its
/// next request (its header-read deadline runs from there).
struct Busy(Arc<reaper::Conn>);

impl Busy {
    fn enter(conn: &Arc<reaper::Conn>) -> Busy {
        conn.busy();
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.ready();
    }
}

/// Route one request.
pub async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Response<Chunks>, Infallible> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    let path = req.uri().path();
    // /health stays open so container health checks need no credentials; it tells nothing.
    #[cfg(feature = "web-config")]
    if let Some(auth) = st.auth.as_ref().filter(|_| path != "/health") {
        let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if auth.check(header).await == AuthResult::Denied {
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ecs-exporter\""));
            return Ok(with_headers(r, &st.headers));
        }
    }
    let resp = if path == st.telemetry_path {
        if head {
            let mut r = Response::new(Chunks::one(Bytes::new()));
            let fmt = st.negotiation.format(req.headers().get(header::ACCEPT).map(HeaderValue::as_bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, content_type(fmt));
            r
        } else {
            metrics(&req, &st).await
        }
    } else if path == "/health" || path == "/-/healthy" {
        text(StatusCode::OK, "ok\n")
    } else if path == "/" {
        landing(&st)
    } else if path == "/docs/metrics" {
        let mut r = Response::new(Chunks::one(Bytes::from(crate::docs::metrics_markdown())));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/markdown; charset=utf-8"));
        r
    } else {
        text(StatusCode::NOT_FOUND, "not found\n")
    };
    Ok(with_headers(resp, &st.headers))
}

fn with_headers(mut r: Response<Chunks>, extra: &[(http::HeaderName, HeaderValue)]) -> Response<Chunks> {
    for (k, v) in extra {
        r.headers_mut().insert(k.clone(), v.clone());
    }
    r
}

/// The header in which Prometheus sends its scrape timeout (a name made once, not parsed from
/// text on every scrape).
const SCRAPE_TIMEOUT: header::HeaderName = header::HeaderName::from_static("x-prometheus-scrape-timeout-seconds");

async fn metrics(req: &Request<Incoming>, st: &State) -> Response<Chunks> {
    // The first value of each of the three headers read, in one pass over the few a scraper
    // sends (three hashed lookups cost more).
    let (mut timeout, mut accept, mut encoding) = (None, None, None);
    for (k, v) in req.headers() {
        if *k == header::ACCEPT {
            accept.get_or_insert(v);
        } else if *k == header::ACCEPT_ENCODING {
            encoding.get_or_insert(v);
        } else if *k == SCRAPE_TIMEOUT {
            timeout.get_or_insert(v);
        }
    }
    let scrape_timeout = timeout
        .and_then(header_text)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 86_400.0)
        .map(Duration::from_secs_f64);
    let format = st.negotiation.format(accept.map(HeaderValue::as_bytes));
    let gzip = accepts_gzip(encoding.and_then(header_text));

    let scrape = st.exporter.scrape(scrape_timeout).await;
    // The tasks' part is encoded (and compressed) once per upstream read; the exporter's own
    // part is fresh on every scrape, and a gzip member of its own.
    let mut own = Vec::with_capacity(4096);
    {
        // A panic while filling leaves series that the next fill checks one by one.
        let mut kept = st.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (kept, templates) = &mut *kept;
        st.exporter.own_series(&scrape, kept.fill());
        templates[usize::from(format == Format::OpenMetrics)].encode(kept, format, &mut own);
    }
    if format == Format::OpenMetrics {
        own.extend_from_slice(b"# EOF\n");
    }
    // The shared part goes out as it is, beside the fresh one (one writev), not copied.
    let body = if gzip {
        // The one deflate state (a compressor is some 300 KB to set up, and freeing it hands
        // pages back to the kernel). Each use resets it first, so a lock poisoned by a panic
        // still holds a usable one.
        let mut shared = st.gzip.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let g = &mut *shared;
        let empty = encode::gzip::Prefix::default();
        let prefix = match scrape.upstream.as_deref() {
            Some(u) if u.result.is_ok() => u.gzip_prefix(format, g),
            _ => &empty,
        };
        // Exactly the size of a stored tail, so that it becomes a `Bytes` without another
        // allocation.
        let mut rest = Vec::with_capacity(encode::gzip::stored_finish_len(own.len()));
        g.finish(prefix, &own, &mut rest);
        Chunks::two(prefix.start().clone(), Bytes::from(rest))
    } else {
        let task = scrape.upstream.as_deref().map(|u| u.body(format)).unwrap_or_default();
        Chunks::two(task, Bytes::from(own))
    };
    let resp_gzip = gzip;
    let mut r = Response::new(body);
    let hs = r.headers_mut();
    // Values made at compile time: `from_static` at run time checks every byte, every scrape.
    const VARY: HeaderValue = HeaderValue::from_static("Accept, Accept-Encoding");
    const GZIP: HeaderValue = HeaderValue::from_static("gzip");
    hs.insert(header::CONTENT_TYPE, content_type(format));
    hs.insert(header::VARY, VARY);
    if resp_gzip {
        hs.insert(header::CONTENT_ENCODING, GZIP);
    }
    r
}

/// The `Content-Type` of a metrics body, made at compile time.
fn content_type(format: Format) -> HeaderValue {
    const TEXT: HeaderValue = HeaderValue::from_static(Format::Text.content_type());
    const OPENMETRICS: HeaderValue = HeaderValue::from_static(Format::OpenMetrics.content_type());
    match format {
        Format::Text => TEXT,
        Format::OpenMetrics => OPENMETRICS,
    }
}

/// A response body of one or two byte chunks, each sent as it is: hyper writes them with the
/// head in one `writev`, so the tasks' part, encoded once per upstream read, is never copied
/// into a response. (`Full<Chain<Bytes, Bytes>>` does the same without this type, but it
/// instantiates hyper's write path for `Chain`: 18 KB more binary.)
#[derive(Debug, Default)]
pub struct Chunks {
    parts: [Bytes; 2],
    next: usize,
}

impl Chunks {
    /// A body of one chunk.
    pub fn one(b: Bytes) -> Self {
        Chunks { parts: [b, Bytes::new()], next: 0 }
    }

    /// `a`, then `b`.
    pub fn two(a: Bytes, b: Bytes) -> Self {
        Chunks { parts: [a, b], next: 0 }
    }

    fn rest(&self) -> &[Bytes] {
        self.parts.get(self.next..).unwrap_or_default()
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        while let Some(b) = this.parts.get_mut(this.next) {
            this.next += 1;
            let b = std::mem::take(b);
            if !b.is_empty() {
                return std::task::Poll::Ready(Some(Ok(Frame::data(b))));
            }
        }
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.rest().iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest().iter().map(|b| b.len() as u64).sum())
    }
}

/// A request header's value as text, for negotiation: `from_utf8`'s word-at-a-time check rather
/// than `to_str`'s byte-by-byte one (Prometheus's `Accept` is some 250 bytes); a value that is not
/// UTF-8 reads as absent, and other bytes `to_str` refuses cannot match any token we look for.
fn header_text(v: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(v.as_bytes()).ok()
}

/// Whether `Accept-Encoding` allows gzip (present with a non-zero quality, or `*`).
pub fn accepts_gzip(v: Option<&str>) -> bool {
    let Some(v) = v else { return false };
    v.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
    })
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    let mut r = Response::new(Chunks::one(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// HTML-escape `s`.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The status page: mode, upstream, the last read, links. Tiny, no scripts.
fn landing(st: &State) -> Response<Chunks> {
    let src = st.exporter.source();
    let mode = if st.demo { format!("{} (demo: a built-in simulation)", src.mode()) } else { src.mode().to_owned() };
    let last = match st.exporter.last_read() {
        crate::scrape::LastRead::InFlight => "a read is in flight".to_owned(),
        crate::scrape::LastRead::None => "none yet (the first scrape reads it)".to_owned(),
        crate::scrape::LastRead::Done(u) => {
            let ago = u.at.elapsed().as_secs_f64();
            match &u.result {
                Ok((snap, errors)) => format!(
                    "ok, {ago:.1} s ago: {} series{}",
                    snap.series.len(),
                    if *errors > 0 { format!(", {errors} entries could not be used") } else { String::new() }
                ),
                Err(e) => {
                    format!("failed, {ago:.1} s ago: {e}{}", e.hint.map(|h| format!(" ({h})")).unwrap_or_default())
                }
            }
        }
    };
    let path = esc(&st.telemetry_path);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ECS Exporter</title>\n\
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}}th{{text-align:left;padding-right:1em;vertical-align:top}}</style></head>\n\
<body><h1>ECS Exporter</h1>\n<table>\n\
<tr><th>Version</th><td>{version} ({revision})</td></tr>\n\
<tr><th>Mode</th><td id=\"mode\">{mode}</td></tr>\n\
<tr><th>Upstream</th><td id=\"upstream\">{upstream}</td></tr>\n\
<tr><th>Last read</th><td id=\"last-read\">{last}</td></tr>\n\
<tr><th>Up for</th><td>{up:.0} s</td></tr>\n</table>\n\
<ul><li><a href=\"{path}\">Metrics</a> (Prometheus text; OpenMetrics when asked)</li>\n\
<li><a href=\"/health\">Health</a></li>\n\
<li><a href=\"/docs/metrics\">Metric reference</a> (every family, its labels and source)</li></ul>\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
        revision = esc(crate::config::REVISION),
        mode = esc(&mode),
        upstream = esc(&src.describe()),
        last = esc(&last),
        up = st.started.elapsed().as_secs_f64(),
    );
    let mut r = Response::new(Chunks::one(Bytes::from(html)));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}

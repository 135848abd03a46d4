//! The HTTP server: routes (`/metrics`, `/health`, `/`), content negotiation and gzip, a bound
//! on connections, header-read timeouts, and graceful shutdown. Socket work only: everything
//! about metrics happens in [`crate::scrape`] and [`crate::encode`].

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
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    /// Size of the last body, to size the next buffer.
    last_size: AtomicUsize,
}

impl State {
    /// Handler state around an exporter, without authentication or extra headers.
    pub fn new(exporter: Exporter, telemetry_path: String) -> Self {
        State {
            exporter: std::sync::Arc::new(exporter),
            telemetry_path,
            auth: None,
            headers: Vec::new(),
            last_size: AtomicUsize::new(4096),
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Bind `addr` (`:PORT` means every interface, IPv6 and IPv4 where available).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    let err = |source| ServerError::Bind { addr: addr.to_owned(), source };
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
/// stop accepting, let in-flight requests finish (up to [`SHUTDOWN_GRACE`]) and return.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    max_connections: usize,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
    tokio::pin!(shutdown);
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
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, st.clone()));
            let result = match tls {
                #[cfg(feature = "tls")]
                Some(t) => match tokio::time::timeout(HEADER_READ_TIMEOUT, t.acceptor.accept(stream)).await {
                    Ok(Ok(s)) => watcher.watch(builder.serve_connection(TokioIo::new(s), svc)).await,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        Ok(())
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
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
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting, finishing in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "in-flight requests did not finish in time");
    }
}

/// Route one request.
pub async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
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
            let mut r = Response::new(Full::new(Bytes::new()));
            let fmt = Format::negotiate(req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(fmt.content_type()));
            r
        } else {
            metrics(&req, &st).await
        }
    } else if path == "/health" || path == "/-/healthy" {
        text(StatusCode::OK, "ok\n")
    } else if path == "/" {
        landing(&st.telemetry_path)
    } else {
        text(StatusCode::NOT_FOUND, "not found\n")
    };
    Ok(with_headers(resp, &st.headers))
}

fn with_headers(mut r: Response<Full<Bytes>>, extra: &[(http::HeaderName, HeaderValue)]) -> Response<Full<Bytes>> {
    for (k, v) in extra {
        r.headers_mut().insert(k.clone(), v.clone());
    }
    r
}

async fn metrics(req: &Request<Incoming>, st: &State) -> Response<Full<Bytes>> {
    let h = req.headers();
    let scrape_timeout = h
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 86_400.0)
        .map(Duration::from_secs_f64);
    let format = Format::negotiate(h.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = accepts_gzip(h.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));

    let scrape = st.exporter.scrape(scrape_timeout).await;
    let mut body = Vec::with_capacity(st.last_size.load(Ordering::Relaxed) + 1024);
    encode::encode_parts(&scrape.parts(), format, &mut body);
    st.last_size.store(body.len(), Ordering::Relaxed);

    let mut resp_gzip = false;
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        if enc.write_all(&body).is_ok() {
            if let Ok(z) = enc.finish() {
                body = z;
                resp_gzip = true;
            }
        }
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let hs = r.headers_mut();
    hs.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    hs.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if resp_gzip {
        hs.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
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

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn landing(path: &str) -> Response<Full<Bytes>> {
    let mut esc = String::new();
    for c in path.chars() {
        match c {
            '<' => esc.push_str("&lt;"),
            '>' => esc.push_str("&gt;"),
            '&' => esc.push_str("&amp;"),
            '"' => esc.push_str("&quot;"),
            c => esc.push(c),
        }
    }
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ECS Exporter</title></head>\n<body><h1>ECS Exporter</h1>\n<p>Prometheus exporter for Amazon ECS tasks, version {} ({}).</p>\n<ul><li><a href=\"{esc}\">Metrics</a></li><li><a href=\"/health\">Health</a></li></ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        crate::config::REVISION,
    );
    let mut r = Response::new(Full::new(Bytes::from(html)));
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

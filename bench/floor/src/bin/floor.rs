//! The floor exporter: for every request, GET `<uri>/task` and `<uri>/task/stats` at once over
//! the client's pooled keep-alive connections, read both bodies whole, check that each is JSON
//! (`serde::de::IgnoredAny`: nothing built), and answer with the bytes of `--body`. With
//! `--cached`, only the answer. `--header-timeout` arms hyper's 10 s header-read timer, as a
//! real exporter does (off by default, as in the shared tool). Runtime: tokio current_thread,
//! each connection a spawned task, like the exporter (a `LocalSet` costs some 4 µs more per
//! cached scrape here, which made this floor read high against the shared tool's).
//!
//!   floor --listen 127.0.0.1:PORT --uri http://127.0.0.1:UP --body FILE [--cached] [--header-timeout]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

struct Floor {
    client: Client<HttpConnector, Empty<Bytes>>,
    task: hyper::Uri,
    stats: hyper::Uri,
    body: Bytes,
    cached: bool,
}

impl Floor {
    /// One upstream GET: the whole body, checked to be JSON.
    async fn fetch(&self, uri: &hyper::Uri) -> Result<(), String> {
        let resp = self.client.get(uri.clone()).await.map_err(|e| e.to_string())?;
        if resp.status() != StatusCode::OK {
            return Err(format!("status {}", resp.status()));
        }
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn handle(&self, _req: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.cached {
            let (a, b) = tokio::join!(self.fetch(&self.task), self.fetch(&self.stats));
            if let Err(e) = a.and(b) {
                let mut r = Response::new(Full::new(Bytes::from(e)));
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                return r;
            }
        }
        let mut r = Response::new(Full::new(self.body.clone()));
        // As any exporter answers (and the shared tool's floor does).
        r.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"));
        r
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: floor --listen ADDR --uri URI --body FILE [--cached] [--header-timeout]";
    let listen = arg(&args, "--listen").ok_or(usage)?;
    let uri = arg(&args, "--uri").ok_or(usage)?;
    let body = Bytes::from(std::fs::read(arg(&args, "--body").ok_or(usage)?)?);
    let cached = args.iter().any(|a| a == "--cached");
    let header_timeout = args.iter().any(|a| a == "--header-timeout");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let floor = Arc::new(Floor {
            client: Client::builder(TokioExecutor::new()).build(conn),
            task: format!("{uri}/task").parse()?,
            stats: format!("{uri}/task/stats").parse()?,
            body,
            cached,
        });
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let floor = floor.clone();
            tokio::spawn(async move {
                let mut b = http1::Builder::new();
                b.keep_alive(true);
                if header_timeout {
                    b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                }
                let svc = service_fn(move |req| {
                    let floor = floor.clone();
                    async move { Ok::<_, Infallible>(floor.handle(req).await) }
                });
                let _ = b.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    })
}

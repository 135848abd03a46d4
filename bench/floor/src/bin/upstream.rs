//! A static task metadata endpoint: `GET /task` answers FILE1, `GET /task/stats` FILE2, over
//! keep-alive, with no work per request but the write; `GET /__upstream/counters` answers
//! `connections,requests` seen so far (that request included), so a benchmark can check that
//! connections are reused. Runtime: tokio current_thread.
//!
//!   upstream PORT TASK_JSON STATS_JSON

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;

struct Upstream {
    task: Bytes,
    stats: Bytes,
    connections: Cell<u64>,
    requests: Cell<u64>,
}

impl Upstream {
    fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.set(self.requests.get() + 1);
        let body = match req.uri().path() {
            "/task" => self.task.clone(),
            "/task/stats" => self.stats.clone(),
            "/__upstream/counters" => Bytes::from(format!("{},{}", self.connections.get(), self.requests.get())),
            _ => {
                let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
                *r.status_mut() = StatusCode::NOT_FOUND;
                return r;
            }
        };
        let mut r = Response::new(Full::new(body));
        r.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
        r
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, task, stats] = &args[..] else {
        return Err("usage: upstream PORT TASK_JSON STATS_JSON".into());
    };
    let up = Rc::new(Upstream {
        task: Bytes::from(std::fs::read(task)?),
        stats: Bytes::from(std::fs::read(stats)?),
        connections: Cell::new(0),
        requests: Cell::new(0),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            up.connections.set(up.connections.get() + 1);
            let up = up.clone();
            tokio::task::spawn_local(async move {
                let svc = service_fn(move |req| {
                    let up = up.clone();
                    async move { Ok::<_, Infallible>(up.handle(&req)) }
                });
                let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    })
}

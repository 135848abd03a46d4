//! Pipelined HTTP/1.1 GETs, for host mode's Docker Engine calls. A scrape asks the Engine for the
//! stats of every container: through the general client ([`super::http`]) each call was a
//! request task, a connection task, a timer, header maps and a system call or two each way,
//! and at 500 containers that cost host mode as much again as the sidecar's whole scrape.
//!
//! Here a batch of calls is shared among at most N kept-alive connections; each connection is
//! handed its share at once (one `write`), and its answers are read back to back from one buffer,
//! each handed to the parser as soon as it is complete. HTTP/1.1 servers answer pipelined
//! requests in order (RFC 9112 §9.3.2): the Docker Engine (Go's `net/http`) and hyper do.
//!
//! Answers are framed by `Content-Length`, by chunks (the Engine chunks any body over 2 KB; chunk
//! sizes are read by `httparse`), or by the end of the connection. Each answer must arrive within
//! the call timeout of the one before it (the first, of the write), and all by the deadline. A
//! call that fails or times out is reported alone: the calls queued behind it on its connection
//! are sent again on a fresh one. A kept connection the server has closed meanwhile is replaced
//! once without counting a failure (GETs are safe to send again).

use super::http::FetchError;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where each answer goes: the index of its path, and its 2xx body or why there is none.
type Each<'a> = Mutex<&'a mut (dyn FnMut(usize, Result<&[u8], FetchError>) + Send)>;

/// Where the server listens.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A unix socket (the Docker Engine's `/var/run/docker.sock`).
    Unix(PathBuf),
    /// `host:port` over TCP.
    Tcp(String),
}

/// Headers an answer may have: more is an invalid answer.
const MAX_HEADERS: usize = 64;
/// The most bytes an answer's head may take.
const MAX_HEAD: usize = 64 * 1024;
/// Room made in the read buffer before each read: several answers of the Engine fit.
const READ_CHUNK: usize = 32 * 1024;

/// A client of one server, keeping up to `max_idle` connections open between batches.
#[derive(Debug)]
pub struct Pipeline {
    endpoint: Endpoint,
    /// The server as shown in URLs: `unix:///var/run/docker.sock`, `http://host:port`.
    shown: String,
    /// The `Host` header.
    host: String,
    connect_timeout: Duration,
    max_body: usize,
    max_idle: usize,
    idle: Mutex<Vec<Stream>>,
    /// Read buffers of finished shares, kept for the next batch: a host's container list (some
    /// 400 KB at 500 containers) grew its buffers from nothing, copying and faulting in every
    /// page, on every read.
    spare: Mutex<Vec<Reader>>,
}

/// The most read buffers kept between batches, and the largest kept.
const SPARE_READERS: usize = 64;
const SPARE_MAX_BYTES: usize = 4 << 20;

/// One connection.
#[derive(Debug)]
enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.write_all(b).await,
            Stream::Tcp(s) => s.write_all(b).await,
        }
    }

    async fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read_buf(buf).await,
            Stream::Tcp(s) => s.read_buf(buf).await,
        }
    }
}

/// Why an answer did not come.
#[derive(Debug)]
enum Failure {
    /// The connection ended before the first byte of the answer.
    Closed,
    /// Anything else.
    Fetch(FetchError),
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        Failure::Fetch(e)
    }
}

/// Where an answer's body is.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Bytes `start..end` of the reader's unconsumed bytes.
    Buf(usize, usize),
    /// The reader's de-chunked bytes.
    Chunked,
}

/// One answer read: its status, its body, whether the connection can carry more, and where it
/// ends in the reader's unconsumed bytes.
#[derive(Debug, Clone, Copy)]
struct Answer {
    status: u16,
    body: Body,
    close: bool,
    end: usize,
}

/// The read side of one connection: `buf[start..]` is received and not yet consumed. Offsets
/// into an answer are taken from `start`, which stays put until the answer is consumed.
#[derive(Debug, Default)]
struct Reader {
    buf: Vec<u8>,
    start: usize,
    chunked: Vec<u8>,
}

impl Reader {
    /// The unconsumed bytes.
    fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Read more: `false` at the end of the stream. Consumed bytes are dropped first.
    async fn fill(&mut self, conn: &mut Stream) -> Result<bool, FetchError> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= READ_CHUNK {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(READ_CHUNK);
        match conn.read_into(&mut self.buf).await {
            Ok(n) => Ok(n > 0),
            Err(e) => Err(FetchError::Connect(format!("read failed: {e}"))),
        }
    }

    /// Read until `n` bytes are unconsumed; `what` names the part for the error at an early end.
    async fn fill_to(&mut self, conn: &mut Stream, n: usize, what: &str) -> Result<(), FetchError> {
        while self.rest().len() < n {
            if !self.fill(conn).await? {
                return Err(FetchError::Connect(format!("body read failed: connection closed in the {what}")));
            }
        }
        Ok(())
    }

    /// The body of `a`.
    fn body(&self, a: &Answer) -> &[u8] {
        match a.body {
            Body::Buf(s, e) => &self.rest()[s..e],
            Body::Chunked => &self.chunked,
        }
    }

    /// Read the next answer: its head and its whole body.
    async fn answer(&mut self, conn: &mut Stream, max_body: usize) -> Result<Answer, Failure> {
        let head = loop {
            match head(self.rest()) {
                Ok(Some(Head { status, head_len, .. })) if (100..200).contains(&status) && status != 101 => {
                    // Interim answer: skip it.
                    self.start += head_len;
                }
                Ok(Some(h)) => break h,
                Ok(None) => {
                    if self.rest().len() > MAX_HEAD {
                        return Err(FetchError::Invalid("answer head over 64 KiB".into()).into());
                    }
                    let had = !self.rest().is_empty();
                    if !self.fill(conn).await? {
                        return Err(if had {
                            FetchError::Connect("connection closed in the middle of an answer".into()).into()
                        } else {
                            Failure::Closed
                        });
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        let Head { status, head_len, length, chunked, close } = head;
        let capped = || FetchError::Invalid(format!("body is over the {max_body}-byte cap"));
        if chunked {
            self.chunked.clear();
            let mut pos = head_len;
            loop {
                let (size_len, size) = match httparse::parse_chunk_size(&self.rest()[pos..]) {
                    Ok(httparse::Status::Complete(c)) => c,
                    Ok(httparse::Status::Partial) => {
                        let n = self.rest().len() + 1;
                        self.fill_to(conn, n, "chunk size").await?;
                        continue;
                    }
                    Err(_) => return Err(FetchError::Invalid("bad chunk size".into()).into()),
                };
                if size == 0 {
                    // Trailers (usually none), then the empty line.
                    let mut line = pos + size_len;
                    loop {
                        match self.rest()[line..].windows(2).position(|w| w == b"\r\n") {
                            Some(0) => break,
                            Some(i) => line += i + 2,
                            None => {
                                let n = self.rest().len() + 1;
                                self.fill_to(conn, n, "trailers").await?;
                            }
                        }
                    }
                    return Ok(Answer { status, body: Body::Chunked, close, end: line + 2 });
                }
                if self.chunked.len() as u64 + size > max_body as u64 {
                    return Err(capped().into());
                }
                let data = pos + size_len;
                let end = data + size as usize + 2;
                self.fill_to(conn, end, "body").await?;
                let rest = &self.buf[self.start..];
                if &rest[end - 2..end] != b"\r\n" {
                    return Err(FetchError::Invalid("bad chunk".into()).into());
                }
                self.chunked.extend_from_slice(&rest[data..end - 2]);
                pos = end;
            }
        }
        match length {
            _ if status == 204 || status == 304 => {
                Ok(Answer { status, body: Body::Buf(head_len, head_len), close, end: head_len })
            }
            Some(n) if n > max_body as u64 => {
                Err(FetchError::Invalid(format!("body of {n} bytes is over the {max_body}-byte cap")).into())
            }
            Some(n) => {
                let end = head_len + n as usize;
                self.fill_to(conn, end, "body").await?;
                Ok(Answer { status, body: Body::Buf(head_len, end), close, end })
            }
            None => {
                // Until the end of the connection.
                while self.fill(conn).await? {
                    if self.rest().len() - head_len > max_body {
                        return Err(capped().into());
                    }
                }
                let end = self.rest().len();
                Ok(Answer { status, body: Body::Buf(head_len, end), close: true, end })
            }
        }
    }
}

/// What an answer's head says of it.
#[derive(Debug, Clone, Copy)]
struct Head {
    status: u16,
    head_len: usize,
    length: Option<u64>,
    chunked: bool,
    close: bool,
}

/// The head at the start of `b`: `None` while incomplete.
fn head(b: &[u8]) -> Result<Option<Head>, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(b) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FetchError::Invalid(format!("not an HTTP answer: {e}"))),
    };
    let mut h = Head { status: resp.code.unwrap_or(0), head_len, length: None, chunked: false, close: false };
    // HTTP/1.0 closes unless told otherwise; we never ask it to keep the connection.
    h.close = resp.version == Some(0);
    for x in resp.headers.iter() {
        if x.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(x.value).ok().and_then(|v| v.trim().parse::<u64>().ok());
            match v {
                Some(v) if h.length.is_none_or(|l| l == v) => h.length = Some(v),
                _ => return Err(FetchError::Invalid("bad Content-Length".into())),
            }
        } else if x.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides: chunked, or the body runs to the end of the connection.
            h.chunked =
                x.value.rsplit(|c| *c == b',').next().is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            h.close |= !h.chunked;
        } else if x.name.eq_ignore_ascii_case("connection") {
            h.close |= x.value.split(|c| *c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    Ok(Some(h))
}

/// `fut` by `deadline`, or a timeout of `budget`.
async fn within<T>(
    deadline: Instant,
    budget: Duration,
    fut: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline.into(), fut).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(budget).into()),
    }
}

impl Pipeline {
    /// A client of `endpoint`; connections are opened within `connect_timeout`, bodies over
    /// `max_body` bytes are refused, and up to `max_idle` connections are kept between batches.
    pub fn new(endpoint: Endpoint, connect_timeout: Duration, max_body: u64, max_idle: usize) -> Self {
        let (shown, host) = match &endpoint {
            Endpoint::Unix(p) => (format!("unix://{}", p.display()), "localhost".to_owned()),
            Endpoint::Tcp(hp) => (format!("http://{hp}"), hp.clone()),
        };
        Pipeline {
            endpoint,
            shown,
            host,
            connect_timeout,
            max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// The URL of `path`, for logs.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.shown, path)
    }

    /// GET every path of `paths` over at most `conns` connections, each answer within
    /// `timeout` of the one before it on its connection and all by `deadline`; each 2xx body is
    /// handed to `parse`. The results are in the order of `paths`.
    pub async fn get_all<T: Send, E: std::fmt::Display>(
        &self,
        paths: &[String],
        conns: usize,
        timeout: Duration,
        deadline: Instant,
        parse: impl Fn(&[u8]) -> Result<T, E> + Send + Sync,
    ) -> Vec<Result<T, FetchError>> {
        let mut out: Vec<Option<Result<T, FetchError>>> = (0..paths.len()).map(|_| None).collect();
        let mut each = |i: usize, r: Result<&[u8], FetchError>| {
            out[i] = Some(r.and_then(|b| parse(b).map_err(|e| FetchError::Invalid(e.to_string()))));
        };
        self.run(paths, conns, timeout, deadline, &Mutex::new(&mut each)).await;
        out.into_iter().map(|r| r.unwrap_or(Err(FetchError::Invalid("no answer".into())))).collect()
    }

    /// [`Pipeline::get_all`] without types: each answer (a 2xx body, or why there is none) is
    /// handed to `each` with the index of its path. One copy of the code whatever is parsed.
    async fn run(&self, paths: &[String], conns: usize, timeout: Duration, deadline: Instant, each: &Each<'_>) {
        let n = paths.len();
        let k = conns.clamp(1, n.max(1));
        let shares = (0..k).map(|i| self.share(paths, (i * n / k)..((i + 1) * n / k), timeout, deadline, each));
        futures_util::future::join_all(shares).await;
    }

    /// One connection's share of a batch: `paths[range]`, pipelined; the calls left after a
    /// failure go on a fresh connection.
    async fn share(
        &self,
        paths: &[String],
        range: std::ops::Range<usize>,
        timeout: Duration,
        deadline: Instant,
        each: &Each<'_>,
    ) {
        let give = |i: usize, r: Result<&[u8], FetchError>| {
            if let Ok(mut f) = each.lock() {
                f(i, r);
            }
        };
        let mut next = range.start;
        let mut fresh = false;
        let mut reader = self.spare.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
        let mut req = Vec::new();
        while next < range.end {
            let now = Instant::now();
            if now >= deadline {
                for i in next..range.end {
                    give(i, Err(FetchError::Timeout(Duration::ZERO)));
                }
                break;
            }
            let (mut conn, reused) = match self.checkout(fresh, deadline).await {
                Ok(c) => c,
                Err(e) => {
                    for i in next..range.end {
                        give(i, Err(e.clone()));
                    }
                    break;
                }
            };
            req.clear();
            for p in &paths[next..range.end] {
                self.request(&mut req, p);
            }
            reader.buf.clear();
            reader.start = 0;
            let budget = timeout.min(deadline.saturating_duration_since(now));
            let sent = within(now + budget, budget, async {
                conn.write_all(&req).await.map_err(|e| FetchError::Connect(format!("write failed: {e}")).into())
            })
            .await;
            let mut failure = sent.err();
            let mut keep = failure.is_none();
            let first = next;
            while failure.is_none() && next < range.end {
                let now = Instant::now();
                let budget = timeout.min(deadline.saturating_duration_since(now));
                match within(now + budget, budget, reader.answer(&mut conn, self.max_body)).await {
                    Ok(a) => {
                        let body = reader.body(&a);
                        tracing::debug!(url = %self.url(&paths[next]), body = %String::from_utf8_lossy(body), "upstream body");
                        give(
                            next,
                            if (200..300).contains(&a.status) { Ok(body) } else { Err(FetchError::Http(a.status)) },
                        );
                        next += 1;
                        reader.start += a.end;
                        if a.close {
                            keep = false;
                            break;
                        }
                    }
                    Err(f) => {
                        failure = Some(f);
                        keep = false;
                    }
                }
            }
            // Pooled only when every answer was read and nothing more came.
            if keep && next == range.end && reader.start == reader.buf.len() {
                self.checkin(conn);
            }
            match failure {
                None => fresh = true,
                // A kept connection the server closed before answering: once more, on a new one.
                Some(f) if reused && next == first && !matches!(f, Failure::Fetch(FetchError::Timeout(_))) => {
                    fresh = true
                }
                Some(f) => {
                    let e = match f {
                        Failure::Closed => FetchError::Connect("connection closed before the answer".into()),
                        Failure::Fetch(e) => e,
                    };
                    give(next, Err(e));
                    next += 1;
                    fresh = true;
                }
            }
        }
        // Kept for the next batch, emptied, unless it grew past what is worth keeping.
        if reader.buf.capacity().max(reader.chunked.capacity()) <= SPARE_MAX_BYTES {
            reader.buf.clear();
            reader.chunked.clear();
            reader.start = 0;
            if let Ok(mut spare) = self.spare.lock() {
                if spare.len() < SPARE_READERS {
                    spare.push(reader);
                }
            }
        }
    }

    /// Append a GET of `path` to `req`.
    fn request(&self, req: &mut Vec<u8>, path: &str) {
        for part in [
            "GET ",
            path,
            " HTTP/1.1\r\nHost: ",
            &self.host,
            concat!("\r\nUser-Agent: ecs-exporter/", env!("CARGO_PKG_VERSION"), "\r\nAccept: application/json\r\n\r\n"),
        ] {
            req.extend_from_slice(part.as_bytes());
        }
    }

    /// A kept connection (unless `fresh`), else a new one within the connect timeout.
    async fn checkout(&self, fresh: bool, deadline: Instant) -> Result<(Stream, bool), FetchError> {
        if !fresh {
            if let Some(s) = self.idle.lock().ok().and_then(|mut i| i.pop()) {
                return Ok((s, true));
            }
        }
        let budget = self.connect_timeout.min(deadline.saturating_duration_since(Instant::now()));
        let connect = async {
            match &self.endpoint {
                Endpoint::Unix(p) => tokio::net::UnixStream::connect(p).await.map(Stream::Unix),
                Endpoint::Tcp(hp) => {
                    let s = tokio::net::TcpStream::connect(hp.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }
            }
        };
        match tokio::time::timeout(budget, connect).await {
            Ok(Ok(s)) => Ok((s, false)),
            Ok(Err(e)) => Err(FetchError::Connect(e.to_string())),
            Err(_) => Err(FetchError::Timeout(budget)),
        }
    }

    /// Keep `conn` for the next batch, if there is room.
    fn checkin(&self, conn: Stream) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// What the scripted server does for one request.
    enum Act {
        /// Write these bytes.
        Send(Vec<u8>),
        /// Write these bytes a few at a time, so that heads, chunk sizes and bodies are split
        /// across reads.
        Trickle(Vec<u8>),
        /// Close the connection without answering.
        Close,
        /// Never answer.
        Hang,
    }

    /// A server on 127.0.0.1 that reads pipelined GETs and acts as `script(connection, path)`
    /// says; returns its endpoint and the count of connections accepted.
    async fn server(script: impl Fn(usize, &str) -> Act + Send + Sync + 'static) -> (Endpoint, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let conns = Arc::new(AtomicUsize::new(0));
        let (script, counted) = (Arc::new(script), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let req = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            let path = req.split(' ').nth(1).unwrap_or_default().to_owned();
                            match script(n, &path) {
                                Act::Send(b) => {
                                    if s.write_all(&b).await.is_err() {
                                        return;
                                    }
                                }
                                Act::Trickle(b) => {
                                    for piece in b.chunks(5) {
                                        if s.write_all(piece).await.is_err() {
                                            return;
                                        }
                                        tokio::time::sleep(Duration::from_micros(200)).await;
                                    }
                                }
                                Act::Close => return,
                                Act::Hang => std::future::pending::<()>().await,
                            }
                        }
                        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                });
            }
        });
        (Endpoint::Tcp(addr), conns)
    }

    fn ok(body: &str) -> Act {
        Act::Send(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes())
    }

    fn chunked(parts: &[&str]) -> Act {
        let mut b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for p in parts {
            b.extend_from_slice(format!("{:x}\r\n{p}\r\n", p.len()).as_bytes());
        }
        b.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        Act::Send(b)
    }

    fn paths(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("/p{i}")).collect()
    }

    async fn get(p: &Pipeline, paths: &[String], conns: usize, timeout_ms: u64) -> Vec<Result<String, FetchError>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        p.get_all(paths, conns, Duration::from_millis(timeout_ms), deadline, |b| {
            String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
        })
        .await
    }

    fn texts(r: &[Result<String, FetchError>]) -> Vec<String> {
        r.iter().map(|r| r.as_ref().map_or_else(|e| format!("ERR {e}"), |s| s.clone())).collect()
    }

    #[tokio::test]
    async fn answers_in_order_of_the_paths_whatever_their_framing() {
        // Even paths answer with a length, odd ones in chunks; a 100 Continue comes first on /p3.
        let (ep, conns) = server(|_, p| {
            let i: usize = p[2..].parse().unwrap();
            match i % 2 {
                0 => ok(&format!("body{i}")),
                _ if i == 3 => Act::Send(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nbo\r\n3\r\ndy3\r\n0\r\n\r\n".to_vec(),
                ),
                _ => chunked(&["bo", &format!("dy{i}")]),
            }
        })
        .await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(10), 3, 1000).await;
        assert_eq!(texts(&r), (0..10).map(|i| format!("body{i}")).collect::<Vec<_>>());
        assert_eq!(conns.load(Ordering::SeqCst), 3);
        // The next batch reuses the kept connections.
        let r = get(&p, &paths(6), 3, 1000).await;
        assert_eq!(texts(&r), (0..6).map(|i| format!("body{i}")).collect::<Vec<_>>());
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn answers_split_anywhere_across_reads() {
        let (ep, _) = server(|_, p| match if p == "/p1" { chunked(&[p, "-", p]) } else { ok(p) } {
            Act::Send(b) => Act::Trickle(b),
            other => other,
        })
        .await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(3), 1, 2000).await;
        assert_eq!(texts(&r), ["/p0", "/p1-/p1", "/p2"]);
    }

    #[tokio::test]
    async fn a_stuck_call_fails_alone_and_the_calls_behind_it_go_on_a_new_connection() {
        let (ep, conns) = server(|c, p| if c == 0 && p == "/p1" { Act::Hang } else { ok(p) }).await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(4), 1, 200).await;
        assert_eq!(texts(&r), ["/p0", "ERR no complete answer within 200ms", "/p2", "/p3"]);
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_per_call() {
        let (ep, _) = server(|_, p| match p {
            "/p1" => Act::Send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}".to_vec()),
            "/p2" => Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n".to_vec()),
            "/p3" => Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\xff\xfe\xfd\xfc".to_vec()),
            "/p4" => chunked(&["0123456789", "0123456789", "x"]),
            "/p5" => Act::Close,
            _ => ok(p),
        })
        .await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 20, 4);
        let r = get(&p, &paths(7), 1, 1000).await;
        let t = texts(&r);
        assert_eq!(t[0], "/p0");
        assert_eq!(t[1], "ERR HTTP status 404");
        assert_eq!(t[2], "ERR invalid response: body of 9999 bytes is over the 20-byte cap");
        assert!(t[3].starts_with("ERR invalid response: invalid utf-8"), "{}", t[3]);
        assert_eq!(t[4], "ERR invalid response: body is over the 20-byte cap");
        // Closed with requests unread: a reset or an end, by the kernel's choice.
        assert!(t[5].starts_with("ERR connection failed: "), "{}", t[5]);
        assert_eq!(t[6], "/p6");
    }

    #[tokio::test]
    async fn a_kept_connection_closed_meanwhile_is_replaced_without_an_error() {
        // The first connection answers once and then closes when asked again.
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = seen.clone();
        let (ep, conns) =
            server(move |c, p| if c == 0 && s2.fetch_add(1, Ordering::SeqCst) > 0 { Act::Close } else { ok(p) }).await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        assert_eq!(texts(&get(&p, &paths(1), 1, 1000).await), ["/p0"]);
        assert_eq!(texts(&get(&p, &paths(2), 1, 1000).await), ["/p0", "/p1"]);
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connection_close_and_bodies_to_the_end() {
        // `Connection: close` ends the connection's use; an HTTP/1.0 answer without a length
        // runs to the end of the connection (which this server never closes).
        let (ep, conns) = server(|_, p| {
            if p == "/p1" {
                Act::Send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n/p1".to_vec())
            } else if p == "/p2" {
                Act::Send(b"HTTP/1.0 200 OK\r\n\r\n/p2".to_vec())
            } else {
                ok(p)
            }
        })
        .await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(2), 1, 1000).await;
        assert_eq!(texts(&r), ["/p0", "/p1"]);
        assert_eq!(conns.load(Ordering::SeqCst), 1);
        let r = get(&p, &paths(4)[2..], 1, 300).await;
        // Not kept after /p1: a new connection. /p2 waits for an end that does not come and
        // times out; /p3 answers on a third.
        assert_eq!(texts(&r), ["ERR no complete answer within 300ms", "/p3"]);
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn bad_heads_and_chunks_are_invalid() {
        let (ep, _) = server(|_, p| match p {
            "/p0" => Act::Send(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()),
            "/p1" => Act::Send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec()),
            "/p2" => Act::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec()),
            _ => ok(p),
        })
        .await;
        let p = Pipeline::new(ep, Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(4), 4, 1000).await;
        let t = texts(&r);
        assert!(t[0].starts_with("ERR invalid response: not an HTTP answer"), "{}", t[0]);
        assert_eq!(t[1], "ERR invalid response: bad chunk size");
        assert_eq!(t[2], "ERR invalid response: bad Content-Length");
        assert_eq!(t[3], "/p3");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error_for_every_call() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let p = Pipeline::new(Endpoint::Tcp(addr), Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(3), 2, 1000).await;
        assert!(r.iter().all(|r| matches!(r, Err(FetchError::Connect(m)) if m.contains("refused"))), "{r:?}");
        let dir = std::env::temp_dir().join(format!("pipeline-test-{}", std::process::id()));
        let p = Pipeline::new(Endpoint::Unix(dir.join("docker.sock")), Duration::from_secs(1), 1 << 20, 4);
        let r = get(&p, &paths(1), 1, 1000).await;
        assert!(matches!(&r[0], Err(FetchError::Connect(m)) if m.contains("No such file")), "{r:?}");
    }
}

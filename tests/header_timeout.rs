//! The header-read timeout through real sockets against the real server, run in process with a
//! short timeout: a connection waiting for a request head (silent, half a head, trickling one,
//! idle after a response, in a stalled TLS handshake) is closed once the timeout has passed since
//! it was accepted or since its last response, each at its own deadline, and so is one that does
//! not read its responses; a connection in use, or one whose request takes longer than the
//! timeout, is never closed; shutdown closes the waiting ones at once.

use ecs_exporter::collect::Filter;
use ecs_exporter::scrape::Exporter;
use ecs_exporter::server::{self, State};
use ecs_exporter::simulate::{self, Endpoint, Scenario};
use ecs_exporter::source::{http::HttpClient, sidecar::Sidecar, Source};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The header-read timeout of these servers.
const T: Duration = Duration::from_millis(500);
/// How much later than its deadline a close may be seen on a shared, busy machine.
const SLACK: Duration = Duration::from_millis(250);
/// How long a scrape of the upstream that never answers takes (the metadata timeout).
const SLOW_SCRAPE: Duration = Duration::from_millis(1500);

/// A server on a thread of its own; dropping it shuts it down.
struct Server {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serve with the header-read timeout `T`: reading the simulated Fargate task, or, with
/// `silent_upstream`, an endpoint that accepts connections and never answers (each scrape then
/// takes `SLOW_SCRAPE`).
fn server(silent_upstream: bool) -> Server {
    server_with(silent_upstream, None)
}

/// [`server`], with TLS when `tls` is set.
fn server_with(silent_upstream: bool, tls: Option<server::Tls>) -> Server {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let uri = if silent_upstream {
                format!("http://{}/v4/x", silent.local_addr().unwrap())
            } else {
                let sim = server::bind("127.0.0.1:0").await.unwrap();
                let uri = format!("http://{}/v4/x", sim.local_addr().unwrap());
                let endpoint = Endpoint::new(simulate::Source::live(Scenario::Fargate));
                tokio::spawn(simulate::serve(sim, endpoint, std::future::pending()));
                uri
            };
            let client = HttpClient::tcp(uri, SLOW_SCRAPE, 1 << 20, 2);
            let source = Source::Sidecar(Sidecar::new(client, false));
            let exporter = Exporter::new(source, Filter::default(), SLOW_SCRAPE, Duration::ZERO);
            let state = Arc::new(State::new(exporter, "/metrics".to_owned()));
            let listener = server::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            let shutdown = async move {
                let _ = stopped.await;
            };
            server::serve(listener, state, 64, tls, Duration::from_secs(5), T, shutdown).await;
            drop(silent);
        });
    });
    Server { addr: addr_rx.recv().unwrap(), stop: Some(stop) }
}

/// A connection, and an instant before it was made (the server's clock for it starts later).
fn connect(addr: &str) -> (TcpStream, Instant) {
    let t0 = Instant::now();
    (TcpStream::connect(addr).unwrap(), t0)
}

/// GET `path` on a kept-alive connection: the status, once the whole response is read.
fn get(s: &mut TcpStream, path: &str) -> u16 {
    send(s, path);
    response(s, path)
}

/// Send a request for `path`.
fn send(s: &mut TcpStream, path: &str) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
}

/// Read the whole response to the request for `path`: its status.
fn response(s: &mut TcpStream, path: &str) -> u16 {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let (head_end, length) = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed while waiting for a response to {path}");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).expect("content-length");
            break (i + 4, length.trim().parse::<usize>().unwrap());
        }
    };
    while raw.len() < head_end + length {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed in the middle of a response to {path}");
        raw.extend_from_slice(&buf[..n]);
    }
    assert_eq!(raw.len(), head_end + length, "nothing after the response");
    String::from_utf8_lossy(&raw[9..12]).parse().unwrap()
}

/// Wait until the server closes `s` (end of stream, or a reset); how long after `from`. Panics
/// when it is still open `T + SLACK` after `from`, or sends anything.
fn closed(s: &mut TcpStream, from: Instant) -> Duration {
    let limit = (from + T + SLACK).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("still open {:?} after", from.elapsed())
        }
        Err(_) => {}
    }
    from.elapsed()
}

/// `took` is the timeout, give or take what a busy machine adds.
fn at_timeout(took: Duration) {
    assert!(took >= T - Duration::from_millis(50) && took <= T + SLACK, "closed after {took:?}, not {T:?}");
}

#[test]
fn a_client_that_sends_half_a_request_head_is_closed_after_the_timeout() {
    let srv = server(false);
    let (mut s, t0) = connect(&srv.addr);
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    at_timeout(closed(&mut s, t0));
}

#[test]
fn a_client_that_sends_nothing_is_closed_after_the_timeout() {
    let srv = server(false);
    let (mut s, t0) = connect(&srv.addr);
    at_timeout(closed(&mut s, t0));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_the_timeout_after_its_last_response() {
    let srv = server(false);
    let (mut s, t0) = connect(&srv.addr);
    std::thread::sleep(T / 2);
    assert_eq!(get(&mut s, "/metrics"), 200);
    let answered = Instant::now();
    at_timeout(closed(&mut s, answered));
    // The clock restarted at the response: the connection lived longer than one timeout.
    assert!(t0.elapsed() > T + T / 3, "{:?}", t0.elapsed());
}

#[test]
fn a_connection_that_keeps_scraping_is_never_closed() {
    let srv = server(false);
    let (mut s, t0) = connect(&srv.addr);
    let mut last = t0;
    // Requests 2/5 of a timeout apart, for four timeouts.
    while t0.elapsed() < 4 * T {
        std::thread::sleep(T * 2 / 5);
        assert_eq!(get(&mut s, "/metrics"), 200, "after {:?}", t0.elapsed());
        assert_eq!(get(&mut s, "/health"), 200);
        last = Instant::now();
    }
    at_timeout(closed(&mut s, last));
}

/// How a client of [`each_connection_is_closed_at_its_own_deadline`] waits.
#[derive(Clone, Copy, Debug)]
enum Waiting {
    Silent,
    HalfHead,
    /// Sends a byte of a head every fifth of a timeout and never finishes it.
    Trickling,
    /// Idle after one response.
    KeptAlive,
}

#[test]
fn each_connection_is_closed_at_its_own_deadline_and_a_slow_one_delays_none() {
    let srv = server(false);
    let kinds = [Waiting::Trickling, Waiting::Silent, Waiting::HalfHead, Waiting::KeptAlive, Waiting::Trickling];
    // Opened 300 ms apart: more than the slack, so a close that waited for another connection's
    // deadline would show.
    let stagger = Duration::from_millis(300);
    let start = Instant::now();
    let clients: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let addr = srv.addr.clone();
            std::thread::spawn(move || {
                std::thread::sleep((start + stagger * i as u32).saturating_duration_since(Instant::now()));
                let (mut s, t0) = connect(&addr);
                let from = match kind {
                    Waiting::Silent => t0,
                    Waiting::HalfHead => {
                        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
                        t0
                    }
                    Waiting::KeptAlive => {
                        assert_eq!(get(&mut s, "/health"), 200);
                        Instant::now()
                    }
                    Waiting::Trickling => {
                        s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
                        s.set_read_timeout(Some(T / 5)).unwrap();
                        let mut buf = [0u8; 64];
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
                                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                                Err(_) => break,
                            }
                            assert!(t0.elapsed() < T + SLACK, "still open after {:?}", t0.elapsed());
                            if s.write_all(b"a").is_err() {
                                break;
                            }
                        }
                        return (kind, t0.elapsed());
                    }
                };
                (kind, closed(&mut s, from))
            })
        })
        .collect();
    for c in clients {
        let (kind, took) = c.join().unwrap();
        assert!(took >= T - Duration::from_millis(50) && took <= T + SLACK, "{kind:?}: closed after {took:?}");
    }
}

#[test]
fn a_request_longer_than_the_timeout_is_not_cut_and_delays_no_other_close() {
    let srv = server(true);
    let addr = srv.addr.clone();
    let busy = std::thread::spawn(move || {
        let (mut s, t0) = connect(&addr);
        assert_eq!(get(&mut s, "/metrics"), 200);
        let answered = Instant::now();
        assert!(t0.elapsed() >= SLOW_SCRAPE - Duration::from_millis(50), "{:?}", t0.elapsed());
        at_timeout(closed(&mut s, answered));
    });
    // Two connections waiting for a head while the scrape is in flight: each closed on time.
    std::thread::sleep(T / 2);
    let (mut a, ta) = connect(&srv.addr);
    at_timeout(closed(&mut a, ta));
    let (mut b, tb) = connect(&srv.addr);
    b.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    at_timeout(closed(&mut b, tb));
    busy.join().unwrap();
}

#[test]
fn shutdown_closes_the_waiting_connections_at_once_and_finishes_the_request_in_flight() {
    let mut srv = server(true);
    let (mut s, t0) = connect(&srv.addr);
    send(&mut s, "/metrics");
    let busy = std::thread::spawn(move || {
        assert_eq!(response(&mut s, "/metrics"), 200);
        assert!(t0.elapsed() >= SLOW_SCRAPE - Duration::from_millis(50), "{:?}", t0.elapsed());
        // Then closed, at once (no keep-alive after shutdown).
        let answered = Instant::now();
        assert!(closed(&mut s, answered) < T / 2);
    });
    let (mut silent, _) = connect(&srv.addr);
    let (mut half, _) = connect(&srv.addr);
    half.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let (mut idle, _) = connect(&srv.addr);
    assert_eq!(get(&mut idle, "/health"), 200);
    std::thread::sleep(Duration::from_millis(100));
    let stop = Instant::now();
    srv.shutdown();
    for s in [&mut silent, &mut half, &mut idle] {
        let took = closed(s, stop);
        // Well before the header-read timeout would have closed them.
        assert!(took < T / 2, "closed {took:?} after shutdown");
    }
    busy.join().unwrap();
}

/// A TLS configuration with a self-signed certificate made by `openssl`.
#[cfg(feature = "tls")]
fn tls() -> server::Tls {
    let dir = std::env::temp_dir().join(format!("ecs-exporter-header-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost"])
        .current_dir(&dir)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings = ecs_exporter::webconfig::TlsSettings {
        cert_pem: std::fs::read(dir.join("cert.pem")).unwrap(),
        key_pem: std::fs::read(dir.join("key.pem")).unwrap(),
        client_ca_pem: None,
        require_client_cert: false,
        min_version: 12,
        max_version: 13,
    };
    let _ = std::fs::remove_dir_all(&dir);
    server::Tls::new(ecs_exporter::tls::server_config(&settings).unwrap())
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_handshake_that_stalls_is_closed_after_the_timeout() {
    let srv = server_with(false, Some(tls()));
    let (mut silent, t0) = connect(&srv.addr);
    // The first bytes of a ClientHello record, and no more.
    let (mut half, t1) = connect(&srv.addr);
    half.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]).unwrap();
    at_timeout(closed(&mut silent, t0));
    at_timeout(closed(&mut half, t1));
}

#[test]
fn a_client_that_does_not_read_its_responses_is_closed_after_the_timeout() {
    let srv = server(false);
    let (mut s, t0) = connect(&srv.addr);
    // Pipelined requests, their responses never read: once the socket buffers are full the
    // server cannot finish a response, and the clock runs from the handler's return.
    let requests = "GET /docs/metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100);
    while s.write_all(requests.as_bytes()).is_ok() {
        // Filling the buffers takes a few milliseconds.
        assert!(t0.elapsed() < 2 * T + SLACK, "still open after {:?}", t0.elapsed());
    }
    let took = t0.elapsed();
    assert!(took >= T - Duration::from_millis(50), "closed after {took:?}");
}

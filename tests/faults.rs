//! Never crash, never hang, never lie: each fault injected for real into the simulated endpoint,
//! observed through the real binary over HTTP.

mod common;

use common::proc::{exporter, get, request, simulator, Proc};
use std::time::{Duration, Instant};

/// `host:port` of a `http://host:port` URI.
fn hostport(uri: &str) -> &str {
    uri.trim_start_matches("http://")
}

fn set_fault(sim: &Proc, query: &str) {
    let r = get(hostport(&sim.addr), &format!("/_sim/fault?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A live Fargate simulator and an exporter reading it on every scrape (no reuse), with a
/// 1 s upstream timeout.
fn setup(extra: &[&str]) -> (Proc, Proc) {
    let sim = simulator(&[]);
    let uri = format!("{}/v4/abc", sim.addr);
    let mut args = vec!["--metadata.uri", uri.as_str(), "--metadata.timeout", "1s", "--metadata.cache-ttl", "0s"];
    args.extend_from_slice(extra);
    let exp = exporter(&args, &[]);
    (sim, exp)
}

fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// Scrape once with the fault on: 200 in time, `up 0`, the cause counted for `path` (when
/// given), exactly one warning naming the URL; then clear the fault and see `up 1` again.
fn check_fault(query: &str, outcome: &str, path: &str) {
    let (sim, exp) = setup(&[]);
    // A good scrape first, so recovery is a return to a known state.
    assert_eq!(metric(&get(&exp.addr, "/metrics").text(), "ecs_exporter_up"), Some(1.0));
    let _ = exp.stderr_lines(Duration::from_millis(50));
    set_fault(&sim, query);
    let started = Instant::now();
    let r = get(&exp.addr, "/metrics");
    let took = started.elapsed();
    // Timeout 1 s plus a margin.
    assert!(took < Duration::from_millis(1800), "{query}: took {took:?}");
    assert_eq!(r.status, 200, "{query}");
    let body = r.text();
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(0.0), "{query}: {body}");
    let counter = format!("ecs_exporter_upstream_requests_total{{path=\"{path}\",outcome=\"{outcome}\"}}");
    assert_eq!(metric(&body, &counter), Some(1.0), "{query}: {counter} in\n{body}");
    assert!(body.contains("\nprocess_resident_memory_bytes "), "{query}: own metrics missing");
    assert!(!body.contains("ecs_container_info"), "{query}: no stale task data on up 0");
    let warnings: Vec<String> =
        exp.stderr_lines(Duration::from_millis(500)).into_iter().filter(|l| l.contains("level=warn")).collect();
    assert_eq!(warnings.len(), 1, "{query}: {warnings:?}");
    assert!(warnings[0].contains(&sim.addr) && warnings[0].contains("cause="), "{query}: {warnings:?}");
    // The fault clears; the next scrape recovers by itself.
    set_fault(&sim, "mode=none");
    let body = get(&exp.addr, "/metrics").text();
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(1.0), "{query}: no recovery\n{body}");
}

#[test]
fn slow_upstream_times_out() {
    check_fault("mode=slow&delay_ms=5000&path=stats", "timeout", "/task/stats");
}

#[test]
fn http_500() {
    check_fault("mode=status500&path=task", "http_error", "/task");
}

#[test]
fn http_429_throttle() {
    check_fault("mode=status429", "http_error", "/task/stats");
}

#[test]
fn reset_mid_body() {
    check_fault("mode=reset&path=stats", "connect_error", "/task/stats");
}

#[test]
fn body_not_json() {
    check_fault("mode=not-json&path=task", "invalid", "/task");
}

#[test]
fn truncated_json() {
    check_fault("mode=truncated&path=stats", "invalid", "/task/stats");
}

#[test]
fn huge_body_is_cut_off_and_memory_stays_bounded() {
    // 512 MiB streamed without a length, against the default 8 MiB cap.
    check_fault("mode=huge&size_mb=512&path=stats", "invalid", "/task/stats");
    // Same again and look at the exporter's peak memory: far below the body size.
    let (sim, exp) = setup(&[]);
    set_fault(&sim, "mode=huge&size_mb=512");
    for _ in 0..3 {
        assert_eq!(metric(&get(&exp.addr, "/metrics").text(), "ecs_exporter_up"), Some(0.0));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", exp.child.id())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    // Two bodies capped at 8 MiB each plus the process itself: well under 64 MiB.
    assert!(hwm_kib < 64 * 1024, "peak RSS {hwm_kib} KiB");
}

#[test]
fn refused_connections_then_recovery() {
    // Nobody listens on the port at first (it is held, refusing connections).
    let (held, port) = common::proc::bound_not_listening();
    let uri = format!("http://127.0.0.1:{port}/v4/abc");
    let exp = exporter(&["--metadata.uri", &uri, "--metadata.timeout", "1s", "--metadata.cache-ttl", "0s"], &[]);
    let started = Instant::now();
    let body = get(&exp.addr, "/metrics").text();
    assert!(started.elapsed() < Duration::from_millis(1800));
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(0.0));
    assert_eq!(
        metric(&body, "ecs_exporter_upstream_requests_total{path=\"/task\",outcome=\"connect_error\"}"),
        Some(1.0),
        "{body}"
    );
    let warnings: Vec<String> =
        exp.stderr_lines(Duration::from_millis(500)).into_iter().filter(|l| l.contains("level=warn")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(&uri), "{warnings:?}");
    // The endpoint comes up on that port: the next scrape recovers.
    drop(held);
    let _sim = simulator_on(port);
    let body = get(&exp.addr, "/metrics").text();
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(1.0), "{body}");
}

fn simulator_on(port: u16) -> Proc {
    use std::io::BufRead;
    let mut child = std::process::Command::new(common::proc::BIN)
        .args(["simulate", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    Proc { child, stderr: std::sync::mpsc::channel().1, addr: line.trim().to_owned() }
}

#[test]
fn containers_come_and_go_between_task_and_stats() {
    let (sim, exp) = setup(&[]);
    set_fault(&sim, "mode=churn");
    let body = get(&exp.addr, "/metrics").text();
    // Not a failure: the data is consistent enough to export.
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(1.0), "{body}");
    // The newcomer is known to /task only: metadata, no usage series.
    assert!(body.contains("ecs_container_info{container_name=\"newcomer\""));
    assert!(!body.contains("ecs_container_cpu_usage_seconds_total{container_name=\"newcomer\"}"));
    // "web" left /task: no series at all, even though its stats are still there.
    assert!(!body.contains("container_name=\"web\""));
    // The others are untouched.
    assert!(body.contains("ecs_container_cpu_usage_seconds_total{container_name=\"log-router\"}"));
}

#[test]
fn scrape_timeout_header_bounds_the_upstream_wait() {
    let sim = simulator(&[]);
    let uri = format!("{}/v4/abc", sim.addr);
    // The configured timeout is long; Prometheus says it waits 1 s.
    let exp = exporter(&["--metadata.uri", &uri, "--metadata.timeout", "30s", "--metadata.cache-ttl", "0s"], &[]);
    set_fault(&sim, "mode=slow&delay_ms=10000");
    let started = Instant::now();
    let r = request(&exp.addr, "GET", "/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "1")]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "answered after {took:?}, past the scraper's 1 s");
    assert!(took > Duration::from_millis(500), "gave up too early: {took:?}");
    let body = r.text();
    assert_eq!(metric(&body, "ecs_exporter_up"), Some(0.0));
    assert_eq!(metric(&body, "ecs_exporter_upstream_requests_total{path=\"/task\",outcome=\"timeout\"}"), Some(1.0));
}

fn upstream_requests(sim: &Proc) -> (u64, u64) {
    let v: serde_json::Value = serde_json::from_str(&get(hostport(&sim.addr), "/_sim/requests").text()).unwrap();
    (v["/task"].as_u64().unwrap_or(0), v["/task/stats"].as_u64().unwrap_or(0))
}

fn concurrent_scrapes(addr: &str, n: usize) -> Vec<String> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let a = addr.to_owned();
            std::thread::spawn(move || get(&a, "/metrics").text())
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn fifty_concurrent_scrapes_cost_one_pair_of_upstream_requests() {
    // Default cache period (1 s): 50 scrapes at once read the endpoint once.
    let sim = simulator(&[]);
    let exp = exporter(&["--metadata.uri", &format!("{}/v4/abc", sim.addr)], &[]);
    let bodies = concurrent_scrapes(&exp.addr, 50);
    assert!(bodies.iter().all(|b| metric(b, "ecs_exporter_up") == Some(1.0)));
    assert_eq!(upstream_requests(&sim), (1, 1));

    // No reuse at all (cache 0 s), but a slow endpoint: scrapes that arrive while a read is in
    // flight share it.
    let sim = simulator(&["--fault", "slow", "--fault-delay", "400ms"]);
    let exp = exporter(&["--metadata.uri", &format!("{}/v4/abc", sim.addr), "--metadata.cache-ttl", "0s"], &[]);
    let bodies = concurrent_scrapes(&exp.addr, 50);
    assert!(bodies.iter().all(|b| metric(b, "ecs_exporter_up") == Some(1.0)));
    assert_eq!(upstream_requests(&sim), (1, 1));
}

#[test]
fn idle_and_slow_connections_do_not_block_metrics() {
    use std::io::Write;
    let (_sim, exp) = setup(&[]);
    // 400 connections that never send a byte, 100 that send half a request line and stop.
    let mut held = Vec::new();
    for i in 0..500 {
        let mut s = std::net::TcpStream::connect(&exp.addr).unwrap();
        if i >= 400 {
            s.write_all(b"GET /metr").unwrap();
        }
        held.push(s);
    }
    let started = Instant::now();
    let r = get(&exp.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(metric(&r.text(), "ecs_exporter_up"), Some(1.0));
    drop(held);
}

#[test]
fn connections_over_the_bound_are_closed_not_queued() {
    use std::io::Read;
    let (_sim, exp) = setup(&["--web.max-connections", "4"]);
    let held: Vec<_> = (0..4).map(|_| std::net::TcpStream::connect(&exp.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = std::net::TcpStream::connect(&exp.addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1];
    // Closed by the server at once: EOF (or a reset), not a hang.
    let r = extra.read(&mut buf);
    assert!(matches!(r, Ok(0)) || r.is_err(), "{r:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(&exp.addr, "/health").status, 200);
}

#[test]
fn sigterm_finishes_the_scrape_in_flight_and_exits_0() {
    let sim = simulator(&["--fault", "slow", "--fault-delay", "1500ms"]);
    let mut exp = exporter(&["--metadata.uri", &format!("{}/v4/abc", sim.addr), "--metadata.timeout", "5s"], &[]);
    let addr = exp.addr.clone();
    let scrape = std::thread::spawn(move || get(&addr, "/metrics"));
    std::thread::sleep(Duration::from_millis(300));
    let pid = exp.child.id() as i32;
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let r = scrape.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(metric(&r.text(), "ecs_exporter_up"), Some(1.0), "the scrape in flight completed with its data");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = exp.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // No longer accepting.
    assert!(std::net::TcpStream::connect(&exp.addr).is_err());
}

#[test]
fn sigint_exits_0() {
    let (_sim, mut exp) = setup(&[]);
    assert_eq!(get(&exp.addr, "/health").status, 200);
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(exp.child.id() as i32, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = exp.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

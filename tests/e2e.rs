//! End to end: the real binary against the real simulated endpoint, over real HTTP.

mod common;

use common::proc::{exporter, get, request, simulator, Proc, BIN};
use common::{fixture, task_part};
use ecs_exporter::metrics::{Group, FAMILIES};
use std::process::Command;
use std::time::{Duration, Instant};

/// Replay the Fargate capture and start an exporter on it.
fn fargate_pair(extra: &[&str]) -> (Proc, Proc) {
    let task = fixture("ecs_exporter/fargate_task_metadata.json");
    let stats = fixture("ecs_exporter/fargate_task_stats.json");
    let sim = simulator(&["--task", task.to_str().unwrap(), "--stats", stats.to_str().unwrap()]);
    let uri = format!("{}/v4/bae32def0ab64f06818e8862e58f8d6d-4159844948", sim.addr);
    let mut args = vec!["--metadata.uri", uri.as_str()];
    args.extend_from_slice(extra);
    let exp = exporter(&args, &[]);
    (sim, exp)
}

#[test]
fn text_format_matches_the_golden_file() {
    let (_sim, exp) = fargate_pair(&[]);
    let r = get(&exp.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let body = r.text();
    assert!(body.contains("\necs_exporter_up 1\n"), "{body}");
    assert!(body.contains("ecs_exporter_upstream_requests_total{path=\"/task\",outcome=\"ok\"} 1\n"));
    assert!(body.contains("ecs_exporter_upstream_requests_total{path=\"/task/stats\",outcome=\"ok\"} 1\n"));
    assert!(body.contains("\nprocess_resident_memory_bytes "));
    let golden = std::fs::read_to_string(fixture("../golden/ecs_exporter-fargate.prom")).unwrap();
    assert_eq!(task_part(&body), golden);
}

#[test]
fn openmetrics_when_asked() {
    let (_sim, exp) = fargate_pair(&[]);
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = request(&exp.addr, "GET", "/metrics", &[("Accept", accept)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    let body = r.text();
    assert!(body.ends_with("# EOF\n"));
    assert_eq!(body.matches("# EOF").count(), 1);
    // Counter families are named without _total, samples with it; info metrics typed info.
    assert!(body
        .contains("# TYPE ecs_container_cpu_usage_seconds counter\n# UNIT ecs_container_cpu_usage_seconds seconds\n"));
    assert!(body.contains("\necs_container_cpu_usage_seconds_total{container_name=\"prometheus\"} 0.932439492\n"));
    assert!(body.contains("# TYPE ecs_task_metadata info\n"));
    assert!(body.contains("\necs_container_memory_working_set_bytes{container_name=\"prometheus\"} 75550720\n"));
    // Each family's metadata appears once.
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        assert_eq!(body.matches(&format!("{line}\n")).count(), 1, "{line}");
    }
}

#[test]
fn gzip_when_allowed() {
    let (_sim, exp) = fargate_pair(&[]);
    let r = request(&exp.addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // One gzip member (browsers read no more than one), whose first part, the tasks' series, is
    // compressed once per upstream read; a single-member reader sees the whole exposition.
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut plain).unwrap();
    assert!(plain.contains("\necs_exporter_up 1\n"));
    assert!(plain.contains("\necs_container_cpu_usage_seconds_total{"));
    let mut all = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&r.body[..]), &mut all).unwrap();
    assert_eq!(all, plain, "nothing after the first member");
    // The same exposition as without gzip, but for the fresh figures.
    let unzipped = get(&exp.addr, "/metrics").text();
    assert_eq!(task_part(&plain), task_part(&unzipped));
    let r = request(&exp.addr, "GET", "/metrics", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn other_endpoints() {
    let (_sim, exp) = fargate_pair(&[]);
    let h = get(&exp.addr, "/health");
    assert_eq!((h.status, h.text().as_str()), (200, "ok\n"));
    let root = get(&exp.addr, "/");
    assert_eq!(root.status, 200);
    assert!(root.text().contains("href=\"/metrics\""));
    assert!(root.text().contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(get(&exp.addr, "/nope").status, 404);
    let post = request(&exp.addr, "POST", "/metrics", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = request(&exp.addr, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn custom_telemetry_path_and_container_filter() {
    let (_sim, exp) = fargate_pair(&["--web.telemetry-path", "/m", "--container.exclude", "^prom"]);
    assert_eq!(get(&exp.addr, "/metrics").status, 404);
    let body = get(&exp.addr, "/m").text();
    assert!(body.contains("container_name=\"ecs-exporter\""));
    assert!(!body.contains("container_name=\"prometheus\""));
}

#[test]
fn unreachable_endpoint_gives_up_0_not_an_error() {
    // A port nobody listens on, held for the test.
    let (_held, port) = common::proc::bound_not_listening();
    let uri = format!("http://127.0.0.1:{port}/v4/x");
    let exp = exporter(&["--metadata.uri", &uri, "--metadata.timeout", "2s"], &[]);
    let started = Instant::now();
    let r = get(&exp.addr, "/metrics");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.contains("\necs_exporter_up 0\n"));
    assert!(body.contains("ecs_exporter_upstream_requests_total{path=\"/task\",outcome=\"connect_error\"} 1\n"));
    assert!(!body.contains("ecs_container_"));
    let log = exp.stderr_lines(Duration::from_secs(2)).join("\n");
    assert!(log.contains("level=warn") && log.contains(&uri), "{log}");
}

#[test]
fn v3_variable_is_the_fallback() {
    let sim = simulator(&[]);
    let exp = exporter(&[], &[("ECS_CONTAINER_METADATA_URI", &format!("{}/v3/abc", sim.addr))]);
    let body = get(&exp.addr, "/metrics").text();
    assert!(body.contains("\necs_exporter_up 1\n"), "{body}");
}

#[test]
fn demo_serves_valid_metrics_within_a_second() {
    let started = Instant::now();
    let exp = exporter(&["--demo"], &[]);
    let body = get(&exp.addr, "/metrics").text();
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(body.contains("\necs_exporter_up 1\n"));
    assert_eq!(body.matches("ecs_container_info{").count(), 4);
    // The network is the Fargate task's: one eth1 series, no container_name.
    assert_eq!(body.matches("ecs_network_receive_bytes_total{").count(), 1);
    assert!(body.contains("ecs_network_receive_bytes_total{interface=\"eth1\"} "));
    // Counters advance between reads (after the cache period).
    let cpu = |b: &str| -> f64 {
        b.lines()
            .find(|l| l.starts_with("ecs_container_cpu_usage_seconds_total{container_name=\"web\"}"))
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = cpu(&body);
    std::thread::sleep(Duration::from_millis(1100));
    let second = cpu(&get(&exp.addr, "/metrics").text());
    assert!(second > first, "{first} then {second}");
    // Every family of the exporter itself is there (those of the StatsD push and the task tags
    // when they are on: tests/statsd.rs, tests/production.rs).
    let optional = |n: &str| n.starts_with("ecs_exporter_statsd_") || n == "ecs_exporter_task_tags_errors_total";
    for f in FAMILIES.iter().filter(|f| f.group == Group::Exporter && !optional(f.name)) {
        assert!(body.contains(&format!("\n{} ", f.name)) || body.contains(&format!("\n{}{{", f.name)), "{}", f.name);
    }
    if let Some(out) = promtool_check(&body) {
        assert!(out.is_empty(), "promtool: {out}");
    }
}

/// `promtool check metrics` output, or `None` when promtool is not installed and not required
/// (`.ci/run` sets ECS_EXPORTER_REQUIRE_PROMTOOL=1).
fn promtool_check(body: &str) -> Option<String> {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("ECS_EXPORTER_REQUIRE_PROMTOOL").is_none() => return None,
        Err(e) => panic!("promtool required but not runnable: {e}"),
    };
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    // (arguments, environment, a word the message must contain)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--no-such-flag"], &[], "--no-such-flag"),
        (&["--metadata.timeout", "soon"], &[], "--metadata.timeout"),
        (&["--metadata.timeout", "0s"], &[], "greater than zero"),
        (&["--log.level", "loud"], &[], "--log.level"),
        (&["--container.include", "("], &[], "--container.include"),
        (&[], &[], "ECS_CONTAINER_METADATA_URI_V4"),
        (&["--metadata.uri", "https://169.254.170.2/v4/x"], &[], "plain http"),
        (&[], &[("ECS_CONTAINER_METADATA_URI_V4", "not a uri")], "ECS_CONTAINER_METADATA_URI_V4"),
        (&["--metadata.uri", "http://127.0.0.1:1/v4", "--web.listen-address", "256.0.0.1:80"], &[], "cannot listen"),
        (&["--metadata.uri", "http://127.0.0.1:1/v4", "--web.listen-address", ":99999"], &[], "cannot listen"),
    ];
    for (args, env, needle) in cases {
        let mut cmd = Command::new(BIN);
        cmd.args(*args).env_remove("ECS_CONTAINER_METADATA_URI_V4").env_remove("ECS_CONTAINER_METADATA_URI");
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn address_in_use_is_exit_code_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["--metadata.uri", "http://127.0.0.1:1/v4", "--web.listen-address", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen") && err.contains(&addr), "{err}");
}

#[test]
fn version_names_revision_and_rustc() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains(env!("CARGO_PKG_VERSION")) && v.contains("revision") && v.contains("rustc"), "{v}");
}

#[test]
fn json_logs() {
    let mut child = Command::new(BIN)
        .args(["--demo", "--log.format", "json", "--web.listen-address", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(err), &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["message"], "ecs-exporter started");
    assert!(v["listen"].as_str().is_some_and(|l| l.starts_with("127.0.0.1:")), "{line}");
}

#[test]
fn healthcheck_of_https_on_a_plain_port_fails() {
    // A plain HTTP server on the port: no TLS record comes back.
    let (_sim, exp) = fargate_pair(&[]);
    let out =
        Command::new(BIN).args(["healthcheck", "--url", &format!("https://{}/health", exp.addr)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a TLS server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn healthcheck_subcommand() {
    let exp = exporter(&["--demo"], &[]);
    let url = format!("http://{}/health", exp.addr);
    let ok = Command::new(BIN).args(["healthcheck", "--url", &url]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let (_held, port) = common::proc::bound_not_listening();
    let bad =
        Command::new(BIN).args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}/health")]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unhealthy"));
}

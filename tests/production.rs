//! Production readiness: the opt-in labels people join on (task tags from `/taskWithTags`,
//! Docker labels, per-CPU usage) through the real binary, the task-tags errors, the exporter's
//! own metrics switched off, the exact messages of the rough edges a newcomer hit, the status
//! page, and shutdown with a half-sent request.

mod common;

use common::proc::{exporter, get, request, simulator, Proc, BIN};
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

fn sim_get(sim: &Proc, path: &str) -> String {
    get(sim.addr.trim_start_matches("http://"), path).text()
}

#[test]
fn task_tags_and_container_labels_from_the_live_scenario() {
    let sim = simulator(&[]);
    let uri = format!("{}/v4/x", sim.addr);
    let exp = exporter(
        &[
            "--metadata.uri",
            &uri,
            "--metadata.task-tags",
            "team,env,missing",
            "--container.labels",
            "*",
            "--container.per-cpu",
        ],
        &[],
    );
    let body = get(&exp.addr, "/metrics").text();
    // The live Fargate scenario tags its task team=payments, env=demo (src/simulate/scenario.rs).
    assert!(body.contains("\necs_task_tags{tag_env=\"demo\",tag_team=\"payments\"} 1\n"), "{body}");
    assert!(body.contains("ecs_container_labels{container_name=\"web\",label_com_amazonaws_ecs_container_name=\"web\",label_com_amazonaws_ecs_task_definition_family=\"demo-web\"} 1"), "{body}");
    // cgroup v1 percpu_usage [total / 2, total - total / 2]: two CPUs, summing to the total.
    let per: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with("ecs_container_per_cpu_usage_seconds_total{container_name=\"web\","))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    let total: f64 = body
        .lines()
        .find(|l| l.starts_with("ecs_container_cpu_usage_seconds_total{container_name=\"web\"}"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .unwrap();
    assert_eq!(per.len(), 2, "{body}");
    assert!((per.iter().sum::<f64>() - total).abs() < 1e-9, "{per:?} vs {total}");
    assert!(body.contains("ecs_exporter_upstream_requests_total{path=\"/taskWithTags\",outcome=\"ok\"} 1"), "{body}");
    assert!(body.contains("\necs_exporter_task_tags_errors_total 0\n"), "{body}");
    assert!(sim_get(&sim, "/_sim/requests").contains("\"/taskWithTags\":1"));
}

#[test]
fn a_task_role_without_list_tags_keeps_serving_logs_once_and_counts() {
    // The AWS documentation's /taskWithTags answer when the role lacks ecs:ListTagsForResource.
    let task = common::fixture("aws-docs/task-metadata-endpoint-v4__task_with_tags_error.json");
    let stats = common::fixture("aws-docs/task-metadata-endpoint-v4__task_stats.json");
    let sim = simulator(&["--task", task.to_str().unwrap(), "--stats", stats.to_str().unwrap()]);
    let uri = format!("{}/v4/x", sim.addr);
    let exp = exporter(&["--metadata.uri", &uri, "--metadata.task-tags", "*", "--metadata.cache-ttl", "0s"], &[]);
    let first = get(&exp.addr, "/metrics").text();
    let second = get(&exp.addr, "/metrics").text();
    assert!(first.contains("\necs_exporter_up 1\n"), "{first}");
    assert!(first.contains("ecs_task_metadata_info{"), "the task is exported: {first}");
    assert!(!first.contains("\necs_task_tags{"), "no tags: {first}");
    assert!(second.contains("\necs_exporter_task_tags_errors_total 2\n"), "{second}");
    let lines = exp.stderr_lines(Duration::from_millis(500));
    let warned: Vec<_> = lines.iter().filter(|l| l.contains("task tags could not be read")).collect();
    assert_eq!(warned.len(), 1, "logged once: {lines:?}");
    assert!(warned[0].contains("ecs:ListTagsForResource"), "{}", warned[0]);

    // /taskWithTags answering 403: the read falls back to /task.
    let body = get(sim.addr.trim_start_matches("http://"), "/_sim/fault?mode=status403&path=tags");
    assert_eq!(body.status, 200);
    let third = get(&exp.addr, "/metrics").text();
    assert!(third.contains("\necs_exporter_up 1\n"), "{third}");
    assert!(third.contains("path=\"/taskWithTags\",outcome=\"http_error\"} 1"), "{third}");
    assert!(third.contains("path=\"/task\",outcome=\"ok\"} 1"), "{third}");
    assert!(third.contains("\necs_exporter_task_tags_errors_total 3\n"), "{third}");
}

#[test]
fn disable_exporter_metrics_keeps_only_up() {
    let exp = exporter(&["--demo", "--web.disable-exporter-metrics"], &[]);
    let body = get(&exp.addr, "/metrics").text();
    assert!(body.contains("\necs_exporter_up 1\n"), "{body}");
    assert!(body.contains("ecs_container_cpu_usage_seconds_total{"), "{body}");
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        assert!(!l.starts_with("process_"), "{l}");
        assert!(!l.starts_with("ecs_exporter_") || l.starts_with("ecs_exporter_up "), "{l}");
    }
}

/// Run the binary with `args` and `env`; its exit code and its one line of standard error.
fn fails(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("ECS_CONTAINER_METADATA_URI_V4").env_remove("ECS_CONTAINER_METADATA_URI");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    (out.status.code(), err)
}

#[test]
fn rough_edges_have_exact_messages() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = fails(&["--demo", "--web.listen-address", &addr], &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        // The C library's text of EADDRINUSE: glibc "Address already in use", musl "Address in use".
        format!("ecs-exporter: cannot listen on {addr}: {}; another process listens there (another exporter?); pick another port", std::io::Error::from_raw_os_error(98))
    );
    assert_eq!(err.matches("os error 98").count(), 1, "the cause once");
    let (_, err) = fails(&["--demo", "--web.listen-address", "9779"], &[]);
    assert_eq!(err, "ecs-exporter: cannot listen on 9779: invalid socket address; to listen on a port, write it with a colon: --web.listen-address :PORT");
    let (code, err) = fails(&["--log.level", "loud"], &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "ecs-exporter: invalid value 'loud' for '--log.level <LEVEL>' (accepted: debug, info, warn, error)"
    );
    let (_, err) = fails(&["--demo"], &[("ECS_EXPORTER_LOG_LEVEL", "loud")]);
    assert_eq!(err, "ecs-exporter: ECS_EXPORTER_LOG_LEVEL: invalid value 'loud' for '--log.level <LEVEL>' (accepted: debug, info, warn, error)");
    let (_, err) = fails(&["--demo"], &[("ECS_EXPORTER_METADATA_TIMEOUT", "5x")]);
    assert!(err.starts_with("ecs-exporter: ECS_EXPORTER_METADATA_TIMEOUT: invalid value '5x'"), "{err}");
    let (_, err) = fails(&["--metadata.uri", ""], &[]);
    assert_eq!(err, "ecs-exporter: invalid metadata URI \"\" (from --metadata.uri): empty; give the endpoint's http:// URI, or leave it unset to use ECS_CONTAINER_METADATA_URI_V4");
}

#[test]
fn help_is_grouped() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for heading in ["Web:", "Metadata:", "Containers:", "StatsD:", "Runtime:", "Logging:"] {
        assert!(help.lines().any(|l| l == heading), "{heading} missing:\n{help}");
    }
}

#[test]
fn demo_banner_follows_the_log_settings() {
    let mut child = Command::new(BIN)
        .args(["--demo", "--log.format", "json", "--web.listen-address", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let lines: Vec<String> =
        std::io::BufRead::lines(std::io::BufReader::new(err)).take(2).map(|l| l.unwrap()).collect();
    let _ = child.kill();
    let _ = child.wait();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string());
    }
    assert!(lines[1].contains("demo: serving a simulated Fargate task"), "{lines:?}");
    // --log.level warn: no banner at all.
    let out = Command::new(BIN)
        .args(["--demo", "--log.level", "warn", "--web.listen-address", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut out = out;
    let _ = out.kill();
    let o = out.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("demo:"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn status_page_tells_mode_upstream_and_last_read() {
    let exp = exporter(&["--demo"], &[]);
    let before = get(&exp.addr, "/").text();
    assert!(before.contains("<td id=\"mode\">sidecar (demo: a built-in simulation)</td>"), "{before}");
    assert!(before.contains("none yet"), "{before}");
    assert!(!before.contains("<script"), "no scripts");
    let _ = get(&exp.addr, "/metrics");
    let after = get(&exp.addr, "/").text();
    assert!(after.contains("<td id=\"last-read\">ok, "), "{after}");
    assert!(after.contains("/v4/demo/task</td>"), "{after}");
    let docs = get(&exp.addr, "/docs/metrics");
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("`ecs_container_cpu_usage_seconds_total`"));
}

#[test]
fn sigterm_does_not_wait_for_a_half_sent_request() {
    let exp = exporter(&["--demo"], &[]);
    // A client that sends half a request and stays.
    let mut half = std::net::TcpStream::connect(&exp.addr).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = exp.child.id() as i32;
    let started = Instant::now();
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut exp = exp;
    let status = exp.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Well below the 10 s header-read timeout it used to wait for (not a timing target: the
    // bound only tells the two behaviours apart).
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    drop(half);
    let _ = request;
}

/// The scheduling policy (field 41 of `/proc/PID/task/TID/stat`) of every thread of `pid`.
#[cfg(target_os = "linux")]
fn policies(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap();
        // Fields after `(comm)`, which may hold spaces; the first of them is field 3.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        out.push(rest.split(' ').nth(41 - 3).unwrap().parse().unwrap());
    }
    out
}

#[test]
#[cfg(target_os = "linux")]
fn runs_under_sched_batch_unless_told_otherwise() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let exp = exporter(&["--demo"], &[]);
    assert!(get(&exp.addr, "/metrics").text().contains("\necs_exporter_up 1\n"));
    let p = policies(exp.child.id());
    assert!(!p.is_empty() && p.iter().all(|&x| x == SCHED_BATCH), "{p:?}");
    let exp = exporter(&["--demo", "--runtime.scheduler", "normal"], &[]);
    assert!(get(&exp.addr, "/metrics").text().contains("\necs_exporter_up 1\n"));
    let p = policies(exp.child.id());
    assert!(p.iter().all(|&x| x == SCHED_OTHER), "{p:?}");
    let (code, err) = fails(&["--demo"], &[("ECS_EXPORTER_RUNTIME_SCHEDULER", "fifo")]);
    assert_eq!(code, Some(2));
    assert_eq!(err, "ecs-exporter: ECS_EXPORTER_RUNTIME_SCHEDULER: invalid value 'fifo' for '--runtime.scheduler <POLICY>' (accepted: batch, normal)");
}

//! StatsD and DogStatsD: the exact lines for a real fixture pair (golden, both formats), the
//! counter rules, a strict DogStatsD datagram parser, and the real binary pushing over UDP to a
//! socket of the test (values compared with `/metrics`, compatibility variables, faults).
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test statsd` and review the diff.

mod common;

use common::proc::{exporter, get, simulator, Proc};
use common::{check_golden, read};
use ecs_exporter::collect::Filter;
use ecs_exporter::encode::statsd::{pack, Encoder, Flavor, Settings};
use ecs_exporter::parse::docker::{parse_list, parse_stats, Inspect};
use ecs_exporter::snapshot::Snapshot;
use ecs_exporter::source::docker::{assemble, Containers, Inspected};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The host read of the Docker Engine captures with the stats of `kind` (`oneshot` first, then
/// `stream-false`: the same two containers about 2 s later: a real pair of consecutive reads).
fn docker_read(kind: &str) -> Snapshot {
    let list = parse_list(&read("docker-engine/containers-json.json")).unwrap();
    let mut seen = Containers::default();
    for name in ["web-c1", "worker-c1"] {
        let i = Inspect::parse(&read(&format!("docker-engine/container-inspect-{name}.json"))).unwrap();
        let id = i.id.or_empty().to_owned();
        let st = parse_stats(&read(&format!("docker-engine/stats-{kind}-{name}.json"))).unwrap();
        seen.stats.insert(id.as_str().into(), Ok(st));
        Arc::make_mut(&mut seen.inspected)
            .insert(id.as_str().into(), Arc::new(Inspected { state: "running".into(), inspect: i }));
    }
    seen.list = list;
    ecs_exporter::scrape::collect_read(&assemble(seen), &Filter::default(), true).0
}

fn settings(flavor: Flavor) -> Settings {
    Settings { flavor, prefix: "ecs.".into(), tags: vec!["env:test".into()], host_cpus: 2.0 }
}

/// `name` → value of the lines whose name and tags (or path) contain every part.
fn find(lines: &[String], parts: &[&str]) -> Vec<f64> {
    lines
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(|l| {
            let v = l.split_once(':').unwrap().1.split('|').next().unwrap();
            v.parse().unwrap()
        })
        .collect()
}

#[test]
fn fixture_pair_golden_dogstatsd() {
    let mut enc = Encoder::new(settings(Flavor::Dogstatsd));
    let first = enc.encode(Some(&docker_read("oneshot")));
    // The first push sends gauges only: no counter has an increase yet.
    assert!(first.iter().all(|l| !l.contains("|c")), "{first:#?}");
    assert!(first.contains(&"ecs.exporter.up:1|g|#env:test".to_owned()));
    let second = enc.encode(Some(&docker_read("stream-false")));
    let c1 = ["container_name:c1", "task_family:web"];
    // CPU: 189537493 − 177614325 = 11923168 ns = 0.011923168 s.
    assert_eq!(find(&second, &[&["ecs.container.cpu_usage_seconds:"], &c1[..]].concat()), [0.011923168]);
    // Over 20.693887971 − 18.682909717 = 2.010978254 s of read time: 0.0059290 vCPU; the
    // container's hard limit is --cpus 0.25, so 0.0059290 / 0.25 = 2.3716 %.
    let p = find(&second, &[&["ecs.container.cpu_utilisation_percent:"], &c1[..]].concat());
    assert!((p[0] - 0.011923168 / 2.010978254 / 0.25 * 100.0).abs() < 1e-6, "{p:?}");
    // No task CPU limit on a plain Docker host: the task against the host's 2 CPUs
    // (only c1 of web has stats in the pair): 0.0059290 / 2 = 0.29645 %.
    let t = find(&second, &["ecs.task.cpu_utilisation_percent:", "task_family:web"]);
    assert!((t[0] - 0.011923168 / 2.010978254 / 2.0 * 100.0).abs() < 1e-6, "{t:?}");
    // Memory: working set 3772416 (usage, no inactive_file) of --memory 64m = 67108864: 5.6213 %.
    let m = find(&second, &[&["ecs.container.memory_utilisation_percent:"], &c1[..]].concat());
    assert!((m[0] - 3_772_416.0 / 67_108_864.0 * 100.0).abs() < 1e-9, "{m:?}");
    // Gauges are levels: memory usage as read.
    assert_eq!(find(&second, &[&["ecs.container.memory_usage_bytes:"], &c1[..]].concat()), [3_772_416.0]);
    // Host mode: task_arn is a tag; the worker's bridge network once per container and interface.
    assert!(second.iter().any(|l| l.contains("task_arn:arn:aws:ecs:us-east-1:123456789012:task/sandbox/")));
    assert_eq!(find(&second, &["ecs.network.receive_bytes:", "interface:eth0"]), [0.0]);
    check_golden("statsd-dogstatsd.txt", &(second.join("\n") + "\n"));
}

#[test]
fn fixture_pair_golden_statsd() {
    let mut enc = Encoder::new(settings(Flavor::Statsd));
    enc.encode(Some(&docker_read("oneshot")));
    let second = enc.encode(Some(&docker_read("stream-false")));
    // Identity in the path: cluster, family, task id, container; sanitised, no tags.
    let cpu: Vec<&String> =
        second.iter().filter(|l| l.contains(".web.") && l.contains(".c1.container.cpu_usage_seconds:")).collect();
    assert_eq!(cpu.len(), 1, "{second:#?}");
    assert!(cpu[0].starts_with("ecs.sandbox.web.761f"), "{}", cpu[0]);
    assert!(cpu[0].ends_with(":0.011923168|c"), "{}", cpu[0]);
    for l in &second {
        let (name, rest) = l.split_once(':').unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{l}");
        assert!(!rest.contains('#'), "{l}");
    }
    check_golden("statsd-statsd.txt", &(second.join("\n") + "\n"));
}

#[test]
fn a_counter_that_went_backwards_sends_nothing() {
    let mut enc = Encoder::new(settings(Flavor::Dogstatsd));
    enc.encode(Some(&docker_read("stream-false")));
    // The earlier read second: every counter went backwards (a restarted container).
    let lines = enc.encode(Some(&docker_read("oneshot")));
    assert!(find(&lines, &["ecs.container.cpu_usage_seconds:"]).is_empty(), "{lines:#?}");
    assert!(find(&lines, &["ecs.container.cpu_utilisation_percent:"]).is_empty());
    assert!(lines.iter().all(|l| !l.contains(":-")), "never a negative: {lines:#?}");
}

#[test]
fn an_upstream_failure_sends_only_up_0() {
    let mut enc = Encoder::new(settings(Flavor::Dogstatsd));
    enc.encode(Some(&docker_read("oneshot")));
    assert_eq!(enc.encode(None), ["ecs.exporter.up:0|g|#env:test"]);
    // And the counters' memory survives the gap.
    let after = enc.encode(Some(&docker_read("stream-false")));
    assert_eq!(
        find(&after, &["ecs.container.cpu_usage_seconds:", "container_name:c1", "task_family:web"]),
        [0.011923168]
    );
}

/// One DogStatsD metric line, strictly: `name:value|type[|@rate][|#tag,...]`.
#[derive(Debug)]
struct Metric {
    name: String,
    value: f64,
    kind: String,
    tags: BTreeMap<String, String>,
}

fn parse_dogstatsd_line(l: &str) -> Result<Metric, String> {
    let (name, rest) = l.split_once(':').ok_or("no ':'")?;
    let name_ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !name_ok {
        return Err(format!("bad name {name:?}"));
    }
    let mut parts = rest.split('|');
    let value: f64 = parts.next().ok_or("no value")?.parse().map_err(|e| format!("value: {e}"))?;
    if !value.is_finite() {
        return Err("value not finite".into());
    }
    let kind = parts.next().ok_or("no type")?.to_owned();
    if !["g", "c", "ms", "h", "s", "d"].contains(&kind.as_str()) {
        return Err(format!("bad type {kind:?}"));
    }
    let mut tags = BTreeMap::new();
    for p in parts {
        if let Some(r) = p.strip_prefix('@') {
            let rate: f64 = r.parse().map_err(|e| format!("rate: {e}"))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err("rate out of range".into());
            }
        } else if let Some(t) = p.strip_prefix('#') {
            for tag in t.split(',') {
                if tag.is_empty() || tag.contains([' ', '|', '#', '\n']) {
                    return Err(format!("bad tag {tag:?}"));
                }
                let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
                tags.insert(k.to_owned(), v.to_owned());
            }
        } else {
            return Err(format!("unknown section {p:?}"));
        }
    }
    Ok(Metric { name: name.to_owned(), value, kind, tags })
}

/// Parse one datagram strictly: at most `max` bytes, one metric per line, no empty line.
fn parse_datagram(d: &[u8], max: usize) -> Result<Vec<Metric>, String> {
    if d.len() > max {
        return Err(format!("{} bytes > {max}", d.len()));
    }
    let text = std::str::from_utf8(d).map_err(|e| e.to_string())?;
    text.split('\n').map(|l| parse_dogstatsd_line(l).map_err(|e| format!("{l:?}: {e}"))).collect()
}

#[test]
fn packed_datagrams_parse_strictly() {
    let mut enc = Encoder::new(settings(Flavor::Dogstatsd));
    enc.encode(Some(&docker_read("oneshot")));
    let lines = enc.encode(Some(&docker_read("stream-false")));
    for max in [300, 1432, 8192] {
        let ds = pack(&lines, max);
        let n: usize = ds.iter().map(|d| parse_datagram(d, max).unwrap().len()).sum();
        assert_eq!(n, lines.len(), "every line in exactly one datagram at {max}");
    }
    assert!(parse_dogstatsd_line("ecs.x:1|g|#a:b,c").is_ok());
    assert!(parse_dogstatsd_line("ecs.x:1|q").is_err());
    assert!(parse_dogstatsd_line("ecs x:1|g").is_err());
    assert!(parse_dogstatsd_line("ecs.x:one|g").is_err());
}

/// A UDP socket of the test, receiving datagrams.
fn receiver() -> (UdpSocket, String) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let a = s.local_addr().unwrap().to_string();
    (s, a)
}

/// Datagrams received until `until` says stop or `wait` passes.
fn receive(s: &UdpSocket, wait: Duration, until: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end && !until(&got) {
        if let Ok(n) = s.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

fn fargate(extra: &[&str], env: &[(&str, &str)]) -> (Proc, Proc) {
    let task = common::fixture("ecs_exporter/fargate_task_metadata.json");
    let stats = common::fixture("ecs_exporter/fargate_task_stats.json");
    let sim = simulator(&["--task", task.to_str().unwrap(), "--stats", stats.to_str().unwrap()]);
    let uri = format!("{}/v4/x", sim.addr);
    let mut args = vec!["--metadata.uri", uri.as_str()];
    args.extend_from_slice(extra);
    let exp = exporter(&args, env);
    (sim, exp)
}

fn ups(ds: &[Vec<u8>]) -> usize {
    ds.iter().map(|d| String::from_utf8_lossy(d).matches("ecs.exporter.up:").count()).sum()
}

#[test]
fn the_binary_pushes_what_metrics_serves() {
    let (s, addr) = receiver();
    let (_sim, exp) =
        fargate(&["--statsd.address", &addr, "--statsd.interval", "300ms", "--statsd.max-packet-bytes", "512"], &[]);
    let ds = receive(&s, Duration::from_secs(10), |d| ups(d) >= 2);
    assert!(ups(&ds) >= 2, "two pushes");
    let mut metrics = Vec::new();
    for d in &ds {
        metrics.extend(parse_datagram(d, 512).unwrap_or_else(|e| panic!("{e}")));
    }
    // Identity tags of the Fargate capture.
    let mem: Vec<&Metric> = metrics.iter().filter(|m| m.name == "ecs.container.memory_usage_bytes").collect();
    assert!(!mem.is_empty());
    for m in &mem {
        assert_eq!(m.kind, "g");
        for t in
            ["cluster", "task_family", "task_revision", "task_id", "availability_zone", "launch_type", "container_name"]
        {
            assert!(m.tags.contains_key(t), "{t} missing in {m:?}");
        }
        assert!(!m.tags.contains_key("task_arn"), "sidecar: no task_arn tag");
    }
    // The same value as /metrics for each container.
    let body = get(&exp.addr, "/metrics").text();
    for m in &mem {
        let c = &m.tags["container_name"];
        let line = body
            .lines()
            .find(|l| {
                l.starts_with("ecs_container_memory_usage_bytes{") && l.contains(&format!("container_name=\"{c}\""))
            })
            .unwrap();
        let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert_eq!(v, m.value, "{c}");
    }
    // The capture does not change between reads: counters increase by 0, utilisation is absent
    // (no read time passed), and nothing is negative.
    let cpu: Vec<&Metric> = metrics.iter().filter(|m| m.name == "ecs.container.cpu_usage_seconds").collect();
    assert!(cpu.iter().all(|m| m.kind == "c" && m.value == 0.0), "{cpu:?}");
    // The push's own metrics.
    assert!(body.contains("\necs_exporter_statsd_send_errors_total 0\n"), "{body}");
    let sent: f64 =
        body.lines().find_map(|l| l.strip_prefix("ecs_exporter_statsd_datagrams_total ")).unwrap().parse().unwrap();
    assert!(sent >= ds.len() as f64, "{sent} sent, {} received", ds.len());
    assert!(body.contains("\necs_exporter_statsd_last_push_timestamp_seconds "));
}

#[test]
fn compatibility_variables_of_ecs_container_exporter() {
    let (s, addr) = receiver();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let env = [
        ("USE_STATSD", "1"),
        ("STATSD_HOST", host),
        ("STATSD_PORT", port),
        ("INCLUDE", "prometheus,no-such-container"),
    ];
    let (_sim, _exp) = fargate(&["--statsd.interval", "300ms", "--statsd.format", "statsd"], &env);
    // Two pushes begun: the first is complete.
    let ds = receive(&s, Duration::from_secs(10), |d| ups(d) >= 2);
    let text: String = ds.iter().map(|d| String::from_utf8_lossy(d).into_owned() + "\n").collect();
    assert!(text.contains(".prometheus.container.memory_usage_bytes:"), "{text}");
    // INCLUDE is a list of exact names: only that container (not ecs-exporter, nonessential).
    assert!(!text.contains(".nonessential.") && !text.contains(".ecs-exporter."), "{text}");
    // The cluster's short name in the path, not its ARN.
    assert!(text.contains("ecs.prom-ecs-exporter-sandbox.prom-ecs-exporter-sandbox-main-fargate."), "{text}");
}

#[test]
fn statsd_faults_never_stop_the_exporter() {
    // A port nobody listens on: ICMP port unreachable, seen as a send error on the next send.
    let (probe, addr) = receiver();
    drop(probe);
    let (_sim, exp) = fargate(&["--statsd.address", &addr, "--statsd.interval", "200ms"], &[]);
    let errors = |body: &str| -> f64 {
        body.lines().find_map(|l| l.strip_prefix("ecs_exporter_statsd_send_errors_total ")).unwrap().parse().unwrap()
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut body = String::new();
    while Instant::now() < end {
        let r = get(&exp.addr, "/metrics");
        assert_eq!(r.status, 200);
        body = r.text();
        if errors(&body) >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(errors(&body) >= 1.0, "{body}");
    assert!(body.contains("\necs_exporter_up 1\n"));
    // Recovery: the port answers now.
    let s = UdpSocket::bind(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let ds = receive(&s, Duration::from_secs(10), |d| ups(d) >= 1);
    assert!(ups(&ds) >= 1, "pushes resume");

    // A name that does not resolve: counted, the exporter serves on.
    let (_sim2, exp2) = fargate(&["--statsd.address", "no-such-host.invalid:8125", "--statsd.interval", "200ms"], &[]);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        body = get(&exp2.addr, "/metrics").text();
        if errors(&body) >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(errors(&body) >= 1.0, "{body}");
    assert!(body.contains("\necs_exporter_up 1\n"));
    let lines = exp2.stderr_lines(Duration::from_millis(500));
    assert!(lines.iter().any(|l| l.contains("statsd push failed") && l.contains("no-such-host.invalid")), "{lines:?}");
}

#[test]
fn bad_statsd_flags_exit_2() {
    for args in [
        vec!["--demo", "--statsd.address", "nohostport"],
        vec!["--demo", "--statsd.address", "h:1", "--statsd.format", "graphite"],
        vec!["--demo", "--statsd.address", "h:1", "--statsd.tags", "a b"],
        vec!["--demo", "--statsd.address", "h:1", "--statsd.max-packet-bytes", "10"],
    ] {
        let out = std::process::Command::new(common::proc::BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

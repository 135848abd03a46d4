//! Host mode end to end: the real binary (`ecs-exporter host`) against the simulated host
//! (`ecs-exporter simulate --scenario host`: the agent introspection API and the daemon paths
//! over TCP, the Docker Engine API on a unix socket), for each source, with churn between
//! discovery and stats; and the pure assembly of real Docker Engine captures.
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test host` and review the diff.

mod common;

use common::proc::{get, host_exporter, host_simulator, Proc};
use common::{check_golden, task_part};
use std::collections::BTreeMap;
use std::time::Duration;

/// Samples as `name{labels}` → value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The one sample whose series contains every one of `parts`.
fn one(s: &BTreeMap<String, f64>, parts: &[&str]) -> f64 {
    let m: Vec<_> = s.iter().filter(|(k, _)| parts.iter().all(|p| k.contains(p))).collect();
    assert_eq!(m.len(), 1, "{parts:?} matched {m:?}");
    *m[0].1
}

fn count(s: &BTreeMap<String, f64>, parts: &[&str]) -> usize {
    s.keys().filter(|k| parts.iter().all(|p| k.contains(p))).count()
}

/// A frozen simulated host and an exporter on it with `--source <source>`.
fn frozen(source: &str, extra: &[&str]) -> (Proc, Proc, common::proc::tempdir::Dir) {
    let (sim, sock, dir) = host_simulator(&["--frozen", "--tasks", "4", "--containers", "3"]);
    let meta = format!("{}/v4/daemon", sim.addr);
    let mut args = vec!["--source", source, "--agent.uri", &sim.addr, "--docker.host", &sock, "--metadata.uri", &meta];
    args.extend_from_slice(extra);
    let exp = host_exporter(&args, &[]);
    (sim, exp, dir)
}

// The frozen host (src/simulate/host.rs): 600 s after its start, 4 running tasks of 3
// containers, families web, api, worker, cron, network modes awsvpc, bridge, host, awsvpc.
// Task ids are hex(i + 1); the first container of each has --cpus 0.25 --memory 64m
// --cpu-shares 256 and uses 0.12 vCPU: total_usage = 2.5e8 + 0.12e9 × 600 = 72.25e9 ns.
const WEB: &str = "task/demo/910a2dec89025cc1beeb8da1658eec67\"";
const API: &str = "task/demo/975835de1c9756cebfc846100bfc1e42\"";
const WORKER: &str = "task/demo/1d0b14e4db018fedb3466f8a7b81a989\"";

#[test]
fn ec2_source_every_task_with_churn() {
    let (_sim, exp, _d) = frozen("ec2", &[]);
    let body = get(&exp.addr, "/metrics").text();
    let s = samples(&body);
    assert_eq!(s["ecs_exporter_up"], 1.0, "{body}");
    assert_eq!(
        one(&s, &["ecs_instance_info{cluster=\"demo\"", "agent_version=\"1.89.2\""]),
        1.0,
        "the agent's /v1/metadata describes the host"
    );
    // Every agent task, including the STOPPED one and the PENDING one that Docker does not
    // have yet: 4 + 2.
    assert_eq!(count(&s, &["ecs_task_metadata_info{"]), 6);
    assert_eq!(one(&s, &["ecs_task_metadata_info{", "family=\"migrate\"", "known_status=\"STOPPED\""]), 1.0);
    assert_eq!(one(&s, &["ecs_task_metadata_info{", "known_status=\"PENDING\""]), 1.0);
    // Every series carries task_arn.
    for k in s
        .keys()
        .filter(|k| k.starts_with("ecs_task_") || k.starts_with("ecs_container_") || k.starts_with("ecs_network_"))
    {
        assert!(k.contains("task_arn=\"arn:aws:ecs:"), "{k}");
    }
    // 72.25e9 ns = 72.25 s (see above).
    let web_app = [WEB, "container_name=\"app\""];
    assert_eq!(one(&s, &[&["ecs_container_cpu_usage_seconds_total{"], &web_app[..]].concat()), 72.25);
    // --memory 64m = 64 × 1048576 = 67108864 bytes; --cpus 0.25; --cpu-shares 256 = 0.25 vCPU.
    assert_eq!(one(&s, &[&["ecs_container_memory_limit_bytes{"], &web_app[..]].concat()), 67_108_864.0);
    assert_eq!(one(&s, &[&["ecs_container_cpu_limit_vcpus{"], &web_app[..]].concat()), 0.25);
    assert_eq!(one(&s, &[&["ecs_container_cpu_reserved_vcpus{"], &web_app[..]].concat()), 0.25);
    // The last container of the first task vanished between the list and its calls (404):
    // its status from the agent, no values, and it hides nothing else.
    assert_eq!(count(&s, &["ecs_container_cpu_usage_seconds_total{", WEB]), 2);
    assert_eq!(count(&s, &["ecs_container_start_time_seconds{", WEB, "log-router"]), 0);
    // The last of the second task stopped before its stats: Docker's zeros (read time
    // 0001-01-01) are not values.
    assert_eq!(count(&s, &[API, "container_name=\"log-router\"", "_usage_"]), 0);
    assert_eq!(count(&s, &["ecs_network_", API, "log-router"]), 0);
    // The awsvpc task's namespace is counted once (no container_name); bridge containers each;
    // the host-network task is left out.
    // rx = 5e6 + 40000 × 600 = 29e6 bytes.
    assert_eq!(one(&s, &["ecs_network_receive_bytes_total{", WEB]), 29_000_000.0);
    assert_eq!(count(&s, &["ecs_network_receive_bytes_total{", API]), 2);
    assert_eq!(count(&s, &["ecs_network_", WORKER]), 0);
    // The agent's own container carries no ECS labels: not a task of the agent.
    assert_eq!(count(&s, &["container_name=\"ecs-agent\""]), 0);
    // The pause container is internal.
    assert_eq!(count(&s, &["~internal~ecs~pause"]), 0);
    // The vanished container's two 404s are counted but are not read errors.
    assert_eq!(s["ecs_exporter_upstream_requests_total{path=\"/containers/{id}/stats\",outcome=\"http_error\"}"], 1.0);
    check_golden("host-ec2.prom", &task_part(&body));
}

#[test]
fn docker_source_groups_by_labels_and_keeps_the_rest() {
    let (_sim, exp, _d) = frozen("docker", &[]);
    let body = get(&exp.addr, "/metrics").text();
    let s = samples(&body);
    assert_eq!(s["ecs_exporter_up"], 1.0, "{body}");
    // Tasks from the labels: 4 running, the stopped one (the pending one is not in Docker).
    assert_eq!(count(&s, &["ecs_task_metadata_info{"]), 5);
    // A container without ECS labels is reported by its Docker name, without task series.
    assert_eq!(count(&s, &["ecs_container_info{", "container_name=\"ecs-agent\""]), 1);
    // It is in the host's network namespace: no network series.
    assert_eq!(count(&s, &["ecs_network_", "ecs-agent"]), 0);
    let web_app = [WEB, "container_name=\"app\""];
    assert_eq!(one(&s, &[&["ecs_container_cpu_usage_seconds_total{"], &web_app[..]].concat()), 72.25);
    check_golden("host-docker.prom", &task_part(&body));
}

#[test]
fn managed_daemon_source_reads_tasks_and_tasks_stats() {
    let (sim, exp, _d) = frozen("managed-daemon", &[]);
    let body = get(&exp.addr, "/metrics").text();
    let s = samples(&body);
    assert_eq!(s["ecs_exporter_up"], 1.0, "{body}");
    assert_eq!(count(&s, &["ecs_task_metadata_info{", "launch_type=\"MANAGED_INSTANCES\""]), 6);
    let web_app = [WEB, "container_name=\"app\""];
    assert_eq!(one(&s, &[&["ecs_container_cpu_usage_seconds_total{"], &web_app[..]].concat()), 72.25);
    // No Docker socket is used in this mode.
    let reqs = get(sim.addr.trim_start_matches("http://"), "/_sim/requests").text();
    assert!(!reqs.contains("containers"), "{reqs}");
    assert!(reqs.contains("\"/tasks\":1") && reqs.contains("\"/tasks/stats\":1"), "{reqs}");
    check_golden("host-managed-daemon.prom", &task_part(&body));
}

#[test]
fn auto_prefers_the_agent_then_docker() {
    let (sim, sock, _d) = host_simulator(&["--frozen"]);
    let exp = host_exporter(&["--agent.uri", &sim.addr, "--docker.host", &sock], &[]);
    let body = get(&exp.addr, "/metrics").text();
    assert!(body.contains("path=\"/v1/tasks\",outcome=\"ok\"} 1"), "{body}");
    drop(exp);
    // No agent (a port nobody listens on) and no metadata endpoint: the Docker host.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let exp = host_exporter(&["--agent.uri", &dead, "--docker.host", &sock], &[]);
    let body = get(&exp.addr, "/metrics").text();
    assert!(body.contains("ecs_exporter_up 1"), "{body}");
    assert!(body.contains("container_name=\"ecs-agent\""), "{body}");
    assert!(!body.contains("path=\"/v1/tasks\",outcome=\"ok\""), "{body}");
}

#[test]
fn a_docker_call_that_times_out_hides_nothing_else() {
    // The first container of the last task (cron, app) answers its stats after 5 s; the
    // Docker calls are bounded to 300 ms.
    let (sim, sock, _d) = host_simulator(&["--frozen", "--no-churn", "--slow-stats", "5s"]);
    let exp = host_exporter(
        &["--source", "docker", "--docker.host", &sock, "--agent.uri", &sim.addr, "--docker.timeout", "300ms"],
        &[],
    );
    let s = samples(&get(&exp.addr, "/metrics").text());
    assert_eq!(s["ecs_exporter_up"], 1.0);
    assert_eq!(s["ecs_exporter_container_parse_errors"], 1.0);
    assert_eq!(s["ecs_exporter_upstream_requests_total{path=\"/containers/{id}/stats\",outcome=\"timeout\"}"], 1.0);
    // 4 tasks × 3 containers and the agent's own container, less the slow one.
    assert_eq!(count(&s, &["ecs_container_cpu_usage_seconds_total{"]), 4 * 3 + 1 - 1);
    // Its status and limits are still there.
    assert_eq!(
        count(&s, &["ecs_container_info{", "task/demo/6e73e372e2338acae474c66a4b98b030\"", "container_name=\"app\""]),
        1
    );
}

#[test]
fn missing_socket_is_up_0_and_one_clear_line() {
    let dir = common::proc::tempdir::Dir::new("nosock");
    let sock = format!("unix://{}", dir.path.join("docker.sock").display());
    let exp = host_exporter(&["--source", "docker", "--docker.host", &sock], &[]);
    let r = get(&exp.addr, "/metrics");
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.contains("\necs_exporter_up 0\n"), "{body}");
    assert!(body.contains("path=\"/containers/json\",outcome=\"connect_error\"} 1"), "{body}");
    let lines = exp.stderr_lines(Duration::from_secs(2));
    let warn: Vec<_> = lines.iter().filter(|l| l.contains("upstream read failed")).collect();
    assert_eq!(warn.len(), 1, "{lines:?}");
    assert!(warn[0].contains("read-only") && warn[0].contains("docker.sock"), "{}", warn[0]);
}

#[test]
fn live_host_counters_grow_and_scale_is_linear() {
    // 100 tasks × 5 containers: one scrape answers every container.
    let (sim, sock, _d) = host_simulator(&["--tasks", "100", "--containers", "5", "--no-churn"]);
    let exp = host_exporter(
        &["--source", "ec2", "--agent.uri", &sim.addr, "--docker.host", &sock, "--metadata.cache-ttl", "0s"],
        &[],
    );
    let a = samples(&get(&exp.addr, "/metrics").text());
    assert_eq!(a["ecs_exporter_up"], 1.0);
    assert_eq!(count(&a, &["ecs_container_cpu_usage_seconds_total{"]), 500);
    std::thread::sleep(Duration::from_millis(300));
    let b = samples(&get(&exp.addr, "/metrics").text());
    let k = a.keys().find(|k| k.starts_with("ecs_container_cpu_usage_seconds_total{")).unwrap();
    assert!(b[k] > a[k], "{k}: {} then {}", a[k], b[k]);
}

mod captures {
    //! The Docker Engine captures of `tests/fixtures/docker-engine/` (a real Engine with two
    //! ECS-labelled "tasks"), assembled by the docker source without I/O.
    use super::common::read;
    use ecs_exporter::collect::Filter;
    use ecs_exporter::parse::docker::{parse_list, parse_stats, Inspect};
    use ecs_exporter::source::docker::{assemble, Containers, Inspected};
    use std::sync::Arc;

    fn containers() -> Containers {
        let list = parse_list(&read("docker-engine/containers-json.json")).unwrap();
        let mut seen = Containers::default();
        for name in ["web-c1", "worker-c1"] {
            let i = Inspect::parse(&read(&format!("docker-engine/container-inspect-{name}.json"))).unwrap();
            let id = i.id.or_empty().to_owned();
            let st = parse_stats(&read(&format!("docker-engine/stats-oneshot-{name}.json"))).unwrap();
            seen.stats.insert(id.as_str().into(), Ok(st));
            Arc::make_mut(&mut seen.inspected)
                .insert(id.as_str().into(), Arc::new(Inspected { state: "running".into(), inspect: i }));
        }
        seen.list = list;
        seen
    }

    #[test]
    fn real_engine_answers_assemble_into_tasks() {
        let read = assemble(containers());
        assert_eq!(read.tasks.len(), 2, "web and worker");
        assert_eq!(read.instance.as_ref().map(|i| i.cluster.as_str()), Some("sandbox"));
        let text = super::render(&read, &Filter::default());
        // web c1: total_usage 177614325 ns = 0.177614325 s (stats-oneshot-web-c1.json).
        assert!(
            text.contains(
                "ecs_container_cpu_usage_seconds_total{task_arn=\"arn:aws:ecs:us-east-1:123456789012:task/sandbox/"
            ),
            "{text}"
        );
        assert!(text.contains("container_name=\"c1\"} 0.177614325\n"), "{text}");
        // --memory 64m: 67108864 bytes; --cpus 0.25 (NanoCpus 250000000); --cpu-shares 256.
        assert!(text.contains("container_name=\"c1\"} 67108864\n"), "{text}");
        assert!(text.contains("ecs_container_cpu_limit_vcpus{"), "{text}");
        super::check_golden("host-docker-engine-captures.prom", &text);
    }

    #[test]
    fn an_exited_containers_stats_are_not_values() {
        // Docker answers zeros and read "0001-01-01T00:00:00Z" for a stopped container.
        let mut seen = containers();
        let exited = parse_stats(&read("docker-engine/stats-oneshot-exited-container.json")).unwrap();
        let id = seen.list[0].id.or_empty().to_owned();
        seen.stats.insert(id.as_str().into(), Ok(exited));
        let name = seen.list[0].name().to_owned();
        let text = super::render(&assemble(seen), &Filter::default());
        let cname = name.split('-').nth(3).unwrap().to_owned();
        let task = seen_task(&text, &cname);
        assert!(!text.contains(&format!("{task},container_name=\"{cname}\"}} 0\n")), "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("ecs_container_cpu_usage_seconds_total{")
                && l.contains(&task)
                && l.contains(&format!("\"{cname}\""))),
            "{text}"
        );
    }

    /// The `task_arn="..."` label of the task whose container is `c`.
    fn seen_task(text: &str, c: &str) -> String {
        let l = text
            .lines()
            .find(|l| l.starts_with("ecs_container_info{") && l.contains(&format!("container_name=\"{c}\"")))
            .unwrap();
        l[l.find("task_arn=").unwrap()..].split(',').next().unwrap().to_owned()
    }
}

/// The text exposition of a host read, as the exporter would serve it (without its own series).
fn render(read: &ecs_exporter::source::Read, filter: &ecs_exporter::collect::Filter) -> String {
    common::render_host(read, filter)
}

#[test]
fn containers_are_inspected_once_not_on_every_read() {
    let (_sim, exp, _d) = frozen("docker", &["--metadata.cache-ttl", "0s"]);
    let inspects = |body: &str| {
        samples(body)["ecs_exporter_upstream_requests_total{path=\"/containers/{id}/json\",outcome=\"ok\"}"]
    };
    let stats = |body: &str| {
        samples(body)["ecs_exporter_upstream_requests_total{path=\"/containers/{id}/stats\",outcome=\"ok\"}"]
    };
    let first = get(&exp.addr, "/metrics").text();
    let (i1, s1) = (inspects(&first), stats(&first));
    assert!(i1 >= 10.0, "{first}");
    for _ in 0..3 {
        let _ = get(&exp.addr, "/metrics");
    }
    let last = get(&exp.addr, "/metrics").text();
    // Four more reads: every running container's stats each time, but no inspect again (the
    // frozen host's states do not change).
    assert_eq!(inspects(&last), i1, "{last}");
    assert_eq!(stats(&last), s1 * 5.0, "{last}");
}

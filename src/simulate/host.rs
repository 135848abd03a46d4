//! The simulated host: what an EC2 container instance, a Managed Instances daemon or a plain
//! Docker host answers, for `ecs-exporter host --demo`, `ecs-exporter simulate --scenario host`,
//! the tests and the benchmarks. One [`HostSim`] serves, on every listener it is given:
//!
//! - the agent introspection API: `/v1/metadata`, `/v1/tasks`;
//! - the Managed Instances daemon paths: `/tasks`, `/tasks/stats` (also under `/v4/<id>`);
//! - the Docker Engine API (with or without a `/v1.NN` prefix): `/containers/json` (with the
//!   `all` and `filters={"label":[...]}` queries), `/containers/{id}/json`,
//!   `/containers/{id}/stats`; unknown ids answer 404 `{"message": "No such container: ..."}`.
//!
//! `tasks` × `containers` running containers in tasks whose network modes cycle awsvpc, bridge,
//! host, plus the agent's own container (no ECS labels). With churn, as on a busy host: the last
//! container of the first task is listed but gone by the time it is inspected or stat'ed (404),
//! the last of the second task stopped between the list and its stats (Docker's zeros and
//! `0001-01-01T00:00:00Z` read time), a STOPPED task keeps its exited containers, and a task
//! the agent has just accepted has no containers in Docker yet. Frozen, every body is the same
//! on every request (for golden tests); live, counters advance with time. The shapes follow the
//! real captures in `tests/fixtures/docker-engine/` (cgroup v1) and the agent's fixtures.

use crate::timefmt::format_rfc3339_nanos;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The shape of a simulated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostOpts {
    /// Running tasks.
    pub tasks: usize,
    /// Containers in each running task.
    pub containers: usize,
    /// Add the churn described in the module docs.
    pub churn: bool,
    /// Answer the same bodies on every request.
    pub frozen: bool,
    /// Delay the stats of the first container of the last running task by this much (a Docker
    /// call that times out).
    pub slow_stats: Option<Duration>,
}

impl Default for HostOpts {
    fn default() -> Self {
        HostOpts { tasks: 4, containers: 3, churn: true, frozen: false, slow_stats: None }
    }
}

/// A simulated host.
#[derive(Debug)]
pub struct HostSim {
    opts: HostOpts,
    started: Instant,
    epoch: Duration,
    tasks: Vec<SimTask>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
}

/// What happens to a simulated container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Running,
    /// Listed running, gone at inspect and stats (404).
    Vanishing,
    /// Listed running, stopped by the time of its stats (zeros).
    Stopping,
    /// Exited (listed, inspectable, not stat'ed).
    Exited,
    /// Known to the agent only.
    Pending,
}

#[derive(Debug)]
struct SimContainer {
    id: String,
    name: String,
    docker_name: String,
    fate: Fate,
    cpu_shares: u64,
    nano_cpus: u64,
    memory: u64,
    /// vCPUs used.
    cpu_rate: f64,
    rss: u64,
    network_mode: String,
    internal: bool,
}

impl SimContainer {
    /// A container of the ECS labels that uses nothing and has no limits (2 CPU units: unset).
    fn idle(id: String, name: &str, docker_name: String, fate: Fate, network_mode: &str) -> Self {
        SimContainer {
            id,
            name: name.into(),
            docker_name,
            fate,
            cpu_shares: 2,
            nano_cpus: 0,
            memory: 0,
            cpu_rate: 0.0,
            rss: 0,
            network_mode: network_mode.into(),
            internal: false,
        }
    }
}

#[derive(Debug)]
struct SimTask {
    arn: String,
    family: &'static str,
    revision: u32,
    known_status: &'static str,
    /// `awsvpc`, `bridge` or `host`; `None` for the agent's own container (no task).
    mode: &'static str,
    containers: Vec<SimContainer>,
    /// Not an ECS task: the agent's container, without ECS labels.
    unlabelled: bool,
}

const FAMILIES: &[&str] = &["web", "api", "worker", "cron"];
const NAMES: &[&str] = &["app", "envoy", "log-router", "statsd", "init"];
const MIB: u64 = 1_048_576;
const CLUSTER: &str = "demo";
const ACCOUNT: &str = "arn:aws:ecs:us-east-1:123456789012";
/// 2026-01-01T00:00:00Z, the frozen clock's start.
const FROZEN_EPOCH: u64 = 1_767_225_600;
/// Seconds the frozen clock shows since the start.
const FROZEN_ELAPSED: f64 = 600.0;

fn hex(seed: u64, len: usize) -> String {
    // A stable pseudo-random hex string (splitmix64).
    let mut out = String::with_capacity(len + 16);
    let mut x = seed;
    while out.len() < len {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    out.truncate(len);
    out
}

impl HostSim {
    /// A host of `opts`, starting now.
    pub fn new(opts: HostOpts) -> Self {
        let epoch = if opts.frozen {
            Duration::from_secs(FROZEN_EPOCH)
        } else {
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
        };
        HostSim { opts, started: Instant::now(), epoch, tasks: build(opts), requests: Mutex::new(BTreeMap::new()) }
    }

    /// Its shape.
    pub fn opts(&self) -> HostOpts {
        self.opts
    }

    /// Requests received so far, by route.
    pub fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn count(&self, route: &'static str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry(route).or_default() += 1;
        }
    }

    /// Seconds since the start, and the wall clock now.
    fn clock(&self) -> (f64, Duration) {
        let el = if self.opts.frozen { Duration::from_secs_f64(FROZEN_ELAPSED) } else { self.started.elapsed() };
        (el.as_secs_f64(), self.epoch + el)
    }

    fn at(&self, offset_s: f64) -> String {
        format_rfc3339_nanos(self.epoch.saturating_sub(Duration::from_secs_f64(-offset_s.min(0.0))))
    }

    /// The answer to `GET path?query`: status and JSON body; `None` when the path is not one
    /// of the host's.
    pub fn answer(&self, path: &str, query: &str) -> Option<(u16, Vec<u8>)> {
        let path = strip_version(path);
        let (status, v) = match path {
            "/v1/metadata" => {
                self.count("/v1/metadata");
                (200, self.metadata())
            }
            "/v1/tasks" => {
                self.count("/v1/tasks");
                (200, self.agent_tasks())
            }
            "/containers/json" => {
                self.count("/containers/json");
                (200, self.list(query))
            }
            p => {
                let daemon = managed_path(p);
                match daemon {
                    Some("/tasks") => {
                        self.count("/tasks");
                        (200, self.tmds_tasks())
                    }
                    Some("/tasks/stats") => {
                        self.count("/tasks/stats");
                        (200, self.tmds_stats())
                    }
                    _ => {
                        let rest = p.strip_prefix("/containers/")?;
                        let (id, what) = rest.split_once('/')?;
                        let route = match what {
                            "json" => "/containers/{id}/json",
                            "stats" => "/containers/{id}/stats",
                            _ => return None,
                        };
                        self.count(route);
                        match self.find(id) {
                            Some((t, c)) if c.fate != Fate::Vanishing && c.fate != Fate::Pending => {
                                if what == "json" {
                                    (200, self.inspect(t, c))
                                } else {
                                    (200, self.stats(t, c))
                                }
                            }
                            _ => (404, json!({"message": format!("No such container: {id}")})),
                        }
                    }
                }
            }
        };
        Some((status, serde_json::to_vec(&v).unwrap_or_default()))
    }

    /// How long to wait before answering `path` (the slow container's stats).
    pub fn delay(&self, path: &str) -> Option<Duration> {
        let d = self.opts.slow_stats?;
        let last = self.tasks.iter().rev().find(|t| !t.unlabelled && t.known_status == "RUNNING")?;
        let c = last.containers.iter().find(|c| !c.internal)?;
        let p = strip_version(path);
        (p.strip_prefix("/containers/")?.strip_prefix(c.id.as_str())? == "/stats").then_some(d)
    }

    /// The ECS tasks (all but the agent's own container), as the agent and `/tasks` list them.
    fn ecs_tasks(&self) -> impl Iterator<Item = &SimTask> {
        self.tasks.iter().filter(|t| !t.unlabelled)
    }

    fn find(&self, id: &str) -> Option<(&SimTask, &SimContainer)> {
        self.tasks.iter().find_map(|t| t.containers.iter().find(|c| c.id == id).map(|c| (t, c)))
    }

    fn metadata(&self) -> Value {
        json!({
            "Cluster": CLUSTER,
            "ContainerInstanceArn": format!("{ACCOUNT}:container-instance/{CLUSTER}/{}", hex(7, 32)),
            "Version": "Amazon ECS Agent - v1.89.2 (3d5c5cfb)",
        })
    }

    fn agent_tasks(&self) -> Value {
        let tasks: Vec<Value> = self
            .ecs_tasks()
            .map(|t| {
                let containers: Vec<Value> = t
                    .containers
                    .iter()
                    .filter(|c| !c.internal)
                    .map(|c| {
                        let mut v = json!({"DockerId": c.id, "DockerName": c.docker_name, "Name": c.name});
                        if c.fate == Fate::Pending {
                            v["DockerId"] = json!("");
                        }
                        v
                    })
                    .collect();
                let desired = if t.known_status == "STOPPED" { "STOPPED" } else { "RUNNING" };
                json!({"Arn": t.arn, "DesiredStatus": desired, "KnownStatus": t.known_status,
                       "Family": t.family, "Version": t.revision.to_string(), "Containers": containers})
            })
            .collect();
        json!({ "Tasks": tasks })
    }

    fn labels(t: &SimTask, c: &SimContainer) -> Value {
        if t.unlabelled {
            return json!({});
        }
        json!({
            "com.amazonaws.ecs.cluster": CLUSTER,
            "com.amazonaws.ecs.container-name": c.name,
            "com.amazonaws.ecs.task-arn": t.arn,
            "com.amazonaws.ecs.task-definition-family": t.family,
            "com.amazonaws.ecs.task-definition-version": t.revision.to_string(),
        })
    }

    fn list(&self, query: &str) -> Value {
        let all = query.split('&').any(|kv| kv == "all=true" || kv == "all=1");
        let label_filter = query.split('&').any(|kv| kv.starts_with("filters=") && kv.contains("task-arn"));
        let out: Vec<Value> = self
            .tasks
            .iter()
            .flat_map(|t| t.containers.iter().map(move |c| (t, c)))
            .filter(|(t, c)| {
                c.fate != Fate::Pending && (all || c.fate != Fate::Exited) && !(label_filter && t.unlabelled)
            })
            .map(|(t, c)| {
                let exited = c.fate == Fate::Exited;
                json!({
                    "Id": c.id,
                    "Names": [format!("/{}", c.docker_name)],
                    "Image": "ecs-sandbox/busybox:latest",
                    "ImageID": format!("sha256:{}", hex(11, 64)),
                    "Command": "sh",
                    "Created": self.epoch.as_secs().saturating_sub(700),
                    "Ports": [],
                    "Labels": Self::labels(t, c),
                    "State": if exited { "exited" } else { "running" },
                    "Status": if exited { "Exited (0) 9 minutes ago" } else { "Up 11 minutes" },
                    "HostConfig": {"NetworkMode": c.network_mode},
                    "Mounts": [],
                })
            })
            .collect();
        Value::Array(out)
    }

    fn inspect(&self, t: &SimTask, c: &SimContainer) -> Value {
        let exited = c.fate == Fate::Exited;
        json!({
            "Id": c.id,
            "Created": self.at(-700.0),
            "Path": "sh",
            "State": {
                "Status": if exited { "exited" } else { "running" },
                "Running": !exited, "Paused": false, "Restarting": false, "OOMKilled": false, "Dead": false,
                "Pid": if exited { 0 } else { 4242 },
                "ExitCode": 0, "Error": "",
                "StartedAt": self.at(-660.0),
                "FinishedAt": if exited { self.at(-540.0) } else { "0001-01-01T00:00:00Z".to_owned() },
            },
            "Name": format!("/{}", c.docker_name),
            "RestartCount": 0,
            "HostConfig": {
                "NetworkMode": c.network_mode,
                "CpuShares": c.cpu_shares, "Memory": c.memory, "NanoCpus": c.nano_cpus,
                "CpuPeriod": 0, "CpuQuota": 0,
            },
            "Config": {"Image": "ecs-sandbox/busybox:latest", "Labels": Self::labels(t, c)},
        })
    }

    fn stats(&self, t: &SimTask, c: &SimContainer) -> Value {
        if c.fate == Fate::Stopping || c.fate == Fate::Exited {
            return zeros(c);
        }
        let (el, wall) = self.clock();
        let total = (2.5e8 + c.cpu_rate * 1e9 * el) as u64;
        let wave = ((el / 90.0).sin() * 0.05 + 1.0) * c.rss as f64;
        let rss = wave as u64;
        let cache = 6 * MIB + (el as u64 % 600) * 1024;
        let inactive = cache / 2;
        let usage = rss + cache;
        let limit = if c.memory > 0 { c.memory } else { 9_223_372_036_854_771_712 };
        let host_ns = (self.epoch.as_secs_f64() + el) as u64 * 2_000_000_000;
        let mut s = json!({
            "read": format_rfc3339_nanos(wall),
            "preread": "0001-01-01T00:00:00Z",
            "pids_stats": {"current": 2},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 259, "minor": 0, "op": "Read", "value": 1_843_200 + (el as u64) * 512},
                {"major": 259, "minor": 0, "op": "Write", "value": 204_800 + (el as u64) * 96},
                {"major": 259, "minor": 0, "op": "Sync", "value": 0},
                {"major": 259, "minor": 0, "op": "Async", "value": 2_048_000},
                {"major": 259, "minor": 0, "op": "Total", "value": 2_048_000}
            ], "io_serviced_recursive": []},
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": {
                "cpu_usage": {"total_usage": total, "percpu_usage": [total / 2, total - total / 2],
                              "usage_in_kernelmode": total / 4 / 10_000_000 * 10_000_000,
                              "usage_in_usermode": (total - total / 4) / 10_000_000 * 10_000_000},
                "system_cpu_usage": host_ns, "online_cpus": 2,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            },
            "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                             "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "memory_stats": {
                "usage": usage, "max_usage": usage + 2 * MIB,
                "stats": {"active_anon": rss / 8, "active_file": cache - inactive, "cache": cache,
                          "hierarchical_memory_limit": limit, "inactive_anon": rss - rss / 8,
                          "inactive_file": inactive, "mapped_file": 0, "rss": rss,
                          "total_cache": cache, "total_inactive_file": inactive, "total_rss": rss},
                "limit": limit
            },
            "name": format!("/{}", c.docker_name),
            "id": c.id,
        });
        // Network: host-mode containers see the host's interfaces; joined (awsvpc) ones the
        // task's namespace, the same counters in each.
        let per = if t.mode == "awsvpc" { 0.0 } else { c.cpu_rate };
        let rx = (5_000_000.0 + 40_000.0 * el * (1.0 + per)) as u64;
        let tx = (1_200_000.0 + 90_000.0 * el * (1.0 + per)) as u64;
        let iface = if t.mode == "host" { "ens5" } else { "eth0" };
        s["networks"] = json!({iface: {"rx_bytes": rx, "rx_packets": rx / 900, "rx_errors": 0, "rx_dropped": 0,
                                       "tx_bytes": tx, "tx_packets": tx / 1100, "tx_errors": 0, "tx_dropped": 0}});
        s
    }

    /// `/tasks`: every task as `/task` shows it (Managed Instances daemon).
    fn tmds_tasks(&self) -> Value {
        let tasks: Vec<Value> = self
            .ecs_tasks()
            .map(|t| {
                let containers: Vec<Value> = t
                    .containers
                    .iter()
                    .filter(|c| !c.internal)
                    .map(|c| {
                        let status = match c.fate {
                            Fate::Exited => "STOPPED",
                            Fate::Pending => "PENDING",
                            _ => "RUNNING",
                        };
                        let mut limits = json!({"CPU": c.cpu_shares});
                        if c.memory > 0 {
                            limits["Memory"] = json!(c.memory / MIB);
                        }
                        json!({
                            "DockerId": if c.fate == Fate::Pending { String::new() } else { c.id.clone() },
                            "Name": c.name, "DockerName": c.docker_name,
                            "Image": "ecs-sandbox/busybox:latest",
                            "Labels": Self::labels(t, c),
                            "DesiredStatus": if t.known_status == "STOPPED" { "STOPPED" } else { "RUNNING" },
                            "KnownStatus": status,
                            "Limits": limits,
                            "StartedAt": self.at(-660.0),
                            "Type": "NORMAL",
                            "RestartCount": 0,
                            "Networks": [{"NetworkMode": t.mode, "IPv4Addresses": ["10.0.1.17"]}],
                        })
                    })
                    .collect();
                json!({
                    "Cluster": CLUSTER, "TaskARN": t.arn, "Family": t.family, "Revision": t.revision.to_string(),
                    "DesiredStatus": if t.known_status == "STOPPED" { "STOPPED" } else { "RUNNING" },
                    "KnownStatus": t.known_status,
                    "AvailabilityZone": "us-east-1a", "LaunchType": "MANAGED_INSTANCES",
                    "Containers": containers,
                })
            })
            .collect();
        Value::Array(tasks)
    }

    /// `/tasks/stats`: one Docker id → stats map per task.
    fn tmds_stats(&self) -> Value {
        let maps: Vec<Value> = self
            .ecs_tasks()
            .map(|t| {
                let mut m = serde_json::Map::new();
                for c in t.containers.iter().filter(|c| !c.internal && c.fate != Fate::Pending) {
                    let v = match c.fate {
                        Fate::Exited | Fate::Vanishing => Value::Null,
                        _ => self.stats(t, c),
                    };
                    m.insert(c.id.clone(), v);
                }
                Value::Object(m)
            })
            .collect();
        Value::Array(maps)
    }
}

/// What Docker answers for the stats of a container that is not running.
fn zeros(c: &SimContainer) -> Value {
    let z = json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                   "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    json!({
        "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null},
        "num_procs": 0, "storage_stats": {}, "cpu_stats": z, "precpu_stats": z, "memory_stats": {},
        "name": format!("/{}", c.docker_name), "id": c.id,
    })
}

/// `/containers/json` of `/v1.41/containers/json`.
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v1.") {
        if let Some(i) = rest.find('/') {
            if rest[..i].bytes().all(|b| b.is_ascii_digit()) {
                return &rest[i..];
            }
        }
    }
    path
}

/// `/tasks` or `/tasks/stats`, with or without a `/v4/<id>` prefix.
fn managed_path(path: &str) -> Option<&'static str> {
    let p = match path.strip_prefix("/v4/") {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => path,
    };
    match p.trim_end_matches('/') {
        "/tasks" => Some("/tasks"),
        "/tasks/stats" => Some("/tasks/stats"),
        _ => None,
    }
}

/// The host's tasks and containers.
fn build(o: HostOpts) -> Vec<SimTask> {
    let mut tasks = Vec::new();
    let mut seed = 1000u64;
    let mut id = || {
        seed += 1;
        hex(seed, 64)
    };
    for ti in 0..o.tasks {
        let family = FAMILIES[ti % FAMILIES.len()];
        let revision = 3 + (ti % 5) as u32;
        let mode = ["awsvpc", "bridge", "host"][ti % 3];
        let task_id = hex(ti as u64 + 1, 32);
        let arn = format!("{ACCOUNT}:task/{CLUSTER}/{task_id}");
        let mut containers = Vec::new();
        let pause_id = id();
        if mode == "awsvpc" {
            let docker_name = format!("ecs-{family}-{revision}-internalecspause-{}", &task_id[..20]);
            containers.push(SimContainer {
                rss: 256 * 1024,
                internal: true,
                ..SimContainer::idle(pause_id.clone(), "~internal~ecs~pause", docker_name, Fate::Running, "none")
            });
        }
        for ci in 0..o.containers {
            let base = NAMES[ci % NAMES.len()];
            let name = if ci < NAMES.len() { base.to_owned() } else { format!("{base}-{}", ci / NAMES.len()) };
            let fate = match (o.churn, ti, ci + 1 == o.containers && o.containers > 1) {
                (true, 0, true) => Fate::Vanishing,
                (true, 1, true) => Fate::Stopping,
                _ => Fate::Running,
            };
            let (cpu_shares, nano_cpus, memory) = match ci {
                0 => (256, 250_000_000, 64 * MIB),
                1 => (128, 0, 0),
                _ => (2, 0, 0),
            };
            containers.push(SimContainer {
                id: id(),
                docker_name: format!("ecs-{family}-{revision}-{name}-{}", &task_id[..20]),
                name,
                fate,
                cpu_shares,
                nano_cpus,
                memory,
                cpu_rate: [0.12, 0.03, 0.01, 0.005, 0.002][ci % 5],
                rss: [48, 24, 16, 8, 4][ci % 5] * MIB,
                network_mode: match mode {
                    "awsvpc" => format!("container:{pause_id}"),
                    m => m.to_owned(),
                },
                internal: false,
            });
        }
        tasks.push(SimTask { arn, family, revision, known_status: "RUNNING", mode, containers, unlabelled: false });
    }
    if o.churn {
        // A task that has stopped: its containers exited, still listed by Docker and the agent.
        let task_id = hex(9001, 32);
        tasks.push(SimTask {
            arn: format!("{ACCOUNT}:task/{CLUSTER}/{task_id}"),
            family: "migrate",
            revision: 2,
            known_status: "STOPPED",
            mode: "bridge",
            containers: vec![SimContainer::idle(
                id(),
                "migrate",
                format!("ecs-migrate-2-migrate-{}", &task_id[..20]),
                Fate::Exited,
                "bridge",
            )],
            unlabelled: false,
        });
        // A task the agent has just accepted: no container in Docker yet.
        let task_id = hex(9002, 32);
        tasks.push(SimTask {
            arn: format!("{ACCOUNT}:task/{CLUSTER}/{task_id}"),
            family: "web",
            revision: 4,
            known_status: "PENDING",
            mode: "bridge",
            containers: vec![SimContainer {
                cpu_shares: 256,
                ..SimContainer::idle(String::new(), "app", String::new(), Fate::Pending, "bridge")
            }],
            unlabelled: false,
        });
    }
    // The ECS agent's own container: host network, no ECS labels.
    tasks.push(SimTask {
        arn: String::new(),
        family: "",
        revision: 0,
        known_status: "RUNNING",
        mode: "host",
        containers: vec![SimContainer {
            cpu_shares: 0,
            cpu_rate: 0.004,
            rss: 30 * MIB,
            ..SimContainer::idle(id(), "ecs-agent", "ecs-agent".into(), Fate::Running, "host")
        }],
        unlabelled: true,
    });
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let h = HostSim::new(HostOpts { tasks: 3, containers: 2, churn: true, frozen: true, slow_stats: None });
        let (s, b) = h.answer("/v1.41/containers/json", "all=true").unwrap();
        assert_eq!(s, 200);
        let list: Vec<Value> = serde_json::from_slice(&b).unwrap();
        // 3 tasks × 2, the pause container of the awsvpc task, the stopped task's, the agent.
        assert_eq!(list.len(), 3 * 2 + 1 + 1 + 1);
        let (_, b) = h
            .answer("/containers/json", "all=true&filters=%7B%22label%22%3A%5B%22com.amazonaws.ecs.task-arn%22%5D%7D")
            .unwrap();
        assert_eq!(serde_json::from_slice::<Vec<Value>>(&b).unwrap().len(), 8);
        let gone = list[2]["Id"].as_str().unwrap().to_owned();
        assert_eq!(h.answer(&format!("/containers/{gone}/stats"), "").unwrap().0, 404);
        assert_eq!(h.answer("/containers/nope/json", "").unwrap().0, 404);
        assert!(h.answer("/nope", "").is_none());
        assert_eq!(h.answer("/v4/abc/tasks", "").unwrap().0, 200);
        assert_eq!(h.requests()["/containers/json"], 2);
    }

    #[test]
    fn frozen_is_stable() {
        let h = HostSim::new(HostOpts { frozen: true, ..HostOpts::default() });
        assert_eq!(h.answer("/tasks/stats", ""), h.answer("/tasks/stats", ""));
    }
}

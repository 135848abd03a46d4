//! Live scenarios: realistic task metadata and Docker stats whose counters advance with time,
//! so `rate()` over the demo shows something. Shapes follow the real captures in
//! `tests/fixtures/` (Fargate cgroup v1 and EC2 bridge cgroup v2).

use super::{Route, Scenario};
use crate::timefmt::format_rfc3339_nanos;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running scenario.
#[derive(Debug)]
pub struct Live {
    scenario: Scenario,
    started: Instant,
    /// Wall-clock time of `started`, since the epoch.
    epoch: Duration,
}

/// One simulated container's steady behaviour.
struct Spec {
    name: &'static str,
    image: &'static str,
    suffix: &'static str,
    cpu_units: u32,
    memory_mib: u32,
    /// vCPUs used on average.
    cpu_rate: f64,
    /// Resident memory in MiB (before a slow wave).
    rss_mib: f64,
    cache_mib: f64,
    /// Seconds between this container's stats sample and the freshest one.
    lag: f64,
    health: Option<&'static str>,
    stopped: bool,
}

const FARGATE: &[Spec] = &[
    Spec {
        name: "web",
        image: "public.ecr.aws/nginx/nginx:1.27",
        suffix: "1585788040",
        cpu_units: 256,
        memory_mib: 512,
        cpu_rate: 0.08,
        rss_mib: 38.0,
        cache_mib: 22.0,
        lag: 0.0,
        health: Some("HEALTHY"),
        stopped: false,
    },
    Spec {
        name: "log-router",
        image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
        suffix: "2290461325",
        cpu_units: 2,
        memory_mib: 0,
        cpu_rate: 0.012,
        rss_mib: 24.0,
        cache_mib: 6.0,
        lag: 0.35,
        health: None,
        stopped: false,
    },
    Spec {
        name: "ecs-exporter",
        image: "ecs-exporter:0.1.0",
        suffix: "4159844948",
        cpu_units: 2,
        memory_mib: 0,
        cpu_rate: 0.001,
        rss_mib: 2.6,
        cache_mib: 0.4,
        lag: 0.7,
        health: None,
        stopped: false,
    },
    Spec {
        name: "db-migrate",
        image: "public.ecr.aws/docker/library/alpine:3.20",
        suffix: "3971203348",
        cpu_units: 2,
        memory_mib: 0,
        cpu_rate: 0.0,
        rss_mib: 0.0,
        cache_mib: 0.0,
        lag: 0.0,
        health: None,
        stopped: true,
    },
];

const EC2_BRIDGE: &[Spec] = &[
    Spec {
        name: "api",
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:2.4.1",
        suffix: "",
        cpu_units: 512,
        memory_mib: 256,
        cpu_rate: 0.21,
        rss_mib: 120.0,
        cache_mib: 48.0,
        lag: 0.0,
        health: Some("HEALTHY"),
        stopped: false,
    },
    Spec {
        name: "worker",
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:2.4.1",
        suffix: "",
        cpu_units: 128,
        memory_mib: 0,
        cpu_rate: 0.05,
        rss_mib: 64.0,
        cache_mib: 12.0,
        lag: 0.2,
        health: None,
        stopped: false,
    },
    Spec {
        name: "ecs-exporter",
        image: "ecs-exporter:0.1.0",
        suffix: "",
        cpu_units: 2,
        memory_mib: 0,
        cpu_rate: 0.001,
        rss_mib: 2.6,
        cache_mib: 0.4,
        lag: 0.4,
        health: None,
        stopped: false,
    },
];

const MIB: f64 = 1_048_576.0;
const TASK_ID: &str = "6f1c2a7e9b3d4c5fa0e1d2c3b4a59687";

impl Live {
    /// Start `scenario` now.
    pub fn new(scenario: Scenario) -> Self {
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Live { scenario, started: Instant::now(), epoch }
    }

    fn specs(&self) -> &'static [Spec] {
        match self.scenario {
            Scenario::Fargate => FARGATE,
            // The host scenario is served by `HostSim`; as a single task it is the EC2 one.
            Scenario::Ec2Bridge | Scenario::Host => EC2_BRIDGE,
        }
    }

    fn fargate(&self) -> bool {
        self.scenario == Scenario::Fargate
    }

    fn docker_id(&self, i: usize, s: &Spec) -> String {
        if self.fargate() {
            format!("{TASK_ID}-{}", s.suffix)
        } else {
            // 64 hex digits, stable per container.
            format!(
                "{:016x}{:016x}{:016x}{:016x}",
                0x8f3a_0000_0000_0000u64 + i as u64,
                0x1b2c_3d4e_5f60_7182u64,
                i as u64 * 7919,
                0xc0ffee
            )
        }
    }

    /// Time since the start, and the wall clock at `lag` seconds before now.
    fn clock(&self, lag: f64) -> (f64, Duration) {
        let el = self.started.elapsed();
        let lagd = Duration::from_secs_f64(lag.min(el.as_secs_f64()));
        ((el - lagd).as_secs_f64(), self.epoch + el - lagd)
    }

    fn at(&self, offset_s: f64) -> String {
        let t = if offset_s >= 0.0 {
            self.epoch + Duration::from_secs_f64(offset_s)
        } else {
            self.epoch.saturating_sub(Duration::from_secs_f64(-offset_s))
        };
        format_rfc3339_nanos(t)
    }

    /// The JSON body of `route`.
    pub fn body(&self, route: Route) -> Vec<u8> {
        let v = match route {
            Route::Task => self.task(false),
            Route::TaskWithTags => self.task(true),
            Route::TaskStats => self.task_stats(),
            Route::Container => self.container(self.specs().len() - 1, &self.specs()[self.specs().len() - 1]),
            Route::ContainerStats => {
                let i = self.specs().len() - 1;
                self.stats(i, &self.specs()[i])
            }
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    fn task(&self, tags: bool) -> Value {
        let containers: Vec<Value> = self.specs().iter().enumerate().map(|(i, s)| self.container(i, s)).collect();
        let mut t = if self.fargate() {
            json!({
                "Cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/demo",
                "TaskARN": format!("arn:aws:ecs:us-east-1:123456789012:task/demo/{TASK_ID}"),
                "Family": "demo-web",
                "Revision": "7",
                "DesiredStatus": "RUNNING",
                "KnownStatus": "RUNNING",
                "Limits": {"CPU": 0.5, "Memory": 1024},
                "PullStartedAt": self.at(-95.0),
                "PullStoppedAt": self.at(-81.5),
                "AvailabilityZone": "us-east-1a",
                "LaunchType": "FARGATE",
                "Containers": containers,
                "ClockDrift": {"ClockErrorBound": 0.35, "ReferenceTimestamp": self.at(-30.0), "ClockSynchronizationStatus": "SYNCHRONIZED"},
                "EphemeralStorageMetrics": {"Utilized": 261 + (self.clock(0.0).0 / 600.0) as u64, "Reserved": 20496},
            })
        } else {
            json!({
                "Cluster": "default",
                "TaskARN": format!("arn:aws:ecs:us-east-1:123456789012:task/default/{TASK_ID}"),
                "Family": "orders",
                "Revision": "12",
                "DesiredStatus": "RUNNING",
                "KnownStatus": "RUNNING",
                "PullStartedAt": self.at(-40.0),
                "PullStoppedAt": self.at(-38.2),
                "AvailabilityZone": "us-east-1b",
                "LaunchType": "EC2",
                "ServiceName": "orders",
                "VPCID": "vpc-0a1b2c3d4e5f67890",
                "Containers": containers,
            })
        };
        if tags {
            t["TaskTags"] = json!({"team": "payments", "env": "demo"});
        }
        t
    }

    fn container(&self, i: usize, s: &Spec) -> Value {
        let mode = if self.fargate() { "awsvpc" } else { "bridge" };
        let mut limits = json!({"CPU": s.cpu_units});
        if s.memory_mib > 0 {
            limits["Memory"] = json!(s.memory_mib);
        }
        let mut c = json!({
            "DockerId": self.docker_id(i, s),
            "Name": s.name,
            "DockerName": if self.fargate() { s.name.to_owned() } else { format!("ecs-orders-12-{}-a0b1c2d3e4f5", s.name) },
            "Image": s.image,
            "ImageID": format!("sha256:{:064x}", 0x5eed_u128 * (i as u128 + 11)),
            "Labels": {
                "com.amazonaws.ecs.container-name": s.name,
                "com.amazonaws.ecs.task-definition-family": if self.fargate() { "demo-web" } else { "orders" },
            },
            "DesiredStatus": "RUNNING",
            "KnownStatus": if s.stopped { "STOPPED" } else { "RUNNING" },
            "Limits": limits,
            "CreatedAt": self.at(-80.0),
            "StartedAt": self.at(-79.6 + i as f64 * 0.1),
            "Type": "NORMAL",
            "RestartCount": 0,
            "Networks": [{"NetworkMode": mode, "IPv4Addresses": [if self.fargate() { "10.0.117.145" } else { "" }]}],
        });
        if s.stopped {
            c["ExitCode"] = json!(0);
            c["FinishedAt"] = self.at(-78.9).into();
            c["DesiredStatus"] = "STOPPED".into();
        }
        if let Some(h) = s.health {
            c["Health"] = json!({"status": h, "statusSince": self.at(-60.0), "output": "ok"});
        }
        c
    }

    fn task_stats(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (i, s) in self.specs().iter().enumerate() {
            let v = if s.stopped { Value::Null } else { self.stats(i, s) };
            m.insert(self.docker_id(i, s), v);
        }
        Value::Object(m)
    }

    fn stats(&self, i: usize, s: &Spec) -> Value {
        let (t, wall) = self.clock(s.lag);
        let interval = if self.fargate() { 10.0 } else { 1.0 };
        let prewall = wall.saturating_sub(Duration::from_secs_f64(interval));
        // CPU: a steady rate with a slow wobble; counters are integrals so they only grow.
        let base_cpu = 2.5e9 * s.cpu_rate / 0.08;
        let cpu_ns = |t: f64| (base_cpu + s.cpu_rate * 1e9 * t + s.cpu_rate * 4e9 * (1.0 - (t / 45.0).cos())) as u64;
        let (total, pre_total) = (cpu_ns(t), cpu_ns((t - interval).max(0.0)));
        let wave = (t / 90.0).sin();
        let rss = ((s.rss_mib + s.rss_mib * 0.06 * wave) * MIB) as u64;
        let cache = ((s.cache_mib + s.cache_mib * 0.02 * t.min(600.0) / 600.0) * MIB) as u64;
        let inactive = cache * 2 / 3;
        let usage = rss + cache;
        let host_ns = ((self.epoch.as_secs_f64() - 86_400.0 + t) * 2.0 * 1e9) as u64;
        let read_bytes = (1_843_200.0 + 512.0 * t * s.cpu_rate / 0.01) as u64;
        let write_bytes = (204_800.0 + 96.0 * t * s.cpu_rate / 0.01) as u64;
        let memory_stats = if self.fargate() {
            json!({
                "usage": usage, "max_usage": usage + (3.0 * MIB) as u64, "limit": 9_223_372_036_854_771_712u64,
                "stats": {
                    "active_anon": rss, "active_file": cache - inactive, "cache": cache, "hierarchical_memory_limit": 536_870_912u64,
                    "inactive_anon": 0, "inactive_file": inactive, "mapped_file": cache / 4, "rss": rss,
                    "total_active_anon": rss, "total_active_file": cache - inactive, "total_cache": cache,
                    "total_inactive_anon": 0, "total_inactive_file": inactive, "total_rss": rss
                }
            })
        } else {
            json!({
                "usage": usage, "limit": 8_162_844_672u64,
                "stats": {
                    "active_anon": rss / 8, "active_file": cache - inactive, "anon": rss, "file": cache,
                    "inactive_anon": rss - rss / 8, "inactive_file": inactive, "kernel": (1.2 * MIB) as u64, "shmem": 0
                }
            })
        };
        let blk = |op_r: &str, op_w: &str, r: u64, w: u64| {
            json!([
                {"major": 259, "minor": 0, "op": op_r, "value": r},
                {"major": 259, "minor": 0, "op": op_w, "value": w},
            ])
        };
        let (op_r, op_w) = if self.fargate() { ("Read", "Write") } else { ("read", "write") };
        let blkio = if self.fargate() {
            json!({"io_service_bytes_recursive": blk(op_r, op_w, read_bytes, write_bytes),
                   "io_serviced_recursive": blk(op_r, op_w, read_bytes / 4096, write_bytes / 4096)})
        } else {
            json!({"io_service_bytes_recursive": blk(op_r, op_w, read_bytes, write_bytes), "io_serviced_recursive": null})
        };
        // Network: task-level counters on Fargate (every container holds a copy, read at its
        // own instant), per-container counters in bridge mode.
        let (rx_rate, tx_rate) = if self.fargate() {
            (42_000.0, 96_000.0)
        } else {
            (12_000.0 * s.cpu_rate / 0.05, 30_000.0 * s.cpu_rate / 0.05)
        };
        let rx = (5_000_000.0 + rx_rate * t + 8_000.0 * (t / 20.0).sin().abs()) as u64;
        let tx = (1_200_000.0 + tx_rate * t) as u64;
        let iface = if self.fargate() { "eth1" } else { "eth0" };
        let mut st = json!({
            "read": format_rfc3339_nanos(wall),
            "preread": format_rfc3339_nanos(prewall),
            "pids_stats": if self.fargate() { json!({}) } else { json!({"current": 3 + i as u64 * 4, "limit": 4_611_686_018_427_387_904u64}) },
            "blkio_stats": blkio,
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": {
                "cpu_usage": {"total_usage": total, "usage_in_kernelmode": total / 4, "usage_in_usermode": total - total / 4},
                "system_cpu_usage": host_ns, "online_cpus": 2,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": pre_total, "usage_in_kernelmode": pre_total / 4, "usage_in_usermode": pre_total - pre_total / 4},
                "system_cpu_usage": host_ns.saturating_sub((interval * 2e9) as u64), "online_cpus": 2,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            },
            "memory_stats": memory_stats,
            "name": if self.fargate() { s.name.to_owned() } else { format!("/ecs-orders-12-{}-a0b1c2d3e4f5", s.name) },
            "id": self.docker_id(i, s),
            "networks": {iface: {
                "rx_bytes": rx, "rx_packets": rx / 900, "rx_errors": 0, "rx_dropped": 0,
                "tx_bytes": tx, "tx_packets": tx / 1100, "tx_errors": 0, "tx_dropped": 0
            }},
            "network_rate_stats": {"rx_bytes_per_sec": rx_rate * (1.0 + 0.1 * wave), "tx_bytes_per_sec": tx_rate}
        });
        if self.fargate() {
            st["cpu_stats"]["cpu_usage"]["percpu_usage"] = json!([total / 2, total - total / 2]);
        }
        st
    }
}

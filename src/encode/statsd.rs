//! Snapshot → StatsD and DogStatsD lines, for the push loop ([`crate::push`]). The same
//! snapshot `/metrics` encodes, so the figures agree with Prometheus'.
//!
//! - Gauge families become gauges (`|g`); counter families become counters (`|c`) sent as the
//!   increase since the last push: the first push sends none, and a counter that went
//!   backwards (a restarted container) sends nothing for that interval. Info metrics and state
//!   sets are not sent; the identity they carry becomes tags (DogStatsD) or the metric path
//!   (StatsD).
//! - Utilisation, from two consecutive reads of the same container (Δ CPU time / Δ `read`
//!   time), in percent of the limit that applies ([`cpu_limit`]), and memory utilisation
//!   (working set / limit). Task totals are sums of the series of one task, so the shared
//!   awsvpc namespace, exported once, is counted once.
//!
//! Names: `<prefix><group>.<name>`, e.g. `ecs.container.cpu_usage_seconds` from
//! `ecs_container_cpu_usage_seconds_total`. DogStatsD tags: `cluster` (its name, also when the
//! metadata gives its ARN), `task_family`,
//! `task_revision`, `task_id`, `availability_zone`, `launch_type`, `container_name` and the
//! series' other labels; in host mode also `task_arn`. StatsD paths:
//! `<prefix><cluster>.<task_family>.<task_id>.<container_name>.<other label values>.<group>.<name>`,
//! each part sanitised.

use crate::metrics::{Family, Group, Kind};
use crate::snapshot::{Fill, Series, Snapshot, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// DogStatsD: identity as tags (`|#k:v,...`).
    Dogstatsd,
    /// Plain (Etsy) StatsD: identity in the metric path.
    Statsd,
}

/// What the encoder needs to know besides the snapshot.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The line format.
    pub flavor: Flavor,
    /// Prepended to every metric name (`ecs.`).
    pub prefix: String,
    /// Tags added to every line (DogStatsD), as `k:v`.
    pub tags: Vec<String>,
    /// The host's online CPUs: the CPU limit when neither the task nor the container has one.
    pub host_cpus: f64,
}

/// The counters of the push, shown on `/metrics` (`ecs_exporter_statsd_*`).
#[derive(Debug, Default)]
pub struct PushStats {
    /// Datagrams sent.
    pub datagrams: AtomicU64,
    /// Bytes sent.
    pub bytes: AtomicU64,
    /// Failed pushes or datagrams.
    pub errors: AtomicU64,
    /// Unix time of the last complete push, in milliseconds; 0 before the first.
    pub last_push_ms: AtomicI64,
}

impl PushStats {
    /// Add the exporter's own StatsD series to `snap`.
    pub fn collect(&self, snap: &mut Fill<'_>) {
        snap.put(Family::ExporterStatsdDatagrams, &[], Value::U64(self.datagrams.load(Ordering::Relaxed)));
        snap.put(Family::ExporterStatsdBytes, &[], Value::U64(self.bytes.load(Ordering::Relaxed)));
        snap.put(Family::ExporterStatsdErrors, &[], Value::U64(self.errors.load(Ordering::Relaxed)));
        let last = self.last_push_ms.load(Ordering::Relaxed);
        if last > 0 {
            snap.put(Family::ExporterStatsdLastPush, &[], Value::Nanos(i128::from(last) * 1_000_000));
        }
    }
}

/// One container's CPU at one read.
#[derive(Debug, Clone, Copy)]
struct CpuRead {
    cpu_s: f64,
    read_s: f64,
}

/// The encoder: the settings and what the previous push saw.
#[derive(Debug)]
pub struct Encoder {
    settings: Settings,
    /// Counter values of the previous push, by series key.
    counters: HashMap<String, Value>,
    /// CPU of each container at the previous push, by `task_arn` and container name.
    cpu: HashMap<(String, String), CpuRead>,
}

/// The identity of one task, from `ecs_task_metadata_info`.
#[derive(Debug, Default, Clone)]
struct Identity {
    cluster: String,
    family: String,
    revision: String,
    task_id: String,
    availability_zone: String,
    launch_type: String,
    task_arn: String,
}

/// The per-container figures utilisation needs.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    cpu_s: Option<f64>,
    read_s: Option<f64>,
    cpu_limit: Option<f64>,
    cpu_reserved: Option<f64>,
    working_set: Option<f64>,
    memory_limit: Option<f64>,
}

/// The vCPUs a container's CPU use is measured against, after the table of the
/// `ecs-container-exporter` README, with container CPU in CPU units (its reservation, here in
/// vCPUs; units ≤ 2 mean unset and are not exported) or a hard Docker limit:
///
/// | task limit | container limit | measured against |
/// |---|---|---|
/// | yes | yes | the container's |
/// | yes | no | the task's |
/// | no | yes | the container's |
/// | no | no | the host's CPUs |
pub fn cpu_limit(task: Option<f64>, container: Option<f64>, host_cpus: f64) -> f64 {
    container.filter(|c| *c > 0.0).or(task.filter(|t| *t > 0.0)).unwrap_or(host_cpus)
}

/// Percent of `limit` vCPUs used, from two reads of a CPU counter (seconds) at two times.
pub fn cpu_percent(prev: (f64, f64), now: (f64, f64), limit: f64) -> Option<f64> {
    let (dcpu, dt) = (now.0 - prev.0, now.1 - prev.1);
    (dt > 0.0 && dcpu >= 0.0 && limit > 0.0).then(|| dcpu / dt / limit * 100.0)
}

impl Encoder {
    /// An encoder that has seen nothing yet.
    pub fn new(settings: Settings) -> Self {
        Encoder { settings, counters: HashMap::new(), cpu: HashMap::new() }
    }

    /// The lines of one push: `snap` is the tasks' series of the read, `None` when the read
    /// failed (then only the exporter's `up 0` gauge is sent, and the counters' memory is kept).
    pub fn encode(&mut self, snap: Option<&Snapshot>) -> Vec<String> {
        let mut out = Vec::new();
        let up = snap.is_some();
        self.line(&mut out, "exporter.up", Value::U64(u64::from(up)), 'g', &[], &Identity::default(), "");
        let Some(snap) = snap else { return out };
        let ids = identities(snap);
        // Containers of no task (a plain Docker host) have no identity.
        let nobody = Identity::default();
        let mut counters = HashMap::new();
        let mut usage: BTreeMap<(String, String), Usage> = BTreeMap::new();
        let mut task_cpu_limit: HashMap<String, f64> = HashMap::new();
        let mut task_mem_limit: HashMap<String, f64> = HashMap::new();
        // Task totals: (task, name) → sum.
        let mut totals: BTreeMap<(String, &'static str, char), f64> = BTreeMap::new();
        for s in &snap.series {
            let def = s.family.def();
            if !matches!(def.group, Group::Task | Group::Container | Group::Network) {
                continue;
            }
            let arn = label(s, "task_arn").unwrap_or("").to_owned();
            let container = label(s, "container_name").unwrap_or("").to_owned();
            let id = ids.get(&arn).unwrap_or(&nobody);
            let v = s.value.as_f64();
            match s.family {
                Family::TaskCpuLimit => {
                    task_cpu_limit.insert(arn.clone(), v);
                }
                Family::TaskMemoryLimit => {
                    task_mem_limit.insert(arn.clone(), v);
                }
                _ => {}
            }
            if def.group == Group::Container {
                let u = usage.entry((arn.clone(), container.clone())).or_default();
                match s.family {
                    Family::ContainerCpuUsage => u.cpu_s = Some(v),
                    Family::ContainerStatsRead => u.read_s = Some(v),
                    Family::ContainerCpuLimit => u.cpu_limit = Some(v),
                    Family::ContainerCpuReserved => u.cpu_reserved = Some(v),
                    Family::ContainerMemoryWorkingSet => u.working_set = Some(v),
                    Family::ContainerMemoryLimit => u.memory_limit = Some(v),
                    _ => {}
                }
            }
            let name = statsd_name(s.family);
            let extra = other_labels(s);
            match def.kind {
                Kind::Gauge => {
                    if s.family == Family::ContainerStatsRead {
                        continue;
                    }
                    self.line(&mut out, &name, s.value, 'g', &extra, id, &container);
                    if s.family == Family::ContainerMemoryWorkingSet {
                        *totals.entry((arn, "task.memory_working_set_bytes", 'g')).or_default() += v;
                    }
                }
                Kind::Counter => {
                    let key = series_key(s);
                    let prev = self.counters.get(&key).copied();
                    counters.insert(key, s.value);
                    let Some(prev) = prev else { continue };
                    if v < prev.as_f64() {
                        continue; // reset: nothing for this interval
                    }
                    let delta = increase(prev, s.value);
                    let d = delta.as_f64();
                    self.line(&mut out, &name, delta, 'c', &extra, id, &container);
                    let total = match s.family {
                        Family::ContainerCpuUsage => Some("task.cpu_usage_seconds"),
                        Family::NetRxBytes => Some("task.network_receive_bytes"),
                        Family::NetTxBytes => Some("task.network_transmit_bytes"),
                        _ => None,
                    };
                    if let Some(t) = total {
                        *totals.entry((arn, t, 'c')).or_default() += d;
                    }
                }
                Kind::Info | Kind::StateSet => {}
            }
        }
        // Utilisation.
        let mut task_rate: BTreeMap<String, f64> = BTreeMap::new();
        let mut cpu_now = HashMap::new();
        for ((arn, container), u) in &usage {
            let id = ids.get(arn).unwrap_or(&nobody);
            let key = (arn.clone(), container.clone());
            if let (Some(cpu_s), Some(read_s)) = (u.cpu_s, u.read_s) {
                let now = CpuRead { cpu_s, read_s };
                if let Some(prev) = self.cpu.get(&key) {
                    let container_limit = u.cpu_limit.or(u.cpu_reserved);
                    let limit = cpu_limit(task_cpu_limit.get(arn).copied(), container_limit, self.settings.host_cpus);
                    if let Some(p) = cpu_percent((prev.cpu_s, prev.read_s), (cpu_s, read_s), limit) {
                        self.line(
                            &mut out,
                            "container.cpu_utilisation_percent",
                            Value::F64(p),
                            'g',
                            &[],
                            id,
                            container,
                        );
                        *task_rate.entry(arn.clone()).or_default() += p / 100.0 * limit;
                    }
                }
                cpu_now.insert(key, now);
            }
            if let (Some(ws), Some(limit)) = (u.working_set, u.memory_limit.filter(|l| *l > 0.0)) {
                self.line(
                    &mut out,
                    "container.memory_utilisation_percent",
                    Value::F64(ws / limit * 100.0),
                    'g',
                    &[],
                    id,
                    container,
                );
            }
        }
        for (arn, rate) in &task_rate {
            let id = ids.get(arn).unwrap_or(&nobody);
            let limit = task_cpu_limit.get(arn).copied().filter(|l| *l > 0.0).unwrap_or(self.settings.host_cpus);
            self.line(&mut out, "task.cpu_utilisation_percent", Value::F64(rate / limit * 100.0), 'g', &[], id, "");
        }
        for ((arn, name, kind), v) in &totals {
            let id = ids.get(arn).unwrap_or(&nobody);
            if ids.contains_key(arn) {
                self.line(&mut out, name, Value::F64(*v), *kind, &[], id, "");
            }
            if *name == "task.memory_working_set_bytes" {
                if let Some(l) = task_mem_limit.get(arn).filter(|l| **l > 0.0) {
                    self.line(&mut out, "task.memory_utilisation_percent", Value::F64(v / l * 100.0), 'g', &[], id, "");
                }
            }
        }
        self.counters = counters;
        self.cpu = cpu_now;
        out
    }

    /// Append one line.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &self,
        out: &mut Vec<String>,
        name: &str,
        value: Value,
        kind: char,
        extra: &[(&'static str, String)],
        id: &Identity,
        container: &str,
    ) {
        if !value.as_f64().is_finite() {
            return;
        }
        let mut l = String::with_capacity(96);
        let v = format_value(value);
        match self.settings.flavor {
            Flavor::Dogstatsd => {
                let _ = write!(l, "{}{}:{}|{}", self.settings.prefix, name, v, kind);
                let mut tags: Vec<String> = self.settings.tags.clone();
                let mut tag = |k: &str, v: &str| {
                    if !v.is_empty() {
                        tags.push(format!("{k}:{}", sanitise_tag(v)));
                    }
                };
                tag("cluster", &id.cluster);
                tag("task_family", &id.family);
                tag("task_revision", &id.revision);
                tag("task_id", &id.task_id);
                tag("availability_zone", &id.availability_zone);
                tag("launch_type", &id.launch_type);
                tag("task_arn", &id.task_arn);
                tag("container_name", container);
                for (k, v) in extra {
                    tag(k, v);
                }
                if !tags.is_empty() {
                    l.push_str("|#");
                    l.push_str(&tags.join(","));
                }
            }
            Flavor::Statsd => {
                l.push_str(&self.settings.prefix);
                for part in [&id.cluster, &id.family, &id.task_id].into_iter().map(String::as_str).chain([container]) {
                    if !part.is_empty() {
                        l.push_str(&sanitise_path(part));
                        l.push('.');
                    }
                }
                for (_, v) in extra {
                    if !v.is_empty() {
                        l.push_str(&sanitise_path(v));
                        l.push('.');
                    }
                }
                let _ = write!(l, "{name}:{v}|{kind}");
            }
        }
        out.push(l);
    }
}

/// Pack lines into datagrams of at most `max` bytes, joined by `\n`, never splitting a line; a
/// line longer than `max` travels alone.
pub fn pack(lines: &[String], max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for l in lines {
        let need = if cur.is_empty() { l.len() } else { cur.len() + 1 + l.len() };
        if need > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(b'\n');
        }
        cur.extend_from_slice(l.as_bytes());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `ecs_container_cpu_usage_seconds_total` → `container.cpu_usage_seconds`.
fn statsd_name(f: Family) -> String {
    let n = f.def().name.strip_prefix("ecs_").unwrap_or(f.def().name);
    let n = n.strip_suffix("_total").unwrap_or(n);
    match n.split_once('_') {
        Some((group, rest)) => format!("{group}.{rest}"),
        None => n.to_owned(),
    }
}

fn label<'a>(s: &'a Series, name: &str) -> Option<&'a str> {
    s.labels.iter().find(|(k, _)| *k == name).map(|(_, v)| &**v)
}

/// Labels other than the identity ones (`interface`, say).
fn other_labels(s: &Series) -> Vec<(&'static str, String)> {
    s.labels
        .iter()
        .filter(|(k, _)| *k != "task_arn" && *k != "container_name")
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

fn series_key(s: &Series) -> String {
    let mut k = String::from(s.family.def().name);
    for (n, v) in s.labels.iter() {
        let _ = write!(k, "\u{0}{n}={v}");
    }
    k
}

/// Each task's identity, by `task_arn` (`""` for the one task of a sidecar).
fn identities(snap: &Snapshot) -> HashMap<String, Identity> {
    let mut m = HashMap::new();
    for s in snap.series.iter().filter(|s| s.family == Family::TaskInfo) {
        let l = |n: &str| label(s, n).unwrap_or("").to_owned();
        let arn = l("task_arn");
        let cluster = l("cluster");
        let id = Identity {
            // The cluster's name: the last part of an ARN (Fargate gives the ARN).
            cluster: cluster.rsplit_once(":cluster/").map_or(cluster.clone(), |(_, n)| n.to_owned()),
            family: l("family"),
            revision: l("revision"),
            task_id: arn.rsplit('/').next().unwrap_or("").to_owned(),
            availability_zone: l("availability_zone"),
            launch_type: l("launch_type"),
            task_arn: String::new(),
        };
        m.insert(arn, id);
    }
    // In host mode the series carry task_arn and the tag says it; in a sidecar they do not.
    let host = snap.series.iter().any(|s| s.family.def().group == Group::Container && label(s, "task_arn").is_some());
    if host {
        for (arn, id) in m.iter_mut() {
            id.task_arn.clone_from(arn);
        }
    } else if m.len() == 1 {
        let only = m.drain().map(|(_, v)| v).next().unwrap_or_default();
        m.insert(String::new(), only);
    }
    m
}

/// A value as the exposition writes it: integers as integers, nanoseconds as exact decimal
/// seconds, floats in the shortest form that reads back the same.
fn format_value(v: Value) -> String {
    let mut out = Vec::with_capacity(24);
    super::write_value(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

/// The increase of a counter from `prev` to `now` (`now` ≥ `prev`), exact for integers and
/// nanoseconds.
fn increase(prev: Value, now: Value) -> Value {
    match (prev, now) {
        (Value::Nanos(a), Value::Nanos(b)) => Value::Nanos(b - a),
        (Value::U64(a), Value::U64(b)) => Value::U64(b.saturating_sub(a)),
        (a, b) => Value::F64(b.as_f64() - a.as_f64()),
    }
}

/// A DogStatsD tag value: no `,` `|` `#` `@` or whitespace.
fn sanitise_tag(v: &str) -> String {
    v.chars().map(|c| if matches!(c, ',' | '|' | '#' | '@') || c.is_whitespace() { '_' } else { c }).collect()
}

/// A StatsD path part: no `.` `:` `|` `@` `#` `/` or whitespace.
fn sanitise_path(v: &str) -> String {
    v.chars()
        .map(|c| if matches!(c, '.' | ':' | '|' | '@' | '#' | '/') || c.is_whitespace() { '_' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_table() {
        // 1 vCPU used over the interval: Δcpu 10 s over Δt 10 s.
        let (prev, now) = ((100.0, 1000.0), (110.0, 1010.0));
        // Task 2 vCPUs, container 0.5 vCPU (512 units): against the container's: 1 / 0.5 = 200 %.
        assert_eq!(cpu_percent(prev, now, cpu_limit(Some(2.0), Some(0.5), 8.0)), Some(200.0));
        // Task 2 vCPUs, container unset: against the task's: 1 / 2 = 50 %.
        assert_eq!(cpu_percent(prev, now, cpu_limit(Some(2.0), None, 8.0)), Some(50.0));
        // Task unset, container 0.25 vCPU (256 units): 1 / 0.25 = 400 %.
        assert_eq!(cpu_percent(prev, now, cpu_limit(None, Some(0.25), 8.0)), Some(400.0));
        // Neither: the host's 8 CPUs: 1 / 8 = 12.5 % (never 2560 %: 2 units are "unset").
        assert_eq!(cpu_percent(prev, now, cpu_limit(None, None, 8.0)), Some(12.5));
        // A counter that went backwards, or no time between reads: nothing.
        assert_eq!(cpu_percent((110.0, 1000.0), (100.0, 1010.0), 1.0), None);
        assert_eq!(cpu_percent(prev, (110.0, 1000.0), 1.0), None);
    }

    #[test]
    fn packing_never_splits_a_line() {
        let lines: Vec<String> =
            ["a:1|g", "bb:2|g", "ccc:3|g", "this-one-is-too-long:4|g"].iter().map(|s| s.to_string()).collect();
        let d = pack(&lines, 14);
        let text: Vec<String> = d.iter().map(|p| String::from_utf8(p.clone()).unwrap()).collect();
        assert_eq!(text, ["a:1|g\nbb:2|g", "ccc:3|g", "this-one-is-too-long:4|g"]);
        assert!(pack(&[], 100).is_empty());
    }

    #[test]
    fn values_and_names() {
        assert_eq!(format_value(Value::F64(3.0)), "3");
        assert_eq!(format_value(Value::F64(0.1776143)), "0.1776143");
        assert_eq!(format_value(Value::Nanos(1_796_174_518_916_721_576)), "1796174518.916721576");
        assert_eq!(increase(Value::Nanos(177_614_325), Value::Nanos(189_537_493)), Value::Nanos(11_923_168));
        assert_eq!(statsd_name(Family::ContainerCpuUsage), "container.cpu_usage_seconds");
        assert_eq!(statsd_name(Family::NetRxBytes), "network.receive_bytes");
        assert_eq!(sanitise_path("a.b:c|d@e#f g/h"), "a_b_c_d_e_f_g_h");
        assert_eq!(sanitise_tag("x,y|z#w@v u"), "x_y_z_w_v_u");
    }
}

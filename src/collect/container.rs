//! Per-container series: identity, status, limits from `/task`, and resource usage from the
//! container's `/task/stats` entry (CPU, memory, pids, block I/O), each by a table of rules.

use super::{mib_to_bytes, Filter, Scope};
use crate::metrics::{Family, CONTAINER_STATUSES, HEALTH_STATUSES};
use crate::parse::lenient::{Num, Objects};
use crate::parse::tmds::{BlkioEntry, CgroupMemory, Container, Op, Stats};
use crate::snapshot::{LabelValue, Labels, Snapshot, Value};
use crate::timefmt::parse_rfc3339_nanos;
use std::sync::{Arc, OnceLock};

/// Append the series of one exported container.
pub(super) fn series(
    c: &Container,
    st: Option<&Stats>,
    name: &LabelValue,
    task_memory_limit: Option<u64>,
    scope: &Scope,
    filter: &Filter,
    out: &mut Snapshot,
) {
    let with = |more: usize| {
        let mut l = scope.labels(more + 1);
        l.push(("container_name", name.clone()));
        l
    };
    // The labels of every series of the container but its state sets and info: one list.
    let base = Labels::shared(with(0));
    let cn = || base.clone();
    let s = crate::parse::lenient::Str::shared;
    let mut info = with(3);
    info.extend([("container_id", s(&c.docker_id)), ("image", s(&c.image)), ("image_id", s(&c.image_id))]);
    out.push(Family::ContainerInfo, info, Value::U64(1));
    // Read (built) only when asked for: a tuple would build them for nothing.
    if let Some((allow, labels)) = filter.container_labels.as_ref().and_then(|a| Some((a, c.labels.get()?))) {
        let mut l = with(labels.len());
        l.extend(super::key_labels(labels, allow, "label_"));
        out.push(Family::ContainerLabels, l, Value::U64(1));
    }
    if let Some(status) = c.known_status.get().filter(|v| !v.is_empty()) {
        static VALUES: OnceLock<Vec<LabelValue>> = OnceLock::new();
        state_set(Family::ContainerStatus, (CONTAINER_STATUSES, &VALUES), status, &base, out);
    }
    if let Some(v) = c.restart_count.as_u64() {
        out.push(Family::ContainerRestarts, cn(), Value::U64(v));
    }
    if let Some(v) = c.exit_code.as_i64() {
        out.push(Family::ContainerExitCode, cn(), Value::I64(v));
    }
    if let Some(h) = c.health.get().and_then(|h| h.status.get()).filter(|v| !v.is_empty()) {
        static VALUES: OnceLock<Vec<LabelValue>> = OnceLock::new();
        state_set(Family::ContainerHealth, (HEALTH_STATUSES, &VALUES), h, &base, out);
    }
    if let Some(t) = c.started_at.get().and_then(parse_rfc3339_nanos) {
        out.push(Family::ContainerStartTime, cn(), Value::Nanos(t));
    }
    if let Some(t) = c.finished_at.get().and_then(parse_rfc3339_nanos) {
        out.push(Family::ContainerFinishedTime, cn(), Value::Nanos(t));
    }
    let limits = c.limits.get();
    // CPU units: 1024 per vCPU; the agent writes 2 (or 0 on old agents) for "unset".
    if let Some(units) = limits.and_then(|l| l.cpu.as_f64()).filter(|u| *u > 2.0) {
        out.push(Family::ContainerCpuReserved, cn(), Value::F64(units / 1024.0));
    }
    if let Some(vcpus) = c.cpu_limit_vcpus.filter(|v| v.is_finite() && *v > 0.0) {
        out.push(Family::ContainerCpuLimit, cn(), Value::F64(vcpus));
    }
    if let Some(mem) = limits.and_then(|l| mib_to_bytes(l.memory)).or(task_memory_limit) {
        out.push(Family::ContainerMemoryLimit, cn(), Value::U64(mem));
    }
    if let Some(st) = st {
        let view = View::new(st);
        for (family, rule) in STATS_RULES {
            if let Some(v) = rule(&view) {
                out.push(*family, cn(), v);
            }
        }
        if filter.per_cpu && !view.windows {
            let per_cpu = view.usage().map(|u| u.percpu_usage.items()).unwrap_or_default();
            for (i, ns) in per_cpu.iter().enumerate() {
                if let Some(ns) = ns.as_u64() {
                    let mut l = with(1);
                    l.push(("cpu", Arc::from(i.to_string())));
                    out.push(Family::ContainerPerCpu, l, Value::Nanos(i128::from(ns)));
                }
            }
        }
    }
}

/// One series per known state, the current one 1; an unknown current state gets its own series
/// so it is never lost. The known states' label values are made once, in `values`; each series
/// is the container's shared labels and its `status`.
fn state_set(
    family: Family,
    (states, values): (&'static [&'static str], &'static OnceLock<Vec<LabelValue>>),
    current: &str,
    base: &Labels,
    out: &mut Snapshot,
) {
    let values = values.get_or_init(|| states.iter().map(|s| Arc::from(*s)).collect());
    for (st, value) in states.iter().zip(values) {
        out.push(family, base.and(("status", value.clone())), Value::U64(u64::from(*st == current)));
    }
    if !states.contains(&current) {
        out.push(family, base.and(("status", Arc::from(current))), Value::U64(1));
    }
}

/// A stats entry with its platform decided once.
pub(crate) struct View<'a> {
    s: &'a Stats,
    windows: bool,
}

impl<'a> View<'a> {
    fn new(s: &'a Stats) -> Self {
        View { s, windows: is_windows(s) }
    }
    fn cpu(&self) -> Option<&crate::parse::tmds::CpuStats> {
        self.s.cpu_stats.get()
    }
    fn usage(&self) -> Option<&crate::parse::tmds::CpuUsage> {
        self.cpu().and_then(|c| c.cpu_usage.get())
    }
    fn mem(&self) -> Option<&crate::parse::tmds::MemoryStats> {
        self.s.memory_stats.get()
    }
    /// A counter of `memory_stats.stats`.
    fn cg(&self, field: fn(&CgroupMemory) -> Num) -> Option<u64> {
        field(self.mem()?.stats.get()?).as_u64()
    }
    /// A CPU time counter as nanoseconds: Linux reports ns, Windows 100 ns units.
    fn cpu_time(&self, n: Num) -> Option<Value> {
        let v = n.as_u64()?;
        let ns = if self.windows { v.checked_mul(100)? } else { v };
        Some(Value::Nanos(i128::from(ns)))
    }
}

/// Docker's CLI decides by the daemon's OS; the stats carry `os_type` only on new daemons, so
/// otherwise look for Windows-only fields: `storage_stats` figures, `num_procs`, or a
/// `privateworkingset` without the Linux cgroup `stats` map.
fn is_windows(s: &Stats) -> bool {
    if let Some(os) = s.os_type.get() {
        return os.eq_ignore_ascii_case("windows");
    }
    let storage = s.storage_stats.get().is_some_and(|st| {
        st.read_size_bytes.is_present() || st.write_size_bytes.is_present() || st.read_count_normalized.is_present()
    });
    let procs = s.num_procs.as_u64().is_some_and(|n| n > 0);
    let pws = s.memory_stats.get().is_some_and(|m| m.privateworkingset.is_present() && m.stats.get().is_none());
    storage || procs || pws
}

type Rule = fn(&View) -> Option<Value>;

/// Resource usage rules: one line per family, reading one container's stats.
const STATS_RULES: &[(Family, Rule)] = &[
    (Family::ContainerStatsRead, |v| super::sample_time(v.s).map(Value::Nanos)),
    (Family::ContainerCpuUsage, |v| v.cpu_time(v.usage()?.total_usage)),
    (Family::ContainerCpuUser, |v| v.cpu_time(v.usage()?.usage_in_usermode)),
    (Family::ContainerCpuSystem, |v| v.cpu_time(v.usage()?.usage_in_kernelmode)),
    (Family::ContainerCfsPeriods, |v| Some(Value::U64(v.cpu()?.throttling_data.get()?.periods.as_u64()?))),
    (Family::ContainerCfsThrottledPeriods, |v| {
        Some(Value::U64(v.cpu()?.throttling_data.get()?.throttled_periods.as_u64()?))
    }),
    (Family::ContainerCfsThrottledTime, |v| {
        Some(Value::Nanos(i128::from(v.cpu()?.throttling_data.get()?.throttled_time.as_u64()?)))
    }),
    (Family::ContainerMemoryUsage, |v| Some(Value::U64(v.mem()?.usage.as_u64()?))),
    (Family::ContainerMemoryWorkingSet, working_set),
    (Family::ContainerMemoryRss, |v| {
        if v.windows {
            return None;
        }
        let rss = v.cg(|c| c.total_rss).or_else(|| v.cg(|c| c.rss)).or_else(|| v.cg(|c| c.anon))?;
        Some(Value::U64(rss))
    }),
    (Family::ContainerMemoryCache, |v| {
        if v.windows {
            return None;
        }
        let cache = v.cg(|c| c.total_cache).or_else(|| v.cg(|c| c.cache)).or_else(|| v.cg(|c| c.file))?;
        Some(Value::U64(cache))
    }),
    (Family::ContainerMemoryMaxUsage, |v| Some(Value::U64(v.mem()?.max_usage.as_u64()?))),
    (Family::ContainerPids, |v| Some(Value::U64(v.s.pids_stats.get()?.current.as_u64()?))),
    (Family::ContainerDiskReadBytes, |v| {
        if v.windows {
            return Some(Value::U64(v.s.storage_stats.get()?.read_size_bytes.as_u64()?));
        }
        blkio_sum(&v.s.blkio_stats.get()?.io_service_bytes_recursive, Op::Read)
    }),
    (Family::ContainerDiskWriteBytes, |v| {
        if v.windows {
            return Some(Value::U64(v.s.storage_stats.get()?.write_size_bytes.as_u64()?));
        }
        blkio_sum(&v.s.blkio_stats.get()?.io_service_bytes_recursive, Op::Write)
    }),
    (Family::ContainerDiskReads, |v| {
        if v.windows {
            return Some(Value::U64(v.s.storage_stats.get()?.read_count_normalized.as_u64()?));
        }
        blkio_sum(&v.s.blkio_stats.get()?.io_serviced_recursive, Op::Read)
    }),
    (Family::ContainerDiskWrites, |v| {
        if v.windows {
            return Some(Value::U64(v.s.storage_stats.get()?.write_count_normalized.as_u64()?));
        }
        blkio_sum(&v.s.blkio_stats.get()?.io_serviced_recursive, Op::Write)
    }),
];

/// Working set: Windows `privateworkingset`; Linux usage less inactive page cache
/// (`total_inactive_file` on cgroup v1, `inactive_file` on v2), never below 0.
fn working_set(v: &View) -> Option<Value> {
    let mem = v.mem()?;
    if v.windows {
        return Some(Value::U64(mem.privateworkingset.as_u64()?));
    }
    let usage = mem.usage.as_u64()?;
    let inactive = v.cg(|c| c.total_inactive_file).or_else(|| v.cg(|c| c.inactive_file))?;
    Some(Value::U64(usage.saturating_sub(inactive)))
}

/// Sum of the entries whose op is `op` in any case, over all devices; entries without a value
/// count 0 (Docker omits zero values). Absent when the list itself is absent.
fn blkio_sum(list: &Objects<BlkioEntry>, op: Op) -> Option<Value> {
    if !list.is_present() {
        return None;
    }
    let sum =
        list.items().iter().filter(|e| e.op == op).filter_map(|e| e.value.as_u64()).fold(0u64, u64::saturating_add);
    Some(Value::U64(sum))
}

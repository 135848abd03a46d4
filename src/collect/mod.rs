//! TMDS model → snapshot: the rules that turn `/task` and `/task/stats` into series.
//!
//! Pure functions, no I/O. Task metadata here, per-container metadata and resource usage in
//! `container`, network in `network`.

mod container;
mod network;

use crate::metrics::Family;
use crate::parse::tmds::{Stats, Task, TaskStats};
use crate::snapshot::{LabelValue, Labels, Snapshot, Value};
use crate::timefmt::parse_rfc3339_nanos;
use regex_lite::Regex;
use std::sync::Arc;

/// Which containers to export, and the opt-in series.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep only containers whose name matches (when set).
    pub include: Option<Regex>,
    /// Drop containers whose name matches; wins over `include`.
    pub exclude: Option<Regex>,
    /// Also export containers whose `Type` is not `NORMAL` (the pause container).
    pub include_internal: bool,
    /// `ecs_task_tags`: which task tags (`--metadata.task-tags`).
    pub task_tags: Option<Allow>,
    /// `ecs_container_labels`: which Docker labels (`--container.labels`).
    pub container_labels: Option<Allow>,
    /// `ecs_container_per_cpu_usage_seconds_total` (`--container.per-cpu`).
    pub per_cpu: bool,
}

/// An allowlist of keys: `*`, or exact keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Every key.
    All,
    /// These keys.
    Keys(Vec<String>),
}

impl Allow {
    /// Parse `KEY,...` or `*`.
    pub fn parse(s: &str) -> Allow {
        let keys: Vec<String> = s.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect();
        if keys.iter().any(|k| k == "*") {
            Allow::All
        } else {
            Allow::Keys(keys)
        }
    }

    /// Whether `key` is allowed.
    pub fn allows(&self, key: &str) -> bool {
        match self {
            Allow::All => true,
            Allow::Keys(k) => k.iter().any(|x| x == key),
        }
    }
}

/// Label names made from keys (`tag_team`), interned: each distinct name is allocated once for
/// the life of the process (they come from an allowlist or a task's tags: a handful).
fn intern(name: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let Ok(mut guard) = NAMES.lock() else { return "invalid_label" };
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(n) = set.get(name.as_str()) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    set.insert(leaked);
    leaked
}

/// `prefix` + `key` sanitised to `[a-zA-Z0-9_]` (others become `_`).
fn label_name(prefix: &str, key: &str) -> String {
    let mut n = String::with_capacity(prefix.len() + key.len());
    n.push_str(prefix);
    n.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    n
}

/// The labels of a `*_tags`/`*_labels` series from a key → value map: allowed keys with a
/// non-empty value, sanitised, the first key in byte order winning a collision.
pub(crate) fn key_labels(
    map: &std::collections::BTreeMap<String, crate::parse::lenient::Str>,
    allow: &Allow,
    prefix: &str,
) -> Vec<(&'static str, LabelValue)> {
    let mut out: Vec<(&'static str, LabelValue)> = Vec::new();
    for (k, v) in map {
        let Some(v) = v.get().filter(|v| !v.is_empty()) else { continue };
        if !allow.allows(k) {
            continue;
        }
        let name = label_name(prefix, k);
        if out.iter().any(|(n, _)| *n == name) {
            tracing::debug!(key = %k, label = %name, "label name collision: the first key wins");
            continue;
        }
        out.push((intern(name), Arc::from(v)));
    }
    out
}

impl Filter {
    /// Whether a container with this name and type is exported.
    pub fn keeps(&self, name: &str, kind: Option<&str>) -> bool {
        if !self.include_internal && kind.is_some_and(|k| !k.is_empty() && k != "NORMAL") {
            return false;
        }
        if self.exclude.as_ref().is_some_and(|r| r.is_match(name)) {
            return false;
        }
        self.include.as_ref().is_none_or(|r| r.is_match(name))
    }
}

/// Where a task's series go: in host mode every task, container and network series carries the
/// task's ARN (the scrape target is the host), and containers in `host` network mode have no
/// network series (they would report the host's interfaces).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The `task_arn` label, in host mode (absent for containers of no task).
    pub task_arn: Option<LabelValue>,
    /// Host mode.
    pub host: bool,
}

impl Scope {
    /// The scope of one task in host mode.
    pub fn host(task_arn: Option<LabelValue>) -> Self {
        Scope { task_arn, host: true }
    }

    /// A label vector starting with the scope's labels, with room for `more`.
    pub(crate) fn labels(&self, more: usize) -> Vec<(&'static str, LabelValue)> {
        let mut v = Vec::with_capacity(more + usize::from(self.task_arn.is_some()));
        if let Some(arn) = &self.task_arn {
            v.push(("task_arn", arn.clone()));
        }
        v
    }
}

/// What collection noticed that is not a series.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Containers (in `/task` or `/task/stats`) whose entry could not be used (unparseable, or a
    /// second container of the same name): `(id or index, reason)`.
    pub container_errors: Vec<(String, String)>,
}

/// Append the series of a task and its stats to `out`, in sidecar mode.
pub fn collect(task: &Task, stats: &TaskStats, filter: &Filter, out: &mut Snapshot) -> Report {
    collect_in(task, stats, filter, &Scope::default(), out)
}

/// Append the series of a task and its stats to `out`, labelled for `scope`.
pub fn collect_in(task: &Task, stats: &TaskStats, filter: &Filter, scope: &Scope, out: &mut Snapshot) -> Report {
    let mut report = Report::default();
    if !task.standalone {
        task_series(task, scope, out);
        if let Some((allow, tags)) = filter.task_tags.as_ref().and_then(|a| Some((a, task.task_tags.get()?))) {
            let mut l = scope.labels(tags.len());
            l.extend(key_labels(tags, allow, "tag_"));
            out.push(Family::TaskTags, l, Value::U64(1));
        }
    }
    let task_memory_limit = task.limits.get().and_then(|l| mib_to_bytes(l.memory));

    for (id, entry) in &stats.containers {
        if let Err(e) = entry {
            report.container_errors.push((id.to_string(), format!("stats: {e}")));
        }
    }

    let mut exported = Vec::with_capacity(task.containers.len());
    let mut names = rustc_hash::FxHashSet::default();
    names.reserve(task.containers.len());
    for (idx, c) in task.containers.iter().enumerate() {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                report.container_errors.push((format!("Containers[{idx}]"), format!("task: {e}")));
                continue;
            }
        };
        let name = c.name.or_empty();
        if !filter.keeps(name, c.kind.get()) {
            continue;
        }
        // Names are unique in a task definition; a second container of the same name would
        // write the same series twice, so it is reported instead of exported.
        if !names.insert(name) {
            let id = c.docker_id.or_empty();
            report.container_errors.push((id.to_owned(), format!("task: duplicate container name {name:?}")));
            continue;
        }
        let name: LabelValue = c.name.shared();
        let st = c
            .docker_id
            .get()
            .and_then(|id| stats.containers.get(id))
            .and_then(|r| r.as_ref().ok())
            .and_then(|o| o.as_ref())
            .filter(|s| is_sample(s));
        container::series(c, st, &name, task_memory_limit, scope, filter, out);
        exported.push((name, st));
    }
    network::series(task, stats, &exported, scope, out);
    report
}

fn task_series(task: &Task, scope: &Scope, out: &mut Snapshot) {
    let l = crate::parse::lenient::Str::shared;
    out.push(
        Family::TaskInfo,
        vec![
            ("cluster", l(&task.cluster)),
            ("task_arn", l(&task.task_arn)),
            ("family", l(&task.family)),
            ("revision", l(&task.revision)),
            ("launch_type", l(&task.launch_type)),
            ("availability_zone", l(&task.availability_zone)),
            ("desired_status", l(&task.desired_status)),
            ("known_status", l(&task.known_status)),
            ("service_name", l(&task.service_name)),
            ("task_id", Arc::from(task.task_arn.or_empty().rsplit('/').next().unwrap_or(""))),
        ],
        Value::U64(1),
    );
    // The labels of the task's other series (none in sidecar mode; `task_arn` in host mode).
    let tl = Labels::shared(scope.labels(0));
    if let Some(limits) = task.limits.get() {
        if let Some(cpu) = limits.cpu.as_f64().filter(|v| *v > 0.0) {
            out.push(Family::TaskCpuLimit, tl.clone(), Value::F64(cpu));
        }
        if let Some(mem) = mib_to_bytes(limits.memory) {
            out.push(Family::TaskMemoryLimit, tl.clone(), Value::U64(mem));
        }
    }
    if let Some(eph) = task.ephemeral_storage_metrics.get() {
        if let Some(v) = mib_to_bytes_allow_zero(eph.utilized) {
            out.push(Family::TaskEphemeralUsed, tl.clone(), Value::U64(v));
        }
        if let Some(v) = mib_to_bytes_allow_zero(eph.reserved) {
            out.push(Family::TaskEphemeralAllocated, tl.clone(), Value::U64(v));
        }
    }
    if let Some(t) = task.pull_started_at.get().and_then(parse_rfc3339_nanos) {
        out.push(Family::TaskPullStart, tl.clone(), Value::Nanos(t));
    }
    if let Some(t) = task.pull_stopped_at.get().and_then(parse_rfc3339_nanos) {
        out.push(Family::TaskPullStop, tl.clone(), Value::Nanos(t));
    }
}

/// A limit in MiB as bytes; `None` when absent, not positive, or overflowing.
pub(crate) fn mib_to_bytes(v: crate::parse::lenient::Num) -> Option<u64> {
    mib_to_bytes_allow_zero(v).filter(|b| *b > 0)
}

/// A size in MiB as bytes, zero allowed (a usage may be 0); fractional MiB are rounded down.
fn mib_to_bytes_allow_zero(v: crate::parse::lenient::Num) -> Option<u64> {
    if let Some(u) = v.as_u64() {
        return u.checked_mul(1_048_576);
    }
    let f = v.as_f64()?;
    (0.0..1.7e13).contains(&f).then_some((f * 1_048_576.0) as u64)
}

/// Whether a stats entry is a sample at all: Docker answers a stopped container with zeros and
/// a `read` time of `0001-01-01T00:00:00Z`, which are not values and must not be exported as 0.
pub(crate) fn is_sample(s: &Stats) -> bool {
    !s.read.get().is_some_and(|r| r.starts_with("0001-01-01T00:00:00"))
}

/// The time of a stats sample, for picking the freshest copy.
pub(crate) fn sample_time(s: &Stats) -> Option<i128> {
    s.read.get().and_then(parse_rfc3339_nanos)
}

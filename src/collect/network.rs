//! Network series. In `awsvpc` (all of Fargate) and `host` mode every container reports the
//! counters of one shared namespace: export them once per interface, from the freshest sample.
//! In `bridge` mode each container has its own namespace: one series per container and
//! interface, labelled with `container_name`. In host mode (one exporter per host), a task in
//! `host` network mode has no network series: its containers would report the host's
//! interfaces.

use super::{is_sample, sample_time, Scope};
use crate::metrics::Family;
use crate::parse::lenient::Num;
use crate::parse::tmds::{NetworkStats, Stats, Task, TaskStats};
use crate::snapshot::{LabelValue, Labels, Snapshot, Value};
use std::sync::Arc;

/// How the task's containers share network namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One namespace for the whole task (`awsvpc`; containers joined to another's namespace).
    Shared,
    /// The host's namespace (`host`): like [`Mode::Shared`] for a sidecar, left out in host mode.
    Host,
    /// One namespace per container (`bridge`, Windows `nat`, and unknown modes).
    PerContainer,
}

/// The task's network mode, from its containers' `Networks[].NetworkMode` (the first one
/// declared; Docker's `container:<id>`, a container joined to another's namespace, counts as
/// shared). When no container says: Fargate is `awsvpc`, and so is ECS Managed Instances
/// (whose modes, `awsvpc`, `host` and `none`, all give the task one namespace); anything else is
/// treated per container (nothing is merged that might differ).
pub fn mode(task: &Task) -> Mode {
    let declared = task
        .containers
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .flat_map(|c| c.networks.items())
        .find_map(|n| n.network_mode.get().filter(|m| !m.is_empty()));
    match declared {
        Some(m) if m.eq_ignore_ascii_case("awsvpc") || m.starts_with("container:") => Mode::Shared,
        Some(m) if m.eq_ignore_ascii_case("host") => Mode::Host,
        Some(_) => Mode::PerContainer,
        None if matches!(task.launch_type.get(), Some("FARGATE" | "MANAGED_INSTANCES")) => Mode::Shared,
        None => Mode::PerContainer,
    }
}

type Field = fn(&NetworkStats) -> Num;

/// Interface counters: one line per family.
const COUNTERS: &[(Family, Field)] = &[
    (Family::NetRxBytes, |n| n.rx_bytes),
    (Family::NetTxBytes, |n| n.tx_bytes),
    (Family::NetRxPackets, |n| n.rx_packets),
    (Family::NetTxPackets, |n| n.tx_packets),
    (Family::NetRxErrors, |n| n.rx_errors),
    (Family::NetTxErrors, |n| n.tx_errors),
    (Family::NetRxDropped, |n| n.rx_dropped),
    (Family::NetTxDropped, |n| n.tx_dropped),
];

/// Append the network series. `exported` lists the exported containers with their stats.
pub(super) fn series(
    task: &Task,
    stats: &TaskStats,
    exported: &[(LabelValue, Option<&Stats>)],
    scope: &Scope,
    out: &mut Snapshot,
) {
    match mode(task) {
        Mode::Host if scope.host => {}
        Mode::Shared | Mode::Host => {
            // Every container (exported or not: the pause container owns the namespace) holds a
            // copy; take the freshest sample that has interfaces, and likewise for the rates.
            let all = || stats.containers.values().filter_map(|r| r.as_ref().ok()).flatten().filter(|s| is_sample(s));
            let has_ifaces = |s: &&Stats| s.networks.get().is_some_and(|n| !n.is_empty());
            if let Some(s) = freshest(all().filter(has_ifaces)) {
                interfaces(s, scope, None, out);
            }
            let has_rates = |s: &&Stats| s.network_rate_stats.get().is_some();
            if let Some(s) = freshest(all().filter(has_rates)) {
                rates(s, scope, None, out);
            }
        }
        Mode::PerContainer => {
            for (name, st) in exported {
                if let Some(s) = st {
                    interfaces(s, scope, Some(name), out);
                    rates(s, scope, Some(name), out);
                }
            }
        }
    }
}

/// The sample with the latest `read`; the first one on ties or unreadable times.
fn freshest<'a>(it: impl Iterator<Item = &'a Stats>) -> Option<&'a Stats> {
    let mut best: Option<(&Stats, Option<i128>)> = None;
    for s in it {
        let t = sample_time(s);
        if best.is_none_or(|(_, bt)| t > bt) {
            best = Some((s, t));
        }
    }
    best.map(|(s, _)| s)
}

/// The labels of an interface's (or the namespace's) series: one list for all of them.
fn labels(scope: &Scope, container: Option<&LabelValue>, iface: Option<&str>) -> Labels {
    let mut l = scope.labels(2);
    if let Some(c) = container {
        l.push(("container_name", c.clone()));
    }
    if let Some(i) = iface {
        l.push(("interface", Arc::from(i)));
    }
    Labels::shared(l)
}

fn interfaces(s: &Stats, scope: &Scope, container: Option<&LabelValue>, out: &mut Snapshot) {
    let Some(nets) = s.networks.get() else { return };
    for (iface, n) in nets {
        let Some(n) = n.get() else { continue };
        let l = labels(scope, container, Some(iface));
        for (family, field) in COUNTERS {
            if let Some(v) = field(n).as_u64() {
                out.push(*family, l.clone(), Value::U64(v));
            }
        }
    }
}

fn rates(s: &Stats, scope: &Scope, container: Option<&LabelValue>, out: &mut Snapshot) {
    let Some(r) = s.network_rate_stats.get() else {
        return;
    };
    let rate = |n: Num| n.as_f64().filter(|v| *v >= 0.0).map(Value::F64);
    let l = labels(scope, container, None);
    if let Some(v) = rate(r.rx_bytes_per_sec) {
        out.push(Family::NetRxRate, l.clone(), v);
    }
    if let Some(v) = rate(r.tx_bytes_per_sec) {
        out.push(Family::NetTxRate, l, v);
    }
}

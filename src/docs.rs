//! The metric reference, `docs/metrics.md`, rendered from the metric table so the two cannot
//! drift apart (a test compares the file with this output).

use crate::metrics::{Group, FAMILIES};
use std::fmt::Write;

/// Render `docs/metrics.md`.
pub fn metrics_markdown() -> String {
    let mut s = String::new();
    s.push_str("# Metrics\n\n");
    s.push_str(
        "<!-- Generated from src/metrics.rs by `UPDATE_DOCS=1 cargo test --test docs`; do not edit by hand. -->\n\n",
    );
    s.push_str(
        "Every value is in base units (bytes, seconds). A series whose source field is absent is left out, never \
         reported as 0. Identity lives in the info metrics (`ecs_task_metadata_info`, `ecs_container_info`): join \
         them on `container_name` (or on the target) to add labels such as `image` to other series.\n\n",
    );
    let sections = [
        (Group::Instance, "Host (host mode)", "Only in host mode (`ecs-exporter host`), where the scrape target is the host: what the source knows of it. Empty labels are what it does not know (the Docker source knows only a cluster shared by every labelled container; the Managed Instances daemon source only the cluster)."),
        (Group::Task, "Task", "No labels but the info metric's: in sidecar mode the scrape target is the task. In host mode every task, container and network series also carries `task_arn` ; containers of no ECS task (on a plain Docker host) have no task series and no `task_arn`, and are named by their Docker name."),
        (Group::Container, "Container", "Label `container_name` (the name from the task definition), plus those listed. Containers whose `Type` is not `NORMAL` (the `~internal~ecs~pause` container) are left out unless `--container.include-internal` is set."),
        (Group::Network, "Network", "In `awsvpc` mode (all of Fargate) and `host` mode every container reports the counters of the one shared namespace: they are exported once per `interface`, without `container_name`, from the freshest sample (latest `read`), never summed over containers. In `bridge` mode (and any other or unknown mode outside Fargate) each container has its own namespace: one series per container and interface, with `container_name`. In host mode the rule holds per task, and containers in Docker's `host` network mode are left out: they would report the whole host's interfaces. `network_rate_stats` is one figure per namespace, so the rate gauges have no `interface` label."),
        (Group::Exporter, "The exporter itself", "Always present, also when the metadata endpoint cannot be read (`ecs_exporter_up 0`)."),
    ];
    for (group, title, intro) in sections {
        let _ = write!(
            s,
            "## {title}\n\n{intro}\n\n| metric | type | labels | source | meaning |\n|---|---|---|---|---|\n"
        );
        for f in FAMILIES.iter().filter(|f| f.group == group) {
            let labels = if f.labels.is_empty() {
                "".to_owned()
            } else {
                f.labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(s, "| `{}` | {} | {} | {} | {} |", f.name, f.kind.doc_name(), labels, f.source, f.help);
        }
        s.push('\n');
    }
    s.push_str(
        "## Exposition formats\n\nPrometheus text 0.0.4 by default; OpenMetrics 1.0.0 when the `Accept` header asks for \
         `application/openmetrics-text` (Prometheus does by default). In OpenMetrics, counter families are named \
         without `_total` in `# TYPE` and info metrics are typed `info` (their samples keep the `_info` name); state \
         sets are plain gauges in both formats. Base units are announced with `# UNIT`. Responses are gzip-compressed \
         when `Accept-Encoding` allows it.\n",
    );
    s
}

//! Golden tests: the full `/metrics` text (without the exporter's own series) for every capture
//! in `tests/fixtures/`. Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and review
//! the diff: every changed line is a change of public output.

mod common;

use common::{pipeline, read, synthetic_task_for, text};
use ecs_exporter::collect::Filter;
use ecs_exporter::encode::Format;
use std::path::Path;

/// How a case gets its `/task` and `/task/stats` bodies.
enum Input {
    /// A capture pair.
    Pair(&'static str, &'static str),
    /// `/task` only; `/task/stats` is `{}`.
    TaskOnly(&'static str),
    /// A stats map only; `/task` is synthesised from it.
    StatsOnly(&'static str),
    /// A single container's `/stats` object, wrapped into a map under the key `container`.
    ContainerStats(&'static str),
    /// Element `i` of a Managed Instances `/tasks` and `/tasks/stats` pair of arrays.
    ArrayPair(&'static str, &'static str, usize),
}

const CASES: &[(&str, Input, bool)] = &[
    (
        "ecs_exporter-fargate",
        Input::Pair("ecs_exporter/fargate_task_metadata.json", "ecs_exporter/fargate_task_stats.json"),
        false,
    ),
    ("ecs_exporter-ec2", Input::Pair("ecs_exporter/ec2_task_metadata.json", "ecs_exporter/ec2_task_stats.json"), false),
    ("otel-fargate", Input::Pair("otel-contrib/task_metadata2.json", "otel-contrib/task_stats2.json"), false),
    ("otel-ec2-bridge", Input::Pair("otel-contrib/task_metadata.json", "otel-contrib/task_stats.json"), false),
    (
        "otel-managed-instances-0",
        Input::ArrayPair("otel-contrib/instance_tasks_metadata.json", "otel-contrib/instance_tasks_stats.json", 0),
        false,
    ),
    (
        "otel-managed-instances-1",
        Input::ArrayPair("otel-contrib/instance_tasks_metadata.json", "otel-contrib/instance_tasks_stats.json", 1),
        false,
    ),
    ("telegraf-cgroupv2", Input::Pair("telegraf/cgroupv2/meta.json", "telegraf/cgroupv2/stats.json"), false),
    ("telegraf-cgroupv2-internal", Input::Pair("telegraf/cgroupv2/meta.json", "telegraf/cgroupv2/stats.json"), true),
    ("telegraf-v3-doc", Input::Pair("telegraf/metadata.golden", "telegraf/stats.golden"), false),
    ("telegraf-v3-doc-internal", Input::Pair("telegraf/metadata.golden", "telegraf/stats.golden"), true),
    (
        "datadog-fargate",
        Input::Pair("datadog-integrations-core/metadata_v4.json", "datadog-integrations-core/stats_linux_v4.json"),
        false,
    ),
    ("datadog-windows", Input::StatsOnly("datadog-integrations-core/stats_windows.json"), false),
    ("datadog-wrong-system-delta", Input::StatsOnly("datadog-integrations-core/stats_wrong_system_delta.json"), false),
    ("datadog-managed-instances-stats", Input::StatsOnly("datadog-agent/v3or4/task_stats_empty_net_stats.json"), false),
    ("datadog-task-with-tags", Input::TaskOnly("datadog-agent/v3or4/task_with_tags.json"), false),
    ("datadog-v2-stats", Input::StatsOnly("datadog-agent/v2/container_stats.json"), false),
    ("aws-docs-v4-task", Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_metadata.json"), false),
    ("aws-docs-v4-task-internal", Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_metadata.json"), true),
    ("aws-docs-v4-task-with-tags", Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_with_tags.json"), false),
    (
        "aws-docs-v4-task-with-tags-error",
        Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_with_tags_error.json"),
        false,
    ),
    ("aws-docs-v3-task", Input::TaskOnly("aws-docs/task-metadata-endpoint-v3__task_metadata.json"), false),
    ("aws-docs-v4-task-stats", Input::StatsOnly("aws-docs/task-metadata-endpoint-v4__task_stats.json"), false),
    (
        "aws-docs-v4-container-stats",
        Input::ContainerStats("aws-docs/task-metadata-endpoint-v4__container_stats.json"),
        false,
    ),
    ("ecs-agent-unix", Input::ContainerStats("ecs-agent/unix_test_stats.json"), false),
    ("ecs-agent-windows", Input::ContainerStats("ecs-agent/windows_test_stats.json"), false),
    ("vector-fargate", Input::StatsOnly("vector/mod.rs__test_aws_ecs_metrics_source.json"), false),
    ("vector-blkio", Input::StatsOnly("vector/parser.rs__parse_block_io_metrics.json"), false),
    ("vector-cpu", Input::StatsOnly("vector/parser.rs__parse_cpu_metrics.json"), false),
];

/// Cases read with every opt-in series on (`--metadata.task-tags '*' --container.labels '*'
/// --container.per-cpu`).
const OPT_IN: &[(&str, Input)] = &[
    ("opt-in-aws-docs-v4-task-with-tags", Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_with_tags.json")),
    (
        "opt-in-aws-docs-v4-task-with-tags-error",
        Input::TaskOnly("aws-docs/task-metadata-endpoint-v4__task_with_tags_error.json"),
    ),
    ("opt-in-datadog-task-with-tags", Input::TaskOnly("datadog-agent/v3or4/task_with_tags.json")),
    (
        "opt-in-ecs_exporter-fargate",
        Input::Pair("ecs_exporter/fargate_task_metadata.json", "ecs_exporter/fargate_task_stats.json"),
    ),
];

fn bodies(input: &Input) -> (Vec<u8>, Vec<u8>) {
    match input {
        Input::Pair(t, s) => (read(t), read(s)),
        Input::TaskOnly(t) => (read(t), b"{}".to_vec()),
        Input::StatsOnly(s) => {
            let stats = read(s);
            (synthetic_task_for(&stats), stats)
        }
        Input::ContainerStats(s) => {
            let mut stats = b"{\"container\": ".to_vec();
            stats.extend(read(s));
            stats.extend(b"}");
            (synthetic_task_for(&stats), stats)
        }
        Input::ArrayPair(t, s, i) => {
            let t: Vec<serde_json::Value> = serde_json::from_slice(&read(t)).unwrap();
            let s: Vec<serde_json::Value> = serde_json::from_slice(&read(s)).unwrap();
            (serde_json::to_vec(&t[*i]).unwrap(), serde_json::to_vec(&s[*i]).unwrap())
        }
    }
}

#[test]
fn golden_metrics_for_every_capture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let all = || Some(ecs_exporter::collect::Allow::All);
    let opt_in = Filter { task_tags: all(), container_labels: all(), per_cpu: true, ..Filter::default() };
    let cases = CASES
        .iter()
        .map(|(n, i, internal)| (*n, i, Filter { include_internal: *internal, ..Filter::default() }))
        .chain(OPT_IN.iter().map(|(n, i)| (*n, i, opt_in.clone())));
    for (name, input, filter) in cases {
        let (task, stats) = bodies(input);
        let (snap, report) = pipeline(&task, &stats, &filter);
        let mut got = text(&snap, Format::Text);
        if !report.container_errors.is_empty() {
            got = format!("# container errors: {:?}\n{got}", report.container_errors);
        }
        let path = dir.join(format!("{name}.prom"));
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let first = want
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.lines().count().min(got.lines().count()));
                failures.push(format!(
                    "{name}: differs at line {}:\n  want: {:?}\n  got:  {:?}",
                    first + 1,
                    want.lines().nth(first),
                    got.lines().nth(first)
                ));
            }
            Err(e) => failures.push(format!("{name}: {e} (run with UPDATE_GOLDEN=1)")),
        }
    }
    assert!(failures.is_empty(), "golden mismatches:\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_file_is_covered() {
    // Each JSON capture of TMDS data is used by a golden case or, for the introspection API
    // (host mode, not the sidecar), listed here on purpose.
    let introspection = [
        "aws-docs/ecs-agent-introspection__v1_metadata.json",
        "aws-docs/ecs-agent-introspection__v1_tasks.json",
        "aws-docs/ecs-agent-introspection__v1_tasks_dockerid.json",
        "aws-docs/introspection-diag__v1_tasks.json",
        "aws-docs/task-metadata-endpoint-v3__container_metadata.json",
        "aws-docs/task-metadata-endpoint-v4__container_metadata.json",
        "datadog-agent/v1/commands.json",
        "datadog-agent/v1/instance.json",
        "datadog-agent/v1/tasks.json",
        "misc-introspection/v1_metadata_aws_cn.json",
        "misc-introspection/v1_metadata_dirty_version.json",
        "misc-introspection/v1_tasks_dockerid_aws_cn_ports.json",
    ];
    let used: Vec<&str> = CASES
        .iter()
        .flat_map(|(_, i, _)| match i {
            Input::Pair(a, b) | Input::ArrayPair(a, b, _) => vec![*a, *b],
            Input::TaskOnly(a) | Input::StatsOnly(a) | Input::ContainerStats(a) => vec![*a],
        })
        .collect();
    let root = common::fixture("");
    let mut missing = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let is_capture = rel.ends_with(".json") || rel.ends_with(".golden");
            // Docker Engine answers are host mode's, covered by tests/host.rs.
            let host_mode = rel.starts_with("docker-engine/");
            if is_capture && !used.contains(&rel.as_str()) && !introspection.contains(&rel.as_str()) && !host_mode {
                missing.push(rel);
            }
        }
    }
    assert!(missing.is_empty(), "captures without a golden case: {missing:?}");
}

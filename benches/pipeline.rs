//! Micro benchmarks of the scrape pipeline, stage by stage: parse (`/task`, `/task/stats`),
//! collect (model → sorted snapshot), encode (text 0.0.4 and OpenMetrics), and the three together.
//!
//! Inputs:
//! - `fargate`, `ec2`: the real captures in `tests/fixtures/ecs_exporter/` (3 containers each,
//!   one of them stopped).
//! - `synth10`, `synth500`: GENERATED here, not captured. They start from the Fargate capture
//!   and replace its containers by N copies of its running `prometheus` container (in `/task`
//!   and in `/task/stats`), each with a distinct `DockerId`/`Name`, so the cost per container
//!   can be read from the difference between the two.
//!
//! Allocations are counted by `divan::AllocProfiler`, the global allocator of this binary.
//!
//! Run: `cargo bench --bench pipeline` (a filter narrows it: `cargo bench --bench pipeline -- parse`).

use divan::counter::{BytesCount, ItemsCount};
use divan::{AllocProfiler, Bencher};
use ecs_exporter::collect::{collect, Filter};
use ecs_exporter::encode::{encode, Format};
use ecs_exporter::metrics::Family;
use ecs_exporter::parse::tmds::{Task, TaskStats};
use ecs_exporter::snapshot::Snapshot;
use serde_json::Value;
use std::sync::LazyLock;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    // Validate every input once, so a broken fixture fails loudly instead of benchmarking errors.
    for name in CASES {
        let input = input(name);
        let snap = collected(input);
        assert_eq!(
            snap.count(Family::ContainerInfo),
            input.running,
            "{name}: unexpected number of exported containers"
        );
    }
    divan::main();
}

/// The inputs, in the order they are reported.
const CASES: &[&str] = &["fargate", "ec2", "synth10", "synth500"];

/// One input: the two bodies, and how many containers the exporter should report.
struct Input {
    task: Vec<u8>,
    stats: Vec<u8>,
    /// Containers in `/task` (the throughput counter of the benches is per container).
    containers: usize,
    /// Containers exported (`Type` NORMAL; stopped ones are still exported, without stats).
    running: usize,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/ecs_exporter/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn real(prefix: &str) -> Input {
    let task = fixture(&format!("{prefix}_task_metadata.json"));
    let stats = fixture(&format!("{prefix}_task_stats.json"));
    let v: Value = serde_json::from_slice(&task).expect("fixture is JSON");
    let n = v["Containers"].as_array().map_or(0, Vec::len);
    Input { task, stats, containers: n, running: n }
}

/// GENERATED input: the Fargate capture with its containers replaced by `n` copies of its
/// running `prometheus` container, each with its own `DockerId` and `Name`, and matching stats.
fn synthetic(n: usize) -> Input {
    let mut task: Value = serde_json::from_slice(&fixture("fargate_task_metadata.json")).expect("fixture is JSON");
    let stats: Value = serde_json::from_slice(&fixture("fargate_task_stats.json")).expect("fixture is JSON");
    let template = task["Containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["Name"] == "prometheus"))
        .expect("the Fargate capture has a running prometheus container")
        .clone();
    let template_id = template["DockerId"].as_str().expect("DockerId").to_owned();
    let template_stats = stats[&template_id].clone();
    assert!(template_stats.is_object(), "the template has stats");
    let task_id = template_id.split('-').next().unwrap_or("synthetic");

    let mut containers = Vec::with_capacity(n);
    let mut stats_out = serde_json::Map::with_capacity(n);
    for i in 0..n {
        let id = format!("{task_id}-{:010}", 1_000_000_000u64 + i as u64);
        let name = format!("app-{i:03}");
        let mut c = template.clone();
        c["DockerId"] = Value::from(id.clone());
        c["Name"] = Value::from(name.clone());
        c["DockerName"] = Value::from(name.clone());
        containers.push(c);
        let mut s = template_stats.clone();
        s["id"] = Value::from(id.clone());
        s["name"] = Value::from(name);
        stats_out.insert(id, s);
    }
    task["Containers"] = Value::Array(containers);
    Input {
        task: serde_json::to_vec(&task).expect("serializes"),
        stats: serde_json::to_vec(&Value::Object(stats_out)).expect("serializes"),
        containers: n,
        running: n,
    }
}

static FARGATE: LazyLock<Input> = LazyLock::new(|| real("fargate"));
static EC2: LazyLock<Input> = LazyLock::new(|| real("ec2"));
static SYNTH10: LazyLock<Input> = LazyLock::new(|| synthetic(10));
static SYNTH500: LazyLock<Input> = LazyLock::new(|| synthetic(500));

fn input(name: &str) -> &'static Input {
    match name {
        "fargate" => &FARGATE,
        "ec2" => &EC2,
        "synth10" => &SYNTH10,
        "synth500" => &SYNTH500,
        other => panic!("unknown case {other}"),
    }
}

fn parsed(input: &Input) -> (Task, TaskStats) {
    (Task::parse(&input.task).expect("task parses"), TaskStats::parse(&input.stats).expect("stats parse"))
}

fn collected(input: &Input) -> Snapshot {
    let (task, stats) = parsed(input);
    let mut snap = Snapshot::default();
    collect(&task, &stats, &Filter::default(), &mut snap);
    snap.sort();
    snap
}

// Sample counts and time bounds keep the whole run near a minute on a 2-core machine.

/// `Task::parse` of the `/task` body.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn parse_task(bencher: Bencher, case: &str) {
    let input = input(case);
    bencher
        .counter(ItemsCount::new(input.containers))
        .counter(BytesCount::new(input.task.len()))
        .bench(|| Task::parse(divan::black_box(&input.task)).expect("parses"));
}

/// `TaskStats::parse` of the `/task/stats` body.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn parse_stats(bencher: Bencher, case: &str) {
    let input = input(case);
    bencher
        .counter(ItemsCount::new(input.containers))
        .counter(BytesCount::new(input.stats.len()))
        .bench(|| TaskStats::parse(divan::black_box(&input.stats)).expect("parses"));
}

/// `collect` into a fresh snapshot, then `Snapshot::sort` (what a scrape does).
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn collect_sort(bencher: Bencher, case: &str) {
    let input = input(case);
    let (task, stats) = parsed(input);
    let filter = Filter::default();
    bencher.counter(ItemsCount::new(input.containers)).bench(|| {
        let mut snap = Snapshot::default();
        collect(divan::black_box(&task), divan::black_box(&stats), &filter, &mut snap);
        snap.sort();
        snap
    });
}

fn bench_encode(bencher: Bencher, case: &str, format: Format) {
    let input = input(case);
    let snap = collected(input);
    let mut probe = Vec::new();
    encode(&snap, format, &mut probe);
    bencher.counter(ItemsCount::new(input.containers)).counter(BytesCount::new(probe.len())).bench(|| {
        let mut out = Vec::new();
        encode(divan::black_box(&snap), format, &mut out);
        out
    });
}

/// Encode a sorted snapshot as Prometheus text 0.0.4 into a fresh buffer.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn encode_text(bencher: Bencher, case: &str) {
    bench_encode(bencher, case, Format::Text);
}

/// Encode a sorted snapshot as OpenMetrics 1.0.0 into a fresh buffer.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn encode_openmetrics(bencher: Bencher, case: &str) {
    bench_encode(bencher, case, Format::OpenMetrics);
}

/// Baseline, not our code path: a validating scan of the `/task/stats` body that builds nothing
/// (`serde::de::IgnoredAny`), the floor for any serde_json parse of it.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn baseline_scan_stats(bencher: Bencher, case: &str) {
    let input = input(case);
    bencher
        .counter(ItemsCount::new(input.containers))
        .counter(BytesCount::new(input.stats.len()))
        .bench(|| serde_json::from_slice::<serde::de::IgnoredAny>(divan::black_box(&input.stats)).expect("JSON"));
}

/// Baseline, not our code path: the `/task/stats` body into a generic `serde_json::Value`.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn baseline_value_stats(bencher: Bencher, case: &str) {
    let input = input(case);
    bencher
        .counter(ItemsCount::new(input.containers))
        .counter(BytesCount::new(input.stats.len()))
        .bench(|| serde_json::from_slice::<Value>(divan::black_box(&input.stats)).expect("JSON"));
}

/// The whole pipeline of one scrape without I/O: parse both bodies, collect, sort, encode text.
#[divan::bench(args = CASES, sample_count = 200, max_time = 2)]
fn pipeline_text(bencher: Bencher, case: &str) {
    let input = input(case);
    let filter = Filter::default();
    bencher.counter(ItemsCount::new(input.containers)).bench(|| {
        let task = Task::parse(divan::black_box(&input.task)).expect("parses");
        let stats = TaskStats::parse(divan::black_box(&input.stats)).expect("parses");
        let mut snap = Snapshot::default();
        collect(&task, &stats, &filter, &mut snap);
        snap.sort();
        let mut out = Vec::new();
        encode(&snap, Format::Text, &mut out);
        out
    });
}

/// The fresh part of a cached gzip scrape: the exporter's own series (here a 4 KB stand-in of
/// the same shape) after a prefix compressed once: stored blocks and the CRC.
#[divan::bench(sample_count = 200, max_time = 2)]
fn gzip_fresh_tail(bencher: Bencher) {
    use ecs_exporter::encode::gzip::Gzip;
    let own: Vec<u8> = (0..40)
        .flat_map(|i| {
            format!("# HELP process_x{i} Some help text.\n# TYPE process_x{i} gauge\nprocess_x{i} {}\n", i * 7919)
                .into_bytes()
        })
        .collect();
    let mut g = Gzip::default();
    let prefix = g.prefix(&input("fargate").stats);
    bencher.counter(BytesCount::new(own.len())).bench_local(|| {
        let mut out = Vec::with_capacity(own.len() / 3 + 64);
        g.finish(&prefix, divan::black_box(&own), &mut out);
        out
    });
}

//! Shared helpers for the integration tests: load fixtures, run the pure pipeline.
#![allow(dead_code)]

pub mod exposition;
pub mod proc;

use ecs_exporter::collect::{collect, Filter, Report};
use ecs_exporter::encode::{encode, Format};
use ecs_exporter::parse::tmds::{Task, TaskStats};
use ecs_exporter::snapshot::Snapshot;
use std::path::{Path, PathBuf};

/// Path of a fixture under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Bytes of a fixture.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Parse, collect and sort, like one scrape without the exporter's own series.
pub fn pipeline(task: &[u8], stats: &[u8], filter: &Filter) -> (Snapshot, Report) {
    let task = Task::parse(task).expect("task parses");
    let stats = TaskStats::parse(stats).expect("stats parse");
    let mut snap = Snapshot::default();
    let report = collect(&task, &stats, filter, &mut snap);
    snap.sort();
    (snap, report)
}

/// [`pipeline`] on two fixture files with the default filter.
pub fn scrape_fixtures(task: &str, stats: &str) -> Snapshot {
    pipeline(&read(task), &read(stats), &Filter::default()).0
}

/// The text of a host read (without the exporter's own series), as `ecs-exporter host` serves it.
pub fn render_host(read: &ecs_exporter::source::Read, filter: &Filter) -> String {
    let (snap, errors) = ecs_exporter::scrape::collect_read(read, filter, true);
    let t = text(&snap, Format::Text);
    if errors.is_empty() {
        t
    } else {
        format!("# errors: {errors:?}\n{t}")
    }
}

/// Encode a snapshot as text.
pub fn text(snap: &Snapshot, format: Format) -> String {
    let mut out = Vec::new();
    encode(snap, format, &mut out);
    String::from_utf8(out).expect("utf-8")
}

/// A `/task` body listing one NORMAL, RUNNING container per entry of a stats map, for captures
/// that come without their `/task` (test input made here, not a capture).
pub fn synthetic_task_for(stats: &[u8]) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(stats).expect("stats JSON");
    let containers: Vec<serde_json::Value> = v
        .as_object()
        .expect("stats map")
        .iter()
        .map(|(id, s)| {
            let name = s.get("name").and_then(|n| n.as_str()).map(|n| n.trim_start_matches('/').to_owned());
            serde_json::json!({"DockerId": id, "Name": name.unwrap_or_else(|| id.clone()), "Type": "NORMAL", "KnownStatus": "RUNNING"})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"Cluster": "synthetic", "Family": "synthetic", "Containers": containers}))
        .unwrap()
}

/// A body without the exporter's own families (`ecs_exporter_*`, `process_*`), which vary from
/// run to run.
pub fn task_part(body: &str) -> String {
    body.lines()
        .filter(|l| {
            let name = l.trim_start_matches("# HELP ").trim_start_matches("# TYPE ");
            !name.starts_with("ecs_exporter_") && !name.starts_with("process_")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Compare `got` with `tests/golden/<file>`, or write it there with `UPDATE_GOLDEN=1`.
pub fn check_golden(file: &str, got: &str) {
    let path = fixture(&format!("../golden/{file}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e} (run with UPDATE_GOLDEN=1)"));
    if want != got {
        let i = want.lines().zip(got.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{file} differs at line {}:\n  want: {:?}\n  got:  {:?}",
            i + 1,
            want.lines().nth(i),
            got.lines().nth(i)
        );
    }
}

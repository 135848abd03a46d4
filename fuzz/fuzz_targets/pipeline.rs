//! Fuzz the whole pipeline: parse → collect → encode (text 0.0.4 and OpenMetrics).
//!
//! The input is a `/task` body and a `/task/stats` body separated by the first 0x00 byte (no
//! 0x00: the whole input is the `/task` body and the stats are `{}`). Neither parser may panic;
//! whatever parses is collected (with and without the internal containers) and both outputs must
//! pass the validator shared with `tests/props.rs` (`tests/common/exposition.rs`): line syntax,
//! names, label escaping, values, HELP/TYPE once and before the samples, contiguous families, no
//! duplicate series, `# EOF` last in OpenMetrics with TYPE names without `_total`, counters ≥ 0,
//! bytes and seconds finite; text and OpenMetrics must hold the same samples, and every exported
//! container's name (each name once: a second container of the same name is not exported) must
//! come back unescaped in `ecs_container_info`.

#![no_main]

use ecs_exporter::collect::{collect, Filter};
use ecs_exporter::encode::{encode, Format};
use ecs_exporter::snapshot::Snapshot;
use ecs_exporter::parse::tmds::{Task, TaskStats};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/exposition.rs"]
mod exposition;

fuzz_target!(|data: &[u8]| {
    let (task, stats) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let (task, stats) = match (Task::parse(task), TaskStats::parse(stats)) {
        (Err(_), Err(_)) => return,
        (t, s) => (t.unwrap_or_default(), s.unwrap_or_default()),
    };
    for include_internal in [false, true] {
        let filter = Filter { include_internal, ..Filter::default() };
        let mut snap = Snapshot::default();
        let _ = collect(&task, &stats, &filter, &mut snap);
        snap.sort();
        let names: Vec<String> = task
            .containers
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|c| filter.keeps(c.name.or_empty(), c.kind.get()))
            .map(|c| c.name.or_empty().to_owned())
            .collect();
        let text = render(&snap, Format::Text);
        let om = render(&snap, Format::OpenMetrics);
        let ts = exposition::validate(&text, Format::Text, true).unwrap_or_else(|e| panic!("text 0.0.4: {e}\n{text}"));
        let os = exposition::validate(&om, Format::OpenMetrics, true).unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{om}"));
        assert!(ts == os, "text and OpenMetrics hold different samples");
        let mut got: Vec<String> = ts
            .iter()
            .filter(|s| s.name == "ecs_container_info")
            .filter_map(|s| s.labels.iter().find(|(k, _)| k == "container_name").map(|(_, v)| v.clone()))
            .collect();
        let mut want = names;
        got.sort();
        want.sort();
        want.dedup();
        assert_eq!(got, want, "container names do not round-trip");
    }
});

fn render(snap: &Snapshot, format: Format) -> String {
    let mut out = Vec::new();
    encode(snap, format, &mut out);
    String::from_utf8(out).expect("output is UTF-8")
}

//! `docs/metrics.md` matches the metric table, and every family of the table is emitted by the
//! code on some real capture or live scenario.

mod common;

use ecs_exporter::metrics::{Group, FAMILIES};
use ecs_exporter::simulate::{Live, Route, Scenario};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn metrics_doc_matches_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let want = ecs_exporter::docs::metrics_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/metrics.md is stale: run UPDATE_DOCS=1 cargo test --test docs");
}

#[test]
fn every_task_container_and_network_family_is_emitted_somewhere() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut seen = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let body = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for l in body.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            seen.insert(name.to_owned());
        }
    }
    // The live scenarios of the simulator: RestartCount appears in no capture (agents before
    // restart policies did not write it).
    for sc in [Scenario::Fargate, Scenario::Ec2Bridge] {
        let live = Live::new(sc);
        let (snap, _) = common::pipeline(&live.body(Route::Task), &live.body(Route::TaskStats), &Default::default());
        seen.extend(snap.series.iter().map(|s| s.family.def().name.to_owned()));
    }
    let missing: Vec<&str> =
        FAMILIES.iter().filter(|f| f.group != Group::Exporter && !seen.contains(f.name)).map(|f| f.name).collect();
    assert!(missing.is_empty(), "families never emitted by any golden case: {missing:?}");
}

//! The deployment files under `deploy/` (and the `Dockerfile`) fit the exporter: the rules,
//! alerts, rule tests and dashboard name only metrics the exporter emits or recording rules
//! that exist; every rule and alert is unit tested; the task definitions carry a working
//! sidecar; the dashboard's panels all query something. When promtool is on PATH the rule files,
//! the rule unit tests and the scrape configs also go through promtool (required when
//! ECS_EXPORTER_REQUIRE_PROMTOOL is set, as in CI).
//!
//! No YAML parser: the YAML files are read line by line, which their simple layout allows.

use ecs_exporter::metrics::FAMILIES;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = "deploy/prometheus/rules/ecs-exporter.rules.yml";
const ALERTS: &str = "deploy/prometheus/rules/ecs-exporter.alerts.yml";
const RULE_TESTS_DIR: &str = "deploy/prometheus/rules/tests";
const DASHBOARD: &str = "deploy/grafana/ecs-task.json";
const SCRAPE_CONFIGS: &[&str] = &[
    "deploy/prometheus/demo.yml",
    "deploy/prometheus/prometheus-ecs-discovery.yml",
    "deploy/prometheus/cloudmap-dns.yml",
];
const FARGATE_TASK: &str = "deploy/ecs/fargate-task-definition.json";
const EC2_TASK: &str = "deploy/ecs/ec2-task-definition.json";
/// The exporter's default port (`--web.listen-address :9779`).
const PORT: u64 = 9779;
const SIDECAR: &str = "ecs-exporter";

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// The rule unit test files, relative to the crate root.
fn rule_tests() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(path(RULE_TESTS_DIR))
        .unwrap_or_else(|e| panic!("{RULE_TESTS_DIR}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".test.yml"))
        .map(|n| format!("{RULE_TESTS_DIR}/{n}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.yml in {RULE_TESTS_DIR}");
    files
}

/// The text of a YAML file without its whole-line comments (which may mention anything).
fn yaml_without_comments(rel: &str) -> String {
    read(rel).lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// Values of `key: value` lines (e.g. `- record: x`), in order.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}:");
    text.lines()
        .map(|l| l.trim_start().trim_start_matches("- "))
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Maximal runs of characters that can make up a PromQL metric name (letters, digits, `_`, `:`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).filter(|w| !w.is_empty())
}

/// A recording rule name `level:metric:operations`.
fn is_rule_name(w: &str) -> bool {
    let parts: Vec<&str> = w.split(':').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) && parts[0].starts_with(|c: char| c.is_ascii_alphabetic())
}

/// The metric names and recording rule names a text refers to that are neither emitted by the
/// exporter nor defined in the rules file, as `(word, where)`.
fn unknown_names(text: &str, place: &str, records: &BTreeSet<String>, out: &mut Vec<String>) {
    let exported: BTreeSet<&str> = FAMILIES.iter().map(|f| f.name).collect();
    for w in words(text) {
        if w.contains(':') {
            if is_rule_name(w) && !records.contains(w) {
                out.push(format!("{place}: recording rule {w} is not defined in {RULES}"));
            }
        } else if (w.starts_with("ecs_") || w.starts_with("process_")) && !exported.contains(w) {
            out.push(format!("{place}: metric {w} is not emitted by the exporter (src/metrics.rs)"));
        }
    }
}

fn records() -> BTreeSet<String> {
    yaml_values(&yaml_without_comments(RULES), "record").into_iter().collect()
}

fn alerts() -> Vec<String> {
    yaml_values(&yaml_without_comments(ALERTS), "alert")
}

/// Every string under an `expr`, `query` or `definition` key, anywhere in a JSON document.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_queries(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| dashboard_queries(x, out)),
        _ => {}
    }
}

/// Panels, including those nested in rows.
fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("dashboard has panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

#[test]
fn rules_alerts_tests_and_dashboard_name_only_real_metrics() {
    let records = records();
    assert!(records.len() >= 5, "too few recording rules found in {RULES}: {records:?}");
    let mut bad = Vec::new();
    for rel in [RULES, ALERTS].into_iter().map(String::from).chain(rule_tests()) {
        unknown_names(&yaml_without_comments(&rel), &rel, &records, &mut bad);
    }
    let mut queries = Vec::new();
    dashboard_queries(&json(DASHBOARD), &mut queries);
    assert!(queries.len() > 10, "too few queries found in {DASHBOARD}");
    for q in &queries {
        unknown_names(q, DASHBOARD, &records, &mut bad);
    }
    assert!(bad.is_empty(), "unknown names:\n{}", bad.join("\n"));
}

#[test]
fn recording_rules_follow_the_naming_convention() {
    for r in records() {
        assert!(is_rule_name(&r), "{r}: not level:metric:operations");
        let mut parts = r.split(':');
        let level = parts.next().unwrap();
        let metric = parts.next().unwrap();
        assert!(["container", "task"].contains(&level), "{r}: level should be container or task");
        assert!(metric.starts_with("ecs_"), "{r}: metric part should name an ecs_ metric");
        assert!(!metric.ends_with("_total"), "{r}: a rated counter drops _total");
    }
}

#[test]
fn every_recording_rule_and_alert_is_unit_tested() {
    let tests: Vec<(String, String)> = rule_tests().into_iter().map(|f| (yaml_without_comments(&f), f)).collect();
    // Recording rules: queried by some promql_expr_test.
    let tested: BTreeSet<String> = tests.iter().flat_map(|(t, _)| yaml_values(t, "expr")).collect();
    for r in records() {
        assert!(tested.iter().any(|e| words(e).any(|w| w == r)), "recording rule {r} has no promql_expr_test");
    }
    // Alerts: at least one check where the alert fires and one where it does not.
    let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (text, _) in &tests {
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(name) = l.strip_prefix("alertname:") else { continue };
            let next = lines.get(i + 1).copied().unwrap_or("");
            let e = seen.entry(name.trim().to_owned()).or_default();
            if next == "exp_alerts: []" {
                e.1 = true;
            } else if next == "exp_alerts:" {
                e.0 = true;
            }
        }
    }
    let alerts = alerts();
    assert!(alerts.len() >= 5, "too few alerts found in {ALERTS}: {alerts:?}");
    for a in &alerts {
        let (fires, quiet) = seen.get(a).copied().unwrap_or_default();
        assert!(fires, "alert {a} has no alert_rule_test where it fires");
        assert!(quiet, "alert {a} has no alert_rule_test where it does not fire");
    }
    for a in seen.keys() {
        assert!(alerts.contains(a), "the tests name alert {a}, which {ALERTS} does not define");
    }
}

/// The sidecar's container definition in a task definition, after the checks both launch
/// types share.
fn sidecar(rel: &str) -> (Value, Value) {
    let task = json(rel);
    let containers =
        task["containerDefinitions"].as_array().unwrap_or_else(|| panic!("{rel}: no containerDefinitions"));
    assert!(containers.len() >= 2, "{rel}: expected an application container and the sidecar");
    let names: BTreeSet<&str> = containers.iter().map(|c| c["name"].as_str().expect("container name")).collect();
    assert_eq!(names.len(), containers.len(), "{rel}: container names must be unique");
    assert!(
        containers.iter().any(|c| c["essential"] == Value::Bool(true)),
        "{rel}: the application container should be essential"
    );
    let c = containers.iter().find(|c| c["name"] == SIDECAR).unwrap_or_else(|| panic!("{rel}: no {SIDECAR} container"));
    assert!(c["image"].as_str().is_some_and(|i| !i.is_empty()), "{rel}: sidecar has no image");
    assert_eq!(c["essential"], Value::Bool(false), "{rel}: the sidecar must not take the task down with it");
    let ports = c["portMappings"].as_array().unwrap_or_else(|| panic!("{rel}: sidecar has no portMappings"));
    assert!(ports.iter().any(|p| p["containerPort"] == PORT), "{rel}: sidecar does not map container port {PORT}");
    let cmd = c["healthCheck"]["command"].as_array().unwrap_or_else(|| panic!("{rel}: sidecar has no healthCheck"));
    let cmd: Vec<&str> = cmd.iter().map(|x| x.as_str().expect("command words are strings")).collect();
    assert_eq!(cmd.first(), Some(&"CMD"), "{rel}: the image has no shell, so the health check must be CMD");
    assert!(cmd.contains(&"healthcheck"), "{rel}: the health check should run `ecs-exporter healthcheck`");
    let (res, lim) = (c["memoryReservation"].as_u64(), c["memory"].as_u64());
    assert!(res.is_some() || lim.is_some(), "{rel}: sidecar needs memory or memoryReservation");
    if let (Some(res), Some(lim)) = (res, lim) {
        assert!(res <= lim, "{rel}: memoryReservation above memory");
    }
    let c = c.clone();
    (task, c)
}

#[test]
fn fargate_task_definition_has_the_sidecar() {
    let (task, c) = sidecar(FARGATE_TASK);
    assert_eq!(task["networkMode"], "awsvpc", "Fargate requires awsvpc");
    assert!(task["requiresCompatibilities"].as_array().is_some_and(|a| a.contains(&Value::from("FARGATE"))));
    for k in ["cpu", "memory"] {
        assert!(task[k].as_str().is_some_and(|v| v.parse::<u64>().is_ok()), "Fargate needs a task-level {k}");
    }
    for p in c["portMappings"].as_array().unwrap() {
        if !p["hostPort"].is_null() {
            assert_eq!(p["hostPort"], p["containerPort"], "awsvpc: hostPort must equal containerPort");
        }
    }
}

#[test]
fn ec2_task_definition_has_the_sidecar_and_discovery_labels() {
    let (task, c) = sidecar(EC2_TASK);
    assert_eq!(task["networkMode"], "bridge");
    let port = c["portMappings"].as_array().unwrap().iter().find(|p| p["containerPort"] == PORT).unwrap();
    assert!(
        port["hostPort"].is_null() || port["hostPort"] == 0,
        "bridge: a dynamic host port lets several tasks share an instance"
    );
    // prometheus-ecs-discovery only considers containers with PROMETHEUS_EXPORTER_PORT, whose
    // value is the container port it then maps to the host port.
    let labels = &c["dockerLabels"];
    assert_eq!(labels["PROMETHEUS_EXPORTER_PORT"], PORT.to_string());
    assert_eq!(labels["PROMETHEUS_EXPORTER_PATH"], "/metrics");
    // The scrape config keeps targets of this job and the alerts select it.
    assert_eq!(labels["PROMETHEUS_EXPORTER_JOB_NAME"], "ecs-exporter");
    assert!(read(ALERTS).contains("up{job=\"ecs-exporter\"}"));
}

#[test]
fn dashboard_panels_all_query_and_use_the_datasource_variable() {
    let dash = json(DASHBOARD);
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()), "dashboard needs a uid");
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    let by_name: BTreeMap<&str, &Value> = vars.iter().map(|v| (v["name"].as_str().unwrap(), v)).collect();
    let ds = by_name.get("datasource").expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance", "family", "container_name"] {
        assert!(by_name.contains_key(name), "dashboard has no ${name} variable");
    }
    let mut ids = BTreeSet::new();
    let mut queried = 0;
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id in {title}");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {title}: datasource should be ${{datasource}}");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {title} has no targets"));
        let exprs: Vec<&str> =
            targets.iter().filter_map(|t| t["expr"].as_str()).filter(|e| !e.trim().is_empty()).collect();
        assert!(!exprs.is_empty(), "panel {title} has no target with an expr");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "panel {title}: target datasource");
        }
        for e in exprs {
            assert!(e.contains("$instance"), "panel {title}: {e} is not restricted to the chosen task");
        }
        queried += 1;
    }
    assert!(queried >= 10, "only {queried} panels with queries");
}

#[test]
fn scrape_configs_load_the_rules_and_scrape_the_sidecar_port() {
    for rel in SCRAPE_CONFIGS {
        let text = yaml_without_comments(rel);
        let dir = path(rel).parent().unwrap().to_path_buf();
        let rule_files: Vec<String> = text
            .lines()
            .skip_while(|l| !l.starts_with("rule_files:"))
            .skip(1)
            .take_while(|l| l.starts_with("  ") || l.trim().is_empty())
            .filter_map(|l| l.trim().strip_prefix("- ").map(str::to_owned))
            .collect();
        for want in [RULES, ALERTS] {
            let name = Path::new(want).file_name().unwrap().to_str().unwrap();
            let f =
                rule_files.iter().find(|f| f.ends_with(name)).unwrap_or_else(|| panic!("{rel}: does not load {name}"));
            assert!(dir.join(f).is_file(), "{rel}: rule file {f} does not exist relative to it");
        }
        assert!(yaml_values(&text, "job_name").contains(&"ecs-exporter".to_owned()), "{rel}: no job ecs-exporter");
        let interval = yaml_values(&text, "scrape_interval");
        let timeout = yaml_values(&text, "scrape_timeout");
        assert!(!interval.is_empty() && !timeout.is_empty(), "{rel}: set scrape_interval and scrape_timeout");
    }
    assert!(read("deploy/prometheus/demo.yml").contains(&format!("localhost:{PORT}")));
    assert!(read("deploy/prometheus/cloudmap-dns.yml").contains(&format!("port: {PORT}")));
}

#[test]
fn e2e_script_and_dockerfile_are_in_shape() {
    let script = read("deploy/prometheus/e2e.sh");
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("set -euo pipefail"));
    assert!(script.contains("trap cleanup EXIT"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("deploy/prometheus/e2e.sh")).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "deploy/prometheus/e2e.sh is not executable");
    }
    let docker = read("Dockerfile");
    for want in [
        "cargo build --release --locked",
        "x86_64-unknown-linux-musl",
        "FROM scratch",
        "USER 65534:65534",
        &format!("EXPOSE {PORT}"),
        r#"CMD ["/ecs-exporter", "healthcheck"]"#,
        r#"ENTRYPOINT ["/ecs-exporter"]"#,
    ] {
        assert!(docker.contains(want), "Dockerfile lacks {want}");
    }
    let ignore = read(".dockerignore");
    for want in ["target/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == want), ".dockerignore lacks {want}");
    }
}

/// Run promtool with `args` from the crate root; `None` when promtool is not installed and not
/// required.
fn promtool(args: &[&str]) -> Option<(bool, String)> {
    match Command::new("promtool").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output() {
        Ok(out) => Some((
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )),
        Err(_) if std::env::var_os("ECS_EXPORTER_REQUIRE_PROMTOOL").is_none() => None,
        Err(e) => panic!("promtool required but not runnable: {e}"),
    }
}

#[test]
fn promtool_accepts_rules_rule_tests_and_scrape_configs() {
    let Some((ok, out)) = promtool(&["check", "rules", RULES, ALERTS]) else {
        eprintln!("promtool not found: skipping (set ECS_EXPORTER_REQUIRE_PROMTOOL=1 to require it)");
        return;
    };
    assert!(ok, "promtool check rules:\n{out}");
    let tests = rule_tests();
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let (ok, out) = promtool(&args).unwrap();
    assert!(ok, "promtool test rules:\n{out}");
    for rel in SCRAPE_CONFIGS {
        let (ok, out) = promtool(&["check", "config", rel]).unwrap();
        assert!(ok, "promtool check config {rel}:\n{out}");
    }
}

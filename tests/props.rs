//! Property tests for issue 3: the parser and the encoders never panic and always emit valid
//! exposition.
//!
//! - Arbitrary JSON (and bytes) goes to `Task::parse` and `TaskStats::parse`: never a panic, and
//!   whatever parses goes on through collection and both encoders.
//! - Structure-aware `/task` and `/task/stats` documents, with plausible and implausible leaves,
//!   go through the whole pipeline; a small validator here checks both outputs line by line
//!   (text 0.0.4 and OpenMetrics 1.0.0) and that container names survive escaping.
//! - When `promtool` is installed (or `ECS_EXPORTER_REQUIRE_PROMTOOL` is set) a few generated
//!   outputs with nasty label values go through `promtool check metrics`.
//!
//! Every input is generated here; no capture is used. `PROPTEST_CASES=N` runs N cases per
//! property instead of the defaults below (kept small so debug `cargo test` stays fast).

mod common;

use common::exposition::{validate, Sample};
use common::{pipeline, text};
use ecs_exporter::collect::{collect, Filter};
use ecs_exporter::encode::Format;
use ecs_exporter::parse::lenient::Num;
use ecs_exporter::parse::tmds::{Task, TaskStats};
use ecs_exporter::snapshot::Snapshot;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::HashSet;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// A JSON tree that can hold any number text (and duplicate keys), written by hand.

#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    /// A token written as is: a number, or (in the arbitrary-JSON strategy) any token.
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Raw(t) => out.push_str(t),
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("string")),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("key"));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn json(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

fn s(v: &str) -> J {
    J::Str(v.to_owned())
}

/// An object of the fields that are present.
fn obj<const N: usize>(fields: [Option<(&'static str, J)>; N]) -> J {
    J::Obj(fields.into_iter().flatten().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A field that is present four times out of five.
fn field(name: &'static str, v: BoxedStrategy<J>) -> BoxedStrategy<Option<(&'static str, J)>> {
    prop::option::weighted(0.8, v).prop_map(move |o| o.map(|v| (name, v))).boxed()
}

// ---------------------------------------------------------------------------------------------
// Leaves.

/// Strings that are hard to carry into a label value.
fn nasty() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "[a-z][a-z0-9_-]{0,12}",
        3 => prop::sample::select(vec![
            "",
            "app",
            "~internal~ecs~pause",
            "with \"quotes\"",
            "\"",
            "back\\slash",
            "\\",
            "trailing\\",
            "\\n not a newline",
            "\\\"",
            "new\nline",
            "\n",
            "tab\tcr\rform\u{c}",
            "nul\u{0}byte",
            "é日本語",
            "emoji 🦀🚀👩‍👩‍👧",
            "\u{feff}bom",
            "\u{2028}\u{2029}",
            "a=\"b\",c=\"d\"}",
            "} 1\n# EOF",
            "# HELP x y",
            "None",
            " spaced out ",
        ])
        .prop_map(String::from),
        1 => "[\"\\\\\n a-zé🦀{}=,#]{0,10}",
        1 => any::<String>(),
        1 => prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
    .boxed()
}

/// JSON number text that serde_json reads (no overflow to infinity).
fn number() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0u64..5000).prop_map(|v| v.to_string()),
        2 => any::<u64>().prop_map(|v| v.to_string()),
        1 => Just(u64::MAX.to_string()),
        2 => any::<i64>().prop_map(|v| v.to_string()),
        1 => (-5000i64..0).prop_map(|v| v.to_string()),
        2 => any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:?}") } else { "0.5".into() }),
        2 => prop::sample::select(vec![
            "0", "-0", "0.0", "-0.0", "1.5", "1e3", "1E+2", "2.5e-3", "1e308", "-1e308",
            "1.7976931348623157e308", "4.9e-324", "1e-400", "2", "3", "1024", "0.25",
            "123456789012345678901234567890", "-123456789012345678901234567890",
            "18446744073709551616", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "17592186044416", "17592186044415.999",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

/// Number text serde_json refuses (out of range): only where one container's entry may fail.
fn overflowing() -> BoxedStrategy<String> {
    prop::sample::select(vec!["1e400", "-1e400", "1e99999", "-2e308"]).prop_map(String::from).boxed()
}

/// Small arbitrary JSON, to put where an object or a number belongs.
fn garbage() -> BoxedStrategy<J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Raw),
        nasty().prop_map(J::Str),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(J::Arr),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..3).prop_map(J::Obj),
        ]
    })
    .boxed()
}

/// Anything where a number belongs: numbers of every kind mostly, then strings, null, garbage.
fn leaf(allow_overflow: bool) -> BoxedStrategy<J> {
    let over = if allow_overflow { 1 } else { 0 };
    prop_oneof![
        12 => number().prop_map(J::Raw),
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        2 => prop::sample::select(vec!["None", "12", "", "NaN", "Infinity", "-1", "1e3"]).prop_map(s),
        1 => garbage(),
        over => overflowing().prop_map(J::Raw),
    ]
    .boxed()
}

/// An object most of the time, garbage sometimes.
fn or_garbage(v: BoxedStrategy<J>) -> BoxedStrategy<J> {
    prop_oneof![8 => v, 1 => garbage()].boxed()
}

/// A string from a list, a nasty string, a number, or null.
fn word(list: &[&'static str]) -> BoxedStrategy<J> {
    prop_oneof![
        6 => prop::sample::select(list.to_vec()).prop_map(s),
        2 => nasty().prop_map(J::Str),
        1 => number().prop_map(J::Raw),
        1 => Just(J::Null),
    ]
    .boxed()
}

fn text_leaf() -> BoxedStrategy<J> {
    prop_oneof![
        8 => nasty().prop_map(J::Str),
        1 => number().prop_map(J::Raw),
        1 => Just(J::Null),
        1 => garbage(),
    ]
    .boxed()
}

/// RFC 3339 times: Go's, odd but valid, Go's zero time, and not times at all.
fn timestamp() -> BoxedStrategy<J> {
    prop_oneof![
        4 => "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,12})?([Zz]|[+-][01][0-9]:[0-5][0-9])"
            .prop_map(J::Str),
        2 => prop::sample::select(vec![
            "0001-01-01T00:00:00Z",
            "2025-02-27T05:06:19.200809191Z",
            "1969-12-31T23:59:59.99999999Z",
            "9999-12-31T23:59:60.999999999+23:59",
            "0002-01-01T00:00:00-23:59",
            "2025-13-01T00:00:00Z",
            "2025-02-27T05:06:19.Z",
            "2025-02-27T05:06:19",
            "2025-02-27T05:06:19ZZ",
            "2025-02-27T05:06:19+0100",
            "2025-02-27T05:06:1é",
            "",
        ])
        .prop_map(s),
        1 => nasty().prop_map(J::Str),
        1 => leaf(false),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// `/task`.

const STATUSES: &[&str] =
    &["PENDING", "PULLED", "CREATED", "RUNNING", "RESOURCES_PROVISIONED", "STOPPED", "NONE", "running", ""];

/// One generated container entry.
#[derive(Debug, Clone)]
struct GenContainer {
    /// Index into the id pool, or no `DockerId`.
    id: Option<Index>,
    /// `Name`: `None` absent, `Some(None)` null.
    name: Option<Option<String>>,
    /// Take the previous container's name instead (only in duplicate mode).
    copy_name: bool,
    /// `Type`.
    kind: Option<J>,
    /// The other fields.
    rest: Vec<(&'static str, J)>,
}

impl GenContainer {
    fn effective_name(&self) -> String {
        self.name.clone().flatten().unwrap_or_default()
    }

    /// Whether the default filter (plus `include_internal`) exports it.
    fn exported(&self, include_internal: bool) -> bool {
        match &self.kind {
            None | Some(J::Null) => true,
            Some(J::Str(k)) => k.is_empty() || k == "NORMAL" || include_internal,
            // Numbers and booleans read as their text, objects and arrays as absent.
            Some(J::Raw(_) | J::Bool(_)) => include_internal,
            Some(J::Arr(_) | J::Obj(_)) => true,
        }
    }

    fn json(&self, pool: &[String]) -> J {
        let mut fields: Vec<(String, J)> = Vec::new();
        if let Some(i) = &self.id {
            fields.push(("DockerId".into(), J::Str(i.get(pool).clone())));
        }
        match &self.name {
            None => {}
            Some(None) => fields.push(("Name".into(), J::Null)),
            Some(Some(n)) => fields.push(("Name".into(), s(n))),
        }
        if let Some(k) = &self.kind {
            fields.push(("Type".into(), k.clone()));
        }
        fields.extend(self.rest.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        J::Obj(fields)
    }
}

fn network_mode() -> BoxedStrategy<J> {
    word(&["awsvpc", "bridge", "host", "none", "AWSVPC", "nat", "default", ""])
}

fn container() -> BoxedStrategy<GenContainer> {
    let limits =
        or_garbage((field("CPU", leaf(false)), field("Memory", leaf(false))).prop_map(|(a, b)| obj([a, b])).boxed());
    let health = or_garbage(
        (field("status", word(&["HEALTHY", "UNHEALTHY", "UNKNOWN", ""])), field("statusSince", timestamp()))
            .prop_map(|(a, b)| obj([a, b]))
            .boxed(),
    );
    // Always an object: a `null` or a number here makes the whole container an error today
    // (see `odd_list_elements_do_not_hide_a_container`).
    let network =
        (field("NetworkMode", network_mode()), field("IPv4Addresses", garbage())).prop_map(|(a, b)| obj([a, b]));
    let networks = prop_oneof![
        6 => prop::collection::vec(network, 0..3).prop_map(J::Arr),
        1 => Just(J::Null),
        1 => Just(s("None")),
        1 => garbage().prop_filter("a list holds objects", |j| !matches!(j, J::Arr(_))),
    ]
    .boxed();
    let rest = (
        field("DockerName", text_leaf()),
        field("Image", text_leaf()),
        field("ImageID", text_leaf()),
        field("KnownStatus", word(STATUSES)),
        field("DesiredStatus", word(STATUSES)),
        field("Limits", limits),
        field("StartedAt", timestamp()),
        field("FinishedAt", timestamp()),
        field("ExitCode", leaf(false)),
        field("RestartCount", leaf(false)),
        field("Health", health),
        field("Networks", networks),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j, k, l)| {
            [a, b, c, d, e, f, g, h, i, j, k, l].into_iter().flatten().collect::<Vec<_>>()
        });
    let kind = prop::option::weighted(
        0.8,
        prop_oneof![
            6 => Just(s("NORMAL")),
            2 => Just(s("CNI_PAUSE")),
            1 => Just(s("")),
            1 => Just(J::Null),
            1 => nasty().prop_map(J::Str),
            1 => number().prop_map(J::Raw),
            1 => any::<bool>().prop_map(J::Bool),
        ],
    );
    let name = prop::option::weighted(0.9, prop::option::weighted(0.95, nasty()));
    (prop::option::weighted(0.9, any::<Index>()), name, prop::bool::weighted(0.3), kind, rest)
        .prop_map(|(id, name, copy_name, kind, rest)| GenContainer { id, name, copy_name, kind, rest })
        .boxed()
}

/// An entry of `Containers[]` that is not an object: its container is an error, not a panic.
/// (Not an array: those are read as a container today, see `arrays_are_not_objects`.)
fn broken_container() -> BoxedStrategy<J> {
    prop_oneof![Just(J::Null), any::<bool>().prop_map(J::Bool), number().prop_map(J::Raw), nasty().prop_map(J::Str),]
        .boxed()
}

fn task_fields() -> BoxedStrategy<Vec<(&'static str, J)>> {
    let limits =
        or_garbage((field("CPU", leaf(false)), field("Memory", leaf(false))).prop_map(|(a, b)| obj([a, b])).boxed());
    let eph = or_garbage(
        (field("Utilized", leaf(false)), field("Reserved", leaf(false))).prop_map(|(a, b)| obj([a, b])).boxed(),
    );
    (
        field("Cluster", text_leaf()),
        field("TaskARN", text_leaf()),
        field("Family", text_leaf()),
        field("Revision", prop_oneof![text_leaf(), number().prop_map(J::Raw)].boxed()),
        field("DesiredStatus", word(STATUSES)),
        field("KnownStatus", word(STATUSES)),
        field("LaunchType", word(&["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"])),
        field("AvailabilityZone", text_leaf()),
        field("Limits", limits),
        field("PullStartedAt", timestamp()),
        field("PullStoppedAt", timestamp()),
        field("EphemeralStorageMetrics", eph),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j, k, l)| {
            [a, b, c, d, e, f, g, h, i, j, k, l].into_iter().flatten().collect()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// `/task/stats`.

fn blkio_list() -> BoxedStrategy<J> {
    let op = prop_oneof![
        6 => prop::sample::select(vec![
            "Read", "read", "READ", "rEaD", "Write", "write", "WRITE", "wRiTe", "Sync", "Async",
            "Total", "Discard", "",
        ])
        .prop_map(s),
        1 => nasty().prop_map(J::Str),
        1 => leaf(true),
    ]
    .boxed();
    // Mostly objects: anything else makes the whole stats entry an error today.
    let entry = prop_oneof![
        19 => (field("major", leaf(true)), field("minor", leaf(true)), field("op", op), field("value", leaf(true)))
            .prop_map(|(a, b, c, d)| obj([a, b, c, d])),
        1 => garbage(),
    ];
    prop_oneof![
        6 => prop::collection::vec(entry, 0..6).prop_map(J::Arr),
        1 => Just(J::Null),
        1 => Just(s("None")),
        1 => Just(J::Arr(vec![])),
        1 => garbage(),
    ]
    .boxed()
}

fn interface_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["eth0", "eth1", "lo", "ens5", "Ethernet 2", "vEthernet (nat)"])
            .prop_map(String::from),
        2 => nasty(),
    ]
    .boxed()
}

fn stats_object() -> BoxedStrategy<J> {
    let l = || leaf(true);
    let cpu_usage = or_garbage(
        (
            field("total_usage", l()),
            field("usage_in_kernelmode", l()),
            field("usage_in_usermode", l()),
            field("percpu_usage", garbage()),
        )
            .prop_map(|(a, b, c, d)| obj([a, b, c, d]))
            .boxed(),
    );
    let throttling = or_garbage(
        (field("periods", l()), field("throttled_periods", l()), field("throttled_time", l()))
            .prop_map(|(a, b, c)| obj([a, b, c]))
            .boxed(),
    );
    let cpu = or_garbage(
        (
            field("cpu_usage", cpu_usage),
            field("system_cpu_usage", l()),
            field("online_cpus", l()),
            field("throttling_data", throttling),
        )
            .prop_map(|(a, b, c, d)| obj([a, b, c, d]))
            .boxed(),
    );
    let mem_keys = prop_oneof![
        4 => prop::sample::select(vec![
            "total_rss", "rss", "anon", "total_cache", "cache", "file", "total_inactive_file",
            "inactive_file", "active_file", "pgfault",
        ])
        .prop_map(String::from),
        1 => nasty(),
    ];
    let mem_stats = or_garbage(prop::collection::vec((mem_keys, l()), 0..6).prop_map(J::Obj).boxed());
    let mem = or_garbage(
        (
            field("usage", l()),
            field("max_usage", l()),
            field("limit", l()),
            field("stats", mem_stats),
            field("privateworkingset", l()),
            field("commitbytes", l()),
        )
            .prop_map(|(a, b, c, d, e, f)| obj([a, b, c, d, e, f]))
            .boxed(),
    );
    let pids = or_garbage(field("current", l()).prop_map(|a| obj([a])).boxed());
    let blkio = or_garbage(
        (
            field("io_service_bytes_recursive", blkio_list()),
            field("io_serviced_recursive", blkio_list()),
            field("io_queue_recursive", garbage()),
        )
            .prop_map(|(a, b, c)| obj([a, b, c]))
            .boxed(),
    );
    let storage = or_garbage(
        (
            field("read_count_normalized", l()),
            field("read_size_bytes", l()),
            field("write_count_normalized", l()),
            field("write_size_bytes", l()),
        )
            .prop_map(|(a, b, c, d)| obj([a, b, c, d]))
            .boxed(),
    );
    let counters = or_garbage(
        (
            field("rx_bytes", l()),
            field("rx_packets", l()),
            field("rx_errors", l()),
            field("rx_dropped", l()),
            field("tx_bytes", l()),
            field("tx_packets", l()),
            field("tx_errors", l()),
            field("tx_dropped", l()),
        )
            .prop_map(|(a, b, c, d, e, f, g, h)| obj([a, b, c, d, e, f, g, h]))
            .boxed(),
    );
    let networks = or_garbage(prop::collection::vec((interface_name(), counters), 0..4).prop_map(J::Obj).boxed());
    let rates = or_garbage(
        (field("rx_bytes_per_sec", l()), field("tx_bytes_per_sec", l())).prop_map(|(a, b)| obj([a, b])).boxed(),
    );
    (
        (
            field("read", timestamp()),
            field("preread", timestamp()),
            field("name", text_leaf()),
            field("os_type", word(&["linux", "windows", "Windows", "LINUX", ""])),
            field("num_procs", l()),
        ),
        (
            field("cpu_stats", cpu),
            field("memory_stats", mem),
            field("pids_stats", pids),
            field("blkio_stats", blkio),
            field("storage_stats", storage),
            field("networks", networks),
            field("network_rate_stats", rates),
        ),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i, j, k, m))| obj([a, b, c, d, e, f, g, h, i, j, k, m]))
        .boxed()
}

fn stats_entry() -> BoxedStrategy<J> {
    prop_oneof![
        1 => Just(J::Null),
        1 => Just(J::Obj(vec![])),
        1 => number().prop_map(J::Raw),
        1 => garbage(),
        10 => stats_object(),
    ]
    .boxed()
}

fn docker_id() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[0-9a-f]{64}",
        2 => "[0-9a-f]{32}-[0-9]{10}",
        1 => "[0-9a-f]{4}",
        1 => nasty(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// A whole case.

/// A generated `/task` and `/task/stats` pair and what the default filter should export.
#[derive(Clone)]
struct Case {
    task: String,
    stats: String,
    include_internal: bool,
    /// Names of the exported containers, one per container.
    names: Vec<String>,
    /// Whether two exported containers share a name.
    duplicate_names: bool,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case {{")?;
        writeln!(f, "  task  = {}", self.task)?;
        writeln!(f, "  stats = {}", self.stats)?;
        writeln!(f, "  include_internal = {}", self.include_internal)?;
        writeln!(f, "  names = {:?}", self.names)?;
        write!(f, "}}")
    }
}

/// Cases whose exported containers have distinct names, unless `duplicates`.
fn case(duplicates: bool) -> BoxedStrategy<Case> {
    let entries =
        prop::collection::vec(prop_oneof![12 => container().prop_map(Ok), 1 => broken_container().prop_map(Err)], 0..6);
    let containers_form = prop_oneof![12 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    let extra_stats = prop::collection::vec((docker_id(), stats_entry()), 0..3);
    (
        prop::collection::vec(docker_id(), 1..6),
        entries,
        containers_form,
        task_fields(),
        prop::collection::vec(prop::option::weighted(0.85, stats_entry()), 6),
        extra_stats,
        any::<bool>(),
    )
        .prop_map(move |(pool, mut entries, form, task_fields, pool_stats, extra, include_internal)| {
            // Names: distinct among exported containers, or copied on purpose.
            let mut seen = HashSet::new();
            let mut prev: Option<Option<Option<String>>> = None;
            let mut names = Vec::new();
            let mut duplicate_names = false;
            for (i, e) in entries.iter_mut().enumerate() {
                let Ok(c) = e else { continue };
                if duplicates && c.copy_name {
                    if let Some(p) = &prev {
                        c.name = p.clone();
                    }
                }
                prev = Some(c.name.clone());
                if !c.exported(include_internal) {
                    continue;
                }
                while !duplicates && seen.contains(&c.effective_name()) {
                    c.name = Some(Some(format!("{}#{i}", c.effective_name())));
                }
                duplicate_names |= !seen.insert(c.effective_name());
                names.push(c.effective_name());
            }
            let list = J::Arr(
                entries
                    .iter()
                    .map(|e| match e {
                        Ok(c) => c.json(&pool),
                        Err(j) => j.clone(),
                    })
                    .collect(),
            );
            let mut task: Vec<(String, J)> = task_fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            match form {
                0 => task.push(("Containers".into(), list)),
                // No containers at all: nothing is exported.
                1 => {
                    task.push(("Containers".into(), s("None")));
                    names.clear();
                    duplicate_names = false;
                }
                _ => {
                    names.clear();
                    duplicate_names = false;
                }
            }
            let mut stats: Vec<(String, J)> =
                pool.iter().zip(pool_stats).filter_map(|(id, e)| Some((id.clone(), e?))).collect();
            stats.extend(extra);
            Case { task: J::Obj(task).json(), stats: J::Obj(stats).json(), include_internal, names, duplicate_names }
        })
        .boxed()
}

fn encode_and_validate(snap: &Snapshot, dups: bool) -> Result<Vec<Sample>, String> {
    let t = text(snap, Format::Text);
    let o = text(snap, Format::OpenMetrics);
    let ts = validate(&t, Format::Text, dups).map_err(|e| format!("text 0.0.4: {e}"))?;
    let os = validate(&o, Format::OpenMetrics, dups).map_err(|e| format!("OpenMetrics: {e}"))?;
    if o.split('\n').filter(|l| *l == "# EOF").count() != 1 {
        return Err("OpenMetrics: \"# EOF\" is not there exactly once".into());
    }
    if ts != os {
        return Err("the text and OpenMetrics outputs hold different samples".into());
    }
    Ok(ts)
}

/// Run a case through the pipeline and check both outputs.
fn check_case(c: &Case) -> Result<(), String> {
    let filter = Filter { include_internal: c.include_internal, ..Filter::default() };
    let (snap, _report) = pipeline(c.task.as_bytes(), c.stats.as_bytes(), &filter);
    let samples = encode_and_validate(&snap, true)?;
    // Container names round-trip through escaping: one ecs_container_info per container.
    let label = |s: &Sample| s.labels.iter().find(|(k, _)| k == "container_name").map(|(_, v)| v.clone());
    let mut got: Vec<String> = samples.iter().filter(|s| s.name == "ecs_container_info").filter_map(label).collect();
    // A second container of the same name is reported, not exported: each name once.
    let mut want = c.names.clone();
    got.sort();
    want.sort();
    want.dedup();
    if got != want {
        return Err(format!("container names do not round-trip: got {got:?}, want {want:?}"));
    }
    if let Some(s) = samples.iter().find(|s| label(s).is_some_and(|n| !want.contains(&n))) {
        return Err(format!("series of a container not exported: {s:?}"));
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default_cases: u32) -> Config {
    Config { cases: cases(default_cases), failure_persistence: None, max_shrink_iters: 4096, ..Config::default() }
}

// ---------------------------------------------------------------------------------------------
// a. Arbitrary JSON and bytes never make a parser panic.

const KEYS: &[&str] = &[
    "Containers",
    "Limits",
    "CPU",
    "Memory",
    "Name",
    "DockerId",
    "Type",
    "KnownStatus",
    "Networks",
    "NetworkMode",
    "LaunchType",
    "EphemeralStorageMetrics",
    "Utilized",
    "Reserved",
    "Health",
    "status",
    "RestartCount",
    "ExitCode",
    "StartedAt",
    "PullStartedAt",
    "read",
    "os_type",
    "num_procs",
    "cpu_stats",
    "cpu_usage",
    "total_usage",
    "throttling_data",
    "throttled_time",
    "memory_stats",
    "usage",
    "stats",
    "total_inactive_file",
    "anon",
    "privateworkingset",
    "pids_stats",
    "current",
    "blkio_stats",
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "op",
    "value",
    "storage_stats",
    "read_size_bytes",
    "networks",
    "eth0",
    "rx_bytes",
    "network_rate_stats",
    "rx_bytes_per_sec",
];

/// Number tokens, including those serde_json refuses.
fn any_number() -> BoxedStrategy<String> {
    prop_oneof![
        6 => number(),
        1 => overflowing(),
        1 => prop::sample::select(vec![
            "1e-99999", "0e0", "-0e-0", "1.0E+308", "1E309",
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
            "0.00000000000000000000000000000000000000000000000000000000000000000000000000001",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

/// String tokens written as is: escapes serde_json must decode or refuse.
fn raw_string() -> BoxedStrategy<String> {
    prop::sample::select(vec![
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\uD83D\uDE00""#,
        r#""\u0000""#,
        r#""\u00e9\n\t\"\\\/""#,
        r#""\x""#,
        r#""\u12""#,
        "\"raw\u{1}control\"",
    ])
    .prop_map(String::from)
    .boxed()
}

fn any_json() -> BoxedStrategy<J> {
    let key = prop_oneof![3 => prop::sample::select(KEYS.to_vec()).prop_map(String::from), 1 => nasty()];
    let leaf = prop_oneof![
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        4 => any_number().prop_map(J::Raw),
        2 => nasty().prop_map(J::Str),
        1 => timestamp(),
        1 => raw_string().prop_map(J::Raw),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..5).prop_map(J::Arr),
            3 => prop::collection::vec((key.clone(), inner), 0..6).prop_map(J::Obj),
        ]
    })
    .boxed()
}

/// A body: arbitrary JSON, mostly under an object so the typed paths are reached.
fn any_body() -> BoxedStrategy<String> {
    let doc = prop_oneof![
        1 => any_json(),
        3 => prop::collection::vec((docker_id(), any_json()), 0..4).prop_map(J::Obj),
        3 => prop::collection::vec(
            (prop::sample::select(KEYS.to_vec()).prop_map(String::from), any_json()),
            0..8
        )
        .prop_map(J::Obj),
    ];
    // Then sometimes break it: cut it short, or put a byte in.
    (doc, 0u8..6, any::<Index>(), any::<char>())
        .prop_map(|(doc, how, at, c)| {
            let mut t = doc.json();
            let cut = (0..=t.len()).filter(|i| t.is_char_boundary(*i)).nth(at.index(t.len() + 1)).unwrap_or(t.len());
            match how {
                0 => t.truncate(cut),
                1 => t.insert(cut, c),
                _ => {}
            }
            t
        })
        .boxed()
}

/// Parse both bodies (a failure is fine), collect whatever parsed and check the outputs.
fn parse_anything(task: &[u8], stats: &[u8], include_internal: bool) -> Result<(), String> {
    let t = Task::parse(task);
    let s = TaskStats::parse(stats);
    let (task, stats) = match (t, s) {
        (Err(_), Err(_)) => return Ok(()),
        (t, s) => (t.unwrap_or_default(), s.unwrap_or_default()),
    };
    let filter = Filter { include_internal, ..Filter::default() };
    let mut snap = Snapshot::default();
    let _ = collect(&task, &stats, &filter, &mut snap);
    snap.sort();
    // Duplicate series are checked only when no two exported containers share a name (that
    // case is the known bug in `duplicate_container_names_*` below).
    let mut names = HashSet::new();
    let distinct = task
        .containers
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .filter(|c| filter.keeps(c.name.or_empty(), c.kind.get()))
        .all(|c| names.insert(c.name.or_empty().to_owned()));
    encode_and_validate(&snap, distinct).map(|_| ())
}

/// A number as serde_json reads it, to compare with the reader's.
fn serde_number(text: &str) -> Option<Num> {
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Number(n) => Some(match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Num::U(u),
            (None, Some(i), _) => Num::I(i),
            (None, None, Some(f)) => Num::F(f),
            _ => return None,
        }),
        _ => None,
    }
}

/// Whether two numbers are the same, floats within an ulp or two (serde_json's default float
/// parse is not always correctly rounded; the reader's, the standard library's, is).
fn same_number(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::F(x), Num::F(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The reader takes exactly the bodies serde_json takes (what it accepts when it ignores a
    /// document: escapes are checked, surrogates are not), and reads numbers as it does.
    #[test]
    fn the_reader_accepts_what_serde_json_accepts(body in any_body()) {
        let ours = ecs_exporter::parse::json::validate(&body);
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&body);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}, serde_json {:?}", body, ours, theirs);
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them(text in any_number()) {
        let ours = ecs_exporter::parse::json::Reader::new(&text).number();
        match (ours, serde_number(&text)) {
            (Ok(a), Some(b)) => prop_assert!(same_number(a, b), "{}: ours {:?}, serde_json {:?}", text, a, b),
            (Err(e), None) => prop_assert!(e.is_out_of_range() || !e.to_string().is_empty()),
            (a, b) => prop_assert!(false, "{}: ours {:?}, serde_json {:?}", text, a, b),
        }
    }
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn arbitrary_json_never_panics(task in any_body(), stats in any_body(), internal in any::<bool>()) {
        parse_anything(task.as_bytes(), stats.as_bytes(), internal).map_err(TestCaseError::fail)?;
        // The same bodies the other way round.
        parse_anything(stats.as_bytes(), task.as_bytes(), internal).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        a in prop::collection::vec(any::<u8>(), 0..256),
        b in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        parse_anything(&a, &b, true).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// b. Structure-aware documents through the pipeline give valid exposition.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn generated_documents_give_valid_exposition(c in case(false)) {
        prop_assert!(!c.duplicate_names);
        check_case(&c).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The same with containers that share a name: only the first of them is exported.
    #[test]
    fn generated_documents_with_shared_names_give_valid_exposition(c in case(true)) {
        check_case(&c).map_err(TestCaseError::fail)?;
    }
}

/// Minimal reproducer of the duplicate-series bug.
#[test]
fn duplicate_container_names_give_no_duplicate_series() {
    let task = br#"{"Containers":[{"Name":"a"},{"Name":"a"}]}"#;
    let (snap, _) = pipeline(task, b"{}", &Filter::default());
    if let Err(e) = encode_and_validate(&snap, true) {
        panic!("{e}\n{}", text(&snap, Format::Text));
    }
}

/// Minimal reproducer: a JSON array is read field by field as a `/task`, a container or a stats
/// entry, although the model says a body that is not an object fails and a container that is not
/// an object is an error.
#[test]
fn arrays_are_not_objects() {
    assert!(Task::parse(b"[]").is_err(), "a /task body [] parses");
    let t = Task::parse(br#"{"Containers":[["0123","web"]]}"#).expect("task");
    assert!(
        t.containers[0].is_err(),
        "the container [\"0123\",\"web\"] reads as {:?}",
        t.containers[0].as_ref().map(|c| (&c.docker_id, &c.name))
    );
    let s = TaskStats::parse(br#"{"a":["2025-02-27T05:06:19Z"]}"#).expect("stats");
    assert!(s.containers["a"].is_err(), "a stats entry [..] is read");
}

/// Minimal reproducer: one element of a list that is not an object (`null` here) makes the
/// whole container (or stats entry) an error, so its other series are lost, although the model
/// reads a nested object that is not an object as absent.
#[test]
fn odd_list_elements_do_not_hide_a_container() {
    let t = Task::parse(br#"{"Containers":[{"Name":"web","Networks":[null]}]}"#).expect("task");
    assert!(t.containers[0].is_ok(), "container lost: {:?}", t.containers[0].as_ref().err());
    let s =
        TaskStats::parse(br#"{"a":{"memory_stats":{"usage":5},"blkio_stats":{"io_service_bytes_recursive":[null]}}}"#)
            .expect("stats");
    assert!(s.containers["a"].is_ok(), "stats entry lost: {:?}", s.containers["a"].as_ref().err());
}

/// Edge cases of part a, run every time whatever the random draw.
#[test]
fn edge_bodies_never_panic() {
    let bodies: &[&[u8]] = &[
        b"",
        b"null",
        b"[]",
        b"{}",
        b"\"x\"",
        b"18446744073709551615",
        b"{\"Containers\": 1e400}",
        b"{\"Limits\": {\"CPU\": 1e400, \"Memory\": -1e308}}",
        b"{\"Limits\": {\"CPU\": 18446744073709551615, \"Memory\": 18446744073709551615}}",
        b"{\"Limits\": {\"CPU\": -1, \"Memory\": 17592186044416}}",
        b"{\"EphemeralStorageMetrics\": {\"Utilized\": 1.7e13, \"Reserved\": 17592186044415.99}}",
        b"{\"Containers\": [null, 1, \"x\", [], {\"Name\": \"\\ud800\"}]}",
        b"{\"Containers\": [{\"Name\": \"a\", \"Limits\": {\"Memory\": 1e400}}]}",
        b"{\"a\": {\"cpu_stats\": {\"cpu_usage\": {\"total_usage\": 1e400}}}}",
        b"{\"a\": {\"os_type\": \"windows\", \"cpu_stats\": {\"cpu_usage\": {\"total_usage\": 18446744073709551615}}}}",
        b"{\"a\": {\"blkio_stats\": {\"io_service_bytes_recursive\": [{\"op\": \"read\", \"value\": 18446744073709551615}, {\"op\": \"Read\", \"value\": 18446744073709551615}]}}}",
        b"{\"a\": {\"networks\": {\"\": {}, \"eth0\": {\"rx_bytes\": -1}}}}",
        b"{\"a\": 1, \"a\": null}",
        b"{\"Containers\": [{\"Name\": \"a\", \"Name\": \"b\"}]}",
        b"\xef\xbb\xbf{}",
        b"{} trailing",
        b"{\"a\":",
    ];
    for t in bodies {
        for s in bodies {
            if let Err(e) = parse_anything(t, s, true) {
                panic!("{e}\ntask:  {}\nstats: {}", String::from_utf8_lossy(t), String::from_utf8_lossy(s));
            }
        }
    }
}

/// The validator itself rejects what it is there to reject.
#[test]
fn validator_rejects_invalid_exposition() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"\\\\ \\\" \\n é\"} 1\n";
    assert!(validate(good, Format::Text, true).is_ok());
    let bad = [
        "a 1",
        "# HELP a x\na 1\n",
        "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"x\ny\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"\"\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na 1 123\n",
        "# HELP a x\n# TYPE a gauge\na inf\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\na{l=\"1\"} 2\n",
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n",
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n",
        "# HELP a_total x\n# TYPE a_total counter\na_total -1\n",
        "# HELP a_bytes x\n# TYPE a_bytes gauge\na_bytes +Inf\n",
        "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
    ];
    for b in bad {
        assert!(validate(b, Format::Text, true).is_err(), "accepted {b:?}");
    }
    let om = "# TYPE a counter\n# HELP a x\na_total 1\n# EOF\n";
    assert!(validate(om, Format::OpenMetrics, true).is_ok());
    for b in [
        "# TYPE a counter\n# HELP a x\na_total 1\n",
        "# TYPE a_total counter\n# HELP a_total x\na_total 1\n# EOF\n",
        "# TYPE a counter\n# HELP a x\na_total 1\n# EOF\n# EOF\n",
        "# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# HELP a_seconds x\na_seconds 1\n# EOF\n",
    ] {
        assert!(validate(b, Format::OpenMetrics, true).is_err(), "accepted {b:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// c. promtool agrees.

/// `promtool check metrics` output, or `None` when promtool is absent and not required.
fn promtool_check(body: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("ECS_EXPORTER_REQUIRE_PROMTOOL").is_none() => return None,
        Err(e) => panic!("promtool required (ECS_EXPORTER_REQUIRE_PROMTOOL) but not runnable: {e}"),
    };
    child.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn promtool_accepts_generated_outputs() {
    let nasty_names =
        ["with \"quotes\"", "back\\slash\\", "new\nline\n", "é日本語 🦀", "nul\u{0}tab\tcr\r", "} 1\n# EOF", ""];
    let containers: Vec<String> = nasty_names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#"{{"DockerId":"id{i}","Name":{},"Image":{},"KnownStatus":{},"Limits":{{"CPU":1024,"Memory":512}},"Health":{{"status":{}}},"RestartCount":{i},"ExitCode":-{i},"StartedAt":"2025-02-27T05:06:19.2Z","Networks":[{{"NetworkMode":"bridge"}}]}}"#,
                serde_json::to_string(n).unwrap(),
                serde_json::to_string(&format!("img:{n}")).unwrap(),
                serde_json::to_string(&format!("ODD {n}")).unwrap(),
                serde_json::to_string(&format!("HEALTHY{n}")).unwrap(),
            )
        })
        .collect();
    let task = format!(
        r#"{{"Cluster":"c\"l\\u\nster","Limits":{{"CPU":0.25,"Memory":512}},"Containers":[{}]}}"#,
        containers.join(",")
    );
    let stats_entry = |i: usize| {
        format!(
            r#""id{i}":{{"read":"2025-02-27T05:06:19Z","cpu_stats":{{"cpu_usage":{{"total_usage":18446744073709551615}}}},"memory_stats":{{"usage":5,"stats":{{"inactive_file":9}}}},"blkio_stats":{{"io_service_bytes_recursive":[{{"op":"READ","value":1}}]}},"networks":{{"eth \"0\"\\ \n":{{"rx_bytes":1}},"é":{{"tx_bytes":2}}}},"network_rate_stats":{{"rx_bytes_per_sec":1e300}}}}"#
        )
    };
    let stats = format!("{{{}}}", (0..nasty_names.len()).map(stats_entry).collect::<Vec<_>>().join(","));
    let mut bodies = vec![(task, stats)];
    // A few generated cases, the same ones on every run.
    let mut runner = TestRunner::deterministic();
    let strategy = case(false);
    while bodies.len() < 9 {
        let c = strategy.new_tree(&mut runner).expect("generate a case").current();
        bodies.push((c.task, c.stats));
    }
    for (task, stats) in &bodies {
        let filter = Filter { include_internal: true, ..Filter::default() };
        let (snap, _) = pipeline(task.as_bytes(), stats.as_bytes(), &filter);
        let out = text(&snap, Format::Text);
        validate(&out, Format::Text, true).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let Some(msg) = promtool_check(&out) else {
            return;
        };
        assert!(msg.is_empty(), "promtool check metrics: {msg}\ntask: {task}\nstats: {stats}\n{out}");
    }
}

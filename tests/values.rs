//! The tricky values, checked against a hand computation from a real capture. Each assertion
//! carries the arithmetic in a comment; the inputs are quoted from the fixture named.

mod common;

use common::{pipeline, read, scrape_fixtures, synthetic_task_for};
use ecs_exporter::collect::Filter;
use ecs_exporter::metrics::Family as F;
use ecs_exporter::snapshot::{Snapshot, Value};

const FARGATE: (&str, &str) = ("ecs_exporter/fargate_task_metadata.json", "ecs_exporter/fargate_task_stats.json");
const EC2: (&str, &str) = ("ecs_exporter/ec2_task_metadata.json", "ecs_exporter/ec2_task_stats.json");

fn c(name: &str) -> [(&str, &str); 1] {
    [("container_name", name)]
}

fn fargate() -> Snapshot {
    scrape_fixtures(FARGATE.0, FARGATE.1)
}

fn ec2() -> Snapshot {
    scrape_fixtures(EC2.0, EC2.1)
}

#[test]
fn fargate_memory_limit_comes_from_the_task_not_the_unlimited_stats_limit() {
    let s = fargate();
    // Container Limits is {CPU: 2} (no Memory), task Limits.Memory = 512 MiB:
    // 512 × 1048576 = 536870912. The stats say limit 9223372036854771712 ("unlimited"): not used.
    assert_eq!(s.get(F::ContainerMemoryLimit, &c("prometheus")), Some(Value::U64(536_870_912)));
    assert_eq!(s.get(F::TaskMemoryLimit, &[]), Some(Value::U64(536_870_912)));
    // Task Limits.CPU = 0.25 vCPU.
    assert_eq!(s.get(F::TaskCpuLimit, &[]), Some(Value::F64(0.25)));
    // Container Limits.CPU = 2 is the agent's "unset": no reserved vCPUs series.
    assert_eq!(s.count(F::ContainerCpuReserved), 0);
}

#[test]
fn fargate_cgroup_v1_memory() {
    let s = fargate();
    // prometheus: usage 127934464, stats.total_inactive_file 52383744 →
    // working set = 127934464 − 52383744 = 75550720.
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("prometheus")), Some(Value::U64(75_550_720)));
    // usage as reported: 127934464.
    assert_eq!(s.get(F::ContainerMemoryUsage, &c("prometheus")), Some(Value::U64(127_934_464)));
    // rss = stats.total_rss 40820736; page cache = stats.total_cache 85426176.
    assert_eq!(s.get(F::ContainerMemoryRss, &c("prometheus")), Some(Value::U64(40_820_736)));
    assert_eq!(s.get(F::ContainerMemoryCache, &c("prometheus")), Some(Value::U64(85_426_176)));
    // max_usage 128557056 (cgroup v1 only).
    assert_eq!(s.get(F::ContainerMemoryMaxUsage, &c("prometheus")), Some(Value::U64(128_557_056)));
    // ecs-exporter: 84111360 − 39100416 = 45010944.
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("ecs-exporter")), Some(Value::U64(45_010_944)));
}

#[test]
fn fargate_cpu_in_seconds() {
    let s = fargate();
    // total_usage 932439492 ns / 1e9 = 0.932439492 s, exactly.
    assert_eq!(s.get(F::ContainerCpuUsage, &c("prometheus")), Some(Value::Nanos(932_439_492)));
    // usage_in_usermode 880000000 ns = 0.88 s; usage_in_kernelmode 120000000 ns = 0.12 s.
    assert_eq!(s.get(F::ContainerCpuUser, &c("prometheus")).map(Value::as_f64), Some(0.88));
    assert_eq!(s.get(F::ContainerCpuSystem, &c("prometheus")).map(Value::as_f64), Some(0.12));
}

#[test]
fn fargate_network_is_counted_once_per_interface_from_the_freshest_copy() {
    let s = fargate();
    // Both running containers report eth1 (task-level awsvpc namespace):
    //   prometheus   read 05:22:49.186680233  rx_bytes 129045374  tx_bytes 347839
    //   ecs-exporter read 05:22:49.406170373  rx_bytes 129046293  tx_bytes 348223
    // One series per interface, no container_name, from the later read (ecs-exporter).
    // Summing would give 258091667, twice the truth.
    assert_eq!(s.count(F::NetRxBytes), 1);
    let rx = s.find(F::NetRxBytes, &[("interface", "eth1")]).unwrap();
    assert!(rx.labels.iter().all(|(k, _)| *k != "container_name"));
    assert_eq!(rx.value, Value::U64(129_046_293));
    assert_eq!(s.get(F::NetTxBytes, &[("interface", "eth1")]), Some(Value::U64(348_223)));
    assert_eq!(s.get(F::NetRxPackets, &[("interface", "eth1")]), Some(Value::U64(88_938)));
    // network_rate_stats from the same (freshest) sample, one series, no labels.
    assert_eq!(s.count(F::NetRxRate), 1);
    assert_eq!(s.get(F::NetRxRate, &[]), Some(Value::F64(2556.879064581499)));
}

#[test]
fn fargate_block_io_sums_read_over_devices_and_ignores_other_ops() {
    let s = fargate();
    // prometheus io_service_bytes_recursive: Read 23793664 (259:1) + Read 65409024 (259:0)
    // = 89202688; Sync/Async/Discard/Total entries are not counted.
    assert_eq!(s.get(F::ContainerDiskReadBytes, &c("prometheus")), Some(Value::U64(89_202_688)));
    assert_eq!(s.get(F::ContainerDiskWriteBytes, &c("prometheus")), Some(Value::U64(0)));
    // io_serviced_recursive Read: 295 + 682 = 977.
    assert_eq!(s.get(F::ContainerDiskReads, &c("prometheus")), Some(Value::U64(977)));
}

#[test]
fn stopped_container_keeps_its_metadata_series_without_stats() {
    let s = fargate();
    // nonessential: KnownStatus STOPPED, ExitCode 0, stats entry null.
    assert_eq!(
        s.get(F::ContainerStatus, &[("container_name", "nonessential"), ("status", "STOPPED")]),
        Some(Value::U64(1))
    );
    assert_eq!(
        s.get(F::ContainerStatus, &[("container_name", "nonessential"), ("status", "RUNNING")]),
        Some(Value::U64(0))
    );
    assert_eq!(s.get(F::ContainerExitCode, &c("nonessential")), Some(Value::I64(0)));
    assert!(s.get(F::ContainerInfo, &c("nonessential")).is_some());
    // No stats: no usage series, never a 0 in their place.
    assert_eq!(s.get(F::ContainerCpuUsage, &c("nonessential")), None);
    assert_eq!(s.get(F::ContainerMemoryUsage, &c("nonessential")), None);
    // FinishedAt 2025-02-27T05:06:19.219711004Z: 20146 days × 86400 + 5×3600 + 6×60 + 19
    // = 1740632779 s, plus .219711004.
    assert_eq!(s.get(F::ContainerFinishedTime, &c("nonessential")), Some(Value::Nanos(1_740_632_779_219_711_004)));
}

#[test]
fn ec2_cgroup_v2_memory_and_cpu_units() {
    let s = ec2();
    // ecs-exporter (cgroup v2): usage 65249280, stats.inactive_file 17641472 →
    // working set = 65249280 − 17641472 = 47607808.
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("ecs-exporter")), Some(Value::U64(47_607_808)));
    // rss = stats.anon 37691392; page cache = stats.file 25296896 (not 0, as v1-only readers say).
    assert_eq!(s.get(F::ContainerMemoryRss, &c("ecs-exporter")), Some(Value::U64(37_691_392)));
    assert_eq!(s.get(F::ContainerMemoryCache, &c("ecs-exporter")), Some(Value::U64(25_296_896)));
    // No max_usage on cgroup v2: left out, not 0.
    assert_eq!(s.get(F::ContainerMemoryMaxUsage, &c("ecs-exporter")), None);
    // Limits {CPU: 128, Memory: 256}: 128 / 1024 = 0.125 vCPU (not 12800 %);
    // 256 × 1048576 = 268435456 bytes. No task Limits on EC2: no task series.
    assert_eq!(s.get(F::ContainerCpuReserved, &c("ecs-exporter")), Some(Value::F64(0.125)));
    assert_eq!(s.get(F::ContainerMemoryLimit, &c("ecs-exporter")), Some(Value::U64(268_435_456)));
    assert_eq!(s.get(F::TaskCpuLimit, &[]), None);
    assert_eq!(s.get(F::TaskMemoryLimit, &[]), None);
    // pids_stats.current 33.
    assert_eq!(s.get(F::ContainerPids, &c("ecs-exporter")), Some(Value::U64(33)));
    // Lowercase cgroup v2 blkio op "read": 60960768; io_serviced_recursive is null → no series.
    assert_eq!(s.get(F::ContainerDiskReadBytes, &c("ecs-exporter")), Some(Value::U64(60_960_768)));
    assert_eq!(s.get(F::ContainerDiskReads, &c("ecs-exporter")), None);
}

#[test]
fn ec2_bridge_network_is_per_container() {
    let s = ec2();
    // Bridge mode: each container has its own eth0; one series per container and interface.
    //   ecs-exporter rx_bytes 101869, prometheus rx_bytes 45368.
    assert_eq!(s.count(F::NetRxBytes), 2);
    assert_eq!(
        s.get(F::NetRxBytes, &[("container_name", "ecs-exporter"), ("interface", "eth0")]),
        Some(Value::U64(101_869))
    );
    assert_eq!(
        s.get(F::NetRxBytes, &[("container_name", "prometheus"), ("interface", "eth0")]),
        Some(Value::U64(45_368))
    );
    assert_eq!(s.get(F::NetRxRate, &c("prometheus")), Some(Value::F64(41.86697006225586)));
}

#[test]
fn ec2_stopped_container_with_empty_stats_object() {
    let s = ec2();
    // nonessential's stats entry is {} on the EC2 agent: metadata only.
    assert_eq!(s.get(F::ContainerExitCode, &c("nonessential")), Some(Value::I64(0)));
    assert_eq!(s.get(F::ContainerCpuUsage, &c("nonessential")), None);
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("nonessential")), None);
    assert_eq!(s.find(F::NetRxBytes, &c("nonessential")), None);
}

#[test]
fn managed_instances_u64_max_limit_is_ignored() {
    // memory_stats.limit = 18446744073709551615 (u64::MAX, beyond i64): it parses, and it is
    // never reported as a limit. The /task is synthesised (no limits), so no limit series at all.
    let stats = read("datadog-agent/v3or4/task_stats_empty_net_stats.json");
    let (s, report) = pipeline(&synthetic_task_for(&stats), &stats, &Filter::default());
    assert!(report.container_errors.is_empty());
    assert_eq!(s.count(F::ContainerMemoryLimit), 0);
    // managed-instances-app: usage 42827776 − inactive_file 6082560 = 36745216.
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("managed-instances-app")), Some(Value::U64(36_745_216)));
    // No networks key at all: no network series.
    assert_eq!(s.count(F::NetRxBytes), 0);
}

#[test]
fn windows_units() {
    let stats = read("datadog-integrations-core/stats_windows.json");
    let (s, _) = pipeline(&synthetic_task_for(&stats), &stats, &Filter::default());
    let dd = c("datadog-agent");
    // Windows CPU counters are in 100 ns units: 17031250000 × 100 ns = 1703.125 s.
    assert_eq!(s.get(F::ContainerCpuUsage, &dd), Some(Value::Nanos(1_703_125_000_000)));
    // 9265625000 × 100 ns = 926.5625 s in user mode.
    assert_eq!(s.get(F::ContainerCpuUser, &dd).map(Value::as_f64), Some(926.5625));
    // Working set = privateworkingset 140673024 (not usage 210485248).
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &dd), Some(Value::U64(140_673_024)));
    // blkio arrays are the string "None"; disk figures come from storage_stats.
    assert_eq!(s.get(F::ContainerDiskReadBytes, &dd), Some(Value::U64(248_714_240)));
    assert_eq!(s.get(F::ContainerDiskWrites, &dd), Some(Value::U64(774)));
    // The interface name has a space and is kept as is.
    assert_eq!(s.get(F::NetRxBytes, &[("interface", "Ethernet 3")]), Some(Value::U64(1_220_430_883)));
}

#[test]
fn legacy_network_key_and_valueless_blkio_entries() {
    let s = scrape_fixtures("telegraf/metadata.golden", "telegraf/stats.golden");
    // awsvpc: the pause container (not exported) owns the namespace and reports eth0 + eth5;
    // nginx has only the legacy "network": {}. eth0 rx_bytes 5338, eth5 rx_bytes 4641.
    assert_eq!(s.get(F::NetRxBytes, &[("interface", "eth0")]), Some(Value::U64(5338)));
    assert_eq!(s.get(F::NetRxBytes, &[("interface", "eth5")]), Some(Value::U64(4641)));
    // The pause container (Type CNI_PAUSE) is left out by default.
    assert_eq!(s.find(F::ContainerInfo, &c("~internal~ecs~pause")), None);
    // "Write" entries without a value count 0 (Docker omits zeros): the series is 0, not absent.
    assert_eq!(s.get(F::ContainerDiskWriteBytes, &c("nginx")), Some(Value::U64(0)));
}

#[test]
fn bridge_task_with_two_interfaces_on_one_container() {
    let s = scrape_fixtures("otel-contrib/task_metadata.json", "otel-contrib/task_stats.json");
    // No LaunchType, NetworkMode bridge: per container. nginx300 has eth0 and eth1.
    assert_eq!(s.count(F::NetRxBytes), 4);
    assert!(s.get(F::NetRxBytes, &[("container_name", "nginx300"), ("interface", "eth1")]).is_some());
    // Container Limits {CPU: 0, Memory: 128}: 128 MiB = 134217728 bytes; CPU 0 → no series.
    assert_eq!(s.get(F::ContainerMemoryLimit, &c("nginx300")), Some(Value::U64(134_217_728)));
    assert_eq!(s.count(F::ContainerCpuReserved), 0);
}

#[test]
fn include_and_exclude_filters() {
    let exclude = regex_lite::Regex::new("^ecs-").unwrap();
    let filter = Filter { exclude: Some(exclude), ..Filter::default() };
    let (s, _) = pipeline(&read(FARGATE.0), &read(FARGATE.1), &filter);
    assert_eq!(s.find(F::ContainerInfo, &c("ecs-exporter")), None);
    assert!(s.find(F::ContainerInfo, &c("prometheus")).is_some());
    // The shared namespace is still reported from the freshest sample, excluded or not.
    assert_eq!(s.get(F::NetRxBytes, &[("interface", "eth1")]), Some(Value::U64(129_046_293)));
    let include = regex_lite::Regex::new("^prom").unwrap();
    let filter = Filter { include: Some(include.clone()), exclude: Some(include), ..Filter::default() };
    let (s, _) = pipeline(&read(FARGATE.0), &read(FARGATE.1), &filter);
    // Exclude wins over include.
    assert_eq!(s.count(F::ContainerInfo), 0);
}

#[test]
fn a_malformed_container_does_not_hide_the_others() {
    // Test input made here from the Fargate capture: ecs-exporter's stats replaced by a number,
    // prometheus' memory usage replaced by a string.
    let mut stats: serde_json::Value = serde_json::from_slice(&read(FARGATE.1)).unwrap();
    let m = stats.as_object_mut().unwrap();
    m.insert("bae32def0ab64f06818e8862e58f8d6d-4159844948".into(), serde_json::json!(42));
    m["bae32def0ab64f06818e8862e58f8d6d-1819985369"]["memory_stats"]["usage"] = "lots".into();
    let (s, report) = pipeline(&read(FARGATE.0), &serde_json::to_vec(&stats).unwrap(), &Filter::default());
    assert_eq!(report.container_errors.len(), 1);
    // ecs-exporter keeps its metadata series; its stats series are gone.
    assert!(s.find(F::ContainerInfo, &c("ecs-exporter")).is_some());
    assert_eq!(s.get(F::ContainerCpuUsage, &c("ecs-exporter")), None);
    // prometheus keeps everything but the usage and what derives from it.
    assert_eq!(s.get(F::ContainerMemoryUsage, &c("prometheus")), None);
    assert_eq!(s.get(F::ContainerMemoryWorkingSet, &c("prometheus")), None);
    assert_eq!(s.get(F::ContainerMemoryRss, &c("prometheus")), Some(Value::U64(40_820_736)));
    assert_eq!(s.get(F::ContainerCpuUsage, &c("prometheus")), Some(Value::Nanos(932_439_492)));
}

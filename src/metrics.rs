//! The metric families: one table holding every family's name, help, type, unit, labels and
//! source field. Collectors refer to families by [`Family`]; encoders and `docs/metrics.md` read
//! their definitions from [`Family::def`]. Names here are public API (see the contract).

/// How a family is typed in the exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that can go up and down.
    Gauge,
    /// A monotonic counter; its name ends in `_total`.
    Counter,
    /// An info metric (value 1, identity in labels); its name ends in `_info`. Typed `gauge` in
    /// text 0.0.4 and `info` in OpenMetrics.
    Info,
    /// A state set: one series per state, the current one 1. Typed `gauge` in both formats.
    StateSet,
}

impl Kind {
    /// The word used in the documentation.
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Info => "info (gauge, 1)",
            Kind::StateSet => "state set (gauge)",
        }
    }
}

/// The definition of one metric family.
#[derive(Debug, Clone, Copy)]
pub struct FamilyDef {
    /// Full sample name (with `_total` for counters, `_info` for info metrics).
    pub name: &'static str,
    /// The HELP text.
    pub help: &'static str,
    /// The type.
    pub kind: Kind,
    /// The base unit (`bytes`, `seconds`) the name ends with, or `""`.
    pub unit: &'static str,
    /// Label names, in the order they are written.
    pub labels: &'static [&'static str],
    /// Where the value comes from.
    pub source: &'static str,
    /// The section of the documentation.
    pub group: Group,
}

/// Sections of the metric documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The host (host mode only).
    Instance,
    /// Task-level metrics.
    Task,
    /// Per-container metrics.
    Container,
    /// Network metrics.
    Network,
    /// The exporter itself.
    Exporter,
}

macro_rules! families {
    ($( $(#[$doc:meta])* $id:ident => ($group:ident, $name:literal, $kind:ident, $unit:literal, [$($label:literal),*], $source:literal, $help:literal), )*) => {
        /// Every metric family the exporter can emit, in exposition order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Family { $( $(#[$doc])* $id, )* }

        /// All definitions, indexed by `Family as usize`.
        pub const FAMILIES: &[FamilyDef] = &[ $( FamilyDef {
            name: $name, help: $help, kind: Kind::$kind, unit: $unit,
            labels: &[$($label),*], source: $source, group: Group::$group,
        }, )* ];

        /// Every family, in exposition order.
        pub const ALL: &[Family] = &[ $( Family::$id, )* ];
    };
}

impl Family {
    /// This family's definition.
    pub fn def(self) -> &'static FamilyDef {
        &FAMILIES[self as usize]
    }
}

families! {
    /// Host identity (host mode).
    InstanceInfo => (Instance, "ecs_instance_info", Info, "", ["cluster", "container_instance_arn", "agent_version"], "agent `/v1/metadata` (`ec2`); the tasks' cluster (`managed-daemon`, `docker`)", "The host in host mode: cluster, container instance ARN and ECS agent version, as far as the source knows them; value 1."),
    /// Task identity.
    TaskInfo => (Task, "ecs_task_metadata_info", Info, "", ["cluster", "task_arn", "family", "revision", "launch_type", "availability_zone", "desired_status", "known_status", "service_name", "task_id"], "`/task` (`ServiceName`: agent 1.63.1 and later; `task_id`: the last part of `TaskARN`)", "ECS task metadata: cluster, ARN, family, revision, launch type, availability zone, statuses, service name and task id (as the console and the logs show it; empty when unknown); value 1."),
    TaskTags => (Task, "ecs_task_tags", Gauge, "", ["tag_<key>"], "`/taskWithTags` `TaskTags`, with `--metadata.task-tags`", "The task's tags allowed by --metadata.task-tags, one label `tag_<key>` each (keys sanitised to [a-zA-Z0-9_]; on a collision the first key in byte order wins; empty values left out); value 1. Opt-in."),
    TaskCpuLimit => (Task, "ecs_task_cpu_limit_vcpus", Gauge, "", [], "`Limits.CPU` (vCPUs)", "Task CPU limit in vCPUs (1 vCPU = 1024 CPU units); absent when the task sets none."),
    TaskMemoryLimit => (Task, "ecs_task_memory_limit_bytes", Gauge, "bytes", [], "`Limits.Memory` (MiB) × 1048576", "Task memory limit in bytes; absent when the task sets none."),
    TaskEphemeralUsed => (Task, "ecs_task_ephemeral_storage_used_bytes", Gauge, "bytes", [], "`EphemeralStorageMetrics.Utilized` (MiB) × 1048576", "Fargate ephemeral storage in use, in bytes."),
    TaskEphemeralAllocated => (Task, "ecs_task_ephemeral_storage_allocated_bytes", Gauge, "bytes", [], "`EphemeralStorageMetrics.Reserved` (MiB) × 1048576", "Fargate ephemeral storage allocated to the task, in bytes."),
    TaskPullStart => (Task, "ecs_task_image_pull_start_timestamp_seconds", Gauge, "seconds", [], "`PullStartedAt`", "Time the task started pulling its container images, in seconds since the epoch."),
    TaskPullStop => (Task, "ecs_task_image_pull_stop_timestamp_seconds", Gauge, "seconds", [], "`PullStoppedAt`", "Time the task finished pulling its container images, in seconds since the epoch."),

    ContainerInfo => (Container, "ecs_container_info", Info, "", ["container_name", "container_id", "image", "image_id"], "`/task` `Containers[]`: `DockerId`, `Image`, `ImageID`", "Container identity: Docker id, image and image id; value 1."),
    ContainerStatus => (Container, "ecs_container_status", StateSet, "", ["container_name", "status"], "`KnownStatus`", "Container known status: one series per status (PENDING, PULLED, CREATED, RUNNING, RESOURCES_PROVISIONED, STOPPED), the current one 1."),
    ContainerRestarts => (Container, "ecs_container_restarts_total", Counter, "", ["container_name"], "`RestartCount`", "Times the ECS agent restarted the container (restart policy)."),
    ContainerExitCode => (Container, "ecs_container_exit_code", Gauge, "", ["container_name"], "`ExitCode`", "Exit code of the container, once it has exited."),
    ContainerHealth => (Container, "ecs_container_health_status", StateSet, "", ["container_name", "status"], "`Health.status`", "Container health check status: one series per status (HEALTHY, UNHEALTHY, UNKNOWN), the current one 1; only for containers with a health check."),
    ContainerStartTime => (Container, "ecs_container_start_time_seconds", Gauge, "seconds", ["container_name"], "`StartedAt`", "Time the container started, in seconds since the epoch."),
    ContainerFinishedTime => (Container, "ecs_container_finished_time_seconds", Gauge, "seconds", ["container_name"], "`FinishedAt`", "Time the container finished, in seconds since the epoch."),
    ContainerLabels => (Container, "ecs_container_labels", Gauge, "", ["container_name", "label_<key>"], "the container's Docker `Labels`, with `--container.labels`", "The container's Docker labels allowed by --container.labels, one label `label_<key>` each (sanitised like the task tags); value 1. Opt-in."),
    ContainerCpuReserved => (Container, "ecs_container_cpu_reserved_vcpus", Gauge, "", ["container_name"], "container `Limits.CPU` (CPU units) / 1024, when > 2", "CPU reserved for the container in vCPUs (its CPU units / 1024); absent when unset."),
    ContainerCpuLimit => (Container, "ecs_container_cpu_limit_vcpus", Gauge, "", ["container_name"], "host mode: Docker `HostConfig.NanoCpus` / 1e9, else `CpuQuota` / `CpuPeriod`", "Hard CPU limit of the container in vCPUs (CFS quota, `docker run --cpus`); absent when unlimited, and in sidecar mode (the metadata endpoint does not tell it)."),
    ContainerMemoryLimit => (Container, "ecs_container_memory_limit_bytes", Gauge, "bytes", ["container_name"], "container `Limits.Memory` (MiB) × 1048576 when > 0, else the task's", "Memory limit of the container in bytes: its own hard limit from the task definition, else the task's."),
    ContainerStatsRead => (Container, "ecs_container_stats_read_timestamp_seconds", Gauge, "seconds", ["container_name"], "the stats' `read` (RFC 3339)", "When the container's stats were sampled, in seconds since the epoch (the metadata endpoint caches them: on Fargate they may be seconds older than the scrape); absent for Docker's zero time."),
    ContainerCpuUsage => (Container, "ecs_container_cpu_usage_seconds_total", Counter, "seconds", ["container_name"], "`cpu_stats.cpu_usage.total_usage` (ns; Windows 100 ns)", "CPU time consumed by the container, in seconds."),
    ContainerCpuUser => (Container, "ecs_container_cpu_user_seconds_total", Counter, "seconds", ["container_name"], "`cpu_stats.cpu_usage.usage_in_usermode`", "CPU time consumed by the container in user mode, in seconds."),
    ContainerCpuSystem => (Container, "ecs_container_cpu_system_seconds_total", Counter, "seconds", ["container_name"], "`cpu_stats.cpu_usage.usage_in_kernelmode`", "CPU time consumed by the container in kernel mode, in seconds."),
    ContainerPerCpu => (Container, "ecs_container_per_cpu_usage_seconds_total", Counter, "seconds", ["container_name", "cpu"], "`cpu_stats.cpu_usage.percpu_usage[i]` (cgroup v1), with `--container.per-cpu`", "CPU time consumed by the container on each host CPU (`cpu` is its index), in seconds; absent on cgroup v2. Opt-in."),
    ContainerCfsPeriods => (Container, "ecs_container_cpu_cfs_periods_total", Counter, "", ["container_name"], "`cpu_stats.throttling_data.periods`", "CFS enforcement periods elapsed."),
    ContainerCfsThrottledPeriods => (Container, "ecs_container_cpu_cfs_throttled_periods_total", Counter, "", ["container_name"], "`cpu_stats.throttling_data.throttled_periods`", "CFS periods in which the container was throttled."),
    ContainerCfsThrottledTime => (Container, "ecs_container_cpu_cfs_throttled_seconds_total", Counter, "seconds", ["container_name"], "`cpu_stats.throttling_data.throttled_time` (ns)", "Time the container was throttled by CFS, in seconds."),
    ContainerMemoryUsage => (Container, "ecs_container_memory_usage_bytes", Gauge, "bytes", ["container_name"], "`memory_stats.usage`", "Memory usage of the container in bytes, as the kernel reports it (includes page cache)."),
    ContainerMemoryWorkingSet => (Container, "ecs_container_memory_working_set_bytes", Gauge, "bytes", ["container_name"], "`usage` − `stats.total_inactive_file` (cgroup v1) or − `stats.inactive_file` (v2), ≥ 0; Windows `privateworkingset`", "Working set of the container in bytes: usage less inactive page cache, what the OOM killer looks at."),
    ContainerMemoryRss => (Container, "ecs_container_memory_rss_bytes", Gauge, "bytes", ["container_name"], "v1 `stats.total_rss` (else `rss`); v2 `stats.anon`", "Anonymous (RSS) memory of the container in bytes."),
    ContainerMemoryCache => (Container, "ecs_container_memory_page_cache_size_bytes", Gauge, "bytes", ["container_name"], "v1 `stats.total_cache` (else `cache`); v2 `stats.file`", "Page cache of the container in bytes."),
    ContainerMemoryMaxUsage => (Container, "ecs_container_memory_max_usage_bytes", Gauge, "bytes", ["container_name"], "`memory_stats.max_usage` (cgroup v1)", "Highest memory usage recorded for the container, in bytes."),
    ContainerPids => (Container, "ecs_container_pids", Gauge, "", ["container_name"], "`pids_stats.current`", "Processes and threads in the container."),
    ContainerDiskReadBytes => (Container, "ecs_container_disk_read_bytes_total", Counter, "bytes", ["container_name"], "`blkio_stats.io_service_bytes_recursive` op `read` (any case), summed over devices; Windows `storage_stats.read_size_bytes`", "Bytes read from block devices by the container."),
    ContainerDiskWriteBytes => (Container, "ecs_container_disk_write_bytes_total", Counter, "bytes", ["container_name"], "`blkio_stats.io_service_bytes_recursive` op `write` (any case), summed over devices; Windows `storage_stats.write_size_bytes`", "Bytes written to block devices by the container."),
    ContainerDiskReads => (Container, "ecs_container_disk_reads_total", Counter, "", ["container_name"], "`blkio_stats.io_serviced_recursive` op `read`, summed over devices; Windows `storage_stats.read_count_normalized`", "Read operations on block devices by the container."),
    ContainerDiskWrites => (Container, "ecs_container_disk_writes_total", Counter, "", ["container_name"], "`blkio_stats.io_serviced_recursive` op `write`, summed over devices; Windows `storage_stats.write_count_normalized`", "Write operations on block devices by the container."),

    NetRxBytes => (Network, "ecs_network_receive_bytes_total", Counter, "bytes", ["container_name", "interface"], "`networks[iface].rx_bytes`", "Bytes received on the interface."),
    NetTxBytes => (Network, "ecs_network_transmit_bytes_total", Counter, "bytes", ["container_name", "interface"], "`networks[iface].tx_bytes`", "Bytes transmitted on the interface."),
    NetRxPackets => (Network, "ecs_network_receive_packets_total", Counter, "", ["container_name", "interface"], "`networks[iface].rx_packets`", "Packets received on the interface."),
    NetTxPackets => (Network, "ecs_network_transmit_packets_total", Counter, "", ["container_name", "interface"], "`networks[iface].tx_packets`", "Packets transmitted on the interface."),
    NetRxErrors => (Network, "ecs_network_receive_errors_total", Counter, "", ["container_name", "interface"], "`networks[iface].rx_errors`", "Receive errors on the interface."),
    NetTxErrors => (Network, "ecs_network_transmit_errors_total", Counter, "", ["container_name", "interface"], "`networks[iface].tx_errors`", "Transmit errors on the interface."),
    NetRxDropped => (Network, "ecs_network_receive_packets_dropped_total", Counter, "", ["container_name", "interface"], "`networks[iface].rx_dropped`", "Received packets dropped on the interface."),
    NetTxDropped => (Network, "ecs_network_transmit_packets_dropped_total", Counter, "", ["container_name", "interface"], "`networks[iface].tx_dropped`", "Transmitted packets dropped on the interface."),
    NetRxRate => (Network, "ecs_network_receive_bytes_per_second", Gauge, "", ["container_name"], "`network_rate_stats.rx_bytes_per_sec`", "Receive rate of the network namespace in bytes per second, as computed by the ECS agent."),
    NetTxRate => (Network, "ecs_network_transmit_bytes_per_second", Gauge, "", ["container_name"], "`network_rate_stats.tx_bytes_per_sec`", "Transmit rate of the network namespace in bytes per second, as computed by the ECS agent."),

    ExporterUp => (Exporter, "ecs_exporter_up", Gauge, "", [], "this scrape", "1 when this scrape read and parsed its upstream (sidecar: the task metadata and stats; host mode: the task and container lists), else 0."),
    ExporterScrapeDuration => (Exporter, "ecs_exporter_scrape_duration_seconds", Gauge, "seconds", [], "this scrape", "Time this scrape spent collecting, in seconds."),
    ExporterUpstreamRequests => (Exporter, "ecs_exporter_upstream_requests_total", Counter, "", ["path", "outcome"], "the upstream clients", "Requests to the upstream (task metadata endpoint, agent introspection API, Docker Engine API) by path and outcome (ok, http_error, timeout, invalid, connect_error)."),
    ExporterContainerErrors => (Exporter, "ecs_exporter_container_parse_errors", Gauge, "", [], "this scrape", "Containers whose metadata or stats entry could not be used in the data behind this scrape (unparseable, or a second container of the same name); the other containers are exported."),
    ExporterTaskTagErrors => (Exporter, "ecs_exporter_task_tags_errors_total", Counter, "", [], "`/taskWithTags`, with `--metadata.task-tags`", "Reads of the task's tags that failed: `/taskWithTags` answered an error, or its `Errors` says the tags could not be fetched (the task role lacks `ecs:ListTagsForResource`); the task's other series are exported."),
    ExporterBuildInfo => (Exporter, "ecs_exporter_build_info", Info, "", ["version", "revision"], "the binary", "Build information of the exporter; value 1."),
    ExporterStatsdDatagrams => (Exporter, "ecs_exporter_statsd_datagrams_total", Counter, "", [], "the StatsD push (`--statsd.address`)", "UDP datagrams sent to the StatsD server."),
    ExporterStatsdBytes => (Exporter, "ecs_exporter_statsd_bytes_total", Counter, "bytes", [], "the StatsD push", "Bytes sent to the StatsD server (UDP payload)."),
    ExporterStatsdErrors => (Exporter, "ecs_exporter_statsd_send_errors_total", Counter, "", [], "the StatsD push", "Pushes or datagrams that failed: the address did not resolve, or a send failed (for example ICMP port unreachable)."),
    ExporterStatsdLastPush => (Exporter, "ecs_exporter_statsd_last_push_timestamp_seconds", Gauge, "seconds", [], "the StatsD push", "When the last push was sent in full, in seconds since the epoch; absent before the first."),
    ProcessCpu => (Exporter, "process_cpu_seconds_total", Counter, "seconds", [], "`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: user + system", "Total user and system CPU time spent in seconds."),
    ProcessResident => (Exporter, "process_resident_memory_bytes", Gauge, "bytes", [], "`/proc/self/statm` resident × page size", "Resident memory size in bytes."),
    ProcessVirtual => (Exporter, "process_virtual_memory_bytes", Gauge, "bytes", [], "`/proc/self/statm` size × page size", "Virtual memory size in bytes."),
    ProcessStartTime => (Exporter, "process_start_time_seconds", Gauge, "seconds", [], "`/proc/self/stat`, `/proc/stat`", "Start time of the process since unix epoch in seconds."),
    ProcessOpenFds => (Exporter, "process_open_fds", Gauge, "", [], "`/proc/self/fd`: its size (Linux ≥ 6.2), else its entries", "Number of open file descriptors."),
    ProcessMaxFds => (Exporter, "process_max_fds", Gauge, "", [], "`getrlimit(RLIMIT_NOFILE)`", "Maximum number of open file descriptors."),
}

/// The statuses of `ecs_container_status`, in the order they are written.
pub const CONTAINER_STATUSES: &[&str] =
    &["PENDING", "PULLED", "CREATED", "RUNNING", "RESOURCES_PROVISIONED", "STOPPED"];

/// The statuses of `ecs_container_health_status`, in the order they are written.
pub const HEALTH_STATUSES: &[&str] = &["HEALTHY", "UNHEALTHY", "UNKNOWN"];

/// The outcomes of `ecs_exporter_upstream_requests_total`.
pub const OUTCOMES: &[&str] = &["ok", "http_error", "timeout", "invalid", "connect_error"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert_eq!(FAMILIES.len(), ALL.len());
        let mut names = std::collections::HashSet::new();
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            let d = f.def();
            assert!(names.insert(d.name), "duplicate {}", d.name);
            match d.kind {
                Kind::Counter => assert!(d.name.ends_with("_total"), "{}", d.name),
                Kind::Info => assert!(d.name.ends_with("_info"), "{}", d.name),
                _ => assert!(!d.name.ends_with("_total"), "{}", d.name),
            }
            if !d.unit.is_empty() {
                let base = d.name.strip_suffix("_total").unwrap_or(d.name);
                assert!(base.ends_with(&format!("_{}", d.unit)), "{} unit {}", d.name, d.unit);
            }
            assert!(d.help.ends_with('.'), "{}", d.name);
        }
    }
}

//! Typed model of the TMDS v4 (and v3) `/task` and `/task/stats` bodies.
//!
//! Every leaf is optional and lenient (see [`super::lenient`]), every nested object reads as
//! absent when it is not an object, and structs skip unknown keys and keep the last of
//! duplicated ones (`lenient_struct!`). Parsing therefore fails only on a body that is not
//! JSON (or not an object); a container entry that is not an object, or that holds a number
//! out of range, becomes one error next to the others, all in a single pass
//! ([`super::json`]). Field names mirror the JSON exactly. Integers stay integers ([`Num`]).

use super::json::{self, FromJson, Reader};
use super::lenient::{confined, lenient_struct, Deferred, Entry, List, Num, Obj, Objects, Str};
use std::collections::BTreeMap;
use std::sync::Arc;

lenient_struct! {
    /// `/task`: the task and its containers.
    pub struct TaskDoc {
        "Cluster" => cluster: Str,
        "TaskARN" => task_arn: Str,
        "Family" => family: Str,
        "Revision" => revision: Str,
        "DesiredStatus" => desired_status: Str,
        "KnownStatus" => known_status: Str,
        "LaunchType" => launch_type: Str,
        "AvailabilityZone" => availability_zone: Str,
        "Limits" => limits: Obj<Limits>,
        "PullStartedAt" => pull_started_at: Str,
        "PullStoppedAt" => pull_stopped_at: Str,
        "EphemeralStorageMetrics" => ephemeral_storage_metrics: Obj<EphemeralStorage>,
        /// Agent 1.63.1 and later, for tasks of a service.
        "ServiceName" => service_name: Str,
        /// `/taskWithTags` only.
        "TaskTags" => task_tags: Deferred<BTreeMap<String, Str>>,
        /// `/taskWithTags`: what the agent could not fetch (the tags, when the task role lacks
        /// `ecs:ListTagsForResource`).
        "Errors" => errors: Objects<MetadataError>,
        /// Parsed in the document's one pass; moved into [`Task::containers`].
        "Containers" => containers: Containers,
    }
}

/// `Containers` of `/task`, each container or why it is not usable (not an object, or a
/// number out of range in it).
#[derive(Debug, Default)]
pub struct Containers(pub Vec<Result<Container, String>>);

impl FromJson for Containers {
    fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        let mut out = Vec::new();
        if r.peek()? == b'[' {
            r.array(|r| {
                out.push(match confined::<Container>(r)? {
                    Ok(Entry::Value(c)) => Ok(c),
                    Ok(Entry::Null | Entry::NotObject) => Err(NOT_OBJECT.to_owned()),
                    Err(why) => Err(why),
                });
                Ok(())
            })?;
        } else {
            r.skip()?;
        }
        Ok(Containers(out))
    }
}

/// `/task` with its containers checked: the task fields, and each container or why it is not
/// usable.
#[derive(Debug, Default)]
pub struct Task {
    /// The task-level fields (its `containers` list is moved into [`Task::containers`]).
    pub doc: TaskDoc,
    /// The containers in order; `Err` holds why one could not be read.
    pub containers: Vec<Result<Container, String>>,
    /// Containers of a plain Docker host that belong to no ECS task: there is no task to
    /// describe, so no task series.
    pub standalone: bool,
}

impl std::ops::Deref for Task {
    type Target = TaskDoc;
    fn deref(&self) -> &TaskDoc {
        &self.doc
    }
}

lenient_struct! {
    /// Limits as written by the agent (units depend on the level: see the contract).
    pub struct Limits {
        "CPU" => cpu: Num,
        "Memory" => memory: Num,
    }
}

lenient_struct! {
    /// Fargate's ephemeral storage figures, in MiB.
    pub struct EphemeralStorage {
        "Utilized" => utilized: Num,
        "Reserved" => reserved: Num,
    }
}

lenient_struct! {
    /// One entry of `/task` `Containers[]`.
    pub struct Container {
        "DockerId" => docker_id: Str,
        "Name" => name: Str,
        "Image" => image: Str,
        "ImageID" => image_id: Str,
        "KnownStatus" => known_status: Str,
        "DesiredStatus" => desired_status: Str,
        /// `NORMAL`, `CNI_PAUSE`, ...; absent is treated as `NORMAL`.
        "Type" => kind: Str,
        "ExitCode" => exit_code: Num,
        "RestartCount" => restart_count: Num,
        "StartedAt" => started_at: Str,
        "FinishedAt" => finished_at: Str,
        "Limits" => limits: Obj<Limits>,
        "Health" => health: Obj<Health>,
        "Networks" => networks: Objects<Network>,
        /// Docker labels.
        "Labels" => labels: Deferred<BTreeMap<String, Str>>,
    }
    extra {
        /// The hard CPU limit in vCPUs (Docker's `--cpus` or CFS quota), known in host mode
        /// only: the task metadata endpoint does not tell it.
        cpu_limit_vcpus: Option<f64>,
    }
}

lenient_struct! {
    /// A container's health check state.
    pub struct Health {
        "status" => status: Str,
    }
}

lenient_struct! {
    /// A network attachment of a container.
    pub struct Network {
        "NetworkMode" => network_mode: Str,
    }
}

/// Why a body could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON, or is truncated (or a number out of range outside any container).
    #[error("invalid JSON: {0}")]
    Json(#[from] json::Error),
    /// The body is JSON but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// The body is JSON but not an array.
    #[error("not a JSON array")]
    NotArray,
}

const NOT_OBJECT: &str = "not a JSON object";

impl Task {
    /// Parse a `/task` body. Fails only when the body is not a JSON object; a container that is
    /// not an object is kept as an `Err`.
    pub fn parse(body: &[u8]) -> Result<Task, ParseError> {
        Task::parse_str(&super::text(body))
    }

    /// [`Task::parse`] of a body already known to be text (a part of one checked whole).
    pub fn parse_str(body: &str) -> Result<Task, ParseError> {
        match json::from_str::<Obj<TaskDoc>>(body)? {
            Obj(Some(mut doc)) => {
                let containers = std::mem::take(&mut doc.containers).0;
                Ok(Task { doc, containers, standalone: false })
            }
            Obj(None) => Err(ParseError::NotObject),
        }
    }
}

/// `/task/stats`: Docker stats per container, keyed by Docker id.
#[derive(Debug, Default)]
pub struct TaskStats {
    /// Docker id → stats; `None` for `null` (no sample yet, or stopped); `Err` for an entry
    /// that is not an object.
    pub containers: BTreeMap<Arc<str>, Result<Option<Stats>, String>>,
}

impl TaskStats {
    /// Parse a `/task/stats` body: a JSON object of Docker id to stats (or `null`).
    ///
    /// One pass over the body; an entry that is not an object, or holds a number out of range,
    /// is an error of its own beside the others.
    pub fn parse(body: &[u8]) -> Result<TaskStats, ParseError> {
        TaskStats::parse_str(&super::text(body))
    }

    /// [`TaskStats::parse`] of a body already known to be text (a part of one checked whole).
    pub fn parse_str(text: &str) -> Result<TaskStats, ParseError> {
        let mut r = Reader::new(text);
        if r.peek()? != b'{' {
            r.skip()?;
            r.finish()?;
            return Err(ParseError::NotObject);
        }
        let mut containers = BTreeMap::new();
        r.object(|r, id| {
            let entry = match confined::<Stats>(r)? {
                Ok(Entry::Value(s)) => Ok(Some(s)),
                Ok(Entry::Null) => Ok(None),
                Ok(Entry::NotObject) => Err(NOT_OBJECT.to_owned()),
                Err(why) => Err(why),
            };
            containers.insert(Arc::from(&*id), entry);
            Ok(())
        })?;
        r.finish()?;
        Ok(TaskStats { containers })
    }
}

lenient_struct! {
    /// Docker Engine stats of one container, as relayed by the ECS agent.
    pub struct Stats {
        /// RFC 3339 time of the sample.
        "read" => read: Str,
        /// `windows` or `linux` on daemons that fill it in (v29+).
        "os_type" => os_type: Str,
        "num_procs" => num_procs: Num,
        "cpu_stats" => cpu_stats: Obj<CpuStats>,
        "memory_stats" => memory_stats: Obj<MemoryStats>,
        "pids_stats" => pids_stats: Obj<PidsStats>,
        "blkio_stats" => blkio_stats: Obj<BlkioStats>,
        "storage_stats" => storage_stats: Obj<StorageStats>,
        /// Interface name → counters; an entry that is not an object reads as `None`.
        "networks" => networks: Obj<BTreeMap<String, Obj<NetworkStats>>>,
        "network_rate_stats" => network_rate_stats: Obj<NetworkRateStats>,
    }
}

lenient_struct! {
    /// `cpu_stats`.
    pub struct CpuStats {
        "cpu_usage" => cpu_usage: Obj<CpuUsage>,
        "system_cpu_usage" => system_cpu_usage: Num,
        "online_cpus" => online_cpus: Num,
        "throttling_data" => throttling_data: Obj<Throttling>,
    }
}

lenient_struct! {
    /// One entry of `Errors` in `/taskWithTags`.
    pub struct MetadataError {
        "ErrorField" => field: Str,
        "ErrorCode" => code: Str,
        "ErrorMessage" => message: Str,
        "StatusCode" => status: Num,
    }
}

lenient_struct! {
    /// `cpu_stats.cpu_usage`: nanoseconds on Linux, 100 ns units on Windows.
    pub struct CpuUsage {
        "total_usage" => total_usage: Num,
        "usage_in_kernelmode" => usage_in_kernelmode: Num,
        "usage_in_usermode" => usage_in_usermode: Num,
        /// cgroup v1 only.
        "percpu_usage" => percpu_usage: List<Num>,
    }
}

lenient_struct! {
    /// `cpu_stats.throttling_data` (CFS).
    pub struct Throttling {
        "periods" => periods: Num,
        "throttled_periods" => throttled_periods: Num,
        "throttled_time" => throttled_time: Num,
    }
}

lenient_struct! {
    /// `memory_stats`.
    pub struct MemoryStats {
        "usage" => usage: Num,
        "max_usage" => max_usage: Num,
        "limit" => limit: Num,
        /// cgroup counters: v1 (`total_*`, `cache`, `rss`) or v2 (`anon`, `file`, `inactive_file`).
        "stats" => stats: Obj<CgroupMemory>,
        /// Windows only.
        "privateworkingset" => privateworkingset: Num,
        "commitbytes" => commitbytes: Num,
    }
}

lenient_struct! {
    /// The cgroup counters of `memory_stats.stats` that the metrics use.
    pub struct CgroupMemory {
        /// cgroup v1, hierarchical.
        "total_inactive_file" => total_inactive_file: Num,
        "total_rss" => total_rss: Num,
        "total_cache" => total_cache: Num,
        /// cgroup v1, this cgroup only.
        "rss" => rss: Num,
        "cache" => cache: Num,
        /// cgroup v2 (and v1's non-hierarchical `inactive_file`).
        "inactive_file" => inactive_file: Num,
        "anon" => anon: Num,
        "file" => file: Num,
    }
}

lenient_struct! {
    /// `pids_stats`.
    pub struct PidsStats {
        "current" => current: Num,
    }
}

lenient_struct! {
    /// `blkio_stats`; arrays may be `null`, `[]` or `"None"`.
    pub struct BlkioStats {
        "io_service_bytes_recursive" => io_service_bytes_recursive: Objects<BlkioEntry>,
        "io_serviced_recursive" => io_serviced_recursive: Objects<BlkioEntry>,
    }
}

lenient_struct! {
    /// One device/op entry; `value` is omitted when zero in some captures.
    pub struct BlkioEntry {
        "op" => op: Op,
        "value" => value: Num,
    }
}

/// The `op` of a block I/O entry, of those the metrics sum (any case: cgroup v1 writes `Read`,
/// v2 `read`); read without allocating, as each container has a dozen entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Op {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// Another op (`Sync`, `Async`, `Discard`, `Total`), or not a string.
    #[default]
    Other,
}

impl FromJson for Op {
    fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        super::lenient::word(r, |o| {
            if o.eq_ignore_ascii_case("read") {
                Op::Read
            } else if o.eq_ignore_ascii_case("write") {
                Op::Write
            } else {
                Op::Other
            }
        })
    }
}

lenient_struct! {
    /// Windows `storage_stats`.
    pub struct StorageStats {
        "read_count_normalized" => read_count_normalized: Num,
        "read_size_bytes" => read_size_bytes: Num,
        "write_count_normalized" => write_count_normalized: Num,
        "write_size_bytes" => write_size_bytes: Num,
    }
}

lenient_struct! {
    /// Counters of one network interface.
    pub struct NetworkStats {
        "rx_bytes" => rx_bytes: Num,
        "rx_packets" => rx_packets: Num,
        "rx_errors" => rx_errors: Num,
        "rx_dropped" => rx_dropped: Num,
        "tx_bytes" => tx_bytes: Num,
        "tx_packets" => tx_packets: Num,
        "tx_errors" => tx_errors: Num,
        "tx_dropped" => tx_dropped: Num,
    }
}

lenient_struct! {
    /// v4 `network_rate_stats`: one figure per network namespace.
    pub struct NetworkRateStats {
        "rx_bytes_per_sec" => rx_bytes_per_sec: Num,
        "tx_bytes_per_sec" => tx_bytes_per_sec: Num,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_that_is_not_utf8_costs_a_character_not_the_container() {
        let mut body =
            br#"{"a": {"os_type": "linuX", "memory_stats": {"usage": 5}}, "b": {"memory_stats": {"usage": 6}}}"#
                .to_vec();
        let x = body.iter().position(|&b| b == b'X').unwrap();
        body[x] = 0xff;
        let s = TaskStats::parse(&body).unwrap();
        let a = s.containers["a"].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(a.os_type.get(), Some("linu\u{fffd}"));
        assert_eq!(a.memory_stats.get().unwrap().usage.as_u64(), Some(5));
        assert!(s.containers["b"].as_ref().unwrap().is_some());
        let mut task = br#"{"TaskARN": "t", "Containers": [{"Name": "aX"}, {"Name": "b"}]}"#.to_vec();
        let x = task.iter().position(|&b| b == b'X').unwrap();
        task[x] = 0xc3;
        let t = Task::parse(&task).unwrap();
        assert_eq!(t.containers[0].as_ref().unwrap().name.get(), Some("a\u{fffd}"));
        assert_eq!(t.containers[1].as_ref().unwrap().name.get(), Some("b"));
    }

    #[test]
    fn a_broken_container_does_not_hide_the_others() {
        let body = br#"{"a": {"memory_stats": {"usage": 5}}, "b": null, "c": {}, "d": {"cpu_stats": {"cpu_usage": {"total_usage": "x"}}}, "e": 7}"#;
        let s = TaskStats::parse(body).unwrap();
        let a = s.containers["a"].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(a.memory_stats.get().unwrap().usage.as_u64(), Some(5));
        assert!(s.containers["b"].as_ref().unwrap().is_none());
        assert!(s.containers["c"].as_ref().unwrap().is_some());
        assert!(s.containers["d"].is_ok());
        // A bare number where an object belongs is an error for that container only.
        assert!(s.containers["e"].is_err());
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_out_of_range_numbers_stay_with_their_container() {
        let body = br#"{"a": {"memory_stats": {"usage": 1, "usage": 2}}, "b": {"memory_stats": {"usage": 1e400}}}"#;
        let s = TaskStats::parse(body).unwrap();
        let a = s.containers["a"].as_ref().unwrap().as_ref().unwrap();
        // As Go's encoding/json does: the last of duplicated keys wins.
        assert_eq!(a.memory_stats.get().unwrap().usage.as_u64(), Some(2));
        assert!(s.containers["b"].is_err());
        let t = Task::parse(br#"{"Cluster": "x", "Containers": [{"Name": "a", "ExitCode": 1e400}, {"Name": "b"}]}"#)
            .unwrap();
        assert!(t.containers[0].is_err());
        assert_eq!(t.containers[1].as_ref().unwrap().name.get(), Some("b"));
        // The slow path keeps the task's own fields, before and after the containers.
        assert_eq!((t.cluster.get(), t.containers.len()), (Some("x"), 2));
        let t = Task::parse(br#"{"Containers": [7, {"Name": "a", "RestartCount": 1e400}], "Family": "f"}"#).unwrap();
        assert_eq!((t.family.get(), t.containers.len()), (Some("f"), 2));
        assert!(t.containers.iter().all(Result::is_err));
        // One pass: an entry that is not an object is an error of its own.
        let t = Task::parse(br#"{"Containers": [null, {"Name": "a"}], "Family": "f"}"#).unwrap();
        assert!(t.containers[0].is_err() && t.containers[1].is_ok());
        // A fault outside the containers fails the document, as before, and names that fault.
        assert!(Task::parse(br#"{"Limits": {"CPU": 1e400}, "Containers": [{"Name": "a"}]}"#).is_err());
        let e = Task::parse(br#"{"Containers": [{"RestartCount": 1e400}], "Limits": {"CPU": 1e401}}"#).unwrap_err();
        // The position of the body itself (the end of `1e401`), as the old raw-container parse said.
        assert!(e.to_string().contains("line 1 column 65"), "{e}");
        // A truncated body is reported as truncated, not by a container's fault before the end.
        let e = Task::parse(br#"{"Family": "f", "Containers": [{"Name": "a", "RestartCount": 1e400}]"#).unwrap_err();
        assert!(e.to_string().contains("EOF"), "{e}");
        // A repeated key: the last wins, in the slow path as in the one pass.
        let t = Task::parse(
            br#"{"Family": "f", "Containers": [{"Name": "a", "RestartCount": 1e400}], "Containers": [{"Name": "b"}, {"ExitCode": 1e400}]}"#,
        )
        .unwrap();
        assert_eq!((t.family.get(), t.containers.len()), (Some("f"), 2));
        assert_eq!(t.containers[0].as_ref().unwrap().name.get(), Some("b"));
        assert!(t.containers[1].is_err());
        assert!(matches!(Task::parse(b"[]"), Err(ParseError::NotObject)));
    }

    #[test]
    fn labels_are_read_only_when_asked_for() {
        let t = Task::parse(
            br#"{"Containers": [{"Name": "a", "Labels": {"k": "v", "n": 1}}, {"Name": "b", "Labels": []}]}"#,
        )
        .unwrap();
        let a = t.containers[0].as_ref().unwrap();
        assert_eq!(a.labels.get().and_then(|l| l.get("k")).and_then(Str::get), Some("v"));
        assert_eq!(a.labels.get().and_then(|l| l.get("n")).and_then(Str::get), Some("1"));
        assert!(t.containers[1].as_ref().unwrap().labels.get().is_none());
        // Not built, but still checked: a fault inside them fails the document.
        assert!(Task::parse(br#"{"Containers": [{"Name": "a", "Labels": {"k": 01}}]}"#).is_err());
    }

    #[test]
    fn truncated_json_is_an_error() {
        assert!(TaskStats::parse(br#"{"a": {"read": "#).is_err());
        assert!(Task::parse(br#"{"Cluster": "x", "Containers": [{"Name": "a"}"#).is_err());
    }
}

//! Typed model of the TMDS v4 (and v3) `/task` and `/task/stats` bodies.
//!
//! Every leaf is optional and lenient (see [`super::lenient`]), every nested object reads as
//! absent when it is not an object, and each container is parsed on its own, so a malformed
//! container becomes one error next to the others instead of a failed scrape. Field names mirror
//! the JSON exactly; unknown fields are ignored. Integers stay integers ([`Num`]).

use super::lenient::{List, Num, Obj, Objects, Str};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// `/task`: the task and its containers.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Task {
    /// Short name on EC2, full ARN on Fargate.
    pub cluster: Str,
    #[serde(rename = "TaskARN")]
    pub task_arn: Str,
    pub family: Str,
    pub revision: Str,
    pub desired_status: Str,
    pub known_status: Str,
    pub launch_type: Str,
    pub availability_zone: Str,
    /// Task limits: CPU in vCPUs, memory in MiB; absent on EC2 when not set.
    pub limits: Obj<Limits>,
    pub pull_started_at: Str,
    pub pull_stopped_at: Str,
    pub ephemeral_storage_metrics: Obj<EphemeralStorage>,
    /// `Containers[]` as raw JSON, split out so each is parsed on its own.
    #[serde(rename = "Containers")]
    raw_containers: List<Box<RawValue>>,
    /// The containers, each parsed on its own; `Err` holds why one could not be read.
    #[serde(skip)]
    pub containers: Vec<Result<Container, String>>,
}

/// Limits as written by the agent (units depend on the level: see the contract).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Limits {
    #[serde(rename = "CPU")]
    pub cpu: Num,
    pub memory: Num,
}

/// Fargate's ephemeral storage figures, in MiB.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub utilized: Num,
    pub reserved: Num,
}

/// One entry of `/task` `Containers[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Container {
    pub docker_id: Str,
    pub name: Str,
    pub image: Str,
    #[serde(rename = "ImageID")]
    pub image_id: Str,
    pub known_status: Str,
    pub desired_status: Str,
    /// `NORMAL`, `CNI_PAUSE`, ...; absent is treated as `NORMAL`.
    #[serde(rename = "Type")]
    pub kind: Str,
    pub exit_code: Num,
    pub restart_count: Num,
    pub started_at: Str,
    pub finished_at: Str,
    pub limits: Obj<Limits>,
    pub health: Obj<Health>,
    pub networks: Objects<Network>,
}

/// A container's health check state.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Health {
    pub status: Str,
}

/// A network attachment of a container.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Network {
    pub network_mode: Str,
}

/// Why a body could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON, or is truncated.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("not a JSON object")]
    NotObject,
}

/// Parse one JSON value that must be an object (serde's derived structs would also read an
/// array, field by field).
fn object<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    match serde_json::from_str::<Obj<T>>(json) {
        Ok(Obj(Some(v))) => Ok(v),
        Ok(Obj(None)) => Err("not a JSON object".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

impl Task {
    /// Parse a `/task` body. Fails only when the body itself is not a JSON object; a container
    /// that cannot be read is kept as an `Err` with the reason.
    pub fn parse(body: &[u8]) -> Result<Task, ParseError> {
        let Obj(Some(mut task)) = serde_json::from_slice::<Obj<Task>>(body)? else {
            return Err(ParseError::NotObject);
        };
        let raw = std::mem::take(&mut task.raw_containers);
        task.containers = raw.items().iter().map(|raw| object::<Container>(raw.get())).collect();
        Ok(task)
    }
}

/// `/task/stats`: Docker stats per container, keyed by Docker id.
#[derive(Debug, Default)]
pub struct TaskStats {
    /// Docker id → stats; `None` for `null` or `{}`-like entries with no sample; `Err` for an
    /// entry that could not be read at all.
    pub containers: BTreeMap<String, Result<Option<Stats>, String>>,
}

impl TaskStats {
    /// Parse a `/task/stats` body: a JSON object of Docker id to stats (or `null`).
    pub fn parse(body: &[u8]) -> Result<TaskStats, ParseError> {
        let raw: BTreeMap<String, &RawValue> = serde_json::from_slice(body)?;
        let containers = raw
            .into_iter()
            .map(|(id, v)| {
                // `null` is "no sample"; anything else must be an object.
                let parsed = if v.get().trim() == "null" { Ok(None) } else { object::<Stats>(v.get()).map(Some) };
                (id, parsed)
            })
            .collect();
        Ok(TaskStats { containers })
    }
}

/// Docker Engine stats of one container, as relayed by the ECS agent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// RFC 3339 time of the sample.
    pub read: Str,
    pub preread: Str,
    /// `windows` or `linux` on daemons that fill it in (v29+).
    pub os_type: Str,
    pub num_procs: Num,
    pub cpu_stats: Obj<CpuStats>,
    pub memory_stats: Obj<MemoryStats>,
    pub pids_stats: Obj<PidsStats>,
    pub blkio_stats: Obj<BlkioStats>,
    pub storage_stats: Obj<StorageStats>,
    pub networks: Obj<BTreeMap<String, NetworkStats>>,
    pub network_rate_stats: Obj<NetworkRateStats>,
}

/// `cpu_stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: Obj<CpuUsage>,
    pub system_cpu_usage: Num,
    pub online_cpus: Num,
    pub throttling_data: Obj<Throttling>,
}

/// `cpu_stats.cpu_usage`: nanoseconds on Linux, 100 ns units on Windows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total_usage: Num,
    pub usage_in_kernelmode: Num,
    pub usage_in_usermode: Num,
}

/// `cpu_stats.throttling_data` (CFS).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Throttling {
    pub periods: Num,
    pub throttled_periods: Num,
    pub throttled_time: Num,
}

/// `memory_stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    pub usage: Num,
    pub max_usage: Num,
    pub limit: Num,
    /// cgroup counters: v1 (`total_*`, `cache`, `rss`) or v2 (`anon`, `file`, `inactive_file`).
    pub stats: Obj<BTreeMap<String, Num>>,
    /// Windows only.
    pub privateworkingset: Num,
    pub commitbytes: Num,
}

/// `pids_stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    pub current: Num,
}

/// `blkio_stats`; arrays may be `null`, `[]` or `"None"`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Objects<BlkioEntry>,
    pub io_serviced_recursive: Objects<BlkioEntry>,
}

/// One device/op entry; `value` is omitted when zero in some captures.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    pub op: Str,
    pub value: Num,
}

/// Windows `storage_stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    pub read_count_normalized: Num,
    pub read_size_bytes: Num,
    pub write_count_normalized: Num,
    pub write_size_bytes: Num,
}

/// Counters of one network interface.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    pub rx_bytes: Num,
    pub rx_packets: Num,
    pub rx_errors: Num,
    pub rx_dropped: Num,
    pub tx_bytes: Num,
    pub tx_packets: Num,
    pub tx_errors: Num,
    pub tx_dropped: Num,
}

/// v4 `network_rate_stats`: one figure per network namespace.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkRateStats {
    pub rx_bytes_per_sec: Num,
    pub tx_bytes_per_sec: Num,
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn truncated_json_is_an_error() {
        assert!(TaskStats::parse(br#"{"a": {"read": "#).is_err());
        assert!(Task::parse(br#"{"Cluster": "x", "Containers": [{"Name": "a"}"#).is_err());
    }
}

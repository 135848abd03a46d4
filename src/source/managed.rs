//! ECS Managed Instances daemon source (experimental): a task of a managed daemon service reads
//! `${ECS_CONTAINER_METADATA_URI_V4}/tasks` (the metadata of every task on the instance) and
//! `/tasks/stats` (the stats of every container on it). AWS does not document them yet; the
//! shapes seen are a JSON array of `/task` objects and an array of `/task/stats` maps, one per
//! task. Also accepted: an object keyed by task ARN (of tasks, or of stats maps), and one merged
//! Docker id map of stats. Stats are matched to tasks by Docker id, so the shapes mix freely.

use super::http::{Counters, HttpClient};
use super::{fetch, Instance, Read, SourceError, TaskRead};
use crate::parse::tmds::{ParseError, Stats, Task, TaskStats};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::Instant;

/// One task of `/tasks`: the task, or `(id, reason)` when it cannot be used.
pub type TaskEntry = Result<Task, (String, String)>;

/// The `path` labels of its requests.
pub const PATHS: &[&str] = &["/tasks", "/tasks/stats"];

/// The Managed Instances daemon source.
#[derive(Debug)]
pub struct Managed {
    pub(super) client: HttpClient,
    pub(super) counters: Counters,
}

impl Managed {
    /// A source reading the endpoint behind `client`.
    pub fn new(client: HttpClient) -> Self {
        Managed { client, counters: Counters::new(PATHS) }
    }

    /// Read `/tasks` and `/tasks/stats` concurrently: both must succeed.
    pub async fn read(&self, deadline: Instant) -> Result<Read, SourceError> {
        let (tasks, stats) = tokio::join!(
            fetch(&self.client, &self.counters, 0, PATHS[0], deadline, parse_tasks),
            fetch(&self.client, &self.counters, 1, PATHS[1], deadline, parse_stats),
        );
        let err = |i: usize, e| SourceError::new(&self.client, PATHS[i], e);
        match (tasks, stats) {
            (Ok(tasks), Ok(stats)) => Ok(assemble(tasks, stats)),
            (Err(e), Ok(_)) => Err(err(0, e)),
            (Ok(_), Err(e)) => Err(err(1, e)),
            (Err(e), Err(e2)) => {
                Err(SourceError { also: Some(format!("{}: {e2}", self.client.url(PATHS[1]))), ..err(0, e) })
            }
        }
    }
}

/// The first byte that is not white space.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Parse `/tasks`: each task on its own, so one that is not an object is an error beside the
/// others (`Err((key or index, reason))`).
pub fn parse_tasks(body: &[u8]) -> Result<Vec<TaskEntry>, ParseError> {
    let one = |key: String, raw: &RawValue| Task::parse_str(raw.get()).map_err(|e| (key, e.to_string()));
    match first_byte(body) {
        Some(b'[') => {
            let text = crate::parse::text(body);
            let items: Vec<&RawValue> = serde_json::from_str(&text)?;
            Ok(items.into_iter().enumerate().map(|(i, r)| one(format!("tasks[{i}]"), r)).collect())
        }
        Some(b'{') => {
            let text = crate::parse::text(body);
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(&text)?;
            if map.contains_key("TaskARN") || map.contains_key("Containers") {
                return Ok(vec![Ok(Task::parse_str(&text)?)]);
            }
            Ok(map.into_iter().map(|(k, r)| one(k, r)).collect())
        }
        _ => Err(ParseError::NotObject),
    }
}

/// Parse `/tasks/stats` into one map of Docker id to stats, whatever the shape.
pub fn parse_stats(body: &[u8]) -> Result<TaskStats, ParseError> {
    let mut all = TaskStats::default();
    let mut merge = |s: TaskStats| all.containers.extend(s.containers);
    match first_byte(body) {
        Some(b'[') => {
            let text = crate::parse::text(body);
            let items: Vec<&RawValue> = serde_json::from_str(&text)?;
            for r in items {
                // A task's map that is not an object is skipped: its containers have no stats.
                if let Ok(s) = TaskStats::parse_str(r.get()) {
                    merge(s);
                }
            }
        }
        Some(b'{') => {
            let text = crate::parse::text(body);
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(&text)?;
            if !map.is_empty() && map.keys().all(|k| k.starts_with("arn:")) {
                for r in map.values() {
                    if let Ok(s) = TaskStats::parse_str(r.get()) {
                        merge(s);
                    }
                }
            } else {
                merge(TaskStats::parse_str(&text)?);
            }
        }
        _ => return Err(ParseError::NotObject),
    }
    Ok(all)
}

/// Each task with the stats of its containers.
pub fn assemble(tasks: Vec<TaskEntry>, mut stats: TaskStats) -> Read {
    let mut read = Read::default();
    for t in tasks {
        let task = match t {
            Ok(t) => t,
            Err((key, why)) => {
                read.errors.push((key, format!("task: {why}")));
                continue;
            }
        };
        let mut mine: BTreeMap<String, Result<Option<Stats>, String>> = BTreeMap::new();
        for c in task.containers.iter().filter_map(|c| c.as_ref().ok()) {
            if let Some((id, s)) = c.docker_id.get().and_then(|id| stats.containers.remove_entry(id)) {
                mine.insert(id, s);
            }
        }
        read.tasks.push(TaskRead { task, stats: TaskStats { containers: mine } });
    }
    let cluster = read.tasks.iter().find_map(|t| t.task.cluster.get()).unwrap_or("").to_owned();
    read.instance = Some(Instance { cluster, ..Instance::default() });
    read
}
